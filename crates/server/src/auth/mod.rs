//! Who is calling: passwords, sessions with rotating refresh tokens, access tokens, API
//! tokens, external JWTs, and the extractors that give handlers an authenticated
//! [`Auth`](crate::principal::Auth).

pub mod extract;
pub mod password;
pub mod routes;
pub mod service;
pub mod store;
