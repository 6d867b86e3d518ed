//! Long-lived API tokens: bound to a tenant and a role, stored hashed, revocable.

pub mod routes;
pub mod service;
pub mod store;
