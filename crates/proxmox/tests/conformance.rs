//! The client against the fake PVE: every call the agent needs, the documented failures and
//! their error kinds. Timeouts are generous multiples of the fake's task duration; states that
//! only exist while a task runs are made observable by holding the fake's tasks.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use botmox_fake_pve::{FakeConfig, FakePve, RunState};
use botmox_proxmox::{
    CertFingerprint, ClientConfig, CloneOptions, ConfigUpdate, Credentials, DeleteOptions, Error,
    IsoSource, IsoUpload, PowerAction, ProxmoxClient, ResourceType, TlsTrust, Upid, WaitOptions,
    find_guest_ipv4,
};

const TOKEN: &str = "ops@pve!ci=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const USER: &str = "root@pam";
const PASSWORD: &str = "hunter2";
const NODE: &str = "pve";
const TEMPLATE: u32 = 100;

async fn fake_with(tune: impl FnOnce(&mut FakeConfig)) -> FakePve {
    let mut config = FakeConfig {
        tokens: vec![TOKEN.into()],
        users: vec![(USER.into(), PASSWORD.into())],
        task_duration: Some(Duration::from_millis(20)),
        ..FakeConfig::default()
    };
    tune(&mut config);
    FakePve::start(config).await.expect("the fake starts")
}

async fn fake() -> FakePve {
    fake_with(|_| {}).await
}

fn client(fake: &FakePve, credentials: Credentials) -> ProxmoxClient {
    ProxmoxClient::new(ClientConfig::new(fake.url(), credentials).unwrap()).unwrap()
}

fn token_client(fake: &FakePve) -> ProxmoxClient {
    client(fake, Credentials::ApiToken(TOKEN.parse().unwrap()))
}

fn ticket_client(fake: &FakePve) -> ProxmoxClient {
    client(fake, Credentials::password(USER, PASSWORD))
}

/// Far beyond any task duration used here; only a hang would reach it.
fn patient() -> WaitOptions {
    WaitOptions::new(Duration::from_secs(30), Duration::from_millis(10))
}

async fn finish(pve: &ProxmoxClient, upid: &Upid) {
    let status = pve.wait_task(upid, patient()).await.expect("task succeeds");
    assert_eq!(status.exitstatus.as_deref(), Some("OK"));
}

async fn task_error(pve: &ProxmoxClient, upid: &Upid) -> String {
    match pve.wait_task(upid, patient()).await {
        Err(Error::TaskFailed {
            upid: failed,
            exitstatus,
        }) => {
            assert_eq!(failed, upid.to_string());
            exitstatus
        }
        other => panic!("expected a task failure, got {other:?}"),
    }
}

/// Run a power action to its successful end.
async fn power_ok(pve: &ProxmoxClient, vmid: u32, action: PowerAction) {
    finish(pve, &pve.power(NODE, vmid, action).await.unwrap()).await;
}

/// The `errors` map of a refused call.
fn bad_params<T: std::fmt::Debug>(result: Result<T, Error>) -> BTreeMap<String, String> {
    match result {
        Err(Error::BadParams { errors, .. }) => errors,
        other => panic!("expected BadParams, got {other:?}"),
    }
}

/// A finished linked clone of the template.
async fn cloned(pve: &ProxmoxClient, name: &str) -> u32 {
    let options = CloneOptions {
        name: Some(name.into()),
        ..CloneOptions::default()
    };
    let (vmid, upid) = pve
        .clone_with_next_id(NODE, TEMPLATE, &options)
        .await
        .unwrap();
    finish(pve, &upid).await;
    vmid
}

#[tokio::test]
async fn api_token_authenticates_and_a_wrong_one_is_unauthorized() {
    let fake = fake().await;
    let version = token_client(&fake).version().await.unwrap();
    assert_eq!(version.version, "9.0.3");
    assert_eq!(version.release, "9.0");
    token_client(&fake).login(false).await.unwrap();

    let wrong = client(
        &fake,
        Credentials::ApiToken(
            "ops@pve!ci=00000000-0000-0000-0000-000000000000"
                .parse()
                .unwrap(),
        ),
    );
    let err = wrong.version().await.unwrap_err();
    assert_eq!(
        err,
        Error::Unauthorized {
            message: "Authentication failed!".into()
        }
    );
    assert_eq!(err.code(), "PVE_UNAUTHORIZED");
}

