//! A scripted fake IMAP server on 127.0.0.1, for what a real server will not
//! do on demand: say BYE in the middle of a command, greet with BYE, stall,
//! answer slowly, or refuse a LOGIN with `NO [LIMIT]` (on a rule, or as
//! Dovecot does once [`Script::limit`] connections are logged in).
//!
//! It owns a listener on 127.0.0.1:0 and every connection accepted on it,
//! numbered from 1 in the order they were accepted. Each command is first
//! checked against the [`Rule`]s (a rule can be bound to one connection,
//! fire a limited number of times, wait before answering, answer with lines
//! of a transcript, and then carry on, close the connection or go silent).
//! Commands no rule takes get a generic answer from canned mail: CAPABILITY,
//! LOGIN, ENABLE, LIST, STATUS, SELECT, EXAMINE, UID SORT, UID SEARCH,
//! UID FETCH, UID STORE, NOOP and LOGOUT. It never checks that a client is
//! correct; tests look at what it recorded instead.
//!
//! Invariants: it listens on 127.0.0.1 only; every read waits at most
//! [`IDLE`], so a forgotten connection ends by itself; dropping the
//! [`FakeImap`] stops the listener and every connection. Its state sits
//! behind a std mutex that is never held across `.await`.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

mod mailbox;
mod transcript;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

pub use mailbox::FakeMailbox;
pub use transcript::{Exchange, Transcript};

/// What the fake server announces.
pub const CAPABILITIES: &str = "IMAP4rev1 LITERAL+ SORT ENABLE CONDSTORE";

/// Longest wait for a client's next bytes before a connection is dropped.
pub const IDLE: Duration = Duration::from_secs(120);

/// How a new connection is greeted.
#[derive(Debug, Clone)]
pub enum Greeting {
    /// This line (without CRLF); a `* BYE` line is followed by a close.
    Line(Vec<u8>),
    /// Nothing at all: the connection is accepted and never answered.
    Silent,
}

impl Greeting {
    pub fn ok() -> Greeting {
        Greeting::Line(b"* OK fake IMAP server ready".to_vec())
    }
}

/// What a connection does once a rule has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Reads the next command.
    Continue,
    /// Closes the connection (after a BYE, say).
    Close,
    /// Keeps the connection open and never answers again.
    Stall,
    /// Sends this many more bytes of `x` with no line end (a line that never
    /// ends, or the body of a literal the reply announced), made as they are
    /// written so that the server holds only a small chunk, then stalls.
    Flood(u64),
}

/// A command the server answers in its own way instead of generically.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Only on this connection (numbered from 1); any when `None`.
    connection: Option<usize>,
    /// The command without its tag, as tokens. A client command matches when
    /// it starts with these tokens; a parenthesised list matches a list
    /// that holds every one of its items.
    command: Vec<String>,
    /// The tag used in `reply`, swapped for the client's, and the lines to
    /// send; `None` for the generic answer.
    reply: Option<(String, Vec<Vec<u8>>)>,
    /// Waited before answering.
    delay: Duration,
    after: After,
    /// How many more commands this rule may take.
    uses: usize,
}

impl Rule {
    /// A rule for `command` (without tag) that answers generically, on any
    /// connection, every time.
    pub fn on(command: &str) -> Rule {
        Rule {
            connection: None,
            command: tokens(command),
            reply: None,
            delay: Duration::ZERO,
            after: After::Continue,
            uses: usize::MAX,
        }
    }

    /// A rule that plays one exchange of a transcript: its lines, with the
    /// transcript's tag replaced by the client's; a reply without a tagged
    /// completion closes the connection afterwards.
    pub fn from_exchange(exchange: &Exchange) -> Rule {
        let after = if exchange.completed() {
            After::Continue
        } else {
            After::Close
        };
        Rule {
            reply: Some((exchange.tag.clone(), exchange.reply.clone())),
            after,
            ..Rule::on(&exchange.command)
        }
    }

    pub fn on_connection(mut self, number: usize) -> Rule {
        self.connection = Some(number);
        self
    }

