//! The Proxmox executors against the fake Proxmox VE (in-process): every `proxmox.*` action
//! of the catalogue, tasks waited for with their real exit status, ids picked safely by
//! concurrent clones, ticket login, and a pinned TLS certificate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use botmox_agent::config::{AgentConfig, DEFAULT_TARGET_ID, ProxmoxTarget, generate_key_pair};
use botmox_agent::executor::Executor;
use botmox_fake_pve::{FakeConfig, FakePve, RunState};
use botmox_proto::command::Command;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "root@pam!agent=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

async fn fake(tls: bool) -> FakePve {
    FakePve::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        users: vec![("ops@pve".into(), "ops-password".into())],
        task_duration: Some(Duration::from_millis(100)),
        tls,
        ..FakeConfig::default()
    })
    .await
    .unwrap()
}

fn config(target: ProxmoxTarget) -> AgentConfig {
    let mut config = AgentConfig::new(
        "http://127.0.0.1:9",
        "a",
        "bma_unused",
        generate_key_pair("agent").unwrap(),
    );
    config.task_timeout_secs = 120;
    config.targets = vec![target];
    config
}

fn target(url: &str) -> ProxmoxTarget {
    ProxmoxTarget {
        id: DEFAULT_TARGET_ID.into(),
        url: url.into(),
        node: "pve".into(),
        token: Some(TOKEN.into()),
        username: None,
        password: None,
        password_secret: None,
        fingerprint: None,
    }
}

async fn run(exec: &Executor, kind: &str, payload: Value) -> Result<Value, String> {
    let command = Command::from_parts(kind, payload).unwrap();
    exec.execute(&command).await.map_err(|e| e.to_string())
}

/// How `proxmox.status` fails with `target`.
async fn status_error(target: ProxmoxTarget) -> String {
    let exec = Executor::new(&config(target));
    run(&exec, "proxmox.status", json!({})).await.unwrap_err()
}