#[tokio::test]
async fn ticket_login_reuses_the_ticket_and_sends_csrf_on_writes() {
    let fake = fake().await;
    let pve = ticket_client(&fake);
    pve.list_vms(NODE).await.unwrap();
    let vmid = cloned(&pve, "via-ticket").await;
    pve.update_config(NODE, vmid, &ConfigUpdate::new().set("cores", "2"))
        .await
        .unwrap();
    pve.delete_vm(NODE, vmid, DeleteOptions::default())
        .await
        .unwrap();
    let counts = fake.state().login_counts();
    assert_eq!(counts.password, 1, "one login serves every request");
    assert_eq!(counts.ticket, 0);

    let wrong = client(&fake, Credentials::password(USER, "wrong"));
    let err = wrong.version().await.unwrap_err();
    assert_eq!(
        err,
        Error::Unauthorized {
            message: "authentication failure".into()
        }
    );
    assert!(matches!(
        wrong.login(true).await,
        Err(Error::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn ticket_is_renewed_when_old_and_replaced_after_a_401() {
    let fake = fake().await;
    let mut config = ClientConfig::new(fake.url(), Credentials::password(USER, PASSWORD)).unwrap();
    config.ticket_renew_after = Duration::ZERO;
    let renewing = ProxmoxClient::new(config).unwrap();
    renewing.version().await.unwrap();
    renewing.version().await.unwrap();
    let counts = fake.state().login_counts();
    assert_eq!(counts.password, 1);
    assert!(
        counts.ticket >= 1,
        "an aged ticket is renewed with itself: {counts:?}"
    );

    // The server-side ticket expires (2 h on the fake's clock): the next call gets a 401,
    // the client logs in once more and repeats the call.
    let pve = ticket_client(&fake);
    pve.version().await.unwrap();
    let before = fake.state().login_counts().password;
    fake.state().advance_clock(Duration::from_secs(3 * 3600));
    pve.list_vms(NODE).await.unwrap();
    assert_eq!(fake.state().login_counts().password, before + 1);
}

#[tokio::test]
async fn lists_nodes_vms_resources_and_status() {
    let fake = fake().await;
    let pve = token_client(&fake);

    let nodes = pve.list_nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].node, NODE);
    assert_eq!(nodes[0].status, "online");

    let vms = pve.list_vms(NODE).await.unwrap();
    let template = vms.iter().find(|v| v.vmid == TEMPLATE).unwrap();
    assert!(template.template);
    assert_eq!(template.name.as_deref(), Some("win11-template"));
    assert_eq!(template.status, "stopped");
    assert_eq!(template.maxmem, Some(8192 << 20));

    let status = pve.vm_status(NODE, TEMPLATE).await.unwrap();
    assert_eq!(status.vm.status, "stopped");
    assert_eq!(status.qmpstatus.as_deref(), Some("stopped"));
    assert!(status.agent);

    let all = pve.cluster_resources(None).await.unwrap();
    let ids: HashSet<&str> = all.iter().map(|r| r.id.as_str()).collect();
    for id in [
        "qemu/100",
        "node/pve",
        "storage/pve/local",
        "storage/pve/local-lvm",
    ] {
        assert!(ids.contains(id), "{id} missing from {ids:?}");
    }
    let guest = all.iter().find(|r| r.id == "qemu/100").unwrap();
    assert_eq!(guest.template, Some(true));
    assert_eq!(guest.vmid, Some(TEMPLATE));
    let storages = pve
        .cluster_resources(Some(ResourceType::Storage))
        .await
        .unwrap();
    assert!(storages.iter().all(|r| r.kind == "storage"));
    assert_eq!(storages.len(), 2);

    assert_eq!(pve.next_id().await.unwrap(), 101);
}

#[tokio::test]
async fn missing_vm_is_not_found_everywhere() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let err = pve.vm_status(NODE, 999).await.unwrap_err();
    assert_eq!(
        err,
        Error::NotFound {
            message: "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist".into()
        }
    );
    assert_eq!(err.code(), "PVE_NOT_FOUND");
    assert!(matches!(
        pve.vm_config(NODE, 999).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        pve.delete_vm(NODE, 999, DeleteOptions::default()).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        pve.clone_vm(NODE, 999, 500, &CloneOptions::default()).await,
        Err(Error::NotFound { .. })
    ));
    // stop of a missing VM is accepted and fails in the task
    let upid = pve.power(NODE, 999, PowerAction::Stop).await.unwrap();
    assert_eq!(
        task_error(&pve, &upid).await,
        "unable to find configuration file for VM 999 on node 'pve'"
    );
    // a node that is not in the cluster
    let err = pve.list_vms("nope").await.unwrap_err();
    assert!(
        err.to_string().contains("hostname lookup 'nope' failed"),
        "{err}"
    );
}

#[tokio::test]
async fn clone_runs_as_a_task_and_produces_a_fresh_identity() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let options = CloneOptions {
        name: Some("w11-01".into()),
        ..CloneOptions::default()
    };
    let upid = pve.clone_vm(NODE, TEMPLATE, 101, &options).await.unwrap();
    assert_eq!(upid.task_type(), "qmclone");
    assert_eq!(upid.id(), "100", "a clone task carries the source id");
    assert_eq!(upid.node(), NODE);
    assert_eq!(upid.user(), "ops@pve!ci");
    let status = pve.wait_task(&upid, patient()).await.unwrap();
    assert_eq!(status.user, "ops@pve");
    assert_eq!(status.tokenid.as_deref(), Some("ci"));
    pve.wait_vm_presence(NODE, 101, true, patient())
        .await
        .unwrap();

    let source = pve.vm_config(NODE, TEMPLATE).await.unwrap();
    let copy = pve.vm_config(NODE, 101).await.unwrap();
    assert_eq!(copy.name(), Some("w11-01"));
    assert!(!copy.is_template());
    assert_eq!(copy.lock(), None);
    assert_eq!(copy.cores(), Some(4));
    assert_eq!(copy.memory_mib(), Some(8192));
    assert_ne!(copy.net_mac(0), source.net_mac(0), "a clone gets a new MAC");
    assert_ne!(copy.get("smbios1"), source.get("smbios1"));
    assert_eq!(
        copy.get("sata0"),
        Some("local-lvm:base-100-disk-0/vm-101-disk-0,size=64G"),
        "a template is cloned linked by default"
    );

    // the id is taken now
    let err = pve
        .clone_vm(NODE, TEMPLATE, 101, &options)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::AlreadyExists {
            message: "unable to create VM 101: config file already exists".into()
        }
    );
    // linked clones take no storage
    let linked_with_storage = CloneOptions {
        storage: Some("local-lvm".into()),
        ..CloneOptions::default()
    };
    let err = pve
        .clone_vm(NODE, TEMPLATE, 102, &linked_with_storage)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "HTTP 500: parameter 'storage' not allowed for linked clones"
    );
    let full = CloneOptions {
        full: Some(true),
        ..linked_with_storage
    };
    let upid = pve.clone_vm(NODE, TEMPLATE, 102, &full).await.unwrap();
    finish(&pve, &upid).await;
    let copy = pve.vm_config(NODE, 102).await.unwrap();
    assert_eq!(copy.get("sata0"), Some("local-lvm:vm-102-disk-0,size=64G"));
    assert_eq!(copy.name(), Some("Copy-of-VM-win11-template"));
}

