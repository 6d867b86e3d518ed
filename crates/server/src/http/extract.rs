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
    match serde_path_to_error::deserialize(&mut reader) {
        Ok(value) => {
            reader.end().map_err(|_| malformed())?;
            Ok(value)
        }
        Err(e) => {
            let path = e.path().clone();
            let inner = e.into_inner();
            if inner.classify() != serde_json::error::Category::Data {
                return Err(malformed());
            }
            // JSON Schema counts `575.0` as an integer, serde does not: read the body again
            // with such numbers written as integers before refusing it.
            integral_retry(bytes)
                .unwrap_or_else(|| Err(shape_refused("request body", &path, inner.to_string())))
        }
    }
}

/// `bytes` read as `T` once every number without a fraction (`575.0`, `1e3`) is written as
/// an integer; `None` when the body holds no such number (the first refusal stands).
fn integral_retry<T: DeserializeOwned>(bytes: &[u8]) -> Option<Result<T, ApiError>> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if !integral_numbers(&mut value) {
        return None;
    }
    Some(serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().clone();
        shape_refused("request body", &path, e.into_inner().to_string())
    }))
}

/// Write every whole floating-point number in `value` as an integer; whether any was.
fn integral_numbers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) else {
                return false;
            };
            // Both bounds are powers of two, exact as f64.
            let whole = if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                serde_json::Number::from(f as i64)
            } else if (0.0..1.844_674_407_370_955_2e19).contains(&f) {
                serde_json::Number::from(f as u64)
            } else {
                return false;
            };
            *n = whole;
            true
        }
        Value::Array(items) => each_integral(items.iter_mut()),
        Value::Object(fields) => each_integral(fields.values_mut()),
        _ => false,
    }
}

/// [`integral_numbers`] of every value (none skipped once one changed).
fn each_integral<'a>(values: impl Iterator<Item = &'a mut serde_json::Value>) -> bool {
    let mut changed = false;
    for value in values {
        changed |= integral_numbers(value);
    }
    changed
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

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Counts {
        count: u32,
        offset: i64,
        ratio: f64,
        tags: Vec<u64>,
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_an_integer_and_a_fraction_is_refused() {
        let read: Counts =
            parse_json(br#"{"count": 575.0, "offset": -2e3, "ratio": 1.5, "tags": [7.0, 8]}"#)
                .unwrap();
        assert_eq!(
            read,
            Counts {
                count: 575,
                offset: -2000,
                ratio: 1.5,
                tags: vec![7, 8]
            }
        );
        let refused =
            parse_json::<Counts>(br#"{"count": 5.5, "offset": 1, "ratio": 1, "tags": []}"#)
                .unwrap_err();
        assert!(refused.message.contains("count"), "{}", refused.message);
        let too_big =
            parse_json::<Counts>(br#"{"count": 1e10, "offset": 1, "ratio": 1, "tags": []}"#)
                .unwrap_err();
        assert!(too_big.message.contains("count"), "{}", too_big.message);
        assert!(
            parse_json::<Counts>(br#"{"count": 1.0, "offset": 1, "ratio": 1, "tags": []} x"#)
                .is_err(),
            "trailing text is still malformed"
        );
    }
}
