//! Wire types shared by the Bot-Mox server, its agent, its client and the tests: the contract
//! of every machine caller.
//!
//! Everything here is plain data with serde derives: the response envelope of the
//! `/api/v1` surface, the stable error codes, the request/response bodies of each domain,
//! and the typed command catalogue of the agent bus. Keeping them in one crate means a
//! client and the server cannot disagree about a field name; each request body checks its
//! own limits through [`Validate`], so every caller applies the same ones.

pub mod agent;
pub mod auth;
pub mod command;
pub mod envelope;
pub mod error_code;
pub mod health;
pub mod records;
pub mod time;
pub mod validate;

pub use envelope::{ApiErrorBody, Envelope, ErrorEnvelope, PageMeta, PageQuery};
pub use error_code::ErrorCode;
pub use validate::{FieldErrors, Validate, from_json};
