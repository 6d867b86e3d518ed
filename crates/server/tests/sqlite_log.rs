//! SQLite's write-ahead log stays bounded: a passive checkpoint never starts the log over
//! while a reader holds an older snapshot, so under a steady load the log grows without
//! end; the checkpointer restarts a log past its limit once the reads under way are done,
//! waits only briefly for a long reader (writes queue meanwhile), and leaves a short log to
//! the passive checkpoint alone.

use std::time::{Duration, Instant};

use botmox_server::db::{Checkpoint, Db, RESTART_FRAMES, RESTART_WAIT, StoreError};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// Write `rows` rows of 4,000 bytes each (about one log frame each), 100 per transaction.
async fn write_rows(db: &Db, rows: i64) {
    for _ in 0..rows / 100 {
        db.write(async |txn| {
            for _ in 0..100 {
                txn.execute_unprepared("INSERT INTO filler (x) VALUES (randomblob(4000))")
                    .await?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    }
}

/// The frames the log holds now (a passive checkpoint's answer).
async fn log_frames(db: &Db) -> i64 {
    let passive = Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)");
    let row = db.read().query_one(passive).await.unwrap().unwrap();
    row.try_get("", "log").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_log_starts_over_once_its_readers_are_done_without_stalling_writes_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("botmox.db");
    let db = Db::open(&format!("sqlite://{}?mode=rwc", file.display()), 2)
        .await
        .unwrap();
    db.write(async |txn| {
        txn.execute_unprepared("CREATE TABLE filler (x BLOB)")
            .await?;
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap();

    // A short log is left to the passive checkpoint.
    write_rows(&db, 500).await;
    let pass = db.checkpoint().await.unwrap();
    assert!(pass.frames > 0 && pass.frames < RESTART_FRAMES, "{pass:?}");
    assert!(!pass.restarted);

    // A long reader (a backup, say) holds a snapshot while the log grows past the limit.
    let reader = rusqlite::Connection::open(&file).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader
        .query_row("SELECT COUNT(*) FROM filler", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 500);
    let more = 5_000;
    assert!(more > RESTART_FRAMES);
    write_rows(&db, more).await;

    // The restart gives up after its short wait instead of holding the writers' turn for
    // the 10-s busy timeout (the bound below only tells the two apart), and writes go on.
    let started = Instant::now();
    let pass = db.checkpoint().await.unwrap();
    let waited = started.elapsed();
    assert!(pass.frames >= RESTART_FRAMES, "{pass:?}");
    assert!(!pass.restarted, "the reader still reads from the log");
    assert!(waited >= RESTART_WAIT, "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    write_rows(&db, 100).await;

    // Once the reader is done, the next pass restarts the log and truncates it.
    reader.execute_batch("COMMIT").unwrap();
    let pass = db.checkpoint().await.unwrap();
    assert!(pass.frames >= RESTART_FRAMES, "{pass:?}");
    assert!(pass.restarted, "{pass:?}");
    assert_eq!(log_frames(&db).await, 0);
    // An idle log is not restarted again.
    let pass = db.checkpoint().await.unwrap();
    assert_eq!(
        pass,
        Checkpoint {
            frames: 0,
            restarted: false
        }
    );

    // The next writes start the log over instead of adding to its 5,500 frames.
    write_rows(&db, 100).await;
    let frames = log_frames(&db).await;
    assert!(frames < 1_000, "the log went on growing: {frames} frames");
    let rows = db
        .read()
        .query_one(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM filler",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.try_get::<i64>("", "n").unwrap(), 500 + more + 200);
    db.close().await.unwrap();
}
