//! Finance operations (income and expense records) and the aggregates computed from the
//! per-day totals that every operation's write keeps.

pub mod routes;
pub mod service;
pub mod store;
