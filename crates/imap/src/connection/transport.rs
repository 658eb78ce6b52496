//! The byte stream under a connection: plain TCP or TLS over TCP, and the
//! TLS client configuration.
//!
//! This module owns certificate trust (webpki roots plus an optional private
//! CA file) and the handshake. It never reads IMAP data. The stream can be
//! taken out for STARTTLS and replaced by its TLS form.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::{ImapError, Stage};

/// Builds the TLS settings for IMAP connections: the webpki roots, plus the
/// PEM certificates in `ca_file` when given (for servers with a private CA).
///
/// Uses the `ring` provider and rustls' safe default protocol versions.
pub fn tls_client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());

    if let Some(path) = ca_file {
        let ca_error = |detail: String| ImapError::CaFile {
            path: path.to_owned(),
            detail,
        };
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| ca_error(e.to_string()))?;
            roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_error("the file holds no certificate".into()));
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::TlsFailed {
            source: io::Error::other(e),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Checks that `name` can be used for certificate verification.
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, ImapError> {
    ServerName::try_from(name.to_owned()).map_err(|_| ImapError::InvalidServerName {
        name: name.to_owned(),
    })
}

/// Runs the TLS handshake over `tcp`, bounded by `deadline`.
pub(crate) async fn handshake(
    tcp: TcpStream,
    name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    deadline: Instant,
) -> Result<Transport, ImapError> {
    let connector = TlsConnector::from(tls);
    match timeout_at(deadline, connector.connect(name, tcp)).await {
        Err(_) => Err(ImapError::TimedOut {
            stage: Stage::TlsHandshake,
        }),
        Ok(Err(source)) => Err(ImapError::TlsFailed { source }),
        Ok(Ok(stream)) => Ok(Transport::Tls(Box::new(stream))),
    }
}

/// A connection's stream.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Unencrypted TCP (before STARTTLS, or plain by request).
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
    /// Taken out, or shut down.
    Closed,
}

impl Transport {
    /// True when the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stream is closed")
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Transport::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Transport::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Transport::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Transport::Closed => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_trusts_the_webpki_roots() {
        assert!(tls_client_config(None).is_ok());
    }

    #[test]
    fn a_missing_ca_file_is_reported_with_its_path() {
        let err = tls_client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();

        assert!(matches!(err, ImapError::CaFile { ref path, .. } if path.ends_with("ca.pem")));
    }

    #[test]
    fn invalid_server_names_are_refused() {
        assert!(server_name("imap.example.org").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(matches!(
            server_name("not a name"),
            Err(ImapError::InvalidServerName { .. })
        ));
    }
}
