//! Artifacts: releases of modules kept in the blob store, which release each user (or the
//! tenant by default) gets, and lease-gated, short-lived download links with an audit of
//! every attempt (spec api.md §12, security §6).

pub mod download;
pub mod resolve;
pub mod routes;
pub mod service;
pub mod store;
