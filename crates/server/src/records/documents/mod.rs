//! The record documents every kind shares: validation, server-set id and timestamps, merge
//! semantics of PATCH, optimistic concurrency, sealed credentials and their reveal,
//! references on delete, and the finance totals kept with each operation's write.

pub mod routes;
pub mod service;
pub mod store;
pub mod totals;
