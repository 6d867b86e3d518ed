//! The Settings page (spec ui.md §3.13): one card per settings path, each described by a
//! field list and saved through the settings service with its rules; credentials are
//! write-only (blank keeps the stored value) with an explicit, audited reveal for admins;
//! projects are added, edited and removed here (removal refused while records use them).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

use super::error_page::PageError;
use super::layout::{Layout, render};
use super::records::form::insert_nested;
use super::session::EmptyForm;
use super::session::{CsrfForm, UiUser};
use crate::audit::AuditSlot;
use crate::http::ApiError;
use crate::principal::Auth;
use crate::sealed::{MASK, at_path};
use crate::settings::{policy, service};
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};

pub mod reference;
pub mod theme;

#[derive(Clone, Copy)]
pub enum Input {
    Int,
    Number,
    Text,
    Check,
    /// Write-only: blank keeps what is stored.
    Secret,
    Choice(&'static [&'static str]),
}

pub struct Field {
    /// Path inside the card's settings value, e.g. `ipqs/api_key`.
    pub key: &'static str,
    pub label: &'static str,
    pub input: Input,
    /// What applies while nothing is stored, shown in the input (and marked as such).
    pub default: Option<i64>,
}

pub struct Card {
    pub id: &'static str,
    pub title: &'static str,
    pub help: &'static str,
    /// Settings path the card writes (`storage_policy` is the policy).
    pub path: &'static str,
    pub fields: &'static [Field],
}

const fn f(key: &'static str, label: &'static str, input: Input) -> Field {
    Field {
        key,
        label,
        input,
        default: None,
    }
}

/// A number field with the value that applies while none is stored.
const fn with_default(key: &'static str, label: &'static str, default: i64) -> Field {
    Field {
        default: Some(default),
        ..f(key, label, Input::Int)
    }
}

const CARDS: &[Card] = &[
    Card {
        id: "alerts",
        title: "Global alerts",
        help: "Licences, proxies and subscriptions expiring within this many days are highlighted.",
        path: "alerts",
        fields: &[with_default(
            "warning_days",
            "Warn before (days)",
            service::DEFAULT_WARNING_DAYS,
        )],
    },
    Card {
        id: "proxy",
        title: "Proxy settings",
        help: "Fraud score above the threshold flags a proxy; interval 0 disables re-checks.",
        path: "proxy",
        fields: &[
            f("auto_check_on_add", "Check when added", Input::Check),
            with_default(
                "fraud_score_threshold",
                "Fraud score threshold (0-100)",
                service::DEFAULT_FRAUD_SCORE_THRESHOLD,
            ),
            f(
                "check_interval_hours",
                "Check interval (hours, 0-168)",
                Input::Int,
            ),
        ],
    },
    Card {
        id: "api_keys",
        title: "API keys",
        help: "Keys are stored encrypted and never shown again; leave blank to keep the stored one.",
        path: "api_keys",
        fields: &[
            f("ipqs/enabled", "IPQualityScore enabled", Input::Check),
            f("ipqs/api_key", "IPQualityScore API key", Input::Secret),
            f("telegram/enabled", "Telegram notifications", Input::Check),
            f("telegram/bot_token", "Telegram bot token", Input::Secret),
            f("telegram/chat_id", "Telegram chat id", Input::Text),
        ],
    },
    Card {
        id: "notifications",
        title: "Notifications",
        help: "Events to notify via Telegram.",
        path: "notifications/events",
        fields: &[
            f("bot_banned", "Bot banned", Input::Check),
            f("bot_offline", "Bot offline", Input::Check),
            f("bot_online", "Bot online", Input::Check),
            f("level_up", "Level up", Input::Check),
            f("profession_maxed", "Profession maxed", Input::Check),
            f("low_fraud_score", "Low fraud score", Input::Check),
            f("daily_report", "Daily report", Input::Check),
        ],
    },
    Card {
        id: "storage",
        title: "Storage policy",
        help: "Secrets always stay local. Operational data may live locally or in the cloud.",
        path: "storage_policy",
        fields: &[
            f(
                "operational",
                "Operational data",
                Input::Choice(&["local", "cloud"]),
            ),
            f("sync/enabled", "Sync adapter", Input::Check),
        ],
    },
];

const PROJECT_FIELDS: &[Field] = &[
    f("name", "Name", Input::Text),
    f("game", "Game", Input::Text),
    f("expansion", "Expansion", Input::Text),
    f("max_level", "Max level", Input::Int),
    f("server_region", "Region", Input::Text),
    f("currency", "Currency", Input::Text),
    f("gold_price_usd", "Gold price (USD)", Input::Number),
];

