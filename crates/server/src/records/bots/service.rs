//! A bot's lifecycle (spec api.md §7): stage transitions, ban and unban, each written with
//! its log entry (and, for a ban, an archive snapshot) in one transaction, plus the read
//! endpoints for the log and archive the reference never had. Unlike the reference, a
//! banned bot leaves `banned` only through unban, and banning a banned bot is refused.

use botmox_proto::ErrorCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::store::{self, NewEvent};
use crate::db::entity::record;
use crate::db::{WRITE_ATTEMPTS, backoff};
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::documents::{service, store as documents};
use crate::records::kinds::Kind;
use crate::schema::{Field, Rule, req, validate};
use crate::state::AppState;

const STAGES: [&str; 4] = ["prepare", "leveling", "profession", "farming"];
/// How a ban came about.
pub const BAN_MECHANISMS: [&str; 6] = [
    "battlenet_account_closure",
    "battlenet_account_suspension",
    "game_suspension",
    "hardware_ban",
    "ip_ban",
    "other",
];
const BAN_BODY: &[Field] = &[
    req("ban_date", Rule::NonEmpty),
    req("ban_reason", Rule::Str(Some(1000))),
    req("ban_mechanism", Rule::OneOf(&BAN_MECHANISMS)),
];

/// The stage a status belongs to (`offline` and `banned` have none).
fn stage(status: &str) -> Option<&'static str> {
    STAGES.iter().find(|s| **s == status).copied()
}

fn status_of(doc: &Map<String, Value>) -> String {
    doc.get("status")
        .and_then(Value::as_str)
        .unwrap_or("offline")
        .to_owned()
}

