//! The command store's contract, run against every implementation on every engine it
//! supports: the SeaORM store on SQLite and PostgreSQL, and the direct store on SQLite. Each
//! test drives the store itself (not the API), so a difference between the two
//! implementations shows here first.

use std::collections::HashSet;
use std::sync::Arc;

use botmox_proto::agent::{AgentStatus, Presence};
use botmox_proto::command::{CommandStatus, ReportStatus};
use botmox_server::bus::direct::DirectStore;
use botmox_server::bus::seaorm::SeaOrmStore;
use botmox_server::bus::{Claim, CommandStore, QueueFor, Report, Reported, Settle, Woken};
use botmox_server::db::entity::{agent, agent_command};
use botmox_server::db::{Engine, TenantId};
use botmox_server::vm_ops::store::{EventFilter, ListFilter, events_after, get, list};
use botmox_testkit::{Backend, TestServer};

/// Which implementation a test runs on.
#[derive(Clone, Copy)]
enum Kind {
    SeaOrm,
    Direct,
}

/// A fresh database and the store under test on it.
struct Bench {
    server: TestServer,
    kind: Kind,
    store: Arc<dyn CommandStore>,
}

async fn bench(backend: Backend, kind: Kind) -> Bench {
    let server = TestServer::start(backend).await;
    let store = store_of(&server, kind);
    Bench {
        server,
        kind,
        store,
    }
}

