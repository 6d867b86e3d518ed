//! The record kinds, their field rules and the columns projected from their documents.

pub use botmox_proto::records::BOT_STATUSES;
use serde_json::{Map, Value};

use crate::schema::{Field, Rule, opt, req};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    License,
    Proxy,
    Subscription,
    Note,
    CalendarEvent,
    KanbanTask,
    Bot,
    FinanceOperation,
}

const TS: Rule = Rule::Timestamp;
const NULLABLE_STR: Rule = Rule::Nullable(&Rule::Str(None));

const LICENSE: &[Field] = &[
    opt("key", Rule::NonEmpty),
    opt("type", Rule::NonEmpty),
    opt("status", Rule::OneOf(&["active", "expired", "revoked"])),
    opt("bot_ids", Rule::StrList),
    opt("bot_names", Rule::StrList),
    opt("expires_at", TS),
];

const PROXY: &[Field] = &[
    opt("ip", Rule::NonEmpty),
    opt("port", Rule::Int(1, 65535)),
    opt("login", Rule::Str(Some(500))),
    opt("password", Rule::Str(Some(500))),
    opt("provider", Rule::Str(Some(500))),
    opt("country", Rule::Str(Some(200))),
    opt("country_code", NULLABLE_STR),
    opt("type", Rule::OneOf(&["http", "socks5"])),
    opt("status", Rule::OneOf(&["active", "expired", "banned"])),
    opt("bot_id", NULLABLE_STR),
    opt("fraud_score", Rule::Num),
    opt("vpn", Rule::Bool),
    opt("proxy", Rule::Bool),
    opt("tor", Rule::Bool),
    opt("bot_status", Rule::Bool),
    opt("latitude", Rule::Num),
    opt("longitude", Rule::Num),
    opt("expires_at", TS),
    opt("last_checked", TS),
];

const SUBSCRIPTION: &[Field] = &[
    opt("bot_id", NULLABLE_STR),
    opt(
        "type",
        Rule::OneOf(&["wow", "bot", "proxy", "vpn", "other"]),
    ),
    opt(
        "status",
        Rule::OneOf(&["active", "cancelled", "expired", "expiring_soon"]),
    ),
    opt("expires_at", TS),
    opt("account_email", Rule::Str(Some(320))),
    opt("auto_renew", Rule::Bool),
    opt("project_id", NULLABLE_STR),
    opt("notes", Rule::Str(Some(1000))),
];

const NOTE: &[Field] = &[
    opt("title", Rule::Str(Some(500))),
    opt("content", Rule::Str(Some(200_000))),
    opt("blocks", Rule::Structured),
    opt("tags", Rule::StrList),
    opt("bot_id", NULLABLE_STR),
    opt("project_id", NULLABLE_STR),
    opt("is_pinned", Rule::Bool),
    opt("created_by", Rule::Str(Some(320))),
];

const CALENDAR_EVENT: &[Field] = &[
    opt("title", Rule::Str(Some(500))),
    opt("description", Rule::Str(Some(10_000))),
    opt("date", Rule::Date),
    opt("linked_note_id", NULLABLE_STR),
];

const KANBAN_TASK: &[Field] = &[
    opt("title", Rule::Str(Some(500))),
    opt("description", Rule::Str(Some(10_000))),
    opt("status", Rule::OneOf(&["todo", "in_progress", "done"])),
    opt("due_date", Rule::Nullable(&Rule::Date)),
    opt("order", Rule::Int(i32::MIN as i64, i32::MAX as i64)),
];

/// One session of a bot's schedule day.
const SCHEDULE_SESSION: &[Field] = &[
    opt("id", Rule::Str(Some(100))),
    req("start", Rule::Time),
    req("end", Rule::Time),
    opt("enabled", Rule::Bool),
    opt("type", Rule::OneOf(&["active", "break"])),
    opt("profile", Rule::Str(Some(200))),
];
const SCHEDULE_DAY: &[Field] = &[
    opt("enabled", Rule::Bool),
    opt("sessions", Rule::ListOf(&Rule::Shape(SCHEDULE_SESSION), 48)),
];
/// A bot's week: seven days, Monday first.
const SCHEDULE: &[Field] = &[
    opt("version", Rule::Int(1, 1000)),
    opt("timezone", Rule::Str(Some(64))),
    opt("days", Rule::ListOf(&Rule::Shape(SCHEDULE_DAY), 7)),
    opt("updated_at", TS),
];

const BOT: &[Field] = &[
    req("name", Rule::NonEmpty),
    opt("project_id", NULLABLE_STR),
    opt("status", Rule::OneOf(BOT_STATUSES)),
    opt("character", Rule::Object),
    opt("schedule", Rule::Shape(SCHEDULE)),
    opt("last_seen", TS),
];