fn lifecycle_of(doc: &Map<String, Value>) -> Map<String, Value> {
    match doc.get("lifecycle") {
        Some(Value::Object(l)) => l.clone(),
        _ => json!({"current_stage": "prepare", "stage_transitions": []})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

fn transitions_of(lifecycle: &Map<String, Value>) -> Vec<Value> {
    lifecycle
        .get("stage_transitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// One lifecycle change: the new document, its log entry and, for a ban, the archive row.
#[derive(Debug)]
pub struct Change {
    doc: Map<String, Value>,
    event: (&'static str, String, Value),
    archive: Option<(Value, Value)>,
}

/// Move a bot to `target` (any status but `banned`). `None` when it is already there.
pub fn plan_transition(
    doc: &Map<String, Value>,
    target: &str,
    now: i64,
) -> ApiResult<Option<Change>> {
    const ALLOWED: [&str; 5] = ["offline", "prepare", "leveling", "profession", "farming"];
    if target == "banned" {
        return Err(ApiError::field(
            "status",
            "a bot is banned through POST /bots/{id}/lifecycle/ban",
        ));
    }
    if !ALLOWED.contains(&target) {
        return Err(ApiError::field(
            "status",
            format!("must be one of: {}", ALLOWED.join(", ")),
        ));
    }
    let current = status_of(doc);
    if current == "banned" {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "A banned bot leaves 'banned' only through POST /bots/{id}/lifecycle/unban",
        ));
    }
    if current == target {
        return Ok(None);
    }
    let next = stage(target).unwrap_or("prepare");
    let mut lifecycle = lifecycle_of(doc);
    let mut transitions = transitions_of(&lifecycle);
    transitions
        .push(json!({"from": stage(&current).unwrap_or("create"), "to": next, "timestamp": now}));
    lifecycle.insert("current_stage".into(), next.into());
    lifecycle.insert("previous_status".into(), current.clone().into());
    lifecycle.insert("stage_transitions".into(), transitions.into());
    let mut out = doc.clone();
    out.insert("status".into(), target.into());
    out.insert("lifecycle".into(), Value::Object(lifecycle));
    Ok(Some(Change {
        doc: out,
        event: (
            "status_change",
            format!("Status changed from {current} to {target}"),
            json!({"from": current, "to": target}),
        ),
        archive: None,
    }))
}

/// Midnight UTC of a `DD.MM.YYYY` date in epoch ms.
fn ban_timestamp(date: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(date.trim(), "%d.%m.%Y").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// What the archive keeps of a bot when it is banned (data-model.md §3.2).
fn snapshot(doc: &Map<String, Value>) -> Value {
    let num = |object: &str, key: &str| {
        doc.get(object)
            .and_then(|o| o.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    json!({
        "name": doc.get("name").cloned().unwrap_or(Value::Null),
        "project_id": doc.get("project_id").and_then(Value::as_str).unwrap_or(""),
        "character": doc.get("character").cloned().unwrap_or(Value::Null),
        "final_level": doc.get("character").and_then(|c| c.get("level")).and_then(Value::as_i64).unwrap_or(0),
        "total_farmed": num("farm", "all_farmed_gold"),
        "total_earned_gold": num("farm", "all_earned_gold"),
        "total_runtime_hours": num("monitor", "total_runtime_hours"),
    })
}

pub fn plan_ban(doc: &Map<String, Value>, body: Value, now: i64) -> ApiResult<Change> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request("Request body must be a JSON object"));
    };
    let mut details = validate(BAN_BODY, &body, false)?;
    let date = details["ban_date"].as_str().unwrap_or_default().to_owned();
    let Some(ts) = ban_timestamp(&date) else {
        return Err(ApiError::field("ban_date", "must be a date as DD.MM.YYYY"));
    };
    if details["ban_reason"]
        .as_str()
        .is_none_or(|r| r.trim().is_empty())
    {
        return Err(ApiError::field("ban_reason", "must not be empty"));
    }
    let current = status_of(doc);
    if current == "banned" {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "The bot is already banned",
        ));
    }
    details.insert("ban_timestamp".into(), ts.into());
    let mut lifecycle = lifecycle_of(doc);
    let mut transitions = transitions_of(&lifecycle);
    if let Some(s) = stage(&current) {
        transitions.push(json!({"from": s, "to": s, "timestamp": now}));
    }
    lifecycle.insert("current_stage".into(), "banned".into());
    lifecycle.insert("previous_status".into(), current.clone().into());
    lifecycle.insert("stage_transitions".into(), transitions.into());
    lifecycle.insert("ban_details".into(), Value::Object(details.clone()));
    let mut out = doc.clone();
    out.insert("status".into(), "banned".into());
    out.insert("lifecycle".into(), Value::Object(lifecycle));
    let mechanism = details["ban_mechanism"].clone();
    Ok(Change {
        doc: out,
        event: (
            "ban",
            format!("Banned ({})", mechanism.as_str().unwrap_or("other")),
            json!({"from": current, "mechanism": mechanism, "ban_date": date}),
        ),
        archive: Some((Value::Object(details), snapshot(doc))),
    })
}

pub fn plan_unban(doc: &Map<String, Value>, now: i64) -> ApiResult<Change> {
    let mut lifecycle = lifecycle_of(doc);
    let banned = status_of(doc) == "banned";
    let Some(Value::Object(mut details)) = lifecycle.get("ban_details").cloned().filter(|_| banned)
    else {
        return Err(ApiError::bad_request("Bot is not banned"));
    };
    let previous = lifecycle
        .get("previous_status")
        .and_then(Value::as_str)
        .filter(|s| *s == "offline" || stage(s).is_some())
        .unwrap_or("offline")
        .to_owned();
    details.insert("unbanned_at".into(), now.into());
    lifecycle.insert(
        "current_stage".into(),
        stage(&previous).unwrap_or("prepare").into(),
    );
    lifecycle.insert("ban_details".into(), Value::Object(details));
    let mut out = doc.clone();
    out.insert("status".into(), previous.clone().into());
    out.insert("lifecycle".into(), Value::Object(lifecycle));
    Ok(Change {
        doc: out,
        event: (
            "unban",
            format!("Unbanned, back to {previous}"),
            json!({"restored_status": previous}),
        ),
        archive: None,
    })
}

/// Apply a planned change to bot `id` with its log and archive rows in one transaction;
/// retried from a fresh read when another writer changed the bot in between.
async fn apply(
    state: &AppState,
    auth: &Auth,
    id: &str,
    plan: impl Fn(&Map<String, Value>, i64) -> ApiResult<Option<Change>>,
) -> ApiResult<record::Model> {
    for attempt in 0..WRITE_ATTEMPTS {
        backoff(attempt).await;
        let current = service::get(state, auth, Kind::Bot, id).await?;
        let now = service::now_ms();
        let Some(change) = plan(&service::document(&current), now)? else {
            return Ok(current);
        };
        let Change {
            doc,
            event: (kind, message, details),
            archive,
        } = change;
        let event = NewEvent {
            tenant: auth.tenant(),
            bot: id,
            kind,
            message,
            details,
            at: now,
        };
        let written = state
            .db
            .write(async |txn| {
                let Some(written) = service::rewrite(txn, state, auth, &current, doc).await? else {
                    return Ok(None);
                };
                store::insert_event(txn, &event).await?;
                if let Some((ban_details, snapshot)) = &archive {
                    store::insert_archive(txn, &event, ban_details, snapshot).await?;
                }
                Ok::<_, ApiError>(Some(written))
            })
            .await?;
        if let Some(written) = written {
            return Ok(written);
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        "The bot is being changed by others right now; try again",
    ))
}

/// `POST /bots/{id}/lifecycle/ban`: checked by the rules of `BAN_BODY` (the reference's
/// messages), described here for the OpenAPI document.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BanRequest {
    /// `DD.MM.YYYY`.
    #[schema(example = "01.12.2026")]
    pub ban_date: String,
    #[schema(max_length = 1000)]
    pub ban_reason: String,
    /// How the ban came about.
    #[schema(example = "game_suspension")]
    pub ban_mechanism: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TransitionRequest {
    pub status: String,
}

pub async fn transition(
    state: &AppState,
    auth: &Auth,
    id: &str,
    target: &str,
) -> ApiResult<record::Model> {
    apply(state, auth, id, |doc, now| {
        plan_transition(doc, target, now)
    })
    .await
}

pub async fn ban(state: &AppState, auth: &Auth, id: &str, body: Value) -> ApiResult<record::Model> {
    apply(state, auth, id, |doc, now| {
        plan_ban(doc, body.clone(), now).map(Some)
    })
    .await
}

pub async fn unban(state: &AppState, auth: &Auth, id: &str) -> ApiResult<record::Model> {
    apply(state, auth, id, |doc, now| plan_unban(doc, now).map(Some)).await
}

/// The bot's `lifecycle` object (`null` when it never had one).
pub fn lifecycle(m: &record::Model) -> Value {
    service::document(m)
        .get("lifecycle")
        .cloned()
        .unwrap_or(Value::Null)
}

pub fn is_banned(m: &record::Model) -> bool {
    let doc = service::document(m);
    status_of(&doc) == "banned"
        || doc
            .get("lifecycle")
            .and_then(|l| l.get("current_stage"))
            .and_then(Value::as_str)
            == Some("banned")
}

/// Bot `id` exists in the tenant, or has history there (log and archive outlive the bot).
async fn known_bot(state: &AppState, auth: &Auth, id: &str) -> ApiResult<()> {
    if documents::get(state.db.read(), auth.tenant(), Kind::Bot, id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    if store::has_history(&state.db, auth.tenant(), id).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("Bot"))
    }
}

