//! Opening one message: its raw bytes, fetched by UID within the UIDVALIDITY
//! the link was made for, and marked \Seen as any mail client does.
//!
//! A link whose UIDVALIDITY no longer matches the mailbox never shows a
//! message: the UID may now name a different one.

use super::{retry_read_once, MailError, MailService};
use crate::metrics::bump;
use crate::pool::Credentials;
use mailfront_imap::FlagOp;

/// A message as fetched, before rendering.
#[derive(Debug, Clone)]
pub struct OpenedMessage {
    pub uid: u32,
    pub uidvalidity: u32,
    pub raw: Vec<u8>,
    pub flags: Vec<String>,
    /// When the server received the message; shown when the Date header is
    /// missing or unreadable, as the list does.
    pub internal_date: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl MailService {
    /// Fetches a message and marks it \Seen when `mark_seen` is set.
    pub async fn open_message(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        uidvalidity: u32,
        uid: u32,
        mark_seen: bool,
    ) -> Result<OpenedMessage, MailError> {
        let mut opened = retry_read_once!(
            self,
            self.fetch_message_once(credentials, raw_name, uidvalidity, uid)
                .await
        )?;

        let seen = opened
            .flags
            .iter()
            .any(|f| f.eq_ignore_ascii_case("\\Seen"));
        if mark_seen && !seen {
            let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
            if self.ensure_selected(&mut connection, raw_name).await? == uidvalidity {
                bump(&self.metrics.commands.store);
                connection
                    .store_flags(&[uid], FlagOp::Add, &["\\Seen"])
                    .await?;
                opened.flags.push("\\Seen".to_owned());
            }
        }
        Ok(opened)
    }

    async fn fetch_message_once(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        uidvalidity: u32,
        uid: u32,
    ) -> Result<OpenedMessage, MailError> {
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        if self.ensure_selected(&mut connection, raw_name).await? != uidvalidity {
            return Err(MailError::MessageGone);
        }

        bump(&self.metrics.commands.fetch);
        let summary = connection
            .fetch_summaries(&[uid])
            .await?
            .into_iter()
            .find(|found| found.uid == uid)
            .ok_or(MailError::MessageGone)?;

        bump(&self.metrics.commands.fetch);
        let raw = match connection.fetch_message(uid, self.max_message_bytes).await {
            Ok(Some(raw)) => raw,
            Ok(None) => return Err(MailError::MessageGone),
            Err(mailfront_imap::ImapError::ResponseTooLarge { .. }) => {
                return Err(MailError::MessageTooLarge {
                    limit: self.max_message_bytes,
                })
            }
            Err(error) => return Err(error.into()),
        };
        Ok(OpenedMessage {
            uid,
            uidvalidity,
            raw,
            flags: summary.flags,
            internal_date: summary.internal_date,
        })
    }
}
