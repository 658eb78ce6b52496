//! A server without SORT gets the same orders as one with it: the same
//! messages go into a Dovecot that sorts (the shared instance) and into one
//! that advertises no SORT (a private instance started with `--no-sort`), and
//! mailfront's pages must be the same on both in each of the 10 orders,
//! before and after mail arrives and leaves.
//!
//! The messages are odd on purpose: reply and forward leaders behind list
//! tags, `(fwd)` trailers and `[fwd: ...]` wrappers, encoded words, accents
//! that sort by their base letter, folded and spaced subjects, missing and
//! unreadable dates, dates whose local time and UTC disagree, senders whose
//! display names and mailboxes sort apart, and messages whose every key is
//! equal, which only arrival and then the UID tell apart.

mod app;
mod support;

use app::{settings_for, Browser, Node, SORT_ORDERS as ORDERS};
use support::{Dovecot, ImapTestClient};

/// One test message: header lines (CRLF added), INTERNALDATE, body.
struct Mail {
    headers: &'static [&'static str],
    arrival: &'static str,
    body: &'static str,
}

const fn mail(headers: &'static [&'static str], arrival: &'static str, body: &'static str) -> Mail {
    Mail {
        headers,
        arrival,
        body,
    }
}

/// The messages both servers hold, in the order they are appended.
const MAILS: [Mail; 28] = [
    mail(
        &[
            "From: Ann <ann@example.org>",
            "Subject: Re: [list] Fwd: x",
            "Date: Mon, 05 Feb 2024 10:00:00 +0000",
        ],
        "05-Feb-2024 10:00:05 +0000",
        "one",
    ),
    mail(
        &[
            "From: bob@example.org",
            "Subject: x",
            "Date: Mon, 05 Feb 2024 09:00:00 +0000",
        ],
        "04-Feb-2024 10:00:05 +0000",
        "two two",
    ),
    mail(
        &[
            "From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>",
            "Subject: =?UTF-8?Q?Caf=C3=A9?= menu",
            "Date: Sat, 03 Feb 2024 12:00:00 +0100",
        ],
        "03-Feb-2024 12:00:00 +0000",
        "three",
    ),
    mail(
        &[
            "From: ZOE@Example.org",
            "Subject: Cafe menu",
            "Date: Sat, 03 Feb 2024 12:00:00 +0100",
        ],
        "03-Feb-2024 12:00:00 +0000",
        "four four four",
    ),
    mail(
        &[
            "From: Zoe <zoe@example.net>",
            "Subject: cafe MENU",
            "Date: Sat, 03 Feb 2024 11:00:00 GMT",
        ],
        "03-Feb-2024 11:59:59 +0000",
        "five",
    ),
    mail(
        &[
            "From: Carl <carl@example.org>",
            "Subject: [fwd: forwarded]",
            "Date: Thu, 01 Feb 2024 08:00:00 -0800",
        ],
        "01-Feb-2024 17:00:00 +0000",
        "six",
    ),
    mail(
        &[
            "From: Carl <carl@example.org>",
            "Subject: forwarded (fwd)",
            "Date: Thu, 01 Feb 2024 16:00:00 +0000",
        ],
        "01-Feb-2024 17:00:00 +0000",
        "seven",
    ),
    mail(
        &[
            "From: Dora <dora@example.org>",
            "Subject: Fwd: [fwd: Forwarded]",
            "Date: Fri, 02 Feb 2024 07:00:00 +0000",
        ],
        "02-Feb-2024 07:00:00 +0000",
        "eight",
    ),
    mail(
        &[
            "From: Erik <erik@example.org>",
            "Date: Fri, 02 Feb 2024 08:00:00 +0000",
        ],
        "02-Feb-2024 08:00:00 +0000",
        "nine: no subject",
    ),
    mail(
        &["From: Fay <fay@example.org>", "Subject: no date at all"],
        "06-Jan-2024 06:00:00 +0000",
        "ten",
    ),
    mail(
        &[
            "From: Gus <gus@example.org>",
            "Subject: date unreadable",
            "Date: sometime last week",
        ],
        "07-Jan-2024 07:00:00 +0000",
        "eleven",
    ),
    mail(
        &[
            "Subject: nobody sent this",
            "Date: Mon, 08 Jan 2024 08:00:00 +0000",
        ],
        "08-Jan-2024 08:00:00 +0000",
        "twelve",
    ),
    mail(
        &[
            "From: Hal <hal@example.org>",
            "Subject:   spaced   \t out",
            " \tand folded",
            "Date: Tue, 09 Jan 2024 09:00:00 +0000",
        ],
        "09-Jan-2024 09:00:00 +0000",
        "thirteen",
    ),
    mail(
        &[
            "From: Ida <ida@example.org>",
            "Subject: [PATCH 1/2] fix the parser",
            "Date: Wed, 10 Jan 2024 10:00:00 +0000",
        ],
        "10-Jan-2024 10:00:00 +0000",
        "fourteen",
    ),
    mail(
        &[
            "From: Ida <ida@example.org>",
            "Subject: [PATCH 2/2] fix the parser",
            "Date: Wed, 10 Jan 2024 10:00:00 +0000",
        ],
        "10-Jan-2024 10:00:00 +0000",
        "fifteen!",
    ),
    mail(
        &[
            "From: Jon <jon@example.org>",
            "Subject: =?ISO-8859-1?Q?Re=3A_=5Bannounce=5D_release?=",
            "Date: Thu, 11 Jan 2024 11:00:00 +0000",
        ],
        "11-Jan-2024 11:00:00 +0000",
        "sixteen",
    ),
    mail(
        &[
            "From: Jon <jon@example.org>",
            "Subject: Re: RE: re: release",
            "Date: Thu, 11 Jan 2024 11:00:01 +0000",
        ],
        "11-Jan-2024 11:00:00 +0000",
        "seventeen",
    ),
    mail(
        &[
            "From: Kim <kim@example.org>",
            "Subject: far east",
            "Date: Tue, 06 Feb 2024 01:00:00 +1400",
        ],
        "12-Jan-2024 12:00:00 +0000",
        "eighteen",
    ),
    mail(
        &[
            "From: Kim <kim@example.org>",
            "Subject: far west",
            "Date: Mon, 05 Feb 2024 00:00:00 -1200",
        ],
        "12-Jan-2024 12:00:00 +0000",
        "nineteen",
    ),
    mail(
        &[
            "From: Lou <lou@example.org>",
            "Subject: Re: tie",
            "Date: Sat, 13 Jan 2024 13:00:00 +0000",
        ],
        "13-Jan-2024 13:00:00 +0000",
        "equal",
    ),
    mail(
        &[
            "From: Lou <lou@example.org>",
            "Subject: RE: tie",
            "Date: Sat, 13 Jan 2024 13:00:00 +0000",
        ],
        "13-Jan-2024 13:00:00 +0000",
        "equal",
    ),
    mail(
        &[
            "From: Lou <lou@example.org>",
            "Subject: Fw: tie",
            "Date: Sat, 13 Jan 2024 13:00:00 +0000",
        ],
        "13-Jan-2024 13:00:00 +0000",
        "equal",
    ),
    mail(
        &[
            "From: \"Aaron\" <zed@example.org>",
            "Subject: names apart",
            "Date: Sun, 14 Jan 2024 14:00:00 +0000",
        ],
        "14-Jan-2024 14:00:00 +0000",
        "twenty-three",
    ),
    mail(
        &[
            "From: \"Zed\" <aaron@example.org>",
            "Subject: Names apart",
            "Date: Sun, 14 Jan 2024 14:00:00 +0000",
        ],
        "14-Jan-2024 14:00:00 +0000",
        "twenty-four",
    ),
    mail(
        &[
            "From: \"Doe, Jane\" <jane@example.org>, max@example.org",
            "Subject: two senders",
            "Date: Mon, 15 Jan 2024 15:00:00 +0000",
        ],
        "15-Jan-2024 15:00:00 +0000",
        "twenty-five",
    ),
    mail(
        &[
            "From: Ann <ann@example.org>",
            "Subject: [list]",
            "Date: Tue, 16 Jan 2024 16:00:00 +0000",
        ],
        "16-Jan-2024 16:00:00 +0000",
        "twenty-six",
    ),
    mail(
        &[
            "From: Eve <eve@example.org>",
            "Subject: =?utf-8?q?=C3=89clair?= recipe",
            "Date: Wed, 17 Jan 2024 17:00:00 +0000",
        ],
        "17-Jan-2024 17:00:00 +0000",
        "twenty-seven",
    ),
    mail(
        &[
            "From: =?utf-8?q?=C3=89mile?= <emile@example.org>",
            "Subject: Ezra's recipe",
            "Date: Thu, 18 Jan 2024 18:00:00 +0000",
        ],
        "18-Jan-2024 18:00:00 +0000",
        "twenty-eight",
    ),
];