    /// Answers with these lines; `TAG` at the start of a line becomes the
    /// client's tag.
    pub fn reply(mut self, lines: &[&str]) -> Rule {
        let lines = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
        self.reply = Some(("TAG".to_owned(), lines));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Rule {
        self.delay = delay;
        self
    }

    pub fn then(mut self, after: After) -> Rule {
        self.after = after;
        self
    }

    pub fn times(mut self, uses: usize) -> Rule {
        self.uses = uses;
        self
    }

    fn matches(&self, connection: usize, command: &[String]) -> bool {
        if self.uses == 0 || self.connection.is_some_and(|n| n != connection) {
            return false;
        }
        if self.command.len() > command.len() {
            return false;
        }
        self.command.iter().zip(command).all(|(want, got)| {
            if want.starts_with('(') && got.starts_with('(') {
                let have = list_items(got);
                list_items(want)
                    .iter()
                    .all(|item| have.iter().any(|h| h.eq_ignore_ascii_case(item)))
            } else {
                want.eq_ignore_ascii_case(got)
            }
        })
    }
}

/// Accounts, mail, greetings and rules a server starts with.
#[derive(Debug, Clone)]
pub struct Script {
    accounts: Vec<(String, String)>,
    mailboxes: Vec<FakeMailbox>,
    greeting: Greeting,
    greetings: HashMap<usize, Greeting>,
    rules: Vec<Rule>,
    /// Logged-in connections allowed at once; more get `NO [LIMIT]`.
    limit: Option<usize>,
}

impl Script {
    /// One account and no mail; every connection greeted with `* OK`.
    pub fn new(user: &str, password: &str) -> Script {
        Script {
            accounts: vec![(user.to_owned(), password.to_owned())],
            mailboxes: Vec::new(),
            greeting: Greeting::ok(),
            greetings: HashMap::new(),
            rules: Vec::new(),
            limit: None,
        }
    }

    /// Refuses a LOGIN with `NO [LIMIT]`, as Dovecot does, while `limit`
    /// connections are logged in (whatever their account).
    pub fn limit(mut self, limit: usize) -> Script {
        self.limit = Some(limit);
        self
    }

    pub fn account(mut self, user: &str, password: &str) -> Script {
        self.accounts.push((user.to_owned(), password.to_owned()));
        self
    }

    pub fn mailbox(mut self, mailbox: FakeMailbox) -> Script {
        self.mailboxes.push(mailbox);
        self
    }

    /// How connections without a greeting of their own are greeted.
    pub fn greeting(mut self, greeting: Greeting) -> Script {
        self.greeting = greeting;
        self
    }

    /// How connection `number` (from 1) is greeted.
    pub fn greet_connection(mut self, number: usize, greeting: Greeting) -> Script {
        self.greetings.insert(number, greeting);
        self
    }

    pub fn rule(mut self, rule: Rule) -> Script {
        self.rules.push(rule);
        self
    }
}

/// A running fake server. Dropping it stops it.
pub struct FakeImap {
    pub port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    /// Read and written by every connection task and by the test; a std
    /// mutex, held for a lookup or an update, never across `.await`.
    state: Mutex<State>,
}

struct State {
    script: Script,
    /// Connections accepted so far.
    accepted: usize,
    /// Every command received: connection number and the line, tag removed.
    commands: Vec<(usize, String)>,
    /// Connections logged in now.
    logged_in: usize,
}

/// What one connection knows.
#[derive(Default)]
struct Session {
    logged_in: bool,
    selected: Option<String>,
}

impl Session {
    /// Takes in what a scripted answer did: a LOGIN or SELECT that a rule
    /// answered with OK changes the state as the generic answer would.
    fn follow(&mut self, shared: &Shared, tag: &str, words: &[String], answer: &[u8]) {
        let ok = format!("{tag} OK");
        let text = String::from_utf8_lossy(answer);
        if !text.lines().any(|line| line.starts_with(&ok)) {
            return;
        }
        match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
            Some("LOGIN") if !self.logged_in => {
                self.logged_in = true;
                shared.state().logged_in += 1;
            }
            Some("SELECT" | "EXAMINE") => self.selected = words.get(1).cloned(),
            _ => {}
        }
    }
}

