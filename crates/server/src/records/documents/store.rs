//! Queries for records, always within one tenant and one kind.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    IntoActiveModel, Order, QueryFilter, QueryOrder, QuerySelect,
};
use sea_orm::{Iterable, ModelTrait};

use crate::db::entity::record::{self, Column};
use crate::db::like::like_literal;
use crate::db::{StoreResult, TenantId};
use crate::records::expiry::{self, Window};
use crate::records::kinds::{Kind, LIST_SEP, Projection};

pub struct NewRecord<'a> {
    pub tenant_id: &'a TenantId,
    pub kind: Kind,
    pub id: &'a str,
    pub data: String,
    pub projection: Projection,
    pub now_ms: i64,
    /// The creator; kept from the current row on updates.
    pub owner_id: Option<String>,
}

/// The row for `new` at `version`, created at `created_at`.
fn row(new: NewRecord<'_>, version: i64, created_at: i64) -> record::Model {
    let p = new.projection;
    record::Model {
        tenant_id: new.tenant_id.as_str().into(),
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
        gold_amount: p.gold_amount,
        search: p.search,
        owner_id: new.owner_id,
    }
}

/// Insert; a duplicate id fails with a unique violation (the caller answers 409).
pub async fn insert(db: &impl ConnectionTrait, new: NewRecord<'_>) -> StoreResult<record::Model> {
    let now = new.now_ms;
    let model = row(new, 1, now);
    record::Entity::insert(model.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

/// Insert many new records in one statement (bulk imports and benchmark seeding).
pub async fn insert_many(db: &impl ConnectionTrait, new: Vec<NewRecord<'_>>) -> StoreResult<()> {
    let rows = new.into_iter().map(|n| {
        let now = n.now_ms;
        row(n, 1, now).into_active_model().reset_all()
    });
    record::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
) -> StoreResult<Option<record::Model>> {
    Ok(by_id(tenant, kind, id).one(db).await?)
}

fn by_id(tenant: &TenantId, kind: Kind, id: &str) -> sea_orm::Select<record::Entity> {
    record::Entity::find_by_id((
        tenant.as_str().to_owned(),
        kind.as_str().to_owned(),
        id.to_owned(),
    ))
}

/// [`get`] with the row locked until the transaction ends (on PostgreSQL; SQLite's writer
/// turn already keeps other writers out).
pub async fn get_locked(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
) -> StoreResult<Option<record::Model>> {
    Ok(by_id(tenant, kind, id).lock_exclusive().one(db).await?)
}

/// Replace `current` with `new` if nobody wrote since it was read; `None` when someone did.
pub async fn update(
    db: &impl ConnectionTrait,
    mut new: NewRecord<'_>,
    current: &record::Model,
) -> StoreResult<Option<record::Model>> {
    new.owner_id = current.owner_id.clone();
    let model = row(new, current.version + 1, current.created_at);
    // Only the columns that changed: indexes on unchanged columns are left alone.
    let mut changes = current.clone().into_active_model();
    for column in Column::iter() {
        let value = model.get(column);
        if value != current.get(column) {
            changes.set(column, value);
        }
    }
    let res = record::Entity::update_many()
        .set(changes)
        .filter(Column::TenantId.eq(&current.tenant_id))
        .filter(Column::Kind.eq(&current.kind))
        .filter(Column::Id.eq(&current.id))
        .filter(Column::Version.eq(current.version))
        .exec(db)
        .await?;
    Ok((res.rows_affected == 1).then_some(model))
}

pub async fn delete(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: Kind,
    id: &str,
) -> StoreResult<bool> {
    let res = record::Entity::delete_many()
        .filter(Column::TenantId.eq(tenant.as_str()))
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
    /// Rows with this stored status lead, before the sort (pinned notes on the notes page).
    pub status_first: Option<&'static str>,
    /// For kinds that expire: the `status` filter matches the effective status at this
    /// moment and warning window (see [`crate::records::expiry`]), not the stored one.
    pub expiry: Option<Window>,
}

/// Everything of a kind, oldest first, first page of 50.
impl Default for ListQuery {
    fn default() -> Self {
        Self {
            q: None,
            status: None,
            r#type: None,
            project_id: None,
            bot_id: None,
            category: None,
            currency: None,
            from: None,
            to: None,
            sort: SortKey::Created,
            descending: false,
            page: 1,
            limit: 50,
            status_first: None,
            expiry: None,
        }
    }
}

/// Records of `kind` that point at bot `bot` (a licence lists its bots in one column).
pub fn bot_filter(kind: Kind, bot: &str) -> Condition {
    if kind == Kind::License {
        let pattern = like_literal(&format!("%{LIST_SEP}"), bot, &format!("{LIST_SEP}%"));
        Condition::all().add(Expr::col(Column::BotId).like(pattern))
    } else {
        Condition::all().add(Column::BotId.eq(bot))
    }
}

/// Every record of the tenant that refers to bot `bot`, locked until the transaction ends
/// (on PostgreSQL; SQLite's writer turn keeps other writers out), so the bot's deletion
/// can detach each without losing a race to a concurrent patch of it.
pub async fn referring_to_bot_locked(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    bot: &str,
) -> StoreResult<Vec<record::Model>> {
    let mut any = Condition::any();
    for kind in [
        Kind::Proxy,
        Kind::Subscription,
        Kind::License,
        Kind::Note,
        Kind::FinanceOperation,
    ] {
        any = any.add(
            Condition::all()
                .add(Column::Kind.eq(kind.as_str()))
                .add(bot_filter(kind, bot)),
        );
    }
    Ok(record::Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(any)
        .lock_exclusive()
        .all(db)
        .await?)
}

/// The tenant's records of `kind` attached to any of `bots` (a page of a bots table), at
/// most `limit`.
pub async fn attached_to_any(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: Kind,
    bots: &[String],
    limit: u64,
) -> StoreResult<Vec<record::Model>> {
    if bots.is_empty() {
        return Ok(Vec::new());
    }
    // One bot per proxy or subscription: an indexed `IN`; a licence lists its bots.
    let any = if kind == Kind::License {
        bots.iter()
            .fold(Condition::any(), |any, bot| any.add(bot_filter(kind, bot)))
    } else {
        Condition::all().add(Column::BotId.is_in(bots.iter().map(String::as_str)))
    };
    Ok(record::Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Kind.eq(kind.as_str()))
        .filter(any)
        .limit(limit)
        .all(db)
        .await?)
}

/// Which of `ids` exist as records of `kind` in the tenant, their rows share-locked until
/// the transaction ends (on PostgreSQL; SQLite's writer turn keeps other writers out).
pub async fn existing_ids_locked(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: Kind,
    ids: &[&str],
) -> StoreResult<Vec<String>> {
    Ok(record::Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Kind.eq(kind.as_str()))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .lock_shared()
        .into_tuple()
        .all(db)
        .await?)
}

