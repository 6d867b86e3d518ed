//! Licensing of the product's own modules: tenant licences with seat limits, entitlements
//! (modules per user or tenant default) and execution leases, whose signed token is the
//! credential for lease-gated artifact downloads.

pub mod routes;
pub mod service;
pub mod store;
pub mod token;
