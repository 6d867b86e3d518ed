//! The Settings page's reference data section: per project, the servers, the races of each
//! faction and the classes of each race that a bot's character is chosen from (the bot
//! page's Configure tab), edited as four texts and kept at settings
//! `projects/<id>/referenceData`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::{Feedback, outcome};
use crate::http::ApiError;
use crate::records::bots::reference::ReferenceData;
use crate::settings::service;
use crate::state::AppState;
use crate::ui::extract::PagePath;
use crate::ui::records::form::Opt;
use crate::ui::session::{CsrfForm, UiUser};

/// The section as drawn: the project edited, the choice of another, the four texts.
pub struct ReferenceView {
    pub project: String,
    pub projects: Vec<Opt>,
    pub servers: String,
    pub alliance: String,
    pub horde: String,
    pub classes: String,
    pub error: Option<String>,
}

/// The section for `chosen` (else the first project); `None` while there are no projects.
/// A refused form shows what was typed.
pub fn view(
    tree: &serde_json::Value,
    chosen: Option<&str>,
    failed: Option<&(String, HashMap<String, String>, ApiError)>,
) -> Option<ReferenceView> {
    let projects = service::projects(tree);
    let project = failed
        .map(|(id, _, _)| id.as_str())
        .or(chosen)
        .filter(|c| projects.iter().any(|(id, _)| id == c))
        .or_else(|| projects.first().map(|(id, _)| id.as_str()))?
        .to_owned();
    let [servers, alliance, horde, classes] = match failed {
        Some((_, typed, _)) => ["servers", "alliance", "horde", "classes"]
            .map(|k| typed.get(k).cloned().unwrap_or_default()),
        None => ReferenceData::of(tree, &project).to_texts(),
    };
    Some(ReferenceView {
        projects: projects
            .iter()
            .map(|(id, name)| Opt {
                value: id.clone(),
                label: format!("{name} ({id})"),
                selected: *id == project,
            })
            .collect(),
        project,
        servers,
        alliance,
        horde,
        classes,
        error: failed.map(|(_, _, e)| e.message.clone()),
    })
}

/// `POST /settings/projects/{id}/reference`: replace the project's reference data.
pub async fn save(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Response {
    let text = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let result = async {
        let tree = service::tree(&state.db, auth.tenant()).await?;
        if !service::projects(&tree).iter().any(|(p, _)| *p == id) {
            return Err(ApiError::not_found("Project"));
        }
        let data = ReferenceData::from_texts(
            text("servers"),
            text("alliance"),
            text("horde"),
            text("classes"),
        )
        .map_err(|problem| ApiError::field("classes", problem))?;
        let path = service::parse_path(&format!("projects/{id}/referenceData"))?;
        service::write(&state, &auth, &path, json!(data)).await
    };
    let to = format!(
        "/settings?notice=reference-saved&reference={}#reference-data",
        crate::ui::records::common::seg(&id)
    );
    outcome(&state, &auth, &headers, result.await, &to, |e| Feedback {
        reference: Some((id.clone(), form.clone(), e)),
        ..Default::default()
    })
    .await
}
