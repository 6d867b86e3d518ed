//! The figures of the Overview dashboard (spec ui.md §3.1), each computed by a grouped
//! query over the projection columns: bots per project and status, resources by state,
//! money of the last 30 days, notes, and everything expiring within `alerts.warning_days`.
//! Resource states are the effective statuses of `records::expiry`, the same the lists show
//! and filter on.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::store;
use crate::db::entity::record;
use crate::http::ApiResult;
use crate::principal::Auth;
use crate::records::documents::{counts, service, store as documents};
use crate::records::expiry::{self, Window};
use crate::records::finance::service::{self as finance, SummaryParams, Totals};
use crate::records::kinds::{Kind, bots_in_column};
use crate::settings;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCount {
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectBots {
    pub id: String,
    pub name: String,
    pub total: i64,
    pub by_status: Vec<StatusCount>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ResourceCounts {
    /// Every record of the kind, revoked, banned and cancelled ones included.
    pub total: i64,
    /// Effective status `active`: more than the warning days left, or no expiry.
    pub active: i64,
    /// Effective status `expiring`: at most the warning days left.
    pub expiring: i64,
    /// Effective status `expired`.
    pub expired: i64,
    /// Not attached to any bot.
    pub unassigned: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Expiring {
    /// `licenses`, `proxies` or `subscriptions`.
    pub kind: String,
    pub id: String,
    pub label: String,
    pub bot_id: Option<String>,
    /// The bot's name, when it has one.
    pub bot_name: Option<String>,
    pub expires_at: i64,
    pub days_left: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteCounts {
    pub pinned: i64,
    pub regular: i64,
    /// Titles of the most recently changed notes.
    pub recent: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub warning_days: i64,
    pub bots_total: i64,
    pub bots_by_status: Vec<StatusCount>,
    pub projects: Vec<ProjectBots>,
    pub licenses: ResourceCounts,
    pub proxies: ResourceCounts,
    pub subscriptions: ResourceCounts,
    /// USD, last 30 days.
    pub finance: Totals,
    pub notes: NoteCounts,
    pub expiring: Vec<Expiring>,
}

async fn resource_counts(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    window: &Window,
) -> ApiResult<ResourceCounts> {
    let (total, active, expiring, expired, unassigned) =
        store::resource_counts(&state.db, auth.tenant(), kind, window).await?;
    Ok(ResourceCounts {
        total,
        active,
        expiring,
        expired,
        unassigned,
    })
}

async fn expiring(state: &AppState, auth: &Auth, window: &Window) -> ApiResult<Vec<Expiring>> {
    let rows = store::expiring(&state.db, auth.tenant(), window).await?;
    let bot_of = |r: &record::Model| {
        r.bot_id
            .as_deref()
            .and_then(|b| bots_in_column(b).next())
            .map(str::to_owned)
    };
    let mut bots: Vec<String> = rows.iter().filter_map(bot_of).collect();
    bots.sort();
    bots.dedup();
    let names = if bots.is_empty() {
        Vec::new()
    } else {
        store::bot_names(&state.db, auth.tenant(), bots).await?
    };
    Ok(rows
        .iter()
        .map(|r| {
            let doc = service::document(r);
            let text = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let label = match Kind::parse(&r.kind) {
                Some(Kind::License) => format!("License ({})", text("type")),
                Some(Kind::Proxy) => format!(
                    "Proxy ({}:{})",
                    text("ip"),
                    doc.get("port").cloned().unwrap_or(Value::Null)
                ),
                _ => format!("Subscription ({})", text("type")),
            };
            let expires_at = r.expires_at_ms.unwrap_or(window.now);
            let bot_id = bot_of(r);
            let bot_name = bot_id.as_ref().and_then(|b| {
                names
                    .iter()
                    .find(|(id, _)| id == b)
                    .and_then(|(_, name)| name.clone())
            });
            Expiring {
                kind: r.kind.clone(),
                id: r.id.clone(),
                label,
                bot_id,
                bot_name,
                expires_at,
                days_left: expiry::days_left(expires_at, window.now),
            }
        })
        .collect())
}

pub async fn overview(state: &AppState, auth: &Auth) -> ApiResult<Overview> {
    let tree = settings::service::tree(&state.db, auth.tenant()).await?;
    let warning_days = settings::service::warning_days(&tree);
    let window = Window {
        now: service::now_ms(),
        warning_days,
    };

    let per_project = counts::bots(state.db.read(), auth.tenant(), None).await?;
    let mut bots_by_status: Vec<StatusCount> = Vec::new();
    for (_, status, n) in &per_project {
        match bots_by_status.iter_mut().find(|s| &s.status == status) {
            Some(s) => s.count += n,
            None => bots_by_status.push(StatusCount {
                status: status.clone(),
                count: *n,
            }),
        }
    }
    bots_by_status.sort_by(|a, b| a.status.cmp(&b.status));
    let projects = settings::service::projects(&tree)
        .into_iter()
        .map(|(id, name)| {
            let by_status: Vec<StatusCount> = per_project
                .iter()
                .filter(|(p, _, _)| p.as_deref() == Some(id.as_str()))
                .map(|(_, s, n)| StatusCount {
                    status: s.clone(),
                    count: *n,
                })
                .collect();
            ProjectBots {
                total: by_status.iter().map(|s| s.count).sum(),
                id,
                name,
                by_status,
            }
        })
        .collect();

    let notes =
        documents::count_by_status(state.db.read(), auth.tenant(), Kind::Note, None).await?;
    let recent = store::recent_note_titles(&state.db, auth.tenant()).await?;
    let pinned = notes
        .iter()
        .filter(|(s, _)| s.as_deref() == Some("pinned"))
        .map(|(_, n)| n)
        .sum();
    let regular = notes
        .iter()
        .filter(|(s, _)| s.is_none())
        .map(|(_, n)| n)
        .sum();

    let money = finance::summary(
        &state.db,
        auth,
        SummaryParams {
            from: None,
            to: None,
            period: Some(finance::Period::Month),
            currency: None,
            project_id: None,
        },
    )
    .await?;

    Ok(Overview {
        warning_days,
        bots_total: bots_by_status.iter().map(|s| s.count).sum(),
        bots_by_status,
        projects,
        licenses: resource_counts(state, auth, Kind::License, &window).await?,
        proxies: resource_counts(state, auth, Kind::Proxy, &window).await?,
        subscriptions: resource_counts(state, auth, Kind::Subscription, &window).await?,
        finance: money.totals,
        notes: NoteCounts {
            pinned,
            regular,
            recent: recent
                .into_iter()
                .map(|t| t.unwrap_or_else(|| "(untitled)".into()))
                .collect(),
        },
        expiring: expiring(state, auth, &window).await?,
    })
}