#[tokio::test]
async fn clone_target_is_locked_while_the_clone_runs() {
    let fake = fake().await;
    let pve = token_client(&fake);
    fake.state().hold_tasks(true);
    let clone = pve
        .clone_vm(NODE, TEMPLATE, 101, &CloneOptions::default())
        .await
        .unwrap();

    // present at once, locked, as a placeholder
    let listed = pve.list_vms(NODE).await.unwrap();
    let placeholder = listed
        .iter()
        .find(|v| v.vmid == 101)
        .expect("listed during the clone");
    assert_eq!(placeholder.lock.as_deref(), Some("clone"));
    assert_eq!(placeholder.name.as_deref(), Some("VM 101"));
    assert_eq!(
        pve.vm_config(NODE, 101).await.unwrap().lock(),
        Some("clone")
    );
    assert!(pve.task_status(&clone).await.unwrap().is_running());
    // the source is only share-locked: still readable and unlocked
    assert_eq!(pve.vm_config(NODE, TEMPLATE).await.unwrap().lock(), None);

    let err = pve
        .update_config(NODE, 101, &ConfigUpdate::new().set("cores", "2"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Locked {
            message: "VM is locked (clone)".into(),
            lock: Some("clone".into())
        }
    );
    let start = pve.power(NODE, 101, PowerAction::Start).await.unwrap();
    let delete = pve
        .delete_vm(NODE, 101, DeleteOptions::default())
        .await
        .unwrap();

    fake.state().hold_tasks(false);
    finish(&pve, &clone).await;
    assert_eq!(task_error(&pve, &start).await, "VM is locked (clone)");
    assert_eq!(task_error(&pve, &delete).await, "VM is locked (clone)");
    let done = pve.vm_config(NODE, 101).await.unwrap();
    assert_eq!(done.lock(), None);
    assert_eq!(done.name(), Some("Copy-of-VM-win11-template"));
}

#[tokio::test]
async fn a_failed_clone_removes_its_placeholder() {
    let fake = fake().await;
    let pve = token_client(&fake);
    fake.state()
        .fail_next_task("qmclone", "clone failed: no space left on device");
    let upid = pve
        .clone_vm(NODE, TEMPLATE, 101, &CloneOptions::default())
        .await
        .unwrap();
    assert_eq!(
        task_error(&pve, &upid).await,
        "clone failed: no space left on device"
    );
    pve.wait_vm_presence(NODE, 101, false, patient())
        .await
        .unwrap();
    assert!(fake.state().vm(101).is_none());
}

#[tokio::test]
async fn concurrent_clones_with_next_id_all_get_distinct_ids() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let clones = (0..8).map(|i| {
        let pve = pve.clone();
        async move {
            let options = CloneOptions {
                name: Some(format!("bot-{i}")),
                ..CloneOptions::default()
            };
            pve.clone_with_next_id(NODE, TEMPLATE, &options).await
        }
    });
    let results = futures::future::join_all(clones).await;
    let mut ids = HashSet::new();
    for result in results {
        let (vmid, upid) = result.expect("every clone gets an id");
        assert!(ids.insert(vmid), "id {vmid} handed out twice");
        finish(&pve, &upid).await;
    }
    assert_eq!(ids.len(), 8);
    assert_eq!(ids, (101..=108).collect::<HashSet<u32>>());
    let names: HashSet<String> = pve
        .list_vms(NODE)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.vmid != TEMPLATE)
        .filter_map(|v| v.name)
        .collect();
    assert_eq!(
        names,
        (0..8).map(|i| format!("bot-{i}")).collect::<HashSet<_>>()
    );
}

