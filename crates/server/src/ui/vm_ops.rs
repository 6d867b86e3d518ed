//! The VM operations page: a dispatch form for any action of the catalogue, and the command
//! log (who dispatched what to which agent, status, duration, result or error), filtered by
//! agent, status and type, with cancel for queued commands. The log updates live: the
//! page's script re-renders it on each event of `/events`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::command::{COMMAND_TYPES, CommandStatus, DispatchRequest, ListCommandsQuery};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::agent_picker::AgentPicker;
use super::error_page::PageResult;
use super::layout::{Layout, page_url, render};
use super::refusal::Refusal;
use super::session::EmptyForm;
use super::session::{CsrfForm, UiUser};
use crate::agents;
use crate::agents::store::Narrow;
use crate::http::ApiError;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};
use crate::vm_ops::{service, stream};

const STATUSES: [&str; 7] = [
    "queued",
    "dispatched",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "expired",
];

struct Row {
    id: String,
    agent: String,
    command_type: String,
    status: String,
    /// The status badge's colour class: `ok`, `warn`, `error` or none.
    tone: &'static str,
    created_by: String,
    /// A `<time>` element.
    queued_at: String,
    duration: String,
    error: Option<String>,
    /// The result's fields as (key, value) text, and the whole result as JSON behind a toggle.
    facts: Vec<(String, String)>,
    raw: String,
    cancellable: bool,
}

/// The longest value text a result's key/value list shows before cutting it short.
const FACT_CHARS: usize = 120;

/// A command result as a key/value list: an object's fields by name, anything else as one
/// `value`. Nested values are shown as compact JSON, cut at [`FACT_CHARS`].
fn result_facts(result: &Value) -> Vec<(String, String)> {
    let text = |v: &Value| {
        let full = match v {
            Value::String(s) => s.clone(),
            Value::Null => "—".to_owned(),
            other => other.to_string(),
        };
        match full.char_indices().nth(FACT_CHARS) {
            Some((cut, _)) => format!("{}…", &full[..cut]),
            None => full,
        }
    };
    match result {
        Value::Null => Vec::new(),
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        other => vec![("value".to_owned(), text(other))],
    }
}

/// The badge colour of a command status.
fn tone(status: CommandStatus) -> &'static str {
    match status {
        CommandStatus::Succeeded => "ok",
        CommandStatus::Failed | CommandStatus::Expired => "error",
        CommandStatus::Cancelled => "warn",
        _ => "",
    }
}

#[derive(Template)]
#[template(path = "vm_ops.html")]
struct VmOpsPage {
    layout: Layout,
    /// This page with its filters: what the live section re-renders from.
    live_url: String,
    rows: Vec<Row>,
    agents: AgentPicker,
    statuses: [&'static str; 7],
    agent_id: String,
    status: String,
    command_type: String,
    /// The catalogue, for the dispatch form.
    command_types: &'static [&'static str],
    /// The dispatch form as it was sent, when it was refused.
    form: DispatchForm,
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

/// The dispatch form: the payload is JSON text (empty: `{}`).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct DispatchForm {
    #[serde(default)]
    agent_id: String,
    #[serde(default)]
    command_type: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    queue_if_offline: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    agent_id: Option<String>,
    /// What the "Find agent" field holds ([`AgentPicker`]).
    agent_q: Option<String>,
    status: Option<String>,
    command_type: Option<String>,
    notice: Option<String>,
}

