//! The shape of a record table: its columns and the cell each shows, its filters and form
//! fields. The concrete tables are in `specs`; `rows` and `table` draw them.

use super::common::seg;
use super::form::{self, FieldSpec};
use crate::records::kinds::Kind;

/// What a table cell shows.
pub enum Cell {
    Text(&'static str),
    /// The text, linked to the record's page.
    Open(&'static str),
    Badge(&'static str),
    /// An epoch-ms time as `DD.MM.YYYY`.
    Date(&'static str),
    /// Whole days until `expires_at`.
    DaysLeft,
    /// A bot id or a list of bot ids, linked to the bots.
    Bots(&'static str),
    Flag(&'static str),
    /// `ip:port` of a proxy.
    Address,
    /// How long ago a bot's `last_seen` was, marked `offline` past five minutes (unless
    /// the bot is banned).
    LastSeen,
    /// The text at a path, linked to a tab of the record's page.
    OpenTab(&'static str, &'static str),
    /// A bot's name linked to its page, with the first eight characters of its id beneath.
    BotName,
    /// A bot's character: "name (level)", with "server • faction" beneath.
    Character,
    /// The effective status and days left of what of this kind is attached to a bot (the
    /// worst, when several are), or `none`.
    Attached(Kind),
}

pub struct Column {
    pub label: &'static str,
    /// The `sort` value of the list query, when the column can be sorted.
    pub sort: Option<&'static str>,
    pub cell: Cell,
}

/// A select filter on a projected column (`status` or `type`).
pub struct Filter {
    pub param: &'static str,
    pub label: &'static str,
    pub options: &'static [&'static str],
}

pub struct TableSpec {
    pub kind: Kind,
    /// Prefix of element ids (`{slug}-create`, `{slug}-edit`).
    pub slug: &'static str,
    /// The list page; records are created by posting to it.
    pub path: &'static str,
    /// Records are at `{item_path}/{id}`; when it differs from `path`, another module owns
    /// those pages and a created record opens there.
    pub item_path: &'static str,
    pub active: &'static str,
    pub section: &'static str,
    pub title: &'static str,
    pub columns: &'static [Column],
    pub filters: &'static [Filter],
    pub fields: &'static [FieldSpec],
    /// Sort field and descending, when the query names none.
    pub default_sort: (&'static str, bool),
    /// Rows are marked `expiring` / `expired` by `expires_at`.
    pub expiry: bool,
    /// Rows with this status lead every page, before the chosen sort (pinned notes).
    pub status_first: Option<&'static str>,
}

impl TableSpec {
    /// Whether rows show what is attached to each bot (read for the page's bots only).
    pub fn attached_kinds(&self) -> Vec<Kind> {
        self.columns
            .iter()
            .filter_map(|c| match c.cell {
                Cell::Attached(kind) => Some(kind),
                _ => None,
            })
            .collect()
    }

    /// The kind whose records the page names: bots when a column shows bots, else the kind
    /// its form offers to choose from.
    pub fn named_kind(&self) -> Option<Kind> {
        if self.columns.iter().any(|c| matches!(c.cell, Cell::Bots(_))) {
            return Some(Kind::Bot);
        }
        self.fields.iter().find_map(|f| match f.input {
            form::Input::RecordId(kind) => Some(kind),
            _ => None,
        })
    }

    pub fn item_href(&self, id: &str) -> String {
        format!("{}/{}", self.item_path, seg(id))
    }

    pub fn delete_href(&self, id: &str) -> String {
        format!("{}/{}/delete", self.path, seg(id))
    }
}