#[tokio::test]
async fn power_actions_and_their_task_failures() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let vmid = cloned(&pve, "power").await;

    let start = pve.power(NODE, vmid, PowerAction::Start).await.unwrap();
    assert_eq!(start.task_type(), "qmstart");
    finish(&pve, &start).await;
    let status = pve
        .wait_vm_status(NODE, vmid, "running", patient())
        .await
        .unwrap();
    assert_eq!(status.qmpstatus.as_deref(), Some("running"));
    assert!(status.vm.pid.is_some());

    // a second start is accepted and fails in the task, with PVE's text
    let again = pve.power(NODE, vmid, PowerAction::Start).await.unwrap();
    let err = pve.wait_task(&again, patient()).await.unwrap_err();
    assert_eq!(err.to_string(), format!("VM {vmid} already running"));
    assert_eq!(
        err.report(),
        format!("PVE_TASK_FAILED: VM {vmid} already running")
    );

    // a running VM is not destroyed
    let err = pve
        .delete_vm(NODE, vmid, DeleteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::InvalidState {
            message: format!("VM {vmid} is running - destroy failed")
        }
    );

    // suspend keeps `status: running` but QEMU is paused; shutdown refuses a paused VM
    power_ok(&pve, vmid, PowerAction::Suspend).await;
    let paused = pve.vm_status(NODE, vmid).await.unwrap();
    assert_eq!(paused.vm.status, "running");
    assert_eq!(paused.qmpstatus.as_deref(), Some("paused"));
    assert_eq!(fake.state().vm(vmid).unwrap().run, RunState::Paused);
    let err = pve
        .power(NODE, vmid, PowerAction::Shutdown)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "VM is paused - cannot shutdown");
    power_ok(&pve, vmid, PowerAction::Resume).await;
    power_ok(&pve, vmid, PowerAction::Reset).await;

    power_ok(&pve, vmid, PowerAction::Shutdown).await;
    pve.wait_vm_status(NODE, vmid, "stopped", patient())
        .await
        .unwrap();
    // stopping a stopped VM is a no-op; reset needs a running VM
    power_ok(&pve, vmid, PowerAction::Stop).await;
    let err = pve.power(NODE, vmid, PowerAction::Reset).await.unwrap_err();
    assert_eq!(
        err,
        Error::InvalidState {
            message: format!("VM {vmid} not running")
        }
    );

    // a template cannot start
    let upid = pve.power(NODE, TEMPLATE, PowerAction::Start).await.unwrap();
    assert_eq!(
        task_error(&pve, &upid).await,
        "you can't start a vm if it's a template"
    );
}

