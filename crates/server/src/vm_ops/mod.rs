//! The VM command bus's surface (spec api.md §14): humans dispatch commands to their agents;
//! an agent long-polls for its next command, which it claims atomically (each claim has its
//! own `claim_id`, so two polls never get the same command), then reports progress and
//! result with that claim id. A waiting poll sleeps on a per-agent wake-up, not a polling
//! loop, and is woken by a dispatch to its agent or by the agent's revocation. The storage
//! and event plumbing sit below, in `crate::bus`.

pub mod routes;
pub mod service;
pub mod store;
pub mod stream;
pub mod sweeper;
