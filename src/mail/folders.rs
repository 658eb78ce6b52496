//! The folder list: LIST plus STATUS, arranged the way people expect to see
//! it: Inbox first, then the folders with a special use in a fixed order,
//! then every other folder as an indented tree.
//!
//! Counts come from STATUS, asked for in the background after a new LIST
//! (see [`MailService::folders`]).
//!
//! Names are kept twice: the server's raw name (modified UTF-7, sent back
//! to the server unchanged) and the decoded name for display.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mailfront_imap::{decode_mailbox_name, Connection, ListedMailbox};

use super::{retry_read_once, MailError, MailService};
use crate::metrics::bump;
use crate::pool::Credentials;

/// The role of a special-use folder (RFC 6154), in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FolderRole {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Archive,
    Junk,
}

impl FolderRole {
    pub fn label(self) -> &'static str {
        match self {
            FolderRole::Inbox => "Inbox",
            FolderRole::Sent => "Sent",
            FolderRole::Drafts => "Drafts",
            FolderRole::Trash => "Trash",
            FolderRole::Archive => "Archive",
            FolderRole::Junk => "Junk",
        }
    }

    /// From a LIST attribute such as `\Sent`.
    fn from_attribute(attribute: &str) -> Option<FolderRole> {
        let role = match attribute.to_ascii_lowercase().as_str() {
            "\\sent" => FolderRole::Sent,
            "\\drafts" => FolderRole::Drafts,
            "\\trash" => FolderRole::Trash,
            "\\archive" => FolderRole::Archive,
            "\\junk" => FolderRole::Junk,
            _ => return None,
        };
        Some(role)
    }

    /// From a well-known top-level name, for servers without SPECIAL-USE.
    fn from_common_name(name: &str) -> Option<FolderRole> {
        let role = match name.to_ascii_lowercase().as_str() {
            "sent" | "sent messages" | "sent items" | "sent mail" => FolderRole::Sent,
            "drafts" => FolderRole::Drafts,
            "trash" | "deleted messages" | "deleted items" => FolderRole::Trash,
            "archive" | "archives" => FolderRole::Archive,
            "junk" | "spam" | "junk e-mail" => FolderRole::Junk,
            _ => return None,
        };
        Some(role)
    }
}

/// One line of the folder list.
#[derive(Debug, Clone)]
pub struct Folder {
    /// The server's name, unchanged; what SELECT and links carry.
    pub raw_name: String,
    /// The last level of the decoded name (or the role's label).
    pub label: String,
    /// The whole decoded name, levels joined with " › ".
    pub full_label: String,
    /// Indentation level in the tree (0 at the top).
    pub depth: usize,
    pub role: Option<FolderRole>,
    /// False for `\Noselect` folders and for parents the server did not list.
    pub selectable: bool,
    pub unseen: Option<u32>,
    pub total: Option<u32>,
    /// The server's hierarchy delimiter for this name; `None` for a flat
    /// name space.
    pub delimiter: Option<char>,
}

impl MailService {
    /// The folder list with message and unread counts.
    ///
    /// A list younger than the configured time to live is served from the
    /// cache. An older or missing one is fetched anew with LIST alone, one
    /// round trip, keeping the counts of the list before; every folder's
    /// counts are then asked for with STATUS in the background, on a spare
    /// connection, and stored in the cached list. A STATUS is cheap on a
    /// server process that has the folder open, but on a new one Dovecot
    /// opens the folder's index first, several milliseconds per folder:
    /// asked for in line, the counts of every folder would delay the first
    /// page after sign-in by their sum.
    ///
    /// So the first page after sign-in shows the counts of the folder being
    /// viewed (from its validation) and those of the others from the next
    /// page on. Where no spare connection can be lent (a cap of one, or a
    /// login per request) the counts are asked for in line. The counts of a
    /// folder are corrected whenever that folder is validated for a page.
    pub async fn folders(&self, credentials: &Credentials) -> Result<Vec<Folder>, MailError> {
        let account = credentials.user.as_str();
        if let Some(listing) = self.cache.folders(account) {
            if !listing.counted {
                self.count_folders_in_background(credentials);
            }
            return Ok(listing.folders.clone());
        }

        let in_line = !self.pool.lends_spares(account);
        let mut folders = retry_read_once!(self, self.folders_once(credentials, in_line).await)?;
        if !in_line {
            if let Some(before) = self.cache.folders_of_any_age(account) {
                carry_counts(&mut folders, &before.folders);
            }
        }
        self.cache.store_folders(account, folders.clone(), in_line);
        if !in_line {
            self.count_folders_in_background(credentials);
        }
        Ok(folders)
    }

