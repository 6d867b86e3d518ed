//! Database access through one handle, [`Db`], for SQLite and PostgreSQL alike: the
//! engine, the connections, and the rule that every write runs in [`Db::write`].
//!
//! With SQLite the pool that serves reads is opened `query_only`, so a write that tried to
//! go around [`Db::write`] fails at once instead of racing the single writer; writes run on
//! one dedicated connection, in this process's turn at SQLite's single write slot (shared
//! with the command bus's direct writer, see [`sqlite_direct`]). PostgreSQL takes concurrent
//! writers as they come: there both sides are the same pool and the turn is free.
//!
//! Stores answer with [`StoreError`]; only the HTTP layer turns it into an API error.

pub mod entity;
pub mod error;
pub mod like;
pub mod migrations;
pub mod refs;
pub mod sqlite_direct;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, QueryResult,
    SqlxPostgresConnector, SqlxSqliteConnector, Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

pub use error::{StoreError, StoreResult, is_unique_violation};

/// With SQLite, the write-ahead log's frames (pages of 4 KiB: 16 MiB) past which the
/// checkpointer makes it start over ([`Db::checkpoint`]).
pub const RESTART_FRAMES: i64 = 4096;

/// With SQLite, how long the checkpointer's restart waits for the reads under way while it
/// holds the writers' turn ([`Db::checkpoint`]).
pub const RESTART_WAIT: Duration = Duration::from_millis(100);

/// With SQLite, how long a statement waits for a lock another connection holds.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections of the [`Db::presence`] pool, at most.
const PRESENCE_CONNECTIONS: u32 = 4;

/// The PostgreSQL advisory lock that migrations hold (a fixed key of this application's:
/// the bytes of "botmoxmg").
pub const MIGRATION_LOCK: i64 = 0x626f_746d_6f78_6d67;

/// What one pass of the SQLite checkpointer found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The frames the write-ahead log held.
    pub frames: i64,
    /// Whether the log was copied back whole and truncated.
    pub restarted: bool,
}

