//! One authenticated-or-not IMAP connection: [`Connection`].
//!
//! A connection owns its socket, read buffer, tag counter, capabilities and
//! what it knows of the selected mailbox. It runs one command at a time
//! (`&mut self`), bounds every socket wait with a timeout, and feeds every
//! untagged response to the mailbox state before the running command sees
//! it. It never parses mail and never decides policy (retry, pooling).
//!
//! Invariant: once a timeout, I/O error, EOF, BYE or a lost response has
//! been seen, or a command's future was dropped before its completion was
//! read, the connection is unusable for good; every later call fails fast
//! with [`ImapError::Unusable`] and [`Connection::is_usable`] is false.

mod mailboxes;
mod messages;
mod session;
mod state;
mod transport;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::{debug, trace, warn, Instrument};

pub use transport::tls_client_config;

use crate::command::{Command, Part, LITERAL_MINUS_MAX};
use crate::error::{ImapError, RefusalKind, Stage};
use crate::types::{Capabilities, MailboxEvent, NewsMark, SelectedMailbox};
use crate::wire::frame::{FrameBudget, FrameError, FrameReader, Limits};
use crate::wire::response::{parse_response, Code, Response, StatusKind, Untagged};
use state::MailboxState;
use transport::Transport;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (port 993).
    ImplicitTls,
    /// Plain TCP upgraded with STARTTLS before anything else (port 143).
    StartTls,
    /// No encryption at all; only when asked for by name.
    Plain,
}

/// How long each step may take before the connection is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, and each TLS handshake.
    pub connect: Duration,
    /// Waiting for the greeting.
    pub greeting: Duration,
    /// LOGIN and the capability and ENABLE commands that follow it.
    pub login: Duration,
    /// Any other whole command, from sending to its completion.
    pub command: Duration,
}

impl Default for Timeouts {
    /// 10 s to connect, 10 s for the greeting, 15 s to log in, 30 s per
    /// command.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            greeting: Duration::from_secs(10),
            login: Duration::from_secs(15),
            command: Duration::from_secs(30),
        }
    }
}

/// How a command reads: its timeout stage and size bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadPolicy {
    stage: Stage,
    /// Maximum non-literal bytes per response.
    line: usize,
    /// Literals above this are discarded (see `Completion::skipped_literal`).
    keep_literal: usize,
}

/// A command that ended with a tagged OK.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    pub code: Option<Code>,
    /// Set when a literal above the policy's budget was discarded.
    pub skipped_literal: Option<u64>,
    /// How many malformed untagged responses were skipped.
    pub skipped_responses: usize,
}

