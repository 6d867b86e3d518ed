//! Audit rows: append and filtered, paged reads (always within one tenant).

use botmox_proto::auth::AuditEntry;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::db::entity::audit_log;
use crate::db::like::like_literal;
use crate::db::{Db, StoreError, StoreResult, TenantId};

/// One row to append.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub tenant_id: Option<String>,
    pub actor_type: &'static str,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// `ok`, `denied` or `error`.
    pub result: &'static str,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
}

pub async fn insert(db: &Db, e: &AuditEvent) -> StoreResult<()> {
    let row = audit_log::ActiveModel {
        tenant_id: Set(e.tenant_id.clone()),
        actor_type: Set(e.actor_type.into()),
        actor_id: Set(e.actor_id.clone()),
        actor_email: Set(e.actor_email.clone()),
        action: Set(e.action.clone()),
        target: Set(e.target.clone()),
        result: Set(e.result.into()),
        client_addr: Set(e.client_addr.clone()),
        request_id: Set(e.request_id.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    db.write(async |txn| {
        row.insert(txn).await?;
        Ok::<_, StoreError>(())
    })
    .await
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub result: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first. Returns (rows, total).
pub async fn list(
    db: &Db,
    tenant: &TenantId,
    filter: &AuditFilter,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<AuditEntry>, u64)> {
    let mut query =
        audit_log::Entity::find().filter(audit_log::Column::TenantId.eq(tenant.as_str()));
    if let Some(action) = &filter.action {
        let pattern = like_literal("", action, "%");
        query =
            query.filter(sea_orm::sea_query::Expr::col(audit_log::Column::Action).like(pattern));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(
            sea_orm::Condition::any()
                .add(audit_log::Column::ActorId.eq(actor))
                .add(audit_log::Column::ActorEmail.eq(actor.to_lowercase())),
        );
    }
    if let Some(result) = &filter.result {
        query = query.filter(audit_log::Column::Result.eq(result));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_log::Column::CreatedAt.lt(to));
    }
    let paginator = query
        .order_by_desc(audit_log::Column::Id)
        .paginate(db.read(), limit);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(page.saturating_sub(1)).await?;
    Ok((rows.into_iter().map(to_entry).collect(), total))
}

fn to_entry(m: audit_log::Model) -> AuditEntry {
    AuditEntry {
        id: m.id,
        tenant_id: m.tenant_id,
        actor_type: m.actor_type,
        actor_id: m.actor_id,
        actor_email: m.actor_email,
        action: m.action,
        target: m.target,
        result: m.result,
        client_addr: m.client_addr,
        request_id: m.request_id,
        created_at: m.created_at,
    }
}
