//! `/api/v1/finance/operations` (the income and expense records), and
//! `/api/v1/finance/summary` and the reference's `/api/v1/finance/daily-stats`, both
//! computed from the operations.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use botmox_proto::Envelope;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self as finance, Period, SummaryParams};
use crate::http::{ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::openapi::{
    Deleted, FinanceOperationCreate, FinanceOperationPatch, RecordAnswer, RecordPage, ValueAnswer,
};
use crate::principal::Auth;
use crate::records::documents::routes::{
    DeleteParams, ListParams, create_in, delete_in, get_in, list_in, patch_in,
};
use crate::records::kinds::Kind;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_operations, create_operation))
        .routes(routes!(get_operation, patch_operation, delete_operation))
        .routes(routes!(summary))
        .routes(routes!(daily_stats))
}

/// List finance operations.
#[utoipa::path(get, path = "/api/v1/finance/operations", tag = "records", security(("bearer" = [])), params(ListParams),
    responses((status = 200, description = "Envelope with the page of operations and `meta`", body = RecordPage), (status = 400)))]
pub async fn list_operations(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Response> {
    list_in(&s, &auth, Kind::FinanceOperation, p).await
}

/// Record an income or expense.
#[utoipa::path(post, path = "/api/v1/finance/operations", tag = "records", security(("bearer" = [])), request_body = FinanceOperationCreate,
    responses((status = 201, description = "Envelope with the operation; ETag header", body = RecordAnswer), (status = 400), (status = 409)))]
pub async fn create_operation(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    create_in(&s, &auth, Kind::FinanceOperation, body).await
}

/// Read one finance operation.
#[utoipa::path(get, path = "/api/v1/finance/operations/{id}", tag = "records", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "Envelope with the operation; ETag header", body = RecordAnswer), (status = 404)))]
pub async fn get_operation(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    get_in(&s, &auth, Kind::FinanceOperation, &id).await
}

/// Change a finance operation; honours `If-Match`.
#[utoipa::path(patch, path = "/api/v1/finance/operations/{id}", tag = "records", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = FinanceOperationPatch,
    responses((status = 200, description = "Envelope with the merged operation; ETag header", body = RecordAnswer), (status = 400), (status = 404), (status = 412)))]
pub async fn patch_operation(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    patch_in(&s, &auth, Kind::FinanceOperation, &id, &headers, body).await
}

/// Delete a finance operation.
#[utoipa::path(delete, path = "/api/v1/finance/operations/{id}", tag = "records", security(("bearer" = [])), params(("id" = String, Path), DeleteParams),
    responses((status = 200, description = "`{id, deleted: true}`", body = Deleted), (status = 404), (status = 409, description = "`IN_USE`: other records refer to it")))]
pub async fn delete_operation(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<DeleteParams>,
) -> ApiResult<Response> {
    delete_in(&s, &auth, Kind::FinanceOperation, &id, p).await
}

/// Income, expenses and profit per period, category and project, for one currency.
#[utoipa::path(get, path = "/api/v1/finance/summary", tag = "finance", security(("bearer" = [])),
    params(SummaryParams),
    responses((status = 200, description = "Envelope with the summary", body = Envelope<finance::Summary>), (status = 400)))]
pub async fn summary(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<SummaryParams>,
) -> ApiResult<Response> {
    Ok(Json(Envelope::ok(finance::summary(&s.db, &auth, p).await?)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyParams {
    /// Start (epoch ms, inclusive, 0 to 8e15).
    #[param(minimum = 0, maximum = 8_000_000_000_000_000_i64)]
    pub from: Option<i64>,
    /// End (epoch ms, exclusive, up to 8e15).
    #[param(minimum = 1, maximum = 8_000_000_000_000_000_i64)]
    pub to: Option<i64>,
    pub currency: Option<String>,
}

/// The reference's shape: `{ "YYYY-MM-DD": {date, total_expenses, total_revenue,
/// net_profit, operations} }` for days with operations.
#[utoipa::path(get, path = "/api/v1/finance/daily-stats", tag = "finance", security(("bearer" = [])),
    params(DailyParams), responses((status = 200, body = ValueAnswer), (status = 400)))]
pub async fn daily_stats(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<DailyParams>,
) -> ApiResult<Response> {
    let summary = finance::summary(
        &s.db,
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
