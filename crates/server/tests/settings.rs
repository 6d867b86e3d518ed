//! The settings tree over the API: path rules, body rules per path, merge semantics,
//! projects checked by records, sealed credentials with admin-only audited reveal,
//! concurrent writers, and the storage policy, on SQLite and PostgreSQL.

use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::json;

both_backends! {
    async fn paths_and_bodies_follow_the_rules(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        assert_eq!(server.get("/api/v1/settings", t).await.1["data"], json!({}));
        assert_eq!(server.get("/api/v1/settings/alerts", t).await.1["data"], json!(null));

        let (status, tree) = server.put("/api/v1/settings/alerts", t, json!({"warning_days": 14})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(tree["data"], json!({"alerts": {"warning_days": 14}}), "PUT answers the whole tree");
        let (status, tree) = server.patch("/api/v1/settings/settings/alerts", t, json!({"updated_by": "me"})).await;
        assert_eq!(status, StatusCode::OK, "a leading settings/ is ignored");
        assert_eq!(tree["data"]["alerts"], json!({"warning_days": 14, "updated_by": "me"}), "objects merge");
        assert_eq!(server.get("/api/v1/settings/alerts/warning_days", t).await.1["data"], 14);

        for (path, body) in [
            ("alerts", json!({"warning_days": 0})),
            ("alerts", json!({})),
            ("alerts", json!("not an object")),
            ("alerts/warning_days", json!(400)),
            ("proxy", json!({"fraud_score_threshold": 101})),
            ("projects", json!({"wow": {"game": "no name"}})),
            ("projects/wow/gold_price_usd", json!(-1)),
            ("finance/chart_config", json!([{"key": "k"}])),
            ("schedule/last_params", json!({"startTime": "25:00"})),
            ("vmgenerator", json!({"ssh": {"port": 0}})),
            ("anything", json!({})),
        ] {
            let (status, body) = server.put(&format!("/api/v1/settings/{path}"), t, body.clone()).await;
            assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("BAD_REQUEST")), "{path}: {body}");
        }
        for bad in ["a.b", "x%23y", "a[0]", "x/%24y"] {
            let (status, _) = server.get(&format!("/api/v1/settings/{bad}"), t).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let (status, _) = server.call(Method::DELETE, "/api/v1/settings/alerts", Some(t), None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, _) = server.post("/api/v1/settings/alerts", t, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "POST is only for /reveal");

        // Unlisted paths take any value; null removes.
        server.put("/api/v1/settings/custom/list", t, json!([1, 2])).await;
        assert_eq!(server.get("/api/v1/settings/custom/list", t).await.1["data"], json!([1, 2]));
        server.put("/api/v1/settings/custom/list", t, json!(null)).await;
        assert_eq!(server.get("/api/v1/settings/custom", t).await.1["data"], json!({}));
        assert_eq!(server.get("/api/v1/settings/alerts", t).await.1["data"]["warning_days"], 14, "earlier writes kept");
    }

    async fn projects_are_checked_and_cannot_vanish_while_used(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        let (status, err) = server.post("/api/v1/bots", t, json!({"name": "a", "project_id": "wow"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(err["error"]["details"]["fieldErrors"]["project_id"].is_array(), "{err}");
        server.put("/api/v1/settings/projects", t, json!({"wow": {"name": "WoW Classic", "max_level": 60}})).await;
        server.put("/api/v1/settings/projects/wow/gold_price_usd", t, json!(0.02)).await;
        assert_eq!(server.get("/api/v1/settings/projects/wow", t).await.1["data"]["gold_price_usd"], 0.02);
        let bot = server.create("/api/v1/bots", t, json!({"name": "a", "project_id": "wow"})).await;
        let (status, _) = server.post("/api/v1/finance/operations", t, json!({"type": "income", "category": "sale",
            "amount": 1, "currency": "USD", "date": 1_700_000_000_000i64, "project_id": "nope"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let (status, err) = server.put("/api/v1/settings/projects/wow", t, json!(null)).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::CONFLICT, json!("IN_USE")), "{err}");
        assert_eq!(err["error"]["details"]["references"]["bots"], 1);
        assert_eq!(server.get("/api/v1/settings/projects/wow/name", t).await.1["data"], "WoW Classic", "unchanged");
        server.delete(&format!("/api/v1/bots/{bot}"), t).await;
        let (status, tree) = server.put("/api/v1/settings/projects/wow", t, json!(null)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(tree["data"]["projects"], json!({}));

        // A new project's id must fit in a URL and a record's project_id.
        for (path, body) in [
            ("/api/v1/settings/projects/WoW%20TBC!", json!({"name": "x"})),
            ("/api/v1/settings/projects", json!({"Big": {"name": "x"}})),
            ("/api/v1/settings", json!({"projects": {&"a".repeat(65): {"name": "x"}}})),
        ] {
            let (status, err) = server.put(path, t, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {err}");
            assert!(err["error"]["message"].as_str().unwrap().contains("id must be 1 to 64 lowercase"), "{err}");
        }
        for id in ["tbc", "wow_classic-2", "9"] {
            let (status, err) = server.put(&format!("/api/v1/settings/projects/{id}"), t, json!({"name": "x"})).await;
            assert_eq!(status, StatusCode::OK, "{id}: {err}");
        }
    }

    async fn a_project_is_never_removed_under_a_record_written_at_the_same_moment(backend) {
        // Each round: four bots created against a project while the project is removed. On
        // either engine, whichever lands first wins: a bot that exists keeps its project.
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        for round in 0..15 {
            let project = format!("p{round}");
            let path = format!("/api/v1/settings/projects/{project}");
            assert_eq!(server.put(&path, t, json!({"name": project})).await.0, StatusCode::OK);
            let creates = (0..4).map(|i| server.post("/api/v1/bots", t, json!({"name": format!("b{i}"), "project_id": project})));
            let (created, (removed, _)) = tokio::join!(futures::future::join_all(creates), server.put(&path, t, json!(null)));
            let made = created.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
            assert!(created.iter().all(|(status, _)| [StatusCode::CREATED, StatusCode::BAD_REQUEST].contains(status)), "{created:?}");
            assert!([StatusCode::OK, StatusCode::CONFLICT].contains(&removed), "{removed}");
            let (_, bots) = server.get(&format!("/api/v1/bots?project_id={project}"), t).await;
            let stored = bots["data"].as_array().unwrap().len();
            assert_eq!(stored, made, "round {round}: every 201 is a stored bot");
            let kept = server.get(&path, t).await.1["data"].is_object();
            assert_eq!(kept, made > 0, "round {round}: {made} bots name {project}; removal answered {removed}");
            assert_eq!(removed == StatusCode::OK, !kept);
        }
    }

    async fn credentials_in_settings_are_sealed_masked_and_revealed_to_admins(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let user = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &admin.access_token;
        let (status, tree) = server.put("/api/v1/settings/api_keys", t, json!({"ipqs": {"api_key": "ipqs-key-123", "enabled": true}})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(tree["data"]["api_keys"]["ipqs"], json!({"api_key": "********", "enabled": true}));
        server.put("/api/v1/settings/vmgenerator", t, json!({"proxmox": {"url": "https://pve:8006", "username": "root@pam", "password": "pve-pass"}})).await;
        let rows = botmox_server::db::entity::settings::Entity::find().all(server.state().db.read()).await.unwrap();
        assert!(rows.iter().all(|r| !r.data.contains("ipqs-key-123") && !r.data.contains("pve-pass")), "sealed at rest");

        // Writing the masked tree back changes no credential.
        let (_, whole) = server.get("/api/v1/settings", &user.access_token).await;
        assert_eq!(whole["data"]["vmgenerator"]["proxmox"]["password"], "********");
        server.put("/api/v1/settings/api_keys", t, whole["data"]["api_keys"].clone()).await;
        let (status, revealed) = server.post("/api/v1/settings/api_keys/ipqs/api_key/reveal", t, json!({})).await;
        assert_eq!((status, revealed["data"]["value"].clone()), (StatusCode::OK, json!("ipqs-key-123")));
        let (_, pve) = server.post("/api/v1/settings/vmgenerator/proxmox/password/reveal", t, json!({})).await;
        assert_eq!(pve["data"]["value"], "pve-pass");
        let (status, _) = server.post("/api/v1/settings/api_keys/ipqs/api_key/reveal", &user.access_token, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = server.post("/api/v1/settings/api_keys/ipqs/enabled/reveal", t, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, audit) = server.get("/api/v1/audit?action=secret.reveal", t).await;
        let targets: Vec<(&str, &str)> = audit["data"].as_array().unwrap().iter()
            .map(|r| (r["target"].as_str().unwrap(), r["result"].as_str().unwrap())).collect();
        assert!(targets.contains(&("settings:api_keys/ipqs/api_key", "ok")), "{targets:?}");
        assert!(targets.contains(&("settings:api_keys/ipqs/api_key", "denied")), "{targets:?}");
    }

    async fn credentials_in_settings_lists_are_sealed_masked_and_revealed(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let (status, tree) = server.put("/api/v1/settings/cluster", t, json!({"hosts": [
            {"name": "pve1", "password": "host-pass-1"}, {"name": "pve2", "password": 4242, "ssh": {"secret": "ssh-secret"}},
        ]})).await;
        assert_eq!(status, StatusCode::OK, "{tree}");
        assert_eq!(tree["data"]["cluster"]["hosts"], json!([
            {"name": "pve1", "password": "********"}, {"name": "pve2", "password": "********", "ssh": {"secret": "********"}},
        ]));
        let rows = botmox_server::db::entity::settings::Entity::find().all(server.state().db.read()).await.unwrap();
        for plain in ["host-pass-1", "4242", "ssh-secret"] {
            assert!(rows.iter().all(|r| !r.data.contains(plain)), "{plain} at rest");
        }
        let (_, read) = server.get("/api/v1/settings/cluster/hosts", t).await;
        assert_eq!(read["data"][1]["password"], "********");
        for (path, value) in [("cluster/hosts/0/password", json!("host-pass-1")), ("cluster/hosts/1/password", json!(4242)),
            ("cluster/hosts/1/ssh/secret", json!("ssh-secret"))] {
            let (status, revealed) = server.post(&format!("/api/v1/settings/{path}/reveal"), t, json!({})).await;
            assert_eq!((status, &revealed["data"]["value"]), (StatusCode::OK, &value), "{path}: {revealed}");
        }
        let (status, _) = server.post("/api/v1/settings/cluster/hosts/2/password/reveal", t, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn concurrent_writers_lose_nothing(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let writes = (0..12).map(|i| {
            let server = &server;
            let t = s.access_token.clone();
            async move { server.put(&format!("/api/v1/settings/custom/k{i}"), &t, json!(i)).await.0 }
        });
        let statuses = futures::future::join_all(writes).await;
        assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
        let (_, custom) = server.get("/api/v1/settings/custom", &s.access_token).await;
        assert_eq!(custom["data"].as_object().unwrap().len(), 12, "{custom}");
    }

    async fn storage_policy_is_replaced_whole(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        assert_eq!(server.get("/api/v1/settings/storage_policy", t).await.1["data"], json!(null));
        let (status, policy) = server.put("/api/v1/settings/storage_policy", t, json!({"operational": "local", "sync": {"enabled": true}})).await;
        assert_eq!(status, StatusCode::OK, "{policy}");
        assert_eq!(policy["data"]["secrets"], "local-only");
        assert_eq!(policy["data"]["updated_by"], s.user_id);
        let (_, policy) = server.patch("/api/v1/settings/storage_policy", t, json!({"secrets": "local-only"})).await;
        assert_eq!((policy["data"]["operational"].clone(), policy["data"]["sync"].clone()), (json!("cloud"), json!({"enabled": false})));
        let (status, _) = server.put("/api/v1/settings/storage_policy", t, json!({"secrets": "cloud"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = server.put("/api/v1/settings/storage_policy", t, json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(server.get("/api/v1/settings/storage_policy", t).await.1["data"]["operational"], "cloud");
    }
}
