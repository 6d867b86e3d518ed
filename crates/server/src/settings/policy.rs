//! The tenant's storage policy (spec api.md §9.2): secrets always stay local; operational
//! data may be `local` or `cloud`; sync on or off. Each write replaces the whole policy.

use serde_json::{Value, json};

use super::store;
use crate::db::entity::storage_policy;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::schema::{Field, Rule, opt, validate};
use crate::state::AppState;

const SYNC: &[Field] = &[opt("enabled", Rule::Bool)];
const POLICY: &[Field] = &[
    opt("secrets", Rule::OneOf(&["local-only"])),
    opt("operational", Rule::OneOf(&["local", "cloud"])),
    opt("sync", Rule::Shape(SYNC)),
    opt("updated_at", Rule::Timestamp),
    opt("updated_by", Rule::Str(Some(320))),
];

fn view(m: &storage_policy::Model) -> Value {
    json!({
        "secrets": "local-only",
        "operational": m.operational,
        "sync": { "enabled": m.sync_enabled },
        "updated_at": m.updated_at_ms,
        "updated_by": m.updated_by,
    })
}

/// The policy, or `null` when never set.
pub async fn get(state: &AppState, auth: &Auth) -> ApiResult<Value> {
    Ok(store::policy(state.db.read(), auth.tenant())
        .await?
        .as_ref()
        .map_or(Value::Null, view))
}

pub async fn put(state: &AppState, auth: &Auth, body: Value) -> ApiResult<Value> {
    let body = match body {
        Value::Object(m) if !m.is_empty() => m,
        _ => {
            return Err(ApiError::bad_request(
                "Request body must be a non-empty object",
            ));
        }
    };
    let body = validate(POLICY, &body, false)?;
    let model = storage_policy::Model {
        tenant_id: auth.tenant().to_string(),
        operational: body
            .get("operational")
            .and_then(Value::as_str)
            .unwrap_or("cloud")
            .to_owned(),
        sync_enabled: body
            .get("sync")
            .and_then(|sync| sync.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        updated_at_ms: chrono::Utc::now().timestamp_millis(),
        updated_by: Some(auth.caller().to_owned()),
    };
    state
        .db
        .write(async |txn| store::put_policy(txn, &model).await)
        .await?;
    Ok(view(&model))
}