/// A field as the template shows it.
struct FieldView {
    name: String,
    label: &'static str,
    kind: &'static str,
    value: String,
    checked: bool,
    options: &'static [&'static str],
    /// A credential is stored (for secret fields).
    set: bool,
    /// Nothing is stored: the value shown is the default that applies.
    defaulted: bool,
    problem: Option<String>,
}

struct CardView {
    id: &'static str,
    title: &'static str,
    help: &'static str,
    path: &'static str,
    fields: Vec<FieldView>,
    error: Option<String>,
}

struct ProjectView {
    id: String,
    cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    cards: Vec<CardView>,
    projects: Vec<ProjectView>,
    project_headers: Vec<&'static str>,
    project_form: Vec<FieldView>,
    project_id: String,
    project_error: Option<String>,
    notice: Option<String>,
    revealed: Option<(String, String)>,
    reference: Option<reference::ReferenceView>,
    theme: theme::ThemeView,
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn field_views(
    fields: &'static [Field],
    value: &Value,
    posted: Option<&HashMap<String, String>>,
    error: Option<&ApiError>,
) -> Vec<FieldView> {
    fields
        .iter()
        .map(|field| {
            let stored = at_path(value, field.key);
            let typed = posted.and_then(|p| p.get(field.key));
            let (kind, options) = match field.input {
                Input::Int | Input::Number => ("number", &[][..]),
                Input::Text => ("text", &[][..]),
                Input::Check => ("checkbox", &[][..]),
                Input::Secret => ("password", &[][..]),
                Input::Choice(o) => ("select", o),
            };
            let leaf = field.key.rsplit('/').next().unwrap_or(field.key);
            FieldView {
                name: field.key.to_owned(),
                label: field.label,
                kind,
                value: match (field.input, typed, field.default) {
                    (Input::Secret, _, _) => String::new(),
                    (_, Some(typed), _) => typed.clone(),
                    (_, None, Some(default)) if stored.is_none() => default.to_string(),
                    _ => text_of(stored),
                },
                defaulted: typed.is_none() && stored.is_none() && field.default.is_some(),
                checked: match posted {
                    Some(p) => p.contains_key(field.key),
                    None => stored == Some(&Value::Bool(true)),
                },
                options,
                set: stored
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty()),
                problem: error.and_then(|e| e.message.contains(leaf).then(|| e.message.clone())),
            }
        })
        .collect()
}

/// The JSON a card's form stands for: typed values at their nested keys.
fn body_of(fields: &[Field], form: &HashMap<String, String>) -> Value {
    let mut body = Map::new();
    for field in fields {
        let raw = form.get(field.key).map(|s| s.trim()).unwrap_or("");
        let value = match field.input {
            Input::Check => json!(form.contains_key(field.key)),
            Input::Secret if raw.is_empty() => json!(MASK),
            _ if raw.is_empty() => continue,
            Input::Int => raw
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(raw)),
            Input::Number => raw
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(raw)),
            _ => json!(raw),
        };
        insert_nested(&mut body, field.key, value);
    }
    Value::Object(body)
}

#[derive(Default)]
struct Feedback {
    status: Option<StatusCode>,
    notice: Option<String>,
    card: Option<(&'static str, HashMap<String, String>, ApiError)>,
    project: Option<(HashMap<String, String>, ApiError)>,
    /// The reference data section: the project to show, and a refused form of a project.
    reference_project: Option<String>,
    reference: Option<(String, HashMap<String, String>, ApiError)>,
    /// A refused form of the theme section.
    theme: Option<(HashMap<String, String>, ApiError)>,
    revealed: Option<(String, String)>,
}

async fn page(state: &AppState, auth: &Auth, headers: &HeaderMap, feedback: Feedback) -> Response {
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/settings",
        "settings",
        &[("Settings", None)],
    )
    .await;
    let loaded = async {
        Ok::<_, ApiError>((
            service::tree(&state.db, auth.tenant()).await?,
            policy::get(state, auth).await?,
        ))
    };
    let loaded = async {
        let (tree, policy) = loaded.await?;
        Ok::<_, ApiError>((tree, policy, crate::theme::assets::list(state, auth).await?))
    };
    let (tree, policy, images) = match loaded.await {
        Ok(v) => v,
        Err(e) => return PageError::from(e).into_response(),
    };
    let cards = CARDS
        .iter()
        .map(|card| {
            let value = if card.path == "storage_policy" {
                policy.clone()
            } else {
                at_path(&tree, card.path).cloned().unwrap_or(Value::Null)
            };
            let failed = feedback.card.as_ref().filter(|(id, _, _)| *id == card.id);
            let fields = field_views(
                card.fields,
                &value,
                failed.map(|f| &f.1),
                failed.map(|f| &f.2),
            );
            // A problem shown beside its field is not repeated above the card's form.
            let beside = fields.iter().any(|f| f.problem.is_some());
            CardView {
                id: card.id,
                title: card.title,
                help: card.help,
                path: card.path,
                fields,
                error: failed.map(|f| f.2.message.clone()).filter(|_| !beside),
            }
        })
        .collect();
    let projects = service::projects(&tree)
        .into_iter()
        .map(|(id, _)| {
            let p = tree["projects"][&id].clone();
            ProjectView {
                cells: PROJECT_FIELDS
                    .iter()
                    .map(|f| text_of(p.get(f.key)))
                    .collect(),
                id,
            }
        })
        .collect();
    let (posted, project_error) = match &feedback.project {
        Some((form, e)) => (Some(form), Some(e)),
        None => (None, None),
    };
    let project_form = field_views(PROJECT_FIELDS, &Value::Null, posted, project_error);
    let project_form_beside = project_form.iter().any(|f| f.problem.is_some());
    let body = SettingsPage {
        layout,
        cards,
        projects,
        project_headers: PROJECT_FIELDS.iter().map(|f| f.label).collect(),
        project_form,
        project_id: posted
            .and_then(|p| p.get("id").cloned())
            .unwrap_or_default(),
        project_error: project_error
            .map(|e| e.message.clone())
            .filter(|_| !project_form_beside),
        notice: feedback.notice,
        revealed: feedback.revealed,
        reference: reference::view(
            &tree,
            feedback.reference_project.as_deref(),
            feedback.reference.as_ref(),
        ),
        theme: theme::view(
            tree.get("theme").unwrap_or(&Value::Null),
            images,
            feedback.theme.as_ref(),
        ),
    };
    csrf.attach((feedback.status.unwrap_or(StatusCode::OK), render(&body)).into_response())
}

