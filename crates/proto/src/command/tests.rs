//! The catalogue against literal JSON of today's tests and the spec.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::validate::from_json;

fn command(command_type: &str, payload: Value) -> Command {
    Command::from_parts(command_type, payload)
        .unwrap_or_else(|e| panic!("{command_type} refused: {e}"))
}

fn refused(command_type: &str, payload: Value) -> FieldErrors {
    Command::from_parts(command_type, payload)
        .expect_err("must be refused")
        .errors
}

/// A small valid payload for every type of the catalogue.
fn sample(command_type: &str) -> Value {
    let upid = "UPID:h1:000A1B2C:0001F2E3:67000000:qmclone:100:root@pam:";
    match command_type {
        "proxmox.list-vms" | "proxmox.status" | "proxmox.list-targets" => json!({}),
        "proxmox.clone" => {
            json!({"templateVmId": 100, "newid": 101, "name": "WoW1", "storage": "data",
            "format": "raw", "full": true})
        }
        "proxmox.delete" => json!({"vmid": 101, "purge": true, "destroyUnreferencedDisks": true}),
        "proxmox.update-config" => json!({"vmid": 101, "config": {"cores": 2, "memory": 4096}}),
        "proxmox.resize-disk" => json!({"vmid": 101, "disk": "sata0", "size": "+64G"}),
        "proxmox.task-status" => json!({"upid": upid}),
        "proxmox.wait-task" => json!({"upid": upid, "timeoutMs": 300000, "intervalMs": 1000}),
        "proxmox.wait-vm-status" => {
            json!({"vmid": 101, "desiredStatus": "running", "timeoutMs": 120000})
        }
        "proxmox.wait-vm-presence" => json!({"vmid": 101, "exists": false, "timeoutMs": 45000}),
        "proxmox.sendkey" => json!({"vmid": 101, "key": "a"}),
        "proxmox.cluster-resources" => json!({"type": "storage"}),
        "proxmox.login" => json!({"force": true}),
        "proxmox.ssh-status" | "proxmox.ssh-test" | "proxmox.ssh-bootstrap" => {
            json!({"sshHost": "192.168.1.100", "sshPort": 22, "sshUsername": "root", "timeoutMs": 10000})
        }
        "proxmox.ssh-read-config" => json!({"vmid": 101}),
        "proxmox.ssh-write-config" => json!({"vmid": 101, "content": "cores: 2\n"}),
        "proxmox.ssh-exec" => json!({"command": "qm status 101", "timeoutMs": 30000}),
        "proxmox.create-provision-iso" => json!({"vmid": 101, "files": {"provision.json": "e30="},
            "isoName": "provision-101.iso", "isoStorage": "local"}),
        "proxmox.attach-cdrom" => {
            json!({"vmid": 101, "isoPath": "local:iso/provision-101.iso", "cdromSlot": "ide2"})
        }
        "proxmox.detach-cdrom" => json!({"vmid": 101, "cdromSlot": "ide2", "deleteIso": true}),
        "proxmox.upload-iso" => json!({"storage": "local", "filename": "virtio-win.iso",
            "url": "https://example.com/virtio-win.iso"}),
        _ => json!({"vmid": 101}),
    }
}

#[test]
fn every_type_of_the_catalogue_round_trips() {
    assert_eq!(COMMAND_TYPES.len(), 33);
    for &ty in COMMAND_TYPES {
        let mut payload = sample(ty);
        let c = command(ty, payload.clone());
        assert_eq!(c.command_type(), ty);
        assert_eq!(c.payload(), payload, "{ty} keeps its payload");
        // The UI adds node and target to every proxmox payload.
        payload["node"] = json!("h1");
        payload["target"] = json!("pve.lan:8006|root@pam|h1");
        let placed = command(ty, payload.clone());
        assert_eq!(
            (placed.node(), placed.target()),
            (Some("h1"), Some("pve.lan:8006|root@pam|h1"))
        );
        assert_eq!(command(ty, placed.payload()), placed);
    }
}

