//! The storage handle's own promises, on both engines.

use botmox_server::db::migrations::Migrator;
use botmox_server::db::{Db, StoreError};
use botmox_testkit::{Backend, PostgresDatabase, both_backends};
use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::MigratorTrait;

/// A handle with a single write connection on a fresh database of `backend`, its URL, and
/// what keeps that database alive.
async fn one_connection(backend: Backend) -> (Db, String, Box<dyn std::any::Any>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("botmox.db").display());
            (Db::open(&url, 1).await.expect("open"), url, Box::new(dir))
        }
        Backend::Postgres => {
            let database = PostgresDatabase::create().await;
            let url = database.url.clone();
            (
                Db::open(&url, 1).await.expect("open"),
                url,
                Box::new(database),
            )
        }
    }
}

both_backends! {
    // A write whose caller stops waiting at whatever point (a request whose client went away)
    // leaves nothing open behind it: the next write acknowledged on the same connection is
    // committed, so every other connection sees it. With sqlx 0.8's PostgreSQL `BEGIN` awaited
    // in the caller, a write dropped while its `BEGIN` was on the wire left the pooled
    // connection inside a transaction, and the "committed" rows after it were seen by nobody
    // else (the bus's polls answered commands that their reports then could not find).
    async fn a_dropped_write_leaves_the_next_write_committed(backend) {
        let (db, url, _keep) = one_connection(backend).await;
        let sql = |sql: String| Statement::from_string(db.read().get_database_backend(), sql);
        db.write_one(sql("CREATE TABLE dropped_writes (n INTEGER NOT NULL)".into()))
            .await
            .expect("create the table");
        let observer = sea_orm::Database::connect(&url).await.expect("observer");

        for round in 0..120_u32 {
            let insert = sql("INSERT INTO dropped_writes (n) VALUES (-1)".into());
            let dropped = db.write(async |txn| {
                txn.execute(insert).await?;
                Ok::<_, StoreError>(())
            });
            let mut dropped = Box::pin(dropped);
            // Dropped after 1 to 4 polls: at its start, in the middle, or after its end.
            for _ in 0..=round % 4 {
                if futures::poll!(dropped.as_mut()).is_ready() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            drop(dropped);

            db.write_one(sql(format!("INSERT INTO dropped_writes (n) VALUES ({round})")))
                .await
                .expect("the write after a dropped one is acknowledged");
            let seen = observer
                .query_one(sql(format!(
                    "SELECT COUNT(*) AS n FROM dropped_writes WHERE n = {round}"
                )))
                .await
                .expect("count")
                .expect("a row")
                .try_get::<i64>("", "n")
                .expect("a count");
            assert_eq!(
                seen, 1,
                "{backend:?}: the write acknowledged in round {round}, after a dropped write, \
                 is seen by another connection"
            );
        }
        observer.close().await.ok();
        db.close().await.ok();
    }
}

// Replicas started together on a new database, or on a release with new migrations, each
// migrate it as they open it: one at a time, so every one of them starts, and each
// migration is applied once. Without the lock they created the same tables at once and all
// but one failed ("duplicate key value violates unique constraint", "already exists").
// PostgreSQL only: several replicas need it (one server owns a SQLite file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_opening_a_new_database_together_all_start() {
    let database = PostgresDatabase::create().await;
    let opened = futures::future::join_all((0..4).map(|_| Db::open(&database.url, 2))).await;
    let mut handles = Vec::new();
    for (i, db) in opened.into_iter().enumerate() {
        handles.push(db.unwrap_or_else(|e| panic!("replica {i} did not open: {e}")));
    }
    let table = Migrator::migration_table_name().to_string();
    let applied = handles[0]
        .read()
        .query_one(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!("SELECT COUNT(*) AS n, COUNT(DISTINCT version) AS d FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    let (n, distinct) = (
        applied.try_get::<i64>("", "n").expect("n"),
        applied.try_get::<i64>("", "d").expect("d"),
    );
    assert_eq!(n, distinct, "each migration recorded once");
    assert_eq!(
        n as usize,
        Migrator::migrations().len(),
        "every migration applied"
    );
    for db in handles {
        db.close().await.ok();
    }
}

/// A test's own migrations: the first creates `first_step`; the second creates `half_done`
/// and then fails, as an upgrade that breaks part way would.
struct BreaksPartWay;

struct CreatesFirstStep;

struct FailsAfterATable;

impl sea_orm_migration::MigrationName for CreatesFirstStep {
    fn name(&self) -> &str {
        "m_test_000001_first_step"
    }
}

impl sea_orm_migration::MigrationName for FailsAfterATable {
    fn name(&self) -> &str {
        "m_test_000002_fails"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for CreatesFirstStep {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE first_step (n INTEGER)")
            .await?;
        Ok(())
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for FailsAfterATable {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE half_done (n INTEGER)")
            .await?;
        Err(sea_orm::DbErr::Migration(
            "this upgrade breaks part way".into(),
        ))
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for BreaksPartWay {
    fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        vec![Box::new(CreatesFirstStep), Box::new(FailsAfterATable)]
    }
}

both_backends! {
    // An upgrade whose migrations fail part way leaves the database as it was: no table of
    // the migration that ran before the failing one, none of the failing one's. On SQLite the
    // migrations had run one by one, so the first stayed applied and the failing one's table
    // stayed behind it.
    async fn an_upgrade_that_fails_part_way_leaves_nothing_behind(backend) {
        let (db, _url, _keep) = one_connection(backend).await;
        let err = db.migrate_with::<BreaksPartWay>().await.expect_err("the upgrade fails");
        assert!(err.to_string().contains("breaks part way"), "{err}");
        let exists = |table: &'static str| {
            let db = &db;
            async move {
                db.read()
                    .query_one(Statement::from_string(
                        db.read().get_database_backend(),
                        format!("SELECT COUNT(*) AS n FROM {table}"),
                    ))
                    .await
                    .is_ok()
            }
        };
        assert!(!exists("first_step").await, "{backend:?}: the first migration was undone");
        assert!(!exists("half_done").await, "{backend:?}: the failing one left nothing");
        // The check itself sees a table a migration made.
        assert!(exists("schema_migrations").await);
        db.close().await.ok();
    }
}
