//! Tenant isolation across the whole API: every route that takes an id answers 404 to
//! another tenant, changes nothing, and lists never show another tenant's rows.

use botmox_proto::auth::Role;
use botmox_testkit::isolation::{
    Probe, assert_every_id_route_is_covered, assert_not_found_for_other_tenant,
};
use botmox_testkit::{TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends! {
    async fn another_tenants_ids_give_404(backend) {
        let server = TestServer::start(backend).await;
        let a = server.user_session("alpha", "admin@alpha.example", Role::Admin).await;
        let b = server.user_session("beta", "admin@beta.example", Role::Admin).await;
        let t = &a.access_token;
        let member = server.create("/api/v1/users", t, json!({"email": "m@alpha.example", "password": "long-enough-pw", "role": "user"})).await;
        let (_, token) = server.post("/api/v1/tokens", t, json!({"name": "a", "role": "user"})).await;
        let token_id = token["data"]["id"].as_str().unwrap().to_owned();
        let license = server.create("/api/v1/resources/licenses", t, json!({"key": "K-1"})).await;
        let proxy = server.create("/api/v1/resources/proxies", t, json!({"ip": "10.0.0.1", "port": 8080})).await;
        let subscription = server.create("/api/v1/resources/subscriptions", t, json!({"type": "wow"})).await;
        let note = server.create("/api/v1/workspace/notes", t, json!({"title": "n"})).await;
        let event = server.create("/api/v1/workspace/calendar", t, json!({"title": "e", "date": "2026-01-02"})).await;
        let task = server.create("/api/v1/workspace/kanban", t, json!({"title": "k", "status": "todo"})).await;
        let bot = server.create("/api/v1/bots", t, json!({"name": "bot-a"})).await;
        let op = server.create("/api/v1/finance/operations", t,
            json!({"type": "income", "category": "sale", "amount": 10, "currency": "USD", "date": 1_700_000_000_000i64})).await;

        let mut probes = vec![
            Probe::new(Method::GET, "/api/v1/users/{id}", &member),
            Probe::new(Method::PATCH, "/api/v1/users/{id}", &member).with_body(json!({"role": "admin", "disabled": true})),
            Probe::new(Method::DELETE, "/api/v1/tokens/{id}", &token_id),
        ];
        let records: [(&'static str, Option<&'static str>, &String); 8] = [
            ("/api/v1/resources/{kind}/{id}", Some("licenses"), &license),
            ("/api/v1/resources/{kind}/{id}", Some("proxies"), &proxy),
            ("/api/v1/resources/{kind}/{id}", Some("subscriptions"), &subscription),
            ("/api/v1/workspace/{kind}/{id}", Some("notes"), &note),
            ("/api/v1/workspace/{kind}/{id}", Some("calendar"), &event),
            ("/api/v1/workspace/{kind}/{id}", Some("kanban"), &task),
            ("/api/v1/bots/{id}", None, &bot),
            ("/api/v1/finance/operations/{id}", None, &op),
        ];
        for (route, kind, id) in records {
            for method in [Method::GET, Method::PATCH, Method::DELETE] {
                let mut probe = Probe::new(method.clone(), route, id.as_str());
                if method == Method::PATCH {
                    probe = probe.with_body(json!({"description": "taken over"}));
                }
                if let Some(kind) = kind {
                    probe = probe.with_kind(kind);
                }
                probes.push(probe);
            }
        }
        // The bot gets history, the proxy a password, so the read routes have something to leak.
        let (status, _) = server.post(&format!("/api/v1/bots/{bot}/lifecycle/transition"), t, json!({"status": "leveling"})).await;
        assert_eq!(status, StatusCode::OK);
        server.patch(&format!("/api/v1/resources/proxies/{proxy}"), t, json!({"password": "pw"})).await;
        for route in ["/api/v1/bots/{id}/lifecycle", "/api/v1/bots/{id}/lifecycle/transitions",
            "/api/v1/bots/{id}/lifecycle/is-banned", "/api/v1/bots/{id}/lifecycle/log", "/api/v1/bots/{id}/archive",
            "/api/v1/bots/{id}/health"] {
            probes.push(Probe::new(Method::GET, route, &bot));
        }
        probes.push(Probe::new(Method::POST, "/api/v1/bots/{id}/lifecycle/transition", &bot).with_body(json!({"status": "farming"})));
        probes.push(Probe::new(Method::POST, "/api/v1/bots/{id}/lifecycle/ban", &bot)
            .with_body(json!({"ban_date": "01.02.2026", "ban_reason": "x", "ban_mechanism": "other"})));
        probes.push(Probe::new(Method::POST, "/api/v1/bots/{id}/lifecycle/unban", &bot));
        probes.push(Probe::new(Method::POST, "/api/v1/bots/{id}/reveal", &bot).with_body(json!({"field": "account/password"})));
        probes.push(Probe::new(Method::POST, "/api/v1/bots/{id}/generate/person", &bot).with_body(json!({"country": "US"})));
        probes.push(Probe::new(Method::POST, "/api/v1/bots/{id}/generate/account", &bot)
            .with_body(json!({"domain": "mail.example"})));
        let image = [&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d][..], b"IHDR",
            &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]].concat();
        let uploaded = server.http.post(format!("{}/api/v1/theme-assets", server.url)).bearer_auth(t)
            .body(image).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
        let asset = uploaded["data"]["id"].as_str().unwrap().to_owned();
        probes.push(Probe::new(Method::GET, "/api/v1/theme-assets/{id}", &asset));
        probes.push(Probe::new(Method::DELETE, "/api/v1/theme-assets/{id}", &asset));
        probes.push(Probe::new(Method::POST, "/api/v1/bots/{id}/generate/schedule", &bot)
            .with_body(json!({"startTime": "10:00", "endTime": "20:00", "targetActiveMinutes": 300,
                "minSessionMinutes": 60, "minBreakMinutes": 15})));
        probes.push(Probe::new(Method::POST, "/api/v1/resources/{kind}/{id}/reveal", &proxy)
            .with_kind("proxies").with_body(json!({"field": "password"})));
        let (_, pairing) = server.post("/api/v1/agents/pairings", t, json!({"name": "a-agent"})).await;
        let agent = pairing["data"]["id"].as_str().unwrap().to_owned();
        probes.push(Probe::new(Method::GET, "/api/v1/agents/{id}", &agent));
        probes.push(Probe::new(Method::POST, "/api/v1/agents/{id}/revoke", &agent).with_body(json!({})));
        // A's own active agent with a queued command, and B's agent to try it with.
        let (_, pairing) = server.post("/api/v1/agents/pairings", t, json!({})).await;
        let (_, registered) = server.call(Method::POST, "/api/v1/agents/register", None,
            Some(json!({"pairing_code": pairing["data"]["pairing_code"]}))).await;
        let a_agent = registered["data"]["id"].as_str().unwrap().to_owned();
        let command = server.call(Method::POST, "/api/v1/vm-ops/commands", Some(t),
            Some(json!({"agent_id": a_agent, "command_type": "proxmox.status"}))).await.1["data"]["id"].as_str().unwrap().to_owned();
        probes.push(Probe::new(Method::GET, "/api/v1/vm-ops/commands/{id}", &command));
        probes.push(Probe::new(Method::POST, "/api/v1/vm-ops/commands/{id}/cancel", &command).with_body(json!({})));
        // A VM pipeline job of A's (a delete job; the agent never runs it).
        let (status, job) = server.post("/api/v1/vm-jobs/delete", t, json!({"agent_id": a_agent, "vmid": 101})).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let job = job["data"]["id"].as_str().unwrap().to_owned();
        probes.push(Probe::new(Method::GET, "/api/v1/vm-jobs/{id}", &job));
        probes.push(Probe::new(Method::POST, "/api/v1/vm-jobs/{id}/cancel", &job).with_body(json!({})));
        let (_, b_pairing) = server.post("/api/v1/agents/pairings", &b.access_token, json!({})).await;
        let (_, b_agent) = server.call(Method::POST, "/api/v1/agents/register", None,
            Some(json!({"pairing_code": b_pairing["data"]["pairing_code"]}))).await;
        let agent_probes = vec![Probe::new(Method::PATCH, "/api/v1/vm-ops/commands/{id}", &command)
            .with_body(json!({"claim_id": "x", "status": "running"}))];
        let (status, release) = {
            let res = server.http.post(format!("{}/api/v1/artifacts/releases/upload?module=m&platform=windows&version=1", server.url))
                .bearer_auth(t).body("file").send().await.unwrap();
            (res.status(), res.json::<serde_json::Value>().await.unwrap())
        };
        assert_eq!(status, StatusCode::CREATED, "{release}");
        let release = release["data"]["id"].to_string();
        probes.push(Probe::new(Method::PATCH, "/api/v1/artifacts/releases/{id}", &release).with_body(json!({"status": "archived"})));
        probes.push(Probe::new(Method::DELETE, "/api/v1/artifacts/releases/{id}", &release));
        let lic = server.create("/api/v1/license/tenant-licenses", t, json!({"type": "perpetual"})).await;
        probes.push(Probe::new(Method::PATCH, "/api/v1/license/tenant-licenses/{id}", &lic).with_body(json!({"status": "revoked"})));
        probes.push(Probe::new(Method::DELETE, "/api/v1/license/tenant-licenses/{id}", &lic));
        // A vault secret sealed to A's agent, bound to it.
        let (a_vault_agent, _, _) = server.paired_vault_agent(&a).await;
        let (_, keys) = server.get("/api/v1/secrets/recipients", t).await;
        let key = keys["data"].as_array().unwrap().iter()
            .find(|k| k["recipient"] == format!("agent:{a_vault_agent}")).unwrap()["public_key"].as_str().unwrap().to_owned();
        let secret = uuid::Uuid::new_v4().to_string();
        let recipient = format!("agent:{a_vault_agent}");
        let envelope = botmox_client::vault::seal(&recipient, &key, "alpha", &secret, "ssh.password", b"pw").unwrap();
        let (status, _) = server.post("/api/v1/secrets", t,
            json!({"id": secret, "label": "s", "field": "ssh.password", "envelopes": [envelope]})).await;
        assert_eq!(status, StatusCode::CREATED);
        let binding = server.create("/api/v1/secrets/bindings", t,
            json!({"scope_type": "agent", "scope_id": a_vault_agent, "secret_ref": secret})).await;
        probes.push(Probe::new(Method::GET, "/api/v1/secrets/{id}/meta", &secret));
        probes.push(Probe::new(Method::GET, "/api/v1/secrets/{id}/ciphertext", &secret));
        probes.push(Probe::new(Method::POST, "/api/v1/secrets/{id}/rotate", &secret).with_body(json!({"envelopes": [envelope]})));
        probes.push(Probe::new(Method::DELETE, "/api/v1/secrets/{id}", &secret));
        probes.push(Probe::new(Method::DELETE, "/api/v1/secrets/bindings/{id}", &binding));
        // Provisioning: A's profile, playbook and a token of A's VM (the server needs a public
        // URL for that, so the token row is written directly, as issuing would).
        let profile = server.create("/api/v1/unattend-profiles", t, json!({"name": "p", "config": {
            "user": {"nameMode": "random"}, "computerName": {"mode": "random"}, "locale": {},
            "softwareRemoval": {"mode": "fixed"}, "capabilityRemoval": {"mode": "fixed"},
            "windowsSettings": {}, "visualEffects": {}, "desktopIcons": {}}})).await;
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let probe = Probe::new(method.clone(), "/api/v1/unattend-profiles/{id}", &profile);
            probes.push(if method == Method::PUT { probe.with_body(json!({"name": "taken"})) } else { probe });
        }
        let playbook = server.create("/api/v1/playbooks", t, json!({"name": "b", "content": "name: x\nroles:\n  - role: base-system\n"})).await;
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let probe = Probe::new(method.clone(), "/api/v1/playbooks/{id}", &playbook);
            probes.push(if method == Method::PUT { probe.with_body(json!({"name": "taken"})) } else { probe });
        }
        let (status, _) = server.post("/api/v1/vm/register", t, json!({"vm_uuid": "alpha-vm-0001"})).await;
        assert_eq!(status, StatusCode::CREATED);
        let token_id = uuid::Uuid::new_v4().to_string();
        let now = chrono::Utc::now().timestamp_millis();
        server.execute(&format!("INSERT INTO provisioning_tokens (id, tenant_id, user_id, vm_uuid, token_hash, status, \
            issued_at, expires_at) VALUES ('{token_id}', 'alpha', '{}', 'alpha-vm-0001', 'h', 'active', {now}, {})",
            a.user_id, now + 86_400_000)).await.unwrap();
        probes.push(Probe::new(Method::POST, "/api/v1/provisioning/tokens/{id}/revoke", &token_id).with_body(json!({})));
        for path in ["/api/v1/provisioning/progress/alpha-vm-0001", "/api/v1/provisioning/tokens?vm_uuid=alpha-vm-0001"] {
            let (status, _) = server.get(path, &b.access_token).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let all: Vec<Probe> = probes.iter().cloned().chain(agent_probes.iter().cloned()).collect();
        assert_every_id_route_is_covered(&all);
        assert_not_found_for_other_tenant(&server, &b.access_token, &probes).await;
        assert_not_found_for_other_tenant(&server, b_agent["data"]["agent_token"].as_str().unwrap(), &agent_probes).await;
        let (_, still) = server.get(&format!("/api/v1/vm-ops/commands/{command}"), t).await;
        assert_eq!(still["data"]["status"], "queued", "B changed nothing");
        // Ids in query strings too: B cannot watch A's agent, nor dispatch to it.
        let (status, _) = server.get(&format!("/api/v1/vm-ops/events?agent_id={a_agent}"), &b.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = server.post("/api/v1/vm-ops/commands", &b.access_token,
            json!({"agent_id": a_agent, "command_type": "proxmox.status"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Nothing changed for tenant A.
        let (_, still) = server.get(&format!("/api/v1/users/{member}"), t).await;
        assert_eq!((still["data"]["role"].clone(), still["data"]["disabled"].clone()), (json!("user"), json!(false)));
        assert_eq!(server.get("/api/v1/auth/whoami", token["data"]["token"].as_str().unwrap()).await.0, StatusCode::OK);
        let (status, bot_doc) = server.get(&format!("/api/v1/bots/{bot}"), t).await;
        assert_eq!(status, StatusCode::OK);
        assert!(bot_doc["data"].get("description").is_none());
        assert_eq!(bot_doc["data"]["status"], "leveling", "B's lifecycle calls changed nothing");

        // Settings are per tenant: B neither sees nor changes A's tree.
        let (status, _) = server.put("/api/v1/settings/alerts", t, json!({"warning_days": 9})).await;
        assert_eq!(status, StatusCode::OK);
        let (_, theirs) = server.get("/api/v1/settings", &b.access_token).await;
        assert_eq!(theirs["data"], json!({}));
        server.put("/api/v1/settings/alerts", &b.access_token, json!({"warning_days": 30})).await;
        let (_, ours) = server.get("/api/v1/settings/alerts/warning_days", t).await;
        assert_eq!(ours["data"], 9);
        // B's lists hold none of A's rows; A may reuse no id of B's and vice versa.
        for path in ["/api/v1/users", "/api/v1/tokens", "/api/v1/resources/licenses", "/api/v1/resources/proxies",
            "/api/v1/workspace/notes", "/api/v1/bots", "/api/v1/finance/operations"] {
            let (_, list) = server.get(path, &b.access_token).await;
            let own = if path == "/api/v1/users" { 1 } else { 0 };
            assert_eq!(list["meta"]["total"], own, "{path}: {list}");
        }
        let (status, _) = server.post("/api/v1/bots", &b.access_token, json!({"id": bot, "name": "same id, other tenant"})).await;
        assert_eq!(status, StatusCode::CREATED, "ids are per tenant");
        let (status, _) = server.get(&format!("/api/v1/secrets/{secret}/meta"), t).await;
        assert_eq!(status, StatusCode::OK, "B deleted none of A's secrets");
        let (_, bindings) = server.get("/api/v1/secrets/bindings", t).await;
        assert_eq!(bindings["data"].as_array().unwrap().len(), 1, "nor A's binding");
        let (_, audit) = server.get("/api/v1/audit?limit=200", &b.access_token).await;
        assert!(audit["data"].as_array().unwrap().iter().all(|r| r["tenant_id"] == "beta"), "{audit}");
    }
}
