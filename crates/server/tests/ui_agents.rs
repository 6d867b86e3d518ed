//! The Agents and VM operations pages in real headless Chromium: a pairing created on the
//! page gives a one-paste string an agent registers with; the agent shows online with its
//! version; a command dispatched through the API appears in the command log and, after the
//! agent reports, with its result; revoking the agent on the page stops its token.

use base64::Engine;
use botmox_proto::auth::Role;
use botmox_testkit::browser::{Browser, click, fill, sign_in, text_of, wait_for};
use botmox_testkit::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_from_the_page_see_it_online_and_revoke_it() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;
    c.goto(&format!("{}/agents", server.url)).await.unwrap();
    fill(c, "#pairing-create input[name=name]", "rack-1").await;
    click(c, "#pairing-create button").await;
    let uri = text_of(c, "#pairing-uri").await;
    assert!(text_of(c, "#pairing-command").await.contains(&uri));
    let bundle = uri
        .strip_prefix("botmox://pair?bundle=")
        .expect("a pairing URI");
    let bundle: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(bundle)
            .unwrap(),
    )
    .unwrap();

    let (status, agent) = server
        .call(Method::POST, "/api/v1/agents/register", None,
            Some(json!({"pairing_code": bundle["pairing_code"], "version": "0.9.1", "platform": "linux"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let token = agent["data"]["agent_token"].as_str().unwrap().to_owned();

    c.goto(&format!("{}/agents", server.url)).await.unwrap();
    let row = text_of(c, "#agents tbody tr").await;
    assert!(
        row.contains("rack-1") && row.contains("online") && row.contains("0.9.1"),
        "{row}"
    );

    // A command dispatched through the API shows on the VM operations page, and its result
    // once the agent has reported.
    let agent_id = agent["data"]["id"].as_str().unwrap();
    let (status, queued) = server
        .post(
            "/api/v1/vm-ops/proxmox/list-vms",
            &session.access_token,
            json!({"agent_id": agent_id}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    c.goto(&format!("{}/vm-ops", server.url)).await.unwrap();
    let row = text_of(c, "#commands tbody tr").await;
    assert!(
        row.contains("proxmox.list-vms") && row.contains("queued") && row.contains("rack-1"),
        "{row}"
    );
    let (_, claimed) = server
        .get("/api/v1/vm-ops/commands/next?timeout_ms=1000", &token)
        .await;
    assert_eq!(claimed["data"]["id"], queued["data"]["id"]);
    let claim = claimed["data"]["claim_id"].clone();
    let path = format!(
        "/api/v1/vm-ops/commands/{}",
        claimed["data"]["id"].as_str().unwrap()
    );
    server
        .patch(
            &path,
            &token,
            json!({"claim_id": claim, "status": "running"}),
        )
        .await;
    server
        .patch(
            &path,
            &token,
            json!({"claim_id": claim, "status": "succeeded", "result": {"vms": 3}}),
        )
        .await;
    c.goto(&format!("{}/vm-ops", server.url)).await.unwrap();
    let row = text_of(c, "#commands tbody tr").await;
    assert!(
        row.contains("succeeded") && row.contains("\"vms\":3"),
        "{row}"
    );
    c.goto(&format!("{}/agents", server.url)).await.unwrap();
    click(c, "#agents tbody tr button").await;
    wait_for(c, "#notice", "Agent revoked.").await;
    assert!(text_of(c, "#agents tbody tr").await.contains("revoked"));
    assert_eq!(
        server
            .post("/api/v1/agents/heartbeat", &token, json!({}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    browser.close().await;
}
