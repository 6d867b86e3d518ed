//! Wire types shared by the Bot-Mox server, its agent and the tests.
//!
//! Everything here is plain data with serde derives: the response envelope of the
//! `/api/v1` surface, the stable error codes, and the request/response bodies of each
//! domain. Keeping them in one crate means a client and the server cannot disagree
//! about a field name.

pub mod auth;
pub mod envelope;
pub mod error_code;
pub mod records;

pub use envelope::{ApiErrorBody, Envelope, ErrorEnvelope, PageMeta};
pub use error_code::ErrorCode;
