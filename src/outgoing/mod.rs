//! Sending mail: a written message handed to the SMTP submission server
//! with the user's own sign-in.
//!
//! It owns the SMTP conversation (connect, TLS as the configured scheme
//! says, AUTH, MAIL, one RCPT per recipient, DATA) and the reasons a send
//! fails, named so a page can say what to do. It knows nothing of HTTP or
//! IMAP: filing a copy in Sent is the mail service's job. A message is sent
//! on a fresh connection each time and never retried: a connection lost
//! after DATA may have delivered it.
//!
//! # Limitations
//!
//! - No connection is kept between sends; each send costs a connect and an
//!   AUTH.
//! - A recipient refused by the server stops the whole send (nothing is
//!   delivered); the page names that recipient.

mod address;
mod letter;

use std::path::Path;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials as SmtpCredentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;

use crate::config::{SmtpServer, Transport};
use crate::pool::Credentials;
pub use address::{parse_mailboxes, BadAddress};
pub use letter::{FileAttachment, Letter, LetterError};

/// How long one step of the SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how mail is submitted; cheap to clone.
#[derive(Clone)]
pub struct Submitter {
    /// None when no SMTP server is configured: sending is off.
    server: Option<SmtpServer>,
    /// The private CA of the SMTP server, read once at start.
    extra_root: Option<Vec<u8>>,
}

/// Why a message was not sent. Nothing was delivered in any of these cases
/// but [`SendError::Unknown`].
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no SMTP server is configured; set smtp-server")]
    NotConfigured,
    #[error("the SMTP server could not be reached; check that it runs")]
    Unreachable(#[source] lettre::transport::smtp::Error),
    #[error("tls with the SMTP server failed; check its certificate")]
    Tls(#[source] lettre::transport::smtp::Error),
    #[error("the SMTP server failed for now (a 4xx reply), e.g. its relay is down")]
    Deferred(#[source] lettre::transport::smtp::Error),
    #[error("the SMTP server refused the sign-in")]
    AuthRefused(#[source] lettre::transport::smtp::Error),
    #[error("the SMTP server refused the sender address")]
    SenderRefused(#[source] lettre::transport::smtp::Error),
    #[error("the SMTP server refused a recipient")]
    RecipientRefused {
        address: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("the SMTP server refused the message")]
    MessageRefused(#[source] lettre::transport::smtp::Error),
    #[error(
        "the connection to the SMTP server was lost while sending; the message may have been sent"
    )]
    Unknown(#[source] lettre::transport::smtp::Error),
}

/// The private CA file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the SMTP CA file {path:?}; give a file of PEM certificates")]
pub struct CaFileError {
    path: std::path::PathBuf,
    #[source]
    source: std::io::Error,
}

impl Submitter {
    pub fn new(server: Option<SmtpServer>, ca_file: Option<&Path>) -> Result<Self, CaFileError> {
        let extra_root = match ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| CaFileError {
                path: path.to_owned(),
                source,
            })?),
            None => None,
        };
        Ok(Submitter { server, extra_root })
    }

    /// Whether a server is configured at all.
    pub fn is_configured(&self) -> bool {
        self.server.is_some()
    }

    /// Sends `bytes` from `sender` to `recipients`, signed in as the user.
    pub async fn send(
        &self,
        credentials: &Credentials,
        sender: &Address,
        recipients: &[Address],
        bytes: &[u8],
    ) -> Result<(), SendError> {
        let server = self.server.as_ref().ok_or(SendError::NotConfigured)?;
        let hello = ClientId::Domain("localhost".to_owned());
        let wrapper = match server.transport {
            Transport::ImplicitTls => Some(self.tls_parameters(&server.host)?),
            Transport::StartTls | Transport::Plain => None,
        };
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            (server.host.as_str(), server.port),
            Some(SMTP_TIMEOUT),
            &hello,
            wrapper,
            None,
        )
        .await
        .map_err(classify_connect)?;

        let result = self
            .converse(
                &mut connection,
                server,
                credentials,
                sender,
                recipients,
                bytes,
            )
            .await
            .map_err(deferred_when_temporary);
        match &result {
            Ok(()) => {
                let _ = connection.quit().await;
            }
            Err(_) => connection.abort().await,
        }
        result
    }

    async fn converse(
        &self,
        connection: &mut AsyncSmtpConnection,
        server: &SmtpServer,
        credentials: &Credentials,
        sender: &Address,
        recipients: &[Address],
        bytes: &[u8],
    ) -> Result<(), SendError> {
        if server.transport == Transport::StartTls {
            let parameters = self.tls_parameters(&server.host)?;
            let hello = ClientId::Domain("localhost".to_owned());
            connection
                .starttls(parameters, &hello)
                .await
                .map_err(SendError::Tls)?;
        }

        let login = SmtpCredentials::new(
            credentials.user.clone(),
            credentials.password.expose().clone(),
        );
        connection
            .auth(&[Mechanism::Plain, Mechanism::Login], &login)
            .await
            .map_err(SendError::AuthRefused)?;

        connection
            .command(Mail::new(Some(sender.clone()), Vec::new()))
            .await
            .map_err(SendError::SenderRefused)?;
        for recipient in recipients {
            connection
                .command(Rcpt::new(recipient.clone(), Vec::new()))
                .await
                .map_err(|source| SendError::RecipientRefused {
                    address: recipient.to_string(),
                    source,
                })?;
        }
        connection
            .command(Data)
            .await
            .map_err(SendError::MessageRefused)?;
        connection.message(bytes).await.map_err(|error| {
            if error.is_permanent() || error.is_transient() {
                SendError::MessageRefused(error)
            } else {
                SendError::Unknown(error)
            }
        })?;
        Ok(())
    }

    fn tls_parameters(&self, host: &str) -> Result<TlsParameters, SendError> {
        let mut builder = TlsParameters::builder(host.to_owned());
        if let Some(pem) = &self.extra_root {
            let root = Certificate::from_pem(pem).map_err(SendError::Tls)?;
            builder = builder.add_root_certificate(root);
        }
        builder.build_rustls().map_err(SendError::Tls)
    }
}

/// A temporary refusal (4xx) at any step means the same to a user: not
/// sent, try again later. A lost connection after DATA stays unknown.
fn deferred_when_temporary(error: SendError) -> SendError {
    let temporary = match &error {
        SendError::AuthRefused(e) | SendError::SenderRefused(e) | SendError::MessageRefused(e) => {
            e.is_transient()
        }
        SendError::RecipientRefused { source, .. } => source.is_transient(),
        _ => false,
    };
    if !temporary {
        return error;
    }
    match error {
        SendError::AuthRefused(e) | SendError::SenderRefused(e) | SendError::MessageRefused(e) => {
            SendError::Deferred(e)
        }
        SendError::RecipientRefused { source, .. } => SendError::Deferred(source),
        other => other,
    }
}

/// A failure before the server greeted us is "cannot reach"; a refused
/// TLS handshake is its own case.
fn classify_connect(error: lettre::transport::smtp::Error) -> SendError {
    if error.is_tls() {
        SendError::Tls(error)
    } else {
        SendError::Unreachable(error)
    }
}
