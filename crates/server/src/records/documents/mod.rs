//! The record documents every kind shares: validation, server-set id and timestamps, merge
//! semantics of PATCH, optimistic concurrency, sealed credentials and their reveal,
//! references on delete, and the finance totals and bot counts kept with each write.

pub mod counts;
pub mod routes;
pub mod service;
pub mod store;
pub mod totals;