#[tokio::test]
async fn config_read_write_digest_and_pending_changes() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let vmid = cloned(&pve, "cfg").await;

    let before = pve.vm_config(NODE, vmid).await.unwrap();
    let update = ConfigUpdate::new()
        .set("cores", "2")
        .set("name", "cfg-renamed")
        .flag("onboot", true)
        .set("description", "two lines\nof notes")
        .digest(before.digest().unwrap());
    pve.update_config(NODE, vmid, &update).await.unwrap();
    let after = pve.vm_config(NODE, vmid).await.unwrap();
    assert_eq!(after.cores(), Some(2));
    assert_eq!(after.name(), Some("cfg-renamed"));
    assert_eq!(after.get("onboot"), Some("1"));
    assert_eq!(after.get("description"), Some("two lines\nof notes"));
    assert_ne!(
        after.digest(),
        before.digest(),
        "every write changes the digest"
    );

    // a stale digest is refused
    let stale = ConfigUpdate::new()
        .set("cores", "3")
        .digest(before.digest().unwrap());
    let err = pve.update_config(NODE, vmid, &stale).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "HTTP 500: checksum mismatch (file change by other user?)"
    );

    // the asynchronous variant returns a task
    let upid = pve
        .update_config_async(
            NODE,
            vmid,
            &ConfigUpdate::new().set("sockets", "2").delete("onboot"),
        )
        .await
        .unwrap()
        .expect("a qmconfig task");
    assert_eq!(upid.task_type(), "qmconfig");
    finish(&pve, &upid).await;
    let after = pve.vm_config(NODE, vmid).await.unwrap();
    assert_eq!(after.get("sockets"), Some("2"));
    assert_eq!(after.get("onboot"), None);

    // nothing to change
    let err = pve
        .update_config(NODE, vmid, &ConfigUpdate::new())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "HTTP 500: no options specified");

    // on a running VM most changes wait for the next start; GET shows them merged
    power_ok(&pve, vmid, PowerAction::Start).await;
    pve.update_config(
        NODE,
        vmid,
        &ConfigUpdate::new().set("cores", "8").set("tags", "bots"),
    )
    .await
    .unwrap();
    assert_eq!(pve.vm_config(NODE, vmid).await.unwrap().cores(), Some(8));
    let view = fake.state().vm(vmid).unwrap();
    assert_eq!(view.config.get("cores").map(String::as_str), Some("2"));
    assert_eq!(view.pending.get("cores").map(String::as_str), Some("8"));
    assert_eq!(
        view.config.get("tags").map(String::as_str),
        Some("bots"),
        "tags apply live"
    );
    power_ok(&pve, vmid, PowerAction::Stop).await;
    power_ok(&pve, vmid, PowerAction::Start).await;
    let view = fake.state().vm(vmid).unwrap();
    assert_eq!(view.config.get("cores").map(String::as_str), Some("8"));
    assert!(view.pending.is_empty());
}

#[tokio::test]
async fn bad_parameters_come_back_with_the_errors_map() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let err = pve
        .clone_vm(NODE, TEMPLATE, 99, &CloneOptions::default())
        .await
        .unwrap_err();
    let Error::BadParams { message, errors } = &err else {
        panic!("expected BadParams, got {err:?}")
    };
    assert_eq!(message, "Parameter verification failed.");
    assert_eq!(
        errors.get("newid").map(String::as_str),
        Some("invalid format - value does not look like a valid VM ID")
    );
    assert_eq!(err.code(), "PVE_BAD_PARAMS");

    let bad_name = CloneOptions {
        name: Some("not_a_dns_name".into()),
        ..CloneOptions::default()
    };
    let errors = bad_params(pve.clone_vm(NODE, TEMPLATE, 150, &bad_name).await);
    assert!(errors["name"].contains("valid DNS name"));

    let vmid = cloned(&pve, "params").await;
    let update = ConfigUpdate::new().set("bogus", "1").set("onboot", "true");
    let errors = bad_params(pve.update_config(NODE, vmid, &update).await);
    assert_eq!(
        errors["bogus"],
        "property is not defined in schema and the schema does not allow additional properties"
    );
    assert_eq!(
        errors["onboot"],
        "type check ('boolean') failed - got 'true'"
    );

    let iso_as_disk = ConfigUpdate::new().set("ide2", "local:iso/x.iso");
    let errors = bad_params(pve.update_config(NODE, vmid, &iso_as_disk).await);
    assert_eq!(
        errors["ide2"],
        "explicit 'media=cdrom' is required for iso images"
    );
    assert!(
        !fake.state().vm(vmid).unwrap().config.contains_key("onboot"),
        "a refused write changes nothing"
    );
}

