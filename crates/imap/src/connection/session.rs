//! Connection-level commands: greeting, STARTTLS, CAPABILITY, LOGIN, ENABLE,
//! NOOP and LOGOUT (RFC 3501 sections 6.1 and 6.2, RFC 5161).
//!
//! LOGIN failures are mapped to what the caller must do: wrong credentials,
//! too many connections, or a server that is unavailable for now. The
//! password only ever leaves this module inside the command bytes; it is
//! never logged or put in an error.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::time::{timeout, Instant};
use tracing::{info, instrument, warn};

use super::transport::{handshake, Transport};
use super::Connection;
use crate::command::Command;
use crate::error::{ImapError, RefusalKind, Stage};
use crate::quirks;
use crate::secret::Secret;
use crate::wire::response::{Response, StatusKind, Untagged};

impl Connection {
    /// Reads the greeting and takes capabilities from its code.
    pub(super) async fn read_greeting(&mut self) -> Result<(), ImapError> {
        let deadline = Instant::now() + self.timeouts.greeting;
        let read = self
            .read_response(self.policy(Stage::Greeting), deadline)
            .await?;

        let status = match read.parsed {
            Ok(Response::Untagged(Untagged::Status(status))) => status,
            Ok(_) | Err(_) => {
                self.usable = false;
                return Err(ImapError::UnexpectedGreeting {
                    detail: "not an untagged status".into(),
                });
            }
        };
        match status.kind {
            StatusKind::Ok => {
                if let Some(code) = &status.code {
                    self.observe_code(code, &status.text);
                }
                Ok(())
            }
            StatusKind::Bye => {
                self.usable = false;
                Err(ImapError::Refused { text: status.text })
            }
            StatusKind::Preauth => {
                self.usable = false;
                Err(ImapError::UnexpectedGreeting {
                    detail: "PREAUTH".into(),
                })
            }
            _ => {
                self.usable = false;
                Err(ImapError::UnexpectedGreeting {
                    detail: "a NO or BAD greeting".into(),
                })
            }
        }
    }

    /// Upgrades to TLS. Bytes the server sent after its OK and before the
    /// handshake would be a response injection, so they fail the connection.
    pub(super) async fn start_tls(
        &mut self,
        name: ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<(), ImapError> {
        if self.capabilities.is_empty() {
            self.refresh_capabilities(Stage::Command).await?;
        }
        if !self.capabilities.starttls() {
            self.usable = false;
            return Err(ImapError::StartTlsUnavailable);
        }

        self.execute(Command::new("STARTTLS"), self.policy(Stage::Command), Some)
            .await?;
        if self.reader.has_buffered() {
            self.usable = false;
            return Err(ImapError::Protocol {
                detail: "data after the STARTTLS completion".into(),
            });
        }

        let Transport::Plain(tcp) = std::mem::replace(&mut self.transport, Transport::Closed)
        else {
            self.usable = false;
            return Err(ImapError::Protocol {
                detail: "STARTTLS on a stream that is not plain".into(),
            });
        };
        let deadline = Instant::now() + self.timeouts.connect;
        self.transport = handshake(tcp, name, tls, deadline)
            .await
            .map_err(|e| self.fail_setup(e))?;

        // Capabilities announced before TLS must not be trusted.
        self.set_capabilities(Default::default());
        self.refresh_capabilities(Stage::Command).await
    }

    fn fail_setup(&mut self, error: ImapError) -> ImapError {
        self.usable = false;
        error
    }

    /// Asks CAPABILITY and stores the answer.
    pub(super) async fn refresh_capabilities(&mut self, stage: Stage) -> Result<(), ImapError> {
        let before = self.capability_updates;
        self.execute(Command::new("CAPABILITY"), self.policy(stage), Some)
            .await?;
        if self.capability_updates == before {
            warn!("the server answered CAPABILITY without a capability list");
        }
        Ok(())
    }

    /// Logs in with LOGIN. User name and password are sent as quoted
    /// strings, or as literals when they hold 8-bit bytes or line breaks
    /// (non-synchronizing with LITERAL+ or LITERAL-).
    /// Capabilities are then refreshed (from the completion's code, or by
    /// asking), and CONDSTORE is enabled when offered (QRESYNC when offered,
    /// which implies it).
    ///
    /// Errors: [`ImapError::AuthenticationFailed`] for a plain NO and for
    /// `AUTHENTICATIONFAILED`, `AUTHORIZATIONFAILED` and `EXPIRED`;
    /// [`ImapError::ConnectionLimit`] for `LIMIT` or Dovecot's text;
    /// [`ImapError::Unavailable`] for `UNAVAILABLE`;
    /// [`ImapError::LoginDisabled`] when the server announced LOGINDISABLED.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn login(&mut self, user: &str, password: &Secret<String>) -> Result<(), ImapError> {
        if self.capabilities.login_disabled() {
            return Err(ImapError::LoginDisabled);
        }

        let command = Command::new("LOGIN")
            .sensitive()
            .string(user.as_bytes())
            .string(password.expose().as_bytes());
        let before = self.capability_updates;
        match self.execute(command, self.policy(Stage::Login), Some).await {
            Ok(_) => {}
            Err(ImapError::CommandFailed {
                status: RefusalKind::No,
                code,
                text,
                ..
            }) => {
                return Err(login_refusal(code, &text));
            }
            Err(e) => return Err(e),
        }
        self.authenticated = true;
        self.span.record("user", user);

        if self.capability_updates == before {
            self.refresh_capabilities(Stage::Login).await?;
        }
        self.enable_condstore().await?;
        info!(user, "logged in");
        Ok(())
    }

