//! The operator's records: licences, proxies, subscriptions, notes, calendar events, kanban
//! tasks, bots and finance operations. Each is a JSON document (unknown fields kept, as in
//! the reference) validated per kind, stored with typed projection columns so lists filter,
//! sort and page in the database, always within the caller's tenant.

pub mod kinds;
pub mod routes;
pub mod schema;
pub mod sealed;
pub mod service;
pub mod store;
