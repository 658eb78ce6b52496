//! A scripted fake IMAP server for wire tests, and helpers to reach the
//! shared test cases.
//!
//! A [`Transcript`] is read from the `.imap` format of the shared cases:
//! `C: ` lines the client sends, `S: ` lines the server sends (prefix
//! stripped, CRLF appended), `#` comments. [`FakeServer`] listens on
//! 127.0.0.1 only, accepts one connection and replays the transcript: it
//! reads each client command (answering `+` to synchronizing literals),
//! checks it against the `C: ` line, and sends the following `S: ` lines with
//! the transcript's tag replaced by the tag the client used. Client commands
//! are compared by command name (`UID FETCH`, `SELECT`), or whole (tag
//! aside) for the names listed in [`Script::exact`]. A `CAPABILITY` the
//! transcript does not expect is answered with `* CAPABILITY IMAP4rev1`,
//! since transcripts leave out that exchange. Every wait is bounded, so a
//! broken test fails instead of hanging.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use mailfront_imap::{Connection, Secret, Security, Timeouts};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long the fake server waits for anything before failing the test.
const WAIT: Duration = Duration::from_secs(10);

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A command line the client must send (without CRLF).
    Client(Vec<u8>),
    /// Bytes the server sends (with CRLF).
    Server(Vec<u8>),
    /// A `#` comment, kept so tests can split transcripts.
    Comment(String),
    /// The server upgrades the connection to TLS here (after STARTTLS).
    StartTls,
}

/// A parsed `.imap` transcript.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub steps: Vec<Step>,
}

impl Transcript {
    /// Parses the `.imap` format; line ends may be CRLF or LF.
    pub fn parse(bytes: &[u8]) -> Self {
        let mut steps = Vec::new();
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(rest) = line.strip_prefix(b"C: ") {
                steps.push(Step::Client(rest.to_vec()));
            } else if let Some(rest) = line.strip_prefix(b"S: ") {
                let mut wire = rest.to_vec();
                wire.extend_from_slice(b"\r\n");
                steps.push(Step::Server(wire));
            } else if line == b"S:" {
                steps.push(Step::Server(b"\r\n".to_vec()));
            } else if line.starts_with(b"#") {
                steps.push(Step::Comment(String::from_utf8_lossy(line).into_owned()));
            } else if line == b"STARTTLS-UPGRADE" {
                steps.push(Step::StartTls);
            }
        }
        Self { steps }
    }

    /// Reads a transcript file.
    pub fn load(path: &Path) -> Self {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Self::parse(&bytes)
    }

    /// Splits at each comment starting with one of `markers`; the first
    /// part is what comes before the first marker.
    pub fn split_at_comments(&self, markers: &[&str]) -> Vec<Transcript> {
        let mut parts = vec![Transcript::default()];
        for step in &self.steps {
            if let Step::Comment(text) = step {
                if markers.iter().any(|m| text.starts_with(m)) {
                    parts.push(Transcript::default());
                }
            }
            parts.last_mut().unwrap().steps.push(step.clone());
        }
        parts
    }

    /// This transcript with `other` appended.
    pub fn then(mut self, other: Transcript) -> Self {
        self.steps.extend(other.steps);
        self
    }
}

/// What the server does after the last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Close the connection at once.
    Close,
    /// Answer NOOP, CAPABILITY and LOGOUT until the client closes; fail on
    /// anything else.
    Serve,
    /// Keep the connection open and silent until the client closes.
    Hang,
}

/// A transcript and how to replay it.
#[derive(Debug, Clone)]
pub struct Script {
    pub transcript: Transcript,
    /// Command names compared whole (tag aside) instead of by name.
    pub exact: Vec<String>,
    pub ending: Ending,
    /// Serve implicit TLS from the first byte.
    pub implicit_tls: bool,
}

impl Script {
    pub fn new(transcript: Transcript, ending: Ending) -> Self {
        Self {
            transcript,
            exact: Vec::new(),
            ending,
            implicit_tls: false,
        }
    }

    pub fn exact(mut self, names: &[&str]) -> Self {
        self.exact = names.iter().map(|n| n.to_string()).collect();
        self
    }

    pub fn implicit_tls(mut self) -> Self {
        self.implicit_tls = true;
        self
    }
}

/// A running fake server.
pub struct FakeServer {
    pub addr: SocketAddr,
    handle: JoinHandle<Result<Vec<Vec<u8>>, String>>,
}

