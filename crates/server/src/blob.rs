//! Blob storage (artifacts, ISOs) behind one interface for both backends: a local directory
//! (the default, `<data-dir>/blobs`) or any S3-compatible store, both through `object_store`.
//!
//! Writes stream: a body is cut into parts ([`PART_SIZE`] for a multipart upload on S3,
//! [`LOCAL_PART_SIZE`] for a staging file renamed on completion locally) with at most
//! [`PARTS_IN_FLIGHT`] parts in
//! memory, hashed (SHA-256) and counted on the way, and abandoned (nothing left behind)
//! when it fails or passes its size limit. Downloads: S3 hands out real presigned GET URLs;
//! the local store has none, and the caller serves the file itself behind a link it signs.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::{BlobConfig, S3Config};

/// Size of one uploaded part on S3: its smallest allowed part (except the last).
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// Size of one part written to the local staging file: no minimum there, and smaller parts
/// keep an upload's memory small.
pub const LOCAL_PART_SIZE: usize = 1024 * 1024;
/// Parts uploading at once; with the part being filled, bounds an upload's memory.
pub const PARTS_IN_FLIGHT: usize = 2;

/// The configured blob store. Cloning shares it.
#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Set for S3: the signer of presigned URLs (the same store, or the same bucket at its
    /// public endpoint).
    s3: Option<Arc<AmazonS3>>,
}

/// What a streamed write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// Why a streamed write stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading the body failed: {0}")]
    Body(String),
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
}

impl BlobStore {
    /// Open the store `config` names (creating the local directory when needed).
    pub fn open(config: &BlobConfig) -> anyhow::Result<Self> {
        match config {
            BlobConfig::Local(dir) => Self::local(dir),
            BlobConfig::S3(s3) => Self::s3(s3),
        }
    }

    pub fn local(dir: &std::path::Path) -> anyhow::Result<Self> {
        crate::data_dir::create_private_dir(dir)?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
            s3: None,
        })
    }

    fn s3(config: &S3Config) -> anyhow::Result<Self> {
        let store = Arc::new(Self::s3_at(config, config.endpoint.as_deref())?);
        let signer = match &config.public_endpoint {
            Some(public) => Arc::new(Self::s3_at(config, Some(public))?),
            None => store.clone(),
        };
        Ok(Self {
            store,
            s3: Some(signer),
        })
    }

    /// The configured bucket, reached at `endpoint` (AWS's when `None`).
    fn s3_at(config: &S3Config, endpoint: Option<&str>) -> anyhow::Result<AmazonS3> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(config.region.as_deref().unwrap_or("us-east-1"))
            .with_virtual_hosted_style_request(!config.path_style);
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        Ok(builder.build()?)
    }

    /// `local` or `s3`.
    pub fn kind(&self) -> &'static str {
        if self.s3.is_some() { "s3" } else { "local" }
    }

    pub fn store(&self) -> &dyn ObjectStore {
        self.store.as_ref()
    }

    /// Readiness probe: the store accepts a write and reads it back.
    pub async fn probe(&self) -> Result<(), String> {
        let path = Path::from(".ready-probe");
        let stamp = chrono::Utc::now().to_rfc3339();
        self.store
            .put(&path, PutPayload::from(stamp.clone().into_bytes()))
            .await
            .map_err(|e| e.to_string())?;
        let back = self
            .store
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

    /// Stream `body` into `key`, at most `limit` bytes; answers its size and SHA-256. On any
    /// failure the upload is aborted, so no partial object appears under `key`.
    pub async fn put_stream<S, E>(
        &self,
        key: &Path,
        body: S,
        limit: u64,
    ) -> Result<Stored, PutError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let upload = self.store.put_multipart(key).await?;
        let part_size = if self.s3.is_some() {
            PART_SIZE
        } else {
            LOCAL_PART_SIZE
        };
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut body = std::pin::pin!(body);
        let failure = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Err(e)) => break Some(PutError::Body(e.to_string())),
                Some(Ok(chunk)) => chunk,
            };
            size += chunk.len() as u64;
            if size > limit {
                break Some(PutError::TooLarge(limit));
            }
            hasher.update(&chunk);
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break Some(PutError::Store(e));
            }
            writer.put(chunk);
        };
        if let Some(failure) = failure {
            if let Err(e) = writer.abort().await {
                tracing::warn!(error = %e, %key, "aborting an upload failed");
            }
            return Err(failure);
        }
        writer.finish().await?;
        Ok(Stored {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// The object's size, or `None` when there is none at `key`.
    pub async fn head(&self, key: &Path) -> Result<Option<u64>, object_store::Error> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The object's size and its bytes as a stream, or `None` when there is none at `key`.
    #[allow(clippy::type_complexity)]
    pub async fn get(
        &self,
        key: &Path,
    ) -> Result<Option<(u64, BoxStream<'static, object_store::Result<Bytes>>)>, object_store::Error>
    {
        match self.store.get(key).await {
            Ok(found) => Ok(Some((found.meta.size, found.into_stream()))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The SHA-256 (lower-case hex) of the object at `key`, read as a stream; `None` when
    /// there is none.
    pub async fn sha256(&self, key: &Path) -> Result<Option<String>, object_store::Error> {
        let Some((_, mut stream)) = self.get(key).await? else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        Ok(Some(hex::encode(hasher.finalize())))
    }

    /// Remove the object at `key`; a missing one is not an error.
    pub async fn delete(&self, key: &Path) -> Result<(), object_store::Error> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A presigned GET of `key` valid for `ttl`: S3 only; `None` for the local store, whose
    /// files the server serves itself.
    pub async fn presigned_get(
        &self,
        key: &Path,
        ttl: Duration,
    ) -> Result<Option<Url>, object_store::Error> {
        match &self.s3 {
            Some(s3) => Ok(Some(
                s3.signed_url(axum::http::Method::GET, key, ttl).await?,
            )),
            None => Ok(None),
        }
    }
}
