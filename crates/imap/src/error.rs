//! The one error type of the IMAP client, [`ImapError`].
//!
//! Variants are named by the condition a caller reacts to (a refused login,
//! a full connection limit, a lost connection), not by where the failure was
//! noticed. Display texts follow `<what failed>; <hint>` and carry no
//! credentials. Server texts are kept in fields for logging; callers must not
//! show them to users, except [`crate::MailboxEvent::Alert`] texts.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The step of a connection's life that a timeout interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake, for implicit TLS and after STARTTLS.
    TlsHandshake,
    /// Waiting for the server's greeting.
    Greeting,
    /// The LOGIN command and what follows it (capabilities, ENABLE).
    Login,
    /// Any other command.
    Command,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::TlsHandshake => "tls handshake",
            Stage::Greeting => "greeting",
            Stage::Login => "login",
            Stage::Command => "command",
        })
    }
}

/// The status of a tagged reply that refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// `NO`: the server understood the command and declined it.
    No,
    /// `BAD`: the server did not accept the command's syntax or state.
    Bad,
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusalKind::No => "NO",
            RefusalKind::Bad => "BAD",
        })
    }
}

/// Everything that can go wrong on an IMAP connection.
///
/// [`ImapError::is_connection_lost`] tells whether the connection is gone (or
/// must be treated as gone) and the outcome of the command is unknown.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The TCP connection could not be opened.
    #[error("connecting to the IMAP server at {addr} failed; check the address and that it runs")]
    ConnectFailed {
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// The TLS handshake failed, e.g. the certificate is untrusted or names
    /// another host.
    #[error("tls with the IMAP server failed; check its certificate and the server name")]
    TlsFailed {
        /// The TLS library's reason.
        #[source]
        source: std::io::Error,
    },

    /// The server name is not a valid DNS name or IP address for TLS.
    #[error("the IMAP server name is not usable for tls; give a DNS name or an IP address")]
    InvalidServerName {
        /// The name given.
        name: String,
    },

    /// The certificate file for a private CA could not be used.
    #[error("reading the CA certificates in {path} failed; give a file of PEM certificates")]
    CaFile {
        /// The file given.
        path: PathBuf,
        /// What was wrong with it.
        detail: String,
    },

    /// STARTTLS was asked for but the server does not offer it.
    #[error("the IMAP server does not offer STARTTLS; use implicit tls or another server")]
    StartTlsUnavailable,

    /// A step took longer than its configured timeout; the connection is
    /// closed.
    #[error("the IMAP server did not answer in time during {stage}; retry on a new connection")]
    TimedOut {
        /// The step that timed out.
        stage: Stage,
    },

    /// The server closed the connection without a BYE.
    #[error("the IMAP server closed the connection; retry on a new connection")]
    ConnectionClosed,

    /// The server said BYE and closed (or is closing) the connection.
    #[error("the IMAP server ended the session; retry on a new connection")]
    Bye {
        /// The server's text, for logs only.
        text: String,
    },

    /// The server greeted with BYE: it refuses connections for now.
    #[error("the IMAP server refused the connection; try again later")]
    Refused {
        /// The server's text, for logs only.
        text: String,
    },

    /// The server answered with PREAUTH or another greeting this client does
    /// not accept.
    #[error("the IMAP server sent an unexpected greeting; the server is not usable")]
    UnexpectedGreeting {
        /// What was received, for logs only.
        detail: String,
    },

    /// LOGIN is disabled on this connection (LOGINDISABLED), typically
    /// because it is not encrypted.
    #[error("the IMAP server does not allow LOGIN here; connect with tls")]
    LoginDisabled,

    /// The user name or password was refused, or the account may not log in.
    #[error("the IMAP server refused the credentials; check the user name and password")]
    AuthenticationFailed {
        /// The response code, such as `AUTHENTICATIONFAILED` or `EXPIRED`.
        code: Option<String>,
    },

    /// The user has too many connections open.
    #[error("the IMAP server refused another connection for this user; close one and retry")]
    ConnectionLimit,

    /// The server is temporarily unable to serve the account.
    #[error("the IMAP server is temporarily unavailable; try again later")]
    Unavailable,

    /// The mailbox does not exist (`NONEXISTENT`, `TRYCREATE` or a known
    /// server text for it).
    #[error("the mailbox does not exist; reload the folder list")]
    MailboxNotFound {
        /// The server's encoded mailbox name.
        mailbox: String,
    },

    /// The mailbox to create already exists.
    #[error("the mailbox already exists; pick another name")]
    AlreadyExists {
        /// The server's encoded mailbox name.
        mailbox: String,
    },

    /// A response, line or literal exceeded its size limit. When `usable` is
    /// false the connection was closed because of it.
    #[error("an IMAP response was larger than {limit} bytes; the data was not read")]
    ResponseTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
        /// Whether the connection could be kept.
        usable: bool,
    },

    /// The server broke the protocol in a way that loses the stream's sync.
    #[error("the IMAP server sent something this client cannot follow; retry on a new connection")]
    Protocol {
        /// What was wrong, for logs only; never holds message data.
        detail: String,
    },

    /// The answer the command needed came in a response that could not be
    /// read and was skipped; the stream is still in sync.
    #[error("the IMAP server's answer to {command} could not be read; retrying may help")]
    MalformedResponse {
        /// The command's name.
        command: &'static str,
    },

    /// The server refused a command with a tagged NO or BAD.
    #[error("the IMAP server refused {command} with {status}; see the code and text")]
    CommandFailed {
        /// The command's name, e.g. `UID FETCH`.
        command: &'static str,
        /// NO or BAD.
        status: RefusalKind,
        /// The response code's name, when there was one.
        code: Option<String>,
        /// The server's text, for logs only.
        text: String,
    },

    /// The operation needs a capability the server lacks.
    #[error("the IMAP server lacks {capability}; check the capability before calling")]
    Unsupported {
        /// The missing capability.
        capability: &'static str,
    },

    /// An argument cannot be sent, e.g. a flag that is not a valid atom.
    #[error("an IMAP command argument is invalid; {detail}")]
    InvalidArgument {
        /// What is wrong with it.
        detail: String,
    },

    /// Reading from or writing to the connection failed.
    #[error("i/o on the IMAP connection failed; retry on a new connection")]
    Io {
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// The connection was already closed or broken when a command was tried.
    #[error("the IMAP connection is no longer usable; open a new one")]
    Unusable,
}

