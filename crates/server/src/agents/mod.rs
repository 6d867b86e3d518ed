//! Agents: the link from the control plane into an operator's network. A human creates a
//! one-time pairing code; the agent registers with it (and its public key) and gets an agent
//! token. Codes and tokens are stored hashed, and the token is looked up in the database on
//! every request, so revoking an agent stops it on its next request. Agent tokens are
//! accepted only by the agent's own routes ([`principal::AgentAuth`]); human routes refuse
//! them.

pub mod principal;
pub mod routes;
pub mod service;
pub mod store;
