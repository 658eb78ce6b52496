//! Filing what a user wrote: a copy of a sent message in the Sent folder,
//! drafts in the Drafts folder, and the marks a reply or a forward leaves
//! on the original.
//!
//! Folders are found by their special use (RFC 6154), never by name. A
//! draft is known by its Message-ID, which stays the same across saves:
//! saving appends the new version first and only then removes every older
//! one with that Message-ID, so a failed save never loses the last one and
//! a double submit leaves one draft. Every change drops or corrects the
//! cached state at once; writes are never retried.
//!
//! # Limitations
//!
//! - Removing older drafts needs UIDPLUS (UID EXPUNGE); without it the old
//!   versions stay marked `\Deleted` until another client expunges.

use mailfront_imap::{FlagOp, ImapError, SearchCriteria};

use super::{FolderRole, MailError, MailService};
use crate::metrics::bump;
use crate::pool::Credentials;

/// Where a message was filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledCopy {
    pub raw_name: String,
    /// The new message's UID, when the server reports it (UIDPLUS).
    pub uid: Option<u32>,
}

impl MailService {
    /// APPENDs `bytes` to the folder with `role`, with `flags`.
    ///
    /// Fails with [`MailError::NoFolderWithRole`] when the account has no
    /// such folder and with [`MailError::OverQuota`] when the server says
    /// the account is full.
    pub async fn file_message(
        &self,
        credentials: &Credentials,
        role: FolderRole,
        flags: &[&str],
        bytes: &[u8],
    ) -> Result<FiledCopy, MailError> {
        let folder = self
            .folder_with_role(credentials, role)
            .await?
            .ok_or(MailError::NoFolderWithRole(role))?;
        let account = credentials.user.as_str();
        let mut connection = self.pool.borrow(credentials, None).await?;

        bump(&self.metrics.commands.other);
        let appended = connection.append(&folder.raw_name, flags, bytes).await;
        let uid = match appended {
            Ok(uid) => uid,
            Err(error) if is_over_quota(&error) => return Err(MailError::OverQuota),
            Err(error) => {
                return Err(self.forget_on_missing(account, &folder.raw_name, error.into()))
            }
        };

        self.refresh_counts(&mut connection, account, &folder.raw_name, None)
            .await;
        Ok(FiledCopy {
            raw_name: folder.raw_name,
            uid,
        })
    }

    /// Removes for good every message of `raw_name` whose Message-ID is
    /// `message_id`, except `keep`. Returns how many were removed; none when
    /// the server lacks UIDPLUS (see the module's limitations).
    pub async fn remove_by_message_id(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        message_id: &str,
        keep: Option<u32>,
    ) -> Result<usize, MailError> {
        let account = credentials.user.as_str();
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        self.ensure_selected(&mut connection, account, raw_name)
            .await?;

        bump(&self.metrics.commands.other);
        let criteria = SearchCriteria::Header("Message-ID".to_owned(), message_id.to_owned());
        let mut found = connection.uid_search(&criteria).await?;
        found.retain(|uid| Some(*uid) != keep);
        if found.is_empty() || !connection.capabilities().uidplus() {
            self.absorb_events(&mut connection, account);
            return Ok(0);
        }

        bump(&self.metrics.commands.store);
        connection
            .store_flags(&found, FlagOp::Add, &["\\Deleted"])
            .await?;
        bump(&self.metrics.commands.other);
        connection.uid_expunge(&found).await?;

        self.absorb_events(&mut connection, account);
        if let Some(state) = self.cache.mailbox(account, raw_name) {
            super::sync::lock(&state).remove(&found);
        }
        self.refresh_counts(&mut connection, account, raw_name, None)
            .await;
        Ok(found.len())
    }
}

/// Whether a refusal says the account is out of space (RFC 9208
/// `OVERQUOTA`, or RFC 5530's older wording for it).
fn is_over_quota(error: &ImapError) -> bool {
    matches!(
        error,
        ImapError::CommandFailed { code: Some(code), .. }
            if code.eq_ignore_ascii_case("OVERQUOTA") || code.eq_ignore_ascii_case("LIMIT")
    )
}
