//! Message commands on the selected mailbox, all by UID: SEARCH, SORT,
//! FETCH, STORE, COPY, MOVE, EXPUNGE, and APPEND (RFC 3501 section 6.4,
//! RFC 4315, RFC 4731, RFC 5256, RFC 6851).
//!
//! UID lists go out as compact sets; a FETCH over a whole mailbox is cut
//! into several commands of bounded length. FETCH responses are matched to the
//! request by UID: a response for a message that was not asked for, or that
//! carries no UID, is news about the mailbox and becomes a
//! [`crate::MailboxEvent::FlagsChanged`] event, never a result row. Message
//! bodies are never logged.

use std::collections::{HashMap, HashSet};

use tracing::{instrument, warn};

use super::mailboxes::mailbox_refusal;
use super::{Completion, Connection};
use crate::command::{check_flag, search_command, sort_command, Command};
use crate::error::{ImapError, Stage};
use crate::types::{Envelope, FlagOp, MessageSummary, SearchCriteria, SortKey, SortKeys};
use crate::wire::fetch::FetchData;
use crate::wire::header_fields::field_value;
use crate::wire::response::{Code, Untagged};
use crate::wire::sequence::{batches, compact_set};

/// The most UIDs one `fetch_sort_keys` command asks for: about 400 KB of
/// answer, which Dovecot 2.3 sent in 0.25 s when it had to read every
/// message file and in 35 ms from its cache, far within a command timeout.
const SORT_KEYS_BATCH: usize = 2_000;

/// The longest UID set one command carries. RFC 7162 section 4 advises
/// clients to keep command lines within 8192 octets.
const MAX_SET_CHARS: usize = 8_000;

/// The header fields of one message beyond this size are skipped rather
/// than kept; the message then sorts as if it had none.
const MAX_SORT_HEADER_BYTES: usize = 256 * 1024;

