//! What the record pages share: the context rows are drawn with (time, warning window,
//! bot names), the unpaged query, URL pieces and the sentences shown after a redirect.

use std::collections::HashMap;

use crate::db::entity::record;
use crate::http::ApiResult;
use crate::principal::Auth;
use crate::records::documents::service;
use crate::records::documents::store::{ListQuery, SortKey};
use crate::records::expiry::{self, Window};
use crate::records::kinds::{Kind, bots_in_column};
use crate::state::AppState;

/// The most records a page loads at once where it does not page (selects, board, month).
pub const LOAD_LIMIT: u64 = 200;

/// What rendering rows needs besides the records: the time, the warning window, the bots.
pub struct Ctx {
    /// The moment and warning window of the effective statuses shown.
    pub window: Window,
    /// (id, label) of the tenant's records of the kind the page names (its bots, or the
    /// notes a form links), by name; empty unless asked for.
    pub records: Vec<(String, String)>,
    /// What is attached to the bots shown, by kind and bot id; empty unless asked for
    /// ([`Ctx::load_attached`]).
    attached: HashMap<(&'static str, String), Vec<record::Model>>,
}

/// How the records of one kind attached to a bot stand, as a table cell shows them.
pub struct AttachedState {
    /// The worst effective status among them (`expired`, `banned`, `expiring`, ...), or
    /// `none` when nothing is attached.
    pub status: String,
    /// Days left of the one expiring first, when any expires.
    pub days_left: Option<i64>,
}

impl Ctx {
    /// The context of a page that names records of `named` (see [`Ctx::label`]).
    pub async fn load(state: &AppState, auth: &Auth, named: Option<Kind>) -> ApiResult<Self> {
        let records = match named {
            Some(kind) => labels(state, auth, kind).await?,
            None => Vec::new(),
        };
        Ok(Self {
            window: service::window(state, auth).await?,
            records,
            attached: HashMap::new(),
        })
    }

    /// Read what of `kinds` is attached to the bots `models` (a page of a bots table).
    pub async fn load_attached(
        &mut self,
        state: &AppState,
        auth: &Auth,
        kinds: &[Kind],
        models: &[record::Model],
    ) -> ApiResult<()> {
        let bots: Vec<String> = models.iter().map(|m| m.id.clone()).collect();
        for &kind in kinds {
            for r in service::attached_to_any(state, auth, kind, &bots).await? {
                let ids: Vec<String> = r
                    .bot_id
                    .as_deref()
                    .map(|c| bots_in_column(c).map(str::to_owned).collect())
                    .unwrap_or_default();
                for bot in ids.into_iter().filter(|b| bots.contains(b)) {
                    self.attached
                        .entry((kind.as_str(), bot))
                        .or_default()
                        .push(r.clone());
                }
            }
        }
        Ok(())
    }

    /// How what of `kind` is attached to `bot` stands (after [`Ctx::load_attached`]).
    pub fn attached_state(&self, kind: Kind, bot: &str) -> AttachedState {
        let records = self
            .attached
            .get(&(kind.as_str(), bot.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        // Worst first: what stops the bot, then what needs attention soon.
        let rank = |s: &str| match s {
            expiry::EXPIRED => 0,
            "banned" | "revoked" | "cancelled" => 1,
            expiry::EXPIRING => 2,
            _ => 3,
        };
        let status = records
            .iter()
            .map(|r| self.window.status(r.status.as_deref(), r.expires_at_ms))
            .min_by_key(|s| rank(s))
            .unwrap_or("none")
            .to_owned();
        let days_left = records
            .iter()
            .filter_map(|r| r.expires_at_ms)
            .map(|e| expiry::days_left(e, self.window.now))
            .min();
        AttachedState { status, days_left }
    }

    /// The record's name when known, else its id.
    pub fn label(&self, id: &str) -> String {
        self.records
            .iter()
            .find(|(b, _)| b == id)
            .map_or(id, |(_, name)| name.as_str())
            .to_owned()
    }
}

/// (id, name) of the first [`LOAD_LIMIT`] records of `kind`, by name (a bot's name, a
/// note's title: a projected column, so no document is parsed); the id when it has none.
pub async fn labels(state: &AppState, auth: &Auth, kind: Kind) -> ApiResult<Vec<(String, String)>> {
    let query = ListQuery {
        sort: SortKey::Name,
        ..all()
    };
    let (models, _) = service::list(state, auth, kind, &query).await?;
    Ok(models
        .into_iter()
        .map(|m| {
            let name = m
                .name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| m.id.clone());
            (m.id, name)
        })
        .collect())
}

/// The first [`LOAD_LIMIT`] records, oldest first, unfiltered.
pub fn all() -> ListQuery {
    ListQuery {
        limit: LOAD_LIMIT,
        ..ListQuery::default()
    }
}

/// An id as one URL path segment.
pub fn seg(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `url` with `notice=key` added to its query.
pub fn with_notice(url: &str, key: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}notice={key}")
}

/// The sentence for a `notice` key after a redirect, e.g. "License created.".
pub fn notice_text(kind: Kind, key: &str) -> Option<String> {
    let verb = match key {
        "created" | "updated" | "deleted" | "attached" | "detached" | "moved" | "banned"
        | "unbanned" => key,
        _ => return None,
    };
    Some(format!("{} {verb}.", kind.label()))
}

/// One page of a listing page: `query`'s page, or the last when it asks for one past the
/// last (an old link, a typed number, rows deleted meanwhile), which `query` then names.
/// Answers the rows, the total and the number of pages.
pub async fn list_page(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    query: &mut ListQuery,
) -> ApiResult<(Vec<record::Model>, u64, u64)> {
    let (mut models, total) = service::list(state, auth, kind, query).await?;
    let pages = total.div_ceil(query.limit).max(1);
    if query.page > pages {
        query.page = pages;
        models = service::list(state, auth, kind, query).await?.0;
    }
    Ok((models, total, pages))
}
