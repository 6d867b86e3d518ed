//! Passwords from the vault, against a real server (in-process) and the fake Proxmox VE:
//! an admin seals the Proxmox password in Rust to the agent's key from pairing and binds it;
//! the agent (`run`, its whole loop) opens it and logs in to Proxmox with it, while its
//! config file never holds it. A secret referred to by id works too (for SSH as well); one whose envelope was
//! moved to another secret does not open, and the agent says so.

use std::time::{Duration, Instant};

use botmox_agent::config::{AgentConfig, SshSettings};
use botmox_agent::pair::{PairOptions, pair};
use botmox_agent::runtime::{Outcome, RunOptions, run};
use botmox_agent::vault::resolve;
use botmox_client::Client;
use botmox_client::vault::seal_to_all;
use botmox_fake_pve::{FakeConfig, FakePve};
use botmox_proto::agent::RevokeRequest;
use botmox_proto::auth::Role;
use botmox_proto::command::{Command, CommandStatus, DispatchRequest};
use botmox_proto::vault::{BindingScope, CreateBindingRequest, CreateSecretRequest};
use botmox_testkit::{Backend, TestServer};
use serde_json::json;

const PVE_USER: &str = "ops@pve";
const PVE_PASSWORD: &str = "from-the-vault-0x5f";

struct Setup {
    server: TestServer,
    admin: Client,
    tenant: String,
    fake: FakePve,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    config: AgentConfig,
}

/// A server, an admin, the fake PVE with a password user, and an agent paired with it.
async fn setup() -> Setup {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let admin = server.client(Some(&session.access_token));
    let fake = FakePve::start(FakeConfig {
        users: vec![(PVE_USER.into(), PVE_PASSWORD.into())],
        task_duration: Some(Duration::from_millis(50)),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let pairing = admin
        .create_pairing(&Default::default())
        .await
        .expect("a pairing");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    let options = PairOptions {
        proxmox_url: Some(fake.url().to_owned()),
        proxmox_user: Some(PVE_USER.into()),
        proxmox_password_secret: Some("proxmox.password".into()),
        node: Some("pve".into()),
        ..PairOptions::default()
    };
    let config = pair(&path, &pairing.pairing_uri, options).await.unwrap();
    assert_eq!(config.tenant_id.as_deref(), Some("acme"));
    assert!(config.vault_private_key.is_some() && config.vault_public_key.is_some());
    let target = &config.targets[0];
    assert_eq!(target.password_secret.as_deref(), Some("proxmox.password"));
    assert!(target.password.is_none());
    Setup {
        server,
        admin,
        tenant: session.tenant,
        fake,
        _dir: dir,
        path,
        config,
    }
}

impl Setup {
    /// Seal `value` as field `field` to this agent; the secret's id.
    async fn secret(&self, field: &str, value: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let me = format!("agent:{}", self.config.agent_id);
        let recipients: Vec<_> = self
            .admin
            .vault_recipients()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.recipient == me)
            .collect();
        assert_eq!(
            recipients.len(),
            1,
            "the agent's key from pairing is listed"
        );
        assert_eq!(
            Some(&recipients[0].key_id),
            self.config.vault_key_id().as_ref()
        );
        let envelopes =
            seal_to_all(&recipients, &self.tenant, &id, field, value.as_bytes()).unwrap();
        let request = CreateSecretRequest {
            id: id.clone(),
            label: "Proxmox password".into(),
            field: field.into(),
            envelopes,
        };
        self.admin.create_secret(&request).await.unwrap();
        id
    }

    /// The config with the target's password from `reference`.
    fn with_vault_password(&self, reference: &str) -> AgentConfig {
        let mut config = self.config.clone();
        config.targets[0].password_secret = Some(reference.into());
        config.check().unwrap();
        config
    }

    fn agent_client(&self) -> Client {
        Client::new(&self.server.url)
            .unwrap()
            .with_token(self.config.token.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_logs_in_to_proxmox_with_a_password_from_the_vault() {
    let s = setup().await;
    let id = s.secret("proxmox.password", PVE_PASSWORD).await;
    let binding = CreateBindingRequest {
        scope_type: BindingScope::Agent,
        scope_id: s.config.agent_id.clone(),
        secret_ref: id.clone(),
        field_name: None,
    };
    s.admin.create_binding(&binding).await.unwrap();

    let agent = tokio::spawn(run(s.path.clone(), RunOptions::default()));
    let command = Command::from_parts("proxmox.status", json!({})).unwrap();
    let dispatched = s
        .admin
        .dispatch(&DispatchRequest::new(&s.config.agent_id, command))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let view = s.admin.get_command(&dispatched.id).await.unwrap();
        if view.status.is_terminal() {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "the command did not finish: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done.status, CommandStatus::Succeeded, "{done:?}");
    assert_eq!(done.result["connected"], true, "{done:?}");

    s.admin
        .revoke_agent(&s.config.agent_id, &RevokeRequest::default())
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(60), agent)
        .await
        .expect("the agent stops once revoked")
        .unwrap()
        .unwrap();
    assert_eq!(outcome, Outcome::Revoked);
    let file = std::fs::read_to_string(&s.path).unwrap();
    assert!(
        !file.contains(PVE_PASSWORD),
        "the password never reaches the file"
    );
    assert!(
        file.contains("password_secret = \"proxmox.password\""),
        "{file}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_by_id_opens_and_a_moved_envelope_does_not() {
    let s = setup().await;
    let first = s.secret("ssh.password", "first-value").await;
    let second = s.secret("ssh.password", "second-value").await;
    let client = s.agent_client();

    let mut config = s.with_vault_password(&first);
    config.ssh = Some(SshSettings {
        password_secret: Some(first.clone()),
        ..SshSettings::default()
    });
    resolve(&mut config, &client).await.unwrap();
    assert_eq!(config.targets[0].password.as_deref(), Some("first-value"));
    assert_eq!(
        config.ssh.as_ref().unwrap().password.as_deref(),
        Some("first-value"),
        "the SSH password too"
    );

    // Unbound field names are refused in words.
    let mut config = s.with_vault_password("proxmox.password");
    let e = resolve(&mut config, &client).await.unwrap_err();
    assert!(format!("{e:#}").contains("no secret is bound"), "{e:#}");

    // The first secret's envelope served as the second's.
    s.server
        .execute(&format!(
            "DELETE FROM vault_envelopes WHERE secret_id = '{second}'"
        ))
        .await
        .unwrap();
    s.server
        .execute(&format!(
            "UPDATE vault_envelopes SET secret_id = '{second}' WHERE secret_id = '{first}'"
        ))
        .await
        .unwrap();
    let mut config = s.with_vault_password(&second);
    let e = resolve(&mut config, &client).await.unwrap_err();
    assert!(format!("{e:#}").contains("does not open"), "{e:#}");
    assert!(config.targets[0].password.is_none());
    drop(s.fake);
}
