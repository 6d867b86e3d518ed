//! A bot's lifecycle on its page: move it to another status, ban it with the details the
//! archive keeps, unban it, and the History tab with its lifecycle log and archive, all
//! through `records::lifecycle`, so the page obeys the API's guard (a banned bot leaves
//! `banned` only through unban).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::bots::{Failed, page_response};
use super::rows::display_date;
use super::{failure, with_notice};
use crate::http::{ApiError, ApiPath, ApiResult};
use crate::principal::Auth;
use crate::records::bots::service as lifecycle;
use crate::state::AppState;
use crate::ui::session::{CsrfForm, UiUser};

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

/// `POST /bot/{id}/lifecycle/{transition|ban|unban}`.
pub async fn act(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    ApiPath((id, action)): ApiPath<(String, String)>,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (result, notice) = match action.as_str() {
        "transition" => (
            lifecycle::transition(&state, &auth, &id, &field("status")).await,
            "moved",
        ),
        "ban" => {
            let body = json!({"ban_date": field("ban_date"), "ban_reason": field("ban_reason"),
                "ban_mechanism": field("ban_mechanism")});
            (lifecycle::ban(&state, &auth, &id, body).await, "banned")
        }
        "unban" => (lifecycle::unban(&state, &auth, &id).await, "unbanned"),
        _ => return failure(ApiError::not_found("Lifecycle action")),
    };
    match result {
        Ok(_) => {
            Redirect::to(&with_notice(&format!("/bot/{}", super::seg(&id)), notice)).into_response()
        }
        Err(error) => {
            let failed = Failed {
                posted: None,
                error,
            };
            page_response(
                &state,
                &auth,
                &headers,
                &id,
                Some("history"),
                None,
                Some(failed),
            )
            .await
        }
    }
}
