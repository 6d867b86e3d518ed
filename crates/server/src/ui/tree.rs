//! The resource tree beside every page (ui.md §1.1): the projects with their bot counts,
//! under each the statuses that have bots (those the bot filters let through), under an
//! open status its bots; collapsible and resizable.
//!
//! Pages render only the tree's static links and load the tree itself afterwards
//! (`GET /ui/tree`), so no page waits on its counts. How a user left the tree (width,
//! collapsed, open nodes, filters) is kept per user on the server (`POST /ui/tree`), so it
//! looks the same in every browser the user signs in from.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use botmox_proto::records::BOT_STATUSES;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error_page::error_page;
use super::records::common::seg;
use super::render::render;
use super::session::{CsrfForm, UiUser};
use crate::clock::now_ms;
use crate::db::StoreError;
use crate::db::entity::interface_state::{self, Entity};
use crate::http::ApiError;
use crate::principal::Auth;
use crate::records::documents::counts;
use crate::records::overview::store as overview;
use crate::settings;
use crate::state::AppState;

/// The tree's width bounds and default, in CSS pixels.
const MIN_WIDTH: u16 = 220;
const MAX_WIDTH: u16 = 460;
const DEFAULT_WIDTH: u16 = 280;
/// Bots listed under one status node; the node's link leads to all of them.
const BOTS_PER_NODE: u64 = 100;
/// Open nodes remembered, and the longest key kept.
const MAX_OPEN: usize = 500;
const MAX_KEY: usize = 300;

/// How a user left the tree. Node keys: `p:<project>` for a project, `s:<status>:<project>`
/// for a status under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TreeState {
    pub width: u16,
    pub collapsed: bool,
    pub show_filters: bool,
    pub open: BTreeSet<String>,
    /// Bot statuses the filters hide.
    pub hidden: BTreeSet<String>,
}

impl Default for TreeState {
    fn default() -> Self {
        Self {
            width: DEFAULT_WIDTH,
            collapsed: false,
            show_filters: false,
            open: BTreeSet::new(),
            hidden: BTreeSet::new(),
        }
    }
}

impl TreeState {
    /// The state a browser sent, checked: what it cannot hold is refused, saying why.
    fn parse(text: &str) -> Result<Self, String> {
        let state: Self = serde_json::from_str(text).map_err(|e| format!("Tree state: {e}"))?;
        if !(MIN_WIDTH..=MAX_WIDTH).contains(&state.width) {
            return Err(format!(
                "The tree's width must be {MIN_WIDTH} to {MAX_WIDTH} pixels"
            ));
        }
        if state.open.len() > MAX_OPEN || state.open.iter().any(|k| k.len() > MAX_KEY) {
            return Err(format!(
                "At most {MAX_OPEN} open nodes of up to {MAX_KEY} characters"
            ));
        }
        if let Some(unknown) = state
            .hidden
            .iter()
            .find(|s| !BOT_STATUSES.contains(&s.as_str()))
        {
            return Err(format!("Unknown bot status: {unknown}"));
        }
        Ok(state)
    }
}

/// The user's tree state; the default when none was kept (or what was kept no longer reads).
async fn load(state: &AppState, auth: &Auth) -> Result<TreeState, ApiError> {
    let kept = Entity::find_by_id(auth.caller().to_owned())
        .one(state.db.read())
        .await
        .map_err(StoreError::from)?;
    Ok(kept
        .filter(|row| row.tenant_id == auth.tenant().as_str())
        .and_then(|row| serde_json::from_str(&row.resource_tree).ok())
        .unwrap_or_default())
}