/// A connection to one IMAP server. See the module docs for its lifecycle.
///
/// Dropping a connection closes its socket without LOGOUT; call
/// [`Connection::logout`] for a polite end.
pub struct Connection {
    id: u64,
    span: tracing::Span,
    transport: Transport,
    reader: FrameReader,
    limits: Limits,
    timeouts: Timeouts,
    next_tag: u32,
    capabilities: Capabilities,
    /// Counts capability updates, so LOGIN can tell whether it got new ones.
    capability_updates: u64,
    mailbox: MailboxState,
    usable: bool,
    /// True from sending a command until its completion is read; still true
    /// on entry means the previous command's future was dropped.
    in_flight: bool,
    /// The text of a BYE seen on this connection.
    bye: Option<String>,
    authenticated: bool,
    /// True once the server said QRESYNC is enabled (ENABLED QRESYNC).
    qresync_enabled: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("usable", &self.is_usable())
            .field("authenticated", &self.authenticated)
            .field("tls", &self.transport.is_tls())
            .field(
                "selected",
                &self.mailbox.selected().map(|m| m.raw_name.as_str()),
            )
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Opens a connection to an already-resolved address: TCP, then TLS per
    /// `security` (the certificate is checked against `server_name`), then
    /// the greeting and the capabilities (asked for when the greeting had
    /// none). With [`Security::StartTls`] the upgrade happens before
    /// anything else is sent, and capabilities are learned again after it.
    ///
    /// A BYE greeting gives [`ImapError::Refused`]; a PREAUTH greeting gives
    /// [`ImapError::UnexpectedGreeting`], since this client always logs in.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        security: Security,
        tls: Arc<rustls::ClientConfig>,
        timeouts: Timeouts,
    ) -> Result<Self, ImapError> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!(
            "imap",
            conn_id = id,
            upstream = %addr,
            user = tracing::field::Empty,
            mailbox = tracing::field::Empty,
        );
        let started = Instant::now();
        let name = match security {
            Security::Plain => None,
            _ => Some(transport::server_name(server_name)?),
        };

        let setup = async move {
            let tcp = match timeout(timeouts.connect, TcpStream::connect(addr)).await {
                Err(_) => {
                    return Err(ImapError::TimedOut {
                        stage: Stage::Connect,
                    })
                }
                Ok(Err(source)) => return Err(ImapError::ConnectFailed { addr, source }),
                Ok(Ok(tcp)) => tcp,
            };
            let _ = tcp.set_nodelay(true);

            let transport = match (security, name.clone()) {
                (Security::ImplicitTls, Some(name)) => {
                    let deadline = Instant::now() + timeouts.connect;
                    transport::handshake(tcp, name, tls.clone(), deadline).await?
                }
                _ => Transport::Plain(tcp),
            };

            let mut conn = Connection {
                id,
                span: tracing::Span::current(),
                transport,
                reader: FrameReader::default(),
                limits: Limits::default(),
                timeouts,
                next_tag: 1,
                capabilities: Capabilities::default(),
                capability_updates: 0,
                mailbox: MailboxState::default(),
                usable: true,
                in_flight: false,
                bye: None,
                authenticated: false,
                qresync_enabled: false,
            };
            conn.read_greeting().await?;

            if let (Security::StartTls, Some(name)) = (security, name) {
                conn.start_tls(name, tls).await?;
            }
            if conn.capabilities.is_empty() {
                conn.refresh_capabilities(Stage::Command).await?;
            }

            let elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::info!(tls = conn.transport.is_tls(), elapsed_ms, "connected");
            Ok(conn)
        };
        setup.instrument(span).await
    }

    /// The process-unique id of this connection, as logged in `conn_id`.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The capabilities last announced by the server.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The selected mailbox as currently known, kept up to date by EXISTS,
    /// EXPUNGE, VANISHED and code responses seen in any command.
    pub fn selected(&self) -> Option<&SelectedMailbox> {
        self.mailbox.selected()
    }

    /// The untagged news gathered since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<MailboxEvent> {
        self.mailbox.take_events()
    }

    /// True when QRESYNC is enabled: expunges are then reported as
    /// VANISHED, by UID, and CHANGEDSINCE fetches may ask for them.
    pub fn qresync_enabled(&self) -> bool {
        self.qresync_enabled
    }

    /// How far the selected mailbox's news has been taken; see
    /// [`NewsMark`]. `None` when nothing is selected.
    pub fn news_mark(&self) -> Option<NewsMark> {
        self.mailbox.news_mark()
    }

    /// False after BYE, EOF, a timeout, an I/O error, a lost response, or a
    /// command whose future was dropped; such a connection must be dropped.
    pub fn is_usable(&self) -> bool {
        self.usable && !self.in_flight && self.bye.is_none()
    }

    /// Replaces the size bounds for later responses.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The size bounds in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn policy(&self, stage: Stage) -> ReadPolicy {
        ReadPolicy {
            stage,
            line: self.limits.max_line,
            keep_literal: self.limits.max_literal,
        }
    }

    fn timeout_for(&self, stage: Stage) -> Duration {
        match stage {
            Stage::Connect | Stage::TlsHandshake => self.timeouts.connect,
            Stage::Greeting => self.timeouts.greeting,
            Stage::Login => self.timeouts.login,
            Stage::Command => self.timeouts.command,
        }
    }

    fn set_capabilities(&mut self, capabilities: Capabilities) {
        self.capabilities = capabilities;
        self.capability_updates += 1;
    }

    /// Marks the connection unusable and passes the error on.
    fn fail(&mut self, error: ImapError) -> ImapError {
        if error.is_connection_lost() || matches!(error, ImapError::ResponseTooLarge { .. }) {
            self.usable = false;
        }
        error
    }

    /// Reads and parses the next response, mapping stream failures to
    /// errors that mark the connection unusable.
    async fn read_response(
        &mut self,
        policy: ReadPolicy,
        deadline: Instant,
    ) -> Result<ReadResult, ImapError> {
        let budget = FrameBudget {
            line: policy.line,
            keep_literal: policy.keep_literal.min(self.limits.max_literal),
            literal: self.limits.max_literal,
            deadline,
        };
        let frame = match self.reader.read_frame(&mut self.transport, budget).await {
            Ok(frame) => frame,
            Err(e) => {
                let error = match e {
                    FrameError::Eof => match self.bye.clone() {
                        Some(text) => ImapError::Bye { text },
                        None => ImapError::ConnectionClosed,
                    },
                    FrameError::TimedOut => ImapError::TimedOut {
                        stage: policy.stage,
                    },
                    FrameError::TooLarge(limit) => ImapError::ResponseTooLarge {
                        limit,
                        usable: false,
                    },
                    FrameError::Io(source) => ImapError::Io { source },
                };
                self.usable = false;
                return Err(error);
            }
        };

        let parsed = parse_response(&frame.bytes);
        Ok(ReadResult {
            parsed,
            skipped_literal: frame.skipped_literal,
            bytes: frame.bytes.len(),
        })
    }

    async fn write_all(
        &mut self,
        bytes: &[u8],
        stage: Stage,
        deadline: Instant,
    ) -> Result<(), ImapError> {
        let write = async {
            self.transport.write_all(bytes).await?;
            self.transport.flush().await
        };
        match timeout_at(deadline, write).await {
            Err(_) => Err(self.fail(ImapError::TimedOut { stage })),
            Ok(Err(source)) => Err(self.fail(ImapError::Io { source })),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Runs one command to its tagged completion.
    ///
    /// Each untagged response first updates the mailbox state, then is
    /// offered to `claim`, which keeps what belongs to this command and
    /// returns the rest; unclaimed FETCH responses become events. A tagged
    /// NO or BAD is returned as [`ImapError::CommandFailed`] and leaves the
    /// connection usable.
    pub(crate) async fn execute<F>(
        &mut self,
        command: Command,
        policy: ReadPolicy,
        mut claim: F,
    ) -> Result<Completion, ImapError>
    where
        F: FnMut(Untagged) -> Option<Untagged> + Send,
    {
        if !self.is_usable() {
            self.usable = false;
            return Err(ImapError::Unusable);
        }

        let tag = format!("A{:04}", self.next_tag);
        self.next_tag = self.next_tag.wrapping_add(1);
        let started = Instant::now();
        let deadline = started + self.timeout_for(policy.stage);
        self.in_flight = true;
        trace!(tag = %tag, command = command.name, "sent");

        let mut completion = Completion::default();
        let result = self
            .send_and_collect(
                &tag,
                &command,
                policy,
                deadline,
                &mut claim,
                &mut completion,
            )
            .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;

        match result {
            Ok(()) => {
                self.in_flight = false;
                trace!(tag = %tag, command = command.name, elapsed_ms, "completed");
                Ok(completion)
            }
            Err(ImapError::CommandFailed {
                command: name,
                status,
                code,
                text,
            }) => {
                self.in_flight = false;
                let code_name = code.as_deref();
                debug!(%tag, command = name, %status, code = code_name, elapsed_ms, "refused");
                Err(ImapError::CommandFailed {
                    command: name,
                    status,
                    code,
                    text,
                })
            }
            Err(e) => {
                self.usable = false;
                let command = command.name;
                debug!(%tag, command, error = %e, elapsed_ms, "connection lost");
                Err(e)
            }
        }
    }

    async fn send_and_collect<F>(
        &mut self,
        tag: &str,
        command: &Command,
        policy: ReadPolicy,
        deadline: Instant,
        claim: &mut F,
        completion: &mut Completion,
    ) -> Result<(), ImapError>
    where
        F: FnMut(Untagged) -> Option<Untagged> + Send,
    {
        let mut pending = tag.as_bytes().to_vec();
        pending.push(b' ');
        for part in command.parts() {
            match part {
                Part::Text(text) => pending.extend_from_slice(text),
                Part::Literal(bytes) => {
                    let nonsync = self.capabilities.literal_plus()
                        || (self.capabilities.literal_minus() && bytes.len() <= LITERAL_MINUS_MAX);
                    let plus = if nonsync { "+" } else { "" };
                    pending.extend_from_slice(format!("{{{}{plus}}}\r\n", bytes.len()).as_bytes());
                    if !nonsync {
                        self.write_all(&std::mem::take(&mut pending), policy.stage, deadline)
                            .await?;
                        if self
                            .await_continuation(tag, command, policy, deadline, claim, completion)
                            .await?
                        {
                            return Ok(());
                        }
                    }
                    pending.extend_from_slice(bytes);
                }
            }
        }
        pending.extend_from_slice(b"\r\n");
        self.write_all(&pending, policy.stage, deadline).await?;

        loop {
            if self
                .next_response(tag, command, policy, deadline, claim, completion)
                .await?
                == Step::Done
            {
                return Ok(());
            }
        }
    }

    /// Waits for `+` before a literal; true when the command completed
    /// instead (a tagged OK is not expected here but is accepted).
    async fn await_continuation<F>(
        &mut self,
        tag: &str,
        command: &Command,
        policy: ReadPolicy,
        deadline: Instant,
        claim: &mut F,
        completion: &mut Completion,
    ) -> Result<bool, ImapError>
    where
        F: FnMut(Untagged) -> Option<Untagged> + Send,
    {
        loop {
            match self
                .next_response(tag, command, policy, deadline, claim, completion)
                .await?
            {
                Step::Continuation => return Ok(false),
                Step::Done => return Ok(true),
                Step::More => {}
            }
        }
    }

    /// Reads one response and handles it.
    async fn next_response<F>(
        &mut self,
        tag: &str,
        command: &Command,
        policy: ReadPolicy,
        deadline: Instant,
        claim: &mut F,
        completion: &mut Completion,
    ) -> Result<Step, ImapError>
    where
        F: FnMut(Untagged) -> Option<Untagged> + Send,
    {
        let read = self.read_response(policy, deadline).await?;
        if read.skipped_literal.is_some() {
            completion.skipped_literal = read.skipped_literal;
        }

        match read.parsed {
            Ok(Response::Continuation) => Ok(Step::Continuation),
            Ok(Response::Untagged(response)) => {
                self.handle_untagged(response, command, claim)?;
                Ok(Step::More)
            }
            Ok(Response::Tagged { tag: got, status }) if got == tag.as_bytes() => {
                if let Some(code) = &status.code {
                    self.observe_code(code, &status.text);
                }
                match status.kind {
                    StatusKind::Ok => {
                        completion.code = status.code;
                        Ok(Step::Done)
                    }
                    kind => Err(ImapError::CommandFailed {
                        command: command.name,
                        status: if kind == StatusKind::Bad {
                            RefusalKind::Bad
                        } else {
                            RefusalKind::No
                        },
                        code: status.code.map(|c| c.name()),
                        text: status.text,
                    }),
                }
            }
            Ok(Response::Tagged { .. }) => {
                warn!(
                    command = command.name,
                    "ignored a completion for another tag"
                );
                Ok(Step::More)
            }
            Err(e) if e.tag.as_deref() == Some(tag.as_bytes()) => Err(ImapError::Protocol {
                detail: format!("malformed completion of {}: {}", command.name, e.detail),
            }),
            Err(e) => {
                completion.skipped_responses += 1;
                let (command, bytes) = (command.name, read.bytes);
                warn!(command, detail = %e.detail, bytes, "skipped a malformed response");
                Ok(Step::More)
            }
        }
    }

    fn observe_code(&mut self, code: &Code, text: &str) {
        if let Code::Capability(caps) = code {
            self.set_capabilities(caps.clone());
        }
        self.mailbox.observe_code(code, text);
    }

    fn handle_untagged<F>(
        &mut self,
        response: Untagged,
        command: &Command,
        claim: &mut F,
    ) -> Result<(), ImapError>
    where
        F: FnMut(Untagged) -> Option<Untagged>,
    {
        match &response {
            Untagged::Status(status) if status.kind == StatusKind::Bye => {
                if let Some(code) = &status.code {
                    self.observe_code(code, &status.text);
                }
                self.bye = Some(status.text.clone());
                if command.name != "LOGOUT" {
                    return Err(ImapError::Bye {
                        text: status.text.clone(),
                    });
                }
                return Ok(());
            }
            Untagged::Status(status) => {
                if let Some(code) = &status.code {
                    self.observe_code(code, &status.text);
                }
                self.mailbox
                    .observe_trouble(status.kind, status.code.is_some());
            }
            Untagged::Capability(caps) => self.set_capabilities(caps.clone()),
            other => self.mailbox.observe(other),
        }

        if let Some(Untagged::Fetch(data)) = claim(response) {
            self.mailbox.unclaimed_fetch(*data);
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    Continuation,
    More,
    Done,
}

struct ReadResult {
    parsed: Result<Response, crate::wire::response::ParseError>,
    skipped_literal: Option<u64>,
    bytes: usize,
}
