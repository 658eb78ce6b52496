//! The client against a real, private Dovecot started with the project's own
//! `scripts/dovecot` (loopback only, its own ports and folders).
//!
//! Each test returns early, after saying why, when Dovecot is not installed,
//! unless `CI` is set, in which case it fails. The instance is started once
//! per test binary with `--owner-pid`, so the script stops it when the
//! binary exits; each test uses its own user. Instances live under
//! `$MAILFRONT_TEST_ROOT/dovecot-imap`, or `target/test-dovecot-imap`.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mailfront_imap::{
    encode_mailbox_name, tls_client_config, Connection, FlagOp, ImapError, MailboxEvent,
    SearchCriteria, Secret, Security, SortField, SortKey, Timeouts,
};

/// The script's exit status when Dovecot is not installed.
const NOT_INSTALLED: i32 = 3;

static NEXT_USER: AtomicU32 = AtomicU32::new(1);

struct Dovecot {
    dir: PathBuf,
    imap: SocketAddr,
    imaps: SocketAddr,
    ca: PathBuf,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn script(args: &[&str]) -> std::process::Output {
    Command::new(workspace().join("scripts/dovecot"))
        .args(args)
        .output()
        .expect("running scripts/dovecot")
}

fn skip(reason: &str) -> Option<Dovecot> {
    if std::env::var_os("CI").is_some() {
        panic!("{reason}");
    }
    eprintln!("skipping: {reason}");
    None
}

impl Dovecot {
    /// The instance of this test binary, started on first use.
    fn shared() -> Option<&'static Dovecot> {
        static SHARED: OnceLock<Option<Dovecot>> = OnceLock::new();
        SHARED.get_or_init(|| Dovecot::start(None)).as_ref()
    }

    fn start(max_userip: Option<u32>) -> Option<Dovecot> {
        let root = match std::env::var_os("MAILFRONT_TEST_ROOT") {
            Some(scratch) => PathBuf::from(scratch).join("dovecot-imap"),
            None => workspace().join("target/test-dovecot-imap"),
        };
        remove_stale(&root);
        let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
        let dir = root.join(format!("{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if !workspace().join("scripts/dovecot").exists() {
            return skip("scripts/dovecot is missing");
        }

        let pid = std::process::id().to_string();
        let limit = max_userip.unwrap_or(10).to_string();
        let dir_text = dir.to_str().unwrap();
        let out = script(&[
            "start",
            dir_text,
            "--owner-pid",
            &pid,
            "--max-userip",
            &limit,
        ]);
        if out.status.code() == Some(NOT_INSTALLED) {
            return skip("dovecot is not installed (apt-get install dovecot-imapd)");
        }
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "scripts/dovecot start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let field = |name: &str| {
            stdout
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in {stdout:?}"))
                .to_string()
        };
        Some(Dovecot {
            imap: field("imap").parse().unwrap(),
            imaps: field("imaps").parse().unwrap(),
            ca: PathBuf::from(field("ca")),
            dir,
        })
    }

    /// A fresh user unique to this process; returns (user, password).
    fn new_user(&self, prefix: &str) -> (String, Secret<String>) {
        let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
        let user = format!("imap-{prefix}-{}-{n}", std::process::id());
        let password = format!("pw {n} \"quoted\" \\ {{1}}");
        let out = script(&["add-user", self.dir.to_str().unwrap(), &user, &password]);
        assert!(
            out.status.success(),
            "add-user failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (user, Secret::new(password))
    }

    fn tls(&self) -> Arc<rustls::ClientConfig> {
        tls_client_config(Some(&self.ca)).unwrap()
    }

    async fn login(&self, user: &str, password: &Secret<String>) -> Connection {
        let mut conn = Connection::connect(
            self.imap,
            "localhost",
            Security::Plain,
            self.tls(),
            timeouts(),
        )
        .await
        .expect("connect");
        conn.login(user, password).await.expect("login");
        conn
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = script(&["stop", self.dir.to_str().unwrap()]);
    }
}

/// Removes folders of instances whose test binary has exited.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = script(&["stop", entry.path().to_str().unwrap()]);
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(10),
        greeting: Duration::from_secs(10),
        login: Duration::from_secs(10),
        command: Duration::from_secs(60),
    }
}

