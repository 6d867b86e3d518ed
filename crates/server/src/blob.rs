//! Blob storage (artifacts, ISOs). This release keeps blobs in `<data-dir>/blobs` through
//! `object_store`; the S3 backend plugs in behind the same trait.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

pub type BlobStore = Arc<dyn ObjectStore>;

pub fn open_local(dir: &std::path::Path) -> anyhow::Result<BlobStore> {
    crate::data_dir::create_private_dir(dir)?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(dir)?))
}

/// Readiness probe: the store accepts a write and reads it back.
pub async fn probe(store: &dyn ObjectStore) -> Result<(), String> {
    let path = Path::from(".ready-probe");
    let stamp = chrono::Utc::now().to_rfc3339();
    store
        .put(&path, PutPayload::from(stamp.clone().into_bytes()))
        .await
        .map_err(|e| e.to_string())?;
    let back = store
        .get(&path)
        .await
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    if back.as_ref() == stamp.as_bytes() {
        Ok(())
    } else {
        Err("read back different content".into())
    }
}