    /// The folder list as the server has it now, with every folder's counts,
    /// ignoring the cached one (which is replaced): for pages that change
    /// folders, where a folder another program made or removed a moment ago
    /// must be right.
    pub async fn fresh_folders(&self, credentials: &Credentials) -> Result<Vec<Folder>, MailError> {
        let folders = retry_read_once!(self, self.folders_once(credentials, true).await)?;
        self.cache
            .store_folders(&credentials.user, folders.clone(), true);
        Ok(folders)
    }

    async fn folders_once(
        &self,
        credentials: &Credentials,
        with_counts: bool,
    ) -> Result<Vec<Folder>, MailError> {
        let mut connection = self.pool.borrow(credentials, None).await?;
        bump(&self.metrics.commands.list);
        let listed = connection.list_mailboxes().await?;
        let mut folders = arrange(&listed);
        if with_counts {
            self.add_counts(&mut connection, &mut folders).await?;
        }
        self.absorb_events(&mut connection, &credentials.user);
        Ok(folders)
    }

    /// Asks for every folder's counts on a spare connection, unless that is
    /// already under way for the account or no spare connection is free; a
    /// later page view tries again while the list is not counted.
    fn count_folders_in_background(&self, credentials: &Credentials) {
        let account = credentials.user.clone();
        if !self.folder_counting.begin(&account) {
            return;
        }
        let service = self.clone();
        let credentials = credentials.clone();
        let running = self.metrics.background_task();
        tokio::spawn(async move {
            let _running = running;
            let _done = service.folder_counting.end_when_dropped(&account);
            let Some(mut connection) = service.pool.borrow_spare(&credentials).await else {
                return;
            };
            let Some(listing) = service.cache.folders_of_any_age(&account) else {
                return;
            };
            let mut folders = listing.folders.clone();
            match service.add_counts(&mut connection, &mut folders).await {
                Ok(()) => service.cache.store_folder_counts(&account, &folders),
                Err(error) => tracing::debug!(%error, "folder counts not fetched"),
            }
            service.absorb_events(&mut connection, &account);
        });
    }

    async fn add_counts(
        &self,
        connection: &mut Connection,
        folders: &mut [Folder],
    ) -> Result<(), MailError> {
        for folder in folders.iter_mut().filter(|f| f.selectable) {
            bump(&self.metrics.commands.status);
            match connection.status(&folder.raw_name).await {
                Ok(status) => {
                    folder.total = status.messages;
                    folder.unseen = status.unseen;
                }
                Err(error) if error.is_connection_lost() => return Err(error.into()),
                Err(error) => {
                    tracing::debug!(%error, "status failed; folder shown without counts");
                }
            }
        }
        Ok(())
    }
}

/// Gives each folder of a new list the counts it had in the list before.
fn carry_counts(folders: &mut [Folder], before: &[Folder]) {
    for folder in folders.iter_mut().filter(|f| f.selectable) {
        if let Some(old) = before.iter().find(|b| b.raw_name == folder.raw_name) {
            folder.total = old.total;
            folder.unseen = old.unseen;
        }
    }
}

/// Accounts whose folder counts are being fetched in the background.
#[derive(Debug, Clone, Default)]
pub(crate) struct FolderCounting {
    accounts: Arc<Mutex<HashSet<String>>>,
}

impl FolderCounting {
    /// Marks the account's counting as under way; false when it already was.
    fn begin(&self, account: &str) -> bool {
        self.lock().insert(account.to_owned())
    }

