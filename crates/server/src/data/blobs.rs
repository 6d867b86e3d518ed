//! Copies every object of one blob store into another (local folder or S3, either way) and
//! proves each copy by reading it back: for backups, restores and the move to S3.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use futures::TryStreamExt;
use object_store::path::Path;

use crate::blob::BlobStore;

/// Objects a store may hold that are not data: the readiness probe's stamp.
const NOT_DATA: &[&str] = &[".ready-probe"];

/// One copied object: its size and SHA-256 (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectProof {
    pub size: u64,
    pub sha256: String,
}

/// Copy every object of `from` into `to` under the same key; an object `to` already holds
/// with the same size and SHA-256 is kept (so a second run copies only what is new). Each
/// copy is read back and compared. Answers every object's proof, by key.
pub async fn copy_all(
    from: &BlobStore,
    to: &BlobStore,
) -> anyhow::Result<BTreeMap<String, ObjectProof>> {
    let listed: Vec<_> = from
        .store()
        .list(None)
        .try_collect()
        .await
        .context("listing the source's objects")?;
    let mut proofs = BTreeMap::new();
    for meta in listed {
        let key = meta.location;
        if NOT_DATA.contains(&key.as_ref()) {
            continue;
        }
        let proof = copy_one(from, to, &key)
            .await
            .with_context(|| format!("copying object {key}"))?;
        proofs.insert(key.to_string(), proof);
    }
    Ok(proofs)
}

async fn copy_one(from: &BlobStore, to: &BlobStore, key: &Path) -> anyhow::Result<ObjectProof> {
    let source_sha = from.sha256(key).await?.context("the object went away")?;
    if let Some(existing) = to.sha256(key).await?
        && existing == source_sha
    {
        let size = to.head(key).await?.unwrap_or_default();
        return Ok(ObjectProof {
            size,
            sha256: existing,
        });
    }
    let (_, body) = from.get(key).await?.context("the object went away")?;
    let stored = to.put_stream(key, body, u64::MAX).await?;
    let written = to.sha256(key).await?.context("the copy is not there")?;
    if stored.sha256 != source_sha || written != source_sha {
        bail!("the copy's SHA-256 {written} is not the source's {source_sha}");
    }
    Ok(ObjectProof {
        size: stored.size,
        sha256: written,
    })
}

/// Whether `store` holds no data object (a restore writes only into an empty store).
pub async fn is_empty(store: &BlobStore) -> anyhow::Result<bool> {
    let mut listed = store.store().list(None);
    while let Some(meta) = listed.try_next().await? {
        if !NOT_DATA.contains(&meta.location.as_ref()) {
            return Ok(false);
        }
    }
    Ok(true)
}
