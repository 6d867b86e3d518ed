//! Extractors that answer malformed input with the API envelope instead of axum's plain text.
//!
//! Text never carries the NUL character (U+0000): PostgreSQL cannot store it in text and
//! SQLite would, so both engines answer the same way only if it is refused before either
//! sees it: here, in bodies, queries and paths alike (400 `BAD_REQUEST`).

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use botmox_proto::ErrorCode;
use botmox_proto::validate::{FieldErrors, Validate};
use serde::de::DeserializeOwned;

use super::error::ApiError;

fn nul_refused() -> ApiError {
    ApiError::bad_request("Text must not contain the NUL character (U+0000)")
}

/// Whether a JSON text holds an escaped NUL (`\u0000`, the only way JSON can carry one) that
/// is not itself an escaped backslash followed by `u0000`.
fn json_has_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(i, w)| {
        w[0] == b'\\'
            && w[1] == b'u'
            && &w[2..] == b"0000"
            && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// Whether a URL-encoded text (query, path, form) holds `%00`.
pub fn url_has_nul(text: &[u8]) -> bool {
    text.windows(3).any(|w| w == b"%00") || text.contains(&0)
}

/// `application/json`, or any `application/...+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim();
    mime.eq_ignore_ascii_case("application/json")
        || (mime.len() > 17
            && mime[..12].eq_ignore_ascii_case("application/")
            && mime[mime.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// A shape problem (wrong type, missing field, number out of range) as a 400 whose details
/// name the field; at the root, a problem of the whole input.
fn shape_refused(what: &str, path: &serde_path_to_error::Path, problem: String) -> ApiError {
    let path = path.to_string();
    let mut errors = FieldErrors::new();
    if path == "." {
        errors.add_form(problem);
    } else {
        errors.add(path, problem);
    }
    let mut error = ApiError::from(errors);
    error.message = format!("Invalid {what}: {}", error.message);
    error
}

/// The body of a JSON request: content type, size and NUL checked.
async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Expected Content-Type: application/json",
        ));
    }
    let bytes = Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "Request body is too large")
        } else {
            ApiError::bad_request(r.body_text())
        }
    })?;
    if json_has_nul(&bytes) {
        return Err(nul_refused());
    }
    Ok(bytes)
}

/// Deserialise a JSON body straight into `T`, naming the field of a shape problem.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = || ApiError::bad_request("Malformed JSON in request body");
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().clone();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                shape_refused("request body", &path, inner.to_string())
            }
            _ => malformed(),
        }
    })?;
    reader.end().map_err(|_| malformed())?;
    Ok(value)
}

/// JSON body. Malformed JSON → 400 `BAD_REQUEST`, too large → 413 `PAYLOAD_TOO_LARGE`,
/// wrong content type → 415 `UNSUPPORTED_MEDIA_TYPE`; a value of the wrong shape is a 400
/// naming the field.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        parse_json(&bytes).map(Self)
    }
}

/// Query string. Bad values → 400 `BAD_REQUEST` naming the parameter (a number too large
/// for its type included).
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default().as_bytes();
        if url_has_nul(query) {
            return Err(nul_refused());
        }
        let reader = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query));
        serde_path_to_error::deserialize(reader)
            .map(Self)
            .map_err(|e| {
                let path = e.path().clone();
                shape_refused("query", &path, e.into_inner().to_string())
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
        if url_has_nul(parts.uri.path().as_bytes()) {
            return Err(nul_refused());
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| {
                ApiError::bad_request(format!("Invalid path: {}", e.body_text()))
            })
    }
}

/// A JSON body of the typed contract, a JSON object: shape and limits checked
/// (`botmox_proto::Validate`); any problem is a 400 `BAD_REQUEST` whose details name each
/// field.
pub struct Valid<T>(pub T);

impl<S, T> FromRequest<S> for Valid<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        // Serde reads a struct from an array too (its fields in order); every body of the
        // contract is an object, as the document says.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                    Ok(_) => ApiError::bad_request("Request body must be a JSON object"),
                    Err(_) => ApiError::bad_request("Malformed JSON in request body"),
                },
            );
        }
        let value: T = parse_json(&bytes)?;
        value.validate()?;
        Ok(Self(value))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escaped_nul_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(
            json_has_nul(br#"["\\\u0000"]"#),
            "an escaped backslash, then a NUL"
        );
        assert!(
            !json_has_nul(br#"{"a":"\\u0000"}"#),
            "the text \\u0000, no NUL"
        );
        assert!(!json_has_nul(br#"{"a":"u0000"}"#));
        assert!(url_has_nul(b"q=a%00b") && !url_has_nul(b"q=%0A"));
    }
}