#[tokio::test]
async fn delete_waits_for_the_task_then_the_vm_is_gone() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let vmid = cloned(&pve, "doomed").await;
    fake.state().hold_tasks(true);
    let options = DeleteOptions {
        purge: true,
        destroy_unreferenced_disks: true,
    };
    let upid = pve.delete_vm(NODE, vmid, options).await.unwrap();
    assert_eq!(upid.task_type(), "qmdestroy");
    assert!(
        pve.list_vms(NODE)
            .await
            .unwrap()
            .iter()
            .any(|v| v.vmid == vmid),
        "listed until the task ends"
    );
    fake.state().hold_tasks(false);
    finish(&pve, &upid).await;
    pve.wait_vm_presence(NODE, vmid, false, patient())
        .await
        .unwrap();
    assert!(matches!(
        pve.vm_status(NODE, vmid).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(pve.next_id().await.unwrap(), vmid, "the id is free again");

    // a template with linked clones keeps its base volume
    let child = cloned(&pve, "child").await;
    let upid = pve
        .delete_vm(NODE, TEMPLATE, DeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(
        task_error(&pve, &upid).await,
        "base volume 'local-lvm:base-100-disk-0' is still in use by linked cloned"
    );
    assert!(fake.state().vm(child).is_some());
}

#[tokio::test]
async fn iso_upload_content_listing_and_delete() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let bytes = b"CD001 pretend this is an ISO image".repeat(1000);
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let upload = IsoUpload {
        file_name: "provision 101.iso".into(),
        source: IsoSource::Bytes(bytes.clone()),
        sha256: Some(sha256),
    };
    let upid = pve.upload_iso(NODE, "local", &upload).await.unwrap();
    assert_eq!(upid.task_type(), "imgcopy");
    assert_eq!(upid.id(), "");
    finish(&pve, &upid).await;

    // streamed from a file, no checksum
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.iso");
    std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
    let from_file = IsoUpload {
        file_name: "big.iso".into(),
        source: IsoSource::File(path),
        sha256: None,
    };
    finish(
        &pve,
        &pve.upload_iso(NODE, "local", &from_file).await.unwrap(),
    )
    .await;

    let content = pve
        .storage_content(NODE, "local", Some("iso"))
        .await
        .unwrap();
    let mut volids: Vec<(&str, Option<u64>)> =
        content.iter().map(|v| (v.volid.as_str(), v.size)).collect();
    volids.sort();
    assert_eq!(
        volids,
        vec![
            ("local:iso/big.iso", Some(3 << 20)),
            ("local:iso/provision_101.iso", Some(bytes.len() as u64)),
        ],
        "the name is normalized and the size is what was sent"
    );
    assert!(
        content
            .iter()
            .all(|v| v.content == "iso" && v.format.as_deref() == Some("iso"))
    );

    // a wrong checksum fails in the task and keeps nothing
    let corrupt = IsoUpload {
        file_name: "corrupt.iso".into(),
        source: IsoSource::Bytes(b"abc".to_vec()),
        sha256: Some("00".repeat(32)),
    };
    let upid = pve.upload_iso(NODE, "local", &corrupt).await.unwrap();
    let text = task_error(&pve, &upid).await;
    assert!(
        text.starts_with("checksum mismatch: got 'ba7816bf"),
        "{text}"
    );
    assert!(
        !fake
            .state()
            .iso_files(NODE, "local")
            .contains(&"corrupt.iso".to_owned())
    );

    // extension and storage checks
    let not_iso = IsoUpload {
        file_name: "setup.exe".into(),
        ..corrupt.clone()
    };
    let errors = bad_params(pve.upload_iso(NODE, "local", &not_iso).await);
    assert_eq!(errors["filename"], "wrong file extension");
    let err = pve
        .upload_iso(NODE, "local-lvm", &upload)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "HTTP 500: can't upload to storage type 'lvmthin'"
    );
    let err = pve.storage_content(NODE, "nas", None).await.unwrap_err();
    assert_eq!(
        err,
        Error::NotFound {
            message: "storage 'nas' does not exist".into()
        }
    );

    // VM disks are listed on the LVM storage
    let disks = pve
        .storage_content(NODE, "local-lvm", Some("images"))
        .await
        .unwrap();
    assert!(
        disks
            .iter()
            .any(|v| v.volid == "local-lvm:base-100-disk-0" && v.vmid == Some(100))
    );

    let upid = pve
        .delete_volume(NODE, "local", "local:iso/big.iso")
        .await
        .unwrap();
    finish(&pve, &upid).await;
    assert_eq!(
        fake.state().iso_files(NODE, "local"),
        vec!["provision_101.iso".to_owned()]
    );
}

