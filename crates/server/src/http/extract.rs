//! Extractors that answer malformed input with the API envelope instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use botmox_proto::ErrorCode;
use botmox_proto::validate::{Validate, from_json};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// JSON body. Malformed JSON → 400 `BAD_REQUEST`, too large → 413 `PAYLOAD_TOO_LARGE`,
/// wrong content type → 415 `UNSUPPORTED_MEDIA_TYPE`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(ErrorCode::PayloadTooLarge, "Request body is too large");
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Expected Content-Type: application/json",
        ),
        JsonRejection::JsonDataError(e) => {
            ApiError::bad_request(format!("Invalid request body: {}", e.body_text()))
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("Malformed JSON in request body")
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Query string. Bad values → 400 `BAD_REQUEST`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(format!("Invalid query: {}", e.body_text()))
            })
    }
}

/// Path parameters. Bad values → 400 `BAD_REQUEST`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| {
                ApiError::bad_request(format!("Invalid path: {}", e.body_text()))
            })
    }
}

/// A JSON body of the typed contract: shape and limits checked (`botmox_proto::Validate`);
/// any problem is a 400 `BAD_REQUEST` whose details name each field.
pub struct Valid<T>(pub T);

impl<S, T> FromRequest<S> for Valid<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiJson(value) = ApiJson::<serde_json::Value>::from_request(req, state).await?;
        Ok(Self(from_json(value)?))
    }
}

/// A query string of the typed contract: shape and limits checked like [`Valid`].
pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(value) = ApiQuery::<T>::from_request_parts(parts, state).await?;
        value.validate()?;
        Ok(Self(value))
    }
}