#[test]
fn todays_dispatch_bodies_are_read_and_written_unchanged() {
    let body = json!({"agent_id": "a1", "command_type": "proxmox.vm-status",
        "payload": {"vmid": 100, "node": "pve1"}});
    let req: DispatchRequest = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(
        req.command,
        Command::VmStatus(OnVm {
            vmid: VmId::new(100).unwrap(),
            node: Some("pve1".into()),
            target: None,
        })
    );
    assert_eq!(serde_json::to_value(&req).unwrap(), body);
    let offline = json!({"agent_id": "a1", "command_type": "proxmox.start",
        "payload": {"vmid": 100}, "queue_if_offline": true, "expires_in_seconds": 600});
    let req = DispatchRequest::parse(offline.clone()).unwrap();
    assert_eq!((req.ttl_seconds(), req.queue_if_offline), (600, Some(true)));
    assert_eq!(serde_json::to_value(&req).unwrap(), offline);
}

#[test]
fn a_missing_payload_is_an_empty_object() {
    let req = DispatchRequest::parse(json!({"agent_id": "a1", "command_type": "proxmox.status"}))
        .unwrap();
    assert_eq!(
        req.command,
        Command::Status(OnNode {
            node: None,
            target: None
        })
    );
    assert_eq!(req.ttl_seconds(), DEFAULT_EXPIRES_IN_SECONDS);
    assert_eq!(
        serde_json::to_value(&req).unwrap(),
        json!({"agent_id": "a1", "command_type": "proxmox.status", "payload": {}})
    );
    assert_eq!(
        command("proxmox.list-targets", Value::Null).payload(),
        json!({})
    );
}

#[test]
fn aliases_become_the_canonical_spelling() {
    assert_eq!(
        command("proxmox.list", json!({"node": "pve1"})).command_type(),
        "proxmox.list-vms"
    );
    assert_eq!(
        command("proxmox.config.get", json!({"vmid": 1})).command_type(),
        "proxmox.get-config"
    );
    let update = command("proxmox.config.update", json!({"vmid": 1, "cores": 4}));
    assert_eq!(update.command_type(), "proxmox.update-config");
    let upid = "UPID:h1:0:0:0:qmstart:101:root@pam:";
    for key in ["upid", "task", "taskId"] {
        let c = command(
            "proxmox.wait-task",
            json!({key: upid, "timeout_ms": 5000, "interval_ms": 500}),
        );
        assert_eq!(
            c.payload(),
            json!({"upid": upid, "timeoutMs": 5000, "intervalMs": 500})
        );
    }
    let c = command(
        "proxmox.wait-vm-status",
        json!({"vmid": 101, "status": "stopped"}),
    );
    assert_eq!(
        c.payload(),
        json!({"vmid": 101, "desiredStatus": "stopped"})
    );
    let c = command(
        "proxmox.cluster-resources",
        json!({"resourceType": "storage"}),
    );
    assert_eq!(c.payload(), json!({"type": "storage"}));
    let c = command("proxmox.ssh-read-config", json!({"id": "101"}));
    assert_eq!(c.payload(), json!({"vmid": 101}));
    let c = command("proxmox.clone", json!({"vmid": 100, "newid": 101}));
    assert_eq!(c.payload(), json!({"templateVmId": 100, "newid": 101}));
    let c = command("proxmox.ssh-status", json!({"port": "2222"}));
    assert_eq!(c.payload(), json!({"sshPort": 2222}));
    let c = command(
        "proxmox.ssh-exec",
        json!({"command": "qm status 101", "timeout": 9000}),
    );
    assert_eq!(
        c.payload(),
        json!({"command": "qm status 101", "timeoutMs": 9000})
    );
}

