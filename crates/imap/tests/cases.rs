//! The shared `.imap` cases, each replayed as it is by the fake server, and
//! one fixture of our own per case for the same kind of fault.

mod support;

use mailfront_imap::{decode_mailbox_name, Connection, ImapError, MailboxEvent, Secret, Security};
use support::{
    connect_and_login, fixture, shared_cases, test_timeouts, test_tls, Ending, FakeServer, Script,
    Step, Transcript,
};

fn case(name: &str) -> Option<Transcript> {
    Some(Transcript::load(&shared_cases()?.join(name)))
}

fn text(bytes: &Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(bytes.as_deref().unwrap_or_default()).into_owned()
}

#[tokio::test]
async fn case_006_empty_lists_groups_and_nil_envelopes_give_three_rows() {
    let Some(transcript) = case("006-envelope-empty-lists-and-groups.imap") else {
        return;
    };
    let server = FakeServer::start(Script::new(transcript, Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;

    let selected = conn.select("INBOX", false).await.unwrap();
    assert_eq!((selected.exists, selected.uidvalidity), (3, 1_717_000_000));
    assert_eq!(selected.uidnext, Some(104));

    let rows = conn.fetch_summaries(&[101, 102, 103]).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [101, 102, 103]
    );

    let first = &rows[0].envelope;
    assert_eq!(text(&first.from[0].name), "Carol Writer");
    assert!(first.sender.is_empty() && first.reply_to.is_empty());
    assert_eq!(first.effective_reply_to(), &first.from[..]);
    assert_eq!(first.in_reply_to, None);
    assert_eq!(text(&first.message_id), "<r1@example.org>");
    assert!(rows[0].has_flag("\\Seen"));

    let second = &rows[1].envelope;
    assert!(
        second.to.is_empty(),
        "an empty group must not become an address"
    );
    assert_eq!(text(&second.from[0].name), "Dan");

    let third = &rows[2];
    assert_eq!(third.envelope, Default::default());
    let date = third.internal_date.unwrap();
    assert_eq!(date.to_rfc3339(), "2024-06-05T12:00:00+00:00");

    conn.noop().await.unwrap();
    assert!(conn.is_usable());
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn fixture_106_other_odd_envelopes_keep_raw_bytes_and_groups() {
    let server = FakeServer::start(Script::new(
        fixture("106-envelope-odd-shapes.imap"),
        Ending::Serve,
    ))
    .await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();

    let rows = conn.fetch_summaries(&[12, 11, 13]).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [12, 11],
        "13 is gone"
    );

    let first = &rows[1];
    assert_eq!(
        first.envelope.subject.as_deref(),
        Some(&b"Gr\xfc\xdfe aus K\xf6ln"[..])
    );
    assert_eq!(
        text(&first.envelope.from[0].name),
        "=?utf-8?q?J=C3=BCrgen?="
    );
    assert!(first.envelope.sender.is_empty());
    let to = &first.envelope.to;
    assert_eq!(to.len(), 2);
    assert!(to.iter().all(|a| a.group.as_deref() == Some(&b"team"[..])));
    assert_eq!(text(&to[1].route), "@relay.example");
    assert_eq!(to[1].email(), Some(b"bob@example.org".to_vec()));
    assert!(
        first.envelope.cc.is_empty(),
        "an empty group in Cc gives no address"
    );
    assert_eq!(first.size, Some(2048));
    assert_eq!(
        first.internal_date.unwrap().to_rfc3339(),
        "2024-07-07T09:05:00+02:00"
    );
    assert!(first.has_attachments());
    assert_eq!(first.flags, ["\\Seen", "$Label1"]);

    let second = &rows[0];
    assert_eq!(text(&second.envelope.subject), "Short");
    assert!(second.envelope.to.is_empty() && second.envelope.message_id.is_none());
    assert!(second.internal_date.is_none());
    assert!(
        !second.has_attachments(),
        "multipart/alternative is no attachment"
    );
    assert!(second.flags.is_empty());

    conn.noop().await.unwrap();
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn case_007_literal_subject_and_name_are_kept_exactly() {
    let Some(transcript) = case("007-envelope-literal-fields.imap") else {
        return;
    };
    let server = FakeServer::start(Script::new(transcript, Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();

    let rows = conn.fetch_summaries(&[7]).await.unwrap();
    assert_eq!(rows.len(), 1);
    let envelope = &rows[0].envelope;
    assert_eq!(
        text(&envelope.subject),
        r#"Re: "quarterly" numbers (draft) \ final"#
    );
    assert_eq!(text(&envelope.from[0].name), r#"O"Brien, Pat"#);
    assert_eq!(envelope.from[0].email(), Some(b"pat@example.net".to_vec()));
    assert_eq!(text(&envelope.to[0].name), "Alice");
    assert_eq!(text(&envelope.message_id), "<lit-007@example.net>");

    // The stream is still in sync after the header literal.
    conn.noop().await.unwrap();
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn fixture_107_literals_in_other_places_do_not_desync() {
    let server = FakeServer::start(Script::new(
        fixture("107-literals-elsewhere.imap"),
        Ending::Serve,
    ))
    .await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();

    let status = conn.status("INBOX").await.unwrap();
    assert_eq!(
        (status.messages, status.unseen, status.uidnext),
        (Some(1), Some(0), Some(22))
    );
    assert_eq!(status.highestmodseq, Some(100));

    let rows = conn.fetch_summaries(&[21]).await.unwrap();
    let envelope = &rows[0].envelope;
    assert_eq!(text(&envelope.date), "Fri, 14 Jun 2024 17:05:00 -0700");
    assert_eq!(text(&envelope.subject), "line one)\r\n\"quoted\" \\ x");
    assert_eq!(envelope.from[0].email(), Some(b"pat@example.net".to_vec()));
    assert_eq!(envelope.in_reply_to, None, "an empty literal is no value");
    assert_eq!(text(&envelope.message_id), "<lit@example>");
    assert_eq!(
        rows[0].internal_date.unwrap().to_rfc3339(),
        "2024-06-14T17:05:00-07:00"
    );

    let body = conn.fetch_message(21, 1 << 20).await.unwrap().unwrap();
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("A0005 OK fake completion\r\n* BYE not really\r\n"));

    conn.noop().await.unwrap();
    assert!(conn.is_usable());
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn case_008_odd_mailbox_names_list_decode_and_select_unchanged() {
    let Some(transcript) = case("008-list-odd-mailbox-names.imap") else {
        return;
    };
    let script = Script::new(transcript, Ending::Serve).exact(&["LIST", "SELECT"]);
    let server = FakeServer::start(script).await;
    let mut conn = connect_and_login(server.addr).await;

    let listed = conn.list_mailboxes().await.unwrap();
    let raw: Vec<&str> = listed.iter().map(|m| m.raw_name.as_str()).collect();
    assert_eq!(
        raw,
        [
            "INBOX",
            "Entw&APw-rfe",
            "Tom &- Jerry",
            "Projekt \"Alpha\"",
            "back\\slash",
            "Kunden {alt}",
            "2024",
            "&ZeVnLIqe-",
            "&ZeVnLIqe-/&U,BTFw-",
            "Flat.Name.No.Hierarchy",
            "Broken&Jjo",
            "<script>alert(8)</script>",
        ]
    );
    let decoded: Vec<String> = listed.iter().map(|m| m.decoded_name()).collect();
    assert_eq!(
        decoded,
        [
            "INBOX",
            "Entwürfe",
            "Tom & Jerry",
            "Projekt \"Alpha\"",
            "back\\slash",
            "Kunden {alt}",
            "2024",
            "日本語",
            "日本語/台北",
            "Flat.Name.No.Hierarchy",
            "Broken&Jjo",
            "<script>alert(8)</script>",
        ]
    );
    assert_eq!(listed[9].delimiter, None);
    assert_eq!(listed[8].delimiter, Some('/'));
    assert!(!listed[7].is_selectable());
    assert_eq!(listed[1].special_use(), Some("\\Drafts"));

    // Selecting sends the server's own names back, quoted, never re-encoded.
    let selected = conn.select(&listed[3].raw_name, false).await.unwrap();
    assert_eq!(selected.uidvalidity, 42);
    let selected = conn.select(&listed[1].raw_name, false).await.unwrap();
    assert_eq!(selected.uidvalidity, 43);
    assert_eq!(decode_mailbox_name(&selected.raw_name), "Entwürfe");

    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn fixture_108_more_odd_names_and_missing_mailboxes() {
    let script =
        Script::new(fixture("108-list-more-odd-names.imap"), Ending::Serve).exact(&["LIST"]);
    let server = FakeServer::start(script).await;
    let mut conn = connect_and_login(server.addr).await;

    let listed = conn.list_mailboxes().await.unwrap();
    let raw: Vec<&str> = listed.iter().map(|m| m.raw_name.as_str()).collect();
    assert_eq!(
        raw,
        [
            "Gesendete Objekte",
            "Papierkorb",
            "Work\\2024",
            "&AMk-t&AOk-",
            "100% *wild*",
            "line\r\nbrk",
            "Entwürfe",
            "INBOX.Sub",
            "",
            "Ghost",
        ],
        "the name that is not UTF-8 is skipped"
    );
    assert_eq!(listed[0].special_use(), Some("\\Sent"));
    assert_eq!(listed[1].special_use(), Some("\\Trash"));
    assert_eq!(listed[2].delimiter, Some('\\'));
    assert_eq!(listed[3].decoded_name(), "Été");
    assert_eq!(listed[6].decoded_name(), "Entwürfe");
    assert!(!listed[9].is_selectable());

    let err = conn.select(&listed[5].raw_name, false).await.unwrap_err();
    assert!(matches!(err, ImapError::MailboxNotFound { ref mailbox } if mailbox == "line\r\nbrk"));
    let err = conn.select(&listed[3].raw_name, false).await.unwrap_err();
    assert!(matches!(err, ImapError::MailboxNotFound { .. }), "{err:?}");
    assert!(conn.selected().is_none());

    let selected = conn.select("Gesendete Objekte", false).await.unwrap();
    assert!(selected.read_only, "the server answered READ-ONLY");
    assert!(conn.is_usable());

    conn.logout().await;
    let received = server.finish().await;
    let sent: Vec<String> = received
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert!(
        sent.iter()
            .any(|c| c.ends_with("SELECT {9+}\r\nline\r\nbrk\r\n")),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|c| c.ends_with("SELECT \"&AMk-t&AOk-\"\r\n")),
        "{sent:?}"
    );
}

#[tokio::test]
async fn case_009_unsolicited_responses_become_events_not_rows() {
    let Some(transcript) = case("009-unsolicited-responses-during-fetch.imap") else {
        return;
    };
    let server = FakeServer::start(Script::new(transcript, Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();
    assert!(conn.take_events().is_empty());

    let rows = conn.fetch_summaries(&[201, 202, 203]).await.unwrap();
    let subjects: Vec<String> = rows.iter().map(|r| text(&r.envelope.subject)).collect();
    assert_eq!(subjects, ["First", "Second", "Third"]);
    assert_eq!(rows[0].flags, ["\\Seen"]);
    assert_eq!(rows[1].flags, ["\\Seen"]);
    assert!(rows[2].flags.is_empty());

    assert_eq!(conn.selected().unwrap().exists, 5);
    assert!(conn
        .selected()
        .unwrap()
        .flags
        .contains(&"$Forwarded".to_string()));
    let events = conn.take_events();
    assert_eq!(
        events,
        [
            MailboxEvent::Exists(5),
            MailboxEvent::FlagsChanged {
                seq: 4,
                uid: None,
                flags: vec!["\\Seen".into(), "\\Flagged".into()]
            },
            MailboxEvent::Alert("Mailbox is at 91% of quota".into()),
        ]
    );

    conn.noop().await.unwrap();
    let events = conn.take_events();
    assert_eq!(
        events,
        [MailboxEvent::FlagsChanged {
            seq: 3,
            uid: None,
            flags: vec!["\\Seen".into()]
        }]
    );

    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn fixture_109_vanished_malformed_and_stale_responses_are_tolerated() {
    let server = FakeServer::start(Script::new(
        fixture("109-unsolicited-more.imap"),
        Ending::Serve,
    ))
    .await;
    let mut conn = connect_and_login(server.addr).await;
    assert!(conn.capabilities().qresync());

    let selected = conn.select("INBOX", false).await.unwrap();
    assert_eq!((selected.exists, selected.highestmodseq), (6, Some(500)));

    let unseen = conn
        .uid_search(&mailfront_imap::SearchCriteria::Unseen)
        .await
        .unwrap();
    assert_eq!(unseen, [301, 302, 303, 305]);

    let rows = conn.fetch_summaries(&[301, 302, 303]).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [301, 302, 303]
    );
    assert_eq!(
        rows[0].flags,
        ["\\Seen", "\\Answered"],
        "a later FLAGS for a row updates it"
    );
    assert_eq!(
        rows[1].envelope,
        Default::default(),
        "the malformed row is refetched without envelope"
    );
    assert_eq!(rows[1].size, Some(99));
    assert_eq!(text(&rows[2].envelope.subject), "Third");

    let selected = conn.selected().unwrap();
    assert_eq!(selected.exists, 6, "VANISHED took one, EXISTS set 6");
    assert_eq!(selected.highestmodseq, Some(520));
    let events = conn.take_events();
    assert_eq!(
        events,
        [
            MailboxEvent::Vanished(vec![304]),
            MailboxEvent::FlagsChanged {
                seq: 5,
                uid: Some(306),
                flags: vec!["\\Deleted".into()]
            },
            MailboxEvent::Alert("Server shutting down at noon".into()),
            MailboxEvent::Exists(6),
        ]
    );

    conn.noop().await.unwrap();
    assert_eq!(
        conn.take_events(),
        [MailboxEvent::UidValidityChanged { old: 77, new: 78 }]
    );
    assert!(conn.is_usable());

    conn.logout().await;
    server.finish().await;
}

/// Connection 1 of case 010 starts "already logged in and INBOX selected";
/// this preamble brings a fresh connection into that state.
fn logged_in_preamble() -> Transcript {
    Transcript::parse(
        b"S: * OK [CAPABILITY IMAP4rev1] ready\n\
          C: p1 LOGIN alice@example.org secret\n\
          S: p1 OK [CAPABILITY IMAP4rev1] logged in\n\
          C: p2 SELECT INBOX\n\
          S: * 1 EXISTS\n\
          S: * OK [UIDVALIDITY 1717000003] ok\n\
          S: p2 OK [READ-WRITE] SELECT completed\n",
    )
}

#[tokio::test]
async fn case_010_bye_mid_command_loses_the_connection_and_bye_at_greeting_is_refused() {
    let Some(transcript) = case("010-bye-mid-command.imap") else {
        return;
    };
    let parts = transcript.split_at_comments(&["# connection 2", "# variant B"]);
    assert_eq!(parts.len(), 3);

    // Run 1: BYE in the middle of a FETCH on a pooled connection.
    let first = logged_in_preamble().then(parts[0].clone());
    let server = FakeServer::start(Script::new(first, Ending::Close)).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();
    let err = conn.fetch_message(301, 1 << 20).await.unwrap_err();
    assert!(
        matches!(err, ImapError::Bye { ref text } if text.contains("Autologout")),
        "{err:?}"
    );
    assert!(err.is_connection_lost());
    assert!(!conn.is_usable());
    assert!(matches!(conn.noop().await, Err(ImapError::Unusable)));
    server.finish().await;

    // The retry on a fresh connection works.
    let server = FakeServer::start(Script::new(parts[1].clone(), Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();
    let body = conn.fetch_message(301, 1 << 20).await.unwrap().unwrap();
    assert_eq!(body, b"Subject: still here\r\n\r\nHello again.\r\n");
    conn.logout().await;
    server.finish().await;

    // Run 2: the fresh connection is refused at greeting.
    let server = FakeServer::start(Script::new(parts[2].clone(), Ending::Close)).await;
    let result = Connection::connect(
        server.addr,
        "localhost",
        Security::Plain,
        test_tls(),
        test_timeouts(),
    )
    .await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, ImapError::Refused { ref text } if text.contains("Too many")),
        "{err:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn fixture_110_a_connection_ends_in_other_ways() {
    let parts = fixture("110-connection-dies-elsewhere.imap").split_at_comments(&["# segment"]);
    assert_eq!(parts.len(), 6, "a preamble and five segments");
    let connect = |addr| {
        Connection::connect(
            addr,
            "localhost",
            Security::Plain,
            test_tls(),
            test_timeouts(),
        )
    };

    // The stream ends inside a literal.
    let server = FakeServer::start(Script::new(parts[1].clone(), Ending::Close)).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();
    let err = conn.fetch_message(5, 1 << 20).await.unwrap_err();
    assert!(matches!(err, ImapError::ConnectionClosed), "{err:?}");
    assert!(err.is_connection_lost() && !conn.is_usable());
    server.finish().await;

    // BYE with a code at greeting.
    let server = FakeServer::start(Script::new(parts[2].clone(), Ending::Close)).await;
    assert!(matches!(
        connect(server.addr).await,
        Err(ImapError::Refused { .. })
    ));
    server.finish().await;

    // PREAUTH is not accepted.
    let server = FakeServer::start(Script::new(parts[3].clone(), Ending::Close)).await;
    assert!(matches!(
        connect(server.addr).await,
        Err(ImapError::UnexpectedGreeting { .. })
    ));
    server.finish().await;

    // BYE in answer to LOGIN.
    let server = FakeServer::start(Script::new(parts[4].clone(), Ending::Close)).await;
    let mut conn = connect(server.addr).await.unwrap();
    let err = conn
        .login("alice@example.org", &Secret::new("secret".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImapError::Bye { .. }) && !conn.is_usable(),
        "{err:?}"
    );
    server.finish().await;

    // Refused logins keep the connection; each maps to its condition.
    let server = FakeServer::start(Script::new(parts[5].clone(), Ending::Serve)).await;
    let mut conn = connect(server.addr).await.unwrap();
    let password = Secret::new("secret".to_string());
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(
            conn.login("alice@example.org", &password)
                .await
                .unwrap_err(),
        );
    }
    assert!(
        matches!(outcomes[0], ImapError::ConnectionLimit),
        "{:?}",
        outcomes[0]
    );
    assert!(
        matches!(outcomes[1], ImapError::ConnectionLimit),
        "{:?}",
        outcomes[1]
    );
    assert!(matches!(
        outcomes[2],
        ImapError::AuthenticationFailed { code: Some(_) }
    ));
    assert!(matches!(outcomes[3], ImapError::Unavailable));
    assert!(matches!(
        outcomes[4],
        ImapError::AuthenticationFailed { code: None }
    ));
    assert!(conn.is_usable());
    conn.logout().await;
    server.finish().await;
}

#[test]
fn transcripts_keep_literal_lines_and_comments() {
    let t = Transcript::parse(b"# note\r\nS: * 1 FETCH (BODY[] {3}\r\nS: abc)\r\nC: a1 NOOP\r\n");

    assert_eq!(t.steps[0], Step::Comment("# note".into()));
    assert_eq!(
        t.steps[1],
        Step::Server(b"* 1 FETCH (BODY[] {3}\r\n".to_vec())
    );
    assert_eq!(t.steps[3], Step::Client(b"a1 NOOP".to_vec()));
}

#[tokio::test]
async fn fixture_111_a_structure_too_deep_to_read_keeps_sender_and_subject() {
    let server = FakeServer::start(Script::new(
        fixture("111-structure-too-deep.imap"),
        Ending::Serve,
    ))
    .await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();

    let rows = conn.fetch_summaries(&[1, 2]).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.uid).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(text(&rows[1].envelope.subject), "Deep");
    assert_eq!(rows[1].size, Some(4000));
    conn.logout().await;
    server.finish().await;
}
