//! The secrets vault: the server stores ciphertext and metadata only. Clients (the CLI, the
//! Secrets page in the browser) seal each secret with HPKE to its recipients' public keys
//! (agents' keys from pairing, users' vault keys), bound to tenant, secret id and field; each
//! recipient fetches only its own envelope and opens it locally. See `docs/architecture.md`.

pub mod routes;
pub mod service;
pub mod store;
