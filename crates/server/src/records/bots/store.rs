//! A bot's history: its lifecycle log and its archive of bans, both kept after the bot is
//! deleted, always within one tenant.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;

use crate::db::entity::{bot_archive, bot_event};
use crate::db::{Db, StoreResult, TenantId};

/// One entry of a bot's lifecycle log.
pub struct NewEvent<'a> {
    pub tenant: &'a TenantId,
    pub bot: &'a str,
    pub kind: &'static str,
    pub message: String,
    pub details: Value,
    pub at: i64,
}

pub async fn insert_event(db: &impl ConnectionTrait, e: &NewEvent<'_>) -> StoreResult<()> {
    bot_event::Entity::insert(bot_event::ActiveModel {
        tenant_id: Set(e.tenant.as_str().to_owned()),
        // Time-ordered (UUID v7, monotonic in the process): entries of one instant keep
        // their order.
        id: Set(uuid::Uuid::now_v7().to_string()),
        bot_id: Set(e.bot.to_owned()),
        r#type: Set(e.kind.to_owned()),
        message: Set(e.message.clone()),
        details: Set(Some(e.details.to_string())),
        timestamp_ms: Set(e.at),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Archive the bot as it was when `ban` (its event) happened.
pub async fn insert_archive(
    db: &impl ConnectionTrait,
    ban: &NewEvent<'_>,
    ban_details: &Value,
    snapshot: &Value,
) -> StoreResult<()> {
    bot_archive::Entity::insert(bot_archive::ActiveModel {
        tenant_id: Set(ban.tenant.as_str().to_owned()),
        id: Set(uuid::Uuid::now_v7().to_string()),
        bot_id: Set(ban.bot.to_owned()),
        reason: Set("banned".into()),
        archived_at_ms: Set(ban.at),
        ban_details: Set(Some(ban_details.to_string())),
        snapshot: Set(Some(snapshot.to_string())),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Whether bot `bot` has a lifecycle log in the tenant (it may have been deleted since).
pub async fn has_history(db: &Db, tenant: &TenantId, bot: &str) -> StoreResult<bool> {
    let first = bot_event::Entity::find()
        .select_only()
        .column(bot_event::Column::Id)
        .filter(bot_event::Column::TenantId.eq(tenant.as_str()))
        .filter(bot_event::Column::BotId.eq(bot))
        .limit(1)
        .into_tuple::<String>()
        .one(db.read())
        .await?;
    Ok(first.is_some())
}

/// A page of the bot's log, newest first, and the number of entries.
pub async fn log(
    db: &Db,
    tenant: &TenantId,
    bot: &str,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<bot_event::Model>, u64)> {
    let paginator = bot_event::Entity::find()
        .filter(bot_event::Column::TenantId.eq(tenant.as_str()))
        .filter(bot_event::Column::BotId.eq(bot))
        .order_by_desc(bot_event::Column::TimestampMs)
        .order_by_desc(bot_event::Column::Id)
        .paginate(db.read(), limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

/// The bot's archive entries, newest first.
pub async fn archive(
    db: &Db,
    tenant: &TenantId,
    bot: &str,
) -> StoreResult<Vec<bot_archive::Model>> {
    Ok(bot_archive::Entity::find()
        .filter(bot_archive::Column::TenantId.eq(tenant.as_str()))
        .filter(bot_archive::Column::BotId.eq(bot))
        .order_by_desc(bot_archive::Column::ArchivedAtMs)
        .all(db.read())
        .await?)
}