/// Serve `body` once over HTTP on 127.0.0.1 (the URL `upload-iso` downloads from).
async fn serve_once(body: Vec<u8>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        socket.shutdown().await.unwrap();
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_proxmox_action_against_the_fake() {
    let pve = fake(false).await;
    let exec = Executor::new(&config(target(pve.url())));
    let state = pve.state();

    let version = run(&exec, "proxmox.status", json!({})).await.unwrap();
    assert_eq!(version["connected"], true);
    assert!(version["version"].is_string());
    assert_eq!(
        run(&exec, "proxmox.login", json!({"force": true}))
            .await
            .unwrap()["ok"],
        true
    );
    let targets = run(&exec, "proxmox.list-targets", json!({})).await.unwrap();
    assert_eq!(
        (targets[0]["id"].clone(), targets[0]["isActive"].clone()),
        (json!("default"), json!(true))
    );

    // Clone into 101 and wait for it to be there; the result carries the task's exit status.
    let clone = run(&exec, "proxmox.clone", json!({"templateVmId": 100, "newid": 101, "name": "vm-101", "full": true, "storage": "local-lvm", "format": "raw"}))
        .await
        .unwrap();
    assert_eq!(
        (clone["vmid"].clone(), clone["exitstatus"].clone()),
        (json!(101), json!("OK"))
    );
    let upid = clone["upid"].as_str().unwrap().to_owned();
    let task = run(&exec, "proxmox.task-status", json!({"upid": upid}))
        .await
        .unwrap();
    assert_eq!(
        (task["status"].clone(), task["exitstatus"].clone()),
        (json!("stopped"), json!("OK"))
    );
    let waited = run(
        &exec,
        "proxmox.wait-task",
        json!({"task": upid, "timeoutMs": 10000, "intervalMs": 250}),
    )
    .await
    .unwrap();
    assert_eq!(waited["exitstatus"], "OK");
    run(
        &exec,
        "proxmox.wait-vm-presence",
        json!({"vmid": 101, "timeout_ms": 10000}),
    )
    .await
    .unwrap();
    assert_eq!(state.vm(101).unwrap().config["name"], "vm-101");

    // Config: set, read back, grow a disk.
    let updated = run(
        &exec,
        "proxmox.update-config",
        json!({"vmid": 101, "cores": 2, "config": {"memory": 4096, "onboot": true}}),
    )
    .await
    .unwrap();
    assert_eq!(updated["updated"], json!(["cores", "memory", "onboot"]));
    let read = run(&exec, "proxmox.config.get", json!({"vmid": 101}))
        .await
        .unwrap();
    assert_eq!(
        (
            read["cores"].clone(),
            read["memory"].clone(),
            read["onboot"].clone()
        ),
        (json!("2"), json!("4096"), json!("1"))
    );
    let resized = run(
        &exec,
        "proxmox.resize-disk",
        json!({"vmid": 101, "disk": "sata0", "size": "+16G"}),
    )
    .await
    .unwrap();
    assert_eq!(resized["exitstatus"], "OK");
    assert!(
        state.vm(101).unwrap().config["sata0"].contains("size=80G"),
        "{:?}",
        state.vm(101)
    );

    // The provisioning ISO: built here, uploaded, attached; then ejected and deleted.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let files = json!({"provision.json": b64(r#"{"vm":101}"#), "START.ps1": b64("Write-Host hi")});
    let iso = run(
        &exec,
        "proxmox.create-provision-iso",
        json!({"vmid": 101, "files": files, "isoName": "provision-101.iso"}),
    )
    .await
    .unwrap();
    assert_eq!(iso["isoPath"], "local:iso/provision-101.iso");
    assert_eq!(state.iso_files("pve", "local"), ["provision-101.iso"]);
    // Again: the older file is replaced, not refused.
    run(
        &exec,
        "proxmox.create-provision-iso",
        json!({"vmid": 101, "files": files, "isoName": "provision-101.iso"}),
    )
    .await
    .unwrap();
    let attached = run(
        &exec,
        "proxmox.attach-cdrom",
        json!({"vmid": 101, "isoPath": "local:iso/provision-101.iso"}),
    )
    .await
    .unwrap();
    assert_eq!(attached["attached"], true);
    assert!(state.vm(101).unwrap().config["ide2"].starts_with("local:iso/provision-101.iso"));

    // Power: start, wait, status, keys, the guest agent's addresses.
    let started = run(&exec, "proxmox.start", json!({"vmid": 101}))
        .await
        .unwrap();
    assert_eq!(
        (started["action"].clone(), started["exitstatus"].clone()),
        (json!("start"), json!("OK"))
    );
    run(
        &exec,
        "proxmox.wait-vm-status",
        json!({"vmid": 101, "status": "running", "timeoutMs": 10000}),
    )
    .await
    .unwrap();
    assert_eq!(
        run(&exec, "proxmox.vm-status", json!({"vmid": 101}))
            .await
            .unwrap()["status"],
        "running"
    );
    assert_eq!(
        run(
            &exec,
            "proxmox.sendkey",
            json!({"vmid": 101, "key": "ctrl-alt-delete"})
        )
        .await
        .unwrap()["sent"],
        true
    );
    state.set_guest_agent(101, true);
    let network = run(&exec, "proxmox.guest-network", json!({"vmid": 101}))
        .await
        .unwrap();
    assert!(network["interfaces"].is_array(), "{network}");
    let again = run(&exec, "proxmox.start", json!({"vmid": 101}))
        .await
        .unwrap_err();
    assert!(
        again.starts_with("PVE_TASK_FAILED: ") && again.contains("already running"),
        "{again}"
    );
    run(&exec, "proxmox.suspend", json!({"vmid": 101}))
        .await
        .unwrap();
    run(&exec, "proxmox.resume", json!({"vmid": 101}))
        .await
        .unwrap();
    run(&exec, "proxmox.reset", json!({"vmid": 101}))
        .await
        .unwrap();
    let detached = run(
        &exec,
        "proxmox.detach-cdrom",
        json!({"vmid": 101, "deleteIso": true}),
    )
    .await
    .unwrap();
    assert_eq!(detached["deletedIso"], "local:iso/provision-101.iso");
    assert!(state.iso_files("pve", "local").is_empty());
    assert_eq!(state.vm(101).unwrap().config["ide2"], "none,media=cdrom");
    run(&exec, "proxmox.shutdown", json!({"vmid": 101}))
        .await
        .unwrap();
    assert_eq!(state.vm(101).unwrap().run, RunState::Stopped);

    // Reads of the node and cluster.
    let vms = run(&exec, "proxmox.list", json!({})).await.unwrap();
    assert!(vms.as_array().unwrap().iter().any(|v| v["vmid"] == 101));
    let storages = run(
        &exec,
        "proxmox.cluster-resources",
        json!({"type": "storage"}),
    )
    .await
    .unwrap();
    assert!(
        storages
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["type"] == "storage"),
        "{storages}"
    );

    // An ISO from a URL: downloaded by the agent, uploaded to the storage.
    let addr = serve_once(b"not really an ISO, but bytes".to_vec()).await;
    let uploaded = run(&exec, "proxmox.upload-iso", json!({"storage": "local", "filename": "virtio.iso", "url": format!("http://{addr}/virtio.iso")}))
        .await
        .unwrap();
    assert_eq!(
        (uploaded["volid"].clone(), uploaded["bytes"].clone()),
        (json!("local:iso/virtio.iso"), json!(28))
    );
    assert_eq!(state.iso_files("pve", "local"), ["virtio.iso"]);

    // A task that fails reports PVE's text; delete, then gone.
    state.fail_next_task("qmclone", "clone failed: out of space");
    let failed = run(
        &exec,
        "proxmox.clone",
        json!({"templateVmId": 100, "newid": 150}),
    )
    .await
    .unwrap_err();
    assert_eq!(failed, "PVE_TASK_FAILED: clone failed: out of space");
    let missing = run(&exec, "proxmox.vm-status", json!({"vmid": 150}))
        .await
        .unwrap_err();
    assert!(missing.starts_with("PVE_NOT_FOUND: "), "{missing}");
    let deleted = run(
        &exec,
        "proxmox.delete",
        json!({"vmid": 101, "purge": true, "destroyUnreferencedDisks": true}),
    )
    .await
    .unwrap();
    assert_eq!(deleted["exitstatus"], "OK");
    run(
        &exec,
        "proxmox.wait-vm-presence",
        json!({"vmid": 101, "exists": false}),
    )
    .await
    .unwrap();
    let timeout = run(
        &exec,
        "proxmox.wait-vm-status",
        json!({"vmid": 100, "timeoutMs": 1000, "intervalMs": 250}),
    )
    .await
    .unwrap_err();
    assert!(timeout.starts_with("PVE_TIMEOUT: "), "{timeout}");
}

