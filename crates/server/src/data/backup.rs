//! `botmox backup` and `botmox restore`: an online backup of an installation on the embedded
//! SQLite database into a folder, and its way back into an empty installation (on SQLite,
//! or on PostgreSQL through the table copy of [`super::tables`]).
//!
//! A backup folder holds `botmox.db` (a consistent snapshot taken with `VACUUM INTO` while
//! the server keeps writing), `blobs/` (every object of the blob store, local or S3, copied
//! after the snapshot, so every release the snapshot knows has its file), `secret.key` (when
//! the server key is kept in the data folder) and, written last, `backup.json`: what is in
//! it (rows per table, every object's size and SHA-256), so a restore can prove it whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use sea_orm_migration::MigratorTrait;

use super::blobs::{self, ObjectProof};
use super::{sqlite_file, tables};
use crate::blob::BlobStore;
use crate::config::Config;
use crate::data_dir::{create_private_dir, create_private_file};
use crate::db::{Db, migrations::Migrator};

const DATABASE_FILE: &str = "botmox.db";
const BLOBS_DIR: &str = "blobs";
const KEY_FILE: &str = "secret.key";
const MANIFEST_FILE: &str = "backup.json";
/// The layout of the folder; a restore refuses another.
const FORMAT: u32 = 1;

/// What a backup holds (`backup.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub botmox_version: String,
    pub created_at: DateTime<Utc>,
    /// The last migration applied to the snapshot.
    pub migration: String,
    /// Rows per table in the snapshot.
    pub tables: BTreeMap<String, u64>,
    /// Every object of the blob store, by key.
    pub objects: BTreeMap<String, ObjectProof>,
    /// Whether `secret.key` is in the folder (not when the key is set in configuration).
    pub secret_key: bool,
}

/// Back the installation `config` describes up into `out`, a folder that is absent or empty;
/// a backup that fails removes what it wrote.
pub async fn backup(config: &Config, out: &Path) -> anyhow::Result<Manifest> {
    let Some(source) = sqlite_file(&config.database_url) else {
        bail!(
            "the database is PostgreSQL: back it up with pg_dump (docs/operations.md, Backup); \
             `botmox backup` takes the embedded SQLite database"
        );
    };
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} is not empty: give a new folder", out.display());
    }
    create_private_dir(out)?;
    let written = write_backup(config, source, out).await;
    if written.is_err() {
        let _ = std::fs::remove_dir_all(out);
    }
    written
}

