//! The storage handle's own promises, on both engines.

use botmox_server::db::{Db, StoreError};
use botmox_testkit::{Backend, PostgresDatabase, both_backends};
use sea_orm::{ConnectionTrait, Statement};

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
