//! The SSH executors against a real OpenSSH server (Debian's `openssh-server`, started here
//! on a free port of 127.0.0.1 with its own host key and config): status, reading and
//! writing a VM config file (in a temporary directory configured as the config directory),
//! allowed and refused commands, wrong credentials, a closed port, a changed host key, and
//! `botmox-agent ssh trust`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use botmox_agent::config::{
    AgentConfig, DEFAULT_TARGET_ID, ProxmoxTarget, SshSettings, generate_key_pair,
};
use botmox_agent::error::code;
use botmox_agent::executor::Executor;
use botmox_proto::command::Command as AgentCommand;
use serde_json::{Value, json};

const SSHD: &str = "/usr/sbin/sshd";

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// An sshd in the foreground (`-D -e`) with a config of its own.
struct Sshd {
    child: Child,
    log: PathBuf,
}

impl Sshd {
    fn start(dir: &Path, host_key: &Path, port: u16) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install Debian's openssh-server (scripts/test.sh does)"
        );
        let user = whoami::username();
        if user == "root" {
            // sshd running as root wants its privilege separation directory.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let config = dir.join(format!("sshd_config.{port}"));
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication yes\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin yes\nAllowUsers {user}\n\
                 LogLevel VERBOSE\n",
                host_key.display(),
                dir.join("authorized_keys").display(),
            ),
        )
        .unwrap();
        let log = dir.join(format!("sshd.{port}.log"));
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sshd");
        let mut sshd = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited ({status}): {}", sshd.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                sshd.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keys and files of one test: the host key, an authorized client key, a stranger's key.
