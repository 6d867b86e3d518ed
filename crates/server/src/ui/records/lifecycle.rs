//! What a bot's page shows of its lifecycle: the actions offered (move to another status,
//! ban with the details the archive keeps, unban) and the History tab with its lifecycle log
//! and archive, read through `records::bots`, so the page obeys the API's guard (a banned
//! bot leaves `banned` only through unban). The actions' handler is the bot page's.

use serde_json::Value;

use super::rows::display_date;
use crate::http::ApiResult;
use crate::principal::Auth;
use crate::records::bots::service as lifecycle;
use crate::state::AppState;

const TARGETS: [&str; 5] = ["offline", "prepare", "leveling", "profession", "farming"];
const HISTORY_ROWS: u64 = 100;

/// The actions offered for a bot in `status`.
pub struct LifecycleView {
    pub banned: bool,
    pub targets: Vec<&'static str>,
    pub mechanisms: [&'static str; 6],
    /// Today as `DD.MM.YYYY`, the ban form's default.
    pub today: String,
}

impl LifecycleView {
    pub fn for_status(status: &str) -> Self {
        Self {
            banned: status == "banned",
            targets: TARGETS.iter().copied().filter(|t| *t != status).collect(),
            mechanisms: lifecycle::BAN_MECHANISMS,
            today: chrono::Utc::now().format("%d.%m.%Y").to_string(),
        }
    }
}

pub struct EventRow {
    pub when: String,
    pub kind: String,
    pub message: String,
}

pub struct ArchiveRow {
    pub when: String,
    pub mechanism: String,
    pub reason: String,
    pub level: String,
}

pub struct HistoryView {
    pub events: Vec<EventRow>,
    pub archive: Vec<ArchiveRow>,
}

fn text(v: &Value, ptr: &str) -> String {
    match v.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub async fn history(state: &AppState, auth: &Auth, id: &str) -> ApiResult<HistoryView> {
    let (events, _) = lifecycle::log(state, auth, id, 1, HISTORY_ROWS).await?;
    let archive = lifecycle::archive(state, auth, id).await?;
    let when = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_i64)
            .map(display_date)
            .unwrap_or_default()
    };
    Ok(HistoryView {
        events: events
            .iter()
            .map(|e| EventRow {
                when: when(e, "timestamp"),
                kind: text(e, "/type"),
                message: text(e, "/message"),
            })
            .collect(),
        archive: archive
            .iter()
            .map(|a| ArchiveRow {
                when: when(a, "archived_at"),
                mechanism: text(a, "/ban_details/ban_mechanism"),
                reason: text(a, "/ban_details/ban_reason"),
                level: text(a, "/snapshot/final_level"),
            })
            .collect(),
    })
}
