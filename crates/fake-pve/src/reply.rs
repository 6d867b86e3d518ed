//! Replies in PVE's shapes: `{"data":...}` on success; on failure the message as the HTTP
//! reason phrase plus, for API-level errors, `{"data":null,"message":"...\n"[,"errors":{}]}`,
//! and an empty body for the front end's authentication failures.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

/// A failed request.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: u16,
    message: String,
    errors: Option<BTreeMap<String, String>>,
    /// Front-end errors (authentication, CSRF) carry no body.
    bare: bool,
}

impl ApiError {
    pub(crate) fn status(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
            bare: false,
        }
    }

    /// 500: what an endpoint's `die` produces.
    pub(crate) fn fail(message: impl Into<String>) -> Self {
        Self::status(500, message)
    }

    /// 400 «Parameter verification failed.» with the per-parameter texts.
    pub(crate) fn params(errors: BTreeMap<String, String>) -> Self {
        Self {
            status: 400,
            message: "Parameter verification failed.".into(),
            errors: Some(errors),
            bare: false,
        }
    }

    pub(crate) fn param(name: &str, text: impl Into<String>) -> Self {
        let mut errors = BTreeMap::new();
        errors.insert(name.to_owned(), text.into());
        Self::params(errors)
    }

    /// 401 from the front end: reason phrase only.
    pub(crate) fn unauthorized(reason: &str) -> Self {
        Self {
            status: 401,
            message: reason.into(),
            errors: None,
            bare: true,
        }
    }

    pub(crate) fn not_implemented(method: &str, rel_path: &str) -> Self {
        Self::status(501, format!("Method '{method} {rel_path}' not implemented"))
    }

    #[cfg(test)]
    pub(crate) fn errors(&self) -> BTreeMap<String, String> {
        self.errors.clone().unwrap_or_default()
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let first_line = self.message.lines().next().unwrap_or_default().to_owned();
        let body = if self.bare {
            Body::empty()
        } else {
            let mut value =
                json!({"data": null, "message": format!("{}\n", self.message.trim_end())});
            if let Some(errors) = self.errors {
                value["errors"] = json!(errors);
            }
            Body::from(value.to_string())
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        if !self.bare {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json;charset=UTF-8"),
            );
        }
        // PVE closes the connection after every error.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(first_line.into_bytes()) {
            response.extensions_mut().insert(reason);
        }
        common_headers(response)
    }
}

/// 200 with `{"data": data}`.
pub(crate) fn ok(data: Value) -> Response<Body> {
    json_reply(json!({ "data": data }))
}

/// 200 with `{"data": data, "total": total}` (list endpoints that count rows, e.g. task log).
pub(crate) fn ok_total(data: Value, total: usize) -> Response<Body> {
    json_reply(json!({ "data": data, "total": total }))
}

fn json_reply(envelope: Value) -> Response<Body> {
    let mut response = Response::new(Body::from(envelope.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    common_headers(response)
}

fn common_headers(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(
        header::SERVER,
        HeaderValue::from_static("pve-api-daemon/3.0"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    let now = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(value) = HeaderValue::from_str(&now) {
        headers.insert(header::EXPIRES, value);
    }
    response
}