impl FakeImap {
    /// Starts listening on 127.0.0.1:0.
    pub async fn start(script: Script) -> FakeImap {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the fake IMAP server can listen on 127.0.0.1");
        let port = listener.local_addr().expect("bound").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script,
                accepted: 0,
                commands: Vec::new(),
                logged_in: 0,
            }),
        });

        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let number = {
                    let mut state = accepting.state();
                    state.accepted += 1;
                    state.accepted
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(serve(accepting.clone(), stream, number));
            }
        });
        FakeImap { port, shared, task }
    }

    /// The `imap_server` setting that reaches this server.
    pub fn url(&self) -> String {
        format!("imap+insecure://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.state().accepted
    }

    /// Every command received so far, tag removed, with its connection.
    pub fn commands(&self) -> Vec<(usize, String)> {
        self.shared.state().commands.clone()
    }

    /// How many commands named `name` (e.g. `LOGIN`, `UID FETCH`) arrived.
    pub fn count(&self, name: &str) -> usize {
        let wanted = tokens(name);
        self.shared
            .state()
            .commands
            .iter()
            .filter(|(_, line)| {
                let got = tokens(line);
                got.len() >= wanted.len()
                    && wanted
                        .iter()
                        .zip(&got)
                        .all(|(w, g)| w.eq_ignore_ascii_case(g))
            })
            .count()
    }

    pub fn add_rule(&self, rule: Rule) {
        self.shared.state().script.rules.push(rule);
    }

    /// Forgets every rule: from now on every command gets the generic answer.
    pub fn clear_rules(&self) {
        self.shared.state().script.rules.clear();
    }

    /// How connections accepted from now on are greeted (unless one has a
    /// greeting of its own).
    pub fn set_greeting(&self, greeting: Greeting) {
        self.shared.state().script.greeting = greeting;
    }

    /// A copy of a mailbox as it is now (flags included).
    pub fn mailbox(&self, name: &str) -> FakeMailbox {
        self.shared
            .state()
            .script
            .mailboxes
            .iter()
            .find(|m| m.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("the fake server has no mailbox {name}"))
    }
}

impl Drop for FakeImap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs one connection until the client leaves, a rule closes it, or it
/// idles for [`IDLE`].
async fn serve(shared: Arc<Shared>, stream: TcpStream, number: usize) {
    let greeting = {
        let state = shared.state();
        let script = &state.script;
        script
            .greetings
            .get(&number)
            .unwrap_or(&script.greeting)
            .clone()
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);

    match greeting {
        Greeting::Silent => return drain(&mut reader).await,
        Greeting::Line(mut line) => {
            let bye = line.starts_with(b"* BYE");
            line.extend_from_slice(b"\r\n");
            if send(&mut write, &line).await.is_err() || bye {
                let _ = write.shutdown().await;
                return;
            }
        }
    }

    let mut session = Session::default();
    converse(&shared, number, &mut session, &mut reader, &mut write).await;
    if session.logged_in {
        shared.state().logged_in -= 1;
    }
}

/// Answers commands until the client leaves, a rule ends the conversation
/// or the client idles for [`IDLE`].
async fn converse(
    shared: &Shared,
    number: usize,
    session: &mut Session,
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
) {
    loop {
        let command = match timeout(IDLE, read_command(reader, write)).await {
            Ok(Ok(Some(command))) => command,
            _ => return,
        };
        let (tag, rest) = command.split_once(' ').unwrap_or((command.as_str(), ""));
        let words = tokens(rest);
        let rule = {
            let mut state = shared.state();
            state.commands.push((number, rest.to_owned()));
            let found = state
                .script
                .rules
                .iter_mut()
                .find(|r| r.matches(number, &words));
            found.map(|rule| {
                rule.uses -= 1;
                rule.clone()
            })
        };

        let (bytes, after) = match rule {
            Some(rule) => {
                tokio::time::sleep(rule.delay).await;
                let bytes = match &rule.reply {
                    Some((their_tag, lines)) => {
                        let bytes = retag(lines, their_tag, tag);
                        session.follow(shared, tag, &words, &bytes);
                        bytes
                    }
                    None => answer(shared, session, tag, &words).0,
                };
                (bytes, rule.after)
            }
            None => answer(shared, session, tag, &words),
        };
        if send(write, &bytes).await.is_err() {
            return;
        }
        match after {
            After::Continue => {}
            After::Close => {
                let _ = write.shutdown().await;
                return;
            }
            After::Stall => return drain(reader).await,
            After::Flood(bytes) => {
                if flood(write, bytes).await.is_ok() {
                    drain(reader).await;
                }
                return;
            }
        }
    }
}

