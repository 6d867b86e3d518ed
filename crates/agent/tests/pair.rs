//! Pairing against a real server (in-process): every paste form, the config it writes, the
//! bundle's Proxmox hints, a second pairing that keeps the settings, and refused codes.

use botmox_agent::config::{AgentConfig, DEFAULT_TARGET_ID};
use botmox_agent::pair::{PairOptions, pair};
use botmox_proto::agent::{PairingBundle, ProxmoxHints};
use botmox_proto::auth::Role;
use botmox_testkit::{Backend, TestServer};
use serde_json::{Value, json};

const TOKEN: &str = "root@pam!agent=11111111-2222-3333-4444-555555555555";

async fn new_pairing(server: &TestServer, token: &str) -> Value {
    let (status, body) = server
        .post("/api/v1/agents/pairings", token, json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_registers_writes_the_config_and_keeps_settings_when_paired_again() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("default", "ops@example.com", Role::Admin)
        .await;
    let token = admin.access_token.as_str();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");

    // The `/agent/pair?bundle=` link, with the Proxmox and SSH settings as flags.
    let first = new_pairing(&server, token).await;
    let link = first["pairing_url"].as_str().expect("a pairing link");
    let options = PairOptions {
        proxmox_url: Some("https://pve.lan:8006".into()),
        proxmox_token: Some(TOKEN.into()),
        node: Some("pve1".into()),
        ssh_key: Some("/root/.ssh/id_ed25519".into()),
        ..PairOptions::default()
    };
    let config = pair(&path, link, options).await.unwrap();
    assert_eq!(config.server_url, server.url);
    assert!(config.token.starts_with("bma_"));
    assert!(config.token_expires_at.is_some());
    assert!(config.public_key.starts_with("ssh-ed25519 "));
    let target = &config.targets[0];
    assert_eq!(target.id, DEFAULT_TARGET_ID);
    assert_eq!(
        (target.url.as_str(), target.node.as_str()),
        ("https://pve.lan:8006", "pve1")
    );
    assert_eq!(target.token.as_deref(), Some(TOKEN));
    let ssh = config.ssh.as_ref().unwrap();
    assert_eq!(
        ssh.key_file.as_deref(),
        Some(std::path::Path::new("/root/.ssh/id_ed25519"))
    );
    assert!(
        ssh.host_key.is_none(),
        "a host key is pinned only by `ssh trust`"
    );
    let on_disk = AgentConfig::load(&path).unwrap();
    assert_eq!(on_disk.token, config.token);

    // The server registered it with the public key and capabilities.
    let (status, agent) = server
        .get(&format!("/api/v1/agents/{}", config.agent_id), token)
        .await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(agent["data"]["status"], "active");
    assert_eq!(agent["data"]["public_key"], config.public_key.as_str());
    assert_eq!(agent["data"]["capabilities"], json!(["proxmox", "ssh"]));

    // Pairing again with the bare bundle: a new identity, the same Proxmox and SSH settings.
    let second = new_pairing(&server, token).await;
    let bundle = second["pairing_bundle"].as_str().unwrap();
    let again = pair(&path, bundle, PairOptions::default()).await.unwrap();
    assert_ne!(again.agent_id, config.agent_id);
    assert_ne!(again.token, config.token);
    assert_ne!(again.private_key, config.private_key);
    assert_eq!(again.targets[0].token.as_deref(), Some(TOKEN));
    assert_eq!(again.targets[0].node, "pve1");
    assert!(again.ssh.is_some());

    // A used code, and pastes that hold no pairing, are refused in words.
    let used = format!(
        "{:#}",
        pair(&path, bundle, PairOptions::default())
            .await
            .unwrap_err()
    );
    assert!(used.contains("does not know this pairing code"), "{used}");
    let bare = format!(
        "{:#}",
        pair(
            &path,
            "0123456789abcdef0123456789abcdef",
            PairOptions::default()
        )
        .await
        .unwrap_err()
    );
    assert!(bare.contains("--server-url"), "{bare}");
    let junk = format!(
        "{:#}",
        pair(&path, "", PairOptions::default()).await.unwrap_err()
    );
    assert!(junk.contains("pairing string"), "{junk}");
    assert_eq!(
        AgentConfig::load(&path).unwrap().agent_id,
        again.agent_id,
        "a failed pairing changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_hints_fill_the_proxmox_target() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("default", "ops@example.com", Role::Admin)
        .await;
    let created = new_pairing(&server, &admin.access_token).await;
    let code = created["pairing_code"].as_str().unwrap();
    // A bundle as the server makes it when the tenant's settings hold Proxmox hints.
    let hints = ProxmoxHints {
        url: Some("https://10.0.0.5:8006".into()),
        username: Some("root@pam".into()),
        node: Some("h7".into()),
    };
    let uri = PairingBundle::new(code, Some(server.url.clone()), Some(hints)).uri();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    let options = PairOptions {
        proxmox_password: Some("secret".into()),
        ..PairOptions::default()
    };
    let config = pair(&path, &uri, options).await.unwrap();
    let target = &config.targets[0];
    assert_eq!(target.url, "https://10.0.0.5:8006");
    assert_eq!(target.node, "h7");
    assert_eq!(target.username.as_deref(), Some("root@pam"));
    assert_eq!(target.password.as_deref(), Some("secret"));
    assert!(target.token.is_none());
    assert!(config.ssh.is_none());
}