/// A store of this kind on the server's database: each call a new one, as another replica
/// would hold (with nothing this one keeps in memory).
fn store_of(server: &TestServer, kind: Kind) -> Arc<dyn CommandStore> {
    let db = server.state().db.clone();
    match kind {
        Kind::SeaOrm => Arc::new(SeaOrmStore::new(db.point_lookups())),
        Kind::Direct => Arc::new(DirectStore::new(db.direct().expect("SQLite").clone())),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Bench {
    /// An active agent of tenant `tenant` holding the token hash `token`.
    async fn agent(&self, tenant: &str, token: &str) -> agent::Model {
        let now = now();
        let a = agent::Model {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.into(),
            owner_user_id: Some("owner".into()),
            name: "a".into(),
            status: AgentStatus::Active.into(),
            version: None,
            platform: None,
            capabilities: "[]".into(),
            public_key: None,
            pairing_code_hash: None,
            pairing_expires_at: None,
            paired_at: Some(now),
            paired_by: None,
            last_seen_at: Some(now),
            revoked_at: None,
            revoked_by: None,
            revoke_reason: None,
            metadata: "{}".into(),
            token_hash: Some(token.into()),
            token_expires_at: Some(now + 60_000),
            presence: Presence::Offline.into(),
            created_at: now,
            updated_at: now,
            vault_public_key: None,
        };
        self.server
            .state()
            .db
            .write(async |txn| botmox_server::agents::store::insert(txn, &a).await)
            .await
            .unwrap();
        a
    }

    fn command(&self, agent: &agent::Model, queued_at: i64) -> agent_command::Model {
        agent_command::Model {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: agent.tenant_id.clone(),
            agent_id: agent.id.clone(),
            command_type: "proxmox.start".into(),
            payload: r#"{"vmid":100}"#.into(),
            status: CommandStatus::Queued.into(),
            result: None,
            error_message: None,
            created_by: Some("owner".into()),
            claim_id: None,
            attempts: 0,
            queued_at,
            claimed_at: None,
            started_at: None,
            completed_at: None,
            expires_at: queued_at + 300_000,
            updated_at: queued_at,
        }
    }

    async fn queued(&self, agent: &agent::Model, queued_at: i64) -> agent_command::Model {
        let c = self.command(agent, queued_at);
        let _event = self
            .store
            .queue(c.clone(), QueueFor::default())
            .await
            .unwrap();
        assert!(_event.is_some(), "queued");
        c
    }

    /// The command a claim takes, as the claim answers it; checked to be the row as stored
    /// and the one its event carries.
    async fn claimed(&self, agent: &agent::Model) -> agent_command::Model {
        self.claimed_as(agent, Woken::No).await
    }

    /// A claim by a poll `woken` so, checked against what was stored.
    async fn claimed_as(&self, agent: &agent::Model, woken: Woken<'_>) -> agent_command::Model {
        let Ok(Claim::Command(c)) = self
            .store
            .claim(agent, woken, now(), uuid::Uuid::new_v4().to_string())
            .await
        else {
            panic!("nothing claimed");
        };
        let tenant = TenantId::trusted(agent.tenant_id.clone());
        let stored = get(&self.server.state().db, &tenant, &c.0.id)
            .await
            .unwrap();
        assert_eq!(
            stored.as_ref(),
            Some(&c.0),
            "the claim answers the row as stored"
        );
        let event = events_after(
            &self.server.state().db,
            &self.filter(&tenant, &c.0.id),
            0,
            100,
        )
        .await
        .unwrap()
        .pop()
        .unwrap();
        assert_eq!(event.event_type, "command.dispatched");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&event.data).unwrap(),
            serde_json::to_value(c.0.view()).unwrap(),
            "the claim's event carries the row as stored"
        );
        c.0
    }

    fn filter<'a>(&self, tenant: &'a TenantId, command: &'a str) -> EventFilter<'a> {
        EventFilter {
            tenant,
            created_by: None,
            agent_id: None,
            command_id: Some(command),
        }
    }

    /// The event types recorded for a command, oldest first.
    /// How many of `agent`'s commands are queued (expired or not).
    async fn queued_count(&self, agent: &agent::Model) -> usize {
        let filter = ListFilter {
            created_by: None,
            agent_id: Some(agent.id.clone()),
            status: Some("queued".into()),
            command_type: None,
        };
        let tenant = TenantId::trusted(agent.tenant_id.clone());
        list(&self.server.state().db, &tenant, &filter, 100)
            .await
            .unwrap()
            .len()
    }

    async fn events_of(&self, tenant: &str, command: &str) -> Vec<String> {
        let tenant = TenantId::trusted(tenant);
        events_after(
            &self.server.state().db,
            &self.filter(&tenant, command),
            0,
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
    }
}

fn report(claim: &str, status: ReportStatus) -> Report {
    Report {
        claim_id: claim.into(),
        status,
        result: Some(r#"{"ok":true}"#.into()),
        error_message: None,
    }
}

async fn a_command_is_queued_only_for_an_agent_it_may_go_to(b: Bench) {
    let a = b.agent("t1", "h").await;
    let seen = a.last_seen_at.unwrap();
    let refused = async |c: agent_command::Model, to: QueueFor<'_>| {
        b.store.queue(c, to).await.unwrap().is_none()
    };
    let mut elsewhere = b.command(&a, now());
    elsewhere.tenant_id = "t2".into();
    assert!(
        refused(elsewhere, QueueFor::default()).await,
        "another tenant's agent"
    );
    let owner = |o| QueueFor {
        owner: Some(o),
        ..QueueFor::default()
    };
    assert!(
        refused(b.command(&a, now()), owner("someone-else")).await,
        "not the caller's"
    );
    let online = QueueFor {
        owner: Some("owner"),
        seen_after: Some(seen),
        token_hash: Some("h"),
    };
    assert!(
        refused(b.command(&a, now()), online).await,
        "not seen since"
    );
    assert_eq!(b.queued_count(&a).await, 0, "nothing inserted");
    let seen_before = QueueFor {
        seen_after: Some(seen - 1),
        ..online
    };
    let queued = b.command(&a, now());
    assert!(
        b.store
            .queue(queued.clone(), seen_before)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(b.events_of("t1", &queued.id).await, ["command.queued"]);
    b.server
        .execute(&format!(
            "UPDATE agents SET status = 'revoked' WHERE id = '{}'",
            a.id
        ))
        .await
        .unwrap();
    assert!(
        refused(b.command(&a, now()), QueueFor::default()).await,
        "revoked"
    );
    assert_eq!(b.queued_count(&a).await, 1);
}

async fn agents_are_found_by_token_and_within_their_tenant(b: Bench) {
    let a = b.agent("t1", "hash-a").await;
    let found = b.store.agent_by_token("hash-a").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.status),
        (a.id.as_str(), AgentStatus::Active.into())
    );
    assert!(b.store.agent_by_token("other").await.unwrap().is_none());
    assert!(
        b.store
            .agent(&TenantId::trusted("t1"), &a.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        b.store
            .agent(&TenantId::trusted("t2"), &a.id)
            .await
            .unwrap()
            .is_none(),
        "another tenant's id finds nothing"
    );
    let later = now() + 5;
    assert_eq!(
        b.store.touch(&a.id, "hash-a", later).await.unwrap(),
        Some(Presence::Offline),
        "a touch answers the presence last announced"
    );
    assert!(
        b.store
            .touch(&a.id, "stolen", later + 1)
            .await
            .unwrap()
            .is_none(),
        "a wrong token touches nothing"
    );
    let seen = b.store.agent_by_token("hash-a").await.unwrap().unwrap();
    assert_eq!(seen.last_seen_at, Some(later));
}

async fn claims_take_the_oldest_queued_command_once(b: Bench) {
    let a = b.agent("t1", "h").await;
    assert!(matches!(
        b.store
            .claim(&a, Woken::No, now(), "c".into())
            .await
            .unwrap(),
        Claim::Nothing
    ));
    let t = now();
    let first = b.queued(&a, t - 10).await;
    let second = b.queued(&a, t).await;
    let mut expired = b.command(&a, t - 20);
    expired.expires_at = t - 1;
    let _ = b
        .store
        .queue(expired, QueueFor::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.queued_count(&a).await, 3);
    let got = b.claimed(&a).await;
    assert_eq!(got.id, first.id, "oldest first");
    assert_eq!(
        (got.status, got.attempts),
        (CommandStatus::Dispatched.into(), 1)
    );
    assert!(got.claim_id.is_some());
    assert_eq!(b.claimed(&a).await.id, second.id);
    assert!(
        matches!(
            b.store.claim(&a, Woken::No, t, "c".into()).await.unwrap(),
            Claim::Nothing
        ),
        "an expired command is left to the sweeper"
    );
    assert_eq!(
        b.events_of("t1", &first.id).await,
        ["command.queued", "command.dispatched"]
    );
}

async fn concurrent_claims_never_share_a_command(b: Bench) {
    let a = b.agent("t1", "h").await;
    let t = now();
    let mut ids = HashSet::new();
    for i in 0..30 {
        ids.insert(b.queued(&a, t + i).await.id);
    }
    let claims = futures::future::join_all((0..60).map(|_| {
        let (store, a) = (b.store.clone(), a.clone());
        async move {
            store
                .claim(&a, Woken::No, now(), uuid::Uuid::new_v4().to_string())
                .await
        }
    }))
    .await;
    let claimed: Vec<String> = claims
        .into_iter()
        .filter_map(|c| match c.unwrap() {
            Claim::Command(c) => Some(c.0.id),
            _ => None,
        })
        .collect();
    assert_eq!(claimed.len(), 30, "each command claimed exactly once");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), ids);
}