const FINANCE_OPERATION: &[Field] = &[
    req("type", Rule::OneOf(&["income", "expense"])),
    req("category", Rule::NonEmpty),
    req("amount", Rule::Amount),
    req("currency", Rule::NonEmpty),
    req("date", TS),
    opt("description", Rule::Str(Some(1000))),
    opt("bot_id", NULLABLE_STR),
    opt("project_id", NULLABLE_STR),
    opt("gold_amount", Rule::Nullable(&Rule::Amount)),
    opt("gold_price_at_time", Rule::Nullable(&Rule::Amount)),
];

/// The reference's finance categories that only money coming in can have.
pub const INCOME_CATEGORIES: &[&str] = &["sale"];
/// The reference's finance categories that only money going out can have.
pub const EXPENSE_CATEGORIES: &[&str] = &[
    "subscription_game",
    "subscription_bot",
    "proxy",
    "bot_license",
];

/// A finance operation's category must fit its type: a sale is never an expense, a proxy
/// bill never income. `other` and categories of the tenant's own naming fit either.
pub fn finance_category_problem(doc: &Map<String, Value>) -> Option<String> {
    let kind = doc.get("type")?.as_str()?;
    let category = doc.get("category")?.as_str()?;
    let wrong = match kind {
        "income" => EXPENSE_CATEGORIES.contains(&category),
        "expense" => INCOME_CATEGORIES.contains(&category),
        _ => false,
    };
    wrong.then(|| format!("'{category}' is not a category of {kind}"))
}

/// Fields of a bot's `character` object.
pub const CHARACTER: &[Field] = &[
    opt("name", Rule::Str(Some(100))),
    opt("class", Rule::Str(Some(100))),
    opt("race", Rule::Str(Some(100))),
    opt("server", Rule::Str(Some(100))),
    opt("level", Rule::Int(1, 100)),
    opt("faction", Rule::OneOf(&["alliance", "horde"])),
];

/// Values projected into indexed columns.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Projection {
    pub status: Option<String>,
    pub r#type: Option<String>,
    pub project_id: Option<String>,
    pub bot_id: Option<String>,
    pub name: Option<String>,
    pub category: Option<String>,
    pub currency: Option<String>,
    pub amount: Option<f64>,
    pub date_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub gold_amount: Option<f64>,
    pub search: String,
}

fn text(doc: &Map<String, Value>, key: &str) -> Option<String> {
    doc.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn int(doc: &Map<String, Value>, key: &str) -> Option<i64> {
    doc.get(key).and_then(Value::as_i64)
}

/// Midnight UTC of a `YYYY-MM-DD` field, in epoch milliseconds.
fn day(doc: &Map<String, Value>, key: &str) -> Option<i64> {
    let s = doc.get(key)?.as_str()?;
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

impl Kind {
    /// Stored kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::License => "licenses",
            Kind::Proxy => "proxies",
            Kind::Subscription => "subscriptions",
            Kind::Note => "notes",
            Kind::CalendarEvent => "calendar",
            Kind::KanbanTask => "kanban",
            Kind::Bot => "bots",
            Kind::FinanceOperation => "finance_operations",
        }
    }

    /// Human name for messages, e.g. "Proxy not found".
    pub fn label(self) -> &'static str {
        match self {
            Kind::License => "License",
            Kind::Proxy => "Proxy",
            Kind::Subscription => "Subscription",
            Kind::Note => "Note",
            Kind::CalendarEvent => "Calendar event",
            Kind::KanbanTask => "Kanban task",
            Kind::Bot => "Bot",
            Kind::FinanceOperation => "Finance operation",
        }
    }

    /// The kind stored under `name` (see [`Kind::as_str`]).
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "licenses" => Kind::License,
            "proxies" => Kind::Proxy,
            "subscriptions" => Kind::Subscription,
            "notes" => Kind::Note,
            "calendar" => Kind::CalendarEvent,
            "kanban" => Kind::KanbanTask,
            "bots" => Kind::Bot,
            "finance_operations" => Kind::FinanceOperation,
            _ => return None,
        })
    }

    pub fn resource(segment: &str) -> Option<Kind> {
        match segment {
            "licenses" => Some(Kind::License),
            "proxies" => Some(Kind::Proxy),
            "subscriptions" => Some(Kind::Subscription),
            _ => None,
        }
    }

    pub fn workspace(segment: &str) -> Option<Kind> {
        match segment {
            "notes" => Some(Kind::Note),
            "calendar" => Some(Kind::CalendarEvent),
            "kanban" => Some(Kind::KanbanTask),
            _ => None,
        }
    }

    pub fn fields(self) -> &'static [Field] {
        match self {
            Kind::License => LICENSE,
            Kind::Proxy => PROXY,
            Kind::Subscription => SUBSCRIPTION,
            Kind::Note => NOTE,
            Kind::CalendarEvent => CALENDAR_EVENT,
            Kind::KanbanTask => KANBAN_TASK,
            Kind::Bot => BOT,
            Kind::FinanceOperation => FINANCE_OPERATION,
        }
    }

    /// The columns this kind's lists can filter and sort on.
    pub fn project(self, doc: &Map<String, Value>) -> Projection {
        let mut p = Projection {
            search: search_text(doc),
            ..Default::default()
        };
        match self {
            Kind::License => {
                p.status = text(doc, "status");
                p.r#type = text(doc, "type");
                p.name = text(doc, "key");
                p.bot_id = bot_list(doc);
                p.expires_at_ms = int(doc, "expires_at");
            }
            Kind::Proxy => {
                p.status = text(doc, "status");
                p.r#type = text(doc, "type");
                p.bot_id = text(doc, "bot_id");
                p.name = text(doc, "ip");
                p.expires_at_ms = int(doc, "expires_at");
            }
            Kind::Subscription => {
                p.status = text(doc, "status");
                p.r#type = text(doc, "type");
                p.bot_id = text(doc, "bot_id");
                p.project_id = text(doc, "project_id");
                p.name = text(doc, "account_email");
                p.expires_at_ms = int(doc, "expires_at");
            }
            Kind::Note => {
                // A note's only state is whether it is pinned.
                p.status =
                    (doc.get("is_pinned") == Some(&Value::Bool(true))).then(|| "pinned".into());
                p.project_id = text(doc, "project_id");
                p.bot_id = text(doc, "bot_id");
                p.name = text(doc, "title");
            }
            Kind::CalendarEvent => {
                p.name = text(doc, "title");
                p.date_ms = day(doc, "date");
            }
            Kind::KanbanTask => {
                p.status = text(doc, "status");
                p.name = text(doc, "title");
                p.date_ms = day(doc, "due_date");
            }
            Kind::Bot => {
                p.status = text(doc, "status").or(Some("offline".into()));
                p.project_id = text(doc, "project_id");
                p.name = text(doc, "name");
            }
            Kind::FinanceOperation => {
                p.r#type = text(doc, "type");
                p.category = text(doc, "category");
                p.currency = text(doc, "currency");
                p.amount = doc.get("amount").and_then(Value::as_f64);
                p.gold_amount = doc.get("gold_amount").and_then(Value::as_f64);
                p.date_ms = int(doc, "date");
                p.project_id = text(doc, "project_id");
                p.bot_id = text(doc, "bot_id");
            }
        }
        p
    }
}