/// The config ISO beside a template whose `ide2` holds the Windows installer: the image
/// arrives on the storage whole, goes into a free drive, and leaves with its file only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provisioning_iso_spares_the_installer_drive() {
    let pve = fake(false).await;
    let exec = Executor::new(&config(target(pve.url())));
    let state = pve.state();
    run(
        &exec,
        "proxmox.clone",
        json!({"templateVmId": 100, "newid": 102, "name": "vm-102"}),
    )
    .await
    .unwrap();
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let installer =
        json!({"vmid": 102, "files": {"setup.exe": b64(b"MZ")}, "isoName": "Win11.iso"});
    run(&exec, "proxmox.create-provision-iso", installer)
        .await
        .unwrap();
    let insert = json!({"vmid": 102, "isoPath": "local:iso/Win11.iso", "cdromSlot": "ide2"});
    run(&exec, "proxmox.attach-cdrom", insert).await.unwrap();
    let ide2 = state.vm(102).unwrap().config["ide2"].clone();
    assert!(ide2.starts_with("local:iso/Win11.iso,"), "{ide2}");

    // The image the agent built is the one the storage received, byte for byte.
    let files = json!({
        "autounattend.xml": b64(b"<?xml version=\"1.0\"?><unattend/>"),
        "provision.json": b64(br#"{"vm_uuid":"x"}"#),
        "START.ps1": b64(&vec![b'#'; 70 * 1024]),
        "playbook.yml": b64(b"- roles: []\n"),
    });
    let iso = run(
        &exec,
        "proxmox.create-provision-iso",
        json!({"vmid": 102, "files": files, "isoName": "provision-102.iso"}),
    )
    .await
    .unwrap();
    let built = (
        iso["bytes"].as_u64().unwrap(),
        iso["sha256"].as_str().unwrap().to_owned(),
    );
    assert!(built.0 > 70 * 1024, "{iso}");
    assert_eq!(
        state.iso_file("pve", "local", "provision-102.iso"),
        Some(built)
    );

    // No slot named: the installer stays in ide2, the ISO goes into the first free drive.
    let provision = "local:iso/provision-102.iso";
    let attached = run(
        &exec,
        "proxmox.attach-cdrom",
        json!({"vmid": 102, "isoPath": provision}),
    )
    .await
    .unwrap();
    assert_eq!(attached["slot"], "ide0");
    let config = state.vm(102).unwrap().config;
    assert_eq!(
        (config["ide2"].as_str(), config["ide0"].as_str()),
        (ide2.as_str(), "local:iso/provision-102.iso,media=cdrom")
    );
    // Again: the same drive, not a second one.
    let again = run(
        &exec,
        "proxmox.attach-cdrom",
        json!({"vmid": 102, "isoPath": provision}),
    )
    .await
    .unwrap();
    assert_eq!(again["slot"], "ide0");
    // Naming the installer's drive is refused, and ejecting it for this ISO too.
    let taken = run(
        &exec,
        "proxmox.attach-cdrom",
        json!({"vmid": 102, "isoPath": provision, "cdromSlot": "ide2"}),
    )
    .await
    .unwrap_err();
    assert!(taken.starts_with("CDROM_SLOT_TAKEN: ide2 holds"), "{taken}");
    let taken = run(
        &exec,
        "proxmox.detach-cdrom",
        json!({"vmid": 102, "isoPath": provision, "cdromSlot": "ide2", "deleteIso": true}),
    )
    .await
    .unwrap_err();
    assert!(taken.starts_with("CDROM_SLOT_TAKEN: "), "{taken}");
    assert_eq!(state.vm(102).unwrap().config["ide2"], ide2);

    // Detached by its path: that drive emptied, that file deleted, the installer untouched.
    let detached = run(
        &exec,
        "proxmox.detach-cdrom",
        json!({"vmid": 102, "isoPath": provision, "deleteIso": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        (detached["slot"].as_str(), detached["deletedIso"].as_str()),
        (Some("ide0"), Some(provision))
    );
    let config = state.vm(102).unwrap().config;
    assert_eq!(
        (config["ide2"].as_str(), config["ide0"].as_str()),
        (ide2.as_str(), "none,media=cdrom")
    );
    assert_eq!(state.iso_files("pve", "local"), ["Win11.iso"]);
    // Once more (a retried pipeline step): nothing left to eject or delete, and no failure.
    let again = run(
        &exec,
        "proxmox.detach-cdrom",
        json!({"vmid": 102, "isoPath": provision, "deleteIso": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        (again["detached"].clone(), again["deletedIso"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(state.iso_files("pve", "local"), ["Win11.iso"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clones_each_get_their_own_id() {
    let pve = fake(false).await;
    let exec = std::sync::Arc::new(Executor::new(&config(target(pve.url()))));
    let clones: Vec<_> = (0..4)
        .map(|i| {
            let exec = exec.clone();
            tokio::spawn(async move {
                run(
                    &exec,
                    "proxmox.clone",
                    json!({"templateVmId": 100, "name": format!("c{i}")}),
                )
                .await
            })
        })
        .collect();
    let mut ids = BTreeMap::new();
    for clone in clones {
        let result = clone.await.unwrap().unwrap();
        ids.insert(result["vmid"].as_u64().unwrap(), result);
    }
    assert_eq!(ids.len(), 4, "four clones, four ids: {ids:?}");
    assert_eq!(pve.state().vm_ids().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_login_and_a_pinned_certificate() {
    let pve = fake(true).await;
    let fingerprint = pve.cert_fingerprint().unwrap().to_owned();
    let mut by_password = target(pve.url());
    by_password.token = None;
    by_password.username = Some("ops@pve".into());
    by_password.password = Some("ops-password".into());
    by_password.fingerprint = Some(fingerprint.clone());
    let exec = Executor::new(&config(by_password.clone()));
    assert_eq!(
        run(&exec, "proxmox.status", json!({})).await.unwrap()["connected"],
        true
    );
    assert!(
        run(&exec, "proxmox.list-vms", json!({"node": "pve"}))
            .await
            .unwrap()
            .is_array()
    );

    let mut wrong_password = by_password.clone();
    wrong_password.password = Some("nope".into());
    let e = status_error(wrong_password).await;
    assert!(e.starts_with("PVE_UNAUTHORIZED: "), "{e}");

    // Without the pin the self-signed certificate is refused; with another pin too.
    let mut unpinned = by_password.clone();
    unpinned.fingerprint = None;
    let e = status_error(unpinned).await;
    assert!(e.starts_with("PVE_TRANSPORT: "), "{e}");
    let mut other_pin = by_password;
    other_pin.fingerprint = Some("AB:".repeat(31) + "CD");
    let e = status_error(other_pin).await;
    assert!(
        e.starts_with("PVE_TRANSPORT: ") && e.contains("fingerprint"),
        "{e}"
    );
}
