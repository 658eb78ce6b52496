//! Wire tests of the connection against the scripted fake server: quoting,
//! literals, timeouts, size bounds, secrets in logs, TLS and the mailbox and
//! message commands.

mod support;

use std::time::Duration;

use mailfront_imap::{
    tls_client_config, Connection, FlagOp, ImapError, Limits, MailboxEvent, SearchCriteria, Secret,
    Security, SortField, SortKey, Stage, Timeouts,
};
use support::{
    connect_and_login, connect_plain, test_timeouts, test_tls, Ending, FakeServer, LogCapture,
    Script, Step, Transcript,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn script(text: &str, ending: Ending) -> Script {
    Script::new(Transcript::parse(text.as_bytes()), ending)
}

fn strings(received: &[Vec<u8>]) -> Vec<String> {
    received
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// Drops the tag of each received command.
fn untagged(received: &[Vec<u8>]) -> Vec<String> {
    strings(received)
        .into_iter()
        .map(|c| c.split_once(' ').unwrap().1.to_string())
        .collect()
}

const LOGGED_IN: &str = "S: * OK [CAPABILITY IMAP4rev1] ready\n\
    C: a1 LOGIN u p\n\
    S: a1 OK [CAPABILITY IMAP4rev1 SORT UIDPLUS] logged in\n";

#[tokio::test]
async fn arguments_with_crlf_quotes_braces_backslashes_and_nul_cannot_inject_commands() {
    let text = format!(
        "{LOGGED_IN}C: a2 CREATE x\nS: a2 OK done\nC: a3 RENAME x y\nS: a3 OK done\n\
         C: a4 DELETE x\nS: a4 OK done\nC: a5 UID SEARCH x\nS: * SEARCH 3 1 2\nS: a5 OK done\n"
    );
    let server = FakeServer::start(script(&text, Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;

    conn.create("a\r\nA0003 DELETE INBOX").await.unwrap();
    conn.rename("x\"y\\", "{5}").await.unwrap();
    conn.delete("nul\0name").await.unwrap();
    let criteria = SearchCriteria::Text("evil\r\nA9 LOGOUT".into());
    assert_eq!(conn.uid_search(&criteria).await.unwrap(), [1, 2, 3]);
    conn.logout().await;

    let sent = untagged(&server.finish().await);
    assert_eq!(
        sent,
        [
            "LOGIN \"alice@example.org\" \"secret\"\r\n",
            "CREATE {21}\r\na\r\nA0003 DELETE INBOX\r\n",
            "RENAME \"x\\\"y\\\\\" \"{5}\"\r\n",
            "DELETE {8}\r\nnul\0name\r\n",
            "UID SEARCH TEXT {15}\r\nevil\r\nA9 LOGOUT\r\n",
            "LOGOUT\r\n",
        ]
    );
}

#[tokio::test]
async fn literal_plus_sends_literals_without_waiting() {
    let text = "S: * OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] ready\n\
        C: a1 LOGIN u p\n\
        S: a1 OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] logged in\n\
        C: a2 APPEND x\n\
        S: a2 OK [APPENDUID 7 42] APPEND completed\n";
    let server = FakeServer::start(script(text, Ending::Serve)).await;
    let mut conn = connect_plain(server.addr).await;
    conn.login("p\u{e4}t", &Secret::new("pass word".into()))
        .await
        .unwrap();

    let uid = conn
        .append(
            "Drafts",
            &["\\Draft", "\\Seen"],
            b"Subject: hi\r\n\r\nbody\r\n",
        )
        .await;
    assert_eq!(uid.unwrap(), Some(42));
    conn.logout().await;

    let sent = untagged(&server.finish().await);
    assert_eq!(sent[0], "LOGIN {4+}\r\np\u{e4}t \"pass word\"\r\n");
    assert_eq!(
        sent[1],
        "APPEND \"Drafts\" (\\Draft \\Seen) {21+}\r\nSubject: hi\r\n\r\nbody\r\n\r\n"
    );
}

#[tokio::test]
async fn a_refused_synchronizing_literal_is_never_sent_and_the_connection_stays_usable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (read, mut write) = tcp.into_split();
        let mut lines = BufReader::new(read).lines();
        write
            .write_all(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await
        {
            let (tag, rest) = line.split_once(' ').unwrap();
            let reply = if rest.starts_with("APPEND") {
                "NO [TRYCREATE] no such mailbox"
            } else {
                "OK done"
            };
            seen.push(rest.to_string());
            write
                .write_all(format!("{tag} {reply}\r\n").as_bytes())
                .await
                .unwrap();
            if rest.starts_with("LOGOUT") {
                break;
            }
        }
        seen
    });

    let mut conn = connect_and_login(addr).await;
    let err = conn
        .append("Missing", &[], b"LOGOUT injected?")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImapError::MailboxNotFound { ref mailbox } if mailbox == "Missing"),
        "{err:?}"
    );
    assert!(conn.is_usable());
    conn.noop().await.unwrap();
    conn.logout().await;

    let seen = server.await.unwrap();
    assert_eq!(
        seen,
        [
            "LOGIN \"alice@example.org\" \"secret\"",
            "CAPABILITY",
            "APPEND \"Missing\" () {16}",
            "NOOP",
            "LOGOUT"
        ]
    );
}

