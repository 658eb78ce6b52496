//! Managing folders through the pages (create, create inside a parent,
//! rename, delete after confirmation, subscribe and unsubscribe), checked
//! against what a second IMAP client sees on the same real Dovecot: names
//! arrive in modified UTF-7, special folders stay, refused names and forged
//! forms change nothing, and the folder list beside every page is fresh at
//! once.

mod app;
mod support;

use app::{settings_for, Browser, Node, Page};
use scraper::Selector;
use support::Dovecot;

async fn node_for(dovecot: &Dovecot, name: &str) -> Node {
    let data = app::scratch_dir(name);
    Node::start(settings_for(dovecot, &data)).await
}

/// Raw names of the mailboxes `command` (LIST or LSUB) reports, in name
/// order: the server's own order may change between calls.
fn server_names(dovecot: &Dovecot, user: &str, password: &str, command: &str) -> Vec<String> {
    let mut client = dovecot.client(user, password);
    let lines = client
        .command(&format!("{command} \"\" \"*\""))
        .expect("listing works");
    client.logout();
    lines
        .iter()
        .filter(|l| l.starts_with(&format!("* {command} ")))
        .map(|line| {
            let name = line.rsplit_once(" \"/\" ").expect("a delimiter").1;
            name.trim_matches('"').replace("\\\"", "\"")
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn listed(dovecot: &Dovecot, user: &str, password: &str) -> Vec<String> {
    server_names(dovecot, user, password, "LIST")
}

fn subscribed(dovecot: &Dovecot, user: &str, password: &str) -> Vec<String> {
    server_names(dovecot, user, password, "LSUB")
}

/// The named fields of the form matching `form` on a page, in order.
fn form_fields(page: &Page, form: &str) -> Vec<(String, String)> {
    let html = page.html();
    let form_selector = Selector::parse(form).expect("valid selector");
    let inputs = Selector::parse("input[name], select[name]").unwrap();
    let option = Selector::parse("option").unwrap();
    let found = html
        .select(&form_selector)
        .next()
        .unwrap_or_else(|| panic!("no form {form} on the page: {}", page.text()));
    found
        .select(&inputs)
        .map(|field| {
            let name = field.value().attr("name").unwrap().to_owned();
            let value = match field.value().attr("value") {
                Some(value) => value.to_owned(),
                None => field
                    .select(&option)
                    .next()
                    .and_then(|o| o.value().attr("value"))
                    .unwrap_or_default()
                    .to_owned(),
            };
            (name, value)
        })
        .collect()
}

/// Submits the form matching `form` with some fields replaced or added.
async fn submit(browser: &Browser, page: &Page, form: &str, changes: &[(&str, &str)]) -> Page {
    let mut fields = form_fields(page, form);
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = (*value).to_owned(),
            None => fields.push(((*name).to_owned(), (*value).to_owned())),
        }
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post("/folders", &pairs).await
}

/// The selector of a form in the row of folder `raw_name`.
fn row_form(raw_name: &str, class: &str) -> String {
    format!("tr[data-folder=\"{raw_name}\"] form.{class}")
}

/// Follows a redirect to the folders page and returns it with its flash.
async fn landed(browser: &Browser, answer: &Page) -> Page {
    assert_eq!(answer.status, 303, "{}", answer.text());
    assert_eq!(answer.location.as_deref(), Some("/folders"));
    browser.get("/folders").await
}

fn flash(page: &Page) -> String {
    page.texts("p.flash").concat()
}

fn sidebar(page: &Page) -> Vec<String> {
    page.texts("nav.folders .folder-list li a, nav.folders .folder-list li .noselect")
}

struct Setup {
    node: Node,
    browser: Browser,
    user: String,
    password: String,
}

async fn setup(dovecot: &Dovecot, name: &str) -> Setup {
    let (user, password) = dovecot.new_user(name);
    let node = node_for(dovecot, name).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    // The folder list is cached from sign-in on: every check below also
    // shows that a change reaches it at once.
    let inbox = browser.get("/mail/INBOX").await;
    assert_eq!(inbox.status, 200, "{}", inbox.text());
    Setup {
        node,
        browser,
        user,
        password,
    }
}

#[tokio::test]
async fn folders_are_created_at_the_top_and_inside_a_parent_and_listed_at_once() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-create").await;

    let page = s.browser.get("/folders").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let answer = submit(
        &s.browser,
        &page,
        "form.create-folder",
        &[("name", " Projects ")],
    )
    .await;
    let page = landed(&s.browser, &answer).await;
    assert_eq!(flash(&page), "Folder 'Projects' created.");
    assert!(
        sidebar(&page).iter().any(|f| f == "Projects"),
        "{:?}",
        sidebar(&page)
    );
    assert!(listed(dovecot, &s.user, &s.password).contains(&"Projects".to_owned()));
    assert!(subscribed(dovecot, &s.user, &s.password).contains(&"Projects".to_owned()));

    let answer = submit(
        &s.browser,
        &page,
        "form.create-folder",
        &[("name", "2026"), ("parent", "Projects")],
    )
    .await;
    let page = landed(&s.browser, &answer).await;
    assert_eq!(flash(&page), "Folder 'Projects › 2026' created.");
    assert!(listed(dovecot, &s.user, &s.password).contains(&"Projects/2026".to_owned()));
    let inbox = s.browser.get("/mail/INBOX").await;
    let side = sidebar(&inbox);
    let at = side
        .iter()
        .position(|f| f == "Projects")
        .expect("Projects listed");
    assert_eq!(
        side.get(at + 1).map(String::as_str),
        Some("2026"),
        "{side:?}"
    );

    let again = submit(
        &s.browser,
        &page,
        "form.create-folder",
        &[("name", "Projects")],
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.text());
    assert!(again.text().contains("exists already"), "{}", again.text());
    s.node.stop().await;
}

#[tokio::test]
async fn a_non_ascii_name_reaches_the_server_in_modified_utf7_and_reads_back() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-utf7").await;

    let page = s.browser.get("/folders").await;
    let name = "Grüße & 日本";
    let answer = submit(&s.browser, &page, "form.create-folder", &[("name", name)]).await;
    let page = landed(&s.browser, &answer).await;
    assert_eq!(flash(&page), format!("Folder '{name}' created."));

    let raw = "Gr&APwA3w-e &- &ZeVnLA-";
    let on_server = listed(dovecot, &s.user, &s.password);
    assert!(on_server.contains(&raw.to_owned()), "{on_server:?}");
    assert!(
        sidebar(&page).iter().any(|f| f == name),
        "{:?}",
        sidebar(&page)
    );
    let opened = s.browser.get(&format!("/mail/{}", urlencode(raw))).await;
    assert_eq!(opened.status, 200, "{}", opened.text());
    assert_eq!(opened.texts("h1").concat(), name);
    s.node.stop().await;
}

