//! Checks the test harness itself against a real private Dovecot: starting
//! instances, users, the plain IMAP client, kicking, counting logins from the
//! log, TLS with the private CA, the per-instance connection limit and the
//! watcher that stops an instance whose owner exits.
//!
//! Every test returns early (after saying why) when Dovecot is not
//! installed, unless `CI` is set.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Dovecot, ImapTestClient};

const MESSAGE: &[u8] = b"From: Ada <ada@example.org>\r\n\
To: Bob <bob@example.org>\r\n\
Subject: harness check\r\n\
Date: Thu, 14 Mar 2024 09:30:00 +0000\r\n\
Message-ID: <harness-1@example.org>\r\n\
\r\n\
Hello from the harness.\r\n";

/// Polls `done` every 20 ms until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn port_accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_new_user_can_append_select_flag_expunge_and_rename() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("mail ops");
    let mut imap = dovecot.client(&user, &password);

    imap.create("Projects/2024");
    let first = imap.append(
        "Projects/2024",
        "\\Seen",
        Some("14-Mar-2024 09:30:00 +0000"),
        MESSAGE,
    );
    let second = imap.append("Projects/2024", "()", None, MESSAGE);
    let third = imap.append("Projects/2024", "(\\Seen \\Answered)", None, MESSAGE);
    assert!(second > first, "UIDs {first} then {second} do not increase");
    assert_eq!(imap.select("Projects/2024"), 3);

    imap.store(second, "+FLAGS (\\Flagged)");
    let fetched = imap
        .command(&format!("UID FETCH {second} (FLAGS INTERNALDATE)"))
        .unwrap();
    assert!(
        fetched.iter().any(|l| l.contains("\\Flagged")),
        "{fetched:?}"
    );
    let fetched = imap
        .command(&format!("UID FETCH {first} (INTERNALDATE)"))
        .unwrap();
    assert!(
        fetched
            .iter()
            .any(|l| l.contains("14-Mar-2024 09:30:00 +0000")),
        "{fetched:?}"
    );

    let fetched = imap.command(&format!("UID FETCH {third} (FLAGS)")).unwrap();
    assert!(fetched[0].contains("\\Answered"), "{fetched:?}");

    imap.expunge_uid(first);
    assert_eq!(imap.select("Projects/2024"), 2);

    imap.command("UNSELECT").unwrap();
    imap.rename_mailbox("Projects/2024", "Projects/Done");
    let listed = imap.command("LIST \"\" \"Projects/*\"").unwrap();
    assert!(
        listed.iter().any(|l| l.ends_with("Projects/Done")),
        "{listed:?}"
    );
    imap.delete_mailbox("Projects/Done");
    imap.logout();
}

#[test]
fn the_special_use_folders_exist_for_every_new_user() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("special-use");
    let mut imap = dovecot.client(&user, &password);

    let listed = imap
        .command("LIST \"\" \"*\" RETURN (SPECIAL-USE)")
        .unwrap();
    for (flag, name) in [
        ("\\Drafts", "Drafts"),
        ("\\Sent", "Sent"),
        ("\\Trash", "Trash"),
        ("\\Junk", "Junk"),
        ("\\Archive", "Archive"),
    ] {
        assert!(
            listed.iter().any(|l| l.contains(flag) && l.ends_with(name)),
            "no {name} with {flag} in {listed:?}"
        );
    }
    imap.logout();
}

#[test]
fn a_literal_in_a_response_is_folded_into_its_line() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("literal");
    let mut imap = dovecot.client(&user, &password);

    let uid = imap.append("INBOX", "", None, MESSAGE);
    imap.select("INBOX");
    let lines = imap
        .command(&format!("UID FETCH {uid} (BODY.PEEK[TEXT])"))
        .unwrap();

    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("Hello from the harness.") && lines[0].ends_with(')'));
    imap.logout();
}

#[test]
fn a_wrong_password_is_refused_without_panicking() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, _) = dovecot.new_user("wrong-pw");

    let refusal = dovecot.try_client(&user, "not the password").err().unwrap();

    assert!(refusal.contains("AUTHENTICATIONFAILED"), "{refusal}");
}

#[test]
fn logins_are_counted_per_user_from_the_log() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("counted");
    let (other, _) = dovecot.new_user("counted");

    dovecot.client(&user, &password).logout();
    dovecot.client(&user, &password).logout();

    assert_eq!(dovecot.wait_for_logins(&user, 2, Duration::from_secs(5)), 2);
    assert_eq!(dovecot.count_logins(&other), 0);
}

