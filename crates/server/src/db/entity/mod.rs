//! SeaORM entities, one module per table, mirroring the migrations.

pub mod api_token;
pub mod audit_log;
pub mod record;
pub mod refresh_token;
pub mod session;
pub mod setup_token;
pub mod tenant;
pub mod user;
