//! Short-lived download links. With S3 the store presigns a GET itself; the local store has
//! no such thing, so the server signs its own link to `GET /api/v1/artifacts/download`,
//! bound to the tenant, the object key and the expiry (HMAC under the server key, a purpose
//! of its own), and serves the file behind it. Changing any of the three breaks the
//! signature (403 `DOWNLOAD_LINK_INVALID`); a genuine link past its time is 410
//! `DOWNLOAD_LINK_EXPIRED`.

use std::time::Duration;

use botmox_proto::ErrorCode;
use object_store::path::Path;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db::TenantId;
use crate::http::ApiError;
use crate::keys::ServerKey;
use crate::state::AppState;

/// The purpose of the link signatures (see [`ServerKey::sign`]).
const PURPOSE: &str = "artifact-download-link";

/// The query of a signed link.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// The tenant whose object this is.
    pub tenant: String,
    /// The object key.
    pub key: String,
    /// Expiry, epoch milliseconds.
    pub exp: i64,
    /// Signature of the three above.
    pub sig: String,
}

/// What is signed: each part with its length first, so no two triples read the same.
fn signed_text(tenant: &str, key: &str, exp: i64) -> String {
    format!("{}:{tenant}|{}:{key}|{exp}", tenant.len(), key.len())
}

/// The link to `key` of `tenant` valid until `expires_at_ms`, under `public_url`.
pub fn sign_link(
    key: &ServerKey,
    public_url: &url::Url,
    tenant: &TenantId,
    object_key: &str,
    expires_at_ms: i64,
) -> String {
    let sig = key.sign(
        PURPOSE,
        &signed_text(tenant.as_str(), object_key, expires_at_ms),
    );
    let mut url = public_url.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty()
            .extend(["api", "v1", "artifacts", "download"]);
    }
    url.query_pairs_mut()
        .append_pair("tenant", tenant.as_str())
        .append_pair("key", object_key)
        .append_pair("exp", &expires_at_ms.to_string())
        .append_pair("sig", &sig);
    url.into()
}

/// Check a link at `now_ms`: the tenant and key it grants, or why not. The signature is
/// checked first, so an altered expiry is invalid, not expired.
pub fn check_link(
    key: &ServerKey,
    link: &LinkQuery,
    now_ms: i64,
) -> Result<(TenantId, Path), ApiError> {
    let genuine = key.verify(
        PURPOSE,
        &signed_text(&link.tenant, &link.key, link.exp),
        &link.sig,
    );
    if !genuine {
        return Err(ApiError::new(
            ErrorCode::DownloadLinkInvalid,
            "The download link is not valid",
        ));
    }
    if link.exp <= now_ms {
        return Err(ApiError::new(
            ErrorCode::DownloadLinkExpired,
            "The download link has expired",
        ));
    }
    let path = Path::parse(&link.key).map_err(|_| {
        ApiError::new(
            ErrorCode::DownloadLinkInvalid,
            "The download link is not valid",
        )
    })?;
    Ok((TenantId::trusted(link.tenant.clone()), path))
}

/// A download URL of `object_key` valid for the configured TTL and its expiry (epoch ms):
/// presigned by S3, or signed by this server for the local store.
pub async fn url_for(
    state: &AppState,
    tenant: &TenantId,
    object_key: &str,
    now_ms: i64,
) -> Result<(String, i64), ApiError> {
    let ttl = state.config.download_url_ttl;
    let expires_at = now_ms + (ttl as i64) * 1000;
    let path = Path::parse(object_key).map_err(ApiError::internal)?;
    match state
        .blob
        .presigned_get(&path, Duration::from_secs(ttl))
        .await
    {
        Ok(Some(url)) => Ok((url.into(), expires_at)),
        Ok(None) => Ok((
            sign_link(
                &state.key,
                &state.config.public_url,
                tenant,
                object_key,
                expires_at,
            ),
            expires_at,
        )),
        Err(e) => Err(super::service::blob_failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_bound_to_tenant_key_and_expiry() {
        let key = ServerKey::from_secret("0123456789abcdef0123456789abcdef");
        let base = url::Url::parse("https://bmx.example.com/prefix/").unwrap();
        let tenant = TenantId::trusted("acme");
        let link = sign_link(&key, &base, &tenant, "artifacts/acme/m/x", 2_000);
        let url = url::Url::parse(&link).unwrap();
        assert_eq!(url.path(), "/prefix/api/v1/artifacts/download");
        let q: LinkQuery = serde_urlencoded::from_str(url.query().unwrap()).unwrap();
        let (t, path) = check_link(&key, &q, 1_000).unwrap();
        assert_eq!((t.as_str(), path.as_ref()), ("acme", "artifacts/acme/m/x"));
        let code = |q: &LinkQuery, now| check_link(&key, q, now).unwrap_err().code;
        assert_eq!(code(&q, 2_000), ErrorCode::DownloadLinkExpired);
        for altered in [
            LinkQuery {
                tenant: "other".into(),
                ..q.clone()
            },
            LinkQuery {
                key: "artifacts/acme/m/y".into(),
                ..q.clone()
            },
            LinkQuery {
                exp: 9_000,
                ..q.clone()
            },
            LinkQuery {
                sig: "x".into(),
                ..q.clone()
            },
        ] {
            assert_eq!(code(&altered, 1_000), ErrorCode::DownloadLinkInvalid);
        }
        let other = ServerKey::from_secret("another-secret-another-secret-00");
        assert!(check_link(&other, &q, 1_000).is_err());
    }
}