async fn a_woken_poll_claims_the_command_its_wake_up_named(b: Bench) {
    let a = b.agent("t1", "h").await;
    let t = now();
    let first = b.queued(&a, t - 10).await;
    let second = b.queued(&a, t).await;
    let named = b.claimed_as(&a, Woken::Yes(Some(&second.id))).await;
    // PostgreSQL takes the command named; SQLite claims in queue order whatever the name
    // (one writer at a time: no race to spread).
    let postgres = b.server.state().db.engine() == Engine::Postgres;
    let expected = if postgres { &second } else { &first };
    assert_eq!(named.id, expected.id);
    // A name no longer queued: the oldest left instead.
    let other = b.claimed_as(&a, Woken::Yes(Some(&named.id))).await;
    assert_ne!(other.id, named.id);
    assert!(
        matches!(
            b.store
                .claim(&a, Woken::Yes(Some(&first.id)), now(), "c".into())
                .await
                .unwrap(),
            Claim::Nothing
        ),
        "nothing left, whatever the name"
    );
    assert_eq!(
        b.events_of("t1", &second.id).await,
        ["command.queued", "command.dispatched"]
    );
}

async fn polls_woken_for_the_same_commands_claim_each_once(b: Bench) {
    let a = b.agent("t1", "h").await;
    let t = now();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(b.queued(&a, t + i).await.id);
    }
    // Two polls named each command, and ten more no command, all at once.
    let names: Vec<Option<String>> = ids
        .iter()
        .chain(&ids)
        .map(|id| Some(id.clone()))
        .chain(std::iter::repeat_n(None, 10))
        .collect();
    let claims = futures::future::join_all(names.iter().map(|name| {
        let (store, a) = (b.store.clone(), a.clone());
        async move {
            store
                .claim(
                    &a,
                    Woken::Yes(name.as_deref()),
                    now(),
                    uuid::Uuid::new_v4().to_string(),
                )
                .await
        }
    }))
    .await;
    let claimed: Vec<String> = claims
        .into_iter()
        .filter_map(|c| match c.unwrap() {
            Claim::Command(c) => Some(c.0.id),
            _ => None,
        })
        .collect();
    assert_eq!(claimed.len(), 30, "each command claimed exactly once");
    assert_eq!(
        claimed.into_iter().collect::<HashSet<_>>(),
        ids.into_iter().collect::<HashSet<_>>()
    );
}

