//! Direct SQLite connections beside the sqlx pool, for the command bus's hot path.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each statement to it
//! and each row back: a few thread wake-ups per statement, which cost far more than
//! SQLite's own work on a point lookup or a one-row write (measured: most of the server's
//! time under bus load went to those hand-offs). Here instead:
//!
//! - reads run synchronously on the calling task, on a connection from a small pool: an
//!   indexed lookup takes microseconds, less than one hand-off;
//! - writes go to one writer thread, which owns SQLite's single write slot and commits the
//!   writes queued meanwhile together in one transaction (group commit), each write in a
//!   savepoint of its own so a refused one leaves no trace. A caller hears back only after
//!   the commit.
//!
//! The writer takes this process's turn at SQLite's write slot (`Db::shared_turn`)
//! for each batch, so it takes turns with the writes of `Db::write` instead of
//! colliding with them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::error::{StoreError, StoreResult};

/// At most this many writes share one transaction.
const MAX_BATCH: usize = 256;
/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;

/// Direct connections to one SQLite database file.
pub struct SqliteDirect {
    path: PathBuf,
    /// Idle read connections; `None` once closed.
    readers: Mutex<Option<Vec<Connection>>>,
    /// The writer's queue and thread; `None` once closed.
    writer: Mutex<Option<Writer>>,
}

struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    thread: std::thread::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Turn = Arc<tokio::sync::Mutex<()>>;

impl SqliteDirect {
    /// Start the writer thread on the database at `path` (which must exist: the sqlx pool
    /// creates and migrates it first), taking `turn` for each batch. The thread ends when
    /// this is dropped.
    pub fn open(path: &Path, turn: Option<Turn>) -> anyhow::Result<Self> {
        let conn = connect(path)?;
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(&conn, &queue, turn.as_deref()))?;
        Ok(Self {
            path: path.to_owned(),
            readers: Mutex::new(Some(Vec::new())),
            writer: Mutex::new(Some(Writer { jobs, thread })),
        })
    }

    /// Finish the queued writes and close every direct connection (before the sqlx pool
    /// closes: SQLite removes its write-ahead log when the last connection goes).
    pub async fn close(&self) {
        lock(&self.readers).take();
        let Some(Writer { jobs, thread }) = lock(&self.writer).take() else {
            return;
        };
        drop(jobs);
        // Joined off the async threads: the writer may be waiting for the write gate,
        // which an async task holds.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }

    /// Run `read` on a read connection, synchronously: keep it to indexed lookups.
    pub fn read<R>(&self, read: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        let idle = match lock(&self.readers).as_mut() {
            Some(idle) => idle.pop(),
            None => return Err(StoreError::Closed),
        };
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let out = read(&conn);
        if let Some(idle) = lock(&self.readers).as_mut()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
        out
    }

    /// Run `write` in the writer's next transaction and return its outcome once that
    /// transaction has committed. An `Err` from `write` undoes its statements (and only
    /// its own).
    pub async fn write<R, E, F>(&self, write: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let job = Pending {
            work: Some(write),
            outcome: None,
            reply,
        };
        let sent = match lock(&self.writer).as_ref() {
            Some(writer) => writer.jobs.send(Box::new(job)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::Closed.into());
        }
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

/// The first row of `sql` as a `T` (an entity model: its fields are the column names).
pub fn first_row<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Option<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    match rows.next()? {
        Some(row) => Ok(Some(serde_rusqlite::from_row(row)?)),
        None => Ok(None),
    }
}

/// Open a connection with the settings of the sqlx pool (see [`super::connect`]).
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// A write waiting for the writer: run it, then hear how the transaction ended.
trait Job: Send {
    /// Run the write; `false` when it failed and its statements must be undone.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Tell the caller: its outcome if the transaction committed, else the commit's error.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<R, E, F> {
    work: Option<F>,
    outcome: Option<Result<R, E>>,
    reply: oneshot::Sender<Result<R, E>>,
}

impl<R, E, F> Job for Pending<R, E, F>
where
    R: Send,
    E: From<StoreError> + Send,
    F: FnOnce(&Connection) -> Result<R, E> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return true;
        };
        let outcome = work(conn);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let outcome = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Err(e), _) => Err(StoreError::Batch(e).into()),
            (Ok(()), None) => Err(StoreError::Batch("the write was not run".into()).into()),
        };
        // The caller may have gone (request cancelled): the write stands regardless.
        let _ = self.reply.send(outcome);
    }
}