impl ImapError {
    /// True when the connection is dead or must not be reused, so that the
    /// outcome of the command that failed is unknown.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            ImapError::TimedOut { .. }
            | ImapError::ConnectionClosed
            | ImapError::Bye { .. }
            | ImapError::Protocol { .. }
            | ImapError::Io { .. }
            | ImapError::Unusable => true,
            ImapError::ResponseTooLarge { usable, .. } => !usable,
            _ => false,
        }
    }

    /// The response code of a refused command, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            ImapError::CommandFailed { code, .. } | ImapError::AuthenticationFailed { code } => {
                code.as_deref()
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_told_apart_from_refused_commands() {
        let refused = ImapError::CommandFailed {
            command: "SELECT",
            status: RefusalKind::No,
            code: None,
            text: "no".into(),
        };

        assert!(!refused.is_connection_lost());
        assert!(ImapError::Bye { text: "bye".into() }.is_connection_lost());
        assert!(ImapError::TimedOut {
            stage: Stage::Command
        }
        .is_connection_lost());
        assert!(!ImapError::ResponseTooLarge {
            limit: 1,
            usable: true
        }
        .is_connection_lost());
        assert!(ImapError::ResponseTooLarge {
            limit: 1,
            usable: false
        }
        .is_connection_lost());
    }

    #[test]
    fn display_texts_name_the_failure_and_a_hint() {
        let text = ImapError::TimedOut {
            stage: Stage::Greeting,
        }
        .to_string();

        assert_eq!(
            text,
            "the IMAP server did not answer in time during greeting; retry on a new connection"
        );
    }
}
