//! The Secrets page in headless Chromium: a value typed into the page is sealed in the
//! browser (WebCrypto HPKE) to an agent's key, posted as ciphertext only, and opens with the
//! agent's private key through the shared Rust `open` (the agent's own code path); rotation
//! and binding from the page; a member sees metadata but no forms.

use botmox_client::vault::open;
use botmox_proto::auth::Role;
use botmox_proto::vault::SecretCiphertext;
use botmox_server::db::entity::vault_envelope;
use botmox_testkit::browser::{
    Browser, click, fill, select, sign_in, text_of, wait_for_parts, wait_for_url,
};
use botmox_testkit::{Backend, TestServer};
use sea_orm::EntityTrait;

/// What the agent gets for secret `id`, opened with its private key.
async fn agent_opens(server: &TestServer, agent_token: &str, key: &str, id: &str) -> String {
    let (status, body) = server
        .get(&format!("/api/v1/secrets/{id}/ciphertext"), agent_token)
        .await;
    assert_eq!(status, 200, "{body}");
    let sealed: SecretCiphertext = serde_json::from_value(body["data"].clone()).unwrap();
    let plain = open(key, "acme", id, &sealed.field, &sealed.envelope)
        .expect("the browser's envelope opens in Rust");
    String::from_utf8(plain).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_sealed_in_the_browser_opens_in_the_agent() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let member = server
        .user_session("acme", "member@acme.example", Role::User)
        .await;
    let (agent, agent_token, key) = server.paired_vault_agent(&admin).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &admin.email, &admin.password).await;

    // Create: label, field, value, the agent ticked.
    click(c, "a[href='/secrets']").await;
    fill(c, "#secret-create input[name=label]", "PVE root").await;
    fill(c, "#secret-create input[name=field]", "proxmox.password").await;
    fill(c, "#secret-create .vault-value", "typed-in-the-browser").await;
    click(c, &format!("#secret-create input[value='agent:{agent}']")).await;
    click(c, "#secret-submit").await;
    wait_for_url(c, "notice=created").await;
    assert!(
        text_of(c, "#notice")
            .await
            .contains("sealed in this browser")
    );
    let (_, list) = server.get("/api/v1/secrets", &admin.access_token).await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["data"][0]["field"], "proxmox.password");
    assert_eq!(
        agent_opens(&server, &agent_token, &key, &id).await,
        "typed-in-the-browser"
    );
    // Nowhere in the server's rows, nor on the page, is the value.
    let rows = vault_envelope::Entity::find()
        .all(server.state().db.read())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].recipient, format!("agent:{agent}"));
    for stored in [&rows[0].enc, &rows[0].ciphertext] {
        assert!(!stored.contains("typed-in-the-browser"));
    }
    assert!(!c.source().await.unwrap().contains("typed-in-the-browser"));
    wait_for_parts(c, "#secrets", &["PVE root", "proxmox.password", &agent]).await;

    // Rotate from the page: a new value, sealed again.
    click(c, &format!("tr[data-id='{id}'] summary")).await;
    fill(
        c,
        &format!("tr[data-id='{id}'] .vault-value"),
        "rotated-in-the-browser",
    )
    .await;
    click(c, &format!("tr[data-id='{id}'] form.rotate button")).await;
    wait_for_url(c, "notice=rotated").await;
    assert_eq!(
        agent_opens(&server, &agent_token, &key, &id).await,
        "rotated-in-the-browser"
    );

    // Bind it to the agent from the page: the agent receives it.
    select(c, "#binding-create select[name=scope_type]", "agent").await;
    fill(c, "#binding-create input[name=scope_id]", &agent).await;
    select(c, "#binding-create select[name=secret_ref]", &id).await;
    click(c, "#binding-create button").await;
    wait_for_url(c, "notice=bound").await;
    wait_for_parts(
        c,
        "#bindings",
        &["agent", &agent, "proxmox.password", "PVE root"],
    )
    .await;
    let (_, bound) = server
        .get("/api/v1/secrets/agent/bound", &agent_token)
        .await;
    assert_eq!(bound["data"][0]["secret"]["id"], id.as_str(), "{bound}");

    // A member sees the metadata and no form to change it.
    c.delete_all_cookies().await.unwrap();
    sign_in(c, &server.url, &member.email, &member.password).await;
    c.goto(&format!("{}/secrets", server.url)).await.unwrap();
    assert!(text_of(c, "#secrets").await.contains("PVE root"));
    let source = c.source().await.unwrap();
    assert!(!source.contains("secret-create") && !source.contains("binding-create"));
    browser.close().await;
}
