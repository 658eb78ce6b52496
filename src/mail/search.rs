//! Searching a folder: the messages that match a [`SearchQuery`], in one of
//! the folder's orders, paged like the folder itself.
//!
//! The server does the matching. With SORT, one `UID SORT` with the search
//! criteria gives the matches in order (the same sort keys as the folder).
//! Without it, `UID SEARCH` (ESEARCH when advertised) gives the matches and
//! the folder's own list in that order, sorted here from the cached sort
//! keys (`client_sort`), keeps those among them.
//!
//! Results are cached in the mailbox's state, keyed by query and order, and
//! stamped with the markers (UIDNEXT, HIGHESTMODSEQ, message count) of the
//! state they were found in; the state's UIDVALIDITY is implied, since a
//! new one drops the state. Before every use the state is validated against
//! the server like a folder view (NOOP and STATUS, see `sync`), and a result
//! is served only when its stamp equals the markers just validated: any
//! message added or removed, and with CONDSTORE any flag changed, makes the
//! search run again. The state also forgets its results at once when
//! mailfront itself changes messages or flags.
//!
//! A search the server refuses (NO or BAD) is [`MailError::SearchRefused`],
//! which the folder page words as such; the connection stays in the pool.
//!
//! # Limitations
//! - A first search in a folder that is not cached yet loads the folder's
//!   state first, as its first view would (the whole UID list sorted in the
//!   asked order, or every message's sort keys without SORT), so that rows
//!   and their validation are shared with the folder.
//! - Without CONDSTORE, flag changes leave no marker, so searches for unread
//!   or flagged messages are run again at every view and never cached.
//! - A message that arrives between the validation and the search is left
//!   out of that view and shows at the next one, when the validation has
//!   merged it.

use std::collections::HashSet;
use std::sync::Arc;

use mailfront_imap::{Connection, ImapError};

use super::query::SearchQuery;
use super::sync::lock;
use super::{retry_read_once, MailError, MailService, MailboxPage, PageRequest, SortOrder};
use crate::cache::SharedMailbox;
use crate::metrics::bump;
use crate::pool::Credentials;

impl MailService {
    /// One page of the messages of a folder that match `query`, in `sort`.
    pub async fn search_page(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        query: &SearchQuery,
        request: PageRequest,
        sort: SortOrder,
    ) -> Result<MailboxPage, MailError> {
        retry_read_once!(
            self,
            self.search_page_once(credentials, raw_name, query, request, sort)
                .await
        )
    }

    async fn search_page_once(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        query: &SearchQuery,
        request: PageRequest,
        sort: SortOrder,
    ) -> Result<MailboxPage, MailError> {
        let account = credentials.user.as_str();
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        let state = self
            .validated_state(&mut connection, account, raw_name, sort)
            .await?;
        let matches = self
            .search_results(&mut connection, account, raw_name, &state, query, sort)
            .await?;
        self.page_of_list(
            connection,
            credentials,
            raw_name,
            &state,
            &matches,
            request,
            sort,
        )
        .await
    }

    /// The UIDs of the validated `state` that match `query`, in `order`:
    /// from the state's results when they were found at its current
    /// markers, else from the server.
    pub(crate) async fn search_results(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        state: &SharedMailbox,
        query: &SearchQuery,
        order: SortOrder,
    ) -> Result<Arc<Vec<u32>>, MailError> {
        let markers = {
            let known = lock(state);
            let markers = known.markers();
            if let Some(found) = known.searches.get(query, order, markers) {
                tracing::debug!(mailbox = raw_name, "search served from the cache");
                return Ok(found);
            }
            markers
        };

        self.ensure_selected(connection, account, raw_name).await?;
        let criteria = query.criteria();
        let in_order = if connection.capabilities().sort() {
            bump(&self.metrics.commands.sort);
            let mut uids = connection
                .uid_sort(&super::sort_keys(order), &criteria)
                .await
                .map_err(search_refusal)?;
            if order.descending {
                uids.reverse();
            }
            uids
        } else {
            bump(&self.metrics.commands.search);
            let found: HashSet<u32> = connection
                .uid_search(&criteria)
                .await
                .map_err(search_refusal)?
                .into_iter()
                .collect();
            let (list, _) = self
                .sorted_list(connection, account, raw_name, state, order)
                .await?;
            list.iter()
                .copied()
                .filter(|uid| found.contains(uid))
                .collect()
        };

        let mut known = lock(state);
        // Matches the validated state does not hold yet (mail that arrived
        // meanwhile) wait for the next view, when validation has merged them.
        let matches: Vec<u32> = in_order
            .into_iter()
            .filter(|uid| known.uids.binary_search(uid).is_ok())
            .collect();
        let matches = Arc::new(matches);
        let cacheable = markers.highestmodseq.is_some() || !query.depends_on_flags();
        if cacheable && known.markers() == markers {
            known
                .searches
                .insert(query.clone(), order, markers, matches.clone());
        }
        tracing::debug!(
            mailbox = raw_name,
            matches = matches.len(),
            "search run on the server"
        );
        Ok(matches)
    }
}

/// What a refused SEARCH or SORT means for the user: a search the server
/// will not run (NO or BAD, say for a charset it lacks), on a connection
/// that is still in step. Only the command and the response code are
/// logged: the server's text may repeat the search.
fn search_refusal(error: ImapError) -> MailError {
    match error {
        ImapError::CommandFailed { command, code, .. } => {
            tracing::debug!(command, ?code, "search refused by the server");
            MailError::SearchRefused
        }
        other => other.into(),
    }
}
