//! The client against a tiny in-test server that speaks the API's envelope.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use botmox_proto::ErrorCode;
use botmox_proto::command::{
    Command, CommandStatus, DispatchRequest, EventsQuery, ListCommandsQuery, NextQuery,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::*;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn failure(status: StatusCode, code: &str, details: Option<Value>) -> Response {
    let mut error = json!({"code": code, "message": format!("{code} happened")});
    if let Some(details) = details {
        error["details"] = details;
    }
    (status, Json(json!({"success": false, "error": error}))).into_response()
}

fn view(command_type: &str, payload: Value, tenant: &str) -> Value {
    json!({
        "id": "c1", "tenant_id": tenant, "agent_id": "a1", "command_type": command_type,
        "payload": payload, "status": "queued", "result": null, "error_message": null,
        "created_by": "u1", "claim_id": null, "attempts": 0,
        "queued_at": "2025-01-02T03:04:05.000Z", "claimed_at": null, "started_at": null,
        "completed_at": null, "expires_at": "2025-01-02T03:09:05.000Z"
    })
}

/// What the server does with a dispatch: read it with the contract, answer its view.
async fn dispatch_route(headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer secret") {
        return failure(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", None);
    }
    match DispatchRequest::parse(body) {
        Ok(req) => {
            let data = view(req.command.command_type(), req.command.payload(), "acme");
            (
                StatusCode::ACCEPTED,
                Json(json!({"success": true, "data": data})),
            )
                .into_response()
        }
        Err(errors) => failure(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            Some(serde_json::to_value(errors).unwrap()),
        ),
    }
}

#[tokio::test]
async fn typed_bodies_go_out_and_typed_answers_come_back() {
    let base = serve(Router::new().route("/api/v1/vm-ops/commands", post(dispatch_route))).await;
    let client = Client::new(&base).unwrap().with_token("secret");
    let list = Command::from_parts("proxmox.list", json!({"node": "pve1"})).unwrap();
    let queued = client
        .dispatch(&DispatchRequest::new("a1", list))
        .await
        .unwrap();
    assert_eq!(
        (
            queued.command_type.as_str(),
            queued.status,
            queued.payload.clone()
        ),
        (
            "proxmox.list-vms",
            CommandStatus::Queued,
            json!({"node": "pve1"})
        )
    );
    assert_eq!(queued.command().unwrap().command_type(), "proxmox.list-vms");

    let status = Command::from_parts("proxmox.status", Value::Null).unwrap();
    let err = client
        .dispatch(&DispatchRequest::new(" ", status.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.is(ErrorCode::BadRequest), "{err}");
    assert_eq!(
        err.field_errors().unwrap().get("agent_id").unwrap(),
        ["must be a non-empty string"]
    );

    let anonymous = Client::new(&base).unwrap();
    let err = anonymous
        .dispatch(&DispatchRequest::new("a1", status))
        .await
        .unwrap_err();
    assert!(err.is(ErrorCode::Unauthorized), "{err}");
}

#[derive(Deserialize)]
struct Kind {
    kind: String,
}

#[tokio::test]
async fn failures_keep_the_servers_code_and_odd_answers_are_told_apart() {
    let app = Router::new().route(
        "/api/v1/probe",
        get(|Query(q): Query<Kind>| async move {
            match q.kind.as_str() {
                "offline" => failure(StatusCode::CONFLICT, "AGENT_OFFLINE", None),
                "new" => failure(StatusCode::IM_A_TEAPOT, "SOMETHING_NEW", None),
                "proxy" => (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response(),
                _ => Json(json!({"success": true, "data": {"kind": q.kind}})).into_response(),
            }
        }),
    );
    let client = Client::new(&serve(app).await).unwrap();
    let ok: Value = client
        .request(Method::GET, "/probe?kind=fine", None)
        .await
        .unwrap();
    assert_eq!(ok, json!({"kind": "fine"}));

    let err = client
        .request::<Value>(Method::GET, "probe?kind=offline", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { status: 409, code: Code::Known(ErrorCode::AgentOffline), message, .. }
            if message == "AGENT_OFFLINE happened"),
        "{err:?}"
    );
    let err = client
        .request::<Value>(Method::GET, "/probe?kind=new", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&Code::Other("SOMETHING_NEW".into())));
    let err = client
        .request::<Value>(Method::GET, "/probe?kind=proxy", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Decode { status: 502, message } if message.contains("bad gateway")),
        "{err:?}"
    );
    let err = client
        .request::<Vec<String>>(Method::GET, "/probe?kind=fine", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Decode { status: 200, .. }),
        "{err:?}"
    );
    assert!(matches!(
        Client::new("ftp://x"),
        Err(ClientError::BaseUrl(_))
    ));
}

