//! The reference's direct infrastructure routes (`/api/v1/infra/proxmox/*` and
//! `/api/v1/infra/ssh/*`, spec api.md §20b) with the same paths, bodies and answers, served
//! through an agent: the server holds no Proxmox ticket and no SSH key. Each call becomes
//! the equivalent catalogue command for an agent of the caller's tenant, and the route waits
//! for its outcome (504 `AGENT_TIMEOUT` past the wait, 409 `AGENT_OFFLINE` for an agent
//! not seen lately, 502 `COMMAND_FAILED` when the agent reports a failure). The `infra` or
//! `admin` role is required, and every mutating call is audited like any privileged one.

pub mod routes;
pub mod service;