fn json_text(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

/// A page of the bot's lifecycle log, newest first.
pub async fn log(
    state: &AppState,
    auth: &Auth,
    id: &str,
    page: u64,
    limit: u64,
) -> ApiResult<(Vec<Value>, u64)> {
    known_bot(state, auth, id).await?;
    let (rows, total) = store::log(&state.db, auth.tenant(), id, page, limit).await?;
    let entries = rows
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id, "bot_id": e.bot_id, "type": e.r#type, "message": e.message,
                "details": json_text(e.details.as_deref()), "timestamp": e.timestamp_ms,
            })
        })
        .collect();
    Ok((entries, total))
}

/// The bot's archive entries (one per ban), newest first.
pub async fn archive(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Vec<Value>> {
    known_bot(state, auth, id).await?;
    let rows = store::archive(&state.db, auth.tenant(), id).await?;
    Ok(rows
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id, "bot_id": a.bot_id, "reason": a.reason, "archived_at": a.archived_at_ms,
                "ban_details": json_text(a.ban_details.as_deref()),
                "snapshot": json_text(a.snapshot.as_deref()),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn ban_body() -> Value {
        json!({"ban_date": "05.03.2026", "ban_reason": "detected", "ban_mechanism": "game_suspension"})
    }

    #[test]
    fn transitions_append_to_the_log_of_stages() {
        let bot = doc(json!({"name": "a", "status": "prepare"}));
        let c = plan_transition(&bot, "leveling", 7).unwrap().unwrap();
        assert_eq!(c.doc["status"], "leveling");
        assert_eq!(c.doc["lifecycle"]["current_stage"], "leveling");
        assert_eq!(c.doc["lifecycle"]["previous_status"], "prepare");
        assert_eq!(
            c.doc["lifecycle"]["stage_transitions"],
            json!([{"from": "prepare", "to": "leveling", "timestamp": 7}])
        );
        assert_eq!(c.event.2, json!({"from": "prepare", "to": "leveling"}));
        let offline = plan_transition(&c.doc, "offline", 8).unwrap().unwrap();
        assert_eq!(offline.doc["lifecycle"]["current_stage"], "prepare");
        assert!(
            plan_transition(&offline.doc, "offline", 9)
                .unwrap()
                .is_none()
        );
        assert!(plan_transition(&bot, "banned", 1).is_err());
        assert!(plan_transition(&bot, "flying", 1).is_err());
    }

    #[test]
    fn ban_archives_and_unban_restores_the_previous_status() {
        let bot = doc(
            json!({"name": "a", "status": "farming", "character": {"level": 70}, "farm": {"all_farmed_gold": 1200}}),
        );
        let banned = plan_ban(&bot, ban_body(), 10).unwrap();
        assert_eq!(banned.doc["status"], "banned");
        let details = &banned.doc["lifecycle"]["ban_details"];
        assert_eq!(details["ban_timestamp"], 1_772_668_800_000i64);
        let (_, snap) = banned.archive.as_ref().unwrap();
        assert_eq!(snap["final_level"], 70);
        assert_eq!(snap["total_farmed"], 1200.0);

        let err = plan_transition(&banned.doc, "farming", 11).unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict);
        assert_eq!(
            plan_ban(&banned.doc, ban_body(), 11).unwrap_err().code,
            ErrorCode::Conflict
        );

        let back = plan_unban(&banned.doc, 12).unwrap();
        assert_eq!(back.doc["status"], "farming");
        assert_eq!(back.doc["lifecycle"]["current_stage"], "farming");
        assert_eq!(back.doc["lifecycle"]["ban_details"]["unbanned_at"], 12);
        assert!(plan_unban(&back.doc, 13).is_err(), "not banned any more");
    }

    #[test]
    fn ban_bodies_are_checked() {
        let bot = doc(json!({"name": "a"}));
        for bad in [
            json!({"ban_date": "2026-03-05", "ban_reason": "x", "ban_mechanism": "other"}),
            json!({"ban_date": "05.03.2026", "ban_reason": " ", "ban_mechanism": "other"}),
            json!({"ban_date": "05.03.2026", "ban_reason": "x", "ban_mechanism": "meteor"}),
            json!({"ban_date": "05.03.2026"}),
        ] {
            assert_eq!(
                plan_ban(&bot, bad.clone(), 1).unwrap_err().code,
                ErrorCode::BadRequest,
                "{bad}"
            );
        }
    }
}