fn message(subject: &str, date: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ada <ada@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n\
         Date: {date}\r\nMessage-ID: <{}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject.len() + date.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn a_real_dovecot_serves_the_whole_api() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("api");
    let mut conn = dovecot.login(&user, &password).await;
    let caps = conn.capabilities().clone();
    assert!(caps.sort() && caps.condstore() && caps.qresync() && caps.moves() && caps.uidplus());

    let drafts = encode_mailbox_name("Entwürfe & \"Notizen\"");
    conn.create(&drafts).await.unwrap();
    assert!(matches!(
        conn.create(&drafts).await,
        Err(ImapError::AlreadyExists { .. })
    ));
    let listed = conn.list_mailboxes().await.unwrap();
    let mine = listed
        .iter()
        .find(|m| m.raw_name == drafts)
        .expect("the new mailbox is listed");
    assert_eq!(mine.decoded_name(), "Entwürfe & \"Notizen\"");
    let sent = listed
        .iter()
        .find(|m| m.special_use() == Some("\\Sent"))
        .expect("a \\Sent mailbox");
    assert_eq!(sent.raw_name, "Sent");

    let first = message(
        "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=",
        "Mon, 3 Jun 2024 08:00:00 +0000",
        "eins",
    );
    let second = message("Zweite", "Tue, 4 Jun 2024 08:00:00 +0000", "zwei");
    let third = message("Dritte", "Sun, 2 Jun 2024 08:00:00 +0000", "drei");
    let mut uids = Vec::new();
    for m in [&first, &second, &third] {
        uids.push(
            conn.append("INBOX", &["\\Seen"], m)
                .await
                .unwrap()
                .expect("APPENDUID"),
        );
    }

    let selected = conn.select("INBOX", false).await.unwrap();
    assert_eq!(selected.exists, 3);
    assert!(selected.highestmodseq.is_some() && selected.uidvalidity > 0);
    let by_date = conn
        .uid_sort(
            &[SortKey::descending(SortField::Date)],
            &SearchCriteria::All,
        )
        .await;
    assert_eq!(by_date.unwrap(), [uids[1], uids[0], uids[2]]);
    let found = conn
        .uid_search(&SearchCriteria::Subject("Grüße".into()))
        .await
        .unwrap();
    assert_eq!(found, [uids[0]]);

    let rows = conn
        .fetch_summaries(&[uids[2], uids[0], 99_999])
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [uids[2], uids[0]]
    );
    assert_eq!(rows[0].envelope.subject.as_deref(), Some(&b"Dritte"[..]));
    assert_eq!(
        rows[0].envelope.effective_reply_to()[0].email(),
        Some(b"ada@example.org".to_vec())
    );
    assert!(rows[0].internal_date.is_some() && rows[0].size == Some(third.len() as u32));
    assert!(!rows[0].has_attachments());
    assert_eq!(
        conn.fetch_message(uids[1], 1 << 20).await.unwrap().unwrap(),
        second
    );
    let too_big = conn.fetch_message(uids[1], 10).await.unwrap_err();
    assert!(matches!(
        too_big,
        ImapError::ResponseTooLarge { usable: true, .. }
    ));

    conn.store_flags(&uids[..2], FlagOp::Remove, &["\\Seen"])
        .await
        .unwrap();
    conn.store_flags(&uids[..1], FlagOp::Add, &["\\Flagged", "$Important"])
        .await
        .unwrap();
    let flags = conn.fetch_flags(&uids).await.unwrap();
    assert!(
        flags[0].1.contains(&"\\Flagged".to_string())
            && !flags[0].1.contains(&"\\Seen".to_string())
    );
    assert_eq!(
        conn.uid_search(&SearchCriteria::Unseen).await.unwrap(),
        uids[..2]
    );

    // Another client changes a flag; NOOP brings the news as an event.
    let mut other = dovecot.login(&user, &password).await;
    other.select("INBOX", false).await.unwrap();
    other
        .store_flags(&uids[1..2], FlagOp::Add, &["\\Answered"])
        .await
        .unwrap();
    conn.take_events();
    conn.noop().await.unwrap();
    let events = conn.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MailboxEvent::FlagsChanged { uid: Some(u), .. } if *u == uids[1])),
        "{events:?}"
    );

    conn.move_messages(&uids[2..], &drafts).await.unwrap();
    assert_eq!(conn.selected().unwrap().exists, 2);
    assert!(conn
        .take_events()
        .iter()
        .any(|e| matches!(e, MailboxEvent::Vanished(v) if v == &uids[2..])));
    conn.copy(&uids[..1], "Archive").await.unwrap();
    assert!(matches!(
        conn.copy(&uids[..1], "Nowhere").await,
        Err(ImapError::MailboxNotFound { .. })
    ));
    let status = conn.status(&drafts).await.unwrap();
    assert_eq!(status.messages, Some(1));
    assert!(status.highestmodseq.is_some());

    conn.store_flags(&uids[..1], FlagOp::Add, &["\\Deleted"])
        .await
        .unwrap();
    conn.uid_expunge(&uids[..1]).await.unwrap();
    assert_eq!(conn.selected().unwrap().exists, 1);

    let renamed = encode_mailbox_name("Umbenannt");
    conn.rename(&drafts, &renamed).await.unwrap();
    assert!(matches!(
        conn.select(&drafts, true).await,
        Err(ImapError::MailboxNotFound { .. })
    ));
    let examined = conn.select(&renamed, true).await.unwrap();
    assert!(examined.read_only && examined.exists == 1);
    conn.select("INBOX", false).await.unwrap();
    conn.delete(&renamed).await.unwrap();
    assert!(matches!(
        conn.delete(&renamed).await,
        Err(ImapError::MailboxNotFound { .. })
    ));
    assert!(conn.is_usable());

    other.logout().await;
    conn.logout().await;
}

