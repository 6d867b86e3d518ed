//! The vocabulary of the operator's records that other callers rely on.

/// Every status a bot can have, in the order of its life cycle.
pub const BOT_STATUSES: &[&str] = &[
    "offline",
    "prepare",
    "leveling",
    "profession",
    "farming",
    "banned",
];
