//! Bots: their records, their lifecycle (stage transitions, ban and unban, each logged in
//! the same transaction) and their history (log and archive), which outlives the bot.

pub mod health;
pub mod identity;
pub mod reference;
pub mod routes;
pub mod schedule;
pub mod service;
pub mod store;
