//! A small SMTP sink for tests: it accepts every message sent to it on
//! 127.0.0.1 and keeps it byte for byte, so that a test can read what a
//! submission server relayed.
//!
//! It owns one listening socket and a thread per connection. It never
//! relays, resolves or connects anywhere: mail that reaches it stops here.
//! It speaks just enough SMTP (RFC 5321) for a relaying client: EHLO/HELO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT; it offers no extension but
//! 8BITMIME, so clients send nothing it would need to understand.
//!
//! A recipient whose address starts with `refused` is refused with a
//! permanent `550`, for tests of a refused recipient.
//!
//! Invariants: a message is stored only once its DATA ended with the
//! terminating dot, with dot-stuffing undone and CRLF line ends kept as
//! received. [`SmtpCapture::stop`] closes the socket, so later connections
//! are refused, as from a mail server that is down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest message the sink accepts, so a runaway client cannot fill memory.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct CapturedMessage {
    /// The reverse path of MAIL FROM, without angle brackets.
    pub mail_from: String,
    /// The forward paths of the RCPT TO commands, without angle brackets.
    pub recipients: Vec<String>,
    /// The DATA bytes, dot-stuffing undone, without the final ".\r\n".
    pub data: Vec<u8>,
}

impl CapturedMessage {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The unfolded value of the first header field `name` of the message.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut fields: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.push_str(line);
                }
            } else {
                fields.push(line.to_owned());
            }
        }
        fields.into_iter().find_map(|field| {
            let (key, value) = field.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// A running sink on 127.0.0.1.
pub struct SmtpCapture {
    pub port: u16,
    messages: Arc<Mutex<Vec<CapturedMessage>>>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl SmtpCapture {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> SmtpCapture {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the SMTP sink can listen");
        listener
            .set_nonblocking(true)
            .expect("the SMTP sink's socket can be non-blocking");
        let port = listener
            .local_addr()
            .expect("a bound socket has a port")
            .port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));

        let (kept, stop) = (messages.clone(), stopping.clone());
        let acceptor = std::thread::spawn(move || accept_until_stopped(listener, kept, stop));
        SmtpCapture {
            port,
            messages,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<CapturedMessage> {
        self.messages.lock().expect("sink lock").clone()
    }

    /// Waits (at most `timeout`) until `count` messages arrived; returns
    /// what arrived by then.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<CapturedMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes the listening socket: later connections are refused.
    pub fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for SmtpCapture {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_until_stopped(
    listener: TcpListener,
    messages: Arc<Mutex<Vec<CapturedMessage>>>,
    stopping: Arc<AtomicBool>,
) {
    while !stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let kept = messages.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &kept);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// One SMTP session.
fn serve(stream: TcpStream, messages: &Mutex<Vec<CapturedMessage>>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 capture.localhost test sink ready\r\n")?;

    let mut mail_from = None;
    let mut recipients = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-capture.localhost\r\n250 8BITMIME\r\n",
            "HELO" => b"250 capture.localhost\r\n",
            "MAIL" => {
                mail_from = Some(path_of(&command));
                recipients.clear();
                b"250 2.1.0 ok\r\n"
            }
            "RCPT" => {
                let path = path_of(&command);
                if path.starts_with("refused") {
                    b"550 5.1.1 no such mailbox here\r\n"
                } else {
                    recipients.push(path);
                    b"250 2.1.5 ok\r\n"
                }
            }
            "DATA" => {
                writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let data = read_data(&mut reader)?;
                messages.lock().expect("sink lock").push(CapturedMessage {
                    mail_from: mail_from.take().unwrap_or_default(),
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                b"250 2.0.0 kept\r\n"
            }
            "RSET" => {
                mail_from = None;
                recipients.clear();
                b"250 2.0.0 ok\r\n"
            }
            "NOOP" => b"250 2.0.0 ok\r\n",
            "QUIT" => {
                writer.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => b"502 5.5.1 not implemented\r\n",
        };
        writer.write_all(reply)?;
    }
}

/// The address inside `<...>` of a MAIL or RCPT command.
fn path_of(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_owned()
}

/// The lines of DATA up to the lone dot, dot-stuffing undone.
fn read_data(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        let read = reader.by_ref().take(1 << 20).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        if data.len() + unstuffed.len() > MAX_MESSAGE_BYTES {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        data.extend_from_slice(unstuffed);
    }
}
