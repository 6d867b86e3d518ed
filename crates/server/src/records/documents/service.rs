//! Rules for records: validation, server-set id and timestamps, merge semantics of PATCH,
//! optimistic concurrency (versions as ETags), sealed credentials and their audited reveal,
//! projects checked against settings, the bot-status guard, and references on delete.

use std::collections::BTreeMap;

use botmox_proto::ErrorCode;
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};

use super::store::{self, ListQuery, NewRecord};
use super::{counts, totals};
pub use crate::clock::now_ms;
use crate::db::entity::record;
use crate::db::{StoreResult, WRITE_ATTEMPTS, backoff};
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::expiry::{self, Window};
use crate::records::kinds::{CHARACTER, Kind, finance_category_problem};
use crate::schema::validate;
use crate::sealed::{Sealer, at_path, mask_tree};
use crate::settings;
use crate::state::AppState;

/// Keys the server owns: ignored in input, set in output (the last two on kinds that
/// expire, see [`view_at`]).
const SERVER_KEYS: [&str; 5] = [
    "id",
    "created_at",
    "updated_at",
    "effective_status",
    "days_left",
];
const MAX_ID_LEN: usize = 200;
/// How many referring ids a 409 `IN_USE` lists per kind.
const REFERENCES_SHOWN: usize = 20;

pub fn etag(m: &record::Model) -> String {
    format!("W/\"{}\"", m.version)
}

/// The stored document of a record.
pub fn document(m: &record::Model) -> Map<String, Value> {
    serde_json::from_str(&m.data).unwrap_or_default()
}

/// The API view: the document with `id`, `created_at` and `updated_at` (ms), credentials masked.
pub fn view(m: &record::Model) -> Value {
    let mut doc = Value::Object(document(m));
    mask_tree(&mut doc);
    let map = doc.as_object_mut().expect("documents are objects");
    map.insert("id".into(), Value::String(m.id.clone()));
    map.insert("created_at".into(), Value::from(m.created_at));
    map.insert("updated_at".into(), Value::from(m.updated_at));
    doc
}

/// [`view`] with, on a kind that expires, its `effective_status` and `days_left` at
/// `window` (see [`crate::records::expiry`]).
pub fn view_at(m: &record::Model, window: Option<&Window>) -> Value {
    let mut doc = view(m);
    if let (Some(w), Value::Object(map)) = (window, &mut doc) {
        let status = w.status(m.status.as_deref(), m.expires_at_ms);
        map.insert("effective_status".into(), Value::from(status));
        let left = m.expires_at_ms.map(|e| expiry::days_left(e, w.now));
        map.insert("days_left".into(), Value::from(left));
    }
    doc
}

/// The tenant's expiry window now: settings `alerts.warning_days`.
pub async fn window(state: &AppState, auth: &Auth) -> ApiResult<Window> {
    let tree = settings::service::tree(&state.db, auth.tenant()).await?;
    Ok(Window {
        now: now_ms(),
        warning_days: settings::service::warning_days(&tree),
    })
}

/// [`window`], for a kind that expires.
pub async fn expiry_window(state: &AppState, auth: &Auth, kind: Kind) -> ApiResult<Option<Window>> {
    if !expiry::applies(kind) {
        return Ok(None);
    }
    Ok(Some(window(state, auth).await?))
}

fn body_object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(map) if !map.is_empty() => Ok(map),
        Value::Object(_) => Err(ApiError::bad_request("Request body must not be empty")),
        _ => Err(ApiError::bad_request("Request body must be a JSON object")),
    }
}

