//! The playbooks page: the caller's playbooks (the YAML a VM runs after its software is
//! installed), an editor that checks a playbook before saving it (errors refuse it, unknown
//! roles only warn) and delete.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::Validate;
use botmox_proto::provisioning::{
    CreatePlaybookRequest, PlaybookValidation, PlaybookView, UpdatePlaybookRequest,
};
use serde::{Deserialize, Serialize};

use super::error_page::PageResult;
use super::layout::{Layout, render};
use super::refusal::Refusal;
use super::session::{CsrfForm, EmptyForm, UiUser};
use crate::http::ApiError;
use crate::principal::Auth;
use crate::provisioning::service;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};

/// What a new playbook starts with.
const NEW_PLAYBOOK: &str = "name: Bot VM\nroles:\n  - role: base-system\n";

#[derive(Template)]
#[template(path = "playbooks.html")]
struct PlaybooksPage {
    layout: Layout,
    playbooks: Vec<PlaybookView>,
    form: PlaybookForm,
    /// The playbook being edited; `None` for a new one.
    editing: Option<String>,
    check: Option<PlaybookValidation>,
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

/// The editor form (`action`: `save` or `validate`).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct PlaybookForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    is_default: Option<String>,
    #[serde(default)]
    content: String,
    #[serde(default)]
    action: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

struct Shown {
    status: StatusCode,
    editing: Option<String>,
    form: PlaybookForm,
    check: Option<PlaybookValidation>,
    notice: Option<String>,
    refusal: Refusal,
}

async fn show(state: &AppState, auth: &Auth, headers: &HeaderMap, shown: Shown) -> PageResult {
    let playbooks = service::list_playbooks(&state.db, auth).await?;
    let path = match &shown.editing {
        Some(id) => format!("/playbooks/{id}"),
        None => "/playbooks".to_owned(),
    };
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        &path,
        "playbooks",
        &[("Provisioning", None), ("Playbooks", None)],
    )
    .await;
    let body = PlaybooksPage {
        layout,
        playbooks,
        form: shown.form,
        editing: shown.editing,
        check: shown.check,
        notice: shown.notice,
        error: shown.refusal.banner(),
        refusal: shown.refusal,
    };
    Ok(csrf.attach((shown.status, render(&body)).into_response()))
}

fn notice(q: &Notice) -> Option<String> {
    match q.notice.as_deref() {
        Some("saved") => Some("Playbook saved.".to_owned()),
        Some("deleted") => Some("Playbook deleted.".to_owned()),
        _ => None,
    }
}

pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<Notice>,
) -> PageResult {
    let form = PlaybookForm {
        content: NEW_PLAYBOOK.to_owned(),
        ..PlaybookForm::default()
    };
    let shown = Shown {
        status: StatusCode::OK,
        editing: None,
        form,
        check: None,
        notice: notice(&q),
        refusal: Refusal::none(),
    };
    show(&state, &auth, &headers, shown).await
}

pub async fn edit_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    PageQuery(q): PageQuery<Notice>,
) -> PageResult {
    let playbook = service::get_playbook(&state.db, &auth, &id).await?;
    let form = PlaybookForm {
        name: playbook.name,
        is_default: playbook.is_default.then(String::new),
        content: playbook.content,
        action: String::new(),
    };
    let shown = Shown {
        status: StatusCode::OK,
        editing: Some(playbook.id),
        form,
        check: None,
        notice: notice(&q),
        refusal: Refusal::none(),
    };
    show(&state, &auth, &headers, shown).await
}

/// Check (`action=validate`) or save what the editor holds; a refusal shows the editor
/// again as it was, with the reason and the checker's findings.
async fn submit(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    editing: Option<String>,
    form: PlaybookForm,
) -> PageResult {
    if form.action == "validate" {
        let check = service::validate_playbook(&form.content);
        let shown = Shown {
            status: StatusCode::OK,
            editing,
            form,
            check: Some(check),
            notice: None,
            refusal: Refusal::none(),
        };
        return show(state, auth, headers, shown).await;
    }
    let saved = save(state, auth, editing.as_deref(), &form).await;
    match saved {
        Ok(id) => Ok(Redirect::to(&format!("/playbooks/{id}?notice=saved")).into_response()),
        Err(e) => {
            // An invalid playbook shows what the checker found beside the reason.
            let check = Some(service::validate_playbook(&form.content)).filter(|c| !c.valid);
            let shown = Shown {
                status: e.status(),
                refusal: Refusal::new("playbook-form", &form, &e)
                    .unshown("is_default")
                    .unshown("action"),
                editing,
                form,
                check,
                notice: None,
            };
            show(state, auth, headers, shown).await
        }
    }
}

async fn save(
    state: &AppState,
    auth: &Auth,
    editing: Option<&str>,
    form: &PlaybookForm,
) -> Result<String, ApiError> {
    let name = form.name.trim().to_owned();
    let is_default = form.is_default.is_some();
    match editing {
        None => {
            let request = CreatePlaybookRequest {
                name,
                is_default,
                content: form.content.clone(),
            };
            request.validate()?;
            Ok(service::create_playbook(&state.db, auth, request).await?.id)
        }
        Some(id) => {
            let request = UpdatePlaybookRequest {
                name: Some(name),
                is_default: Some(is_default),
                content: Some(form.content.clone()),
            };
            request.validate()?;
            Ok(service::update_playbook(&state.db, auth, id, request)
                .await?
                .id)
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<PlaybookForm>,
) -> PageResult {
    submit(&state, &auth, &headers, None, form).await
}

pub async fn update(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<PlaybookForm>,
) -> PageResult {
    submit(&state, &auth, &headers, Some(id), form).await
}

pub async fn delete(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> PageResult {
    service::delete_playbook(&state.db, &auth, &id).await?;
    Ok(Redirect::to("/playbooks?notice=deleted").into_response())
}