    /// Sends ENABLE QRESYNC or ENABLE CONDSTORE when the server offers them;
    /// a refusal is logged and otherwise ignored.
    async fn enable_condstore(&mut self) -> Result<(), ImapError> {
        let caps = &self.capabilities;
        let extension = match (caps.enable(), caps.qresync(), caps.has("CONDSTORE")) {
            (true, true, _) => "QRESYNC",
            (true, false, true) => "CONDSTORE",
            _ => return Ok(()),
        };

        let command = Command::new("ENABLE").raw(" ").raw(extension);
        let mut enabled = Vec::new();
        let claim = |response| match response {
            Untagged::Enabled(names) => {
                enabled.extend(names);
                None
            }
            other => Some(other),
        };
        match self
            .execute(command, self.policy(Stage::Login), claim)
            .await
        {
            Ok(_) => {
                self.qresync_enabled = enabled.iter().any(|n| n.eq_ignore_ascii_case("QRESYNC"));
                Ok(())
            }
            Err(ImapError::CommandFailed { code, .. }) => {
                warn!(
                    extension,
                    code = code.as_deref(),
                    "the server refused ENABLE"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Tells the server who the client is with ID (RFC 2971), when the server
    /// offers ID; otherwise does nothing. Fields are sent as quoted strings or
    /// literals, never raw. A server refusal is ignored: ID only informs.
    ///
    /// A web front sends the address of the person signing in here, as
    /// `x-originating-ip`: a server that trusts the front (Dovecot's
    /// `login_trusted_networks`) then counts failed logins per person rather
    /// than per front.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn send_client_id(&mut self, fields: &[(&str, &str)]) -> Result<(), ImapError> {
        if !self.capabilities.has("ID") || fields.is_empty() {
            return Ok(());
        }
        let mut command = Command::new("ID").raw(" (");
        for (index, (key, value)) in fields.iter().enumerate() {
            if index > 0 {
                command = command.raw(" ");
            }
            command = command
                .string(key.as_bytes())
                .raw(" ")
                .string(value.as_bytes());
        }
        command = command.raw(")");
        match self.execute(command, self.policy(Stage::Login), Some).await {
            Ok(_) => Ok(()),
            Err(ImapError::CommandFailed { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Sends NOOP, which also collects pending untagged news as events.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn noop(&mut self) -> Result<(), ImapError> {
        self.execute(Command::new("NOOP"), self.policy(Stage::Command), Some)
            .await
            .map(|_| ())
    }

    /// Says LOGOUT and closes the socket; best effort, bounded by the
    /// command timeout. Errors are ignored: the connection is gone anyway.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn logout(mut self) {
        let deadline = Instant::now() + self.timeouts.command;
        if self.is_usable() {
            let _ = self
                .execute(Command::new("LOGOUT"), self.policy(Stage::Command), Some)
                .await;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = timeout(left, self.transport.shutdown()).await;
        info!("logged out");
    }
}

/// Maps a NO to LOGIN onto the condition the caller acts on.
fn login_refusal(code: Option<String>, text: &str) -> ImapError {
    let code_is = |name: &str| {
        code.as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(name))
    };
    if code_is("LIMIT") || quirks::is_connection_limit_text(text) {
        ImapError::ConnectionLimit
    } else if code_is("UNAVAILABLE") {
        ImapError::Unavailable
    } else {
        ImapError::AuthenticationFailed { code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_refusals_map_to_conditions() {
        assert!(matches!(
            login_refusal(None, "Authentication failed."),
            ImapError::AuthenticationFailed { code: None }
        ));
        assert!(matches!(
            login_refusal(Some("AUTHENTICATIONFAILED".into()), "x"),
            ImapError::AuthenticationFailed { .. }
        ));
        assert!(matches!(
            login_refusal(Some("EXPIRED".into()), "x"),
            ImapError::AuthenticationFailed { .. }
        ));
        assert!(matches!(
            login_refusal(Some("LIMIT".into()), "x"),
            ImapError::ConnectionLimit
        ));
        assert!(matches!(
            login_refusal(None, "Maximum number of connections from user+IP exceeded"),
            ImapError::ConnectionLimit
        ));
        assert!(matches!(
            login_refusal(Some("UNAVAILABLE".into()), "x"),
            ImapError::Unavailable
        ));
    }
}