async fn claims_and_reports_notice_revocation_and_a_replaced_token(b: Bench) {
    let a = b.agent("t1", "h").await;
    let queued = b.queued(&a, now()).await;
    let mut rotated = a.clone();
    rotated.token_hash = Some("old".into());
    // Whether the poll looks first or was woken for a command and claims at once.
    let wakings = [
        Woken::No,
        Woken::Yes(None),
        Woken::Yes(Some(&queued.id)),
        Woken::Queued(&queued),
    ];
    for woken in wakings {
        assert!(matches!(
            b.store
                .claim(&rotated, woken, now(), "c".into())
                .await
                .unwrap(),
            Claim::Revoked
        ));
    }
    b.server
        .execute(&format!(
            "UPDATE agents SET status = 'revoked' WHERE id = '{}'",
            a.id
        ))
        .await
        .unwrap();
    for woken in wakings {
        assert!(matches!(
            b.store.claim(&a, woken, now(), "c".into()).await.unwrap(),
            Claim::Revoked
        ));
    }
    assert_eq!(b.queued_count(&a).await, 1, "the command is still queued");

    // A report, too, from an agent revoked or holding a replaced token since it was read.
    let b2 = b.agent("t1", "h2").await;
    let c = b.queued(&b2, now()).await;
    let claim = b.claimed(&b2).await.claim_id.unwrap();
    let mut replaced = b2.clone();
    replaced.token_hash = Some("old".into());
    let succeeded = || report(&claim, ReportStatus::Succeeded);
    assert!(matches!(
        b.store
            .report(&replaced, &c.id, succeeded(), now())
            .await
            .unwrap(),
        Reported::Revoked
    ));
    b.server
        .execute(&format!(
            "UPDATE agents SET status = 'revoked' WHERE id = '{}'",
            b2.id
        ))
        .await
        .unwrap();
    assert!(matches!(
        b.store
            .report(&b2, &c.id, succeeded(), now())
            .await
            .unwrap(),
        Reported::Revoked
    ));
    assert_eq!(
        b.events_of("t1", &c.id).await,
        ["command.queued", "command.dispatched"],
        "the command was left as it was"
    );
}