#[test]
fn update_config_takes_flat_and_nested_keys_and_the_flat_one_wins() {
    let c = command(
        "proxmox.update-config",
        json!({"vmid": 101, "node": "h1", "cores": 4, "config": {"cores": 2, "memory": 4096,
            "net0": "e1000=00:1B:21:00:00:01,bridge=vmbr1"}}),
    );
    assert_eq!(
        c.payload(),
        json!({"vmid": 101, "node": "h1", "config": {"cores": 4, "memory": 4096,
            "net0": "e1000=00:1B:21:00:00:01,bridge=vmbr1"}})
    );
    let e = refused("proxmox.update-config", json!({"vmid": 101}));
    assert_eq!(
        e.get("payload.config").unwrap(),
        ["must set at least one key"]
    );
    let e = refused(
        "proxmox.update-config",
        json!({"vmid": 101, "lock": "clone"}),
    );
    assert!(e.get("payload.lock").is_some(), "{e}");
    let e = refused(
        "proxmox.update-config",
        json!({"vmid": 101, "config": {"cipassword": "x"}}),
    );
    assert!(e.get("payload.config.cipassword").is_some(), "{e}");
    let e = refused(
        "proxmox.update-config",
        json!({"vmid": 101, "config": {"args": {"x": 1}}}),
    );
    assert!(e.get("payload.config.args").is_some(), "{e}");
}

#[test]
fn vm_ids_are_positive_numbers_or_numeric_strings() {
    let c = command("proxmox.start", json!({"vmid": "101"}));
    assert_eq!(
        c,
        Command::Start(OnVm {
            vmid: VmId::new(101).unwrap(),
            node: None,
            target: None
        })
    );
    assert_eq!(c.payload(), json!({"vmid": 101}));
    for bad in [
        json!(0),
        json!(-1),
        json!("abc"),
        json!(1.5),
        json!(null),
        json!(5_000_000_000u64),
    ] {
        let e = refused("proxmox.start", json!({"vmid": bad}));
        assert!(e.get("payload.vmid").is_some(), "{bad}: {e}");
    }
    let e = refused("proxmox.start", json!({}));
    assert_eq!(e.get("payload").unwrap(), ["missing field `vmid`"]);
}

#[test]
fn unknown_keys_and_credentials_are_refused_by_name() {
    let e = refused("proxmox.start", json!({"vmid": 100, "bogus": 1}));
    assert_eq!(
        e.get("payload.bogus").unwrap(),
        ["unknown key (allowed: vmid, node, target)"]
    );
    for key in ["sshPassword", "sshPrivateKey", "allowUnsafe"] {
        let e = refused(
            "proxmox.ssh-exec",
            json!({"command": "qm status 1", key: "x"}),
        );
        assert_eq!(
            e.get(&format!("payload.{key}")).unwrap(),
            ["commands carry no credentials; the agent uses its own"],
        );
    }
    // Today's server test: a nested credential under an unknown key.
    let e = refused(
        "proxmox.start",
        json!({"vmid": 100, "ssh": {"password": "x"}}),
    );
    assert!(e.get("payload.ssh").is_some());
    let e = refused("proxmox.start", json!([100]));
    assert_eq!(e.get("payload").unwrap(), ["must be a JSON object"]);
}

#[test]
fn unknown_command_types_are_refused() {
    for ty in ["test.echo", "syncthing.start", "proxmox.reboot", ""] {
        let err = Command::from_parts(ty, json!({})).unwrap_err();
        assert_eq!(err.command_type, ty);
        assert!(err.errors.get("command_type").unwrap()[0].starts_with("unknown command type"));
    }
}