#[tokio::test]
async fn a_real_dovecot_refuses_bad_passwords_and_serves_tls_and_starttls() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("tls");

    let mut conn = Connection::connect(
        dovecot.imap,
        "localhost",
        Security::Plain,
        dovecot.tls(),
        timeouts(),
    )
    .await
    .unwrap();
    let err = conn
        .login(&user, &Secret::new("wrong".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImapError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    assert!(conn.is_usable());
    conn.logout().await;

    let mut tls = Connection::connect(
        dovecot.imaps,
        "localhost",
        Security::ImplicitTls,
        dovecot.tls(),
        timeouts(),
    )
    .await
    .unwrap();
    tls.login(&user, &password).await.unwrap();
    tls.select("INBOX", true).await.unwrap();
    tls.logout().await;

    let mut upgraded = Connection::connect(
        dovecot.imap,
        "localhost",
        Security::StartTls,
        dovecot.tls(),
        timeouts(),
    )
    .await
    .unwrap();
    assert!(!upgraded.capabilities().starttls());
    upgraded.login(&user, &password).await.unwrap();
    upgraded.noop().await.unwrap();
    upgraded.logout().await;

    let untrusted = tls_client_config(None).unwrap();
    let refused = Connection::connect(
        dovecot.imaps,
        "localhost",
        Security::ImplicitTls,
        untrusted,
        timeouts(),
    )
    .await;
    assert!(
        matches!(refused, Err(ImapError::TlsFailed { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_real_dovecot_kick_and_connection_limit_are_told_apart_from_bad_passwords() {
    let Some(dovecot) = Dovecot::start(Some(2)) else {
        return;
    };
    let (user, password) = dovecot.new_user("limit");
    let mut first = dovecot.login(&user, &password).await;
    let second = dovecot.login(&user, &password).await;

    let mut third = Connection::connect(
        dovecot.imap,
        "localhost",
        Security::Plain,
        dovecot.tls(),
        timeouts(),
    )
    .await
    .unwrap();
    let err = third.login(&user, &password).await.unwrap_err();
    assert!(matches!(err, ImapError::ConnectionLimit), "{err:?}");

    let out = script(&["doveadm", dovecot.dir.to_str().unwrap(), "kick", &user]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut outcome = first.noop().await;
    while outcome.is_ok() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        outcome = first.noop().await;
    }
    let err = outcome.unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
    assert!(!first.is_usable());
    drop(second);
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Appends part of the shared corpus of real mail, lists it all and reads a
/// sample back; prints timings for one mailbox of that size.
#[tokio::test]
async fn a_real_dovecot_lists_real_mail_without_losing_a_row() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let corpus = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/eml"
    ));
    if !corpus.is_dir() {
        if std::env::var_os("CI").is_some() {
            panic!("the shared corpus {} is missing", corpus.display());
        }
        eprintln!(
            "skipping: the shared corpus {} is missing",
            corpus.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in std::fs::read_dir(&corpus).unwrap().flatten() {
        let mut inner = files_under(&folder.path());
        inner.sort();
        // The many plain mailing-list posts add little; keep the odd ones.
        let keep = if folder.file_name() == "linux-mips-2004" {
            150
        } else {
            inner.len()
        };
        files.extend(inner.into_iter().take(keep));
    }

    let (user, password) = dovecot.new_user("corpus");
    let mut conn = dovecot.login(&user, &password).await;
    let mut appended = Vec::new();
    let started = Instant::now();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if bytes.contains(&0) {
            continue;
        }
        let uid = conn.append("INBOX", &[], &bytes).await.unwrap().unwrap();
        appended.push((uid, bytes));
    }
    let append_ms = started.elapsed().as_millis();

    let started = Instant::now();
    let selected = conn.select("INBOX", false).await.unwrap();
    let select_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(selected.exists as usize, appended.len());

    let uids: Vec<u32> = appended.iter().map(|(uid, _)| *uid).collect();
    let mut rows = 0;
    for chunk in uids.chunks(100) {
        let summaries = conn.fetch_summaries(chunk).await.unwrap();
        assert_eq!(summaries.len(), chunk.len());
        assert!(summaries
            .iter()
            .all(|s| s.body.is_some() && s.size.is_some()));
        rows += summaries.len();
    }
    assert_eq!(rows, uids.len());
    assert!(conn.take_events().is_empty());

    let started = Instant::now();
    let sorted = conn
        .uid_sort(
            &[SortKey::descending(SortField::Date)],
            &SearchCriteria::All,
        )
        .await
        .unwrap();
    let sort_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(sorted.len(), uids.len());

    let started = Instant::now();
    let page = conn.fetch_summaries(&sorted[..20]).await.unwrap();
    let page_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(page.len(), 20);

    let normalise = |b: &[u8]| String::from_utf8_lossy(b).replace("\r\n", "\n");
    let started = Instant::now();
    for (uid, bytes) in appended.iter().step_by(25) {
        let body = conn.fetch_message(*uid, 8 << 20).await.unwrap().unwrap();
        assert_eq!(normalise(&body), normalise(bytes), "uid {uid}");
    }
    let bodies_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(conn.is_usable());
    conn.logout().await;

    let started = Instant::now();
    let mut conn = dovecot.login(&user, &password).await;
    conn.select("INBOX", true).await.unwrap();
    conn.fetch_summaries(&sorted[..20]).await.unwrap();
    let cold_ms = started.elapsed().as_secs_f64() * 1000.0;
    conn.logout().await;

    eprintln!(
        "dovecot timings for {} messages: append all {append_ms} ms, select {select_ms:.1} ms, \
         UID SORT (REVERSE DATE) {sort_ms:.1} ms, 20 summaries {page_ms:.2} ms, \
         {} bodies {bodies_ms:.1} ms, connect+login+examine+20 summaries {cold_ms:.1} ms",
        uids.len(),
        appended.len().div_ceil(25),
    );
}

#[tokio::test]
async fn a_real_dovecot_sends_the_raw_sort_keys_of_every_message() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("sortkeys");
    let mut conn = dovecot.login(&user, &password).await;
    let folded = b"From: =?utf-8?q?Zo=C3=AB?= <Zoe@Example.org>\r\nSubject: Re: [list]\r\n\
        \tFwd: folded\r\nDate: Tue, 6 Feb 2024 09:30:00 +0100\r\n\r\nbody\r\n";
    let bare = b"X-Note: no date, no sender, no subject\r\n\r\nbody\r\n";
    let mut uids = Vec::new();
    for m in [&folded[..], &bare[..]] {
        uids.push(conn.append("INBOX", &[], m).await.unwrap().unwrap());
    }
    conn.select("INBOX", false).await.unwrap();

    let asked: Vec<u32> = uids.iter().copied().chain([uids[1] + 100]).collect();
    let keys = conn.fetch_sort_keys(&asked).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0].uid, uids[0]);
    assert_eq!(
        keys[0].subject.as_deref(),
        Some(&b"Re: [list]\tFwd: folded"[..])
    );
    assert_eq!(
        keys[0].from.as_deref(),
        Some(&b"=?utf-8?q?Zo=C3=AB?= <Zoe@Example.org>"[..])
    );
    assert_eq!(
        keys[0].date.as_deref(),
        Some(&b"Tue, 6 Feb 2024 09:30:00 +0100"[..])
    );
    assert_eq!(keys[0].size, Some(folded.len() as u32));
    assert!(keys[0].internal_date.is_some());
    assert_eq!(
        (&keys[1].subject, &keys[1].from, &keys[1].date),
        (&None, &None, &None)
    );
    assert_eq!(keys[1].size, Some(bare.len() as u32));
    conn.logout().await;
}

#[tokio::test]
async fn a_real_dovecot_reports_the_changes_since_a_mod_sequence_as_events() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("changedsince");
    let mut conn = dovecot.login(&user, &password).await;
    assert!(conn.qresync_enabled(), "Dovecot enables QRESYNC");
    let mut uids = Vec::new();
    for n in 0..4 {
        let message = format!("Subject: n{n}\r\n\r\nbody\r\n");
        uids.push(
            conn.append("INBOX", &[], message.as_bytes())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let since = conn.status("INBOX").await.unwrap().highestmodseq.unwrap();

    // Another client flags one message and expunges another.
    let mut other = dovecot.login(&user, &password).await;
    other.select("INBOX", false).await.unwrap();
    other
        .store_flags(&uids[1..2], FlagOp::Add, &["\\Flagged"])
        .await
        .unwrap();
    other
        .store_flags(&uids[3..4], FlagOp::Add, &["\\Deleted"])
        .await
        .unwrap();
    other.uid_expunge(&uids[3..4]).await.unwrap();

    conn.select("INBOX", false).await.unwrap();
    conn.fetch_changes_since(since).await.unwrap();
    let events = conn.take_events();
    let flagged = events.iter().any(|e| {
        matches!(e, MailboxEvent::FlagsChanged { uid: Some(u), flags, .. }
            if *u == uids[1] && flags.iter().any(|f| f == "\\Flagged"))
    });
    assert!(flagged, "{events:?}");
    let vanished = events
        .iter()
        .any(|e| matches!(e, MailboxEvent::Vanished(v) if v.contains(&uids[3])));
    assert!(vanished, "{events:?}");
    let untouched = events
        .iter()
        .any(|e| matches!(e, MailboxEvent::FlagsChanged { uid: Some(u), .. } if *u == uids[0]));
    assert!(!untouched, "only what changed: {events:?}");
    other.logout().await;
    conn.logout().await;
}

/// Appends `count` generated messages with MULTIAPPEND over a raw socket,
/// 1,000 per command, much faster than one APPEND each.
async fn load_many(addr: SocketAddr, user: &str, password: &Secret<String>, count: u32) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut stream = BufReader::new(stream);
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    let login = format!(
        "l LOGIN {{{}+}}\r\n{user} {{{}+}}\r\n{}\r\n",
        user.len(),
        password.expose().len(),
        password.expose()
    );
    stream.get_mut().write_all(login.as_bytes()).await.unwrap();
    wait_tagged(&mut stream, "l").await;

    let senders = ["ann", "Bob", "carl", "Dora", "erik", "fay"];
    let mut first = 1;
    while first <= count {
        let last = (first + 999).min(count);
        let mut command = b"m APPEND INBOX".to_vec();
        for n in first..=last {
            let message = format!(
                "From: {} <{}@example.org>\r\nSubject: {}report {}\r\n\
                 Date: {:02} Mar 2024 {:02}:{:02}:00 +0100\r\n\r\nbody {n}\r\n",
                senders[(n % 6) as usize],
                senders[(n % 6) as usize],
                ["", "Re: ", "[list] ", "Fwd: "][(n % 4) as usize],
                n % 5_000,
                n % 28 + 1,
                n % 24,
                n % 60
            );
            command.extend_from_slice(format!(" {{{}+}}\r\n", message.len()).as_bytes());
            command.extend_from_slice(message.as_bytes());
        }
        command.extend_from_slice(b"\r\n");
        stream.get_mut().write_all(&command).await.unwrap();
        wait_tagged(&mut stream, "m").await;
        first = last + 1;
    }
}

async fn wait_tagged(stream: &mut tokio::io::BufReader<tokio::net::TcpStream>, tag: &str) {
    use tokio::io::AsyncBufReadExt;

    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stream.read_line(&mut line).await.unwrap() > 0,
            "server closed"
        );
        if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
            assert!(status.starts_with("OK"), "{line}");
            return;
        }
    }
}