#[tokio::test]
async fn a_silent_server_times_out_and_the_connection_is_unusable() {
    let text = format!("{LOGGED_IN}C: a2 NOOP\n");
    let server = FakeServer::start(script(&text, Ending::Hang)).await;
    let timeouts = Timeouts {
        command: Duration::from_millis(300),
        ..test_timeouts()
    };
    let mut conn = Connection::connect(
        server.addr,
        "localhost",
        Security::Plain,
        test_tls(),
        timeouts,
    )
    .await
    .unwrap();
    conn.login("u", &Secret::new("p".into())).await.unwrap();

    let started = std::time::Instant::now();
    let err = conn.noop().await.unwrap_err();
    assert!(
        matches!(
            err,
            ImapError::TimedOut {
                stage: Stage::Command
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.is_connection_lost() && !conn.is_usable());
    assert!(matches!(conn.noop().await, Err(ImapError::Unusable)));
    drop(conn);
    server.finish().await;
}

#[tokio::test]
async fn a_missing_greeting_times_out() {
    let server = FakeServer::start(script("", Ending::Hang)).await;
    let timeouts = Timeouts {
        greeting: Duration::from_millis(200),
        ..test_timeouts()
    };

    let result = Connection::connect(
        server.addr,
        "localhost",
        Security::Plain,
        test_tls(),
        timeouts,
    )
    .await;
    assert!(
        matches!(
            result,
            Err(ImapError::TimedOut {
                stage: Stage::Greeting
            })
        ),
        "{result:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn a_dropped_command_future_makes_the_connection_unusable() {
    let text = format!("{LOGGED_IN}C: a2 NOOP\n");
    let server = FakeServer::start(script(&text, Ending::Hang)).await;
    let mut conn = connect_and_login(server.addr).await;

    let abandoned = tokio::time::timeout(Duration::from_millis(100), conn.noop()).await;
    assert!(abandoned.is_err(), "the server never answers");
    assert!(!conn.is_usable());
    assert!(matches!(conn.noop().await, Err(ImapError::Unusable)));
    drop(conn);
    server.finish().await;
}

#[tokio::test]
async fn a_response_line_over_the_limit_fails_without_buffering_it() {
    let long = "x".repeat(100_000);
    let text = format!("{LOGGED_IN}C: a2 NOOP\nS: * OK {long}\nS: a2 OK done\n");
    let server = FakeServer::start(script(&text, Ending::Close)).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.set_limits(Limits {
        max_line: 4096,
        ..Limits::default()
    });

    let err = conn.noop().await.unwrap_err();
    assert!(
        matches!(
            err,
            ImapError::ResponseTooLarge {
                limit: 4096,
                usable: false
            }
        ),
        "{err:?}"
    );
    assert!(!conn.is_usable());
    drop(conn);
    let _ = server.outcome().await;
}

#[tokio::test]
async fn a_message_over_max_bytes_is_discarded_and_the_connection_stays_usable() {
    let body = "0123456789".repeat(10);
    let text = format!(
        "{LOGGED_IN}C: a2 UID FETCH 7 (BODY.PEEK[])\n\
         S: * 1 FETCH (UID 7 BODY[] {{100}}\nS: {body})\n\
         S: a2 OK done\nC: a3 NOOP\nS: a3 OK done\nC: a4 UID FETCH 7 (BODY.PEEK[])\n\
         S: * 1 FETCH (UID 7 BODY[] {{100}}\nS: {body})\nS: a4 OK done\n\
         C: a5 UID FETCH 8 (BODY.PEEK[])\n\
         S: a5 OK done\n"
    );
    let server = FakeServer::start(script(&text, Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;

    let err = conn.fetch_message(7, 10).await.unwrap_err();
    assert!(
        matches!(
            err,
            ImapError::ResponseTooLarge {
                limit: 10,
                usable: true
            }
        ),
        "{err:?}"
    );
    assert!(conn.is_usable() && !err.is_connection_lost());
    conn.noop().await.unwrap();
    assert_eq!(
        conn.fetch_message(7, 100).await.unwrap().unwrap(),
        body.as_bytes()
    );
    assert_eq!(
        conn.fetch_message(8, 100).await.unwrap(),
        None,
        "an expunged UID"
    );
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn a_malformed_body_response_is_an_error_not_a_missing_message() {
    let text = format!(
        "{LOGGED_IN}C: a2 UID FETCH 7 (BODY.PEEK[])\nS: * 1 FETCH (UID 7 BODY[] \"unterminated\n\
         S: a2 OK done\n"
    );
    let server = FakeServer::start(script(&text, Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;

    let err = conn.fetch_message(7, 100).await.unwrap_err();
    assert!(
        matches!(err, ImapError::MalformedResponse { .. }),
        "{err:?}"
    );
    assert!(!err.is_connection_lost() && conn.is_usable());
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn garbage_responses_are_skipped_and_the_stream_stays_in_sync() {
    let text = format!(
        "{LOGGED_IN}C: a2 NOOP\nS: * 1 FETCH (((((\nS: * OK [\nS: *\n\
         S: * 99999999999999999999 EXISTS\n\
         S: * LIST\nS: + stray continuation\nS: \u{1}\u{2}garbage\nS: * STATUS \nS: a2 OK done\n\
         C: a3 NOOP\nS: a3 OK done\n"
    );
    let server = FakeServer::start(script(&text, Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;

    conn.noop().await.unwrap();
    conn.noop().await.unwrap();
    assert!(conn.is_usable());
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn random_server_bytes_never_panic_or_hang_the_client() {
    let pieces: [&[u8]; 16] = [
        b"* ",
        b"A0002 ",
        b"A0003 OK done\r\n",
        b"OK ",
        b"BYE x\r\n",
        b"{5}\r\n",
        b"{2+}\r\n",
        b"(",
        b")",
        b"\"",
        b"\r\n",
        b"FETCH (UID 1 ENVELOPE ",
        b"[ALERT] ",
        b"1 EXISTS\r\n",
        b"\xff\x00",
        b"+ go\r\n",
    ];
    let mut state: u64 = 0x5eed;
    for _ in 0..40 {
        let mut garbage = Vec::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            garbage.extend_from_slice(pieces[(state % pieces.len() as u64) as usize]);
        }

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (read, mut write) = tcp.into_split();
            let mut lines = BufReader::new(read).lines();
            let _ = write
                .write_all(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
                .await;
            let wait = Duration::from_secs(2);
            if let Ok(Ok(Some(_))) = tokio::time::timeout(wait, lines.next_line()).await {
                let _ = write
                    .write_all(b"A0001 OK [CAPABILITY IMAP4rev1] in\r\n")
                    .await;
            }
            if let Ok(Ok(Some(_))) = tokio::time::timeout(wait, lines.next_line()).await {
                let _ = write.write_all(&garbage).await;
            }
        });

        let timeouts = Timeouts {
            command: Duration::from_millis(500),
            ..test_timeouts()
        };
        let conn =
            Connection::connect(addr, "localhost", Security::Plain, test_tls(), timeouts).await;
        let mut conn = conn.unwrap();
        conn.login("u", &Secret::new("p".into())).await.unwrap();
        for _ in 0..3 {
            if conn.noop().await.is_err() {
                break;
            }
        }
        drop(conn);
        server.await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn passwords_and_bodies_stay_out_of_logs_debug_output_and_errors() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let text = "S: * OK [CAPABILITY IMAP4rev1] ready\n\
        C: a1 LOGIN u p\n\
        S: a1 NO [AUTHENTICATIONFAILED] Authentication failed.\n\
        C: a2 LOGIN u p\n\
        S: a2 OK [CAPABILITY IMAP4rev1] logged in\n\
        C: a3 SELECT INBOX\n\
        S: * 1 EXISTS\n\
        S: a3 OK [READ-WRITE] done\n\
        C: a4 UID FETCH 1 (BODY.PEEK[])\n\
        S: * 1 FETCH (UID 1 BODY[] {19}\n\
        S: TOP SECRET BODY ...)\n\
        S: a4 OK done\n";
    let server = FakeServer::start(script(text, Ending::Serve)).await;
    let mut conn = connect_plain(server.addr).await;
    let password = Secret::new("s3cret-Pa55".to_string());

    let err = conn.login("alice", &password).await.unwrap_err();
    assert!(!format!("{err:?} {err}").contains("s3cret"));
    conn.login("alice", &password).await.unwrap();
    conn.select("INBOX", false).await.unwrap();
    let body = conn.fetch_message(1, 1000).await.unwrap().unwrap();
    assert!(body.starts_with(b"TOP SECRET BODY"));
    assert!(!format!("{conn:?}").contains("s3cret"));
    conn.logout().await;
    let received = strings(&server.finish().await);

    let logs = capture.text();
    assert!(
        received[1].contains("s3cret-Pa55"),
        "the password did reach the server"
    );
    assert!(
        logs.contains("conn_id") && logs.contains("logged in"),
        "{logs}"
    );
    assert!(
        logs.contains("user=\"alice\"") || logs.contains("user=alice"),
        "{logs}"
    );
    assert!(!logs.contains("s3cret"), "{logs}");
    assert!(!logs.contains("TOP SECRET"), "{logs}");
}

#[tokio::test]
async fn mailbox_and_message_commands_send_compact_sets_and_map_refusals() {
    let text = format!(
        "{LOGGED_IN}\
         C: a2 SELECT INBOX\nS: * 5 EXISTS\nS: * OK [UIDVALIDITY 4] ok\n\
         S: a2 OK [READ-WRITE] done\n\
         C: a3 UID SORT (REVERSE DATE) UTF-8 ALL\nS: * SORT 5 3 4\nS: a3 OK done\n\
         C: a4 UID SEARCH x\nS: * SEARCH 4\nS: a4 OK done\n\
         C: a5 UID FETCH 3,5,9 (UID FLAGS)\nS: * 1 FETCH (UID 3 FLAGS (\\Seen))\n\
         S: * 2 FETCH (UID 5 FLAGS ())\nS: a5 OK done\n\
         C: a6 UID STORE 3:5 +FLAGS.SILENT (\\Seen $Done)\nS: a6 OK done\n\
         C: a7 UID STORE 4 -FLAGS.SILENT (\\Flagged)\nS: a7 OK done\n\
         C: a8 UID COPY 3 \"Archive\"\nS: a8 NO [TRYCREATE] no such mailbox\n\
         C: a9 UID COPY 3:4 \"Trash\"\nS: a9 OK [COPYUID 9 3:4 20:21] done\n\
         C: b1 UID STORE 3:4 +FLAGS.SILENT (\\Deleted)\nS: b1 OK done\n\
         C: b2 UID EXPUNGE 3:4\nS: * 3 EXPUNGE\nS: * 3 EXPUNGE\nS: b2 OK done\n\
         C: b3 CREATE \"New\"\nS: b3 NO [ALREADYEXISTS] exists\n\
         C: b4 RENAME \"Old\" \"New\"\nS: b4 OK done\n\
         C: b5 DELETE \"Gone\"\nS: b5 NO [NONEXISTENT] no\n\
         C: b6 STATUS \"Nope\" (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n\
         S: b6 NO Mailbox doesn't exist: Nope\n\
         C: b7 STATUS \"INBOX\" (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n\
         S: * STATUS INBOX (MESSAGES 3 UNSEEN 1 UIDNEXT 6 UIDVALIDITY 4)\nS: b7 OK done\n"
    );
    let exact = [
        "UID SORT",
        "UID FETCH",
        "UID STORE",
        "UID COPY",
        "UID EXPUNGE",
        "CREATE",
        "RENAME",
        "DELETE",
        "STATUS",
    ];
    let server = FakeServer::start(script(&text, Ending::Serve).exact(&exact)).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();

    let sorted = conn
        .uid_sort(
            &[SortKey::descending(SortField::Date)],
            &SearchCriteria::All,
        )
        .await;
    assert_eq!(sorted.unwrap(), [5, 3, 4]);
    let criteria = SearchCriteria::And(vec![
        SearchCriteria::Unseen,
        SearchCriteria::Text("Grüße".into()),
    ]);
    assert_eq!(conn.uid_search(&criteria).await.unwrap(), [4]);
    let flags = conn.fetch_flags(&[9, 5, 3]).await.unwrap();
    assert_eq!(flags, [(5, vec![]), (3, vec!["\\Seen".to_string()])]);

    conn.store_flags(&[5, 3, 4], FlagOp::Add, &["\\Seen", "$Done"])
        .await
        .unwrap();
    conn.store_flags(&[4], FlagOp::Remove, &["\\Flagged"])
        .await
        .unwrap();
    let bad = conn
        .store_flags(&[4], FlagOp::Add, &["\\Seen)\r\nA1 LOGOUT"])
        .await;
    assert!(matches!(bad, Err(ImapError::InvalidArgument { .. })));
    conn.store_flags(&[], FlagOp::Add, &["\\Seen"])
        .await
        .unwrap();

    let err = conn.copy(&[3], "Archive").await.unwrap_err();
    assert!(matches!(err, ImapError::MailboxNotFound { .. }), "{err:?}");
    conn.move_messages(&[4, 3], "Trash").await.unwrap();
    assert_eq!(conn.selected().unwrap().exists, 3);
    let expunged = MailboxEvent::Expunged { seq: 3 };
    assert_eq!(conn.take_events(), [expunged.clone(), expunged]);

    assert!(matches!(
        conn.create("New").await,
        Err(ImapError::AlreadyExists { .. })
    ));
    conn.rename("Old", "New").await.unwrap();
    assert!(matches!(
        conn.delete("Gone").await,
        Err(ImapError::MailboxNotFound { .. })
    ));
    assert!(matches!(
        conn.status("Nope").await,
        Err(ImapError::MailboxNotFound { .. })
    ));
    let status = conn.status("INBOX").await.unwrap();
    assert_eq!(
        (status.messages, status.unseen, status.uidnext),
        (Some(3), Some(1), Some(6))
    );
    assert_eq!(status.highestmodseq, None);
    assert!(conn.is_usable());
    conn.logout().await;

    let sent = untagged(&server.finish().await);
    assert!(
        sent.contains(&"UID SEARCH CHARSET UTF-8 (UNSEEN TEXT {7}\r\nGrüße)\r\n".to_string()),
        "{sent:?}"
    );
}

#[tokio::test]
async fn missing_capabilities_are_reported_before_anything_is_sent() {
    let text = "S: * OK [CAPABILITY IMAP4rev1] ready\n\
        C: a1 LOGIN u p\n\
        S: a1 OK [CAPABILITY IMAP4rev1] logged in\n";
    let server = FakeServer::start(script(text, Ending::Serve)).await;
    let mut conn = connect_and_login(server.addr).await;

    let sort = conn
        .uid_sort(
            &[SortKey::ascending(SortField::Arrival)],
            &SearchCriteria::All,
        )
        .await;
    assert!(matches!(
        sort,
        Err(ImapError::Unsupported { capability: "SORT" })
    ));
    assert!(matches!(
        conn.uid_expunge(&[1]).await,
        Err(ImapError::Unsupported {
            capability: "UIDPLUS"
        })
    ));
    assert!(conn.is_usable());
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn move_uses_move_when_offered() {
    let text = "S: * OK [CAPABILITY IMAP4rev1 MOVE] ready\n\
        C: a1 LOGIN u p\n\
        S: a1 OK [CAPABILITY IMAP4rev1 MOVE] logged in\n\
        C: a2 UID MOVE 1:2,7 \"Archiv &- Alt\"\n\
        S: * OK [COPYUID 3 1:2,7 5:7] moved\n\
        S: * 1 EXPUNGE\n\
        S: a2 OK done\n";
    let server = FakeServer::start(script(text, Ending::Serve).exact(&["UID MOVE"])).await;
    let mut conn = connect_and_login(server.addr).await;

    conn.move_messages(&[7, 2, 1], "Archiv &- Alt")
        .await
        .unwrap();
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn implicit_tls_checks_the_certificate_against_the_server_name() {
    let text = "S: * OK [CAPABILITY IMAP4rev1] ready over tls\n\
        C: a1 LOGIN u p\n\
        S: a1 OK [CAPABILITY IMAP4rev1] logged in\n";
    let server = FakeServer::start(script(text, Ending::Serve).implicit_tls()).await;
    let mut conn = Connection::connect(
        server.addr,
        "localhost",
        Security::ImplicitTls,
        test_tls(),
        test_timeouts(),
    )
    .await
    .unwrap();
    conn.login("u", &Secret::new("p".into())).await.unwrap();
    conn.noop().await.unwrap();
    assert!(format!("{conn:?}").contains("tls: true"));
    conn.logout().await;
    server.finish().await;

    let server = FakeServer::start(script(text, Ending::Close).implicit_tls()).await;
    let wrong_name = Connection::connect(
        server.addr,
        "imap.example.org",
        Security::ImplicitTls,
        test_tls(),
        test_timeouts(),
    )
    .await;
    assert!(
        matches!(wrong_name, Err(ImapError::TlsFailed { .. })),
        "{wrong_name:?}"
    );
    assert!(server.outcome().await.is_err());

    let server = FakeServer::start(script(text, Ending::Close).implicit_tls()).await;
    let untrusted = tls_client_config(None).unwrap();
    let result = Connection::connect(
        server.addr,
        "localhost",
        Security::ImplicitTls,
        untrusted,
        test_timeouts(),
    )
    .await;
    assert!(
        matches!(result, Err(ImapError::TlsFailed { .. })),
        "{result:?}"
    );
    assert!(server.outcome().await.is_err());
}

#[tokio::test]
async fn starttls_upgrades_before_login_and_forgets_earlier_capabilities() {
    let mut transcript = Transcript::parse(
        b"S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\n\
          C: a1 STARTTLS\n\
          S: a1 OK begin tls\n",
    );
    transcript.steps.push(Step::StartTls);
    let transcript = transcript.then(Transcript::parse(
        b"C: a2 CAPABILITY\n\
          S: * CAPABILITY IMAP4rev1 AUTH=PLAIN\n\
          S: a2 OK done\n\
          C: a3 LOGIN u p\n\
          S: a3 OK logged in\n",
    ));
    let server = FakeServer::start(Script::new(transcript, Ending::Serve)).await;

    let connected = Connection::connect(
        server.addr,
        "localhost",
        Security::StartTls,
        test_tls(),
        test_timeouts(),
    )
    .await;
    let Ok(mut conn) = connected else {
        panic!("{connected:?}, server: {:?}", server.outcome().await);
    };
    assert!(!conn.capabilities().starttls() && !conn.capabilities().login_disabled());
    conn.login("u", &Secret::new("p".into())).await.unwrap();
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn starttls_refuses_servers_without_it_and_data_injected_before_the_handshake() {
    let server = FakeServer::start(script(
        "S: * OK [CAPABILITY IMAP4rev1] ready\n",
        Ending::Hang,
    ))
    .await;
    let result = Connection::connect(
        server.addr,
        "localhost",
        Security::StartTls,
        test_tls(),
        test_timeouts(),
    )
    .await;
    assert!(
        matches!(result, Err(ImapError::StartTlsUnavailable)),
        "{result:?}"
    );
    server.finish().await;

    let mut transcript =
        Transcript::parse(b"S: * OK [CAPABILITY IMAP4rev1 STARTTLS] ready\nC: a1 STARTTLS\n");
    transcript.steps.push(Step::Server(
        b"a1 OK begin tls\r\n* CAPABILITY IMAP4rev1 INJECTED\r\n".to_vec(),
    ));
    let server = FakeServer::start(Script::new(transcript, Ending::Hang)).await;
    let result = Connection::connect(
        server.addr,
        "localhost",
        Security::StartTls,
        test_tls(),
        test_timeouts(),
    )
    .await;
    assert!(
        matches!(result, Err(ImapError::Protocol { .. })),
        "{result:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn login_disabled_is_reported_without_sending_the_password() {
    let server = FakeServer::start(script(
        "S: * OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\n",
        Ending::Serve,
    ))
    .await;
    let mut conn = connect_plain(server.addr).await;

    let err = conn.login("u", &Secret::new("p".into())).await.unwrap_err();
    assert!(matches!(err, ImapError::LoginDisabled));
    conn.logout().await;
    assert_eq!(untagged(&server.finish().await), ["LOGOUT\r\n"]);
}

#[tokio::test]
async fn connection_ids_are_unique() {
    let a = FakeServer::start(script(
        "S: * OK [CAPABILITY IMAP4rev1] ready\n",
        Ending::Serve,
    ))
    .await;
    let b = FakeServer::start(script(
        "S: * OK [CAPABILITY IMAP4rev1] ready\n",
        Ending::Serve,
    ))
    .await;
    let first = connect_plain(a.addr).await;
    let second = connect_plain(b.addr).await;

    assert_ne!(first.id(), second.id());
    first.logout().await;
    second.logout().await;
    a.finish().await;
    b.finish().await;
}

/// Compiles only when the connection and its futures can move across threads,
/// as web handlers on a multi-threaded runtime need.
#[allow(dead_code)]
fn connection_and_its_futures_are_send(
    mut conn: Connection,
    tls: std::sync::Arc<rustls::ClientConfig>,
) {
    fn send<T: Send>(_: T) {}

    let addr = "127.0.0.1:1".parse().unwrap();
    send(Connection::connect(
        addr,
        "localhost",
        Security::Plain,
        tls,
        test_timeouts(),
    ));
    send(conn.login("u", &Secret::new(String::new())));
    send(conn.fetch_summaries(&[1]));
    send(conn.fetch_message(1, 1));
    send(conn.uid_search(&SearchCriteria::All));
    send(conn.append("INBOX", &[], b""));
    send(conn.select("INBOX", false));
    send(conn.logout());
}

const SORT_ITEMS: &str =
    "(UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)])";

#[tokio::test]
async fn sort_keys_come_raw_per_uid_from_split_answers_and_flags_become_news() {
    let text = format!(
        "{LOGGED_IN}\
         C: a2 SELECT INBOX\nS: * 3 EXISTS\nS: * OK [UIDVALIDITY 4] ok\n\
         S: a2 OK [READ-WRITE] done\n\
         C: a3 UID FETCH 3:5,9 {SORT_ITEMS}\n\
         S: * 1 FETCH (UID 3 INTERNALDATE \" 1-Feb-2024 10:00:00 +0100\" RFC822.SIZE 120 \
         BODY[HEADER.FIELDS (DATE FROM SUBJECT)] {{97}}\n\
         S: Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n\
         S: \tand more\n\
         S: From: Ann <ann@x.org>\n\
         S: Date: Thu, 1 Feb 2024\n\
         S:\n\
         S: )\n\
         S: * 2 FETCH (UID 4 FLAGS (\\Seen))\n\
         S: * 2 FETCH (UID 4 RFC822.SIZE 50 BODY[HEADER.FIELDS (DATE FROM SUBJECT)] {{2}}\n\
         S:\n\
         S: )\n\
         S: * 2 FETCH (INTERNALDATE \"02-Feb-2024 10:00:00 +0000\" UID 4)\n\
         S: * 3 FETCH (UID 5 BODY[HEADER.FIELDS (DATE FROM SUBJECT)] NIL RFC822.SIZE 7)\n\
         S: a3 OK done\n"
    );
    let server = FakeServer::start(script(&text, Ending::Serve).exact(&["UID FETCH"])).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();

    let keys = conn.fetch_sort_keys(&[9, 5, 3, 4, 3, 0]).await.unwrap();
    let uids: Vec<u32> = keys.iter().map(|k| k.uid).collect();
    assert_eq!(uids, [3, 4, 5], "ascending, 9 is gone");
    assert_eq!(
        keys[0].subject.as_deref(),
        Some(&b"=?utf-8?q?Gr=C3=BC=C3=9Fe?=\tand more"[..])
    );
    assert_eq!(keys[0].from.as_deref(), Some(&b"Ann <ann@x.org>"[..]));
    assert_eq!(keys[0].date.as_deref(), Some(&b"Thu, 1 Feb 2024"[..]));
    assert_eq!(
        keys[0].internal_date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2024-02-01T10:00:00+01:00")
    );
    assert_eq!(keys[0].size, Some(120));
    assert_eq!((keys[1].size, keys[1].subject.as_deref()), (Some(50), None));
    assert!(
        keys[1].internal_date.is_some(),
        "merged from a later answer"
    );
    assert_eq!((keys[2].size, keys[2].date.as_deref()), (Some(7), None));
    let news = MailboxEvent::FlagsChanged {
        seq: 2,
        uid: Some(4),
        flags: vec!["\\Seen".into()],
    };
    assert_eq!(conn.take_events(), [news]);
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn sort_keys_of_a_large_mailbox_are_asked_for_in_bounded_commands() {
    let gapped: Vec<u32> = (1..=3_000).map(|n| 20_000 + 2 * n).collect();
    let set = |uids: &[u32]| {
        let texts: Vec<String> = uids.iter().map(u32::to_string).collect();
        texts.join(",")
    };
    let mut uids: Vec<u32> = (1..=5_000).collect();
    uids.extend(&gapped);
    // At most 2,000 UIDs, and at most 8,000 bytes of set, per command.
    let expected = [
        "1:2000".to_string(),
        "2001:4000".to_string(),
        format!("4001:5000,{}", set(&gapped[..1_000])),
        set(&gapped[1_000..2_333]),
        set(&gapped[2_333..]),
    ];
    let mut text = format!(
        "{LOGGED_IN}C: a2 SELECT INBOX\nS: * 8000 EXISTS\nS: * OK [UIDVALIDITY 4] ok\n\
         S: a2 OK [READ-WRITE] done\n"
    );
    for (n, set) in expected.iter().enumerate() {
        let tag = format!("a{}", n + 3);
        let uid = set.split([':', ',']).next().unwrap();
        text.push_str(&format!(
            "C: {tag} UID FETCH {set} {SORT_ITEMS}\n\
             S: * {n} FETCH (UID {uid} RFC822.SIZE {n})\nS: {tag} OK done\n"
        ));
    }
    let server = FakeServer::start(script(&text, Ending::Serve).exact(&["UID FETCH"])).await;
    let mut conn = connect_and_login(server.addr).await;
    conn.select("INBOX", false).await.unwrap();

    let keys = conn.fetch_sort_keys(&uids).await.unwrap();
    let firsts: Vec<u32> = keys.iter().map(|k| k.uid).collect();
    assert_eq!(firsts, [1, 2001, 4001, 22_002, 24_668]);
    conn.logout().await;
    let sent = untagged(&server.finish().await);
    assert!(sent.iter().all(|line| line.len() < 8_200), "{sent:?}");
}

#[tokio::test]
async fn a_malformed_sort_keys_answer_is_asked_again_without_header_fields() {
    let text = format!(
        "{LOGGED_IN}\
         C: a2 UID FETCH 7:8 {SORT_ITEMS}\n\
         S: * 1 FETCH (UID 7 RFC822.SIZE 10 BODY[HEADER.FIELDS (DATE FROM SUBJECT)] \"broken\n\
         S: * 2 FETCH (UID 8 RFC822.SIZE 20)\n\
         S: a2 OK done\n\
         C: a3 UID FETCH 7 (UID INTERNALDATE RFC822.SIZE)\n\
         S: * 1 FETCH (UID 7 RFC822.SIZE 10)\nS: a3 OK done\n"
    );
    let server = FakeServer::start(script(&text, Ending::Serve).exact(&["UID FETCH"])).await;
    let mut conn = connect_and_login(server.addr).await;

    let keys = conn.fetch_sort_keys(&[8, 7]).await.unwrap();
    let sizes: Vec<(u32, Option<u32>)> = keys.iter().map(|k| (k.uid, k.size)).collect();
    assert_eq!(sizes, [(7, Some(10)), (8, Some(20))]);
    assert!(keys[0].subject.is_none() && conn.is_usable());
    conn.logout().await;
    server.finish().await;
}

#[tokio::test]
async fn subscriptions_are_listed_added_and_removed_with_quoted_names() {
    let text = format!(
        "{LOGGED_IN}\
         C: a2 LSUB \"\" \"*\"\n\
         S: * LSUB () \"/\" INBOX\nS: * LSUB (\\Noselect) \"/\" \"Old &AOQ-\"\nS: a2 OK done\n\
         C: a3 SUBSCRIBE \"Projekt &AOQ-\"\nS: a3 OK done\n\
         C: a4 UNSUBSCRIBE \"a\\\"b\"\nS: a4 OK done\n\
         C: a5 SUBSCRIBE \"Gone\"\nS: a5 NO [NONEXISTENT] no\n"
    );
    let exact = ["LSUB", "SUBSCRIBE", "UNSUBSCRIBE"];
    let server = FakeServer::start(script(&text, Ending::Serve).exact(&exact)).await;
    let mut conn = connect_and_login(server.addr).await;

    let subscribed = conn.list_subscribed().await.unwrap();
    let names: Vec<&str> = subscribed.iter().map(|m| m.raw_name.as_str()).collect();
    assert_eq!(names, ["INBOX", "Old &AOQ-"]);
    assert!(subscribed[1].has_attribute("\\noselect"));
    conn.subscribe("Projekt &AOQ-").await.unwrap();
    conn.unsubscribe("a\"b").await.unwrap();
    assert!(matches!(
        conn.subscribe("Gone").await,
        Err(ImapError::MailboxNotFound { .. })
    ));
    assert!(conn.is_usable());
    conn.logout().await;

    let sent = untagged(&server.finish().await);
    assert_eq!(
        sent[1..4],
        [
            "LSUB \"\" \"*\"\r\n",
            "SUBSCRIBE \"Projekt &AOQ-\"\r\n",
            "UNSUBSCRIBE \"a\\\"b\"\r\n",
        ]
    );
}