fn seconds(from: Option<i64>, to: Option<i64>) -> String {
    match (from, to) {
        (Some(a), Some(b)) => format!("{:.1} s", (b - a) as f64 / 1000.0),
        _ => String::new(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(f): PageQuery<Filters>,
) -> PageResult {
    let notice = match f.notice.as_deref() {
        Some("cancelled") => Some("Command cancelled.".to_owned()),
        Some("queued") => Some("Command queued; it shows below as the agent runs it.".to_owned()),
        _ => None,
    };
    let shown = Shown {
        status: StatusCode::OK,
        form: DispatchForm::default(),
        notice,
        refusal: Refusal::none(),
    };
    render_page(&state, &auth, &headers, &f, shown).await
}

/// What the page shows besides the log: its status, the dispatch form as given, and a
/// notice or why the form was refused.
struct Shown {
    status: StatusCode,
    form: DispatchForm,
    notice: Option<String>,
    refusal: Refusal,
}

/// The page with its filters.
async fn render_page(
    state: &AppState,
    auth: &crate::principal::Auth,
    headers: &HeaderMap,
    f: &Filters,
    shown: Shown,
) -> PageResult {
    let Shown {
        status,
        form,
        notice,
        refusal,
    } = shown;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let blank = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let query = ListCommandsQuery {
        agent_id: blank(&f.agent_id),
        status: blank(&f.status).and_then(|s| s.parse().ok()),
        command_type: blank(&f.command_type),
    };
    let commands = service::list(state, auth, &query).await?;
    let chosen = [text(&f.agent_id), form.agent_id.clone()];
    let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
    let agents = AgentPicker::load(state, auth, f.agent_q.as_deref(), false, &chosen).await?;
    let mut logged: Vec<&str> = commands.iter().map(|c| c.agent_id.as_str()).collect();
    logged.sort_unstable();
    logged.dedup();
    let names: HashMap<String, String> =
        agents::service::among(state, auth, Narrow::default(), &logged)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let rows = commands
        .iter()
        .map(|c| {
            let v = c.view();
            Row {
                agent: name_of(&c.agent_id),
                command_type: c.command_type.clone(),
                status: c.status.as_str().to_owned(),
                tone: tone(c.status.0),
                created_by: c.created_by.clone().unwrap_or_default(),
                queued_at: crate::ui::time::at_ms(c.queued_at)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                duration: seconds(c.started_at.or(c.claimed_at), c.completed_at),
                error: c.error_message.clone(),
                facts: result_facts(&v.result),
                raw: if v.result.is_null() {
                    String::new()
                } else {
                    serde_json::to_string_pretty(&v.result).unwrap_or_default()
                },
                cancellable: c.status == CommandStatus::Queued,
                id: c.id.clone(),
            }
        })
        .collect();
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/vm-ops",
        "vm-ops",
        &[("Operations", None), ("VM operations", None)],
    )
    .await;
    let live_url = page_url(
        "/vm-ops",
        &[
            ("agent_id", &text(&f.agent_id)),
            ("agent_q", &text(&f.agent_q)),
            ("status", &text(&f.status)),
            ("command_type", &text(&f.command_type)),
        ],
    );
    let body = VmOpsPage {
        live_url,
        layout,
        rows,
        agents,
        statuses: STATUSES,
        agent_id: text(&f.agent_id),
        status: text(&f.status),
        command_type: text(&f.command_type),
        command_types: COMMAND_TYPES,
        form,
        notice,
        error: refusal.banner(),
        refusal,
    };
    Ok(csrf.attach((status, render(&body)).into_response()))
}

/// `POST /vm-ops/commands`: queue what the dispatch form says, as the API's dispatch would;
/// a refusal shows the page again with the form as it was and the reason.
pub async fn dispatch(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<DispatchForm>,
) -> PageResult {
    let payload = match form.payload.trim() {
        "" => Ok(Value::Object(Default::default())),
        text => serde_json::from_str::<Value>(text)
            .map_err(|e| ApiError::field("payload", format!("must be JSON: {e}"))),
    };
    let request = payload.and_then(|payload| {
        DispatchRequest::parse(json!({
            "agent_id": form.agent_id.trim(),
            "command_type": form.command_type.trim(),
            "payload": payload,
            "queue_if_offline": form.queue_if_offline.is_some(),
        }))
        .map_err(ApiError::from)
    });
    let queued = match request {
        Ok(request) => service::dispatch(&state, &auth, request).await,
        Err(e) => Err(e),
    };
    match queued {
        Ok(_) => Ok(Redirect::to("/vm-ops?notice=queued").into_response()),
        Err(e) => {
            let shown = Shown {
                status: e.status(),
                refusal: Refusal::new("dispatch-form", &form, &e)
                    .with_object("payload")
                    .unshown("queue_if_offline"),
                form,
                notice: None,
            };
            render_page(&state, &auth, &headers, &Filters::default(), shown).await
        }
    }
}

/// `GET /events`: the command bus event stream for a signed-in browser (the API's
/// `/vm-ops/events` takes bearer tokens); live sections of the pages re-render on its events.
pub async fn events(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
) -> PageResult {
    let after = stream::resume_after(&headers, None)?;
    let filter = stream::Filter::for_caller(&auth, None, None);
    let cookie =
        super::session::read_cookie(&headers, super::session::SESSION_COOKIE).unwrap_or_default();
    let holder = stream::Holder::UiSession { cookie, auth };
    Ok(stream::stream(state, filter, holder, after)
        .await?
        .into_response())
}

pub async fn cancel(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> PageResult {
    service::cancel(&state, &auth, &id).await?;
    Ok(Redirect::to("/vm-ops?notice=cancelled").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_read_as_key_value_lists() {
        let facts = result_facts(
            &json!({"vmid": 101, "status": "running", "disks": ["a", "b"], "note": null}),
        );
        let pairs: Vec<(&str, &str)> = facts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("disks", r#"["a","b"]"#),
                ("note", "—"),
                ("status", "running"),
                ("vmid", "101")
            ]
        );
        assert_eq!(
            result_facts(&json!([1, 2])),
            [("value".to_owned(), "[1,2]".to_owned())]
        );
        assert!(result_facts(&Value::Null).is_empty());
        let long = result_facts(&json!({"log": "é".repeat(500)}));
        assert_eq!(
            long[0].1.chars().count(),
            FACT_CHARS + 1,
            "cut with an ellipsis"
        );
        assert_eq!(tone(CommandStatus::Failed), "error");
        assert_eq!(tone(CommandStatus::Succeeded), "ok");
    }
}