/// After a form: back to the page at `to`, or the page again with the error (and its status).
async fn outcome<T>(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    result: Result<T, ApiError>,
    to: &str,
    feedback: impl FnOnce(ApiError) -> Feedback,
) -> Response {
    match result {
        Ok(_) => Redirect::to(to).into_response(),
        Err(e) => {
            let status = Some(e.status());
            let mut feedback = feedback(e);
            feedback.status = status;
            page(state, auth, headers, feedback).await
        }
    }
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
    /// The project whose reference data the page shows.
    reference: Option<String>,
}

pub async fn settings_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<NoticeQuery>,
) -> Response {
    let notice = match q.notice.as_deref() {
        Some("saved") => Some("Settings saved.".to_owned()),
        Some("project-saved") => Some("Project saved.".to_owned()),
        Some("project-removed") => Some("Project removed.".to_owned()),
        Some("reference-saved") => Some("Reference data saved.".to_owned()),
        Some("theme-saved") => Some("Theme saved.".to_owned()),
        Some("theme-reset") => {
            Some("Theme reset to the built-in colours, without a background.".to_owned())
        }
        Some("image-removed") => Some("Image removed.".to_owned()),
        _ => None,
    };
    page(
        &state,
        &auth,
        &headers,
        Feedback {
            notice,
            reference_project: q.reference,
            ..Default::default()
        },
    )
    .await
}

