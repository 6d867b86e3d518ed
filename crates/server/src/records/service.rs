//! Rules for records: validation, server-set id and timestamps, merge semantics of PATCH,
//! optimistic concurrency (versions as ETags), sealed credentials, and the bot-status guard.

use botmox_proto::ErrorCode;
use serde_json::{Map, Value};

use super::kinds::{CHARACTER, Kind};
use super::schema::validate;
use super::sealed::{MASK, Sealer};
use super::store::{self, ListQuery, NewRecord};
use crate::app::AppState;
use crate::auth::Auth;
use crate::db::entity::record;
use crate::db::is_unique_violation;
use crate::http::{ApiError, ApiResult};

/// Keys the server owns: ignored in input, set in output.
const SERVER_KEYS: [&str; 3] = ["id", "created_at", "updated_at"];
const MAX_ID_LEN: usize = 200;

pub fn etag(m: &record::Model) -> String {
    format!("W/\"{}\"", m.version)
}

/// The API view: the document with `id`, `created_at` and `updated_at` (ms), credentials masked.
pub fn view(kind: Kind, m: &record::Model) -> Value {
    let mut doc: Map<String, Value> = serde_json::from_str(&m.data).unwrap_or_default();
    for field in kind.secret_fields() {
        if let Some(v) = doc.get_mut(*field)
            && v.as_str().is_some_and(|s| !s.is_empty())
        {
            *v = Value::String(MASK.into());
        }
    }
    doc.insert("id".into(), Value::String(m.id.clone()));
    doc.insert("created_at".into(), Value::from(m.created_at));
    doc.insert("updated_at".into(), Value::from(m.updated_at));
    Value::Object(doc)
}

fn body_object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(map) if !map.is_empty() => Ok(map),
        Value::Object(_) => Err(ApiError::bad_request("Request body must not be empty")),
        _ => Err(ApiError::bad_request("Request body must be a JSON object")),
    }
}

fn check_id(id: &str) -> ApiResult<()> {
    if id.is_empty() || id.chars().count() > MAX_ID_LEN || id.contains('/') {
        return Err(ApiError::field(
            "id",
            format!("must be 1 to {MAX_ID_LEN} characters without '/'"),
        ));
    }
    Ok(())
}

/// Validate a whole document of `kind` (after merge, so nothing bypasses the rules).
fn validate_document(kind: Kind, doc: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let mut out = validate(kind.fields(), doc, false)?;
    if kind == Kind::Bot
        && let Some(Value::Object(character)) = out.get("character")
    {
        let checked = validate(CHARACTER, character, false).map_err(|mut e| {
            e.message = format!("character: {}", e.message);
            e
        })?;
        out.insert("character".into(), Value::Object(checked));
    }
    Ok(out)
}

/// Seal new credentials; a masked value sent back means "unchanged".
fn seal_secrets(
    sealer: &Sealer,
    place: &str,
    kind: Kind,
    doc: &mut Map<String, Value>,
    previous: Option<&Map<String, Value>>,
) {
    for field in kind.secret_fields() {
        let Some(Value::String(value)) = doc.get(*field).cloned() else {
            continue;
        };
        let stored = if value == MASK {
            previous
                .and_then(|p| p.get(*field))
                .cloned()
                .unwrap_or(Value::Null)
        } else if value.is_empty() || Sealer::is_sealed(&value) {
            Value::String(value)
        } else {
            Value::String(sealer.seal(&format!("{place}/{field}"), &value))
        };
        doc.insert((*field).into(), stored);
    }
}