/// How many records of `kind` the tenant has in each status (of one project, if given).
pub async fn count_by_status(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: Kind,
    project: Option<&str>,
) -> StoreResult<Vec<(Option<String>, i64)>> {
    let mut select = record::Entity::find()
        .select_only()
        .column(Column::Status)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Kind.eq(kind.as_str()));
    if let Some(p) = project {
        select = select.filter(Column::ProjectId.eq(p));
    }
    Ok(select.group_by(Column::Status).into_tuple().all(db).await?)
}

/// The records whose search text holds `text` (lowercased). PostgreSQL's trigram index
/// serves the `LIKE` itself; SQLite's is a table of its own, which answers a substring of
/// three characters or more (migration `m20261205_000021_record_search_index`); a shorter
/// one scans, as it would on PostgreSQL.
fn search_matches(backend: DatabaseBackend, text: &str) -> SimpleExpr {
    if backend == DatabaseBackend::Sqlite && text.chars().count() >= 3 {
        let phrase = format!("\"{}\"", text.replace('"', "\"\""));
        return Expr::cust_with_values(
            "(records.tenant_id, records.kind, records.id) IN (\
               SELECT k.tenant_id, k.kind, k.id FROM record_search s \
               JOIN record_search_keys k ON k.search_id = s.rowid \
               WHERE record_search MATCH ?)",
            [phrase],
        );
    }
    Expr::col(Column::Search).like(like_literal("%", text, "%"))
}

pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: Kind,
    q: &ListQuery,
) -> StoreResult<(Vec<record::Model>, u64)> {
    let mut cond = Condition::all()
        .add(Column::TenantId.eq(tenant.as_str()))
        .add(Column::Kind.eq(kind.as_str()));
    if let Some(status) = &q.status {
        cond = cond.add(match q.expiry {
            Some(window) if expiry::applies(kind) => window.condition(status),
            _ => Condition::all().add(Column::Status.eq(status.as_str())),
        });
    }
    for (col, value) in [
        (Column::Type, &q.r#type),
        (Column::ProjectId, &q.project_id),
        (Column::Category, &q.category),
        (Column::Currency, &q.currency),
    ] {
        if let Some(v) = value {
            cond = cond.add(col.eq(v.as_str()));
        }
    }
    if let Some(bot) = &q.bot_id {
        cond = cond.add(bot_filter(kind, bot));
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
        cond = cond.add(search_matches(
            db.get_database_backend(),
            &text.to_lowercase(),
        ));
    }
    // The count reads the index only: no columns, no ordering.
    let total: Option<i64> = record::Entity::find()
        .filter(cond.clone())
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .into_tuple()
        .one(db)
        .await?;
    let mut select = record::Entity::find().filter(cond);
    if let Some(status) = q.status_first {
        let leads: SimpleExpr = Expr::case(Column::Status.eq(status), 0).finally(1).into();
        select = select.order_by(leads, Order::Asc);
    }
    let select = if q.descending {
        select
            .order_by_desc(q.sort.column())
            .order_by_desc(Column::Id)
    } else {
        select
            .order_by_asc(q.sort.column())
            .order_by_asc(Column::Id)
    };
    let rows = select
        .offset(q.page.saturating_sub(1).saturating_mul(q.limit))
        .limit(q.limit)
        .all(db)
        .await?;
    Ok((rows, total.unwrap_or(0).max(0) as u64))
}