#[test]
fn payload_limits_are_checked() {
    let cases = [
        (
            "proxmox.wait-task",
            json!({"upid": "UPID:x", "timeoutMs": 999}),
            "payload.timeoutMs",
        ),
        (
            "proxmox.wait-task",
            json!({"upid": "not-a-upid"}),
            "payload.upid",
        ),
        (
            "proxmox.wait-vm-presence",
            json!({"vmid": 1, "timeoutMs": 600001}),
            "payload.timeoutMs",
        ),
        (
            "proxmox.wait-vm-status",
            json!({"vmid": 1, "intervalMs": 100}),
            "payload.intervalMs",
        ),
        (
            "proxmox.wait-vm-status",
            json!({"vmid": 1, "status": "exploded"}),
            "payload.status",
        ),
        (
            "proxmox.resize-disk",
            json!({"vmid": 1, "disk": "sata0", "size": "64GB"}),
            "payload.size",
        ),
        (
            "proxmox.resize-disk",
            json!({"vmid": 1, "disk": "floppy0", "size": "+1G"}),
            "payload.disk",
        ),
        (
            "proxmox.sendkey",
            json!({"vmid": 1, "key": "a; reboot"}),
            "payload.key",
        ),
        (
            "proxmox.ssh-exec",
            json!({"command": "qm status 1\nreboot"}),
            "payload.command",
        ),
        (
            "proxmox.ssh-exec",
            json!({"command": "  "}),
            "payload.command",
        ),
        (
            "proxmox.ssh-status",
            json!({"sshPort": 0}),
            "payload.sshPort",
        ),
        (
            "proxmox.ssh-status",
            json!({"sshHost": "a;b"}),
            "payload.sshHost",
        ),
        (
            "proxmox.ssh-write-config",
            json!({"vmid": 1, "content": ""}),
            "payload.content",
        ),
        (
            "proxmox.create-provision-iso",
            json!({"vmid": 1, "files": {}}),
            "payload.files",
        ),
        (
            "proxmox.create-provision-iso",
            json!({"vmid": 1, "files": {"../x": "e30="}}),
            "payload.files.../x",
        ),
        (
            "proxmox.create-provision-iso",
            json!({"vmid": 1, "files": {"a.txt": "%%"}}),
            "payload.files.a.txt",
        ),
        (
            "proxmox.create-provision-iso",
            json!({"vmid": 1, "files": {"a": "e30="}, "isoName": "x;rm"}),
            "payload.isoName",
        ),
        (
            "proxmox.attach-cdrom",
            json!({"vmid": 1, "isoPath": "/etc/passwd"}),
            "payload.isoPath",
        ),
        (
            "proxmox.detach-cdrom",
            json!({"vmid": 1, "cdromSlot": "virtio0"}),
            "payload.cdromSlot",
        ),
        (
            "proxmox.upload-iso",
            json!({"storage": "local", "filename": "x.iso", "url": "file:///etc/passwd"}),
            "payload.url",
        ),
        (
            "proxmox.clone",
            json!({"templateVmId": 100, "name": "bad name"}),
            "payload.name",
        ),
        (
            "proxmox.list-vms",
            json!({"node": "../nodes"}),
            "payload.node",
        ),
        (
            "proxmox.list-vms",
            json!({"target": "a b"}),
            "payload.target",
        ),
    ];
    for (ty, payload, field) in cases {
        let e = refused(ty, payload.clone());
        assert!(
            e.get(field).is_some(),
            "{ty} {payload}: expected {field}, got {e}"
        );
    }
}

#[test]
fn defaults_are_filled_in_by_the_accessors() {
    let Command::WaitTask(w) = command("proxmox.wait-task", json!({"upid": "UPID:x"})) else {
        unreachable!()
    };
    assert_eq!(
        (w.timeout().as_millis(), w.interval().as_millis()),
        (300_000, 1_000)
    );
    let Command::CreateProvisionIso(iso) = command(
        "proxmox.create-provision-iso",
        json!({"vmid": 7, "files": {"a": "e30"}}),
    ) else {
        unreachable!()
    };
    assert_eq!(
        (iso.iso_file_name(), iso.storage()),
        ("vm-7-provision.iso".to_owned(), "local")
    );
    let Command::WaitVmPresence(p) = command("proxmox.wait-vm-presence", json!({"vmid": 7})) else {
        unreachable!()
    };
    assert!(p.should_exist());
}

#[test]
fn exactly_the_eight_reference_types_are_read_only() {
    let read_only: BTreeSet<&str> = COMMAND_TYPES
        .iter()
        .copied()
        .filter(|ty| command(ty, sample(ty)).is_read_only())
        .collect();
    let expected: BTreeSet<&str> = [
        "proxmox.status",
        "proxmox.ssh-status",
        "proxmox.ssh-test",
        "proxmox.list-vms",
        "proxmox.list-targets",
        "proxmox.cluster-resources",
        "proxmox.get-config",
        "proxmox.vm-status",
    ]
    .into();
    assert_eq!(read_only, expected);
}

