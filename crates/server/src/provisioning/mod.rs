//! Per-VM provisioning (spec provisioning, api.md §17-18): unattend profiles and playbooks
//! per user, provisioning tokens bound to a VM the user owns in the registry, the config-ISO
//! payload (made by the `botmox-unattend` crate), and the VM-facing validate/report routes
//! with live progress events.

pub mod bearer;
pub mod routes;
pub mod service;
pub mod store;
pub mod token;