async fn save(state: &AppState, auth: &Auth, tree: &TreeState) -> Result<(), ApiError> {
    let row = interface_state::ActiveModel {
        user_id: Set(auth.caller().to_owned()),
        tenant_id: Set(auth.tenant().as_str().to_owned()),
        resource_tree: Set(serde_json::to_string(tree).unwrap_or_default()),
        updated_at: Set(now_ms()),
    };
    state
        .db
        .write(async |txn| {
            Entity::insert(row)
                .on_conflict(
                    OnConflict::column(interface_state::Column::UserId)
                        .update_columns([
                            interface_state::Column::ResourceTree,
                            interface_state::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
            Ok::<_, StoreError>(())
        })
        .await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "tree.html")]
struct TreeFragment {
    /// The state as JSON, for the script to change and send back.
    state: String,
    width: u16,
    collapsed: bool,
    show_filters: bool,
    filters: Vec<Filter>,
    projects: Vec<ProjectNode>,
}

struct Filter {
    status: &'static str,
    shown: bool,
}

struct ProjectNode {
    id: String,
    key: String,
    name: String,
    href: String,
    count: i64,
    open: bool,
    statuses: Vec<StatusNode>,
}

struct StatusNode {
    key: String,
    status: String,
    href: String,
    count: i64,
    open: bool,
    bots: Vec<BotLeaf>,
    /// Bots the node has beyond those listed.
    more: i64,
}

struct BotLeaf {
    href: String,
    label: String,
}

/// A bot as the tree names it: character (or bot) name, VM name, first 8 characters of its id.
fn bot_label(id: &str, name: Option<&str>, data: &str) -> String {
    let doc: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let text = |path: &str| {
        doc.pointer(path)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    let who = text("/character/name").or(name).unwrap_or("Unnamed");
    let vm = text("/vm/name").unwrap_or("No VM");
    let short: String = id.chars().take(8).collect();
    format!("{who} ({vm}) - {short}")
}

/// A project's page, or (with `status`) its table filtered to the status.
fn node_href(project: &str, status: Option<&str>) -> String {
    match status {
        Some(s) => format!("/project/{}?status={s}", seg(project)),
        None => format!("/project/{}", seg(project)),
    }
}

/// The tree as `state` shows it. (Bots name only projects the settings define.)
async fn fragment(app: &AppState, auth: &Auth, state: TreeState) -> Result<Response, ApiError> {
    let tenant = auth.tenant();
    let defined = settings::service::projects(&settings::service::tree(&app.db, tenant).await?);
    let mut counts: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (project, status, n) in counts::bots(app.db.read(), tenant, None).await? {
        if let Some(project) = project {
            counts.entry(project).or_default().insert(status, n);
        }
    }
    let mut projects = Vec::with_capacity(defined.len());
    for (id, name) in defined {
        let by_status = counts.remove(&id).unwrap_or_default();
        let project_key = format!("p:{id}");
        let project_open = state.open.contains(&project_key);
        let mut statuses = Vec::new();
        for status in BOT_STATUSES {
            let Some(&count) = by_status.get(*status) else {
                continue;
            };
            if state.hidden.contains(*status) {
                continue;
            }
            let key = format!("s:{status}:{id}");
            let open = state.open.contains(&key);
            // A status's bots are read only when they can be seen: it and its project open.
            let bots = if open && project_open {
                overview::bots_at(&app.db, tenant, &id, status, BOTS_PER_NODE)
                    .await?
                    .into_iter()
                    .map(|(bot, name, data)| BotLeaf {
                        href: format!("/bot/{}", seg(&bot)),
                        label: bot_label(&bot, name.as_deref(), &data),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            statuses.push(StatusNode {
                href: node_href(&id, Some(status)),
                more: if open { count - bots.len() as i64 } else { 0 },
                status: (*status).to_owned(),
                count,
                open,
                bots,
                key,
            });
        }
        projects.push(ProjectNode {
            open: project_open,
            href: node_href(&id, None),
            count: by_status.values().sum(),
            name,
            statuses,
            key: project_key,
            id,
        });
    }
    let view = TreeFragment {
        state: serde_json::to_string(&state).unwrap_or_default(),
        width: state.width,
        collapsed: state.collapsed,
        show_filters: state.show_filters,
        filters: BOT_STATUSES
            .iter()
            .map(|s| Filter {
                status: s,
                shown: !state.hidden.contains(*s),
            })
            .collect(),
        projects,
    };
    Ok(render(&view))
}

/// `GET /ui/tree`: the tree as the user left it.
pub async fn tree(State(state): State<AppState>, UiUser(auth): UiUser) -> Response {
    let shown = async { fragment(&state, &auth, load(&state, &auth).await?).await };
    shown.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
pub struct TreeForm {
    state: String,
}

/// `POST /ui/tree`: keep the user's new state of the tree, and answer the tree as it shows it.
pub async fn keep(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    CsrfForm(form): CsrfForm<TreeForm>,
) -> Response {
    let tree = match TreeState::parse(&form.state) {
        Ok(tree) => tree,
        Err(reason) => return error_page(StatusCode::BAD_REQUEST, "Request failed", &reason),
    };
    let kept = async {
        save(&state, &auth, &tree).await?;
        fragment(&state, &auth, tree).await
    };
    kept.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_refused_when_it_cannot_be_shown() {
        let ok = TreeState::parse(r#"{"width":300,"open":["p:wow"],"hidden":["banned"]}"#);
        assert_eq!(ok.unwrap().width, 300);
        assert_eq!(TreeState::parse("{}").unwrap(), TreeState::default());
        for (bad, says) in [
            (r#"{"width":100}"#, "width"),
            (r#"{"width":461}"#, "width"),
            (r#"{"hidden":["sleeping"]}"#, "Unknown bot status"),
            (r#"{"colour":"red"}"#, "unknown field"),
            ("\"wide\"", "Tree state"),
        ] {
            let err = TreeState::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let many: Vec<String> = (0..=MAX_OPEN).map(|i| format!("p:{i}")).collect();
        let too_many = serde_json::json!({ "open": many }).to_string();
        assert!(TreeState::parse(&too_many).is_err());
    }

    #[test]
    fn a_bot_is_named_by_character_vm_and_short_id() {
        let data = r#"{"character":{"name":"Char01"},"vm":{"name":"WIN-7"}}"#;
        assert_eq!(
            bot_label("0123456789abcdef", Some("bot"), data),
            "Char01 (WIN-7) - 01234567"
        );
        assert_eq!(bot_label("ab", Some("bot"), "{}"), "bot (No VM) - ab");
        assert_eq!(
            bot_label("ab", None, r#"{"character":{"name":" "}}"#),
            "Unnamed (No VM) - ab"
        );
    }
}