impl FakeServer {
    /// Listens on 127.0.0.1 on a free port and serves `script` to the first
    /// client.
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            let (tcp, _) = timeout(WAIT, listener.accept())
                .await
                .map_err(|_| "no client connected".to_string())?
                .map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let stream = if script.implicit_tls {
                ServerStream::Tls(Box::new(accept_tls(tcp).await?))
            } else {
                ServerStream::Plain(tcp)
            };
            let mut session = Session {
                stream,
                buf: Vec::new(),
                received: Vec::new(),
            };
            let outcome = session.run(&script).await;
            outcome.map(|()| session.received)
        });
        Self { addr, handle }
    }

    /// Waits for the script to end and returns its outcome.
    pub async fn outcome(self) -> Result<Vec<Vec<u8>>, String> {
        match timeout(WAIT * 2, self.handle).await {
            Err(_) => Err("the fake server did not finish".into()),
            Ok(Err(e)) => Err(format!("the fake server panicked: {e}")),
            Ok(Ok(outcome)) => outcome,
        }
    }

    /// Waits for the script to end and returns every command received
    /// (literals included); panics with the reason when the script failed.
    pub async fn finish(self) -> Vec<Vec<u8>> {
        match timeout(WAIT * 2, self.handle).await {
            Err(_) => panic!("the fake server did not finish"),
            Ok(Err(e)) => panic!("the fake server panicked: {e}"),
            Ok(Ok(Err(e))) => panic!("the script failed: {e}"),
            Ok(Ok(Ok(received))) => received,
        }
    }
}

async fn accept_tls(tcp: TcpStream) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    match timeout(WAIT, acceptor.accept(tcp)).await {
        Err(_) => Err("tls handshake timed out".into()),
        Ok(Err(e)) => Err(format!("tls handshake failed: {e}")),
        Ok(Ok(stream)) => Ok(stream),
    }
}

enum ServerStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Taken,
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            ServerStream::Taken => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            ServerStream::Taken => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            ServerStream::Taken => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            ServerStream::Taken => Poll::Ready(Ok(())),
        }
    }
}

struct Session {
    stream: ServerStream,
    buf: Vec<u8>,
    received: Vec<Vec<u8>>,
}

/// A client command split into its tag and the rest.
struct Received {
    tag: Vec<u8>,
    rest: Vec<u8>,
}

fn command_name(rest: &[u8]) -> String {
    let text = String::from_utf8_lossy(rest).to_ascii_uppercase();
    let mut words = text.split([' ', '\r', '\n']).filter(|w| !w.is_empty());
    match words.next() {
        Some("UID") => format!("UID {}", words.next().unwrap_or("")),
        Some(word) => word.to_string(),
        None => String::new(),
    }
}

fn split_tag(line: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match line.iter().position(|&b| b == b' ') {
        Some(pos) => (line[..pos].to_vec(), line[pos + 1..].to_vec()),
        None => (line.to_vec(), Vec::new()),
    }
}

impl Session {
    async fn run(&mut self, script: &Script) -> Result<(), String> {
        let mut transcript_tag: Vec<u8> = Vec::new();
        let mut actual_tag: Vec<u8> = Vec::new();

        for step in &script.transcript.steps {
            match step {
                Step::Comment(_) => {}
                Step::Server(bytes) => {
                    let mut out = bytes.clone();
                    let prefix = [transcript_tag.as_slice(), b" "].concat();
                    if !transcript_tag.is_empty() && out.starts_with(&prefix) {
                        out = [actual_tag.as_slice(), b" ", &out[prefix.len()..]].concat();
                    }
                    self.write(&out).await?;
                }
                Step::Client(expected) => {
                    let (tag, expected_rest) = split_tag(expected);
                    let got = self.expect_command(&expected_rest, script).await?;
                    transcript_tag = tag;
                    actual_tag = got.tag;
                }
                Step::StartTls => {
                    let ServerStream::Plain(tcp) =
                        std::mem::replace(&mut self.stream, ServerStream::Taken)
                    else {
                        return Err("STARTTLS on a stream that is not plain".into());
                    };
                    self.stream = ServerStream::Tls(Box::new(accept_tls(tcp).await?));
                }
            }
        }

        match script.ending {
            Ending::Close => Ok(()),
            Ending::Hang => {
                while self.read_command().await?.is_some() {}
                Ok(())
            }
            Ending::Serve => loop {
                let Some(line) = self.read_command().await? else {
                    return Ok(());
                };
                let (tag, rest) = split_tag(&line);
                let tag = String::from_utf8_lossy(&tag).into_owned();
                match command_name(&rest).as_str() {
                    "NOOP" => {
                        self.write(format!("{tag} OK NOOP done\r\n").as_bytes())
                            .await?
                    }
                    "CAPABILITY" => {
                        let reply =
                            format!("* CAPABILITY IMAP4rev1\r\n{tag} OK CAPABILITY done\r\n");
                        self.write(reply.as_bytes()).await?;
                    }
                    "LOGOUT" => {
                        self.write(
                            format!("* BYE logging out\r\n{tag} OK LOGOUT done\r\n").as_bytes(),
                        )
                        .await?;
                        return Ok(());
                    }
                    other => return Err(format!("unexpected {other} after the end of the script")),
                }
            },
        }
    }