/// Run with `cargo test --release -p mailfront-imap --test dovecot --
/// --ignored --nocapture`: loading the messages takes a minute or two.
#[tokio::test]
#[ignore = "loads 100,000 messages; run by hand to measure"]
async fn a_real_dovecot_sends_the_sort_keys_of_100000_messages_within_the_default_limits() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("sortkeys100k");
    let started = Instant::now();
    load_many(dovecot.imap, &user, &password, 100_000).await;
    eprintln!("loaded 100,000 messages in {:?}", started.elapsed());

    let mut conn = Connection::connect(
        dovecot.imap,
        "localhost",
        Security::Plain,
        dovecot.tls(),
        Timeouts::default(),
    )
    .await
    .expect("connect");
    conn.login(&user, &password).await.expect("login");
    conn.select("INBOX", false).await.unwrap();
    let uids = conn.uid_search(&SearchCriteria::All).await.unwrap();
    assert_eq!(uids.len(), 100_000);

    for round in ["cold", "warm"] {
        let started = Instant::now();
        let keys = conn.fetch_sort_keys(&uids).await.unwrap();
        eprintln!(
            "{round}: sort keys of {} messages in {:?}",
            keys.len(),
            started.elapsed()
        );
        assert_eq!(keys.len(), uids.len());
        assert!(keys.iter().all(|k| k.subject.is_some() && k.size.is_some()));
    }
    conn.logout().await;
}