/// Which database engine the handle talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A tenant's id. It comes from an authenticated principal, an agent, or a stored row that
/// names its tenant, so a store function that takes one cannot be called with a tenant
/// nobody proved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// A tenant id from a trusted source: a principal, an agent, or a row read from the
    /// database (background jobs act on the tenant of the row they found).
    pub fn trusted(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one storage handle. Cloning shares the connections.
#[derive(Clone)]
pub struct Db {
    engine: Engine,
    /// Reads (with SQLite: `query_only` connections).
    read: DatabaseConnection,
    /// Writes, inside [`Db::write`] only (with SQLite: one connection).
    write: DatabaseConnection,
    /// This process's turn at SQLite's single write slot.
    turn: Arc<tokio::sync::Mutex<()>>,
    url: Arc<str>,
    /// With SQLite, direct connections for the hot paths that group their commits (the
    /// command bus, lease heartbeats, the download audit); see [`sqlite_direct`].
    direct: Option<Arc<sqlite_direct::SqliteDirect>>,
    /// With PostgreSQL, the pool of [`Db::point_lookups`].
    point_lookups: Option<DatabaseConnection>,
    /// With PostgreSQL, the pool of [`Db::presence`].
    presence: Option<DatabaseConnection>,
}

impl Db {
    /// Open the database named by `url` with settings suited to a server (for SQLite the
    /// write-ahead log, foreign keys and a busy timeout; the file is created when missing),
    /// and apply pending migrations.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        let mut db = Self::connect(url, max_connections).await?;
        db.migrate().await?;
        // Opened on the migrated file, which the direct connections expect.
        if db.engine == Engine::Sqlite {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| DbErr::Custom(format!("invalid sqlite url: {e}")))?;
            let direct = sqlite_direct::SqliteDirect::open(
                options.get_filename(),
                Some(db.shared_turn()),
            )
            .map_err(|e| DbErr::Custom(format!("cannot open the direct connections: {e}")))?;
            db.direct = Some(Arc::new(direct));
        }
        Ok(db)
    }

    /// This handle on connections for statements that only ever look rows up by an indexed
    /// key (the command bus's hot paths). With PostgreSQL they keep their prepared plans
    /// (generic plans, not one planned per execution as elsewhere, see [`Db::connect`]) and
    /// never plan a sequential scan, so a plan made while a table was near empty cannot go on
    /// scanning it once it has grown. With SQLite, the handle itself.
    pub fn point_lookups(&self) -> Self {
        self.on(self.point_lookups.as_ref())
    }

    /// This handle on connections for the agents' heartbeat touches (`last_seen_at`), the
    /// fleet's most frequent write: with PostgreSQL they are point lookups as in
    /// [`Db::point_lookups`] whose commits do not wait for the write-ahead log to reach the
    /// disk (`synchronous_commit = off`). A crash of PostgreSQL itself may lose the last
    /// fraction of a second of touches, which only says an agent was seen a moment earlier
    /// than it was; every other write waits for its flush. With SQLite, the handle itself.
    pub fn presence(&self) -> Self {
        self.on(self.presence.as_ref())
    }

    /// This handle with `pool` (when there is one) for its reads and writes. It keeps its
    /// [`Db::presence`] pool, so the command store, which runs on the point lookups, still
    /// finds it.
    fn on(&self, pool: Option<&DatabaseConnection>) -> Self {
        match pool {
            Some(pool) => Self {
                read: pool.clone(),
                write: pool.clone(),
                point_lookups: None,
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// With SQLite, the direct connections (group-committed writes); `None` with PostgreSQL.
    pub fn direct(&self) -> Option<&Arc<sqlite_direct::SqliteDirect>> {
        self.direct.as_ref()
    }

    async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let conn_err = |e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e));
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| DbErr::Custom(format!("invalid sqlite url: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                // Checkpoints run in the background (see `spawn_checkpointer`), not inside
                // the commit that happens to cross the threshold: no write pays for them.
                .pragma("wal_autocheckpoint", "0");
            // Owner-only from the start: the folder 0700, the file 0600 (its write-ahead
            // log and shared-memory files take the file's mode).
            let file = options.get_filename();
            if let Some(parent) = file.parent()
                && !parent.as_os_str().is_empty()
            {
                crate::data_dir::create_private_dir(parent).map_err(|e| {
                    DbErr::Custom(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            crate::data_dir::create_private_file(file)
                .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", file.display())))?;
            // The writer first: it creates the file and switches it to the write-ahead log.
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await
                .map_err(conn_err)?;
            let read = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.pragma("query_only", "1"))
                .await
                .map_err(conn_err)?;
            Ok(Self {
                engine: Engine::Sqlite,
                read: SqlxSqliteConnector::from_sqlx_sqlite_pool(read),
                write: SqlxSqliteConnector::from_sqlx_sqlite_pool(write),
                turn: Arc::default(),
                url: url.into(),
                direct: None,
                point_lookups: None,
                presence: None,
            })
        } else {
            // Plan each statement for its parameters and the table as it is now. A prepared
            // statement's generic plan is made once, often while a table is still near empty
            // (a fresh install, or a bus table between bursts), and then keeps scanning it
            // whole long after it has grown; planning a point lookup costs microseconds.
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| DbErr::Custom(format!("invalid postgres url: {e}")))?;
            // No ping before each use of a pooled connection (sqlx's default): on the bus's
            // hot paths it doubled the round trips of every statement outside a transaction.
            // A connection the server dropped fails its next statement and is replaced.
            let pool = |options: PgConnectOptions| {
                PgPoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(options)
            };
            let conn = SqlxPostgresConnector::from_sqlx_postgres_pool(pool(
                options
                    .clone()
                    .options([("plan_cache_mode", "force_custom_plan")]),
            ));
            // Planning took two thirds of the bus's statement time with custom plans; its
            // statements are point lookups by key, which with sequential scans ruled out
            // keep an index plan whatever the table's size when it was planned.
            let point_lookups = SqlxPostgresConnector::from_sqlx_postgres_pool(pool(
                options.clone().options([("enable_seqscan", "off")]),
            ));
            // Touches take microseconds and do not wait for the disk: a few connections do.
            let presence = SqlxPostgresConnector::from_sqlx_postgres_pool(
                PgPoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(max_connections.min(PRESENCE_CONNECTIONS))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(
                        options.options([("enable_seqscan", "off"), ("synchronous_commit", "off")]),
                    ),
            );
            let db = Self {
                engine: Engine::Postgres,
                read: conn.clone(),
                write: conn,
                turn: Arc::default(),
                url: url.into(),
                direct: None,
                point_lookups: Some(point_lookups),
                presence: Some(presence),
            };
            db.ping().await?;
            Ok(db)
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The URL the handle was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection for reads.
    pub fn read(&self) -> &DatabaseConnection {
        &self.read
    }

    /// Run `work` in a transaction, in this process's turn to write: committed when it
    /// answers `Ok`, rolled back when it answers `Err` or when the caller stops waiting
    /// (a request whose client went away).
    pub async fn write<R, E, F>(&self, work: F) -> Result<R, E>
    where
        F: AsyncFnOnce(&DatabaseTransaction) -> Result<R, E>,
        E: From<StoreError>,
    {
        let _turn = self.turn().await;
        let txn = self.begin().await?;
        let out = work(&txn).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(out)
    }

    /// A transaction on the write connection, begun whether or not the caller still waits.
    /// sqlx 0.8's PostgreSQL `BEGIN` is not cancel-safe (transact-rs/sqlx#4393): a caller
    /// dropped while `BEGIN` is on the wire leaves the server in a transaction that sqlx does
    /// not know of, and the pooled connection then runs every later "self-committing"
    /// statement inside it, unseen by other connections until some later `COMMIT` or
    /// `ROLLBACK` on it (a bus command answered to a poll and then not found by its report).
    /// Begun in a task of its own, the `BEGIN` always completes, and a transaction nobody
    /// waits for any more is dropped there, which rolls it back.
    async fn begin(&self) -> StoreResult<DatabaseTransaction> {
        match self.engine {
            Engine::Postgres => {
                let write = self.write.clone();
                tokio::spawn(async move { write.begin().await })
                    .await
                    .map_err(|e| DbErr::Custom(format!("the transaction's start failed: {e}")))?
                    .map_err(StoreError::from)
            }
            // sqlx's SQLite worker rolls back a `BEGIN` nobody took.
            Engine::Sqlite => Ok(self.write.begin().await?),
        }
    }

    /// Run one statement that commits by itself, in this process's turn to write, and
    /// answer the rows it returns. With PostgreSQL a lone statement is its own transaction:
    /// this spares the hot paths the round trips of `BEGIN` and `COMMIT`.
    pub async fn write_one(&self, statement: Statement) -> StoreResult<Vec<QueryResult>> {
        let _turn = self.turn().await;
        Ok(self.write.query_all(statement).await?)
    }

    /// This process's turn to write (a no-op with PostgreSQL).
    async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.engine {
            Engine::Sqlite => Some(self.turn.lock().await),
            Engine::Postgres => None,
        }
    }

    /// The turn itself, for a writer outside the async world ([`sqlite_direct`]).
    pub fn shared_turn(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.turn.clone()
    }

    /// Apply every migration not applied yet. Migrations are forward-only.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.migrate_with::<migrations::Migrator>().await
    }

    /// Apply the migrations of `M` not applied yet, all in one transaction: an upgrade that
    /// fails (or a process that dies) part way leaves the database as it was, on either
    /// engine. With PostgreSQL the transaction first takes [`MIGRATION_LOCK`]: replicas
    /// started together each migrate as they open the database, one at a time, and the
    /// later ones find everything applied. ([`Db::migrate`] is this with the application's
    /// migrations; the tests pass their own.)
    pub async fn migrate_with<M: MigratorTrait>(&self) -> StoreResult<()> {
        let _turn = self.turn().await;
        let txn = self.write.begin().await?;
        if self.engine == Engine::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                .await?;
        }
        M::up(&txn, None).await?;
        txn.commit().await?;
        self.refresh_statistics_in_turn().await
    }

    /// Let the query planner know the data: SQLite keeps no statistics unless asked
    /// (`PRAGMA optimize` analyses the tables that need it); PostgreSQL's autovacuum does
    /// this by itself, but after a bulk load an explicit `ANALYZE` saves waiting for it.
    pub async fn refresh_statistics(&self) -> StoreResult<()> {
        let _turn = self.turn().await;
        self.refresh_statistics_in_turn().await
    }

    async fn refresh_statistics_in_turn(&self) -> StoreResult<()> {
        let sql = match self.engine {
            Engine::Sqlite => "PRAGMA optimize=0x10002",
            Engine::Postgres => "ANALYZE",
        };
        self.write.execute_unprepared(sql).await?;
        Ok(())
    }

    /// After a bulk load (the benchmark seeders): statistics for the planner, and with
    /// PostgreSQL the visibility map (index-only scans) that autovacuum would otherwise set
    /// some time later; with SQLite the write-ahead log folded back into the file.
    pub async fn after_bulk_load(&self) -> StoreResult<()> {
        let _turn = self.turn().await;
        let sql = match self.engine {
            Engine::Sqlite => "PRAGMA wal_checkpoint(TRUNCATE)",
            Engine::Postgres => "VACUUM ANALYZE",
        };
        self.write.execute_unprepared(sql).await?;
        self.refresh_statistics_in_turn().await
    }

    /// With SQLite, copy the write-ahead log back into the database every second, off the
    /// request path (writers never wait for a passive checkpoint; readers are not blocked by
    /// it). See [`Db::checkpoint`].
    pub fn spawn_checkpointer(&self) {
        if self.engine != Engine::Sqlite {
            return;
        }
        let db = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if db.read.get_sqlite_connection_pool().is_closed() {
                    return;
                }
                if let Err(e) = db.checkpoint().await {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        });
    }

    /// One pass of the SQLite checkpointer. A passive checkpoint copies what it can and
    /// never waits, but it never starts the log over: SQLite does that only when a write
    /// begins after a checkpoint that copied everything and no reader still reads from the
    /// log, which a steady load of reads and writes never allows. The log then grows without
    /// end (570 MB after 16,000 bot PATCHes in 10 s). So once it holds [`RESTART_FRAMES`]
    /// frames, a truncating checkpoint runs in the writers' turn: this process's writers
    /// queue meanwhile, and it waits at most [`RESTART_WAIT`] for the reads under way, which
    /// take milliseconds. A reader that takes longer (a backup's `VACUUM INTO`, say) leaves
    /// the log as it is until a later pass, instead of holding every write back for the
    /// busy timeout. A truncated log reads as empty, so an idle server does not restart it
    /// again each second.
    pub async fn checkpoint(&self) -> StoreResult<Checkpoint> {
        let passive =
            Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)");
        let frames = match self.read.query_one(passive).await? {
            Some(row) => row.try_get::<i64>("", "log")?,
            None => 0,
        };
        let mut restarted = false;
        if frames >= RESTART_FRAMES {
            let _turn = self.turn().await;
            // The write pool's one connection runs all three, in order.
            let wait = RESTART_WAIT.as_millis();
            self.write
                .execute_unprepared(&format!("PRAGMA busy_timeout = {wait}"))
                .await?;
            let truncate =
                Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA wal_checkpoint(TRUNCATE)");
            let outcome = self.write.query_one(truncate).await;
            let normal = SQLITE_BUSY_TIMEOUT.as_millis();
            self.write
                .execute_unprepared(&format!("PRAGMA busy_timeout = {normal}"))
                .await?;
            if let Some(row) = outcome? {
                restarted = row.try_get::<i64>("", "busy")? == 0;
            }
        }
        Ok(Checkpoint { frames, restarted })
    }

    /// Pool figures for the metrics endpoint: (open connections, idle connections).
    pub fn pool_stats(&self) -> (u32, u32) {
        match self.engine {
            Engine::Sqlite => {
                let pool = self.read.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle() as u32)
            }
            Engine::Postgres => {
                let pool = self.read.get_postgres_connection_pool();
                (pool.size(), pool.num_idle() as u32)
            }
        }
    }

    /// A quick probe that the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        self.read.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// With PostgreSQL: `NOTIFY channel, payload` to every replica (a no-op with SQLite,
    /// where this process is the only one).
    pub async fn notify(&self, channel: &str, payload: &str) -> StoreResult<()> {
        if self.engine != Engine::Postgres {
            return Ok(());
        }
        let statement = sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [channel.into(), payload.into()],
        );
        self.write.execute(statement).await?;
        Ok(())
    }

    /// With PostgreSQL: listen on `channel` in the background, reconnecting after errors.
    /// After each (re)connection `on_event(None)` runs (a chance to resynchronise:
    /// notifications sent meanwhile are lost), then `on_event(Some(payload))` for every
    /// notification. Listening stops when `on_event` answers `false` (its owner is gone)
    /// or the pool closes.
    pub fn listen<F, Fut>(&self, channel: &'static str, on_event: F)
    where
        F: Fn(Option<String>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send,
    {
        if self.engine != Engine::Postgres {
            return;
        }
        let pool = self.read.get_postgres_connection_pool().clone();
        tokio::spawn(async move {
            loop {
                let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(&pool)
                    .await
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

    /// Close every connection: the reads first, then the writer (with SQLite the last
    /// connection to go folds the write-ahead log back into the database file).
    pub async fn close(&self) -> StoreResult<()> {
        if let Some(direct) = &self.direct {
            direct.close().await;
        }
        self.read.clone().close().await?;
        if let Some(pool) = &self.point_lookups {
            pool.clone().close().await?;
        }
        if self.engine == Engine::Sqlite {
            self.write.clone().close().await?;
        }
        Ok(())
    }
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
