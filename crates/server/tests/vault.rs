//! The vault over the API, on SQLite and PostgreSQL: secrets sealed in Rust to agents and
//! users open only for their recipient; metadata never carries ciphertext; admins alone
//! change secrets and bindings; bindings reach the agents they name; an envelope the server
//! moves to another secret no longer opens; and another tenant sees none of it.

use botmox_client::vault::{VaultError, generate_key_pair, open, seal};
use botmox_proto::auth::Role;
use botmox_proto::vault::{SealedEnvelope, SecretCiphertext};
use botmox_server::cli::{Cli, Command};
use botmox_testkit::{Backend, Session, TestServer, both_backends};
use clap::Parser;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The recipients' public keys as the server lists them: recipient -> public key.
async fn recipients(server: &TestServer, token: &str) -> Vec<(String, String)> {
    let (status, body) = server.get("/api/v1/secrets/recipients", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["recipient"].as_str().unwrap().to_owned(),
                r["public_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `value` sealed to each of `to`, with their keys from the server, for `tenant`.
async fn sealed(
    server: &TestServer,
    s: &Session,
    to: &[&str],
    id: &str,
    field: &str,
    value: &str,
) -> Vec<SealedEnvelope> {
    let keys = recipients(server, &s.access_token).await;
    to.iter()
        .map(|r| {
            let (_, key) = keys
                .iter()
                .find(|(name, _)| name == r)
                .unwrap_or_else(|| panic!("{r} is not among the recipients {keys:?}"));
            seal(r, key, &s.tenant, id, field, value.as_bytes()).unwrap()
        })
        .collect()
}

async fn create_secret(
    server: &TestServer,
    admin: &Session,
    to: &[&str],
    field: &str,
    value: &str,
) -> String {
    let id = new_id();
    let envelopes = sealed(server, admin, to, &id, field, value).await;
    let (status, body) = server
        .post(
            "/api/v1/secrets",
            &admin.access_token,
            json!({"id": id, "label": "a secret", "field": field, "envelopes": envelopes}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id
}

async fn ciphertext(server: &TestServer, token: &str, id: &str) -> (StatusCode, Value) {
    server
        .get(&format!("/api/v1/secrets/{id}/ciphertext"), token)
        .await
}

/// The value `token`'s caller gets for secret `id`, opened with `private_key`.
async fn opened(
    server: &TestServer,
    token: &str,
    private_key: &str,
    tenant: &str,
    id: &str,
) -> String {
    let (status, body) = ciphertext(server, token, id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sealed: SecretCiphertext = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(sealed.id, id);
    let plain = open(private_key, tenant, id, &sealed.field, &sealed.envelope).unwrap();
    String::from_utf8(plain).unwrap()
}

/// A user's vault key pair, the public half registered: the private key.
async fn vault_key(server: &TestServer, s: &Session) -> String {
    let (private_key, public_key) = generate_key_pair();
    let (status, body) = server
        .put(
            "/api/v1/secrets/vault-key",
            &s.access_token,
            json!({"public_key": public_key}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["recipient"], format!("user:{}", s.user_id));
    private_key
}

fn no_ciphertext_in(body: &Value) {
    let text = body.to_string();
    for word in ["\"ciphertext\"", "\"enc\"", "\"nonce\""] {
        assert!(!text.contains(word), "metadata carries {word}: {text}");
    }
}

both_backends! {
    async fn secrets_open_only_for_their_recipients_and_rotate_and_delete(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let member = server.user_session("acme", "m@acme.example", Role::User).await;
        let (agent_a, token_a, key_a) = server.paired_vault_agent(&admin).await;
        let (agent_b, token_b, _key_b) = server.paired_vault_agent(&admin).await;
        let admin_key = vault_key(&server, &admin).await;
        let (status, mine) = server.get("/api/v1/secrets/vault-key", &admin.access_token).await;
        assert_eq!(status, StatusCode::OK, "{mine}");
        let (status, _) = server.get("/api/v1/secrets/vault-key", &member.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the member registered none");
        let (status, bad) = server.put("/api/v1/secrets/vault-key", &member.access_token, json!({"public_key": "BAAA"})).await;
        assert_eq!((status, code(&bad)), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{bad}");

        let listed: Vec<String> = recipients(&server, &member.access_token).await.into_iter().map(|r| r.0).collect();
        for r in [format!("agent:{agent_a}"), format!("agent:{agent_b}"), format!("user:{}", admin.user_id)] {
            assert!(listed.contains(&r), "{r} missing from {listed:?}");
        }
        assert!(!listed.contains(&format!("user:{}", member.user_id)));

        let (a, u) = (format!("agent:{agent_a}"), format!("user:{}", admin.user_id));
        let id = create_secret(&server, &admin, &[&a, &u], "proxmox.password", "s3cret-pve").await;

        // Metadata for every member, never ciphertext.
        let (status, meta) = server.get(&format!("/api/v1/secrets/{id}/meta"), &member.access_token).await;
        assert_eq!(status, StatusCode::OK, "{meta}");
        assert_eq!(meta["data"]["field"], "proxmox.password");
        assert_eq!(meta["data"]["alg"], "HPKE-P256-SHA256-AES256GCM");
        assert_eq!(meta["data"]["recipients"].as_array().unwrap().len(), 2);
        no_ciphertext_in(&meta);
        let (status, list) = server.get("/api/v1/secrets", &member.access_token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        no_ciphertext_in(&list);

        // Each recipient gets its own envelope; nobody else gets one.
        assert_eq!(opened(&server, &token_a, &key_a, "acme", &id).await, "s3cret-pve");
        assert_eq!(opened(&server, &admin.access_token, &admin_key, "acme", &id).await, "s3cret-pve");
        for token in [&token_b, &member.access_token] {
            let (status, body) = ciphertext(&server, token, &id).await;
            assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "SECRET_NOT_FOUND"), "{body}");
        }
        let (status, _) = ciphertext(&server, &token_a, &new_id()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Only admins change secrets.
        let other = new_id();
        let envelopes = sealed(&server, &admin, &[&a], &other, "f", "x").await;
        let (status, body) = server.post("/api/v1/secrets", &member.access_token,
            json!({"id": other, "label": "l", "field": "f", "envelopes": envelopes})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _) = server.post(&format!("/api/v1/secrets/{id}/rotate"), &member.access_token,
            json!({"envelopes": envelopes})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = server.delete(&format!("/api/v1/secrets/{id}"), &member.access_token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Refused bodies: the same id again, an unknown recipient, a stale key, bad shapes.
        let again = sealed(&server, &admin, &[&a], &id, "proxmox.password", "x").await;
        let (status, body) = server.post("/api/v1/secrets", &admin.access_token,
            json!({"id": id, "label": "l", "field": "proxmox.password", "envelopes": again})).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "SECRET_EXISTS"), "{body}");
        let mut stranger = envelopes[0].clone();
        stranger.recipient = format!("user:{}", member.user_id);
        let (status, body) = server.post("/api/v1/secrets", &admin.access_token,
            json!({"id": other, "label": "l", "field": "f", "envelopes": [stranger]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"]["details"]["fieldErrors"]["envelopes[0].recipient"].is_array(), "{body}");
        let new_key = vault_key(&server, &admin).await;
        let to_admin = seal(&u, &generate_key_pair().1, "acme", &other, "f", b"x").unwrap();
        let (status, body) = server.post("/api/v1/secrets", &admin.access_token,
            json!({"id": other, "label": "l", "field": "f", "envelopes": [envelopes[0].clone(), to_admin]})).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "VAULT_KEY_MISMATCH"), "{body}");
        let (status, body) = server.post("/api/v1/secrets", &admin.access_token,
            json!({"id": "not-a-uuid", "label": "", "field": "a b", "envelopes": []})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        for field in ["id", "label", "field", "envelopes"] {
            assert!(body["error"]["details"]["fieldErrors"][field].is_array(), "{field}: {body}");
        }
        let (status, _) = server.get(&format!("/api/v1/secrets/{other}/meta"), &admin.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing refused was stored");

        // Rotation: a new value, to agent A and the admin's new key only.
        let envelopes = sealed(&server, &admin, &[&a, &u], &id, "proxmox.password", "rotated-pve").await;
        let (status, meta) = server.post(&format!("/api/v1/secrets/{id}/rotate"), &admin.access_token,
            json!({"label": "renamed", "envelopes": envelopes})).await;
        assert_eq!(status, StatusCode::OK, "{meta}");
        assert_eq!(meta["data"]["label"], "renamed");
        assert!(meta["data"]["rotated_at"].is_i64());
        no_ciphertext_in(&meta);
        assert_eq!(opened(&server, &token_a, &key_a, "acme", &id).await, "rotated-pve");
        assert_eq!(opened(&server, &admin.access_token, &new_key, "acme", &id).await, "rotated-pve");
        let (status, _) = server.post(&format!("/api/v1/secrets/{}/rotate", new_id()), &admin.access_token,
            json!({"envelopes": envelopes})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Deletion takes envelopes and bindings with it.
        let (status, _) = server.post("/api/v1/secrets/bindings", &admin.access_token,
            json!({"scope_type": "agent", "scope_id": agent_a, "secret_ref": id})).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = server.delete(&format!("/api/v1/secrets/{id}"), &admin.access_token).await;
        assert_eq!(status, StatusCode::OK);
        for path in [format!("/api/v1/secrets/{id}/meta"), format!("/api/v1/secrets/{id}/ciphertext")] {
            let (status, body) = server.get(&path, &admin.access_token).await;
            assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "SECRET_NOT_FOUND"), "{path}");
        }
        let (_, bound) = server.get("/api/v1/secrets/agent/bound", &token_a).await;
        assert_eq!(bound["data"], json!([]));
        let (status, _) = server.delete(&format!("/api/v1/secrets/{id}"), &admin.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Reading a ciphertext is audited, whoever reads it.
        let (_, audit) = server.get("/api/v1/audit?limit=200", &admin.access_token).await;
        let actions: Vec<&str> = audit["data"].as_array().unwrap().iter().filter_map(|r| r["action"].as_str()).collect();
        for action in ["secret.create", "secret.read", "secret.rotate", "secret.delete", "vault_key.put"] {
            assert!(actions.contains(&action), "{action} not audited: {actions:?}");
        }
    }

    async fn bindings_reach_the_agents_they_name(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let member = server.user_session("acme", "m@acme.example", Role::User).await;
        let (agent_a, token_a, key_a) = server.paired_vault_agent(&admin).await;
        let (agent_b, token_b, key_b) = server.paired_vault_agent(&admin).await;
        let (a, b) = (format!("agent:{agent_a}"), format!("agent:{agent_b}"));
        let pve = create_secret(&server, &admin, &[&a, &b], "proxmox.password", "pve-pw").await;
        let ssh = create_secret(&server, &admin, &[&b], "ssh.password", "ssh-pw").await;
        let t = &admin.access_token;

        let (status, binding) = server.post("/api/v1/secrets/bindings", t,
            json!({"scope_type": "agent", "scope_id": agent_a, "secret_ref": pve, "field_name": "proxmox.password"})).await;
        assert_eq!(status, StatusCode::CREATED, "{binding}");
        assert_eq!(binding["data"]["field_name"], "proxmox.password");
        let (status, shared) = server.post("/api/v1/secrets/bindings", t,
            json!({"scope_type": "vm_settings", "scope_id": "vmgenerator", "secret_ref": ssh})).await;
        assert_eq!(status, StatusCode::CREATED, "{shared}");

        // A gets its own binding; the shared one is sealed to B only, so A does not get it.
        let (status, bound) = server.get("/api/v1/secrets/agent/bound", &token_a).await;
        assert_eq!(status, StatusCode::OK, "{bound}");
        let bound = bound["data"].as_array().unwrap().clone();
        assert_eq!(bound.len(), 1, "{bound:?}");
        let secret: SecretCiphertext = serde_json::from_value(bound[0]["secret"].clone()).unwrap();
        assert_eq!(secret.envelope.recipient, a);
        assert_eq!(open(&key_a, "acme", &pve, "proxmox.password", &secret.envelope).unwrap(), b"pve-pw");
        let (_, bound) = server.get("/api/v1/secrets/agent/bound", &token_b).await;
        let bound = bound["data"].as_array().unwrap().clone();
        assert_eq!(bound.len(), 1, "B is bound only through vm_settings: {bound:?}");
        assert_eq!(bound[0]["binding"]["scope_type"], "vm_settings");
        let secret: SecretCiphertext = serde_json::from_value(bound[0]["secret"].clone()).unwrap();
        assert_eq!(open(&key_b, "acme", &ssh, "ssh.password", &secret.envelope).unwrap(), b"ssh-pw");
        let (status, _) = server.get("/api/v1/secrets/agent/bound", t).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "an agent route");

        // Binding the same scope and field again replaces the secret.
        let pve2 = create_secret(&server, &admin, &[&a], "proxmox.password", "pve-pw-2").await;
        let (status, again) = server.post("/api/v1/secrets/bindings", t,
            json!({"scope_type": "agent", "scope_id": agent_a, "secret_ref": pve2})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(again["data"]["id"], binding["data"]["id"]);
        assert_eq!(again["data"]["secret_ref"], pve2.as_str());
        let (_, list) = server.get(&format!("/api/v1/secrets/bindings?scope_type=agent&scope_id={agent_a}"), &member.access_token).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
        let (_, list) = server.get("/api/v1/secrets/bindings", &member.access_token).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");

        // Refused: unknown scope, renamed field, unknown secret, a member.
        for (body, field) in [
            (json!({"scope_type": "planet", "scope_id": "x", "secret_ref": pve}), "scope_type"),
            (json!({"scope_type": "tenant", "scope_id": "acme", "secret_ref": pve, "field_name": "ssh.password"}), "field_name"),
            (json!({"scope_type": "tenant", "scope_id": "acme", "secret_ref": new_id()}), "secret_ref"),
            (json!({"scope_type": "tenant", "scope_id": "", "secret_ref": "nope"}), "secret_ref"),
        ] {
            let (status, answer) = server.post("/api/v1/secrets/bindings", t, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
            assert!(answer["error"]["details"]["fieldErrors"][field].is_array(), "{field}: {answer}");
        }
        let (status, _) = server.get("/api/v1/secrets/bindings?scope_type=planet", t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = server.post("/api/v1/secrets/bindings", &member.access_token,
            json!({"scope_type": "bot", "scope_id": "b1", "secret_ref": pve})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        for scope in ["bot", "vm", "tenant"] {
            let (status, body) = server.post("/api/v1/secrets/bindings", t,
                json!({"scope_type": scope, "scope_id": "x1", "secret_ref": pve})).await;
            assert_eq!(status, StatusCode::CREATED, "{scope}: {body}");
        }

        // Unbinding: admins only; the secret stays.
        let id = binding["data"]["id"].as_str().unwrap();
        let (status, _) = server.delete(&format!("/api/v1/secrets/bindings/{id}"), &member.access_token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = server.delete(&format!("/api/v1/secrets/bindings/{id}"), t).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = server.delete(&format!("/api/v1/secrets/bindings/{id}"), t).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, bound) = server.get("/api/v1/secrets/agent/bound", &token_a).await;
        let fields: Vec<&str> = bound["data"].as_array().unwrap().iter()
            .map(|b| b["binding"]["scope_type"].as_str().unwrap()).collect();
        assert_eq!(fields, ["tenant"], "only the tenant-wide binding of pve is left: {bound}");
        let (status, _) = server.get(&format!("/api/v1/secrets/{pve2}/meta"), t).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn an_envelope_moved_to_another_secret_does_not_open(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let (agent, token, key) = server.paired_vault_agent(&admin).await;
        let a = format!("agent:{agent}");
        let first = create_secret(&server, &admin, &[&a], "proxmox.password", "first-value").await;
        let second = create_secret(&server, &admin, &[&a], "proxmox.password", "second-value").await;

        // The server (or whoever writes its database) puts the first secret's envelope in
        // the place of the second's.
        server.execute(&format!(
            "DELETE FROM vault_envelopes WHERE secret_id = '{second}'")).await.unwrap();
        let moved = server.execute(&format!(
            "UPDATE vault_envelopes SET secret_id = '{second}' WHERE secret_id = '{first}'")).await.unwrap();
        assert_eq!(moved, 1);

        let (status, body) = ciphertext(&server, &token, &second).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let sealed: SecretCiphertext = serde_json::from_value(body["data"].clone()).unwrap();
        assert_eq!(
            open(&key, "acme", &second, &sealed.field, &sealed.envelope),
            Err(VaultError::Open),
            "opened as the secret it is served as, it fails"
        );
        // It is the first secret's envelope indeed: as that one it opens.
        assert_eq!(open(&key, "acme", &first, &sealed.field, &sealed.envelope).unwrap(), b"first-value");
        assert_eq!(open(&key, "other", &first, &sealed.field, &sealed.envelope), Err(VaultError::Open));
    }

    async fn another_tenant_sees_and_changes_nothing(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("alpha", "admin@alpha.example", Role::Admin).await;
        let intruder = server.user_session("beta", "admin@beta.example", Role::Admin).await;
        let (agent, token, key) = server.paired_vault_agent(&admin).await;
        let (beta_agent, beta_token, _) = server.paired_vault_agent(&intruder).await;
        let a = format!("agent:{agent}");
        let id = create_secret(&server, &admin, &[&a], "proxmox.password", "alpha-only").await;
        let (_, binding) = server.post("/api/v1/secrets/bindings", &admin.access_token,
            json!({"scope_type": "tenant", "scope_id": "alpha", "secret_ref": id})).await;
        let binding = binding["data"]["id"].as_str().unwrap().to_owned();
        let b = &intruder.access_token;

        let envelopes = sealed(&server, &intruder, &[&format!("agent:{beta_agent}")], &id, "proxmox.password", "x").await;
        for (method, path, body) in [
            (reqwest::Method::GET, format!("/api/v1/secrets/{id}/meta"), None),
            (reqwest::Method::GET, format!("/api/v1/secrets/{id}/ciphertext"), None),
            (reqwest::Method::POST, format!("/api/v1/secrets/{id}/rotate"), Some(json!({"envelopes": envelopes}))),
            (reqwest::Method::DELETE, format!("/api/v1/secrets/{id}"), None),
            (reqwest::Method::DELETE, format!("/api/v1/secrets/bindings/{binding}"), None),
        ] {
            let (status, answer) = server.call(method.clone(), &path, Some(b), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        }
        let (status, _) = ciphertext(&server, &beta_token, &id).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's agent");
        // Lists and recipients hold nothing of alpha's; beta cannot bind or seal to alpha's.
        for path in ["/api/v1/secrets", "/api/v1/secrets/bindings"] {
            let (_, list) = server.get(path, b).await;
            assert_eq!(list["data"], json!([]), "{path}");
        }
        let theirs: Vec<String> = recipients(&server, b).await.into_iter().map(|r| r.0).collect();
        assert_eq!(theirs, [format!("agent:{beta_agent}")]);
        let (_, bound) = server.get("/api/v1/secrets/agent/bound", &beta_token).await;
        assert_eq!(bound["data"], json!([]));
        let (status, _) = server.post("/api/v1/secrets/bindings", b,
            json!({"scope_type": "tenant", "scope_id": "beta", "secret_ref": id})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let to_alpha = sealed(&server, &admin, &[&a], &id, "proxmox.password", "x").await;
        let (status, _) = server.post("/api/v1/secrets", b,
            json!({"id": new_id(), "label": "l", "field": "proxmox.password", "envelopes": to_alpha})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "alpha's agent is no recipient of beta");
        // The same id in beta is another secret: ids are per tenant.
        let mine = sealed(&server, &intruder, &[&format!("agent:{beta_agent}")], &id, "proxmox.password", "beta").await;
        let (status, _) = server.post("/api/v1/secrets", b,
            json!({"id": id, "label": "l", "field": "proxmox.password", "envelopes": mine})).await;
        assert_eq!(status, StatusCode::CREATED);
        // Alpha's secret is untouched.
        assert_eq!(opened(&server, &token, &key, "alpha", &id).await, "alpha-only");
        let (_, bindings) = server.get("/api/v1/secrets/bindings", &admin.access_token).await;
        assert_eq!(bindings["data"].as_array().unwrap().len(), 1);
    }
}

/// `botmox secret ...` against `server` with an API token, `input` as its standard input:
/// what it printed, or its error.
async fn cli(
    server: &TestServer,
    token: &str,
    args: &[&str],
    input: &str,
) -> anyhow::Result<String> {
    let mut argv = vec![
        "botmox",
        "secret",
        "--server",
        &server.url,
        "--token",
        token,
    ];
    argv.extend_from_slice(args);
    let Command::Secret { remote, command } = Cli::try_parse_from(argv)?.command else {
        unreachable!("a secret command")
    };
    let mut out = Vec::new();
    botmox_server::cli::secret(remote, command, &mut input.as_bytes(), &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_seals_from_standard_input_and_the_agent_opens_it() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let (agent, agent_token, key) = server.paired_vault_agent(&admin).await;
    let (_, token) = server
        .post(
            "/api/v1/tokens",
            &admin.access_token,
            json!({"name": "cli", "role": "admin"}),
        )
        .await;
    let token = token["data"]["token"].as_str().unwrap().to_owned();
    let to = format!("agent:{agent}");

    let listed = cli(&server, &token, &["recipients"], "").await.unwrap();
    assert!(listed.contains(&to), "{listed}");
    let put = [
        "put",
        "--label",
        "PVE root",
        "--field",
        "proxmox.password",
        "--to",
        &to,
    ];
    let id = cli(&server, &token, &put, "typed-in-stdin\n")
        .await
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        opened(&server, &agent_token, &key, "acme", &id).await,
        "typed-in-stdin"
    );
    let ls = cli(&server, &token, &["ls"], "").await.unwrap();
    assert!(
        ls.contains(&id) && ls.contains("PVE root") && ls.contains(&to),
        "{ls}"
    );
    assert!(!ls.contains("typed-in-stdin"));

    let rotate = [
        "put",
        "--label",
        "PVE root",
        "--field",
        "proxmox.password",
        "--to",
        &to,
        "--rotate",
        &id,
    ];
    cli(&server, &token, &rotate, "second\r\n").await.unwrap();
    assert_eq!(
        opened(&server, &agent_token, &key, "acme", &id).await,
        "second"
    );

    // A user's own vault key: made and registered by the CLI, then a secret sealed to it
    // reads back on this machine only.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("vault.key");
    let key_path = key_file.to_str().unwrap();
    let me = cli(&server, &token, &["key", "--out", key_path], "")
        .await
        .unwrap();
    let user = format!("user:{}", admin.user_id);
    assert!(me.starts_with(&user), "{me}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        cli(&server, &token, &["key", "--out", key_path], "")
            .await
            .is_err(),
        "never overwritten"
    );
    let both = [
        "put",
        "--label",
        "l",
        "--field",
        "ssh.password",
        "--to",
        &to,
        "--to",
        &user,
    ];
    let mine = cli(&server, &token, &both, "for-me")
        .await
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        cli(&server, &token, &["get", &mine, "--key", key_path], "")
            .await
            .unwrap(),
        "for-me"
    );
    let e = cli(&server, &token, &["get", &id, "--key", key_path], "")
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("SECRET_NOT_FOUND"),
        "not sealed to the user: {e:#}"
    );

    let e = cli(&server, &token, &put, "").await.unwrap_err();
    assert!(format!("{e:#}").contains("no value"), "{e:#}");
    let stranger = [
        "put",
        "--label",
        "l",
        "--field",
        "f",
        "--to",
        "agent:nobody",
    ];
    let e = cli(&server, &token, &stranger, "x").await.unwrap_err();
    assert!(format!("{e:#}").contains("not a recipient"), "{e:#}");
    assert!(
        Cli::try_parse_from([
            "botmox", "secret", "--server", "http://x", "--token", "t", "put", "--label", "l",
            "--field", "f"
        ])
        .is_err(),
        "--to is required"
    );
}