/// An id must stay one path segment wherever it goes (API paths, UI links): `.` and `..`
/// would be folded away by clients and proxies, a slash or backslash splits it, and control
/// characters do not survive a URL.
fn check_id(id: &str) -> ApiResult<()> {
    let hostile =
        matches!(id, "." | "..") || id.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if id.is_empty() || id.chars().count() > MAX_ID_LEN || hostile {
        return Err(ApiError::field(
            "id",
            format!(
                "must be 1 to {MAX_ID_LEN} characters, not '.' or '..', without '/', '\\' or control characters"
            ),
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
    if kind == Kind::FinanceOperation
        && let Some(problem) = finance_category_problem(&out)
    {
        return Err(ApiError::field("category", problem));
    }
    Ok(out)
}

/// A `project_id` must name one of the tenant's projects (settings `projects`); checked
/// when it is set or changed, in the write's transaction (see
/// [`settings::service::project_exists`]).
async fn check_project(
    txn: &impl ConnectionTrait,
    auth: &Auth,
    doc: &Map<String, Value>,
    before: Option<&Map<String, Value>>,
) -> ApiResult<()> {
    let Some(project) = doc.get("project_id").and_then(Value::as_str) else {
        return Ok(());
    };
    let unchanged = before
        .and_then(|b| b.get("project_id"))
        .and_then(Value::as_str)
        == Some(project);
    if project.is_empty()
        || unchanged
        || settings::service::project_exists(txn, auth.tenant(), project).await?
    {
        return Ok(());
    }
    Err(ApiError::field(
        "project_id",
        format!("'{project}' is not a project of this tenant (define it in settings 'projects')"),
    ))
}

/// Bot ids a document points at (`bot_id`, or a licence's `bot_ids`).
fn bot_refs(doc: &Map<String, Value>) -> Vec<&str> {
    let mut ids: Vec<&str> = doc
        .get("bot_id")
        .and_then(Value::as_str)
        .into_iter()
        .collect();
    if let Some(list) = doc.get("bot_ids").and_then(Value::as_array) {
        ids.extend(list.iter().filter_map(Value::as_str));
    }
    ids.retain(|id| !id.is_empty());
    ids
}

/// Bots a record points at must exist in the tenant (checked for newly added ids), so no
/// reference dangles from the start. Checked in the write's transaction with the bots'
/// rows share-locked, so none of them is deleted before the record lands (a delete locks
/// the row first and then sees the record).
async fn check_bots(
    txn: &impl ConnectionTrait,
    auth: &Auth,
    kind: Kind,
    doc: &Map<String, Value>,
    before: Option<&Map<String, Value>>,
) -> ApiResult<()> {
    if kind == Kind::Bot {
        return Ok(());
    }
    let old = before.map(bot_refs).unwrap_or_default();
    let mut added: Vec<&str> = bot_refs(doc)
        .into_iter()
        .filter(|id| !old.contains(id))
        .collect();
    added.sort_unstable();
    added.dedup();
    if added.is_empty() {
        return Ok(());
    }
    let found = store::existing_ids_locked(txn, auth.tenant(), Kind::Bot, &added).await?;
    let missing: Vec<&str> = added
        .into_iter()
        .filter(|id| !found.iter().any(|f| f == id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let field = if doc.contains_key("bot_ids") && kind == Kind::License {
        "bot_ids"
    } else {
        "bot_id"
    };
    Err(ApiError::field(
        field,
        format!("no bot with id {}", missing.join(", ")),
    ))
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

/// The row to write for `doc`: credentials sealed (a masked value keeps the one in
/// `previous`), columns projected.
pub fn prepare<'a>(
    state: &AppState,
    auth: &'a Auth,
    kind: Kind,
    id: &'a str,
    doc: Map<String, Value>,
    previous: Option<&Map<String, Value>>,
    now_ms: i64,
) -> NewRecord<'a> {
    let mut doc = Value::Object(doc);
    let previous = previous.map(|p| Value::Object(p.clone()));
    let place = format!("{}/{}/{id}", auth.tenant(), kind.as_str());
    state.sealer.seal_tree(&place, &mut doc, previous.as_ref());
    let projection = match &doc {
        Value::Object(map) => kind.project(map),
        _ => unreachable!("documents are objects"),
    };
    NewRecord {
        tenant_id: auth.tenant(),
        kind,
        id,
        data: doc.to_string(),
        projection,
        now_ms,
        owner_id: Some(auth.caller().to_owned()),
    }
}

/// Replace `current` with `doc` if nobody wrote in between; `None` when someone did.
pub async fn rewrite(
    db: &impl ConnectionTrait,
    state: &AppState,
    auth: &Auth,
    current: &record::Model,
    doc: Map<String, Value>,
) -> ApiResult<Option<record::Model>> {
    let kind =
        Kind::parse(&current.kind).ok_or_else(|| ApiError::internal("unknown record kind"))?;
    let before = document(current);
    let new = prepare(
        state,
        auth,
        kind,
        &current.id,
        doc,
        Some(&before),
        now_ms().max(current.updated_at),
    );
    Ok(update(db, new, current).await?)
}

/// Write `new` over `current` if it is still at its version, the totals and counts with it;
/// `None` when another writer got there first.
async fn update(
    db: &impl ConnectionTrait,
    new: NewRecord<'_>,
    current: &record::Model,
) -> StoreResult<Option<record::Model>> {
    let written = store::update(db, new, current).await?;
    if let Some(w) = &written {
        keep_aggregates(db, Some(current), Some(w)).await?;
    }
    Ok(written)
}

/// Keep the finance daily totals and the bot counts in step with a record's write (same
/// transaction). A finance operation's days (was and is) are recomputed, unless the write
/// left its day and amount as they were (a description edited, a bot detached), which
/// changes no sum.
async fn keep_aggregates(
    db: &impl ConnectionTrait,
    before: Option<&record::Model>,
    after: Option<&record::Model>,
) -> StoreResult<()> {
    counts::track(db, before, after).await?;
    let counted = |m: Option<&record::Model>| {
        m.and_then(|m| Some((totals::DayKey::of(m)?, m.amount, m.gold_amount)))
    };
    if counted(before) == counted(after) {
        return Ok(());
    }
    let keys = [before, after]
        .into_iter()
        .flatten()
        .filter_map(totals::DayKey::of)
        .collect();
    totals::refresh(db, keys).await
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
    let doc = validate_document(kind, &doc)?;
    state
        .db
        .write(async |txn| {
            check_project(txn, auth, &doc, None).await?;
            check_bots(txn, auth, kind, &doc, None).await?;
            let new = prepare(state, auth, kind, &id, doc, None, now_ms());
            let m = match store::insert(txn, new).await {
                Err(e) if e.is_unique_violation() => {
                    return Err(ApiError::new(
                        ErrorCode::AlreadyExists,
                        format!("{} {id} already exists", kind.label()),
                    ));
                }
                inserted => inserted?,
            };
            keep_aggregates(txn, None, Some(&m)).await?;
            Ok(m)
        })
        .await
}

/// The caller's records of `kind` attached to any of `bots` (the rows of a bots table page).
pub async fn attached_to_any(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    bots: &[String],
) -> ApiResult<Vec<record::Model>> {
    // A page shows at most 100 bots; a few records each is plenty.
    const READ: u64 = 2_000;
    Ok(store::attached_to_any(state.db.read(), auth.tenant(), kind, bots, READ).await?)
}

pub async fn get(state: &AppState, auth: &Auth, kind: Kind, id: &str) -> ApiResult<record::Model> {
    store::get(state.db.read(), auth.tenant(), kind, id)
        .await?
        .ok_or_else(|| ApiError::not_found(kind.label()))
}

pub async fn list(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    query: &ListQuery,
) -> ApiResult<(Vec<record::Model>, u64)> {
    if query.status.is_some() && query.expiry.is_none() && expiry::applies(kind) {
        let query = ListQuery {
            expiry: expiry_window(state, auth, kind).await?,
            ..query.clone()
        };
        return Ok(store::list(state.db.read(), auth.tenant(), kind, &query).await?);
    }
    Ok(store::list(state.db.read(), auth.tenant(), kind, query).await?)
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

/// The versions an `If-Match` accepts (`None`: any). It is a list of entity tags; a tag
/// this server never issued matches no version of the record, so when no tag is ours the
/// condition fails: 412, as HTTP says (RFC 9110 §13.1.1), not 400.
fn expected_versions(if_match: Option<&str>) -> ApiResult<Option<Vec<i64>>> {
    let Some(header) = if_match else {
        return Ok(None);
    };
    let tags: Vec<&str> = header.split(',').map(str::trim).collect();
    if tags.contains(&"*") {
        return Ok(None);
    }
    let versions: Vec<i64> = tags
        .into_iter()
        .filter_map(|tag| {
            let digits = tag.strip_prefix("W/").unwrap_or(tag).strip_prefix('"')?;
            let digits = digits.strip_suffix('"')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<i64>().ok()
        })
        .collect();
    if versions.is_empty() {
        return Err(precondition_failed());
    }
    Ok(Some(versions))
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
    let expected = expected_versions(if_match)?;
    // Without If-Match, a PATCH that lost a race re-reads and re-applies itself: its keys
    // merge onto the newer document, so nothing is lost.
    for attempt in 0..WRITE_ATTEMPTS {
        backoff(attempt).await;
        let current = get(state, auth, kind, id).await?;
        if expected
            .as_ref()
            .is_some_and(|v| !v.contains(&current.version))
        {
            return Err(precondition_failed());
        }
        let before = document(&current);
        if kind == Kind::Bot {
            check_status_change(&before, &patch)?;
        }
        let doc = validate_document(kind, &merge(&before, &patch))?;
        // The write only lands if nobody wrote in between (same version): no lost updates.
        let written = state
            .db
            .write(async |txn| {
                check_project(txn, auth, &doc, Some(&before)).await?;
                check_bots(txn, auth, kind, &doc, Some(&before)).await?;
                let new = prepare(
                    state,
                    auth,
                    kind,
                    id,
                    doc,
                    Some(&before),
                    now_ms().max(current.updated_at),
                );
                ApiResult::Ok(update(txn, new, &current).await?)
            })
            .await?;
        if let Some(written) = written {
            return Ok(written);
        }
        if expected.is_some() {
            return Err(precondition_failed());
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!(
            "{} {id} is being changed by others right now; try again",
            kind.label()
        ),
    ))
}

/// `banned` is entered through the ban endpoint and left through unban, never by PATCH.
fn check_status_change(before: &Map<String, Value>, patch: &Map<String, Value>) -> ApiResult<()> {
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
    Ok(())
}

/// What points at a record: a bot is referred to by proxies, licences, subscriptions, notes
/// and finance operations; a proxy or licence is in use while attached to a bot.
async fn references(
    db: &impl ConnectionTrait,
    auth: &Auth,
    current: &record::Model,
) -> ApiResult<Vec<record::Model>> {
    let kind = Kind::parse(&current.kind);
    Ok(match kind {
        Some(Kind::Bot) => store::referring_to_bot_locked(db, auth.tenant(), &current.id).await?,
        Some(Kind::Proxy | Kind::License) if current.bot_id.is_some() => vec![current.clone()],
        _ => Vec::new(),
    })
}

fn in_use(kind: Kind, id: &str, refs: &[record::Model]) -> ApiError {
    let mut by_kind: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in refs {
        by_kind
            .entry(r.kind.as_str())
            .or_default()
            .push(r.id.as_str());
    }
    let (message, details) = if refs.len() == 1 && refs[0].id == id {
        (
            format!(
                "{} {id} is attached to a bot; detach it first or delete with ?detach=true",
                kind.label()
            ),
            json!({ "attached_to": refs[0].bot_id }),
        )
    } else {
        let summary = by_kind
            .iter()
            .map(|(k, ids)| format!("{} {k}", ids.len()))
            .collect::<Vec<_>>()
            .join(", ");
        let listed: Map<String, Value> = by_kind
            .iter()
            .map(|(k, ids)| {
                let shown: Vec<&str> = ids.iter().take(REFERENCES_SHOWN).copied().collect();
                ((*k).to_owned(), json!({ "count": ids.len(), "ids": shown }))
            })
            .collect();
        (
            format!(
                "{} {id} is referred to by {summary}; detach them first or delete with ?detach=true",
                kind.label()
            ),
            json!({ "references": listed }),
        )
    };
    ApiError::new(ErrorCode::InUse, message).with_details(details)
}

/// Take bot `bot` out of a record that refers to it.
fn detached(r: &record::Model, bot: &str) -> Map<String, Value> {
    let mut doc = document(r);
    if r.kind == Kind::License.as_str() {
        let ids: Vec<Value> = doc
            .get("bot_ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let names = doc.get("bot_names").and_then(Value::as_array).cloned();
        let keep: Vec<bool> = ids.iter().map(|v| v.as_str() != Some(bot)).collect();
        let filter = |list: Vec<Value>| -> Value {
            list.into_iter()
                .enumerate()
                .filter(|(i, _)| keep.get(*i).copied().unwrap_or(true))
                .map(|(_, v)| v)
                .collect()
        };
        if let Some(names) = names.filter(|n| n.len() == ids.len()) {
            doc.insert("bot_names".into(), filter(names));
        }
        doc.insert("bot_ids".into(), filter(ids));
    } else {
        doc.insert("bot_id".into(), Value::Null);
    }
    doc
}

/// Delete a record. When others refer to it: 409 `IN_USE` listing them, or with `detach`
/// their references are cleared in the same transaction.
pub async fn delete(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    id: &str,
    detach: bool,
) -> ApiResult<()> {
    state
        .db
        .write(async |txn| {
            // Locked first, so a record being written against it (which share-locks it)
            // lands before the references are read, and none lands after.
            let current = store::get_locked(txn, auth.tenant(), kind, id)
                .await?
                .ok_or_else(|| ApiError::not_found(kind.label()))?;
            let refs = references(txn, auth, &current).await?;
            if !refs.is_empty() && !detach {
                return Err(in_use(kind, id, &refs));
            }
            if kind == Kind::Bot {
                // The referring records are locked (see `references`): none changes
                // before this rewrite, so each lands.
                for r in &refs {
                    rewrite(txn, state, auth, r, detached(r, id))
                        .await?
                        .ok_or_else(|| ApiError::internal("a locked record changed"))?;
                }
            }
            if !store::delete(txn, auth.tenant(), kind, id).await? {
                return Err(ApiError::not_found(kind.label()));
            }
            keep_aggregates(txn, Some(&current), None).await?;
            Ok(())
        })
        .await
}

/// The plaintext of one credential of a record (`field` is a slash path such as
/// `account/password`, list items by position as in `accounts/0/password`), as the JSON
/// value it was given as, for the record's owner or an admin.
pub async fn reveal(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    id: &str,
    field: &str,
) -> ApiResult<Value> {
    let current = get(state, auth, kind, id).await?;
    if !auth.may_act_on(current.owner_id.as_deref()) {
        return Err(ApiError::forbidden(
            "Only the record's owner or an admin may reveal its credentials",
        ));
    }
    let doc = Value::Object(document(&current));
    // One spelling of the path, as sealing bound it: `a//b/` is `a/b`.
    let field = field
        .split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    let sealed = at_path(&doc, &field)
        .and_then(Value::as_str)
        .filter(|s| Sealer::is_sealed(s))
        .ok_or_else(|| ApiError::not_found("Credential"))?;
    let place = format!("{}/{}/{id}/{field}", auth.tenant(), kind.as_str());
    state
        .sealer
        .open(&place, sealed)
        .ok_or_else(|| ApiError::internal("a sealed field does not open with this server key"))
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
        assert_eq!(expected_versions(Some("W/\"3\"")).unwrap(), Some(vec![3]));
        assert_eq!(expected_versions(Some("\"4\"")).unwrap(), Some(vec![4]));
        assert_eq!(expected_versions(Some("*")).unwrap(), None);
        assert_eq!(
            expected_versions(Some("W/\"1\", \"x\", W/\"2\"")).unwrap(),
            Some(vec![1, 2])
        );
        for foreign in [
            "",
            "nonsense",
            "\"\"",
            "W/\"-1\"",
            "\"1",
            "W/\"99999999999999999999\"",
            "\"a\", W/\"b\"",
        ] {
            let err = expected_versions(Some(foreign)).unwrap_err();
            assert_eq!(err.code, ErrorCode::PreconditionFailed, "{foreign}");
        }
    }

    #[test]
    fn ids_stay_one_path_segment() {
        for ok in ["a", "bot-1", "a.b", "...", "ünï", "a b"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\tb",
            "a\nb",
            "a\u{0}b",
            &"x".repeat(201),
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
