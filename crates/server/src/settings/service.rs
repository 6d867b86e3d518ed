//! Reading and writing the settings tree: path rules, body rules, merge, sealing, and the
//! project references that must not dangle.

use botmox_proto::ErrorCode;
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};

use super::schema::rule_at;
use super::store;
use crate::db::{Db, StoreResult, TenantId, WRITE_ATTEMPTS, backoff, refs};
use crate::http::{ApiError, ApiResult};
use crate::principal::{Admin, Auth};
use crate::schema::{self, Rule, check};
use crate::sealed::{Sealer, at_path, mask_tree};
use crate::state::AppState;

const MAX_PATH: usize = 512;
/// Days before expiry that licences and subscriptions are flagged, when `alerts.warning_days`
/// is not set.
pub const DEFAULT_WARNING_DAYS: i64 = 7;
/// The fraud score above which a proxy is flagged, when `proxy.fraud_score_threshold` is
/// not set (the reference's default).
pub const DEFAULT_FRAUD_SCORE_THRESHOLD: i64 = 75;

/// The segments of a settings path; a leading `settings/` is ignored, empty is the root.
pub fn parse_path(raw: &str) -> ApiResult<Vec<String>> {
    let invalid = || ApiError::bad_request("Invalid settings path");
    if raw.len() > MAX_PATH {
        return Err(invalid());
    }
    let mut segments: Vec<String> = raw
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if segments.first().map(String::as_str) == Some("settings") {
        segments.remove(0);
    }
    let bad = |s: &String| s.contains(['.', '#', '$', '[', ']']);
    if segments.iter().any(bad) {
        return Err(invalid());
    }
    Ok(segments)
}

/// Where sealed values of a tenant's settings are bound.
fn place(tenant: &TenantId) -> String {
    format!("{tenant}/settings")
}

/// The stored tree (credentials sealed) and its version.
async fn load(db: &Db, tenant: &TenantId) -> ApiResult<(Value, i64)> {
    Ok(match store::load(db.read(), tenant).await? {
        Some(row) => (tree_of(&row), row.version),
        None => (json!({}), 0),
    })
}

/// A row's tree (an unreadable one reads as empty).
fn tree_of(row: &crate::db::entity::settings::Model) -> Value {
    serde_json::from_str(&row.data).unwrap_or_else(|_| json!({}))
}

/// The value at `path` for reads: credentials masked, `null` when missing.
pub async fn read(state: &AppState, auth: &Auth, path: &[String]) -> ApiResult<Value> {
    let (tree, _) = load(&state.db, auth.tenant()).await?;
    let mut value = at_path(&tree, &path.join("/"))
        .cloned()
        .unwrap_or(Value::Null);
    mask_tree(&mut value);
    Ok(value)
}

/// The whole tree for in-process readers (pages, checks), credentials masked.
pub async fn tree(db: &Db, tenant: &TenantId) -> ApiResult<Value> {
    let (mut tree, _) = load(db, tenant).await?;
    mask_tree(&mut tree);
    Ok(tree)
}

/// A write needs a non-empty object where the rules expect one; `null` (removal) is fine
/// anywhere below the root.
fn body_allowed(rule: Rule, body: &Value) -> ApiResult<()> {
    let empty_object = body.as_object().is_some_and(Map::is_empty);
    let ok = match rule {
        _ if body.is_null() => true,
        Rule::Shape(_) | Rule::MapOf(_) | Rule::IdMapOf(_) => body.is_object() && !empty_object,
        _ => !empty_object,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "Request body must be a non-empty object for this settings path",
        ))
    }
}

/// The new value at a path: objects merge shallowly into objects, anything else replaces.
fn merged(current: Option<&Value>, body: Value) -> Value {
    match (current, body) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            let mut out = old.clone();
            out.extend(new);
            Value::Object(out)
        }
        (_, body) => body,
    }
}

/// Put `value` at `path` of `tree`, creating objects on the way; `null` removes the key.
fn put(tree: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *tree = value;
        return;
    };
    let mut node = tree;
    for part in parents {
        if !node.is_object() {
            *node = json!({});
        }
        node = node
            .as_object_mut()
            .expect("just made an object")
            .entry(part.clone())
            .or_insert_with(|| json!({}));
    }
    if !node.is_object() {
        *node = json!({});
    }
    let map = node.as_object_mut().expect("just made an object");
    if value.is_null() {
        map.remove(last);
    } else {
        map.insert(last.clone(), value);
    }
}

fn project_ids(tree: &Value) -> Vec<String> {
    tree.get("projects")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.is_object())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Write `body` at `path` (PUT and PATCH alike) and return the whole tree, masked. A
