//! The Bot-Mox control plane as a library: the `botmox` binary is a thin CLI over it, and the
//! test harness starts it in-process.

pub mod agents;
pub mod api_tokens;
pub mod app;
pub mod audit;
pub mod auth;
pub mod blob;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod health;
pub mod http;
pub mod openapi;
pub mod records;
pub mod schema;
pub mod sealed;
pub mod settings;
pub mod setup;
pub mod telemetry;
pub mod ui;
pub mod users;
pub mod vm_ops;