#[test]
fn dispatch_errors_name_every_bad_field() {
    let e = DispatchRequest::parse(json!({"agent_id": " ", "command_type": "proxmox.start",
        "payload": {"vmid": "x"}, "expires_in_seconds": 5}))
    .unwrap_err();
    let fields: Vec<&str> = e.field_errors.keys().map(String::as_str).collect();
    assert_eq!(fields, ["agent_id", "expires_in_seconds", "payload.vmid"]);
    let e = DispatchRequest::parse(json!({"command_type": "proxmox.start"})).unwrap_err();
    assert_eq!(e.form_errors, ["missing field `agent_id`"]);
    let serde_error = serde_json::from_value::<DispatchRequest>(
        json!({"agent_id": "a", "command_type": "proxmox.start", "payload": {"vmid": 0}}),
    )
    .unwrap_err();
    assert!(
        serde_error
            .to_string()
            .contains("payload.vmid: must be a VM id, 1 to 999999999"),
        "{serde_error}"
    );
    for too_high in [json!(1_000_000_000), json!("1000000000")] {
        let refused = serde_json::from_value::<DispatchRequest>(
            json!({"agent_id": "a", "command_type": "proxmox.start", "payload": {"vmid": too_high}}),
        );
        assert!(
            refused.is_err(),
            "{too_high} is past Proxmox's highest VM id"
        );
    }
    let ok =
        from_json::<DispatchRequest>(json!({"agent_id": "a", "command_type": "proxmox.status",
        "expires_in_seconds": "3600"}));
    assert_eq!(ok.unwrap().ttl_seconds(), 3600);
}

#[test]
fn the_reference_route_builds_the_same_command() {
    let req: ProxmoxDispatchRequest =
        from_json(json!({"agent_id": "a1", "params": {"node": "pve1"}, "action": "ignored"}))
            .unwrap();
    let dispatch = req.clone().into_dispatch("list").unwrap();
    assert_eq!(dispatch.command.command_type(), "proxmox.list-vms");
    assert_eq!(dispatch.command.payload(), json!({"node": "pve1"}));
    let bare: ProxmoxDispatchRequest = from_json(json!({"agent_id": "a1"})).unwrap();
    assert_eq!(bare.command("status").unwrap().payload(), json!({}));
    assert!(bare.command("reboot").is_err());
    let (action, again) = ProxmoxDispatchRequest::for_command("a1", &dispatch.command);
    assert_eq!((action, again.params), ("list-vms", req.params));
}

#[test]
fn statuses_speak_lower_case() {
    for status in CommandStatus::ALL {
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            json!(status.as_str())
        );
        assert_eq!(status.as_str().parse::<CommandStatus>(), Ok(status));
    }
    for event in AgentEventType::ALL {
        assert_eq!(serde_json::to_value(event).unwrap(), json!(event.as_str()));
    }
    let terminal: Vec<_> = CommandStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(
        terminal,
        [
            CommandStatus::Succeeded,
            CommandStatus::Failed,
            CommandStatus::Cancelled,
            CommandStatus::Expired
        ]
    );
    assert!("done".parse::<CommandStatus>().is_err());
    assert_eq!(
        CommandStatus::from(ReportStatus::Running),
        CommandStatus::Running
    );
}

#[test]
fn reports_are_read_as_agents_send_them_and_bounded() {
    let report: ReportRequest = from_json(json!({"claim_id": "c1", "status": "succeeded",
        "result": {"vms": [100, 101]}}))
    .unwrap();
    assert_eq!(
        report,
        ReportRequest::succeeded("c1", json!({"vms": [100, 101]}))
    );
    assert!(from_json::<ReportRequest>(json!({"claim_id": "c1", "status": "queued"})).is_err());
    let long = "x".repeat(MAX_ERROR_MESSAGE_CHARS + 1);
    let e = from_json::<ReportRequest>(
        json!({"claim_id": "c1", "status": "failed", "error_message": long}),
    )
    .unwrap_err();
    assert!(e.get("error_message").is_some());
    let cut = ReportRequest::failed("c1", &long);
    assert_eq!(
        cut.error_message.as_ref().unwrap().chars().count(),
        MAX_ERROR_MESSAGE_CHARS
    );
    assert!(cut.validate().is_ok());
    let huge = ReportRequest::succeeded("c1", json!("x".repeat(MAX_RESULT_BYTES)));
    assert!(huge.validate().unwrap_err().get("result").is_some());
    assert_eq!(
        serde_json::to_value(ReportRequest::running("c1")).unwrap(),
        json!({"claim_id": "c1", "status": "running"})
    );
}