#[tokio::test]
async fn cdrom_attach_and_detach() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let vmid = cloned(&pve, "cd").await;
    let iso = IsoUpload {
        file_name: "vm-provision.iso".into(),
        source: IsoSource::Bytes(vec![1, 2, 3]),
        sha256: None,
    };
    finish(&pve, &pve.upload_iso(NODE, "local", &iso).await.unwrap()).await;

    pve.attach_cdrom(NODE, vmid, "ide2", "local:iso/vm-provision.iso")
        .await
        .unwrap();
    let config = pve.vm_config(NODE, vmid).await.unwrap();
    assert_eq!(
        config.get("ide2"),
        Some("local:iso/vm-provision.iso,media=cdrom")
    );
    assert_eq!(
        config.drive_volume("ide2"),
        Some("local:iso/vm-provision.iso")
    );

    // ejecting works live on a running VM
    power_ok(&pve, vmid, PowerAction::Start).await;
    pve.detach_cdrom(NODE, vmid, "ide2").await.unwrap();
    let view = fake.state().vm(vmid).unwrap();
    assert_eq!(
        view.config.get("ide2").map(String::as_str),
        Some("none,media=cdrom")
    );
    assert!(
        view.pending.is_empty(),
        "a CD-ROM change is not left pending"
    );
    power_ok(&pve, vmid, PowerAction::Stop).await;

    // a missing ISO is accepted on a stopped VM and makes the next start fail
    pve.attach_cdrom(NODE, vmid, "ide2", "local:iso/missing.iso")
        .await
        .unwrap();
    let upid = pve.power(NODE, vmid, PowerAction::Start).await.unwrap();
    assert_eq!(
        task_error(&pve, &upid).await,
        "volume 'local:iso/missing.iso' does not exist"
    );
    let err = pve
        .attach_cdrom(NODE, vmid, "ide2", "nas:iso/x.iso")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::NotFound {
            message: "storage 'nas' does not exist".into()
        }
    );
}

#[tokio::test]
async fn sendkey_needs_a_running_vm() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let vmid = cloned(&pve, "keys").await;
    let err = pve
        .send_key(NODE, vmid, "ctrl-alt-delete")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::InvalidState {
            message: format!("VM {vmid} not running")
        }
    );
    power_ok(&pve, vmid, PowerAction::Start).await;
    pve.send_key(NODE, vmid, "ctrl-alt-delete").await.unwrap();
    pve.send_key(NODE, vmid, "ret").await.unwrap();
    assert!(matches!(
        pve.send_key(NODE, vmid, "not a key!").await,
        Err(Error::BadParams { .. })
    ));
}

#[tokio::test]
async fn resize_grows_disks_and_reports_failures_in_the_task() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let vmid = cloned(&pve, "grow").await;
    let upid = pve.resize_disk(NODE, vmid, "sata0", "+16G").await.unwrap();
    assert_eq!(upid.task_type(), "resize");
    finish(&pve, &upid).await;
    let config = pve.vm_config(NODE, vmid).await.unwrap();
    assert_eq!(
        config.get("sata0"),
        Some("local-lvm:base-100-disk-0/vm-101-disk-0,size=80G")
    );

    let shrink = pve.resize_disk(NODE, vmid, "sata0", "10G").await.unwrap();
    assert_eq!(
        task_error(&pve, &shrink).await,
        "shrinking disks is not supported"
    );
    let missing = pve.resize_disk(NODE, vmid, "scsi5", "+1G").await.unwrap();
    assert_eq!(
        task_error(&pve, &missing).await,
        "disk 'scsi5' does not exist"
    );
    let cdrom = pve.resize_disk(NODE, vmid, "ide2", "+1G").await.unwrap();
    assert_eq!(task_error(&pve, &cdrom).await, "you can't resize a cdrom");
}