impl Connection {
    /// `UID SORT (<keys>) UTF-8 <criteria>`: UIDs in sort order. Fails with
    /// [`ImapError::Unsupported`] when the server lacks SORT.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn uid_sort(
        &mut self,
        keys: &[SortKey],
        criteria: &SearchCriteria,
    ) -> Result<Vec<u32>, ImapError> {
        if !self.capabilities.sort() {
            return Err(ImapError::Unsupported { capability: "SORT" });
        }
        let command = sort_command(keys, criteria)?;

        let mut uids = Vec::new();
        let mut policy = self.policy(Stage::Command);
        policy.line = self.limits.max_result_line;
        self.execute(command, policy, |response| match response {
            Untagged::Sort(found) => {
                uids.extend(found);
                None
            }
            other => Some(other),
        })
        .await?;
        Ok(uids)
    }

    /// `UID SEARCH <criteria>` (with `RETURN (ALL)` when the server has
    /// ESEARCH, and `CHARSET UTF-8` when a string is not ASCII): matching
    /// UIDs in ascending order.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn uid_search(&mut self, criteria: &SearchCriteria) -> Result<Vec<u32>, ImapError> {
        let command = search_command(criteria, self.capabilities.esearch())?;

        let mut uids = Vec::new();
        let mut policy = self.policy(Stage::Command);
        policy.line = self.limits.max_result_line;
        self.execute(command, policy, |response| match response {
            Untagged::Search(found) | Untagged::ESearch { all: found, .. } => {
                uids.extend(found);
                None
            }
            other => Some(other),
        })
        .await?;

        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// Runs `UID FETCH <uids> <items>` and returns the data for the UIDs
    /// asked for, merged per UID. Other FETCH responses become events.
    async fn fetch_by_uid(
        &mut self,
        uids: &[u32],
        items: &str,
        keep_literal: usize,
    ) -> Result<(HashMap<u32, FetchData>, Completion), ImapError> {
        let Some(set) = compact_set(uids) else {
            return Ok((HashMap::new(), Completion::default()));
        };
        let command = Command::new("UID FETCH")
            .raw(" ")
            .raw(&set)
            .raw(" ")
            .raw(items);

        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut rows: HashMap<u32, FetchData> = HashMap::new();
        let mut policy = self.policy(Stage::Command);
        policy.keep_literal = keep_literal;
        let completion = self
            .execute(command, policy, |response| match response {
                Untagged::Fetch(data) if data.uid.is_some_and(|uid| wanted.contains(&uid)) => {
                    let uid = data.uid.unwrap_or_default();
                    match rows.get_mut(&uid) {
                        Some(row) => row.merge(*data),
                        None => {
                            rows.insert(uid, *data);
                        }
                    }
                    None
                }
                other => Some(other),
            })
            .await?;
        Ok((rows, completion))
    }

    /// `UID FETCH <uids> (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE
    /// BODYSTRUCTURE)`: one summary per UID still present, in the order of
    /// `uids` (duplicates once). Expunged UIDs are simply absent. A response
    /// for a requested UID that carries no ENVELOPE gives no row (its flags
    /// become an event). When a malformed response was skipped and rows are
    /// missing, those UIDs are fetched again without BODYSTRUCTURE (listed
    /// with their envelope and no structure), and those still missing
    /// without ENVELOPE either (listed with an empty envelope).
    #[instrument(level = "debug", parent = &self.span, skip_all, fields(count = uids.len()))]
    pub async fn fetch_summaries(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<MessageSummary>, ImapError> {
        let items = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)";
        let (mut rows, completion) = self
            .fetch_by_uid(uids, items, self.limits.max_literal)
            .await?;

        // A skipped malformed response may have been one of ours: ask again
        // for the missing UIDs without the items that are hard to parse.
        let missing: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| !rows.contains_key(u))
            .collect();
        if completion.skipped_responses > 0 && !missing.is_empty() {
            // First without the structure, which is what nests deepest and
            // most often breaks, so that sender and subject stay.
            let without_structure = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)";
            let (again, _) = self
                .fetch_by_uid(&missing, without_structure, self.limits.max_literal)
                .await?;
            for (uid, row) in again {
                if row.envelope.is_some() {
                    warn!(
                        uid,
                        "listing a message without its structure after a malformed response"
                    );
                    rows.insert(uid, row);
                }
            }
        }
        let still_missing: Vec<u32> = missing
            .iter()
            .copied()
            .filter(|u| !rows.contains_key(u))
            .collect();
        if completion.skipped_responses > 0 && !still_missing.is_empty() {
            let plain = "(UID FLAGS INTERNALDATE RFC822.SIZE)";
            let (again, _) = self
                .fetch_by_uid(&still_missing, plain, self.limits.max_literal)
                .await?;
            for (uid, mut row) in again {
                warn!(
                    uid,
                    "listing a message without its envelope after a malformed response"
                );
                row.envelope = Some(Envelope::default());
                rows.insert(uid, row);
            }
        }

        let mut out = Vec::with_capacity(rows.len());
        for &uid in uids {
            let Some(row) = rows.remove(&uid) else {
                continue;
            };
            let Some(envelope) = row.envelope else {
                self.mailbox.unclaimed_fetch(FetchData {
                    envelope: None,
                    ..row
                });
                continue;
            };
            out.push(summary(
                uid,
                row.flags,
                row.internal_date,
                row.size,
                envelope,
                row.body_structure,
            ));
        }
        Ok(out)
    }

    /// `UID FETCH <set> (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS
    /// (DATE FROM SUBJECT)])`: what sorting by the rules of RFC 5256 needs,
    /// one [`SortKeys`] per UID still present, in ascending UID order
    /// (duplicates once). Expunged UIDs are simply absent.
    ///
    /// Any number of UIDs may be asked for: they go out in commands of at
    /// most 2,000 UIDs and 8,000 bytes of UID set each, and every command
    /// has its own timeout. Flags that arrive with the answers become
    /// [`crate::MailboxEvent::FlagsChanged`] events. A message whose header
    /// fields exceed 256 KiB, or whose answer was malformed and skipped, is
    /// listed without header values.
    #[instrument(level = "debug", parent = &self.span, skip_all, fields(count = uids.len()))]
    pub async fn fetch_sort_keys(&mut self, uids: &[u32]) -> Result<Vec<SortKeys>, ImapError> {
        let items = "(UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)])";
        let mut wanted: Vec<u32> = uids.iter().copied().filter(|&uid| uid > 0).collect();
        wanted.sort_unstable();
        wanted.dedup();

        let mut out = Vec::with_capacity(wanted.len());
        for batch in batches(&wanted, SORT_KEYS_BATCH, MAX_SET_CHARS) {
            let (mut rows, completion) = self
                .fetch_by_uid(batch, items, MAX_SORT_HEADER_BYTES)
                .await?;

            // A skipped malformed response may have been one of ours: ask
            // again for the missing UIDs without the header fields.
            let missing: Vec<u32> = batch
                .iter()
                .copied()
                .filter(|uid| !rows.contains_key(uid))
                .collect();
            if completion.skipped_responses > 0 && !missing.is_empty() {
                let plain = "(UID INTERNALDATE RFC822.SIZE)";
                let (again, _) = self.fetch_by_uid(&missing, plain, 0).await?;
                for (uid, row) in again {
                    warn!(
                        uid,
                        "sorting a message without its header fields after a malformed response"
                    );
                    rows.insert(uid, row);
                }
            }

            for &uid in batch {
                if let Some(row) = rows.remove(&uid) {
                    out.push(self.sort_keys_of(uid, row));
                }
            }
        }
        Ok(out)
    }

    /// The sort keys in one message's merged answer; its flags, if any, are
    /// news about the mailbox.
    fn sort_keys_of(&mut self, uid: u32, row: FetchData) -> SortKeys {
        let header = row.header_fields.unwrap_or_default();
        let keys = SortKeys {
            uid,
            internal_date: row.internal_date,
            size: row.size,
            date: field_value(&header, "Date"),
            from: field_value(&header, "From"),
            subject: field_value(&header, "Subject"),
        };
        if row.flags.is_some() {
            self.mailbox.unclaimed_fetch(FetchData {
                seq: row.seq,
                uid: Some(uid),
                flags: row.flags,
                ..FetchData::default()
            });
        }
        keys
    }

    /// `UID FETCH <uid> (BODY.PEEK[])`: the raw message, or `None` when the
    /// UID no longer exists. When a malformed response was skipped and no
    /// body came, [`ImapError::MalformedResponse`] says so rather than
    /// `None`. A body above `max_bytes` gives
    /// [`ImapError::ResponseTooLarge`] with `usable: true`: its bytes are
    /// read and discarded, never held, and the connection stays in sync.
    #[instrument(level = "debug", parent = &self.span, skip_all, fields(uid))]
    pub async fn fetch_message(
        &mut self,
        uid: u32,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, ImapError> {
        let (mut rows, completion) = self
            .fetch_by_uid(&[uid], "(UID BODY.PEEK[])", max_bytes)
            .await?;
        if completion.skipped_literal.is_some() {
            return Err(ImapError::ResponseTooLarge {
                limit: max_bytes,
                usable: true,
            });
        }

        let body = rows.remove(&uid).and_then(|row| row.body).flatten();
        if body.is_none() && completion.skipped_responses > 0 {
            return Err(ImapError::MalformedResponse {
                command: "UID FETCH",
            });
        }
        if body.as_ref().is_some_and(|b| b.len() > max_bytes) {
            return Err(ImapError::ResponseTooLarge {
                limit: max_bytes,
                usable: true,
            });
        }
        Ok(body)
    }

    /// `UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE <modseq>)`, with `VANISHED`
    /// when QRESYNC is enabled: what changed in the selected mailbox since
    /// that mod-sequence. The answers are not returned but queued as events,
    /// like any news of the mailbox: the flags of every message changed (or
    /// added) since, by UID, and with QRESYNC the UIDs expunged since.
    /// Fails with [`ImapError::Unsupported`] when the server lacks CONDSTORE.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn fetch_changes_since(&mut self, modseq: u64) -> Result<(), ImapError> {
        if !self.capabilities.condstore() {
            return Err(ImapError::Unsupported {
                capability: "CONDSTORE",
            });
        }
        let vanished = if self.qresync_enabled {
            " VANISHED"
        } else {
            ""
        };
        let command = Command::new("UID FETCH").raw(&format!(
            " 1:* (UID FLAGS) (CHANGEDSINCE {modseq}{vanished})"
        ));

        let mut policy = self.policy(Stage::Command);
        policy.line = self.limits.max_result_line;
        self.execute(command, policy, Some).await?;
        Ok(())
    }

    /// `UID FETCH <uids> (UID FLAGS)`: the flags of each UID still present,
    /// in the order of `uids`.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn fetch_flags(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<(u32, Vec<String>)>, ImapError> {
        let (mut rows, _) = self
            .fetch_by_uid(uids, "(UID FLAGS)", self.limits.max_literal)
            .await?;

        Ok(uids
            .iter()
            .filter_map(|uid| Some((*uid, rows.remove(uid)?.flags?)))
            .collect())
    }

    /// `UID STORE <uids> +FLAGS.SILENT (<flags>)` or `-FLAGS.SILENT`. Each
    /// flag must be a valid atom (`\Seen`, `$Label`), or nothing is sent.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn store_flags(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        flags: &[&str],
    ) -> Result<(), ImapError> {
        let item = match op {
            FlagOp::Add => " +FLAGS.SILENT",
            FlagOp::Remove => " -FLAGS.SILENT",
        };
        for flag in flags {
            check_flag(flag)?;
        }
        let Some(set) = compact_set(uids) else {
            return Ok(());
        };
        if flags.is_empty() {
            return Ok(());
        }

        let command = Command::new("UID STORE")
            .raw(" ")
            .raw(&set)
            .raw(item)
            .flag_list(flags)?;
        self.execute(command, self.policy(Stage::Command), Some)
            .await
            .map(|_| ())
    }

    /// `UID COPY <uids> <mailbox>`; `MailboxNotFound` when the target is
    /// missing.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn copy(&mut self, uids: &[u32], dest_raw: &str) -> Result<(), ImapError> {
        let Some(set) = compact_set(uids) else {
            return Ok(());
        };
        let command = Command::new("UID COPY")
            .raw(" ")
            .raw(&set)
            .string(dest_raw.as_bytes());

        let result = self
            .execute(command, self.policy(Stage::Command), Some)
            .await;
        result.map(|_| ()).map_err(|e| mailbox_refusal(e, dest_raw))
    }

    /// Moves messages: `UID MOVE` when the server has MOVE; otherwise
    /// `UID COPY`, `UID STORE +FLAGS.SILENT (\Deleted)` and, with UIDPLUS,
    /// `UID EXPUNGE`.
    ///
    /// Without MOVE and UIDPLUS the originals stay in the mailbox marked
    /// `\Deleted`: a plain EXPUNGE would also remove messages other clients
    /// marked, so it is not sent.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn move_messages(&mut self, uids: &[u32], dest_raw: &str) -> Result<(), ImapError> {
        let Some(set) = compact_set(uids) else {
            return Ok(());
        };
        if self.capabilities.moves() {
            let command = Command::new("UID MOVE")
                .raw(" ")
                .raw(&set)
                .string(dest_raw.as_bytes());
            let result = self
                .execute(command, self.policy(Stage::Command), Some)
                .await;
            return result.map(|_| ()).map_err(|e| mailbox_refusal(e, dest_raw));
        }

        self.copy(uids, dest_raw).await?;
        self.store_flags(uids, FlagOp::Add, &["\\Deleted"]).await?;
        if self.capabilities.uidplus() {
            self.uid_expunge(uids).await?;
        }
        Ok(())
    }

    /// `UID EXPUNGE <uids>`: removes those messages if marked `\Deleted`.
    /// Needs UIDPLUS ([`ImapError::Unsupported`] otherwise).
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn uid_expunge(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        if !self.capabilities.uidplus() {
            return Err(ImapError::Unsupported {
                capability: "UIDPLUS",
            });
        }
        let Some(set) = compact_set(uids) else {
            return Ok(());
        };

        let command = Command::new("UID EXPUNGE").raw(" ").raw(&set);
        self.execute(command, self.policy(Stage::Command), Some)
            .await
            .map(|_| ())
    }

    /// `APPEND <mailbox> (<flags>) <literal>`: stores a message and returns
    /// its UID when the server reports one (APPENDUID, with UIDPLUS).
    ///
    /// The message goes out as a plain literal, so it must not contain NUL
    /// bytes (BINARY is not used); servers refuse such messages.
    #[instrument(level = "debug", parent = &self.span, skip_all, fields(bytes = message.len()))]
    pub async fn append(
        &mut self,
        raw_name: &str,
        flags: &[&str],
        message: &[u8],
    ) -> Result<Option<u32>, ImapError> {
        let command = Command::new("APPEND")
            .string(raw_name.as_bytes())
            .flag_list(flags)?
            .literal(message);

        let result = self
            .execute(command, self.policy(Stage::Command), Some)
            .await;
        let completion = result.map_err(|e| mailbox_refusal(e, raw_name))?;
        Ok(match completion.code {
            Some(Code::AppendUid(uid)) => Some(uid),
            _ => None,
        })
    }
}

fn summary(
    uid: u32,
    flags: Option<Vec<String>>,
    internal_date: Option<chrono::DateTime<chrono::FixedOffset>>,
    size: Option<u32>,
    envelope: Envelope,
    body: Option<crate::types::BodyStructure>,
) -> MessageSummary {
    MessageSummary {
        uid,
        flags: flags.unwrap_or_default(),
        internal_date,
        size,
        envelope,
        body,
    }
}