fn view_json() -> Value {
    json!({
        "id": "c1", "tenant_id": "acme", "agent_id": "a1", "command_type": "proxmox.list-vms",
        "payload": {"node": "pve1"}, "status": "dispatched", "result": null, "error_message": null,
        "created_by": "u1", "claim_id": "k1", "attempts": 1,
        "queued_at": "2025-01-02T03:04:05.000Z", "claimed_at": "2025-01-02T03:04:06.120Z",
        "started_at": null, "completed_at": null, "expires_at": "2025-01-02T03:09:05.000Z"
    })
}

#[test]
fn the_command_view_keeps_todays_wire_form_and_decodes() {
    let view: CommandView = serde_json::from_value(view_json()).unwrap();
    assert_eq!(view.status, CommandStatus::Dispatched);
    assert_eq!(serde_json::to_value(&view).unwrap(), view_json());
    assert_eq!(view.command().unwrap().command_type(), "proxmox.list-vms");
    let old = CommandView {
        command_type: "test.echo".into(),
        ..view
    };
    assert!(
        old.command().is_err(),
        "rows from before the catalogue still read as views"
    );
}

#[test]
fn sse_events_are_read_from_their_frames() {
    let data = json!({"event_id": 7, "event_type": "command.dispatched", "tenant_id": "acme",
        "command": view_json(), "server_time": "2025-01-02T03:04:06.120Z"});
    let event = VmOpsEvent::from_sse("vm-command", &data.to_string())
        .unwrap()
        .unwrap();
    let VmOpsEvent::Command(c) = &event else {
        panic!("{event:?}")
    };
    assert_eq!((c.event_id, c.event_type), (7, CommandStatus::Dispatched));
    assert_eq!((event.sse_name(), event.event_id()), (EVENT_VM_COMMAND, 7));
    assert_eq!(serde_json::to_value(&event).unwrap(), data);

    let agent = json!({"id": "a1", "tenant_id": "acme", "owner_user_id": "u1", "name": "host",
        "status": "revoked", "online": false, "version": null, "platform": null, "capabilities": [],
        "public_key": null, "metadata": {}, "last_seen_at": null, "paired_at": null,
        "revoked_at": "2025-01-02T03:04:05.000Z", "revoke_reason": null,
        "created_at": "2025-01-02T03:00:00.000Z", "updated_at": "2025-01-02T03:04:05.000Z"});
    let data = json!({"event_id": 8, "event_type": "agent.revoked", "tenant_id": "acme", "agent": agent,
        "server_time": "2025-01-02T03:04:05.000Z"});
    let Some(VmOpsEvent::Agent(a)) =
        VmOpsEvent::from_sse("agent-status", &data.to_string()).unwrap()
    else {
        panic!("not an agent event")
    };
    assert_eq!(a.event_type, AgentEventType::Revoked);
    assert_eq!(VmOpsEvent::from_sse("something-new", "{}").unwrap(), None);
    assert!(VmOpsEvent::from_sse("vm-command", "{}").is_err());
}

#[test]
fn queries_check_their_ranges() {
    assert!(
        NextQuery {
            timeout_ms: Some(999)
        }
        .validate()
        .is_err()
    );
    assert!(
        NextQuery {
            timeout_ms: Some(60_001)
        }
        .validate()
        .is_err()
    );
    assert_eq!(NextQuery::default().wait().as_millis(), 25_000);
    let q: ListCommandsQuery = from_json(json!({"agent_id": "a1", "status": "succeeded"})).unwrap();
    assert_eq!(q.status, Some(CommandStatus::Succeeded));
    assert!(
        from_json::<ListCommandsQuery>(json!({"status": "done"}))
            .unwrap_err()
            .get("status")
            .is_some()
    );
    assert!(
        EventsQuery {
            last_event_id: Some(-1),
            ..Default::default()
        }
        .validate()
        .is_err()
    );
}