#[test]
fn kick_ends_the_users_session() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("kicked");
    let mut phone = dovecot.client(&user, &password);
    phone.select("INBOX");

    dovecot.kick(&user);

    let closed = wait_until(Duration::from_secs(5), || phone.command("NOOP").is_err());
    assert!(
        closed,
        "the session still answers NOOP 5 s after doveadm kick"
    );
}

#[test]
fn kicking_a_user_without_sessions_is_harmless() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, _) = dovecot.new_user("idle");

    dovecot.kick(&user);
}

#[test]
fn a_private_instance_with_max_userip_2_refuses_the_third_connection() {
    let Some(dovecot) = Dovecot::start_private(2) else {
        return;
    };
    let (user, password) = dovecot.new_user("limited");

    let first = dovecot.client(&user, &password);
    let second = dovecot.client(&user, &password);
    let third = dovecot.try_client(&user, &password);

    let refusal = third.err().expect("a third connection was accepted");
    assert!(refusal.contains("[LIMIT]"), "{refusal}");
    assert_eq!(dovecot.wait_for_logins(&user, 2, Duration::from_secs(5)), 2);
    first.logout();
    second.logout();
}

#[test]
fn a_private_instance_is_separate_and_stops_on_drop() {
    let Some(shared) = Dovecot::shared() else {
        return;
    };
    let Some(private) = Dovecot::start_private(10) else {
        return;
    };
    let port = private.imap_port;
    assert_ne!(port, shared.imap_port);
    assert_ne!(private.dir, shared.dir);

    let (user, password) = shared.new_user("only-shared");
    assert!(private.try_client(&user, &password).is_err());

    drop(private);

    assert!(
        !port_accepts(port),
        "port {port} still accepts after the instance was dropped"
    );
}

#[test]
fn the_tls_port_presents_a_certificate_of_the_private_ca() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };

    // -ign_eof keeps reading after our LOGOUT until the server closes.
    let mut openssl = Command::new("openssl")
        .args(["s_client", "-crlf", "-ign_eof", "-verify_return_error"])
        .args(["-verify_hostname", "localhost", "-CAfile"])
        .arg(&dovecot.ca_file)
        .args(["-connect", &format!("127.0.0.1:{}", dovecot.imaps_port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs (scripts/dovecot needs it too)");
    let mut stdin = openssl.stdin.take().unwrap();
    stdin.write_all(b"a LOGOUT\n").unwrap();
    drop(stdin);
    let output = openssl.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    assert!(
        stdout.contains("Dovecot"),
        "no IMAP greeting over TLS: {stdout}"
    );
}

#[test]
fn an_instance_stops_when_its_owner_process_exits() {
    if Dovecot::shared().is_none() {
        return;
    }
    let dir = support::scratch_dir("owner-watch");
    let mut owner = Command::new("sleep").arg("60").spawn().expect("sleep runs");
    let script = support::workspace_root().join("scripts/dovecot");

    let out = Command::new(&script)
        .arg("start")
        .arg(&dir)
        .args(["--owner-pid", &owner.id().to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("scripts/dovecot runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let port: u16 = line.split(['=', ':', ' ']).nth(2).unwrap().parse().unwrap();
    assert!(port_accepts(port));

    owner.kill().unwrap();
    owner.wait().unwrap();

    let stopped = wait_until(Duration::from_secs(10), || !port_accepts(port));
    let _ = Command::new(&script).arg("stop").arg(&dir).output();
    assert!(stopped, "Dovecot on port {port} outlived its owner by 10 s");
}

#[test]
fn the_script_refuses_the_system_imap_port() {
    if Dovecot::shared().is_none() {
        return;
    }
    let dir = support::scratch_dir("port-143");
    let script = support::workspace_root().join("scripts/dovecot");

    let out = Command::new(&script)
        .arg("start")
        .arg(&dir)
        .args(["--port", "143"])
        .stdin(Stdio::null())
        .output()
        .expect("scripts/dovecot runs");

    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("port 143"));
}

#[test]
fn the_shared_inputs_are_found_beside_the_workspace() {
    let Some(shared) = support::shared_dir() else {
        return;
    };

    assert!(shared.join("cases/README.md").is_file() || shared.join("corpus/README.md").is_file());
}

#[test]
fn a_client_connects_to_the_plain_port_and_reads_the_greeting() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };

    let client = ImapTestClient::connect(dovecot.imap_port).unwrap();

    assert!(client.greeting.contains("IMAP4rev1"), "{}", client.greeting);
}