#[tokio::test]
async fn a_folder_is_renamed_under_its_parent() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-rename").await;
    let mut client = dovecot.client(&s.user, &s.password);
    client.create("Clients/Old");
    client
        .command("SUBSCRIBE \"Clients/Old\"")
        .expect("subscribed");
    client.append("Clients/Old", "()", None, b"Subject: kept\r\n\r\nbody\r\n");
    client.logout();
    // Opened first, so that a pooled connection has it selected.
    let opened = s.browser.get("/mail/Clients%2FOld").await;
    assert_eq!(opened.texts("td.subject"), ["kept"]);

    let page = s.browser.get("/folders").await;
    let form = row_form("Clients/Old", "rename");
    let answer = submit(&s.browser, &page, &form, &[("name", "Neu ä")]).await;
    let page = landed(&s.browser, &answer).await;
    assert_eq!(flash(&page), "Folder 'Clients › Old' renamed to 'Neu ä'.");

    let names = listed(dovecot, &s.user, &s.password);
    assert!(names.contains(&"Clients/Neu &AOQ-".to_owned()), "{names:?}");
    assert!(!names.contains(&"Clients/Old".to_owned()), "{names:?}");
    let subscriptions = subscribed(dovecot, &s.user, &s.password);
    assert!(
        subscriptions.contains(&"Clients/Neu &AOQ-".to_owned()),
        "{subscriptions:?}"
    );
    assert!(
        !subscriptions.contains(&"Clients/Old".to_owned()),
        "{subscriptions:?}"
    );
    assert!(
        sidebar(&page).iter().any(|f| f == "Neu ä"),
        "{:?}",
        sidebar(&page)
    );
    assert!(!sidebar(&page).iter().any(|f| f == "Old"));
    let renamed = s.browser.get("/mail/Clients%2FNeu%20%26AOQ-").await;
    assert_eq!(renamed.texts("td.subject"), ["kept"], "{}", renamed.text());
    let old = s.browser.get("/mail/Clients%2FOld").await;
    assert_eq!(old.status, 404, "{}", old.text());
    s.node.stop().await;
}

