//! How records look in a table row: the cells a column shows (dates, days left, badges,
//! links to bots) and the `expiring` / `expired` marks of the warning window (spec ui.md §1.4),
//! both from the effective status of `records::expiry`.

use serde_json::Value;

use super::common::{Ctx, seg};
use super::form;
use super::spec::{Cell, TableSpec};
use crate::clock;
use crate::db::entity::record;
use crate::records::bots::health::OFFLINE_AFTER_MS;
use crate::records::documents::service;
use crate::records::expiry;

pub struct Part {
    pub text: String,
    pub href: Option<String>,
}

pub struct CellView {
    pub parts: Vec<Part>,
    pub badge: bool,
    /// Shown as a warning (a bot gone offline).
    pub warn: bool,
    /// The parts on lines of their own (the first as the cell's text, the others beneath
    /// it, muted), not in one comma-separated line.
    pub stacked: bool,
}

pub struct RowView {
    pub id: String,
    /// `expiring`, `expired` or empty.
    pub class: &'static str,
    pub cells: Vec<CellView>,
    pub href: String,
    pub delete: String,
}

fn text_cell(text: String, href: Option<String>) -> CellView {
    CellView {
        parts: vec![Part { text, href }],
        badge: false,
        warn: false,
        stacked: false,
    }
}

/// A text with lines beneath it; empty lines are left out.
fn stacked_cell(first: Part, beneath: Vec<String>) -> CellView {
    let mut parts = vec![first];
    parts.extend(
        beneath
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(|text| Part { text, href: None }),
    );
    CellView {
        parts,
        badge: false,
        warn: false,
        stacked: true,
    }
}

/// "a (b)", or what of the two is there.
fn with_aside(a: String, b: String) -> String {
    match (a.is_empty(), b.is_empty()) {
        (false, false) => format!("{a} ({b})"),
        (true, false) => format!("({b})"),
        _ => a,
    }
}

/// The parts joined by `sep`, leaving out empty ones.
fn joined(parts: &[String], sep: &str) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(sep)
}

/// The rows of `models` as `spec`'s columns show them.
pub fn rows(spec: &TableSpec, models: &[record::Model], ctx: &Ctx) -> Vec<RowView> {
    models
        .iter()
        .map(|m| {
            let doc = service::view(m);
            let at = |path: &str| {
                form::value_at(&doc, path)
                    .map(form::scalar_text)
                    .unwrap_or_default()
            };
            let expires = m.expires_at_ms;
            let effective = spec
                .expiry
                .then(|| ctx.window.status(m.status.as_deref(), expires));
            let href = spec.item_href(&m.id);
            let cells = spec
                .columns
                .iter()
                .map(|c| match c.cell {
                    Cell::Text(p) => text_cell(at(p), None),
                    Cell::Open(p) => {
                        let text = Some(at(p)).filter(|t| !t.is_empty());
                        text_cell(text.unwrap_or_else(|| m.id.clone()), Some(href.clone()))
                    }
                    Cell::Badge(p) => {
                        let text = match effective {
                            Some(status) if spec.expiry && p == "status" => status.to_owned(),
                            _ => at(p),
                        };
                        CellView {
                            badge: !text.is_empty(),
                            ..text_cell(text.replace('_', " "), None)
                        }
                    }
                    Cell::Date(p) => text_cell(
                        form::value_at(&doc, p)
                            .and_then(Value::as_i64)
                            .map(display_date)
                            .unwrap_or_default(),
                        None,
                    ),
                    Cell::DaysLeft => text_cell(
                        expires
                            .map(|e| expiry::days_left(e, ctx.window.now).to_string())
                            .unwrap_or_default(),
                        None,
                    ),
                    Cell::Bots(p) => CellView {
                        parts: bot_ids(form::value_at(&doc, p))
                            .into_iter()
                            .map(|id| Part {
                                text: ctx.label(&id),
                                href: Some(format!("/bot/{}", seg(&id))),
                            })
                            .collect(),
                        badge: false,
                        warn: false,
                        stacked: false,
                    },
                    Cell::Flag(p) => text_cell(
                        if form::value_at(&doc, p).and_then(Value::as_bool) == Some(true) {
                            "yes".into()
                        } else {
                            String::new()
                        },
                        None,
                    ),
                    Cell::LastSeen => {
                        let seen = form::value_at(&doc, "last_seen").and_then(Value::as_i64);
                        let banned = at("status") == "banned";
                        let offline =
                            !banned && seen.is_none_or(|t| ctx.window.now - t > OFFLINE_AFTER_MS);
                        let when = match seen {
                            Some(t) => format!("{} ago", clock::span(ctx.window.now - t)),
                            None => "never".into(),
                        };
                        CellView {
                            badge: offline,
                            warn: offline,
                            ..text_cell(
                                if offline {
                                    format!("offline · {when}")
                                } else {
                                    when
                                },
                                None,
                            )
                        }
                    }
                    Cell::OpenTab(p, tab) => {
                        let text = at(p);
                        let link = (!text.is_empty()).then(|| format!("{href}?tab={tab}"));
                        text_cell(text, link)
                    }
                    Cell::BotName => {
                        let name = Some(at("name")).filter(|t| !t.is_empty());
                        let short: String = m.id.chars().take(8).collect();
                        stacked_cell(
                            Part {
                                text: name.unwrap_or_else(|| short.clone()),
                                href: Some(href.clone()),
                            },
                            vec![short],
                        )
                    }
                    Cell::Character => stacked_cell(
                        Part {
                            text: with_aside(at("character/name"), at("character/level")),
                            href: None,
                        },
                        vec![joined(
                            &[at("character/server"), at("character/faction")],
                            " • ",
                        )],
                    ),
                    Cell::Attached(kind) => {
                        let state = ctx.attached_state(kind, &m.id);
                        let warn = matches!(
                            state.status.as_str(),
                            expiry::EXPIRED | expiry::EXPIRING | "banned" | "revoked"
                        );
                        let left = match state.days_left {
                            Some(0) => "ended today".to_owned(),
                            Some(d) if d < 0 => format!("ended {} ago", clock::count(-d, "day")),
                            Some(d) => format!("{} left", clock::count(d, "day")),
                            None => String::new(),
                        };
                        CellView {
                            badge: true,
                            warn,
                            ..stacked_cell(
                                Part {
                                    text: state.status.replace('_', " "),
                                    href: None,
                                },
                                vec![left],
                            )
                        }
                    }
                    Cell::Address => text_cell(
                        match at("port") {
                            port if port.is_empty() => at("ip"),
                            port => format!("{}:{port}", at("ip")),
                        },
                        None,
                    ),
                })
                .collect();
            RowView {
                id: m.id.clone(),
                class: match effective {
                    Some(expiry::EXPIRED) => "expired",
                    Some(expiry::EXPIRING) => "expiring",
                    _ => "",
                },
                cells,
                delete: spec.delete_href(&m.id),
                href,
            }
        })
        .collect()
}

/// Bot ids held by a `bot_id` string or a `bot_ids` list.
pub fn bot_ids(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// An epoch-ms time as `DD.MM.YYYY HH:MM UTC`.
pub fn display_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%d.%m.%Y %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub fn display_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%d.%m.%Y").to_string())
        .unwrap_or_default()
}