    /// Reads commands until one matches `expected`, answering unscripted
    /// CAPABILITY commands.
    async fn expect_command(
        &mut self,
        expected: &[u8],
        script: &Script,
    ) -> Result<Received, String> {
        loop {
            let line = self.read_command().await?.ok_or_else(|| {
                format!(
                    "the client closed instead of sending {}",
                    String::from_utf8_lossy(expected)
                )
            })?;
            let (tag, rest) = split_tag(&line);
            let name = command_name(&rest);
            let expected_name = command_name(expected);

            if name == "CAPABILITY" && expected_name != "CAPABILITY" {
                let tag = String::from_utf8_lossy(&tag).into_owned();
                self.write(
                    format!("* CAPABILITY IMAP4rev1\r\n{tag} OK CAPABILITY done\r\n").as_bytes(),
                )
                .await?;
                continue;
            }

            let exact = script
                .exact
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&expected_name));
            let rest_line = rest.strip_suffix(b"\r\n").unwrap_or(&rest);
            let matches = if exact {
                rest_line == expected
            } else {
                name == expected_name
            };
            if !matches {
                return Err(format!(
                    "expected {:?}, the client sent {:?}",
                    String::from_utf8_lossy(expected),
                    String::from_utf8_lossy(rest_line)
                ));
            }
            return Ok(Received { tag, rest });
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match timeout(WAIT, write).await {
            Err(_) => Err("writing timed out".into()),
            Ok(Err(e)) => Err(format!("writing failed: {e}")),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads one line up to LF, or `None` at end of stream.
    async fn read_line(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                return Ok(Some(self.buf.drain(..=pos).collect()));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    async fn fill(&mut self) -> Result<bool, String> {
        let mut chunk = [0u8; 4096];
        match timeout(WAIT, self.stream.read(&mut chunk)).await {
            Err(_) => Err("the client sent nothing in time".into()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(false),
            Ok(Err(e)) => Err(format!("reading failed: {e}")),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
        }
    }

    /// Reads a whole command, literals included; answers `+` to
    /// synchronizing literals. Records it and returns it with its CRLF.
    async fn read_command(&mut self) -> Result<Option<Vec<u8>>, String> {
        let mut command = Vec::new();
        loop {
            let Some(line) = self.read_line().await? else {
                return if command.is_empty() {
                    Ok(None)
                } else {
                    Err("the client closed mid-command".into())
                };
            };
            command.extend_from_slice(&line);
            let Some((size, sync)) = literal_size(&line) else {
                break;
            };

            if sync {
                self.write(b"+ go ahead\r\n").await?;
            }
            while self.buf.len() < size {
                if !self.fill().await? {
                    return Err("the client closed inside a literal".into());
                }
            }
            command.extend(self.buf.drain(..size));
        }
        self.received.push(command.clone());
        Ok(Some(command))
    }
}

/// `{N}` (synchronizing) or `{N+}` at the end of a line.
fn literal_size(line: &[u8]) -> Option<(usize, bool)> {
    let text = std::str::from_utf8(line)
        .ok()?
        .trim_end_matches(['\r', '\n']);
    let inner = text.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    let digits = &inner[open + 1..];
    match digits.strip_suffix('+') {
        Some(d) => Some((d.parse().ok()?, false)),
        None => Some((digits.parse().ok()?, true)),
    }
}

/// The shared test cases folder, or `None` (after saying why) when it is
/// missing outside CI. In CI a missing folder fails the test.
pub fn shared_cases() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/cases"
    ));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("the shared cases folder {} is missing", dir.display());
    }
    eprintln!(
        "skipping: the shared cases folder {} is missing",
        dir.display()
    );
    None
}

/// A fixture of this crate's own, under `tests/fixtures`.
pub fn fixture(name: &str) -> Transcript {
    Transcript::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

/// Short timeouts so that failing tests end quickly.
pub fn test_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        greeting: Duration::from_secs(5),
        login: Duration::from_secs(5),
        command: Duration::from_secs(5),
    }
}

/// The TLS settings that trust the test CA.
pub fn test_tls() -> Arc<rustls::ClientConfig> {
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/ca.pem");
    mailfront_imap::tls_client_config(Some(&ca)).expect("the test CA loads")
}

/// Connects without TLS to a fake server.
pub async fn connect_plain(addr: SocketAddr) -> Connection {
    Connection::connect(
        addr,
        "localhost",
        Security::Plain,
        test_tls(),
        test_timeouts(),
    )
    .await
    .expect("connecting to the fake server")
}

/// Connects and logs in as the shared cases' user.
pub async fn connect_and_login(addr: SocketAddr) -> Connection {
    let mut conn = connect_plain(addr).await;
    conn.login("alice@example.org", &Secret::new("secret".into()))
        .await
        .expect("login");
    conn
}

/// A `tracing` writer that keeps everything in memory, for log assertions.
#[derive(Clone, Default)]
pub struct LogCapture(pub Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