async fn reports_quote_the_claim_and_follow_the_transitions(b: Bench) {
    let a = b.agent("t1", "h").await;
    let other = b.agent("t1", "h2").await;
    let c = b.queued(&a, now()).await;
    let claimed = b.claimed(&a).await;
    let claim = claimed.claim_id.clone().unwrap();
    let t = now();
    assert!(matches!(
        b.store
            .report(&a, &c.id, report("not-mine", ReportStatus::Running), t)
            .await
            .unwrap(),
        Reported::Refused(_)
    ));
    assert!(matches!(
        b.store
            .report(&other, &c.id, report(&claim, ReportStatus::Running), t)
            .await
            .unwrap(),
        Reported::NotFound
    ));
    let Reported::Done(running) = b
        .store
        .report(&a, &c.id, report(&claim, ReportStatus::Running), t)
        .await
        .unwrap()
    else {
        panic!("running refused");
    };
    assert_eq!(
        (running.0.status, running.0.started_at),
        (CommandStatus::Running.into(), Some(t))
    );
    let Reported::Done(done) = b
        .store
        .report(&a, &c.id, report(&claim, ReportStatus::Succeeded), t + 1)
        .await
        .unwrap()
    else {
        panic!("success refused");
    };
    assert_eq!(done.0.status, CommandStatus::Succeeded);
    assert_eq!(done.0.result.as_deref(), Some(r#"{"ok":true}"#));
    assert!(
        matches!(
            b.store
                .report(&a, &c.id, report(&claim, ReportStatus::Running), t + 2)
                .await
                .unwrap(),
            Reported::Refused(_)
        ),
        "no way back from succeeded"
    );
    assert_eq!(
        b.events_of("t1", &c.id).await,
        [
            "command.queued",
            "command.dispatched",
            "command.running",
            "command.succeeded"
        ]
    );
}

async fn only_queued_commands_cancel(b: Bench) {
    let a = b.agent("t1", "h").await;
    let c = b.queued(&a, now()).await;
    let (cancelled, _event) = b.store.cancel(c.clone(), now()).await.unwrap().unwrap();
    assert_eq!(cancelled.status, CommandStatus::Cancelled);
    assert!(b.store.cancel(c, now()).await.unwrap().is_none(), "once");
    let claimed_one = b.queued(&a, now()).await;
    let _ = b.claimed(&a).await;
    assert!(
        b.store.cancel(claimed_one, now()).await.unwrap().is_none(),
        "not once claimed"
    );
}

async fn the_sweeper_settles_only_what_did_not_change(b: Bench) {
    let a = b.agent("t1", "h").await;
    let _ = b.queued(&a, now()).await;
    let claimed = b.claimed(&a).await;
    let t = now() + 1;
    let event = b
        .store
        .settle(claimed.clone(), Settle::Requeue, t)
        .await
        .unwrap();
    assert!(event.is_some());
    assert!(
        b.store
            .settle(claimed.clone(), Settle::Requeue, t + 1)
            .await
            .unwrap()
            .is_none(),
        "a stale read settles nothing"
    );
    let again = b.claimed(&a).await;
    assert_eq!(
        (again.id.as_str(), again.attempts),
        (claimed.id.as_str(), 2)
    );
    assert_ne!(
        again.claim_id, claimed.claim_id,
        "the lapsed claim id is gone"
    );
    let event = b
        .store
        .settle(again.clone(), Settle::Fail("no result".into()), t + 2)
        .await
        .unwrap();
    assert!(event.is_some());
    let expiring = b.queued(&a, now()).await;
    assert!(
        b.store
            .settle(expiring.clone(), Settle::Expire, t + 3)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        b.events_of("t1", &expiring.id).await,
        ["command.queued", "command.expired"]
    );
    assert_eq!(
        b.events_of("t1", &again.id).await,
        [
            "command.queued",
            "command.dispatched",
            "command.queued",
            "command.dispatched",
            "command.failed"
        ]
    );
}

async fn a_poll_woken_with_the_queued_row_claims_it_unless_it_changed(b: Bench) {
    let a = b.agent("t1", "h").await;
    let other = b.agent("t1", "h2").await;
    let t = now();
    let first = b.queued(&a, t - 10).await;
    let second = b.queued(&a, t).await;
    // PostgreSQL takes the row handed over; SQLite claims in queue order (one writer).
    let postgres = b.server.state().db.engine() == Engine::Postgres;
    let taken = b.claimed_as(&a, Woken::Queued(&second)).await;
    assert_eq!(taken.id, if postgres { &second } else { &first }.id);
    // The row handed over is no longer as it was queued: the oldest left instead.
    let left = b.claimed_as(&a, Woken::Queued(&taken)).await;
    assert_ne!(left.id, taken.id);
    // Queued, then cancelled: not claimed, and nothing else is queued.
    let cancelled = b.queued(&a, now()).await;
    let _ = b
        .store
        .cancel(cancelled.clone(), now())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        b.store
            .claim(&a, Woken::Queued(&cancelled), now(), "c".into())
            .await
            .unwrap(),
        Claim::Nothing
    ));
    // Another agent's row is never claimed for this one.
    let theirs = b.queued(&other, now()).await;
    assert!(matches!(
        b.store
            .claim(&a, Woken::Queued(&theirs), now(), "c".into())
            .await
            .unwrap(),
        Claim::Nothing
    ));
    assert_eq!(
        b.queued_count(&other).await,
        1,
        "still queued for its agent"
    );
    assert_eq!(
        b.events_of("t1", &cancelled.id).await,
        ["command.queued", "command.cancelled"]
    );
}