/// A bot's `lifecycle` belongs to the lifecycle endpoints: no create or patch may write it.
fn refuse_lifecycle(kind: Kind, input: &Map<String, Value>) -> ApiResult<()> {
    let touches = |k: &String| k.trim_start_matches('/').split('/').next() == Some("lifecycle");
    if kind == Kind::Bot && input.keys().any(touches) {
        return Err(ApiError::field(
            "lifecycle",
            "is managed by the lifecycle endpoints",
        ));
    }
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub async fn create(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    body: Value,
) -> ApiResult<record::Model> {
    let mut doc = body_object(body)?;
    let id = match doc.get("id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(ApiError::field("id", "must be a string")),
    };
    check_id(&id)?;
    for key in SERVER_KEYS {
        doc.remove(key);
    }
    refuse_lifecycle(kind, &doc)?;
    if kind == Kind::Bot && doc.get("status").and_then(Value::as_str) == Some("banned") {
        return Err(ApiError::field(
            "status",
            "a bot is banned through POST /bots/{id}/lifecycle/ban",
        ));
    }
    let mut doc = validate_document(kind, &doc)?;
    seal_secrets(
        &state.sealer,
        &format!("{}/{}/{id}", auth.tenant_id, kind.as_str()),
        kind,
        &mut doc,
        None,
    );
    let projection = kind.project(&doc);
    let data = Value::Object(doc).to_string();
    let new = NewRecord {
        tenant_id: &auth.tenant_id,
        kind,
        id: &id,
        data,
        projection,
        now_ms: now_ms(),
    };
    match store::insert(&state.db, new).await {
        Ok(m) => Ok(m),
        Err(e) if is_unique_violation(&e) => Err(ApiError::new(
            ErrorCode::AlreadyExists,
            format!("{} {id} already exists", kind.label()),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(state: &AppState, auth: &Auth, kind: Kind, id: &str) -> ApiResult<record::Model> {
    store::get(&state.db, &auth.tenant_id, kind, id)
        .await?
        .ok_or_else(|| ApiError::not_found(kind.label()))
}

pub async fn list(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    query: &ListQuery,
) -> ApiResult<(Vec<record::Model>, u64)> {
    Ok(store::list(&state.db, &auth.tenant_id, kind, query).await?)
}

/// Apply a patch: plain keys replace top-level values, `a/b` keys set nested values, `null`
/// deletes. The merged document is validated as a whole.
pub fn merge(current: &Map<String, Value>, patch: &Map<String, Value>) -> Map<String, Value> {
    let mut doc = current.clone();
    for (key, value) in patch {
        if SERVER_KEYS.contains(&key.as_str()) {
            continue;
        }
        let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
        let Some((last, parents)) = parts.split_last() else {
            continue;
        };
        let mut node = &mut doc;
        for part in parents {
            let entry = node
                .entry((*part).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = entry.as_object_mut().expect("just made an object");
        }
        if value.is_null() {
            node.remove(*last);
        } else {
            node.insert((*last).to_owned(), value.clone());
        }
    }
    doc
}

fn expected_version(if_match: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(tag) = if_match.map(str::trim) else {
        return Ok(None);
    };
    if tag == "*" {
        return Ok(None);
    }
    let digits = tag.trim_start_matches("W/").trim_matches('"');
    digits
        .parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::bad_request("If-Match must be an ETag from this server"))
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        ErrorCode::PreconditionFailed,
        "The record changed since it was read; reload it and try again",
    )
}

pub async fn patch(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    id: &str,
    body: Value,
    if_match: Option<&str>,
) -> ApiResult<record::Model> {
    let patch = body_object(body)?;
    refuse_lifecycle(kind, &patch)?;
    let expected = expected_version(if_match)?;
    let current = get(state, auth, kind, id).await?;
    if expected.is_some_and(|v| v != current.version) {
        return Err(precondition_failed());
    }
    let before: Map<String, Value> = serde_json::from_str(&current.data).unwrap_or_default();
    if kind == Kind::Bot {
        let was = before
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("offline");
        let wants = patch.get("status").and_then(Value::as_str);
        if was == "banned" && wants.is_some_and(|s| s != "banned") {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "A banned bot leaves 'banned' only through POST /bots/{id}/lifecycle/unban",
            ));
        }
        if was != "banned" && wants == Some("banned") {
            return Err(ApiError::field(
                "status",
                "a bot is banned through POST /bots/{id}/lifecycle/ban",
            ));
        }
    }
    let mut doc = validate_document(kind, &merge(&before, &patch))?;
    seal_secrets(
        &state.sealer,
        &format!("{}/{}/{id}", auth.tenant_id, kind.as_str()),
        kind,
        &mut doc,
        Some(&before),
    );
    let projection = kind.project(&doc);
    let new = NewRecord {
        tenant_id: &auth.tenant_id,
        kind,
        id,
        data: Value::Object(doc).to_string(),
        projection,
        now_ms: now_ms().max(current.updated_at),
    };
    // The write only lands if nobody wrote in between (same version): no lost updates.
    store::update(&state.db, new, &current)
        .await?
        .ok_or_else(precondition_failed)
}

pub async fn delete(state: &AppState, auth: &Auth, kind: Kind, id: &str) -> ApiResult<()> {
    if store::delete(&state.db, &auth.tenant_id, kind, id).await? {
        Ok(())
    } else {
        Err(ApiError::not_found(kind.label()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_replaces_sets_nested_paths_and_deletes() {
        let current = json!({"a": 1, "character": {"level": 10, "name": "x"}, "gone": true})
            .as_object()
            .unwrap()
            .clone();
        let patch = json!({"a": 2, "character/level": 60, "new/deep/key": "v", "gone": null, "id": "ignored"}).as_object().unwrap().clone();
        let merged = merge(&current, &patch);
        assert_eq!(
            Value::Object(merged),
            json!({"a": 2, "character": {"level": 60, "name": "x"}, "new": {"deep": {"key": "v"}}})
        );
    }

    #[test]
    fn if_match_accepts_weak_and_strong_etags() {
        assert_eq!(expected_version(Some("W/\"3\"")).unwrap(), Some(3));
        assert_eq!(expected_version(Some("\"4\"")).unwrap(), Some(4));
        assert_eq!(expected_version(Some("*")).unwrap(), None);
        assert!(expected_version(Some("nonsense")).is_err());
    }
}