/// Save one card.
pub async fn save_card(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Response {
    let Some(card) = CARDS.iter().find(|c| c.id == id) else {
        return ApiError::not_found("Settings card").into_response();
    };
    let body = body_of(card.fields, &form);
    let saved = if card.path == "storage_policy" {
        policy::put(&state, &auth, body).await.map(|_| ())
    } else {
        let path: Vec<String> = card.path.split('/').map(str::to_owned).collect();
        service::write(&state, &auth, &path, body).await.map(|_| ())
    };
    let to = format!("/settings?notice=saved#{}", card.id);
    outcome(&state, &auth, &headers, saved, &to, |e| Feedback {
        card: Some((card.id, form, e)),
        ..Default::default()
    })
    .await
}

/// Add or change a project.
pub async fn save_project(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Response {
    let id = form
        .get("id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let result = async {
        if id.is_empty() {
            return Err(worded("id", "Project id is required".into()));
        }
        let path = service::parse_path(&format!("projects/{id}"))?;
        if path.len() != 2 {
            return Err(worded("id", format!("Project {}", crate::schema::ID_RULE)));
        }
        let mut body = body_of(PROJECT_FIELDS, &form);
        body["id"] = json!(id);
        service::write(&state, &auth, &path, body).await
    };
    let to = "/settings?notice=project-saved#projects";
    let result = result.await.map_err(|e| project_problem_in_words(e, &id));
    outcome(&state, &auth, &headers, result, to, |e| Feedback {
        project: Some((form, e)),
        ..Default::default()
    })
    .await
}

/// The service names a project's problem by its settings path (`projects/wow: name: is
/// required`); the form says it in words ("Project name is required").
fn project_problem_in_words(e: ApiError, id: &str) -> ApiError {
    let prefix = format!("projects/{id}: ");
    let Some(problem) = e.message.strip_prefix(&prefix) else {
        return e;
    };
    let (field, text) = match problem.split_once(": ") {
        Some((key, text)) => match PROJECT_FIELDS.iter().find(|f| f.key == key) {
            Some(f) => (f.key, format!("Project {} {text}", f.label.to_lowercase())),
            None => return e,
        },
        None => ("id", format!("Project {problem}")),
    };
    worded(field, text)
}

/// A field error whose message is the sentence itself.
fn worded(field: &str, sentence: String) -> ApiError {
    let mut e = ApiError::field(field, sentence.clone());
    e.message = sentence;
    e
}

/// Remove a project (409 while bots, subscriptions, notes or operations use it).
pub async fn remove_project(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    let result = async {
        let path = service::parse_path(&format!("projects/{id}"))?;
        service::write(&state, &auth, &path, Value::Null).await
    };
    let to = "/settings?notice=project-removed#projects";
    outcome(&state, &auth, &headers, result.await, to, |e| Feedback {
        project: Some((HashMap::from([("id".to_owned(), id)]), e)),
        ..Default::default()
    })
    .await
}

#[derive(Deserialize)]
pub struct RevealForm {
    path: String,
}

/// Show one stored credential once (admins; audited like the API's reveal).
pub async fn reveal(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    slot: AuditSlot,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<RevealForm>,
) -> Response {
    let result = async {
        let path = service::parse_path(&form.path)?;
        slot.describe_always("secret.reveal", format!("settings:{}", path.join("/")));
        service::reveal(&state, &auth.admin()?, &path).await
    };
    match result.await {
        Ok(value) => {
            let shown = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            let revealed = Some((form.path.clone(), shown));
            let mut response = page(
                &state,
                &auth,
                &headers,
                Feedback {
                    revealed,
                    ..Default::default()
                },
            )
            .await;
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(e) => {
            let status = Some(e.status());
            page(
                &state,
                &auth,
                &headers,
                Feedback {
                    status,
                    notice: Some(e.message),
                    ..Default::default()
                },
            )
            .await
        }
    }
}

/// `POST /settings/projects/{id}/reference`: replace a project's reference data.
pub async fn save_reference(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Response {
    let result = reference::save(&state, &auth, &id, &form).await;
    let to = format!(
        "/settings?notice=reference-saved&reference={}#reference-data",
        crate::ui::records::common::seg(&id)
    );
    outcome(&state, &auth, &headers, result, &to, |e| Feedback {
        reference: Some((id.clone(), form.clone(), e)),
        ..Default::default()
    })
    .await
}

/// `POST /settings/theme`: the colours and the background.
pub async fn save_theme(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Response {
    let result = theme::save(&state, &auth, &form).await;
    let to = "/settings?notice=theme-saved#theme";
    outcome(&state, &auth, &headers, result, to, |e| Feedback {
        theme: Some((form.clone(), e)),
        ..Default::default()
    })
    .await
}

/// `POST /settings/theme/reset`: the built-in colours and no background.
pub async fn reset_theme(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    let result = theme::reset(&state, &auth).await;
    let to = "/settings?notice=theme-reset#theme";
    outcome(&state, &auth, &headers, result, to, |e| Feedback {
        theme: Some((HashMap::new(), e)),
        ..Default::default()
    })
    .await
}

/// `POST /settings/theme/assets/{id}/delete`: remove a background image.
pub async fn delete_theme_image(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    let result = crate::theme::assets::delete(&state, &auth, &id).await;
    let to = "/settings?notice=image-removed#theme";
    outcome(&state, &auth, &headers, result, to, |e| Feedback {
        theme: Some((HashMap::new(), e)),
        ..Default::default()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_become_typed_nested_bodies_and_blank_secrets_keep_the_stored_one() {
        let card = CARDS.iter().find(|c| c.id == "api_keys").unwrap();
        let form = HashMap::from([
            ("ipqs/enabled".to_owned(), "on".to_owned()),
            ("ipqs/api_key".to_owned(), "".to_owned()),
            ("telegram/chat_id".to_owned(), " 42 ".to_owned()),
        ]);
        assert_eq!(
            body_of(card.fields, &form),
            json!({"ipqs": {"enabled": true, "api_key": MASK},
            "telegram": {"enabled": false, "bot_token": MASK, "chat_id": "42"}})
        );
        let alerts = CARDS.iter().find(|c| c.id == "alerts").unwrap();
        let form = HashMap::from([("warning_days".to_owned(), "14".to_owned())]);
        assert_eq!(body_of(alerts.fields, &form), json!({"warning_days": 14}));
    }
}