async fn write_backup(config: &Config, source: PathBuf, out: &Path) -> anyhow::Result<Manifest> {
    let snapshot = out.join(DATABASE_FILE);
    let taken = snapshot.clone();
    let (migration, counts, releases) = tokio::task::spawn_blocking(move || {
        snapshot_sqlite(&source, &taken)?;
        read_snapshot(&taken)
    })
    .await??;

    let store = BlobStore::open(&config.blob_store)?;
    let objects = blobs::copy_all(&store, &BlobStore::local(&out.join(BLOBS_DIR))?).await?;
    for release in &releases {
        let held = objects.get(&release.key);
        if held.is_none_or(|o| o.sha256 != release.sha256 || o.size != release.size) {
            bail!(
                "the file of release {} ({}) changed or went away while the backup ran \
                 (a release deleted meanwhile?): run the backup again into a new folder",
                release.id,
                release.key
            );
        }
    }

    let secret_key = config.secret_key.is_none();
    if secret_key {
        let key = std::fs::read(config.data_dir.join(KEY_FILE))
            .with_context(|| format!("reading {}", config.data_dir.join(KEY_FILE).display()))?;
        write_private(&out.join(KEY_FILE), &key)?;
    }
    let manifest = Manifest {
        format: FORMAT,
        botmox_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: Utc::now(),
        migration,
        tables: counts,
        objects,
        secret_key,
    };
    let written = out.join(format!("{MANIFEST_FILE}.partial"));
    write_private(&written, &serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::rename(&written, out.join(MANIFEST_FILE))?;
    Ok(manifest)
}

/// Restore the backup in `from` into the empty installation `config` describes.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<Manifest> {
    let manifest: Manifest = match std::fs::read(from.join(MANIFEST_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes).context("backup.json is not readable")?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "{} is not a finished backup: it has no backup.json",
                from.display()
            )
        }
        Err(e) => return Err(e.into()),
    };
    if manifest.format != FORMAT {
        bail!(
            "backup format {} is not this binary's ({FORMAT})",
            manifest.format
        );
    }
    if !Migrator::migrations()
        .iter()
        .any(|m| m.name() == manifest.migration)
    {
        bail!(
            "the backup was made by a newer botmox ({}, migration {}): restore it with that \
             release or a later one",
            manifest.botmox_version,
            manifest.migration
        );
    }
    let backup_db = from.join(DATABASE_FILE);
    let checked = backup_db.clone();
    let (_, counts, _) = tokio::task::spawn_blocking(move || read_snapshot(&checked)).await??;
    if counts != manifest.tables {
        bail!("botmox.db does not hold the rows backup.json lists: the backup is damaged");
    }

    // Everything that could refuse is checked before anything is written.
    let key = if manifest.secret_key {
        let key = std::fs::read_to_string(from.join(KEY_FILE)).context("reading secret.key")?;
        let own = config.data_dir.join(KEY_FILE);
        match (&config.secret_key, std::fs::read_to_string(&own)) {
            (Some(set), _) if set.trim() != key.trim() => bail!(
                "the configured secret key is not the backup's: credentials sealed under the \
                 backup's key would not open; unset it or set it to the backup's secret.key"
            ),
            (None, Ok(held)) if held.trim() != key.trim() => bail!(
                "{} holds another key than the backup's: restore into an empty data folder",
                own.display()
            ),
            _ => Some(key),
        }
    } else {
        None
    };
    let store = BlobStore::open(&config.blob_store)?;
    if !blobs::is_empty(&store).await? {
        bail!("the blob store is not empty: restore into an empty one");
    }
    let target = match sqlite_file(&config.database_url) {
        Some(file) => {
            if std::fs::metadata(&file).is_ok_and(|m| m.len() > 0) {
                bail!(
                    "{} exists: restore into an empty data folder",
                    file.display()
                );
            }
            Target::Sqlite(file)
        }
        None => {
            // Checked before the migrations run, so a refused target is left as it was.
            let probe = sea_orm::sqlx::PgPool::connect(&config.database_url).await?;
            let empty = tables::postgres_is_empty(&probe).await;
            probe.close().await;
            if !empty? {
                bail!("the PostgreSQL database holds data: restore into an empty one");
            }
            let db = Db::open(&config.database_url, 2).await?;
            let pool = db.read().get_postgres_connection_pool().clone();
            Target::Postgres(db, pool)
        }
    };

    match target {
        Target::Sqlite(file) => {
            if let Some(parent) = file.parent() {
                create_private_dir(parent)?;
            }
            let partial = PathBuf::from(format!("{}.partial", file.display()));
            let _ = std::fs::remove_file(&partial);
            create_private_file(&partial)?;
            std::fs::copy(&backup_db, &partial)?;
            std::fs::rename(&partial, &file)?;
        }
        Target::Postgres(db, pool) => {
            // The snapshot is brought to this binary's schema in a scratch copy first.
            let scratch = tempfile::tempdir()?;
            let copy = scratch.path().join(DATABASE_FILE);
            std::fs::copy(&backup_db, &copy)?;
            let url = format!("sqlite://{}", copy.display());
            Db::open(&url, 1).await?.close().await?;
            let copied = tables::copy_sqlite_to_postgres(&copy, &pool).await;
            db.close().await?;
            copied?;
        }
    }

    let objects = blobs::copy_all(&BlobStore::local(&from.join(BLOBS_DIR))?, &store).await?;
    if objects != manifest.objects {
        bail!("the restored objects differ from what backup.json lists: the backup is damaged");
    }
    if let Some(key) = key
        && config.secret_key.is_none()
    {
        let own = config.data_dir.join(KEY_FILE);
        if !own.exists() {
            create_private_dir(&config.data_dir)?;
            write_private(&own, key.as_bytes())?;
        }
    }
    Ok(manifest)
}

/// Where a restore writes the database.
enum Target {
    Sqlite(PathBuf),
    Postgres(Db, sea_orm::sqlx::PgPool),
}

/// A release the snapshot knows, whose object the backup must hold.
struct Release {
    id: i64,
    key: String,
    sha256: String,
    size: u64,
}

/// `VACUUM INTO`: a consistent, compact copy of the database as of one moment, taken while
/// the server goes on writing.
fn snapshot_sqlite(source: &Path, snapshot: &Path) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open_with_flags(
        source,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", source.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    create_private_file(snapshot)?;
    let target = snapshot
        .to_str()
        .context("the backup folder's path is not UTF-8")?;
    conn.execute("VACUUM INTO ?1", [target])
        .context("taking the snapshot")?;
    Ok(())
}

/// The snapshot's last migration, rows per table and releases, after SQLite's own check.
fn read_snapshot(file: &Path) -> anyhow::Result<(String, BTreeMap<String, u64>, Vec<Release>)> {
    let conn = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", file.display()))?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if check != "ok" {
        bail!("{} fails SQLite's check: {check}", file.display());
    }
    let migration: String = conn.query_row(
        &format!(
            "SELECT version FROM {} ORDER BY version DESC LIMIT 1",
            super::tables::migrations_table()
        ),
        [],
        |row| row.get(0),
    )?;
    let mut counts = BTreeMap::new();
    for name in super::tables::sqlite_tables(&conn)? {
        let rows: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\"")),
            [],
            |row| row.get(0),
        )?;
        counts.insert(name, rows as u64);
    }
    let releases = conn
        .prepare("SELECT id, object_key, sha256, size_bytes FROM artifact_releases")?
        .query_map([], |row| {
            Ok(Release {
                id: row.get(0)?,
                key: row.get(1)?,
                sha256: row.get(2)?,
                size: row.get::<_, i64>(3)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok((migration, counts, releases))
}

/// Write `bytes` to a new owner-only file.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    create_private_file(path)?;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
