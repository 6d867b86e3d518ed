//! Uploads sent as the raw body of one request (artifacts, theme images) that are refused
//! before their body was read whole.

use axum::http::{HeaderMap, header};
use futures::{Stream, StreamExt};

/// The body length the client declares (`Content-Length`), if any: an upload announced
/// larger than its limit is refused before a byte is read.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Most of a refused upload's body read (and dropped) before answering.
pub const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// Read and drop up to `max` bytes of a body refused before it was stored, so a client still
/// sending it reads the refusal instead of a connection reset (past `max` the connection is
/// closed, and a large refused upload costs no more than that).
pub async fn drain<S, E>(body: S, max: u64)
where
    S: Stream<Item = Result<axum::body::Bytes, E>>,
{
    let mut body = std::pin::pin!(body);
    let mut read = 0u64;
    while let Some(Ok(chunk)) = body.next().await {
        read += chunk.len() as u64;
        if read > max {
            break;
        }
    }
}