#[tokio::test]
async fn deleting_asks_first_says_what_is_lost_and_only_the_confirmation_deletes() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-delete").await;
    let mut client = dovecot.client(&s.user, &s.password);
    client.create("Old stuff");
    for n in 0..3 {
        let message = format!("Subject: old {n}\r\nFrom: a@example.org\r\n\r\nbody\r\n");
        client.append("Old stuff", "()", None, message.as_bytes());
    }
    client.logout();
    let opened = s.browser.get("/mail/Old%20stuff").await;
    assert_eq!(opened.texts("td.subject").len(), 3);

    let page = s.browser.get("/folders").await;
    let asked = submit(&s.browser, &page, &row_form("Old stuff", "delete"), &[]).await;
    assert_eq!(asked.status, 200, "{}", asked.text());
    let warning = asked.texts("p.warning").concat();
    assert!(warning.contains("3 messages"), "{warning}");
    assert!(listed(dovecot, &s.user, &s.password).contains(&"Old stuff".to_owned()));

    let answer = submit(&s.browser, &asked, "form.confirm", &[]).await;
    let page = landed(&s.browser, &answer).await;
    assert_eq!(flash(&page), "Folder 'Old stuff' deleted with 3 messages.");
    assert!(!listed(dovecot, &s.user, &s.password).contains(&"Old stuff".to_owned()));
    assert!(!sidebar(&page).iter().any(|f| f == "Old stuff"));

    let gone = s.browser.get("/mail/Old%20stuff").await;
    assert_eq!(gone.status, 404, "{}", gone.text());
    let inbox = s.browser.get("/mail/INBOX").await;
    assert_eq!(inbox.status, 200, "{}", inbox.text());
    assert!(!sidebar(&inbox).iter().any(|f| f == "Old stuff"));
    s.node.stop().await;
}

#[tokio::test]
async fn a_folder_holding_folders_is_not_deleted() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-parent").await;
    let mut client = dovecot.client(&s.user, &s.password);
    client.create("Parent");
    client.create("Parent/Child");
    client.logout();

    let page = s.browser.get("/folders").await;
    let refused = submit(&s.browser, &page, &row_form("Parent", "delete"), &[]).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("holds other folders"));
    assert!(listed(dovecot, &s.user, &s.password).contains(&"Parent".to_owned()));
    s.node.stop().await;
}

#[tokio::test]
async fn subscribing_and_unsubscribing_toggle_the_servers_list() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-subscribe").await;
    let mut client = dovecot.client(&s.user, &s.password);
    client.create("Lists");
    client.logout();
    assert!(!subscribed(dovecot, &s.user, &s.password).contains(&"Lists".to_owned()));

    let page = s.browser.get("/folders").await;
    let form = row_form("Lists", "subscription");
    assert_eq!(page.texts(&format!("{form} button")), ["Subscribe"]);
    let answer = submit(&s.browser, &page, &form, &[("action", "subscribe")]).await;
    let page = landed(&s.browser, &answer).await;
    assert_eq!(flash(&page), "You are now subscribed to 'Lists'.");
    assert!(subscribed(dovecot, &s.user, &s.password).contains(&"Lists".to_owned()));
    assert_eq!(page.texts(&format!("{form} button")), ["Unsubscribe"]);

    let answer = submit(&s.browser, &page, &form, &[("action", "unsubscribe")]).await;
    let page = landed(&s.browser, &answer).await;
    assert_eq!(flash(&page), "You are now unsubscribed from 'Lists'.");
    assert!(!subscribed(dovecot, &s.user, &s.password).contains(&"Lists".to_owned()));
    s.node.stop().await;
}

#[tokio::test]
async fn special_folders_cannot_be_renamed_or_deleted() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-special").await;
    let mut client = dovecot.client(&s.user, &s.password);
    client.create("Mine");
    client.logout();

    let page = s.browser.get("/folders").await;
    for special in ["INBOX", "Trash", "Sent", "Drafts", "Junk", "Archive"] {
        let row = format!("tr[data-folder=\"{special}\"]");
        assert_eq!(page.texts(&row).len(), 1, "{special} is listed");
        assert!(page.texts(&format!("{row} form.rename")).is_empty());
        assert!(page.texts(&format!("{row} form.delete")).is_empty());
    }

    // Forms written by hand for those folders are refused all the same.
    let mine = row_form("Mine", "delete");
    for (special, form, name) in [
        ("Trash", row_form("Mine", "rename"), "Bin"),
        ("INBOX", mine.clone(), ""),
        ("Archive", mine.clone(), ""),
    ] {
        let page = s.browser.get("/folders").await;
        let answer = submit(
            &s.browser,
            &page,
            &form,
            &[("folder", special), ("name", name)],
        )
        .await;
        assert_eq!(answer.status, 400, "{special}: {}", answer.text());
        assert!(
            answer.text().contains("special folder"),
            "{}",
            answer.text()
        );
    }
    let names = listed(dovecot, &s.user, &s.password);
    for special in ["INBOX", "Trash", "Archive"] {
        assert!(names.contains(&special.to_owned()), "{names:?}");
    }
    assert!(!names.contains(&"Bin".to_owned()));
    s.node.stop().await;
}

