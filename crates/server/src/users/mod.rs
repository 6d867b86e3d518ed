//! Tenants and their members: creation (API, UI, CLI and first-run setup share one path),
//! listing, role changes, disabling and password changes.

pub mod routes;
pub mod service;
pub mod store;