/// A licence's `bot_ids` as one column, each id between separators, so "licences of bot X"
/// is a `LIKE '%<sep>X<sep>%'` within the tenant's licences.
fn bot_list(doc: &Map<String, Value>) -> Option<String> {
    let ids: Vec<&str> = doc
        .get("bot_ids")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    (!ids.is_empty()).then(|| format!("{LIST_SEP}{}{LIST_SEP}", ids.join(LIST_SEP)))
}

/// Separator of the ids in a licence's `bot_id` column.
pub const LIST_SEP: &str = "\u{1f}";

/// The bot ids in a `bot_id` column: one id, or a licence's separated list.
pub fn bots_in_column(column: &str) -> impl Iterator<Item = &str> {
    column.split(LIST_SEP).filter(|s| !s.is_empty())
}

/// Lower-cased top-level scalar values (credentials left out), for the `q` filter.
/// What `q` matches: every text, number and boolean of the document at any depth (a bot's
/// `character.name`, `character.server`, `account.email`, items of lists), lowercased,
/// leaving out credentials and whatever is under them.
pub fn search_text(doc: &Map<String, Value>) -> String {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.to_lowercase()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(b.to_string()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => fields(map, out),
            Value::Null => {}
        }
    }
    fn fields(map: &Map<String, Value>, out: &mut Vec<String>) {
        map.iter()
            .filter(|(k, _)| !crate::sealed::is_secret_key(k))
            .for_each(|(_, v)| walk(v, out));
    }
    let mut out = Vec::new();
    fields(doc, &mut out);
    out.join("\u{1f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_text_holds_values_at_every_depth_but_credentials() {
        let doc = serde_json::json!({"name": "Bot", "character": {"name": "Char01", "level": 60},
            "account": {"email": "A@Mail", "password": "pw1", "api_key": {"value": "k1"}},
            "tags": ["Alpha", {"note": "Beta"}], "active": true, "empty": null});
        let text = search_text(doc.as_object().unwrap());
        let parts: Vec<&str> = text.split('\u{1f}').collect();
        for want in ["bot", "char01", "60", "a@mail", "alpha", "beta", "true"] {
            assert!(parts.contains(&want), "{want} in {parts:?}");
        }
        assert!(!text.contains("pw1") && !text.contains("k1"), "{text}");
    }
}
