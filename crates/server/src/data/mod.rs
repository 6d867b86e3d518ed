//! Keeping and moving an installation's data: `botmox backup` and `botmox restore`
//! ([`backup`]), and `botmox data migrate` from the embedded defaults (SQLite, a local blob
//! folder) to PostgreSQL and an S3-compatible store ([`migrate`]). Every copy is proved:
//! tables by row counts and checksums ([`tables`]), objects by SHA-256 read back ([`blobs`]).

pub mod backup;
pub mod blobs;
pub mod tables;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::bail;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;

use crate::blob::BlobStore;
use crate::config::{BlobConfig, Config};
use crate::db::Db;

/// The database file an `sqlite:` URL names; `None` for another engine.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    SqliteConnectOptions::from_str(url)
        .ok()
        .map(|options| options.get_filename().to_owned())
}

/// What a move copied and proved.
#[derive(Debug)]
pub struct Moved {
    pub tables: Vec<tables::TableProof>,
    /// The objects copied to the new blob store, when one was given.
    pub objects: Option<BTreeMap<String, blobs::ObjectProof>>,
}

/// Copy the installation `config` describes (SQLite, its blob store) into the PostgreSQL
/// database `to` and, when given, the blob store `blobs_to`; both sides are first brought to
/// this binary's schema. Safe to run again: what is there already is kept and checked.
pub async fn migrate(
    config: &Config,
    to: &str,
    blobs_to: Option<&BlobConfig>,
) -> anyhow::Result<Moved> {
    let Some(source) = sqlite_file(&config.database_url) else {
        bail!("the configured database is not SQLite: there is nothing to move from");
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to takes a postgres:// URL");
    }
    if !source.exists() {
        bail!("{} does not exist", source.display());
    }
    Db::open(&config.database_url, 1).await?.close().await?;
    let target = Db::open(to, 2).await?;
    let pool = target.read().get_postgres_connection_pool().clone();
    let copied = tables::copy_sqlite_to_postgres(&source, &pool).await;
    target.close().await?;
    let tables = copied?;
    let objects = match blobs_to {
        Some(blobs_to) => Some(
            blobs::copy_all(
                &BlobStore::open(&config.blob_store)?,
                &BlobStore::open(blobs_to)?,
            )
            .await?,
        ),
        None => None,
    };
    Ok(Moved { tables, objects })
}