/// Every `$ref` in the schema of `T` names a schema `T` hands over with it.
fn refs_resolve<T: ToSchema>() {
    let mut deps = Vec::new();
    T::schemas(&mut deps);
    let mut names: BTreeSet<String> = deps.iter().map(|(n, _)| n.clone()).collect();
    names.insert(T::name().into_owned());
    let mut texts = vec![serde_json::to_value(T::schema()).unwrap()];
    texts.extend(deps.iter().map(|(_, s)| serde_json::to_value(s).unwrap()));
    for text in texts {
        for part in text
            .to_string()
            .split("\"$ref\":\"#/components/schemas/")
            .skip(1)
        {
            let name = part.split('"').next().unwrap();
            assert!(
                names.contains(name),
                "{} refers to {name}, which it does not provide",
                T::name()
            );
        }
    }
}

#[test]
fn the_schema_lists_every_type_with_its_payload() {
    let schema = serde_json::to_value(Command::schema()).unwrap();
    let variants = schema["oneOf"].as_array().unwrap();
    assert_eq!(variants.len(), COMMAND_TYPES.len());
    let list = variants
        .iter()
        .find(|v| v["title"] == "proxmox.list-vms")
        .unwrap();
    assert_eq!(
        list["properties"]["command_type"]["enum"],
        json!(["proxmox.list-vms", "proxmox.list"])
    );
    assert_eq!(
        list["properties"]["payload"]["$ref"],
        "#/components/schemas/OnNode"
    );
    refs_resolve::<Command>();
    refs_resolve::<DispatchRequest>();
    refs_resolve::<CommandView>();
    refs_resolve::<CommandEvent>();
}

#[test]
fn hostile_values_are_refused_by_field() {
    let nul = "a\u{0}b";
    let cases = [
        (
            "proxmox.ssh-write-config",
            json!({"vmid": 1, "content": nul}),
            "payload.content",
        ),
        (
            "proxmox.ssh-write-config",
            json!({"vmid": 1, "content": "cores: 2\u{1b}[2J\n"}),
            "payload.content",
        ),
        (
            "proxmox.update-config",
            json!({"vmid": 1, "description": nul}),
            "payload.config.description",
        ),
        (
            "proxmox.update-config",
            json!({"vmid": 1, "config": ["cores", 2]}),
            "payload.config",
        ),
        (
            "proxmox.update-config",
            json!({"vmid": 1, "config": {"cores": [2]}}),
            "payload.config.cores",
        ),
        (
            "proxmox.upload-iso",
            json!({"storage": "local", "filename": "x.iso", "url": "https://example.com/a\nb.iso"}),
            "payload.url",
        ),
        (
            "proxmox.upload-iso",
            json!({"storage": "local", "filename": "x.iso", "url": "https://example.com/\u{0}.iso"}),
            "payload.url",
        ),
        (
            "proxmox.upload-iso",
            json!({"storage": "", "filename": "x.iso", "url": "https://e.com/x.iso"}),
            "payload.storage",
        ),
        (
            "proxmox.create-provision-iso",
            json!({"vmid": 1, "files": ["provision.json"]}),
            "payload.files",
        ),
        (
            "proxmox.create-provision-iso",
            json!({"vmid": 1, "files": {"": "e30="}}),
            "payload.files.",
        ),
        (
            "proxmox.ssh-exec",
            json!({"command": nul}),
            "payload.command",
        ),
        (
            "proxmox.task-status",
            json!({"upid": format!("UPID:{nul}")}),
            "payload.upid",
        ),
        (
            "proxmox.task-status",
            json!({"upid": format!("UPID:{}", "x".repeat(600))}),
            "payload.upid",
        ),
        (
            "proxmox.task-status",
            json!({"upid": "UPID:h1:é"}),
            "payload.upid",
        ),
        (
            "proxmox.sendkey",
            json!({"vmid": 1, "key": "a".repeat(65)}),
            "payload.key",
        ),
        (
            "proxmox.clone",
            json!({"templateVmId": 1, "name": "a".repeat(129)}),
            "payload.name",
        ),
        ("proxmox.list-vms", json!({"node": ""}), "payload.node"),
        (
            "proxmox.list-vms",
            json!({"target": "t".repeat(201)}),
            "payload.target",
        ),
        (
            "proxmox.start",
            json!({"vmid": 18446744073709551616.0}),
            "payload.vmid",
        ),
        ("proxmox.start", json!({"vmid": [101]}), "payload.vmid"),
        (
            "proxmox.start",
            json!({"vmid": {"id": 101}}),
            "payload.vmid",
        ),
        (
            "proxmox.wait-task",
            json!({"upid": "UPID:x", "timeoutMs": u64::MAX}),
            "payload.timeoutMs",
        ),
        (
            "proxmox.wait-task",
            json!({"upid": "UPID:x", "timeoutMs": 1e300}),
            "payload.timeoutMs",
        ),
        (
            "proxmox.wait-task",
            json!({"upid": "UPID:x", "intervalMs": -1}),
            "payload.intervalMs",
        ),
        (
            "proxmox.ssh-status",
            json!({"sshPort": 65536}),
            "payload.sshPort",
        ),
        (
            "proxmox.ssh-status",
            json!({"sshPort": "22".repeat(5000)}),
            "payload.sshPort",
        ),
    ];
    for (ty, payload, field) in cases {
        let e = refused(ty, payload.clone());
        assert!(
            e.get(field).is_some(),
            "{ty} {payload}: expected {field}, got {e}"
        );
    }
    // A tab and line breaks are text, as a description has them.
    command(
        "proxmox.update-config",
        json!({"vmid": 1, "description": "a\tb\r\nc"}),
    );
    command(
        "proxmox.ssh-write-config",
        json!({"vmid": 1, "content": "cores: 2\r\n\tx\n"}),
    );
}

