//! The VM registry, licences, entitlements and leases over the API, on SQLite and
//! PostgreSQL: who owns a VM and who may move it, the lease checks in their order with their
//! codes, seat limits (also under a burst of concurrent requests), sliding expiry, revocation
//! that frees a seat at once, and lease tokens checked against their row on every use.

use botmox_proto::auth::Role;
use botmox_server::auth::service::authenticate_bearer;
use botmox_server::licensing::service::lease_for_download;
use botmox_testkit::{Session, TestServer, both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn register(server: &TestServer, s: &Session, uuid: &str) -> Value {
    let (status, vm) = server
        .post(
            "/api/v1/vm/register",
            &s.access_token,
            json!({"vm_uuid": uuid, "vm_name": "WIN-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{vm}");
    vm["data"].clone()
}

async fn licence(server: &TestServer, admin: &Session, body: Value) -> String {
    server
        .create("/api/v1/license/tenant-licenses", &admin.access_token, body)
        .await
}

async fn entitle(server: &TestServer, admin: &Session, body: Value) {
    let (status, e) = server
        .post("/api/v1/license/entitlements", &admin.access_token, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
}

async fn lease(server: &TestServer, s: &Session, uuid: &str, module: &str) -> (StatusCode, Value) {
    server
        .post("/api/v1/license/lease", &s.access_token,
            json!({"vm_uuid": uuid, "agent_id": "agent-1", "runner_id": "runner-1", "module": module}))
        .await
}

both_backends! {
    async fn a_vm_belongs_to_its_owner_and_only_an_admin_moves_it(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;

        let vm = register(&server, &alice, "  4C4C4544-0042-3510-8052-B4C04F565931 ").await;
        assert_eq!(vm["vm_uuid"], "4c4c4544-0042-3510-8052-b4c04f565931", "trimmed and lower-cased");
        assert_eq!((vm["user_id"].as_str(), vm["status"].as_str()), (Some(alice.user_id.as_str()), Some("active")));
        let uuid = "4c4c4544-0042-3510-8052-b4c04f565931";
        // Re-registering keeps the creation time and updates what is given.
        let (status, again) = server.post("/api/v1/vm/register", &alice.access_token,
            json!({"vm_uuid": uuid.to_uppercase(), "project_id": "wow_tbc"})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!((again["data"]["created_at_ms"].clone(), again["data"]["vm_name"].clone(), again["data"]["project_id"].clone()),
            (vm["created_at_ms"].clone(), json!("WIN-1"), json!("wow_tbc")));

        // Bob can neither take it nor see it; naming another owner is for admins.
        let (status, refused) = server.post("/api/v1/vm/register", &bob.access_token, json!({"vm_uuid": uuid})).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "VM_OWNER_MISMATCH"));
        let (status, _) = server.get(&format!("/api/v1/vm/{uuid}/resolve"), &bob.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, refused) = server.post("/api/v1/vm/register", &bob.access_token,
            json!({"vm_uuid": "bobs-vm-0001", "user_id": alice.user_id})).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "FORBIDDEN"));
        let (status, mine) = server.get(&format!("/api/v1/vm/{}/resolve", uuid.to_uppercase()), &alice.access_token).await;
        assert_eq!((status, mine["data"]["vm_uuid"].as_str()), (StatusCode::OK, Some(uuid)));

        // An admin moves it only when asking to, and the move is audited.
        let (status, refused) = server.post("/api/v1/vm/register", &admin.access_token,
            json!({"vm_uuid": uuid, "user_id": bob.user_id})).await;
        assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "CONFLICT"));
        let (status, moved) = server.post("/api/v1/vm/register", &admin.access_token,
            json!({"vm_uuid": uuid, "user_id": bob.user_id, "reassign": true})).await;
        assert_eq!(status, StatusCode::CREATED, "{moved}");
        assert_eq!(moved["data"]["user_id"].as_str(), Some(bob.user_id.as_str()));
        let (_, audit) = server.get("/api/v1/audit?action=vm.reassign", &admin.access_token).await;
        let rows = audit["data"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{audit}");
        assert!(rows[0]["target"].as_str().unwrap().contains(&alice.user_id), "{audit}");
        let (status, refused) = server.post("/api/v1/vm/register", &admin.access_token,
            json!({"vm_uuid": "admins-vm-01", "user_id": "nobody"})).await;
        assert_eq!((status, code(&refused)), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));

        // Lists: one's own, or the tenant's for admins, with filters.
        register(&server, &alice, "alices-vm-02").await;
        let (_, list) = server.get("/api/v1/vm", &alice.access_token).await;
        assert_eq!(list["meta"]["total"], 1, "{list}");
        let (_, list) = server.get("/api/v1/vm?q=ALICES", &admin.access_token).await;
        assert_eq!(list["meta"]["total"], 1, "{list}");
        let (_, list) = server.get("/api/v1/vm", &admin.access_token).await;
        assert_eq!(list["meta"]["total"], 2);
        let (_, list) = server.get(&format!("/api/v1/vm?user_id={}", bob.user_id), &admin.access_token).await;
        assert_eq!(list["meta"]["total"], 1);

        // Update and deactivate.
        let (status, patched) = server.patch("/api/v1/vm/alices-vm-02", &alice.access_token,
            json!({"vm_name": "renamed", "metadata": {"vmid": 105}})).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!((patched["data"]["vm_name"].clone(), patched["data"]["metadata"]["vmid"].clone()), (json!("renamed"), json!(105)));
        let (status, _) = server.patch("/api/v1/vm/alices-vm-02", &bob.access_token, json!({"vm_name": "x"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, off) = server.post("/api/v1/vm/alices-vm-02/deactivate", &alice.access_token, json!({})).await;
        assert_eq!((status, off["data"]["status"].as_str()), (StatusCode::OK, Some("revoked")));
        let (_, list) = server.get("/api/v1/vm?status=revoked", &admin.access_token).await;
        assert_eq!(list["meta"]["total"], 1);

        // Bad input is a 400 naming the field, and changes nothing.
        for body in [json!({"vm_uuid": "short"}), json!({"vm_uuid": "../../etc/passwd"}),
            json!({"vm_uuid": "valid-uuid-1", "status": "gone"}), json!({"vm_uuid": "valid-uuid-1", "vm_name": "x".repeat(201)})] {
            let (status, refused) = server.post("/api/v1/vm/register", &alice.access_token, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
        }
        let (status, _) = server.get("/api/v1/vm/valid-uuid-1/resolve", &alice.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Another tenant's VM is not found, not shown, not changed.
        let other = server.user_session("other", "admin@other.example", Role::Admin).await;
        for path in [format!("/api/v1/vm/{uuid}/resolve")] {
            assert_eq!(server.get(&path, &other.access_token).await.0, StatusCode::NOT_FOUND);
        }
        assert_eq!(server.patch(&format!("/api/v1/vm/{uuid}"), &other.access_token, json!({"vm_name": "x"})).await.0, StatusCode::NOT_FOUND);
        assert_eq!(server.post(&format!("/api/v1/vm/{uuid}/deactivate"), &other.access_token, json!({})).await.0, StatusCode::NOT_FOUND);
        let (_, list) = server.get("/api/v1/vm", &other.access_token).await;
        assert_eq!(list["meta"]["total"], 0);
        let (status, theirs) = server.post("/api/v1/vm/register", &other.access_token, json!({"vm_uuid": uuid})).await;
        assert_eq!((status, theirs["data"]["tenant_id"].as_str()), (StatusCode::CREATED, Some("other")), "UUIDs are per tenant");
        let (_, still) = server.get(&format!("/api/v1/vm/{uuid}/resolve"), &admin.access_token).await;
        assert_eq!(still["data"]["user_id"].as_str(), Some(bob.user_id.as_str()));
    }

    async fn licences_and_entitlements_are_managed_by_admins(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let t = &admin.access_token;
        let (status, refused) = server.post("/api/v1/license/tenant-licenses", t, json!({"type": "subscription"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a subscription needs an expiry: {refused}");
        assert!(refused["error"]["details"]["fieldErrors"]["expires_at"].is_array());
        let (status, refused) = server.post("/api/v1/license/tenant-licenses", t, json!({"type": "perpetual", "user_id": "ghost"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        let (status, _) = server.post("/api/v1/license/tenant-licenses", &alice.access_token, json!({"type": "perpetual"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let id = licence(&server, &admin, json!({"type": "subscription", "expires_at": now_ms() + 86_400_000, "max_leases": 2})).await;
        let personal = licence(&server, &admin, json!({"type": "perpetual", "user_id": alice.user_id})).await;
        let (_, list) = server.get("/api/v1/license/tenant-licenses", t).await;
        assert_eq!(list["meta"]["total"], 2);
        let row = list["data"].as_array().unwrap().iter().find(|l| l["id"] == id.as_str()).unwrap().clone();
        assert_eq!((row["max_leases"].clone(), row["active_leases"].clone(), row["effective"].clone(), row["user_id"].clone()),
            (json!(2), json!(0), json!(true), Value::Null));
        let (status, patched) = server.patch(&format!("/api/v1/license/tenant-licenses/{id}"), t,
            json!({"max_leases": null, "expires_at": now_ms() - 1000})).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!((patched["data"]["max_leases"].clone(), patched["data"]["effective"].clone()), (Value::Null, json!(false)));
        let (status, refused) = server.patch(&format!("/api/v1/license/tenant-licenses/{id}"), t, json!({"expires_at": null})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(server.delete(&format!("/api/v1/license/tenant-licenses/{personal}"), t).await.0, StatusCode::OK);
        assert_eq!(server.delete(&format!("/api/v1/license/tenant-licenses/{personal}"), t).await.0, StatusCode::NOT_FOUND);

        // Entitlements: a list or the reference's map, per user or as the tenant default.
        entitle(&server, &admin, json!({"modules": {"runner": true, "*": false}})).await;
        entitle(&server, &admin, json!({"user_id": alice.user_id, "modules": ["b", "a", "a"]})).await;
        entitle(&server, &admin, json!({"user_id": alice.user_id, "modules": ["c"]})).await;
        let (_, list) = server.get("/api/v1/license/entitlements", t).await;
        assert_eq!(list["data"], json!([
            {"tenant_id": "acme", "user_id": null, "modules": ["runner"], "updated_at": list["data"][0]["updated_at"], "updated_by": admin.user_id},
            {"tenant_id": "acme", "user_id": alice.user_id, "modules": ["c"], "updated_at": list["data"][1]["updated_at"], "updated_by": admin.user_id},
        ]), "replaced, not merged");
        let (status, _) = server.post("/api/v1/license/entitlements", t, json!({"modules": "runner"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = server.delete(&format!("/api/v1/license/entitlements?user_id={}", alice.user_id), t).await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = server.get("/api/v1/license/entitlements", t).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);

        // Another tenant's admin sees none of it and changes nothing.
        let other = server.user_session("other", "admin@other.example", Role::Admin).await;
        assert_eq!(server.patch(&format!("/api/v1/license/tenant-licenses/{id}"), &other.access_token,
            json!({"status": "revoked"})).await.0, StatusCode::NOT_FOUND);
        assert_eq!(server.delete(&format!("/api/v1/license/tenant-licenses/{id}"), &other.access_token).await.0, StatusCode::NOT_FOUND);
        let (_, theirs) = server.get("/api/v1/license/tenant-licenses", &other.access_token).await;
        assert_eq!(theirs["meta"]["total"], 0);
        let (_, theirs) = server.get("/api/v1/license/entitlements", &other.access_token).await;
        assert_eq!(theirs["data"], json!([]));
        let (_, ours) = server.get("/api/v1/license/tenant-licenses", t).await;
        assert_eq!(ours["data"][0]["status"], "active");
    }

    async fn a_lease_is_checked_in_order_and_takes_a_seat(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;
        let vm = "alices-vm-0001";

        let (status, refused) = lease(&server, &alice, vm, "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "VM_NOT_REGISTERED"));
        register(&server, &alice, vm).await;
        server.patch(&format!("/api/v1/vm/{vm}"), &alice.access_token, json!({"status": "paused"})).await;
        let (status, refused) = lease(&server, &alice, vm, "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "VM_INACTIVE"));
        server.patch(&format!("/api/v1/vm/{vm}"), &alice.access_token, json!({"status": "active"})).await;
        register(&server, &bob, "bobs-vm-00001").await;
        let (status, refused) = lease(&server, &alice, "bobs-vm-00001", "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "VM_OWNER_MISMATCH"));
        let (status, refused) = lease(&server, &alice, vm, "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "LICENSE_INACTIVE"), "no licence at all");
        let lapsed = licence(&server, &admin, json!({"type": "subscription", "expires_at": now_ms() - 60_000})).await;
        let (status, refused) = lease(&server, &alice, vm, "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "LICENSE_INACTIVE"), "an expired subscription");
        server.delete(&format!("/api/v1/license/tenant-licenses/{lapsed}"), &admin.access_token).await;
        let seats = licence(&server, &admin, json!({"type": "subscription", "expires_at": now_ms() + 3_600_000, "max_leases": 1})).await;
        let (status, refused) = lease(&server, &alice, vm, "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "ENTITLEMENT_REQUIRED"));
        entitle(&server, &admin, json!({"user_id": alice.user_id, "modules": ["updater"]})).await;
        let (status, refused) = lease(&server, &alice, vm, "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "MODULE_NOT_ALLOWED"));
        entitle(&server, &admin, json!({"user_id": alice.user_id, "modules": ["updater", "runner"]})).await;

        let (status, first) = lease(&server, &alice, vm, "runner").await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let first = first["data"].clone();
        assert_eq!((first["license_id"].as_str(), first["vm_uuid"].as_str(), first["user_id"].as_str()),
            (Some(seats.as_str()), Some(vm), Some(alice.user_id.as_str())));
        let ttl = first["expires_at"].as_i64().unwrap() - now_ms();
        assert!((200_000..=300_000).contains(&ttl), "the default TTL is 300 s: {ttl}");
        let header: Value = serde_json::from_slice(&base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            first["token"].as_str().unwrap().split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some("HS256"), Some("lease-1")));
        let stored: Value = server.get(&format!("/api/v1/license/leases?license_id={seats}"), &admin.access_token).await.1;
        assert_eq!(stored["meta"]["total"], 1);
        assert!(stored["data"][0].get("token").is_none(), "a lease list never shows the token");

        // One seat: the second lease is refused until the first is revoked.
        let (status, refused) = lease(&server, &alice, vm, "updater").await;
        assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "LEASE_LIMIT_REACHED"));
        let (status, refused) = server.post("/api/v1/license/revoke", &bob.access_token,
            json!({"lease_id": first["lease_id"]})).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "LEASE_OWNER_MISMATCH"), "only its owner or an admin");
        let (status, revoked) = server.post("/api/v1/license/revoke", &alice.access_token,
            json!({"lease_id": first["lease_id"], "reason": "done"})).await;
        assert_eq!((status, revoked["data"]["status"].as_str()), (StatusCode::OK, Some("revoked")), "{revoked}");
        let (status, again) = server.post("/api/v1/license/revoke", &admin.access_token, json!({"lease_id": first["lease_id"]})).await;
        assert_eq!((status, again["data"]["revoked_at"].clone()), (StatusCode::OK, revoked["data"]["revoked_at"].clone()), "idempotent");
        let (status, second) = lease(&server, &alice, vm, "updater").await;
        assert_eq!(status, StatusCode::CREATED, "the seat is free at once: {second}");

        // A perpetual personal licence and the tenant default entitlement serve Bob.
        register(&server, &bob, "bobs-vm-00002").await;
        let (status, refused) = lease(&server, &bob, "bobs-vm-00002", "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "ENTITLEMENT_REQUIRED"));
        entitle(&server, &admin, json!({"modules": {"*": true}})).await;
        let (status, refused) = lease(&server, &bob, "bobs-vm-00002", "runner").await;
        assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "LEASE_LIMIT_REACHED"), "the tenant-wide licence is full");
        licence(&server, &admin, json!({"type": "perpetual", "user_id": bob.user_id})).await;
        let (status, bobs) = lease(&server, &bob, "bobs-vm-00002", "anything").await;
        assert_eq!(status, StatusCode::CREATED, "{bobs}");
        assert_ne!(bobs["data"]["license_id"].as_str(), Some(seats.as_str()), "his personal licence");
        // An admin may lease for a member; a member may not lease for another.
        let (status, refused) = server.post("/api/v1/license/lease", &alice.access_token,
            json!({"vm_uuid": "bobs-vm-00002", "user_id": bob.user_id, "agent_id": "a", "runner_id": "r", "module": "x"})).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "FORBIDDEN"));
        let (status, for_bob) = server.post("/api/v1/license/lease", &admin.access_token,
            json!({"vm_uuid": "bobs-vm-00002", "user_id": bob.user_id, "agent_id": "a", "runner_id": "r", "module": "x"})).await;
        assert_eq!(status, StatusCode::CREATED, "{for_bob}");

        // Deactivating a VM revokes its leases; so does moving it.
        server.post("/api/v1/vm/bobs-vm-00002/deactivate", &bob.access_token, json!({})).await;
        let (_, leases) = server.get("/api/v1/license/leases?vm_uuid=BOBS-VM-00002", &admin.access_token).await;
        let statuses: Vec<&str> = leases["data"].as_array().unwrap().iter().map(|l| l["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["revoked", "revoked"], "{leases}");
        let (_, mine) = server.get("/api/v1/license/leases", &bob.access_token).await;
        assert_eq!(mine["meta"]["total"], 2, "a member lists their own leases");
        let (_, audit) = server.get("/api/v1/audit?action=lease.", &admin.access_token).await;
        let actions: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
        assert!(actions.contains(&"lease.issue") && actions.contains(&"lease.revoke"), "{actions:?}");
    }

    async fn the_seat_limit_holds_under_concurrent_requests(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        licence(&server, &admin, json!({"type": "alltime", "max_leases": 3})).await;
        entitle(&server, &admin, json!({"modules": ["runner"]})).await;
        register(&server, &admin, "race-vm-00001").await;
        let answers = futures::future::join_all((0..16).map(|_| lease(&server, &admin, "race-vm-00001", "runner"))).await;
        let granted = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        let full = answers.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && code(b) == "LEASE_LIMIT_REACHED").count();
        assert_eq!((granted, full), (3, 13), "{answers:?}");
        let (_, list) = server.get("/api/v1/license/tenant-licenses", &admin.access_token).await;
        assert_eq!(list["data"][0]["active_leases"], 3);
    }

    async fn heartbeats_slide_the_expiry_and_lapsed_leases_free_their_seat(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        // The licence ends in 200 s: no lease may outlive it, whatever the TTL.
        let lic = licence(&server, &admin, json!({"type": "subscription", "expires_at": now_ms() + 200_000, "max_leases": 1})).await;
        entitle(&server, &admin, json!({"modules": ["runner"]})).await;
        register(&server, &alice, "alices-vm-0001").await;
        let (_, issued) = lease(&server, &alice, "alices-vm-0001", "runner").await;
        let issued = issued["data"].clone();
        let id = issued["lease_id"].as_str().unwrap().to_owned();
        let cap = issued["expires_at"].as_i64().unwrap();
        assert!(cap <= now_ms() + 200_000, "capped at the licence's expiry");

        let (status, beat) = server.post("/api/v1/license/heartbeat", &alice.access_token, json!({"lease_id": id})).await;
        assert_eq!(status, StatusCode::OK, "{beat}");
        assert!(beat["data"]["expires_at"].as_i64().unwrap() >= cap, "{beat}");
        assert!(beat["data"]["expires_at"].as_i64().unwrap() <= now_ms() + 200_000, "{beat}");
        let (status, refused) = server.post("/api/v1/license/heartbeat", &admin.access_token, json!({"lease_id": "nope"})).await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "LEASE_NOT_FOUND"));
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;
        let (status, refused) = server.post("/api/v1/license/heartbeat", &bob.access_token, json!({"lease_id": id})).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "LEASE_OWNER_MISMATCH"));

        // A heartbeat is sliding: an expiry moved back (as if time passed) moves forward again.
        let earlier = now_ms() + 10_000;
        server.execute(&format!("UPDATE execution_leases SET expires_at = {earlier} WHERE id = '{id}'")).await.unwrap();
        let (_, beat) = server.post("/api/v1/license/heartbeat", &alice.access_token, json!({"lease_id": id})).await;
        assert!(beat["data"]["expires_at"].as_i64().unwrap() > earlier, "{beat}");

        // Lapsed: refused, shown as expired, its seat free before any sweep; the sweep marks it.
        server.execute(&format!("UPDATE execution_leases SET expires_at = {} WHERE id = '{id}'", now_ms() - 1)).await.unwrap();
        let (status, refused) = server.post("/api/v1/license/heartbeat", &alice.access_token, json!({"lease_id": id})).await;
        assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "LEASE_EXPIRED"));
        let (_, expired) = server.get("/api/v1/license/leases?status=expired", &alice.access_token).await;
        assert_eq!(expired["meta"]["total"], 1);
        let (status, next) = lease(&server, &alice, "alices-vm-0001", "runner").await;
        assert_eq!(status, StatusCode::CREATED, "{next}");
        botmox_server::licensing::service::sweep(&server.state().db).await.unwrap();
        let (_, swept) = server.get(&format!("/api/v1/license/leases?license_id={lic}"), &admin.access_token).await;
        let statuses: Vec<&str> = swept["data"].as_array().unwrap().iter().map(|l| l["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["active", "expired"], "{swept}");
        let stored = server.execute(&format!("UPDATE execution_leases SET runner_id = runner_id WHERE id = '{id}' AND status = 'expired'")).await.unwrap();
        assert_eq!(stored, 1, "the sweep stored the expiry");

        // A licence whose end moves closer holds its leases to it, heartbeats included.
        let next_id = next["data"]["lease_id"].as_str().unwrap().to_owned();
        let sooner = now_ms() + 50_000;
        server.patch(&format!("/api/v1/license/tenant-licenses/{lic}"), &admin.access_token, json!({"expires_at": sooner})).await;
        let (_, beat) = server.post("/api/v1/license/heartbeat", &alice.access_token, json!({"lease_id": next_id})).await;
        assert_eq!(beat["data"]["expires_at"].as_i64(), Some(sooner), "{beat}");
        // Made personal to someone else, it no longer backs Alice's lease.
        server.patch(&format!("/api/v1/license/tenant-licenses/{lic}"), &admin.access_token, json!({"user_id": bob.user_id})).await;
        let (status, refused) = server.post("/api/v1/license/heartbeat", &alice.access_token, json!({"lease_id": next_id})).await;
        assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "LEASE_INACTIVE"), "{refused}");
        server.patch(&format!("/api/v1/license/tenant-licenses/{lic}"), &admin.access_token, json!({"user_id": null})).await;
        let (status, next) = lease(&server, &alice, "alices-vm-0001", "runner").await;
        assert_eq!(status, StatusCode::CREATED, "{next}");
        let next_id = next["data"]["lease_id"].as_str().unwrap().to_owned();

        // A licence that stops granting takes its leases with it.
        server.patch(&format!("/api/v1/license/tenant-licenses/{lic}"), &admin.access_token, json!({"status": "revoked"})).await;
        let (status, refused) = server.post("/api/v1/license/heartbeat", &alice.access_token, json!({"lease_id": next_id})).await;
        assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "LEASE_INACTIVE"), "{refused}");
    }

    async fn a_lease_token_is_checked_against_its_row_on_every_use(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let lic = licence(&server, &admin, json!({"type": "perpetual"})).await;
        entitle(&server, &admin, json!({"modules": ["runner"]})).await;
        register(&server, &admin, "token-vm-0001").await;
        let (_, issued) = lease(&server, &admin, "token-vm-0001", "runner").await;
        let token = issued["data"]["token"].as_str().unwrap().to_owned();
        let id = issued["data"]["lease_id"].as_str().unwrap().to_owned();
        let state = server.state();
        let auth = authenticate_bearer(state, &admin.access_token).await.unwrap();
        let check = |token: String, vm: &'static str, module: &'static str| {
            let auth = auth.clone();
            async move { lease_for_download(state, &auth, &token, vm, module).await.map_err(|e| (e.status().as_u16(), e.code)) }
        };
        let grant = check(token.clone(), "TOKEN-VM-0001", "runner").await.unwrap();
        assert_eq!((grant.lease_id.as_str(), grant.user_id.as_str()), (id.as_str(), admin.user_id.as_str()));
        use botmox_proto::ErrorCode as C;
        assert_eq!(check(token.clone(), "other-vm-0001", "runner").await.unwrap_err(), (403, C::VmUuidMismatch));
        assert_eq!(check(token.clone(), "token-vm-0001", "Runner").await.unwrap_err(), (403, C::ModuleMismatch));
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(check(forged, "token-vm-0001", "runner").await.unwrap_err(), (401, C::Unauthorized));
        assert_eq!(check("not.a.token".into(), "token-vm-0001", "runner").await.unwrap_err(), (401, C::Unauthorized));
        // Another tenant holding the token finds no lease.
        let other = server.user_session("other", "admin@other.example", Role::Admin).await;
        let intruder = authenticate_bearer(state, &other.access_token).await.unwrap();
        let err = lease_for_download(state, &intruder, &token, "token-vm-0001", "runner").await.unwrap_err();
        assert_eq!((err.status().as_u16(), err.code), (404, C::LeaseNotFound));
        // The row decides: a lapsed row, then a revoked one, refuse the genuine token.
        server.execute(&format!("UPDATE execution_leases SET expires_at = {} WHERE id = '{id}'", now_ms() - 1)).await.unwrap();
        assert_eq!(check(token.clone(), "token-vm-0001", "runner").await.unwrap_err(), (409, C::LeaseExpired));
        server.execute(&format!("UPDATE execution_leases SET expires_at = {} WHERE id = '{id}'", now_ms() + 60_000)).await.unwrap();
        server.patch(&format!("/api/v1/license/tenant-licenses/{lic}"), &admin.access_token, json!({"status": "expired"})).await;
        assert_eq!(check(token.clone(), "token-vm-0001", "runner").await.unwrap_err(), (409, C::LeaseInactive),
            "the licence's end revoked the lease");
        // A row whose stored hash differs (a token re-issued under the same id) refuses it.
        server.execute(&format!("UPDATE execution_leases SET status = 'active', token_hash = 'x' WHERE id = '{id}'")).await.unwrap();
        assert_eq!(check(token.clone(), "token-vm-0001", "runner").await.unwrap_err(), (401, C::Unauthorized));
    }

    async fn an_api_token_acts_for_its_creator(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let (_, token) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "runner", "role": "user"})).await;
        let secret = token["data"]["token"].as_str().unwrap();
        let (status, vm) = server.post("/api/v1/vm/register", secret, json!({"vm_uuid": "token-made-vm1"})).await;
        assert_eq!(status, StatusCode::CREATED, "{vm}");
        assert_eq!(vm["data"]["user_id"].as_str(), Some(admin.user_id.as_str()));
        let (_, list) = server.get("/api/v1/vm", secret).await;
        assert_eq!(list["meta"]["total"], 1, "the token sees its creator's VMs: {list}");
    }
}
