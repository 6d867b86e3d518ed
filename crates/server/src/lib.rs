//! The Bot-Mox control plane as a library: the `botmox` binary is a thin CLI over it, and the
//! test harness starts it in-process.
//!
//! The modules form layers; each imports only from the layers below it (a test,
//! `tests/module_graph.rs`, fails on any import cycle between them):
//!
//! 1. foundations: `clock`, `config`, `telemetry`, `data_dir`, `keys`, `sealed`, `blob`, `db`,
//!    `http`, `schema`;
//! 2. who is calling and the shared state: `principal`, `bus`, `state`;
//! 3. domains, each `routes` (HTTP shape) → `service` (rules) → `store` (queries): `audit`,
//!    `auth`, `users`, `api_tokens`, `setup`, `settings`, `records`, `agents`, `vm_ops`, `infra`,
//!    `vm_registry`, `licensing`, `artifacts`, `vault`, `provisioning`, `health`;
//!    `openapi` holds what the routes' OpenAPI annotations take from the domains' rules
//!    (record and settings bodies, closed path segments) and the shared error answers;
//! 4. composition: `api` (every `/api/v1` route and its OpenAPI document), `ui` (the web
//!    pages), `app` (the server with its middleware), `data` (backup, restore, the move to
//!    PostgreSQL and S3), `cli`.

pub mod clock;
pub mod config;
pub mod telemetry;

pub mod blob;
pub mod data_dir;
pub mod db;
pub mod http;
pub mod keys;
pub mod schema;
pub mod sealed;

pub mod bus;
pub mod principal;
pub mod state;

pub mod agents;
pub mod api_tokens;
pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod health;
pub mod infra;
pub mod licensing;
pub mod provisioning;
pub mod records;
pub mod settings;
pub mod setup;
pub mod theme;
pub mod users;
pub mod vault;
pub mod vm_jobs;
pub mod vm_ops;
pub mod vm_registry;

pub mod openapi;

pub mod api;
pub mod app;
pub mod cli;
pub mod data;
pub mod ui;
