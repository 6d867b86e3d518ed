//! Theme background images: PNG, JPEG or WebP of at most [`MAX_BYTES`], checked by their
//! header (not by what the client says they are), kept in the blob store under
//! `theme-assets/<tenant>/<id>` with a row that says their kind and size. Removing one
//! removes its object and, when it is the background in use, the background.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botmox_proto::ErrorCode;
use botmox_proto::theme::ThemeAsset;
use futures::{Stream, StreamExt};
use object_store::path::Path;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::blob::PutError;
use crate::db::entity::theme_asset::{self, Column, Entity};
use crate::http::upload::{DRAIN_LIMIT, drain};
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::settings::service as settings;
use crate::state::AppState;

/// The largest background image accepted.
pub const MAX_BYTES: u64 = 5 * 1024 * 1024;
/// The most images a tenant keeps.
pub const MAX_ASSETS: u64 = 50;

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "Theme image not found")
}

fn view(m: &theme_asset::Model) -> ThemeAsset {
    ThemeAsset {
        id: m.id.clone(),
        mime_type: m.mime_type.clone(),
        size_bytes: m.size_bytes.max(0) as u64,
        width: m.width.max(0) as u32,
        height: m.height.max(0) as u32,
        created_at: m.created_at,
        url: format!("/theme-assets/{}", m.id),
    }
}

/// The kind of image `bytes` hold, by their header.
fn mime_of(bytes: &[u8]) -> Option<&'static str> {
    match imagesize::image_type(bytes).ok()? {
        imagesize::ImageType::Png => Some("image/png"),
        imagesize::ImageType::Jpeg => Some("image/jpeg"),
        imagesize::ImageType::Webp => Some("image/webp"),
        _ => None,
    }
}

/// Read an upload whole, refusing it past [`MAX_BYTES`].
async fn read_all<S, E>(body: S) -> ApiResult<Vec<u8>>
where
    S: Stream<Item = Result<axum::body::Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("The upload did not arrive whole: {e}")))?;
        if (bytes.len() + chunk.len()) as u64 > MAX_BYTES {
            // The rest is read and dropped, so the client reads the refusal.
            drain(body, DRAIN_LIMIT).await;
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "A theme image may have at most {} MiB",
            MAX_BYTES / (1024 * 1024)
        ),
    )
}

/// Keep an uploaded image (the raw body of the request) as one of the tenant's backgrounds.
pub async fn upload<S, E>(
    state: &AppState,
    auth: &Auth,
    declared: Option<u64>,
    body: S,
) -> ApiResult<ThemeAsset>
where
    S: Stream<Item = Result<axum::body::Bytes, E>> + Send,
    E: std::fmt::Display,
{
    if declared.is_some_and(|n| n > MAX_BYTES) {
        drain(body, DRAIN_LIMIT).await;
        return Err(too_large());
    }
    // Read first: a refusal after it (too many images) still reaches the client whole.
    let bytes = read_all(body).await?;
    let tenant = auth.tenant();
    let kept = Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .count(state.db.read())
        .await
        .map_err(crate::db::StoreError::from)?;
    if kept >= MAX_ASSETS {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("A tenant keeps at most {MAX_ASSETS} theme images; remove one first"),
        ));
    }
    let mime = mime_of(&bytes).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "A theme image must be a PNG, JPEG or WebP file",
        )
    })?;
    let size = imagesize::blob_size(&bytes)
        .map_err(|_| ApiError::bad_request("The image's size cannot be read"))?;
    let id = uuid::Uuid::new_v4().to_string();
    let key = format!("theme-assets/{tenant}/{id}");
    let path = Path::parse(&key).map_err(ApiError::internal)?;
    let length = bytes.len() as u64;
    let chunk = futures::stream::once(async move {
        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(bytes))
    });
    match state.blob.put_stream(&path, chunk, MAX_BYTES).await {
        Ok(_) => {}
        Err(PutError::TooLarge(_)) => return Err(too_large()),
        Err(PutError::Body(e)) => return Err(ApiError::bad_request(e)),
        Err(PutError::Store(e)) => return Err(ApiError::internal(e)),
    }
    let row = theme_asset::Model {
        id,
        tenant_id: tenant.as_str().to_owned(),
        object_key: key,
        mime_type: mime.to_owned(),
        size_bytes: length as i64,
        width: size.width.min(i32::MAX as usize) as i32,
        height: size.height.min(i32::MAX as usize) as i32,
        created_by: Some(auth.caller().to_owned()),
        created_at: crate::clock::now_ms(),
    };
    let inserted = state
        .db
        .write(async |txn| {
            row.clone().into_active_model().insert(txn).await?;
            Ok::<_, crate::db::StoreError>(())
        })
        .await;
    if let Err(e) = inserted {
        if let Err(e) = state.blob.delete(&path).await {
            tracing::warn!(error = %e, "removing an unrecorded theme image failed");
        }
        return Err(e.into());
    }
    Ok(view(&row))
}