/// Take the queued writes, as many as have gathered, and commit them together.
fn write_loop(
    conn: &Connection,
    jobs: &mpsc::Receiver<Box<dyn Job>>,
    turn: Option<&tokio::sync::Mutex<()>>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let held = turn.map(tokio::sync::Mutex::blocking_lock);
        let committed = commit_batch(conn, &mut batch);
        drop(held);
        for job in batch {
            job.finish(committed.clone());
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    let result = (|| {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for job in batch.iter_mut() {
            conn.execute_batch("SAVEPOINT job")?;
            if !job.run(conn) {
                conn.execute_batch("ROLLBACK TO job")?;
            }
            conn.execute_batch("RELEASE job")?;
        }
        conn.execute_batch("COMMIT")
    })();
    result.map_err(|e: rusqlite::Error| {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        e.to_string()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER NOT NULL);")
            .unwrap();
        (dir, path)
    }

    fn values(direct: &SqliteDirect) -> Vec<i64> {
        direct
            .read(|c| {
                let mut s = c.prepare("SELECT v FROM t ORDER BY v")?;
                let rows = s.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<Vec<i64>, _>>()?)
            })
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_commit_and_a_failed_one_leaves_nothing() {
        let (_dir, path) = database();
        let direct = Arc::new(SqliteDirect::open(&path, None).unwrap());
        let mut tasks = Vec::new();
        for v in 0..200_i64 {
            let direct = direct.clone();
            tasks.push(tokio::spawn(async move {
                direct
                    .write(move |c| {
                        c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                        if v % 10 == 3 {
                            // Written, then refused: the insert must be undone.
                            return Err(StoreError::Batch("refused".into()));
                        }
                        Ok(v)
                    })
                    .await
            }));
        }
        let mut accepted = Vec::new();
        for task in tasks {
            if let Ok(v) = task.await.unwrap() {
                accepted.push(v);
            }
        }
        accepted.sort_unstable();
        let expected: Vec<i64> = (0..200).filter(|v| v % 10 != 3).collect();
        assert_eq!(accepted, expected);
        assert_eq!(values(&direct), expected);
    }

    #[tokio::test]
    async fn after_close_the_writes_stand_and_new_ones_are_refused() {
        let (_dir, path) = database();
        let direct = SqliteDirect::open(&path, None).unwrap();
        let insert = |v: i64| {
            move |c: &Connection| {
                Ok::<_, StoreError>(c.execute("INSERT INTO t (v) VALUES (?1)", [v])?)
            }
        };
        direct.write(insert(1)).await.unwrap();
        direct.close().await;
        assert!(direct.write(insert(2)).await.is_err());
        assert!(direct.read(|_| Ok(())).is_err());
        let count: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }

    #[tokio::test]
    async fn a_statement_error_fails_only_its_own_write() {
        let (_dir, path) = database();
        let direct = SqliteDirect::open(&path, None).unwrap();
        // A statement error inside a write is that write's error, not the batch's.
        let bad = direct
            .write(|c| Ok::<_, StoreError>(c.execute("INSERT INTO missing (v) VALUES (1)", [])?))
            .await;
        assert!(bad.is_err());
        let good = direct
            .write(|c| Ok::<_, StoreError>(c.execute("INSERT INTO t (v) VALUES (7)", [])?))
            .await;
        assert_eq!(good.unwrap(), 1);
        assert_eq!(values(&direct), vec![7]);
    }
}
