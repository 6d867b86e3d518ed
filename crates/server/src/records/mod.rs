//! The operator's records: licences, proxies, subscriptions, notes, calendar events, kanban
//! tasks, bots and finance operations. Each is a JSON document (unknown fields kept, as in
//! the reference) validated per kind, stored with typed projection columns so lists filter,
//! sort and page in the database, always within the caller's tenant.

pub mod finance;
pub mod finance_routes;
pub mod kinds;
pub mod lifecycle;
pub mod lifecycle_routes;
pub mod overview;
pub mod routes;
pub mod service;
pub mod store;
