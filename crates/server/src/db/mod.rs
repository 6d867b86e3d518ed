//! Database access: one connection type for SQLite and PostgreSQL, the versioned migrations
//! and the entity definitions that mirror the schema.
//!
//! All queries go through SeaORM, so one set of queries serves both engines.

pub mod entity;
pub mod migrations;
pub mod sqlite_direct;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{DatabaseConnection, DbErr, SqlxPostgresConnector, SqlxSqliteConnector};
use sea_orm_migration::MigratorTrait;

/// Open the database named by `url` with settings suited to a server: for SQLite the
/// write-ahead log, foreign keys and a busy timeout; the file is created when missing.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbErr::Custom(format!("invalid sqlite url: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Checkpoints run in the background (see `spawn_checkpointer`), not inside the
            // commit that happens to cross the threshold: no write pays for them.
            .pragma("wal_autocheckpoint", "0");
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", parent.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)))?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else {
        // Plan each statement for its parameters and the table as it is now. A prepared
        // statement's generic plan is made once, often while a table is still near empty
        // (a fresh install, or a bus table between bursts), and then keeps scanning it
        // whole long after it has grown; planning a point lookup costs microseconds.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| DbErr::Custom(format!("invalid postgres url: {e}")))?
            .options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)))?;
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
    }
}

/// Apply every migration not applied yet. Migrations are forward-only.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migrations::Migrator::up(db, None).await?;
    refresh_statistics(db).await
}

/// With SQLite, copy the write-ahead log back into the database every second, off the
/// request path (writers never wait for a checkpoint; readers are not blocked by it).
pub fn spawn_checkpointer(db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return;
    }
    let db = db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) = db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    });
}

/// Let the query planner know the data: SQLite keeps no statistics unless asked
/// (`PRAGMA optimize` analyses the tables that need it); PostgreSQL's autovacuum does this
/// by itself, but after a bulk load an explicit `ANALYZE` saves waiting for it.
pub async fn refresh_statistics(db: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::ConnectionTrait;
    let sql = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => "PRAGMA optimize=0x10002",
        _ => "ANALYZE",
    };
    db.execute_unprepared(sql).await.map(|_| ())
}

/// Pool figures for the metrics endpoint: (open connections, idle connections).
pub fn pool_stats(db: &DatabaseConnection) -> (u32, u32) {
    match db {
        DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => (0, 0),
    }
}

/// Whether an error is a unique-constraint violation (a duplicate), which callers turn into 409.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// How often a compare-and-swap write that lost a race is retried before the caller gets a
/// 409: each round at least one racer wins, so this covers that many simultaneous writers.
pub const WRITE_ATTEMPTS: usize = 24;

/// Wait a little before retrying a write that lost a race: longer each time, with jitter so
/// the racers spread out instead of colliding again.
pub async fn backoff(attempt: usize) {
    if attempt == 0 {
        return;
    }
    let ms = rand::random::<u64>() % (1 + 2 * attempt as u64);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Queues this process's record and settings writes on SQLite, which allows one writer at a
/// time: without it, concurrent writers meet `SQLITE_BUSY` and wait in SQLite's sleeping
/// busy handler, which shows as a long latency tail. PostgreSQL needs no gate.
pub struct WriteGate(Option<Arc<tokio::sync::Mutex<()>>>);

impl WriteGate {
    pub fn for_database(db: &DatabaseConnection) -> Self {
        Self(matches!(db, DatabaseConnection::SqlxSqlitePoolConnection(_)).then(Default::default))
    }

    /// The gate itself, for a writer outside the async world (see [`sqlite_direct`]).
    fn shared(&self) -> Option<Arc<tokio::sync::Mutex<()>>> {
        self.0.clone()
    }

    /// Hold the returned guard for the whole write transaction.
    pub async fn enter(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.0 {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }
}

/// With PostgreSQL: listen on `channel` in the background, reconnecting after errors. After
/// each (re)connection `on_event(None)` runs (a chance to resynchronise: notifications sent
/// meanwhile are lost), then `on_event(Some(payload))` for every notification. Listening
/// stops when `on_event` answers `false` (its owner is gone) or the pool closes.
pub fn listen<F, Fut>(db: &DatabaseConnection, channel: &'static str, on_event: F)
where
    F: Fn(Option<String>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let DatabaseConnection::SqlxPostgresPoolConnection(_) = db else {
        return;
    };
    let pool = db.get_postgres_connection_pool().clone();
    tokio::spawn(async move {
        loop {
            let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await
            {
                Ok(l) => l,
                Err(e) => {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::warn!(error = %e, channel, "listener cannot connect; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if listener.listen(channel).await.is_err() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            if !on_event(None).await {
                return;
            }
            while let Ok(note) = listener.recv().await {
                if !on_event(Some(note.payload().to_owned())).await {
                    return;
                }
            }
            if pool.is_closed() {
                return;
            }
        }
    });
}