#[tokio::test]
async fn waits_time_out_without_depending_on_speed() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let short = WaitOptions::new(Duration::from_millis(50), Duration::from_millis(10));
    // the template never runs
    let err = pve
        .wait_vm_status(NODE, TEMPLATE, "running", short)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert_eq!(err.code(), "PVE_TIMEOUT");
    let err = pve
        .wait_vm_presence(NODE, 555, true, short)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");

    // a held task is still running when the wait gives up
    fake.state().hold_tasks(true);
    let upid = pve
        .clone_vm(NODE, TEMPLATE, 101, &CloneOptions::default())
        .await
        .unwrap();
    let err = pve.wait_task(&upid, short).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    fake.state().hold_tasks(false);
    finish(&pve, &upid).await;

    // an unknown task is a parameter error of the status call
    let bogus: Upid = format!("UPID:{NODE}:0000FFFF:01B4C5D6:66F0A1B2:qmstart:100:root@pam:")
        .parse()
        .unwrap();
    let errors = bad_params(pve.task_status(&bogus).await);
    assert_eq!(errors["upid"], "no such task");
}

#[tokio::test]
async fn guest_agent_interfaces_and_its_preconditions() {
    let fake = fake().await;
    let pve = token_client(&fake);
    let vmid = cloned(&pve, "agent").await;
    let err = pve.guest_network_interfaces(NODE, vmid).await.unwrap_err();
    assert_eq!(
        err,
        Error::InvalidState {
            message: format!("VM {vmid} is not running")
        }
    );
    power_ok(&pve, vmid, PowerAction::Start).await;
    let interfaces = pve.guest_network_interfaces(NODE, vmid).await.unwrap();
    let config = pve.vm_config(NODE, vmid).await.unwrap();
    let mac = config.net_mac(0).unwrap();
    let ip = find_guest_ipv4(&interfaces, mac).expect("an address on net0");
    assert!(!ip.is_loopback() && !ip.is_link_local(), "{ip}");

    fake.state().set_guest_agent(vmid, false);
    let err = pve.guest_network_interfaces(NODE, vmid).await.unwrap_err();
    assert_eq!(err.to_string(), "HTTP 500: QEMU guest agent is not running");

    power_ok(&pve, vmid, PowerAction::Stop).await;
    pve.update_config(NODE, vmid, &ConfigUpdate::new().delete("agent"))
        .await
        .unwrap();
    let err = pve.guest_network_interfaces(NODE, vmid).await.unwrap_err();
    assert_eq!(err.to_string(), "HTTP 500: No QEMU guest agent configured");
}

#[tokio::test]
async fn tls_pinning_accepts_exactly_the_pinned_certificate() {
    let fake = fake_with(|c| c.tls = true).await;
    assert!(fake.url().starts_with("https://"));
    let fingerprint: CertFingerprint = fake.cert_fingerprint().unwrap().parse().unwrap();
    let token = || Credentials::ApiToken(TOKEN.parse().unwrap());

    let pinned = ClientConfig::new(fake.url(), token())
        .unwrap()
        .with_tls(TlsTrust::Fingerprint(fingerprint));
    let pve = ProxmoxClient::new(pinned).unwrap();
    pve.version().await.unwrap();
    let nodes = pve.list_nodes().await.unwrap();
    assert_eq!(
        nodes[0].ssl_fingerprint.as_deref(),
        fake.cert_fingerprint(),
        "the node reports the certificate it serves"
    );

    let mut other = fingerprint;
    other.0[0] ^= 0xFF;
    let wrong = ClientConfig::new(fake.url(), token())
        .unwrap()
        .with_tls(TlsTrust::Fingerprint(other));
    let err = ProxmoxClient::new(wrong)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");

    // the certificate as an extra CA: normal verification, host name included
    let localhost = fake.url().replace("127.0.0.1", "localhost");
    let pem = fake.cert_pem().unwrap().as_bytes().to_vec();
    let with_ca = ClientConfig::new(&localhost, token())
        .unwrap()
        .with_tls(TlsTrust::ExtraCaPem(pem));
    ProxmoxClient::new(with_ca)
        .unwrap()
        .version()
        .await
        .unwrap();

    // without a pin the self-signed certificate is not trusted: verification stays on
    let default = ClientConfig::new(fake.url(), token()).unwrap();
    let err = ProxmoxClient::new(default)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");

    // a pin makes no sense over plain HTTP
    let plain = fake_with(|_| {}).await;
    let config = ClientConfig::new(plain.url(), token())
        .unwrap()
        .with_tls(TlsTrust::Fingerprint(fingerprint));
    assert!(matches!(ProxmoxClient::new(config), Err(Error::Config(_))));
}
