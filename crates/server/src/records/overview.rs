//! The figures of the Overview dashboard (spec ui.md §3.1), each computed by a grouped
//! query over the projection columns: bots per project and status, resources by state,
//! money of the last 30 days, notes, and everything expiring within `alerts.warning_days`.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::finance::{self, SummaryParams, Totals};
use super::kinds::{Kind, bots_in_column};
use super::service;
use crate::app::AppState;
use crate::auth::Auth;
use crate::db::entity::record::{Column, Entity};
use crate::http::ApiResult;
use crate::settings;

const DAY_MS: i64 = 86_400_000;
const EXPIRING_SHOWN: u64 = 50;
const RECENT_NOTES: u64 = 5;

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
    pub total: i64,
    pub active: i64,
    pub expiring: i64,
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

fn tenant_kind(auth: &Auth, kind: Kind) -> sea_orm::Select<Entity> {
    Entity::find()
        .filter(Column::TenantId.eq(&auth.tenant_id))
        .filter(Column::Kind.eq(kind.as_str()))
}

async fn resource_counts(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    now: i64,
    soon: i64,
) -> ApiResult<ResourceCounts> {
    let count_if = |cond: String| {
        Expr::cust(format!(
            "COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)"
        ))
    };
    let expired = format!("(status = 'expired' OR expires_at_ms < {now})");
    let row: Option<(i64, i64, i64, i64, i64)> = tenant_kind(auth, kind)
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "total")
        .column_as(count_if(format!("status = 'active' AND NOT {expired}")), "active")
        .column_as(
            count_if(format!(
                "expires_at_ms >= {now} AND expires_at_ms < {soon} AND COALESCE(status, '') NOT IN ('banned', 'expired', 'revoked', 'cancelled')"
            )),
            "expiring",
        )
        .column_as(count_if(expired), "expired")
        .column_as(count_if("bot_id IS NULL".into()), "unassigned")
        .into_tuple()
        .one(&state.db)
        .await?;
    let (total, active, expiring, expired, unassigned) = row.unwrap_or_default();
    Ok(ResourceCounts {
        total,
        active,
        expiring,
        expired,
        unassigned,
    })
}

async fn expiring(state: &AppState, auth: &Auth, now: i64, soon: i64) -> ApiResult<Vec<Expiring>> {
    let rows = Entity::find()
        .filter(Column::TenantId.eq(&auth.tenant_id))
        .filter(Column::Kind.is_in([
            Kind::License.as_str(),
            Kind::Proxy.as_str(),
            Kind::Subscription.as_str(),
        ]))
        .filter(Column::ExpiresAtMs.gte(now))
        .filter(Column::ExpiresAtMs.lt(soon))
        .filter(Expr::cust(
            "COALESCE(status, '') NOT IN ('banned', 'expired', 'revoked', 'cancelled')",
        ))
        .order_by_asc(Column::ExpiresAtMs)
        .limit(EXPIRING_SHOWN)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let doc = service::document(&r);
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
            let expires_at = r.expires_at_ms.unwrap_or(now);
            let bot_id = r
                .bot_id
                .as_deref()
                .and_then(|b| bots_in_column(b).next())
                .map(str::to_owned);
            Expiring {
                kind: r.kind,
                id: r.id,
                label,
                bot_id,
                expires_at,
                days_left: (expires_at - now) / DAY_MS,
            }
        })
        .collect())
}

pub async fn overview(state: &AppState, auth: &Auth) -> ApiResult<Overview> {
    let tree = settings::service::tree(state, &auth.tenant_id).await?;
    let warning_days = settings::service::warning_days(&tree);
    let now = service::now_ms();
    let soon = now + warning_days * DAY_MS;

    let per_project: Vec<(Option<String>, Option<String>, i64)> = tenant_kind(auth, Kind::Bot)
        .select_only()
        .column(Column::ProjectId)
        .column(Column::Status)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(Column::ProjectId)
        .group_by(Column::Status)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut bots_by_status: Vec<StatusCount> = Vec::new();
    for (_, status, n) in &per_project {
        let status = status.clone().unwrap_or_else(|| "offline".into());
        match bots_by_status.iter_mut().find(|s| s.status == status) {
            Some(s) => s.count += n,
            None => bots_by_status.push(StatusCount { status, count: *n }),
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
                    status: s.clone().unwrap_or_else(|| "offline".into()),
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

    let notes: Vec<(Option<String>, i64)> = tenant_kind(auth, Kind::Note)
        .select_only()
        .column(Column::Status)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(Column::Status)
        .into_tuple()
        .all(&state.db)
        .await?;
    let recent: Vec<Option<String>> = tenant_kind(auth, Kind::Note)
        .select_only()
        .column(Column::Name)
        .order_by_desc(Column::UpdatedAt)
        .limit(RECENT_NOTES)
        .into_tuple()
        .all(&state.db)
        .await?;
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
        state,
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
        licenses: resource_counts(state, auth, Kind::License, now, soon).await?,
        proxies: resource_counts(state, auth, Kind::Proxy, now, soon).await?,
        subscriptions: resource_counts(state, auth, Kind::Subscription, now, soon).await?,
        finance: money.totals,
        notes: NoteCounts {
            pinned,
            regular,
            recent: recent
                .into_iter()
                .map(|t| t.unwrap_or_else(|| "(untitled)".into()))
                .collect(),
        },
        expiring: expiring(state, auth, now, soon).await?,
    })
}
