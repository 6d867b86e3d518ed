//! The operator's records: licences, proxies, subscriptions, notes, calendar events, kanban
//! tasks, bots and finance operations. Each is a JSON document (unknown fields kept, as in
//! the reference) validated per kind, stored with typed projection columns so lists filter,
//! sort and page in the database, always within the caller's tenant.
//!
//! `documents` holds what every kind shares; `bots` and `finance` build on it with their
//! own rules, and `overview` reads across all of them for the dashboard.

pub mod bots;
pub mod documents;
pub mod expiry;
pub mod finance;
pub mod kinds;
pub mod overview;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every records route, with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(documents::routes::routes())
        .merge(bots::routes::routes())
        .merge(finance::routes::routes())
        .merge(overview::routes())
}
