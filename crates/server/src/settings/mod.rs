//! Per-tenant settings (spec api.md §9): one JSON tree addressed by slash paths, checked
//! against the rules of §9.1 at every path, written with compare-and-swap so concurrent
//! writers never lose each other's changes, credentials sealed at rest and masked in reads;
//! and the tenant's storage policy (§9.2). Projects live here and are checked when records
//! point at them.

pub mod policy;
pub mod routes;
pub mod schema;
pub mod service;
pub mod store;