/// Writes `bytes` bytes of `x` in small chunks; stops at the first error
/// (the client gave up and closed).
async fn flood(write: &mut OwnedWriteHalf, bytes: u64) -> std::io::Result<()> {
    const CHUNK: usize = 64 * 1024;
    let chunk = vec![b'x'; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let now = left.min(CHUNK as u64) as usize;
        send(write, &chunk[..now]).await?;
        left -= now as u64;
    }
    Ok(())
}

async fn send(write: &mut OwnedWriteHalf, bytes: &[u8]) -> std::io::Result<()> {
    match timeout(IDLE, write.write_all(bytes)).await {
        Ok(result) => result,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Reads and forgets whatever the client sends until it closes or idles.
async fn drain(reader: &mut BufReader<OwnedReadHalf>) {
    let mut sink = [0u8; 4096];
    while let Ok(Ok(n)) = timeout(IDLE, reader.read(&mut sink)).await {
        if n == 0 {
            return;
        }
    }
}

/// One command line with its literals folded in as quoted strings; `None`
/// at EOF. Synchronising literals get a `+` continuation.
async fn read_command(
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
) -> std::io::Result<Option<String>> {
    let mut command = String::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_owned();

        let Some((before, size, synchronising)) = literal_marker(&text) else {
            command.push_str(&text);
            return Ok(Some(command));
        };
        command.push_str(before);
        if synchronising {
            send(write, b"+ go ahead\r\n").await?;
        }
        let mut literal = vec![0u8; size];
        reader.read_exact(&mut literal).await?;
        command.push_str(&quote(&String::from_utf8_lossy(&literal)));
    }
}

/// Splits `... {12}` or `... {12+}` into the text before, the size and
/// whether the client waits for a continuation.
fn literal_marker(text: &str) -> Option<(&str, usize, bool)> {
    let inner = text.strip_suffix('}')?;
    let (before, size) = inner.rsplit_once('{')?;
    let (size, synchronising) = match size.strip_suffix('+') {
        Some(size) => (size, false),
        None => (size, true),
    };
    Some((before, size.parse().ok()?, synchronising))
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Splits a command into atoms, unquoted strings and whole parenthesised
/// lists (kept with their parentheses). Brackets keep their spaces, so
/// `BODY[HEADER.FIELDS (FROM)]` is one token.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut token = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => token.extend(chars.next()),
                    '"' => break,
                    other => token.push(other),
                }
            }
            out.push(token);
            continue;
        }

        let mut depth = 0i32;
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c == ' ' && depth == 0 && !quoted {
                break;
            }
            chars.next();
            token.push(c);
            match c {
                '"' => quoted = !quoted,
                '(' | '[' if !quoted => depth += 1,
                ')' | ']' if !quoted => depth -= 1,
                _ => {}
            }
        }
        out.push(token);
    }
    out
}

/// The items of a parenthesised list token.
fn list_items(token: &str) -> Vec<String> {
    let inner = token
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(token);
    tokens(inner)
}

