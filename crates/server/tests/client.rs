//! The typed client (`botmox-client`) against the real server, on both engines: what a
//! machine caller sends through the contract the server accepts, and what the server answers
//! the client decodes — sign-in, users, tokens, pairing, registration, heartbeat, rotation,
//! dispatch (typed command), the long-poll claim, reports, the event stream, revocation.

use std::time::Duration;

use botmox_client::ClientError;
use botmox_proto::ErrorCode;
use botmox_proto::agent::{
    AgentStatus, CreatePairingRequest, HeartbeatRequest, PairingBundle, RegisterRequest,
    RevokeRequest, parse_pairing_string,
};
use botmox_proto::auth::{CreateUserRequest, LoginRequest, Role};
use botmox_proto::command::{
    Command, CommandStatus, DispatchRequest, EventsQuery, ListCommandsQuery, NextQuery,
    ReportRequest, VmOpsEvent,
};
use botmox_proto::envelope::PageQuery;
use botmox_testkit::{TestServer, both_backends};
use futures::StreamExt;
use serde_json::json;

both_backends! {
    async fn a_machine_caller_speaks_the_contract_end_to_end(backend) {
        let server = TestServer::start(backend).await;
        server.create_user("acme", "admin@example.com", Role::Admin).await;
        let anonymous = server.client(None);
        let pair = anonymous
            .login(&LoginRequest { email: "admin@example.com".into(), password: "correct-horse-battery".into() })
            .await
            .unwrap();
        let admin = server.client(Some(&pair.access_token));
        assert_eq!(admin.whoami().await.unwrap().roles, [Role::Admin]);
        let user = admin
            .create_user(&CreateUserRequest { email: "u@example.com".into(), password: "long-enough-pw".into(), role: Role::User })
            .await
            .unwrap();
        let users = admin.list_users(&PageQuery::default()).await.unwrap();
        assert!(users.items.iter().any(|u| u.id == user.id));

        // Pairing: the one-paste string the page shows is what an agent parses.
        let pairing = admin
            .create_pairing(&CreatePairingRequest { name: Some("rack 1".into()), ..Default::default() })
            .await
            .unwrap();
        let bundle: PairingBundle = parse_pairing_string(&pairing.pairing_uri).unwrap();
        assert_eq!(bundle.pairing_code, pairing.pairing_code);
        let registered = anonymous
            .register(&RegisterRequest { pairing_code: bundle.pairing_code.clone(), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(registered.agent.status, AgentStatus::Active);
        let again = anonymous
            .register(&RegisterRequest { pairing_code: bundle.pairing_code, ..Default::default() })
            .await
            .unwrap_err();
        assert!(again.is(ErrorCode::PairingNotFound), "{again}");
        let agent = server.client(Some(&registered.agent_token));
        let beat = agent
            .heartbeat(&HeartbeatRequest { version: Some("1.2.3".into()), ..Default::default() })
            .await
            .unwrap();
        assert!(beat.online);

        // A typed dispatch, claimed and reported; the events say so in order.
        let mut events = admin
            .events(&EventsQuery { agent_id: Some(registered.agent.id.clone()), ..Default::default() }, None)
            .await
            .unwrap();
        let command = Command::from_parts("proxmox.start", json!({"vmid": 101})).unwrap();
        let queued = admin
            .dispatch(&DispatchRequest::new(registered.agent.id.clone(), command.clone()))
            .await
            .unwrap();
        assert_eq!((queued.status, queued.command().unwrap()), (CommandStatus::Queued, command));
        let claimed = agent.next(&NextQuery { timeout_ms: Some(5_000) }).await.unwrap().expect("a command");
        assert_eq!(claimed.id, queued.id);
        let claim = claimed.claim_id.clone().unwrap();
        agent.report(&claimed.id, &ReportRequest::running(claim.clone())).await.unwrap();
        let done = agent
            .report(&claimed.id, &ReportRequest::succeeded(claim, json!({"upid": "UPID:pve:1"})))
            .await
            .unwrap();
        assert_eq!(done.status, CommandStatus::Succeeded);
        let mut seen = Vec::new();
        while seen.last() != Some(&CommandStatus::Succeeded) {
            let event = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .expect("events in time")
                .expect("the stream stays open")
                .unwrap();
            if let VmOpsEvent::Command(e) = event {
                seen.push(e.event_type);
            }
        }
        assert_eq!(seen, [CommandStatus::Queued, CommandStatus::Dispatched, CommandStatus::Running, CommandStatus::Succeeded]);
        let listed = admin
            .list_commands(&ListCommandsQuery { status: Some(CommandStatus::Succeeded), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);

        // The contract refuses what the agent could not run, naming the field.
        let refused = admin
            .request::<serde_json::Value>(
                reqwest::Method::POST,
                "/vm-ops/commands",
                Some(&json!({"agent_id": registered.agent.id, "command_type": "proxmox.start", "payload": {"vmid": -1}})),
            )
            .await
            .unwrap_err();
        let fields = refused.field_errors().expect("field errors");
        assert!(fields.get("payload.vmid").is_some(), "{refused}");

        // Rotation, then revocation: the agent is told to stop.
        let rotated = agent.rotate_token().await.unwrap();
        assert!(matches!(agent.heartbeat(&HeartbeatRequest::default()).await, Err(ClientError::Api { status: 401, .. })));
        let agent = server.client(Some(&rotated.agent_token));
        admin.revoke_agent(&registered.agent.id, &RevokeRequest::default()).await.unwrap();
        let stopped = agent.next(&NextQuery { timeout_ms: Some(1_000) }).await.unwrap_err();
        assert!(stopped.is(ErrorCode::AgentRevoked), "{stopped}");
    }
}
