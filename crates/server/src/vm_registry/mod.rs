//! The VM registry: which user owns which VM (by its SMBIOS UUID), the machine binding of
//! every lease. Unlike the reference, registering never takes a VM from its owner: moving
//! one is an admin's explicit, audited act.

pub mod routes;
pub mod service;
pub mod store;
