//! Who is calling: passwords, sessions with rotating refresh tokens, access tokens, API
//! tokens, external JWTs, and the extractors that give handlers an authenticated [`Auth`].

pub mod cache;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod principal;
pub mod routes;
pub mod service;
pub mod store;

pub use principal::Auth;
