//! The Settings page's reference data section: per project, the servers, the races of each
//! faction and the classes of each race that a bot's character is chosen from (the bot
//! page's Configure tab), edited as four texts and kept at settings
//! `projects/<id>/referenceData`.

use std::collections::HashMap;

use serde_json::json;

use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::bots::reference::ReferenceData;
use crate::settings::service;
use crate::state::AppState;
use crate::ui::records::form::Opt;

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

/// Replace project `id`'s reference data with what the form's four texts say.
pub async fn save(
    state: &AppState,
    auth: &Auth,
    id: &str,
    form: &HashMap<String, String>,
) -> ApiResult<()> {
    let text = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let tree = service::tree(&state.db, auth.tenant()).await?;
    if !service::projects(&tree).iter().any(|(p, _)| p == id) {
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
    service::write(state, auth, &path, json!(data)).await?;
    Ok(())
}