async fn a_report_on_a_command_changed_since_its_claim_applies_to_it_as_stored(b: Bench) {
    let a = b.agent("t1", "h").await;
    let c = b.queued(&a, now()).await;
    // This store claims it (and may keep it as claimed); the claim lapses and another
    // replica claims it again under the same claim id.
    let claim = "the-claim".to_string();
    let Claim::Command(first) = b
        .store
        .claim(&a, Woken::No, now(), claim.clone())
        .await
        .unwrap()
    else {
        panic!("nothing claimed");
    };
    let (first, _event) = *first;
    assert!(
        b.store
            .settle(first.clone(), Settle::Requeue, first.updated_at + 1)
            .await
            .unwrap()
            .is_some()
    );
    let replica = store_of(&b.server, b.kind);
    let Claim::Command(again) = replica
        .claim(&a, Woken::No, first.updated_at + 2, claim.clone())
        .await
        .unwrap()
    else {
        panic!("not claimed again");
    };
    assert_eq!(again.0.attempts, 2);
    let Reported::Done(done) = b
        .store
        .report(&a, &c.id, report(&claim, ReportStatus::Running), now() + 3)
        .await
        .unwrap()
    else {
        panic!("report refused");
    };
    let tenant = TenantId::trusted("t1");
    let stored = get(&b.server.state().db, &tenant, &c.id).await.unwrap();
    assert_eq!(
        Some(&done.0),
        stored.as_ref(),
        "the report answers the row as stored, not as first claimed"
    );
    assert_eq!(
        (done.0.attempts, done.0.claimed_at),
        (2, again.0.claimed_at)
    );
    // Both replicas see the report: the next one, on either, applies to the running row.
    let Reported::Done(finished) = replica
        .report(
            &a,
            &c.id,
            report(&claim, ReportStatus::Succeeded),
            now() + 4,
        )
        .await
        .unwrap()
    else {
        panic!("success refused");
    };
    assert_eq!(finished.0.started_at, done.0.started_at);
    assert!(matches!(
        b.store
            .report(&a, &c.id, report(&claim, ReportStatus::Failed), now() + 5)
            .await
            .unwrap(),
        Reported::Refused(_)
    ));
}

async fn a_command_handed_to_a_waiting_poll_is_queued_and_claimed_in_one_write(b: Bench) {
    let a = b.agent("t1", "h").await;
    let command = b.command(&a, now());
    let by_poll = QueueFor {
        token_hash: Some("h"),
        ..QueueFor::default()
    };
    let t = now();
    // The poll's token was replaced meanwhile: nothing is written.
    let stale = QueueFor {
        token_hash: Some("old"),
        ..by_poll
    };
    assert!(
        b.store
            .hand_over(command.clone(), stale, t, "poll")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(b.events_of("t1", &command.id).await, Vec::<String>::new());
    let handed = b
        .store
        .hand_over(command.clone(), by_poll, t, "poll")
        .await
        .unwrap()
        .expect("handed over");
    let got = &handed.command;
    assert_eq!(
        (
            got.status,
            got.claim_id.as_deref(),
            got.attempts,
            got.claimed_at
        ),
        (CommandStatus::Dispatched.into(), Some("poll"), 1, Some(t))
    );
    let tenant = TenantId::trusted("t1");
    let stored = get(&b.server.state().db, &tenant, &command.id)
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), Some(got), "answered as stored");
    assert_eq!(
        b.events_of("t1", &command.id).await,
        ["command.queued", "command.dispatched"],
        "both steps, in order"
    );
    let _ = (handed.queued, handed.dispatched);
    assert!(
        matches!(
            b.store
                .claim(&a, Woken::No, now(), "c".into())
                .await
                .unwrap(),
            Claim::Nothing
        ),
        "not claimable again"
    );
    let Reported::Done(done) = b
        .store
        .report(
            &a,
            &command.id,
            report("poll", ReportStatus::Succeeded),
            now(),
        )
        .await
        .unwrap()
    else {
        panic!("report refused");
    };
    assert_eq!(done.0.status, CommandStatus::Succeeded);
}

/// Every contract test, as a test per implementation and engine.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn seaorm_on_sqlite() {
                    super::$name(bench(Backend::Sqlite, Kind::SeaOrm).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn seaorm_on_postgres() {
                    super::$name(bench(Backend::Postgres, Kind::SeaOrm).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn direct_on_sqlite() {
                    super::$name(bench(Backend::Sqlite, Kind::Direct).await).await;
                }
            }
        )*
    };
}

contract!(
    agents_are_found_by_token_and_within_their_tenant,
    a_command_is_queued_only_for_an_agent_it_may_go_to,
    a_command_handed_to_a_waiting_poll_is_queued_and_claimed_in_one_write,
    claims_take_the_oldest_queued_command_once,
    concurrent_claims_never_share_a_command,
    a_woken_poll_claims_the_command_its_wake_up_named,
    polls_woken_for_the_same_commands_claim_each_once,
    a_poll_woken_with_the_queued_row_claims_it_unless_it_changed,
    a_report_on_a_command_changed_since_its_claim_applies_to_it_as_stored,
    claims_and_reports_notice_revocation_and_a_replaced_token,
    reports_quote_the_claim_and_follow_the_transitions,
    only_queued_commands_cancel,
    the_sweeper_settles_only_what_did_not_change,
);