/// Messages that arrive later: one among the oldest, one tied with others.
const LATER: [Mail; 2] = [
    mail(
        &[
            "From: Amy <amy@example.org>",
            "Subject: Fwd: late but old",
            "Date: Mon, 01 Jan 2024 00:00:00 +0000",
        ],
        "01-Jan-2024 00:00:00 +0000",
        "late",
    ),
    mail(
        &[
            "From: Lou <lou@example.org>",
            "Subject: FW: tie",
            "Date: Sat, 13 Jan 2024 13:00:00 +0000",
        ],
        "13-Jan-2024 13:00:00 +0000",
        "equal",
    ),
];

fn bytes(mail: &Mail) -> Vec<u8> {
    let mut text = String::new();
    for line in mail.headers {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("To: reader@example.org\r\nMIME-Version: 1.0\r\n");
    text.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    text.push_str(mail.body);
    text.push_str("\r\n");
    text.into_bytes()
}

fn load(client: &mut ImapTestClient, mails: &[Mail]) {
    for mail in mails {
        client.append("INBOX", "()", Some(mail.arrival), &bytes(mail));
    }
}

/// One account on one server, seen through its own mailfront node.
struct Side {
    node: Node,
    browser: Browser,
    phone: ImapTestClient,
}

impl Side {
    async fn open(dovecot: &Dovecot, name: &str) -> Side {
        let (user, password) = dovecot.new_user(name);
        let mut phone = dovecot.client(&user, &password);
        load(&mut phone, &MAILS);
        let data = app::scratch_dir(name);
        let node = Node::start(settings_for(dovecot, &data)).await;
        let browser = Browser::signed_in(&node.base, &user, &password).await;
        Side {
            node,
            browser,
            phone,
        }
    }

    /// Every row of every page, as the page shows it.
    async fn pages(&self, order: &str) -> Vec<Vec<String>> {
        let first = self.get(order, 1).await;
        let count = first
            .texts("nav.pager .position")
            .first()
            .and_then(|t| t.split(" of ").nth(1)?.split(' ').next()?.parse().ok())
            .unwrap_or(1);
        let mut pages = vec![first.texts("tbody tr")];
        for page in 2..=count {
            pages.push(self.get(order, page).await.texts("tbody tr"));
        }
        pages
    }

    async fn get(&self, order: &str, page: usize) -> app::Page {
        let path = format!("/mail/INBOX?sort={order}&page={page}");
        let page = self.browser.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        assert!(!page.text().contains("cannot sort"), "{path}");
        page
    }

    /// The value of one line of the node's metrics page.
    async fn metric(&self, name: &str) -> u64 {
        let page = self.browser.get("/metrics").await;
        page.text()
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from metrics"))
    }

    /// Expunges the one message whose subject contains `subject`.
    fn expunge(&mut self, subject: &str) {
        self.phone.select("INBOX");
        let lines = self
            .phone
            .command(&format!("UID SEARCH HEADER Subject \"{subject}\""))
            .expect("search works");
        let uid = lines
            .iter()
            .find_map(|line| line.strip_prefix("* SEARCH "))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{subject} not found: {lines:?}"));
        self.phone.expunge_uid(uid);
    }
}

#[tokio::test]
async fn a_server_without_sort_shows_every_order_as_one_with_sort() {
    let Some(sorting) = Dovecot::shared() else {
        return;
    };
    let Some(plain) = Dovecot::start_private_without_sort() else {
        return;
    };
    let mut with_sort = Side::open(sorting, "withsort").await;
    let mut without = Side::open(&plain, "nosort").await;
    let fetches = r#"mailfront_imap_commands_total{kind="fetch"}"#;
    let sorts = r#"mailfront_imap_commands_total{kind="sort"}"#;

    let mut fetched = 0;
    for (n, order) in ORDERS.iter().enumerate() {
        let expected = with_sort.pages(order).await;
        assert!(
            expected.concat().len() == MAILS.len(),
            "{order}: {expected:?}"
        );
        assert_eq!(without.pages(order).await, expected, "{order}");
        // Every row has been shown once the first two orders were walked.
        if n == 1 {
            fetched = without.metric(fetches).await;
        }
    }
    assert_eq!(
        without.metric(fetches).await,
        fetched,
        "the other orders came from the keys fetched once"
    );
    assert_eq!(without.metric(sorts).await, 0);
    assert!(with_sort.metric(sorts).await >= ORDERS.len() as u64);

    for side in [&mut with_sort, &mut without] {
        load(&mut side.phone, &LATER);
        side.expunge("PATCH 1/2");
        side.expunge("far east");
    }
    for order in ORDERS {
        let expected = with_sort.pages(order).await;
        assert!(
            expected.concat().len() == MAILS.len(),
            "{order}: {expected:?}"
        );
        assert_eq!(
            without.pages(order).await,
            expected,
            "{order}: after changes"
        );
    }

    for side in [with_sort, without] {
        side.phone.logout();
        side.node.stop().await;
    }
}
