//! Wire types shared by the Bot-Mox server, its agent, its client and the tests: the contract
//! of every machine caller.
//!
//! Everything here is plain data with serde derives: the response envelope of the
//! `/api/v1` surface, the stable error codes, the request/response bodies of each domain,
//! and the typed command catalogue of the agent bus. Keeping them in one crate means a
//! client and the server cannot disagree about a field name; each request body checks its
//! own limits through [`Validate`], so every caller applies the same ones.

/// `ALL`, `as_str`, `Display` and `FromStr` of a unit enum whose wire form is one word per
/// variant, from one table. The words must be the ones its serde derive writes; each such
/// enum's tests hold them equal.
macro_rules! wire_words {
    ($ty:ident, $what:literal, [$($variant:ident = $word:literal),+ $(,)?]) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: [$ty; [$($word),+].len()] = [$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// `Err` says what was expected, e.g. `unknown presence 'x' (expected online or offline)`.
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
                    format!("unknown {} '{s}' (expected {})", $what, $crate::one_of(&[$($word),+]))
                })
            }
        }
    };
}

/// `a, b or c`.
fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

pub mod agent;
pub mod artifacts;
pub mod auth;
pub mod command;
pub mod envelope;
pub mod error_code;
pub mod health;
pub mod licensing;
pub mod provisioning;
pub mod records;
pub mod theme;
pub mod time;
pub mod validate;
pub mod vault;
pub mod vm_jobs;

pub use envelope::{ApiErrorBody, Envelope, ErrorEnvelope, PageMeta, PageQuery};
pub use error_code::ErrorCode;
pub use validate::{FieldErrors, Validate, from_json};