#[test]
fn a_payload_checks_node_and_target_when_validated_directly() {
    let on = OnVm {
        vmid: VmId::new(1).unwrap(),
        node: Some("../x".into()),
        target: Some("a b".into()),
    };
    let e = on.validate().unwrap_err();
    assert!(e.get("node").is_some() && e.get("target").is_some(), "{e}");
}

#[test]
fn many_unknown_keys_give_a_bounded_answer() {
    let payload: Map<String, Value> = (0..5_000).map(|i| (format!("k{i}"), json!(0))).collect();
    let e = refused("proxmox.start", Value::Object(payload));
    let problems: usize = e.field_errors.values().map(Vec::len).sum();
    assert!(problems <= 100, "{problems} problems");
    assert_eq!(e.form_errors.len(), 1);
}

#[test]
fn a_report_is_never_refused_for_its_message_but_is_for_nul_in_its_result() {
    let report = ReportRequest::failed("c1", "ssh said \u{0}\u{0}");
    assert!(report.validate().is_ok(), "{report:?}");
    assert_eq!(
        report.error_message.as_deref(),
        Some("ssh said \u{FFFD}\u{FFFD}")
    );
    let e = ReportRequest::succeeded("c1", json!({"out": "a\u{0}"}))
        .validate()
        .unwrap_err();
    assert!(e.get("result").is_some(), "{e}");
    let e =
        from_json::<ReportRequest>(json!({"claim_id": "c\u{0}", "status": "running"})).unwrap_err();
    assert!(e.get("claim_id").is_some(), "{e}");
    let e = from_json::<EventsQuery>(json!({"agent_id": "\u{0}"})).unwrap_err();
    assert!(e.get("agent_id").is_some(), "{e}");
}

#[test]
fn command_status_words_match_serde_and_name_the_choices() {
    assert_eq!(
        "done".parse::<CommandStatus>(),
        Err(
            "unknown command status 'done' (expected queued, dispatched, running, succeeded, \
             failed, cancelled or expired)"
                .to_owned()
        )
    );
    assert_eq!(CommandStatus::Expired.to_string(), "expired");
}
