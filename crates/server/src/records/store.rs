//! Queries for records, always within one tenant and one kind.

use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
};

use super::kinds::{Kind, Projection};
use crate::db::entity::record::{self, Column};

pub struct NewRecord<'a> {
    pub tenant_id: &'a str,
    pub kind: Kind,
    pub id: &'a str,
    pub data: String,
    pub projection: Projection,
    pub now_ms: i64,
}

/// The row for `new` at `version`, created at `created_at`.
fn row(new: NewRecord<'_>, version: i64, created_at: i64) -> record::Model {
    let p = new.projection;
    record::Model {
        tenant_id: new.tenant_id.into(),
        kind: new.kind.as_str().into(),
        id: new.id.into(),
        data: new.data,
        version,
        created_at,
        updated_at: new.now_ms,
        status: p.status,
        r#type: p.r#type,
        project_id: p.project_id,
        bot_id: p.bot_id,
        name: p.name,
        category: p.category,
        currency: p.currency,
        amount: p.amount,
        date_ms: p.date_ms,
        expires_at_ms: p.expires_at_ms,
        search: p.search,
    }
}

/// Insert; a duplicate id fails with a unique violation (the caller answers 409).
pub async fn insert(db: &DatabaseConnection, new: NewRecord<'_>) -> Result<record::Model, DbErr> {
    let now = new.now_ms;
    let model = row(new, 1, now);
    record::Entity::insert(model.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn get(
    db: &DatabaseConnection,
    tenant_id: &str,
    kind: Kind,
    id: &str,
) -> Result<Option<record::Model>, DbErr> {
    record::Entity::find_by_id((
        tenant_id.to_owned(),
        kind.as_str().to_owned(),
        id.to_owned(),
    ))
    .one(db)
    .await
}

/// Replace `current` with `new` if nobody wrote since it was read; `None` when someone did.
pub async fn update(
    db: &DatabaseConnection,
    new: NewRecord<'_>,
    current: &record::Model,
) -> Result<Option<record::Model>, DbErr> {
    let model = row(new, current.version + 1, current.created_at);
    let res = record::Entity::update_many()
        .set(model.clone().into_active_model().reset_all())
        .filter(Column::TenantId.eq(&current.tenant_id))
        .filter(Column::Kind.eq(&current.kind))
        .filter(Column::Id.eq(&current.id))
        .filter(Column::Version.eq(current.version))
        .exec(db)
        .await?;
    Ok((res.rows_affected == 1).then_some(model))
}

pub async fn delete(
    db: &DatabaseConnection,
    tenant_id: &str,
    kind: Kind,
    id: &str,
) -> Result<bool, DbErr> {
    let res = record::Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Kind.eq(kind.as_str()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Sortable columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Created,
    Updated,
    Name,
    Status,
    Type,
    Date,
    ExpiresAt,
    Amount,
    Category,
    Project,
}

impl SortKey {
    pub fn parse(field: &str) -> Option<Self> {
        Some(match field {
            "created_at" => Self::Created,
            "updated_at" => Self::Updated,
            "name" | "key" | "ip" | "title" | "account_email" => Self::Name,
            "status" => Self::Status,
            "type" => Self::Type,
            "date" | "due_date" => Self::Date,
            "expires_at" => Self::ExpiresAt,
            "amount" => Self::Amount,
            "category" => Self::Category,
            "project_id" => Self::Project,
            _ => return None,
        })
    }

    fn column(self) -> Column {
        match self {
            Self::Created => Column::CreatedAt,
            Self::Updated => Column::UpdatedAt,
            Self::Name => Column::Name,
            Self::Status => Column::Status,
            Self::Type => Column::Type,
            Self::Date => Column::DateMs,
            Self::ExpiresAt => Column::ExpiresAtMs,
            Self::Amount => Column::Amount,
            Self::Category => Column::Category,
            Self::Project => Column::ProjectId,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub q: Option<String>,
    pub status: Option<String>,
    pub r#type: Option<String>,
    pub project_id: Option<String>,
    pub bot_id: Option<String>,
    pub category: Option<String>,
    pub currency: Option<String>,
    /// Range on the kind's date column (`date` or `expires_at`), epoch ms, inclusive.
    pub from: Option<i64>,
    /// Exclusive upper bound of that range.
    pub to: Option<i64>,
    pub sort: SortKey,
    pub descending: bool,
    pub page: u64,
    pub limit: u64,
}

fn escape_like(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if matches!(c, '%' | '_' | '\\') {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

pub async fn list(
    db: &DatabaseConnection,
    tenant_id: &str,
    kind: Kind,
    q: &ListQuery,
) -> Result<(Vec<record::Model>, u64), DbErr> {
    let mut cond = Condition::all()
        .add(Column::TenantId.eq(tenant_id))
        .add(Column::Kind.eq(kind.as_str()));
    for (col, value) in [
        (Column::Status, &q.status),
        (Column::Type, &q.r#type),
        (Column::ProjectId, &q.project_id),
        (Column::BotId, &q.bot_id),
        (Column::Category, &q.category),
        (Column::Currency, &q.currency),
    ] {
        if let Some(v) = value {
            cond = cond.add(col.eq(v.as_str()));
        }
    }
    let date_col = match kind {
        Kind::License | Kind::Proxy | Kind::Subscription => Column::ExpiresAtMs,
        _ => Column::DateMs,
    };
    if let Some(from) = q.from {
        cond = cond.add(date_col.gte(from));
    }
    if let Some(to) = q.to {
        cond = cond.add(date_col.lt(to));
    }
    if let Some(text) = &q.q {
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        cond = cond.add(Expr::col(Column::Search).like(LikeExpr::new(pattern).escape('\\')));
    }
    let select = record::Entity::find().filter(cond);
    let select = if q.descending {
        select
            .order_by_desc(q.sort.column())
            .order_by_desc(Column::Id)
    } else {
        select
            .order_by_asc(q.sort.column())
            .order_by_asc(Column::Id)
    };
    let paginator = select.paginate(db, q.limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(q.page.saturating_sub(1)).await?, total))
}
