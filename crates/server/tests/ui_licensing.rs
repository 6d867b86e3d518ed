//! The Licences & leases and VM registry pages: in headless Chromium an admin adds a licence
//! and an entitlement and a member registers a VM, a lease issued through the API shows its
//! seat on the page and is revoked there; over plain HTTP, a member sees only their own
//! leases and cannot use the admin forms, and another tenant's lease cannot be revoked.

use botmox_proto::auth::Role;
use botmox_testkit::browser::{
    Browser, click, fill, select, set_value, sign_in, text_of, wait_for,
};
use botmox_testkit::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licences_entitlements_vms_and_leases_from_the_pages() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let alice = server
        .user_session("acme", "alice@acme.example", Role::User)
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &admin.email, &admin.password).await;

    c.goto(&format!("{}/licensing", server.url)).await.unwrap();
    select(c, "#licence-create select[name=type]", "subscription").await;
    set_value(c, "#licence-create input[name=expires_at]", "2999-12-31").await;
    fill(c, "#licence-create input[name=max_leases]", "2").await;
    click(c, "#licence-create button").await;
    wait_for(c, "#notice", "Licence added.").await;
    assert!(
        text_of(c, "#licence-list tbody tr")
            .await
            .contains("every user")
    );
    assert!(text_of(c, "#licence-list .seats").await.contains("0 / 2"));
    fill(c, "#entitlement-set input[name=modules]", "runner, updater").await;
    click(c, "#entitlement-set button").await;
    wait_for(c, "#notice", "Entitlement saved.").await;
    assert_eq!(
        text_of(c, "#entitlement-list .modules").await,
        "runner, updater"
    );

    // A refused form says why and keeps the page.
    select(c, "#licence-create select[name=type]", "subscription").await;
    click(c, "#licence-create button").await;
    wait_for(
        c,
        "#licence-create .field-error[data-field=expires_at]",
        "is required for a subscription licence",
    )
    .await;

    // Alice registers her VM on the registry page and leases through the API.
    let (cookie, csrf) = server.ui_session(&alice.email, &alice.password).await;
    let registered = server
        .http
        .post(format!("{}/vm-registry", server.url))
        .header("cookie", &cookie)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("vm_uuid", "ALICE-VM-0001"),
            ("vm_name", "win-1"),
            ("project_id", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    let (status, lease) = server
        .post("/api/v1/license/lease", &alice.access_token,
            json!({"vm_uuid": "alice-vm-0001", "agent_id": "a", "runner_id": "r", "module": "runner"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lease}");

    c.goto(&format!("{}/vm-registry?q=alice", server.url))
        .await
        .unwrap();
    let row = text_of(c, "#vm-list tbody tr").await;
    assert!(
        row.contains("alice-vm-0001") && row.contains("win-1") && row.contains("active"),
        "{row}"
    );
    c.goto(&format!("{}/licensing", server.url)).await.unwrap();
    assert!(text_of(c, "#licence-list .seats").await.contains("1 / 2"));
    let lease_row = text_of(c, "#lease-list tbody tr").await;
    assert!(
        lease_row.contains("alice@acme.example") && lease_row.contains("runner"),
        "{lease_row}"
    );
    click(c, "#lease-list tbody tr form button").await;
    wait_for(c, "#notice", "Lease revoked; its seat is free.").await;
    let (_, leases) = server
        .get("/api/v1/license/leases?status=revoked", &admin.access_token)
        .await;
    assert_eq!(leases["meta"]["total"], 1, "{leases}");
    browser.close().await;

    // Deactivating on the registry page ends a fresh lease at once.
    let (_, second) = server
        .post("/api/v1/license/lease", &alice.access_token,
            json!({"vm_uuid": "alice-vm-0001", "agent_id": "a", "runner_id": "r", "module": "updater"}))
        .await;
    let deactivated = server
        .http
        .post(format!("{}/vm-registry/alice-vm-0001/status", server.url))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str()), ("status", "revoked")])
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), StatusCode::SEE_OTHER);
    let (status, refused) = server
        .post(
            "/api/v1/license/heartbeat",
            &alice.access_token,
            json!({"lease_id": second["data"]["lease_id"]}),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("LEASE_INACTIVE"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_their_own_leases_and_no_admin_forms() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let alice = server
        .user_session("acme", "alice@acme.example", Role::User)
        .await;
    let bob = server
        .user_session("acme", "bob@acme.example", Role::User)
        .await;
    server
        .create(
            "/api/v1/license/tenant-licenses",
            &admin.access_token,
            json!({"type": "perpetual"}),
        )
        .await;
    server
        .post(
            "/api/v1/license/entitlements",
            &admin.access_token,
            json!({"modules": ["*"]}),
        )
        .await;
    for (s, vm) in [(&alice, "alice-vm-0001"), (&bob, "bobs-vm-00001")] {
        server
            .post(
                "/api/v1/vm/register",
                &s.access_token,
                json!({"vm_uuid": vm}),
            )
            .await;
        let (status, _) = server
            .post(
                "/api/v1/license/lease",
                &s.access_token,
                json!({"vm_uuid": vm, "agent_id": "a", "runner_id": "r", "module": "m"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, bobs) = server
        .get("/api/v1/license/leases", &bob.access_token)
        .await;
    let bobs_lease = bobs["data"][0]["id"].as_str().unwrap().to_owned();

    let (cookie, csrf) = server.ui_session(&alice.email, &alice.password).await;
    let page = |path: String| {
        let req = server
            .http
            .get(format!("{}{path}", server.url))
            .header("cookie", &cookie);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let (status, html) = page("/licensing".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("alice-vm-0001") && !html.contains("bobs-vm-00001"),
        "her own leases only"
    );
    assert!(
        !html.contains("licence-create") && !html.contains("entitlement-set"),
        "no admin forms"
    );
    let post = |path: &str, form: Vec<(&str, &str)>| {
        let mut fields = vec![("_csrf", csrf.as_str())];
        fields.extend(form);
        server
            .http
            .post(format!("{}{path}", server.url))
            .header("cookie", &cookie)
            .form(&fields)
            .send()
    };
    let refused = post("/licensing/licenses", vec![("type", "perpetual")])
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused = post(&format!("/licensing/leases/{bobs_lease}/revoke"), vec![])
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "Bob's lease is not hers to revoke"
    );
    let (_, still) = server
        .get("/api/v1/license/leases?status=active", &bob.access_token)
        .await;
    assert_eq!(still["meta"]["total"], 1);

    // Another tenant's admin: the lease is not found, and nothing changes.
    let other = server
        .user_session("other", "admin@other.example", Role::Admin)
        .await;
    let (other_cookie, other_csrf) = server.ui_session(&other.email, &other.password).await;
    let refused = server
        .http
        .post(format!(
            "{}/licensing/leases/{bobs_lease}/revoke",
            server.url
        ))
        .header("cookie", &other_cookie)
        .form(&[("_csrf", other_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let refused = server
        .http
        .post(format!("{}/vm-registry/bobs-vm-00001/status", server.url))
        .header("cookie", &other_cookie)
        .form(&[("_csrf", other_csrf.as_str()), ("status", "revoked")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let (_, still) = server
        .get("/api/v1/license/leases?status=active", &bob.access_token)
        .await;
    assert_eq!(still["meta"]["total"], 1);
}
