//! The mail the bench browses: accounts in the private Dovecot, each with an
//! INBOX of real mail from the shared corpus, or of generated mail when the
//! corpus is absent.
//!
//! It owns the filling of mailboxes, through the corpus's own loader
//! (`../shared/corpus/load-mailbox.py`) or `scripts/gen-mail`, both of which
//! talk IMAP to 127.0.0.1 only. It never copies the corpus into the
//! workspace and never edits Dovecot's files. Every account gets the same
//! messages (the loader is given a fixed tag, seed and date range), so the
//! sessions of a throughput run differ only in who they are.
//!
//! After loading, every folder of the account is listed and asked for its
//! STATUS once, as any mail client would have done long ago: Dovecot
//! creates the index of a folder nobody has opened on the first STATUS
//! (about 12 ms per folder here), a one-time cost that would otherwise land
//! on whichever page view comes first.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{workspace_root, Dovecot};

/// Where the messages come from.
#[derive(Debug, Clone)]
pub enum MailSource {
    /// The shared corpus of real mail, through its loader.
    Corpus { loader: PathBuf },
    /// `scripts/gen-mail`: invented mail spread over several folders, of
    /// which INBOX gets about half.
    Generated,
}

/// An account with mail in its INBOX.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub password: String,
    /// Messages in INBOX, as Dovecot counts them after loading.
    pub messages: usize,
}

impl MailSource {
    /// The corpus when `<workspace>/../shared/corpus/` holds its loader,
    /// else generated mail.
    pub fn find() -> MailSource {
        let loader = workspace_root().join("../shared/corpus/load-mailbox.py");
        match loader.is_file() {
            true => MailSource::Corpus { loader },
            false => MailSource::Generated,
        }
    }

    /// Words for the report.
    pub fn describe(&self) -> String {
        match self {
            MailSource::Corpus { .. } => {
                "real mail of ../shared/corpus (load-mailbox.py --order mix)".to_owned()
            }
            MailSource::Generated => {
                "generated mail (scripts/gen-mail; ../shared/corpus is absent)".to_owned()
            }
        }
    }

    pub fn is_corpus(&self) -> bool {
        matches!(self, MailSource::Corpus { .. })
    }
}

/// Creates `count` accounts named after `prefix` and fills each INBOX with
/// `messages` messages, loading two accounts at a time. Returns the
/// accounts and the seconds the loading took.
pub fn accounts_with_mail(
    dovecot: &Dovecot,
    source: &MailSource,
    prefix: &str,
    count: usize,
    messages: usize,
) -> Result<(Vec<Account>, Duration), String> {
    // Dovecot's auth process notices a new user within a second; creating
    // them in parallel waits that second once instead of once per user.
    let users: Vec<(String, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| dovecot.new_user(prefix)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("creating a user panicked"))
            .collect()
    });

    let started = Instant::now();
    let mut accounts = Vec::with_capacity(count);
    for pair in users.chunks(2) {
        let loaded: Vec<Result<Account, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = pair
                .iter()
                .map(|(user, password)| {
                    scope.spawn(move || fill_inbox(dovecot, source, user, password, messages))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("loading mail panicked"))
                .collect()
        });
        for account in loaded {
            accounts.push(account?);
        }
    }
    Ok((accounts, started.elapsed()))
}

/// Loads `messages` messages into the INBOX of `user` and counts them.
pub fn fill_inbox(
    dovecot: &Dovecot,
    source: &MailSource,
    user: &str,
    password: &str,
    messages: usize,
) -> Result<Account, String> {
    let port = dovecot.imap_port.to_string();
    let count = messages.to_string();
    let mut command = match source {
        MailSource::Corpus { loader } => {
            let mut command = Command::new("python3");
            command.arg(loader).args([
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--user",
                user,
                "--password",
                password,
                "--count",
                &count,
                "--batch",
                "1000",
                "--seed",
                "1",
                "--run-tag",
                "bench",
                "--start",
                "2025-01-01",
                "--end",
                "2025-12-31",
                "--quiet",
            ]);
            command
        }
        MailSource::Generated => {
            let mut command = Command::new("python3");
            command
                .arg(workspace_root().join("scripts/gen-mail"))
                .args([
                    "--port",
                    &port,
                    "--user",
                    user,
                    "--password",
                    password,
                    "--count",
                    &count,
                    "--seed",
                    "1",
                ]);
            command
        }
    };

    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3 to load mail; {e}; install python3"))?;
    if !output.status.success() {
        return Err(format!(
            "loading mail for {user} failed ({}); {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    open_every_folder(dovecot, user, password)?;
    Ok(Account {
        user: user.to_owned(),
        password: password.to_owned(),
        messages: inbox_count(dovecot, user)?,
    })
}

/// Lists the folders of `user` and asks each for its STATUS once.
fn open_every_folder(dovecot: &Dovecot, user: &str, password: &str) -> Result<(), String> {
    let mut client = dovecot.try_client(user, password)?;
    let listed = client.command("LIST \"\" \"*\"")?;
    for line in listed.iter().filter(|l| l.starts_with("* LIST ")) {
        // `* LIST (<attributes>) <delimiter> <name>`: the name is sent back
        // as the server wrote it, quoted or not.
        let Some((_, rest)) = line.split_once(") ") else {
            continue;
        };
        let Some((_, name)) = rest.split_once(' ') else {
            continue;
        };
        if !line.contains("\\Noselect") {
            client.command(&format!("STATUS {name} (MESSAGES UIDNEXT)"))?;
        }
    }
    client.logout();
    Ok(())
}

/// Messages in the INBOX of `user`, as `doveadm mailbox status` reports.
pub fn inbox_count(dovecot: &Dovecot, user: &str) -> Result<usize, String> {
    let text = dovecot.doveadm(&["mailbox", "status", "-u", user, "messages", "INBOX"]);
    text.split_whitespace()
        .find_map(|field| field.strip_prefix("messages="))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("doveadm gave no message count for {user}: {text:?}"))
}
