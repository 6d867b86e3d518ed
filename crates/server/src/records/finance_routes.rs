//! `/api/v1/finance/summary` and the reference's `/api/v1/finance/daily-stats`, both
//! computed from the operations, and `/api/v1/overview`, the dashboard's figures.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use botmox_proto::Envelope;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::IntoParams;

use super::finance::{self, Period, SummaryParams};
use super::overview;
use crate::app::AppState;
use crate::auth::Auth;
use crate::http::{ApiQuery, ApiResult};

/// Income, expenses and profit per period, category and project, for one currency.
#[utoipa::path(get, path = "/api/v1/finance/summary", tag = "finance", security(("bearer" = [])),
    params(SummaryParams),
    responses((status = 200, description = "Envelope with the summary", body = finance::Summary), (status = 400)))]
pub async fn summary(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<SummaryParams>,
) -> ApiResult<Response> {
    Ok(Json(Envelope::ok(finance::summary(&s, &auth, p).await?)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DailyParams {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub currency: Option<String>,
}

/// The reference's shape: `{ "YYYY-MM-DD": {date, total_expenses, total_revenue,
/// net_profit, operations} }` for days with operations.
#[utoipa::path(get, path = "/api/v1/finance/daily-stats", tag = "finance", security(("bearer" = [])),
    params(DailyParams), responses((status = 200), (status = 400)))]
pub async fn daily_stats(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<DailyParams>,
) -> ApiResult<Response> {
    let summary = finance::summary(
        &s,
        &auth,
        SummaryParams {
            from: p.from,
            to: p.to,
            period: Some(Period::Day),
            currency: p.currency,
            project_id: None,
        },
    )
    .await?;
    let days: Map<String, Value> = summary
        .series
        .into_iter()
        .filter(|b| b.operations > 0)
        .map(|b| {
            let value = json!({
                "date": b.period, "total_expenses": b.expense, "total_revenue": b.income,
                "net_profit": b.profit, "operations": b.operations,
            });
            (b.period, value)
        })
        .collect();
    Ok(Json(Envelope::ok(Value::Object(days))).into_response())
}

/// The Overview dashboard's figures: bots per project and status, resources by state, money
/// of the last 30 days (USD), notes, and what expires within `alerts.warning_days`.
#[utoipa::path(get, path = "/api/v1/overview", tag = "finance", security(("bearer" = [])),
    responses((status = 200, description = "Envelope with the figures", body = overview::Overview)))]
pub async fn get_overview(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(Json(Envelope::ok(overview::overview(&s, &auth).await?)).into_response())
}