    /// Unmarks the account when the returned guard is dropped, however the
    /// counting task ends.
    fn end_when_dropped(&self, account: &str) -> CountingDone {
        CountingDone {
            counting: self.clone(),
            account: account.to_owned(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct CountingDone {
    counting: FolderCounting,
    account: String,
}

impl Drop for CountingDone {
    fn drop(&mut self) {
        self.counting.lock().remove(&self.account);
    }
}

/// Orders the listed folders: Inbox, special-use folders by role, then the
/// rest as a tree sorted by decoded name, with unlisted parents filled in.
pub fn arrange(listed: &[ListedMailbox]) -> Vec<Folder> {
    let mut special = Vec::new();
    let mut rest: Vec<(Vec<String>, &ListedMailbox)> = Vec::new();
    let has_special_use = listed.iter().any(|m| {
        m.attributes
            .iter()
            .any(|a| FolderRole::from_attribute(a).is_some())
    });

    for mailbox in listed {
        let levels = levels_of(mailbox);
        let role = if mailbox.raw_name.eq_ignore_ascii_case("INBOX") {
            Some(FolderRole::Inbox)
        } else if has_special_use {
            mailbox
                .attributes
                .iter()
                .find_map(|a| FolderRole::from_attribute(a))
        } else if levels.len() == 1 {
            FolderRole::from_common_name(&levels[0])
        } else {
            None
        };
        match role {
            Some(role) => special.push((role, mailbox, levels)),
            None => rest.push((levels, mailbox)),
        }
    }

    special.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.raw_name.cmp(&b.1.raw_name)));
    let mut folders: Vec<Folder> = special
        .into_iter()
        .map(|(role, mailbox, levels)| {
            let label = if role == FolderRole::Inbox {
                "Inbox".to_owned()
            } else {
                levels.join(" › ")
            };
            (role, mailbox, label)
        })
        .map(|(role, mailbox, label)| Folder {
            raw_name: mailbox.raw_name.clone(),
            full_label: label.clone(),
            label,
            depth: 0,
            role: Some(role),
            selectable: !is_noselect(mailbox),
            unseen: None,
            total: None,
            delimiter: mailbox.delimiter,
        })
        .collect();

    rest.sort_by(|a, b| compare_levels(&a.0, &b.0));
    // A special folder can be the parent of others (Archive/2004). It is
    // listed above already, so its children stand at the top of the tree
    // under their full name instead of under a second, unselectable copy.
    let special_paths: Vec<Vec<String>> = listed
        .iter()
        .filter(|m| !rest.iter().any(|(_, r)| r.raw_name == m.raw_name))
        .map(levels_of)
        .collect();
    let mut emitted: Vec<Vec<String>> = Vec::new();
    for (levels, mailbox) in rest {
        let under_special = special_paths
            .iter()
            .any(|special| levels.len() > special.len() && levels.starts_with(special));
        if under_special {
            folders.push(Folder {
                raw_name: mailbox.raw_name.clone(),
                label: levels.join(" › "),
                full_label: levels.join(" › "),
                depth: 0,
                role: None,
                selectable: !is_noselect(mailbox),
                unseen: None,
                total: None,
                delimiter: mailbox.delimiter,
            });
            continue;
        }
        for depth in 0..levels.len().saturating_sub(1) {
            let parent = &levels[..=depth];
            if !emitted.iter().any(|e| e.as_slice() == parent) {
                emitted.push(parent.to_vec());
                folders.push(Folder {
                    raw_name: String::new(),
                    label: parent[depth].clone(),
                    full_label: parent.join(" › "),
                    depth,
                    role: None,
                    selectable: false,
                    unseen: None,
                    total: None,
                    delimiter: mailbox.delimiter,
                });
            }
        }
        emitted.push(levels.clone());
        folders.push(Folder {
            raw_name: mailbox.raw_name.clone(),
            label: levels.last().cloned().unwrap_or_default(),
            full_label: levels.join(" › "),
            depth: levels.len().saturating_sub(1),
            role: None,
            selectable: !is_noselect(mailbox),
            unseen: None,
            total: None,
            delimiter: mailbox.delimiter,
        });
    }
    folders
}

/// The levels of a folder's decoded name; a top level INBOX (any case, as
/// IMAP treats it) reads "Inbox", as the Inbox itself does.
fn levels_of(mailbox: &ListedMailbox) -> Vec<String> {
    let decoded = decode_mailbox_name(&mailbox.raw_name);
    let mut levels: Vec<String> = match mailbox.delimiter {
        Some(delimiter) => decoded.split(delimiter).map(str::to_owned).collect(),
        None => vec![decoded],
    };
    if let Some(top) = levels
        .first_mut()
        .filter(|top| top.eq_ignore_ascii_case("INBOX"))
    {
        *top = FolderRole::Inbox.label().to_owned();
    }
    levels
}

fn is_noselect(mailbox: &ListedMailbox) -> bool {
    mailbox
        .attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent"))
}

fn compare_levels(a: &[String], b: &[String]) -> std::cmp::Ordering {
    let key =
        |levels: &[String]| -> Vec<String> { levels.iter().map(|l| l.to_lowercase()).collect() };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(name: &str, attributes: &[&str]) -> ListedMailbox {
        ListedMailbox {
            raw_name: name.to_owned(),
            delimiter: Some('/'),
            attributes: attributes.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn a_special_folder_with_children_is_listed_once() {
        let folders = arrange(&[
            listed("INBOX", &[]),
            listed("Archive", &["\\HasChildren", "\\Archive"]),
            listed("Archive/2004", &[]),
            listed("Lists/linux", &[]),
        ]);
        let labels: Vec<&str> = folders.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(
            labels,
            vec!["Inbox", "Archive", "Archive › 2004", "Lists", "linux"]
        );
        assert_eq!(
            folders.iter().filter(|f| !f.selectable).count(),
            1,
            "only Lists"
        );
    }
}