/// project added by it must have an id by [`schema::is_id`] (ids stored before that rule
/// keep working).
pub async fn write(
    state: &AppState,
    auth: &Auth,
    path: &[String],
    body: Value,
) -> ApiResult<Value> {
    let rule = rule_at(&path.iter().map(String::as_str).collect::<Vec<_>>());
    body_allowed(rule, &body)?;
    if path.is_empty() && !body.is_object() {
        return Err(ApiError::bad_request("The settings root must be an object"));
    }
    let label = if path.is_empty() {
        "settings".to_owned()
    } else {
        path.join("/")
    };
    for attempt in 0..WRITE_ATTEMPTS {
        backoff(attempt).await;
        let (mut tree, version) = load(&state.db, auth.tenant()).await?;
        let previous = tree.clone();
        let value = merged(at_path(&tree, &path.join("/")), body.clone());
        let value = if value.is_null() {
            value
        } else {
            check(rule, &value).map_err(|problem| ApiError::field(&label, problem))?
        };
        put(&mut tree, path, value);
        state
            .sealer
            .seal_tree(&place(auth.tenant()), &mut tree, Some(&previous));
        let kept = project_ids(&tree);
        let before = project_ids(&previous);
        if let Some(bad) = kept
            .iter()
            .find(|p| !before.contains(p) && !schema::is_id(p))
        {
            return Err(ApiError::field(&format!("projects/{bad}"), schema::ID_RULE));
        }
        let gone: Vec<String> = before.into_iter().filter(|p| !kept.contains(p)).collect();
        let now = chrono::Utc::now().timestamp_millis();
        let data = tree.to_string();
        // A removed project is checked after the write, in its transaction: the write
        // waits for a record being created against the project (which share-locks the row,
        // see `project_exists`), and the check then counts that record.
        let saved = state
            .db
            .write(async |txn| {
                let saved = store::save(txn, auth.tenant(), data, version, now).await?;
                if saved {
                    for project in &gone {
                        refuse_if_used(txn, auth.tenant(), project).await?;
                    }
                }
                ApiResult::Ok(saved)
            })
            .await?;
        if saved {
            mask_tree(&mut tree);
            return Ok(tree);
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        "Settings are being changed by others right now; try again",
    ))
}

async fn refuse_if_used(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    project: &str,
) -> ApiResult<()> {
    let used = refs::records_by_project(db, tenant, project).await?;
    if used.is_empty() {
        return Ok(());
    }
    let summary = used
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ApiError::new(
        ErrorCode::InUse,
        format!("Project '{project}' is used by {summary}; move or delete them first"),
    )
    .with_details(json!({
        "project_id": project,
        "references": used.into_iter().map(|(k, n)| (k, Value::from(n))).collect::<Map<String, Value>>(),
    })))
}

/// Whether the tenant defines project `id`, read in the caller's write transaction with
/// the settings row share-locked: the project cannot be removed before that transaction
/// ends, so a record written in it never names a project that is gone.
pub async fn project_exists(
    txn: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<bool> {
    let Some(row) = store::load_locked(txn, tenant).await? else {
        return Ok(false);
    };
    Ok(tree_of(&row)
        .get("projects")
        .and_then(|p| p.get(id))
        .is_some_and(Value::is_object))
}

/// `alerts.warning_days` of the tenant, or the default.
pub fn warning_days(tree: &Value) -> i64 {
    tree.pointer("/alerts/warning_days")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_WARNING_DAYS)
}

/// The tenant's projects as (id, name), sorted by name.
pub fn projects(tree: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = tree
        .get("projects")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(id, p)| {
                    let name = p.get("name")?.as_str()?.to_owned();
                    Some((id.clone(), name))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|p| p.1.to_lowercase());
    out
}

/// The plaintext of the credential at `path` (list items by position, e.g.
/// `hosts/0/password`), as the JSON value it was given as: admins only (settings belong to
/// the tenant).
pub async fn reveal(state: &AppState, admin: &Admin, path: &[String]) -> ApiResult<Value> {
    let (tree, _) = load(&state.db, admin.tenant()).await?;
    let joined = path.join("/");
    let sealed = at_path(&tree, &joined)
        .and_then(Value::as_str)
        .filter(|s| Sealer::is_sealed(s))
        .ok_or_else(|| ApiError::not_found("Credential"))?;
    state
        .sealer
        .open(&format!("{}/{joined}", place(admin.tenant())), sealed)
        .ok_or_else(|| ApiError::internal("a sealed setting does not open with this server key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_reference_rules() {
        assert_eq!(parse_path("settings/alerts").unwrap(), ["alerts"]);
        assert_eq!(parse_path("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_path("a//b/").unwrap(), ["a", "b"]);
        for bad in ["a/../b", "a.b", "x#", "$y", "a[0]"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        assert!(parse_path(&"a/".repeat(300)).is_err());
    }

    #[test]
    fn objects_merge_shallowly_and_null_removes() {
        let mut tree = json!({"a": {"x": 1, "y": {"z": 1}}});
        let at = |t: &Value| t.get("a").cloned();
        let m = merged(at(&tree).as_ref(), json!({"y": {"w": 2}}));
        put(&mut tree, &["a".into()], m);
        assert_eq!(tree, json!({"a": {"x": 1, "y": {"w": 2}}}));
        put(&mut tree, &["a".into(), "x".into()], Value::Null);
        assert_eq!(tree, json!({"a": {"y": {"w": 2}}}));
        put(&mut tree, &["n".into(), "m".into()], json!([1]));
        assert_eq!(tree["n"], json!({"m": [1]}));
    }
}