/// The tenant's images, newest first.
pub async fn list(state: &AppState, auth: &Auth) -> ApiResult<Vec<ThemeAsset>> {
    let rows = Entity::find()
        .filter(Column::TenantId.eq(auth.tenant().as_str()))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(MAX_ASSETS)
        .all(state.db.read())
        .await
        .map_err(crate::db::StoreError::from)?;
    Ok(rows.iter().map(view).collect())
}

/// The tenant's image `id`.
pub async fn get(state: &AppState, auth: &Auth, id: &str) -> ApiResult<theme_asset::Model> {
    Entity::find_by_id(id.to_owned())
        .filter(Column::TenantId.eq(auth.tenant().as_str()))
        .one(state.db.read())
        .await
        .map_err(crate::db::StoreError::from)?
        .ok_or_else(not_found)
}

/// The image's bytes, with its kind; cached by the browser (an id never names other
/// bytes).
pub async fn content(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Response> {
    let row = get(state, auth, id).await?;
    let path = Path::parse(&row.object_key).map_err(ApiError::internal)?;
    let (size, stream) = state
        .blob
        .get(&path)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    if let Ok(kind) = HeaderValue::from_str(&row.mime_type) {
        headers.insert(header::CONTENT_TYPE, kind);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    Ok(response)
}

/// Remove the image and its object; when it is the background in use, the background goes
/// too.
pub async fn delete(state: &AppState, auth: &Auth, id: &str) -> ApiResult<()> {
    let row = get(state, auth, id).await?;
    state
        .db
        .write(async |txn| {
            row.clone().into_active_model().delete(txn).await?;
            Ok::<_, crate::db::StoreError>(())
        })
        .await?;
    let path = Path::parse(&row.object_key).map_err(ApiError::internal)?;
    if let Err(e) = state.blob.delete(&path).await {
        tracing::warn!(error = %e, key = %row.object_key, "removing a theme image's object failed");
    }
    let tree = settings::tree(&state.db, auth.tenant()).await?;
    if tree
        .pointer("/theme/visual/backgroundAssetId")
        .and_then(|v| v.as_str())
        == Some(id)
    {
        let path = settings::parse_path("theme/visual")?;
        let body = serde_json::json!({"backgroundAssetId": null, "enabled": false, "mode": "none"});
        settings::write(state, auth, &path, body).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_known_by_its_header() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
            0, 0, 0, 2, 0, 0, 0, 3, 8, 2, 0, 0, 0,
        ];
        assert_eq!(mime_of(&png), Some("image/png"));
        let size = imagesize::blob_size(&png).unwrap();
        assert_eq!((size.width, size.height), (2, 3));
        assert_eq!(mime_of(b"GIF89a......"), None, "not a kind the UI takes");
        assert_eq!(mime_of(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), None);
    }
}
