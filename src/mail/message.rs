//! Opening one message: its raw bytes, fetched by UID within the UIDVALIDITY
//! the link was made for, and marked \Seen as any mail client does.
//!
//! A link whose UIDVALIDITY no longer matches the mailbox, or whose UID is no
//! longer in the validated UID list, never shows a message: the UID may now
//! name a different one, or nothing. Bodies come from the cache when they
//! are there (they never change for a UID within one UIDVALIDITY).

use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use mailfront_imap::FlagOp;

use super::listing::row_from_summary;
use super::sync::lock;
use super::{retry_read_once, MailError, MailService, Neighbour, SortOrder};
use crate::metrics::bump;
use crate::pool::Credentials;

/// A message as fetched, before rendering.
#[derive(Debug, Clone)]
pub struct OpenedMessage {
    pub uid: u32,
    pub uidvalidity: u32,
    pub raw: Arc<Vec<u8>>,
    pub flags: Vec<String>,
    /// When the server received the message; shown when the Date header is
    /// missing or unreadable, as the list does.
    pub internal_date: Option<DateTime<FixedOffset>>,
    /// The messages before and after it in the list's order, when asked
    /// for; none when they could not be worked out (the links are a
    /// convenience, the message is shown without them).
    pub neighbours: (Option<Neighbour>, Option<Neighbour>),
}

impl MailService {
    /// Fetches a message (from the cache when it can) and marks it \Seen
    /// when `mark_seen` is set; with `neighbours_in`, also finds the messages
    /// before and after it in that order, from the same validation. Marking
    /// is idempotent, so the whole operation may be retried once on a fresh
    /// connection.
    pub async fn open_message(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        uidvalidity: u32,
        uid: u32,
        mark_seen: bool,
        neighbours_in: Option<SortOrder>,
    ) -> Result<OpenedMessage, MailError> {
        let at = (uidvalidity, uid);
        retry_read_once!(
            self,
            self.open_message_once(credentials, raw_name, at, mark_seen, neighbours_in)
                .await
        )
    }

    async fn open_message_once(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        (uidvalidity, uid): (u32, u32),
        mark_seen: bool,
        neighbours_in: Option<SortOrder>,
    ) -> Result<OpenedMessage, MailError> {
        let account = credentials.user.as_str();
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        let order = neighbours_in.unwrap_or_default();
        let state = self
            .validated_state(&mut connection, account, raw_name, order)
            .await?;
        {
            let known = lock(&state);
            if known.uidvalidity != uidvalidity || known.uids.binary_search(&uid).is_err() {
                return Err(MailError::MessageGone);
            }
        }

        let cached_row = lock(&state).rows.get(&uid).cloned();
        let mut row = match cached_row {
            Some(row) => row,
            None => {
                self.ensure_selected(&mut connection, account, raw_name)
                    .await?;
                bump(&self.metrics.commands.fetch);
                let summary = connection.fetch_summaries(&[uid]).await?;
                let row = summary
                    .first()
                    .map(row_from_summary)
                    .ok_or(MailError::MessageGone)?;
                lock(&state).rows.insert(uid, row.clone());
                row
            }
        };

        let raw = match self.cache.body(account, raw_name, uidvalidity, uid) {
            Some(raw) => raw,
            None => {
                self.ensure_selected(&mut connection, account, raw_name)
                    .await?;
                bump(&self.metrics.commands.fetch);
                let raw = match connection.fetch_message(uid, self.max_message_bytes).await {
                    Ok(Some(raw)) => Arc::new(raw),
                    Ok(None) => return Err(MailError::MessageGone),
                    Err(mailfront_imap::ImapError::ResponseTooLarge { .. }) => {
                        return Err(MailError::MessageTooLarge {
                            limit: self.max_message_bytes,
                        })
                    }
                    Err(error) => return Err(error.into()),
                };
                self.cache
                    .store_body(account, raw_name, uidvalidity, uid, raw.clone());
                raw
            }
        };

        if mark_seen && row.unread {
            self.ensure_selected(&mut connection, account, raw_name)
                .await?;
            bump(&self.metrics.commands.store);
            connection
                .store_flags(&[uid], FlagOp::Add, &["\\Seen"])
                .await?;
            let mut known = lock(&state);
            known.rows.insert(uid, row.clone());
            known.apply_own_flag_change(&[uid], "\\Seen", true);
            if let Some(seen) = known.rows.get(&uid) {
                row = seen.clone();
            }
            known.unseen = known.unseen.map(|n| n.saturating_sub(1));
            let (total, unseen) = (known.uids.len() as u32, known.unseen);
            drop(known);
            self.cache
                .update_folder_counts(account, raw_name, Some(total), unseen);
        }
        let neighbours = match neighbours_in {
            Some(order) => self
                .neighbours_of(&mut connection, account, raw_name, &state, uid, order)
                .await
                .unwrap_or_else(|error| {
                    tracing::debug!(%error, "neighbours of a message unknown");
                    (None, None)
                }),
            None => (None, None),
        };
        self.absorb_events(&mut connection, account);

        Ok(OpenedMessage {
            uid,
            uidvalidity,
            raw,
            flags: row.flags,
            internal_date: row.internal_date,
            neighbours,
        })
    }
}