#[derive(Deserialize)]
struct Wait {
    timeout_ms: u64,
}

#[tokio::test]
async fn the_long_poll_outlives_its_wait_and_a_late_answer_is_a_timeout() {
    let app = Router::new()
        .route(
            "/api/v1/vm-ops/commands/next",
            get(|Query(w): Query<Wait>| async move {
                tokio::time::sleep(Duration::from_millis(w.timeout_ms)).await;
                Json(json!({"success": true, "data": null}))
            }),
        )
        .route(
            "/api/v1/health",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Json(json!({"success": true, "data": null}))
            }),
        );
    let client = Client::new(&serve(app).await)
        .unwrap()
        .with_timeout(Duration::from_millis(300));
    let polled = client
        .next(&NextQuery {
            timeout_ms: Some(1000),
        })
        .await
        .unwrap();
    assert_eq!(polled, None, "an empty poll after the whole wait");
    assert!(matches!(client.health().await, Err(ClientError::Timeout)));
}

#[tokio::test]
async fn events_arrive_typed_skipping_unknown_kinds_and_resume_after_an_id() {
    let app = Router::new().route(
        "/api/v1/vm-ops/events",
        get(|headers: HeaderMap| async move {
            let resumed = headers
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned();
            let command = json!({"event_id": 8, "event_type": "command.queued", "tenant_id": resumed,
                "command": view("proxmox.status", json!({}), &resumed),
                "server_time": "2025-01-02T03:04:05.000Z"});
            let agent = json!({"event_id": 9, "event_type": "agent.offline", "tenant_id": "acme",
                "agent": {"id": "a1", "tenant_id": "acme", "owner_user_id": null, "name": "host",
                    "status": "active", "online": false, "version": null, "platform": null,
                    "capabilities": [], "public_key": null, "metadata": {}, "last_seen_at": null,
                    "paired_at": null, "revoked_at": null, "revoke_reason": null,
                    "created_at": "2025-01-02T03:00:00.000Z", "updated_at": "2025-01-02T03:00:00.000Z"},
                "server_time": "2025-01-02T03:04:06.000Z"});
            let frames = [
                Event::default().comment("connected"),
                Event::default().id("8").event("vm-command").data(command.to_string()),
                Event::default().id("9").event("a-newer-kind").data("{}"),
                Event::default().id("9").event("agent-status").data(agent.to_string()),
            ];
            Sse::new(futures::stream::iter(frames.map(Ok::<_, Infallible>)))
        }),
    );
    let client = Client::new(&serve(app).await).unwrap().with_token("t");
    let events: Vec<VmOpsEvent> = client
        .events(&EventsQuery::default(), Some(7))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    let ids: Vec<i64> = events.iter().map(VmOpsEvent::event_id).collect();
    assert_eq!(ids, [8, 9]);
    let VmOpsEvent::Command(first) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(first.tenant_id, "7", "Last-Event-ID was sent");
    assert_eq!(
        first.command.command().unwrap().command_type(),
        "proxmox.status"
    );
    assert!(matches!(&events[1], VmOpsEvent::Agent(a) if !a.agent.online));
}

#[tokio::test]
async fn lists_send_their_query_and_a_refused_stream_is_an_api_error() {
    let app = Router::new()
        .route(
            "/api/v1/vm-ops/commands",
            get(
                |headers: HeaderMap, Query(q): Query<ListCommandsQuery>| async move {
                    let tenant = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_owned();
                    let agent = q.agent_id.unwrap_or_default();
                    let data = json!([view(&format!("proxmox.{agent}"), json!({}), &tenant)]);
                    Json(json!({"success": true, "data": data}))
                },
            ),
        )
        .route(
            "/api/v1/vm-ops/events",
            get(|| async { failure(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", None) }),
        );
    let client = Client::new(&serve(app).await).unwrap().with_token("t");
    let query = ListCommandsQuery {
        agent_id: Some("status".into()),
        ..ListCommandsQuery::default()
    };
    let listed = client.list_commands(&query).await.unwrap();
    assert_eq!(
        (
            listed[0].command_type.as_str(),
            listed[0].tenant_id.as_str()
        ),
        ("proxmox.status", "Bearer t")
    );
    let Err(err) = client.events(&EventsQuery::default(), None).await else {
        panic!("a 401 is no stream")
    };
    assert!(
        matches!(
            &err,
            ClientError::Api {
                status: 401,
                code: Code::Known(ErrorCode::Unauthorized),
                ..
            }
        ),
        "{err:?}"
    );
}
