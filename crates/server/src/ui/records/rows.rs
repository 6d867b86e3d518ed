//! How records look in a table row: the cells a column shows (dates, days left, badges,
//! links to bots) and the `expiring` / `expired` marks of the warning window (spec ui.md §1.4).

use serde_json::Value;

use super::common::{Ctx, seg};
use super::form;
use super::spec::{Cell, TableSpec};
use crate::clock::DAY_MS;
use crate::db::entity::record;
use crate::records::documents::service;

pub struct Part {
    pub text: String,
    pub href: Option<String>,
}

pub struct CellView {
    pub parts: Vec<Part>,
    pub badge: bool,
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
    }
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
            let expires = doc.get("expires_at").and_then(Value::as_i64);
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
                    Cell::Badge(p) => CellView {
                        badge: !at(p).is_empty(),
                        ..text_cell(at(p).replace('_', " "), None)
                    },
                    Cell::Date(p) => text_cell(
                        form::value_at(&doc, p)
                            .and_then(Value::as_i64)
                            .map(display_date)
                            .unwrap_or_default(),
                        None,
                    ),
                    Cell::DaysLeft => text_cell(
                        expires
                            .map(|e| days_left(e, ctx.now_ms).to_string())
                            .unwrap_or_default(),
                        None,
                    ),
                    Cell::Bots(p) => CellView {
                        parts: bot_ids(form::value_at(&doc, p))
                            .into_iter()
                            .map(|id| Part {
                                text: ctx.bot_label(&id),
                                href: Some(format!("/bot/{}", seg(&id))),
                            })
                            .collect(),
                        badge: false,
                    },
                    Cell::Flag(p) => text_cell(
                        if form::value_at(&doc, p).and_then(Value::as_bool) == Some(true) {
                            "yes".into()
                        } else {
                            String::new()
                        },
                        None,
                    ),
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
                class: if spec.expiry {
                    expiry_class(expires, ctx)
                } else {
                    ""
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

pub fn display_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%d.%m.%Y").to_string())
        .unwrap_or_default()
}

fn days_left(expires_at: i64, now_ms: i64) -> i64 {
    (expires_at - now_ms).div_euclid(DAY_MS) + i64::from((expires_at - now_ms) % DAY_MS != 0)
}

/// `expired` when past, `expiring` within the warning window (spec ui.md §1.4).
fn expiry_class(expires_at: Option<i64>, ctx: &Ctx) -> &'static str {
    match expires_at {
        Some(e) if e <= ctx.now_ms => "expired",
        Some(e) if days_left(e, ctx.now_ms) <= ctx.warning_days => "expiring",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_marks_follow_the_warning_window() {
        let ctx = Ctx {
            now_ms: 1_000 * DAY_MS,
            warning_days: 7,
            bots: Vec::new(),
        };
        let at = |days: i64| Some(ctx.now_ms + days);
        assert_eq!(expiry_class(at(-1), &ctx), "expired");
        assert_eq!(expiry_class(at(0), &ctx), "expired");
        assert_eq!(expiry_class(at(1), &ctx), "expiring");
        assert_eq!(expiry_class(at(7 * DAY_MS), &ctx), "expiring");
        assert_eq!(expiry_class(at(7 * DAY_MS + 1), &ctx), "");
        assert_eq!(expiry_class(None, &ctx), "");
        assert_eq!(days_left(ctx.now_ms + DAY_MS / 2, ctx.now_ms), 1);
        assert_eq!(days_left(ctx.now_ms - DAY_MS / 2, ctx.now_ms), 0);
    }
}