/// Transcript lines as wire bytes, the transcript's tag swapped for `tag`.
fn retag(lines: &[Vec<u8>], their_tag: &str, tag: &str) -> Vec<u8> {
    let prefix = format!("{their_tag} ");
    let mut out = Vec::new();
    for line in lines {
        match line.strip_prefix(prefix.as_bytes()) {
            Some(rest) => {
                out.extend_from_slice(tag.as_bytes());
                out.push(b' ');
                out.extend_from_slice(rest);
            }
            None => out.extend_from_slice(line),
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The generic answer to a command, and whether to go on afterwards.
fn answer(shared: &Shared, session: &mut Session, tag: &str, words: &[String]) -> (Vec<u8>, After) {
    let name = words
        .first()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    let mut state = shared.state();
    let mut out = Vec::new();
    let put = |out: &mut Vec<u8>, text: String| out.extend_from_slice(text.as_bytes());

    match name.as_str() {
        "CAPABILITY" => {
            put(&mut out, format!("* CAPABILITY {CAPABILITIES}\r\n"));
            put(&mut out, format!("{tag} OK CAPABILITY completed\r\n"));
        }
        "NOOP" | "CHECK" => put(&mut out, format!("{tag} OK {name} completed\r\n")),
        "LOGOUT" => {
            put(
                &mut out,
                format!("* BYE logging out\r\n{tag} OK LOGOUT completed\r\n"),
            );
            return (out, After::Close);
        }
        "LOGIN" => {
            let user = words.get(1).cloned().unwrap_or_default();
            let password = words.get(2).cloned().unwrap_or_default();
            let full = state
                .script
                .limit
                .is_some_and(|limit| state.logged_in >= limit);
            if !state.script.accounts.contains(&(user, password)) {
                let refusal = "NO [AUTHENTICATIONFAILED] Authentication failed.";
                put(&mut out, format!("{tag} {refusal}\r\n"));
            } else if full {
                let refusal = "NO [LIMIT] Maximum number of connections";
                put(&mut out, format!("{tag} {refusal}\r\n"));
            } else {
                session.logged_in = true;
                state.logged_in += 1;
                put(&mut out, format!("{tag} OK Logged in\r\n"));
            }
        }
        _ if !session.logged_in => put(&mut out, format!("{tag} BAD log in first\r\n")),
        "ENABLE" => {
            put(&mut out, format!("* ENABLED {}\r\n", words[1..].join(" ")));
            put(&mut out, format!("{tag} OK ENABLE completed\r\n"));
        }
        "LIST" => {
            for mailbox in &state.script.mailboxes {
                let name = quote(&mailbox.name);
                put(
                    &mut out,
                    format!("* LIST (\\HasNoChildren) \"/\" {name}\r\n"),
                );
            }
            put(&mut out, format!("{tag} OK LIST completed\r\n"));
        }
        "STATUS" => {
            let wanted = words.get(1).cloned().unwrap_or_default();
            let items = words.get(2).cloned().unwrap_or_default();
            match state.script.mailboxes.iter().find(|m| m.name == wanted) {
                Some(mailbox) => {
                    let status = mailbox.status_items(&items);
                    put(
                        &mut out,
                        format!("* STATUS {} {status}\r\n", quote(&wanted)),
                    );
                    put(&mut out, format!("{tag} OK STATUS completed\r\n"));
                }
                None => put(
                    &mut out,
                    format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"),
                ),
            }
        }
        "SELECT" | "EXAMINE" => {
            let wanted = words.get(1).cloned().unwrap_or_default();
            session.selected = None;
            match state.script.mailboxes.iter().find(|m| m.name == wanted) {
                Some(mailbox) => {
                    let mode = if name == "EXAMINE" {
                        "READ-ONLY"
                    } else {
                        "READ-WRITE"
                    };
                    put(&mut out, select_answer(mailbox, tag, mode, &name));
                    session.selected = Some(wanted);
                }
                None => put(
                    &mut out,
                    format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"),
                ),
            }
        }
        "UID" => {
            let selected = session.selected.clone();
            let mailbox = selected
                .and_then(|name| state.script.mailboxes.iter_mut().find(|m| m.name == name));
            match mailbox {
                Some(mailbox) => uid_command(mailbox, tag, words, &mut out),
                None => put(&mut out, format!("{tag} BAD no mailbox selected\r\n")),
            }
        }
        _ => put(&mut out, format!("{tag} BAD unknown command\r\n")),
    }
    (out, After::Continue)
}

/// The untagged lines and completion of a SELECT or EXAMINE.
fn select_answer(mailbox: &FakeMailbox, tag: &str, mode: &str, name: &str) -> String {
    [
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)".to_owned(),
        format!("* {} EXISTS", mailbox.messages.len()),
        "* 0 RECENT".to_owned(),
        format!("* OK [UIDVALIDITY {}] UIDs valid", mailbox.uidvalidity),
        format!("* OK [UIDNEXT {}] Predicted next UID", mailbox.uid_next()),
        "* OK [HIGHESTMODSEQ 1] Highest".to_owned(),
        format!("{tag} OK [{mode}] {name} completed"),
        String::new(),
    ]
    .join("\r\n")
}

/// UID SORT, UID SEARCH, UID FETCH and UID STORE on the selected mailbox.
fn uid_command(mailbox: &mut FakeMailbox, tag: &str, words: &[String], out: &mut Vec<u8>) {
    let sub = words
        .get(1)
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    let mut all: Vec<u32> = mailbox.messages.iter().map(|m| m.uid).collect();

    match sub.as_str() {
        "SORT" | "SEARCH" => {
            if sub == "SORT"
                && words
                    .get(2)
                    .is_some_and(|keys| keys.starts_with("(REVERSE"))
            {
                all.reverse();
            }
            out.extend_from_slice(format!("* {sub}").as_bytes());
            for uid in all {
                out.extend_from_slice(format!(" {uid}").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        "FETCH" => {
            let set = words.get(2).cloned().unwrap_or_default();
            let items = words[3.min(words.len())..].join(" ");
            for uid in mailbox.uids_in(&set) {
                let seq = mailbox.seq_of(uid).expect("a listed UID is present");
                let message = mailbox.message_mut(uid).expect("a listed UID is present");
                out.extend(message.fetch_response(seq, &items));
            }
        }
        "STORE" => {
            let set = words.get(2).cloned().unwrap_or_default();
            let op = words
                .get(3)
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default();
            let flags = words.get(4).map(|f| list_items(f)).unwrap_or_default();
            for uid in mailbox.uids_in(&set) {
                let seq = mailbox.seq_of(uid).expect("a listed UID is present");
                let message = mailbox.message_mut(uid).expect("a listed UID is present");
                message.apply(&op, &flags);
                if !op.ends_with(".SILENT") {
                    let flags = message.flags.join(" ");
                    let line = format!("* {seq} FETCH (UID {uid} FLAGS ({flags}))\r\n");
                    out.extend_from_slice(line.as_bytes());
                }
            }
        }
        _ => {
            out.extend_from_slice(format!("{tag} BAD unknown UID command\r\n").as_bytes());
            return;
        }
    }
    out.extend_from_slice(format!("{tag} OK UID {sub} completed\r\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_lists_and_brackets_whole() {
        assert_eq!(
            tokens("UID FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (FROM)]) \"a \\\"b\\\"\""),
            vec![
                "UID",
                "FETCH",
                "1:3",
                "(UID BODY.PEEK[HEADER.FIELDS (FROM)])",
                "a \"b\""
            ]
        );
    }

    #[test]
    fn rules_match_by_leading_tokens_and_list_items() {
        let rule = Rule::on("UID FETCH 301 (BODY.PEEK[])");

        assert!(rule.matches(1, &tokens("UID FETCH 301 (UID BODY.PEEK[])")));
        assert!(!rule.matches(1, &tokens("UID FETCH 301 (UID FLAGS)")));
        assert!(!rule.matches(1, &tokens("UID FETCH 302 (UID BODY.PEEK[])")));
        assert!(!rule
            .clone()
            .on_connection(2)
            .matches(1, &tokens("UID FETCH 301 (BODY.PEEK[])")));
    }

    #[test]
    fn literal_markers_tell_synchronising_from_not() {
        assert_eq!(literal_marker("a LOGIN {3}"), Some(("a LOGIN ", 3, true)));
        assert_eq!(literal_marker("a LOGIN {3+}"), Some(("a LOGIN ", 3, false)));
        assert_eq!(literal_marker("a NOOP"), None);
    }
}