#[tokio::test]
async fn invalid_names_get_a_page_that_says_why_and_change_nothing() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-invalid").await;
    let before = listed(dovecot, &s.user, &s.password);

    let too_long = "x".repeat(101);
    let cases: [(&str, &str); 6] = [
        ("", "empty"),
        ("a/b", "separate folders"),
        ("line\nbreak", "control character"),
        ("100%", "wildcards"),
        ("..", "cannot be folder names"),
        (&too_long, "too long"),
    ];
    for (name, says) in cases {
        let page = s.browser.get("/folders").await;
        let answer = submit(&s.browser, &page, "form.create-folder", &[("name", name)]).await;
        assert_eq!(answer.status, 400, "{name:?}: {}", answer.text());
        let text = answer.texts("main p").concat();
        assert!(text.contains(says), "{name:?}: {text}");
        assert_eq!(answer.attrs("main a", "href"), ["/folders"]);
    }

    // A name Dovecot itself refuses (`NO [CANNOT] Invalid mailbox name:
    // Begins with '~'`): the page says so in our words.
    let page = s.browser.get("/folders").await;
    let answer = submit(
        &s.browser,
        &page,
        "form.create-folder",
        &[("name", "~home")],
    )
    .await;
    assert_eq!(answer.status, 409, "{}", answer.text());
    assert!(answer.texts("h1").concat().contains("Folder not changed"));
    let text = answer.texts("main p").concat();
    assert!(
        text.contains("mail server cannot use this folder name"),
        "{text}"
    );

    assert_eq!(listed(dovecot, &s.user, &s.password), before);
    s.node.stop().await;
}

#[tokio::test]
async fn forged_or_repeated_forms_change_nothing() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-forged").await;

    let page = s.browser.get("/folders").await;
    let forged = submit(
        &s.browser,
        &page,
        "form.create-folder",
        &[("name", "Forged"), ("csrf", "not-the-token")],
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.text());
    let no_token = submit(
        &s.browser,
        &page,
        "form.create-folder",
        &[("name", "Forged"), ("form_token", "")],
    )
    .await;
    assert_eq!(no_token.status, 403, "{}", no_token.text());
    assert!(!listed(dovecot, &s.user, &s.password).contains(&"Forged".to_owned()));

    let first = submit(&s.browser, &page, "form.create-folder", &[("name", "Once")]).await;
    landed(&s.browser, &first).await;
    let repeated = submit(
        &s.browser,
        &page,
        "form.create-folder",
        &[("name", "Twice")],
    )
    .await;
    let after = landed(&s.browser, &repeated).await;
    assert_eq!(flash(&after), "", "a repeated form says nothing new");
    let names = listed(dovecot, &s.user, &s.password);
    assert!(names.contains(&"Once".to_owned()));
    assert!(!names.contains(&"Twice".to_owned()));
    s.node.stop().await;
}

#[tokio::test]
async fn the_folders_page_is_linked_from_every_folder_list_and_help_from_every_page() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let s = setup(dovecot, "folders-links").await;
    let inbox = s.browser.get("/mail/INBOX").await;
    assert_eq!(
        inbox
            .attrs("nav.folders a[href=\"/folders\"]", "href")
            .len(),
        1
    );
    assert_eq!(inbox.attrs("header a[href=\"/help\"]", "href").len(), 1);

    let help = Browser::new(&s.node.base).get("/help").await;
    assert_eq!(help.status, 200, "help needs no session");
    let keys = help.texts("table.shortcuts kbd");
    for key in ["j", "k", "o", "u", "s", "m", "#", "e", "?"] {
        assert!(
            keys.contains(&key.to_owned()),
            "{key} missing from {keys:?}"
        );
    }
    let policy = inbox.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    s.node.stop().await;
}

fn urlencode(text: &str) -> String {
    mailfront::web::paths::encode_segment(text)
}