struct Setup {
    dir: tempfile::TempDir,
    host_public: String,
    vm_configs: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (host_public, host_private) = generate_key_pair("test-host").unwrap();
        write_private(&dir.path().join("host_key"), &host_private);
        let (client_public, client_private) = generate_key_pair("test-client").unwrap();
        write_private(&dir.path().join("client_key"), &client_private);
        std::fs::write(
            dir.path().join("authorized_keys"),
            format!("{client_public}\n"),
        )
        .unwrap();
        let (_, stranger) = generate_key_pair("stranger").unwrap();
        write_private(&dir.path().join("wrong_key"), &stranger);
        let vm_configs = dir.path().join("qemu-server");
        std::fs::create_dir(&vm_configs).unwrap();
        Self {
            dir,
            host_public,
            vm_configs,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An agent config whose SSH goes to 127.0.0.1:`port` with `settings` adjusted.
    fn config(&self, port: u16, adjust: impl FnOnce(&mut SshSettings)) -> AgentConfig {
        let mut ssh = SshSettings {
            host: Some("127.0.0.1".into()),
            port,
            user: Some(whoami::username()),
            key_file: Some(self.path("client_key")),
            password: None,
            password_secret: None,
            host_key: Some(self.host_public.clone()),
            config_dir: self.vm_configs.display().to_string(),
            iso_root: None,
        };
        adjust(&mut ssh);
        let mut config = AgentConfig::new(
            "http://127.0.0.1:9",
            "agent-1",
            "bma_unused",
            generate_key_pair("agent").unwrap(),
        );
        config.targets = vec![ProxmoxTarget {
            id: DEFAULT_TARGET_ID.into(),
            url: "https://127.0.0.1:8006".into(),
            node: "pve".into(),
            token: Some("root@pam!ci=secret".into()),
            username: None,
            password: None,
            password_secret: None,
            fingerprint: None,
        }];
        config.ssh = Some(ssh);
        config
    }
}

async fn run(config: &AgentConfig, kind: &str, payload: Value) -> Result<Value, (String, String)> {
    let command = AgentCommand::from_parts(kind, payload).unwrap();
    Executor::new(config)
        .execute(&command)
        .await
        .map_err(|e| (e.code, e.message))
}

async fn ssh_exec(config: &AgentConfig, command: &str) -> Result<Value, (String, String)> {
    run(config, "proxmox.ssh-exec", json!({ "command": command })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_commands_against_openssh() {
    let setup = Setup::new();
    let port = free_port();
    let sshd = Sshd::start(setup.dir.path(), &setup.path("host_key"), port);
    let config = setup.config(port, |_| {});

    // status / test / bootstrap: connected with the key.
    let status = run(&config, "proxmox.ssh-status", json!({})).await.unwrap();
    assert_eq!(status["code"], "OK", "{status}\n{}", sshd.log_text());
    assert_eq!(
        (status["configured"].clone(), status["connected"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(status["mode"], "key");
    assert_eq!(status["port"], port);
    let bootstrap = run(
        &config,
        "proxmox.ssh-bootstrap",
        json!({"timeoutMs": 30000}),
    )
    .await
    .unwrap();
    assert_eq!(
        (bootstrap["code"].clone(), bootstrap["bootstrap"].clone()),
        (json!("OK"), json!("validated"))
    );

    // Write a VM config (content on stdin, newline added), read it back two ways.
    let content = "boot: order=sata0\ncores: 2\nname: vm-101\nargs: -smbios 'type=1,uuid=x'";
    let written = run(
        &config,
        "proxmox.ssh-write-config",
        json!({"vmid": 101, "content": content}),
    )
    .await
    .unwrap();
    assert_eq!(written["written"], true);
    let on_disk = std::fs::read_to_string(setup.vm_configs.join("101.conf")).unwrap();
    assert_eq!(on_disk, format!("{content}\n"));
    let read = run(&config, "proxmox.ssh-read-config", json!({"id": "101"}))
        .await
        .unwrap();
    assert_eq!(read["config"], format!("{content}\n"));
    let missing = run(&config, "proxmox.ssh-read-config", json!({"vmid": 404}))
        .await
        .unwrap_err();
    assert_eq!(missing.0, code::SSH_READ_FAILED);
    assert!(missing.1.contains("No such file"), "{missing:?}");

    // An allowed template runs (the config file read from the configured directory).
    let exec = ssh_exec(&config, "cat /etc/pve/qemu-server/101.conf")
        .await
        .unwrap();
    assert_eq!(exec["exitCode"], 0, "{exec}");
    assert_eq!(exec["stdout"], format!("{content}\n"));
    assert_eq!(exec["allowlisted"], true);
    // `qm` is not on this machine: a non-zero exit is a result, not an error.
    let qm = ssh_exec(&config, "qm status 101").await.unwrap();
    assert_ne!(qm["exitCode"], 0, "{qm}");
    assert_eq!(qm["command"], "'qm' 'status' '101'");

    // A command outside the allowlist is not a command at all: the contract refuses it, so
    // no server queues it and no agent runs it.
    let pwned = setup.path("pwned");
    for bad in [
        format!("qm status 101; touch {}", pwned.display()),
        format!("qm status 101 $(touch {})", pwned.display()),
        "rm -rf /".to_owned(),
        "qm destroy 101".to_owned(),
    ] {
        let refused = AgentCommand::from_parts("proxmox.ssh-exec", json!({ "command": bad }));
        let problems = refused.expect_err(&bad).errors;
        assert!(
            problems
                .get("payload.command")
                .is_some_and(|p| p.iter().any(|m| m.contains("not an allowed command"))),
            "{bad}: {problems:?}"
        );
    }
    assert!(!pwned.exists(), "a refused command ran");

    // Wrong key, wrong password: SSH_AUTH_FAILED (status reports it, commands fail with it).
    let wrong_key = setup.config(port, |s| s.key_file = Some(setup.path("wrong_key")));
    let status = run(&wrong_key, "proxmox.ssh-status", json!({}))
        .await
        .unwrap();
    assert_eq!(status["code"], code::SSH_AUTH_FAILED, "{status}");
    assert_eq!(status["connected"], false);
    let e = run(&wrong_key, "proxmox.ssh-read-config", json!({"vmid": 101}))
        .await
        .unwrap_err();
    assert_eq!(e.0, code::SSH_AUTH_FAILED);
    let wrong_password = setup.config(port, |s| {
        s.key_file = None;
        s.password = Some("not-the-password".into());
    });
    let status = run(&wrong_password, "proxmox.ssh-test", json!({}))
        .await
        .unwrap();
    assert_eq!(
        (status["code"].clone(), status["mode"].clone()),
        (json!(code::SSH_AUTH_FAILED), json!("password")),
        "{status}"
    );

    // No host key pinned yet: nothing is sent until it is trusted.
    let untrusted = setup.config(port, |s| s.host_key = None);
    let e = ssh_exec(&untrusted, "qm status 101").await.unwrap_err();
    assert_eq!(e.0, code::SSH_REQUIRED);
    assert!(e.1.contains("ssh trust"), "{e:?}");

    // Closed port: SSH_UNREACHABLE.
    sshd.stop();
    let status = run(&config, "proxmox.ssh-status", json!({})).await.unwrap();
    assert_eq!(status["code"], code::SSH_UNREACHABLE, "{status}");
    let e = run(
        &config,
        "proxmox.ssh-write-config",
        json!({"vmid": 101, "content": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.0, code::SSH_UNREACHABLE);

    // The node comes back with another host key: refused before authenticating.
    let (_, other_host) = generate_key_pair("reinstalled-host").unwrap();
    write_private(&setup.path("other_host_key"), &other_host);
    let sshd = Sshd::start(setup.dir.path(), &setup.path("other_host_key"), port);
    let e = run(
        &config,
        "proxmox.ssh-write-config",
        json!({"vmid": 101, "content": "tampered"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.0, code::SSH_HOST_KEY_CHANGED, "{e:?}");
    assert!(e.1.contains("changed"), "{e:?}");
    let status = run(&config, "proxmox.ssh-status", json!({})).await.unwrap();
    assert_eq!(status["code"], code::SSH_HOST_KEY_CHANGED);
    assert_eq!(
        std::fs::read_to_string(setup.vm_configs.join("101.conf")).unwrap(),
        format!("{content}\n"),
        "nothing was written to the impostor"
    );
    assert!(
        !sshd.log_text().contains("Accepted"),
        "no login on the changed host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_trust_pins_the_host_key_and_status_shows_it() {
    let setup = Setup::new();
    let port = free_port();
    let _sshd = Sshd::start(setup.dir.path(), &setup.path("host_key"), port);
    let path = setup.path("agent.toml");
    setup
        .config(port, |s| s.host_key = None)
        .save(&path)
        .unwrap();
    let agent = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_botmox-agent"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .output()
            .unwrap()
    };

    let out = agent(&["ssh", "trust"]);
    let words = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{words}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let host = russh::keys::ssh_key::PublicKey::from_openssh(&setup.host_public).unwrap();
    let expected = botmox_agent::config::fingerprint(&host);
    assert!(words.contains(&expected), "{words}");
    assert!(words.contains("Pinned"), "{words}");
    let pinned = AgentConfig::load(&path)
        .unwrap()
        .ssh
        .unwrap()
        .pinned_key()
        .unwrap()
        .unwrap();
    assert_eq!(pinned.key_data(), host.key_data());
    let again = agent(&["ssh", "trust"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("Already trusted"));

    // `status` names the pinned key and says SSH works (the server is unreachable here).
    let out = agent(&["status"]);
    let words = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{words}");
    assert!(
        words.contains(&format!("SSH host key: {expected}")),
        "{words}"
    );
    assert!(
        words.contains("SSH: reachable and authenticated"),
        "{words}"
    );
    assert!(words.contains("Server: NOT reachable"), "{words}");
    let doctor = agent(&["doctor"]);
    assert!(
        !doctor.status.success(),
        "doctor fails while the server is unreachable"
    );
}

/// A config ISO whose storage upload fails is written into the storage's ISO directory over
/// SSH instead (only then, and byte for byte); without SSH the upload's failure stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_iso_upload_falls_back_to_ssh() {
    use base64::Engine;
    use botmox_fake_pve::{FakeConfig, FakePve};
    use sha2::Digest;
    const TOKEN: &str = "root@pam!ci=00000000-aaaa-bbbb-cccc-000000000001";

    let setup = Setup::new();
    let port = free_port();
    let sshd = Sshd::start(setup.dir.path(), &setup.path("host_key"), port);
    let fake = FakePve::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        task_duration: Some(Duration::from_millis(50)),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let isos = setup.path("isos");
    std::fs::create_dir_all(isos.join("local")).unwrap();
    let mut config = setup.config(port, |ssh| {
        ssh.iso_root = Some(isos.display().to_string());
    });
    config.targets[0].url = fake.url().to_owned();
    config.targets[0].token = Some(TOKEN.into());
    let files = json!({
        "provision.json": base64::engine::general_purpose::STANDARD.encode(r#"{"vm":100}"#),
    });
    let make = |name: &str| json!({"vmid": 100, "files": files, "isoName": name});

    // The API works: nothing goes over SSH.
    let stored = run(&config, "proxmox.create-provision-iso", make("a.iso"))
        .await
        .unwrap();
    assert_eq!(
        (stored["via"].clone(), stored["isoPath"].clone()),
        (json!("api"), json!("local:iso/a.iso"))
    );
    assert!(stored["upid"].is_string());
    assert!(!isos.join("local/a.iso").exists());

    // The copy task fails: the image is written over SSH.
    fake.state()
        .fail_next_task("imgcopy", "copy failed: No space left on device");
    let stored = run(&config, "proxmox.create-provision-iso", make("b.iso"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", sshd.log_text()));
    assert_eq!(
        (stored["via"].clone(), stored["isoPath"].clone()),
        (json!("ssh"), json!("local:iso/b.iso"))
    );
    assert_eq!(stored["upid"], Value::Null);
    let written = std::fs::read(isos.join("local/b.iso")).unwrap();
    let sha: String = sha2::Sha256::digest(&written)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(json!(sha), stored["sha256"]);
    assert_eq!(stored["bytes"], json!(written.len()));
    assert!(!isos.join("local/b.iso.part").exists(), "moved into place");

    // Without SSH the upload's failure is the answer.
    let mut without = config.clone();
    without.ssh = None;
    fake.state()
        .fail_next_task("imgcopy", "copy failed: No space left on device");
    let (_, message) = run(&without, "proxmox.create-provision-iso", make("c.iso"))
        .await
        .unwrap_err();
    assert!(message.contains("No space left"), "{message}");
    sshd.stop();
}
