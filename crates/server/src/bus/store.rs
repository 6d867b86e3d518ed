//! The command bus's storage contract: every query and write on the bus's hot path (the
//! agent behind a token, heartbeat touches, queue, claim, report, cancel) and the
//! sweeper's settling, each write with its event row in the same transaction.
//!
//! The agent's own operations (touch, claim, report) check in their own statements that
//! the agent still stands as it did when its token was read: active, with the same token.
//! So a caller may hold the agent as read some time ago (see `agents::principal`), and a
//! revocation or rotation still takes effect on the very next request, on every replica.
//!
//! Two implementations keep it: [`super::seaorm::SeaOrmStore`], on either engine through
//! the [`Db`](crate::db::Db) handle, and [`super::direct::DirectStore`], SQLite's fast path
//! with direct connections and group commit. One contract test suite runs against each.
//! The rules that decide a change ([`Report::apply`], the claim's conditions) are written
//! once here and used by both.

use async_trait::async_trait;
use botmox_proto::agent::Presence;
use botmox_proto::command::{CommandStatus, ReportStatus};

use super::events::Recorded;
use crate::db::StoreResult;
use crate::db::TenantId;
use crate::db::entity::agent;
use crate::db::entity::agent_command::Model;

/// PostgreSQL's look at agent `$1`'s next command at `$2`: no row when the agent no longer
/// stands (active, token hash `$3`), else its oldest unexpired queued command, a row of nulls
/// when there is none. The claim that follows ([`CLAIM_SEEN`]) takes that very row.
pub(super) const NEXT_POSTGRES: &str = "SELECT c.* FROM agents a \
       LEFT JOIN LATERAL (SELECT * FROM agent_commands \
         WHERE agent_id = a.id AND status = 'queued' AND expires_at > $2 \
         ORDER BY queued_at, id LIMIT 1) c ON true \
     WHERE a.id = $1 AND a.status = 'active' AND a.token_hash = $3";
/// [`NEXT_POSTGRES`] for command `$4`, which a wake-up named: a row of nulls when it is no
/// longer queued (a poll that just came claimed it first).
pub(super) const NAMED_POSTGRES: &str = "SELECT c.* FROM agents a \
       LEFT JOIN agent_commands c ON c.id = $4 AND c.agent_id = a.id \
         AND c.status = 'queued' AND c.expires_at > $2 \
     WHERE a.id = $1 AND a.status = 'active' AND a.token_hash = $3";
/// The claim of agent `$1`'s oldest unexpired queued command at `$2` under claim id `$3`,
/// if the agent is still active with token hash `$4`, for when a look's row was claimed by
/// a racing poll: it picks and locks the row with `FOR UPDATE SKIP LOCKED`, so racing polls
/// get different rows and never wait on each other.
pub(super) const CLAIM_POSTGRES: &str = "WITH next AS (SELECT id FROM agent_commands \
       WHERE agent_id = $1 AND status = 'queued' AND expires_at > $2 \
         AND EXISTS (SELECT 1 FROM agents \
           WHERE id = $1 AND status = 'active' AND token_hash = $4) \
       ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     UPDATE agent_commands c SET status = 'dispatched', claim_id = $3, claimed_at = $2, \
       attempts = c.attempts + 1, updated_at = $2 \
     FROM next WHERE c.id = next.id RETURNING c.*";
/// Claim command `?1`, seen queued as of `?5` (its `updated_at`), at `?2` with claim id
/// `?3`, if it is agent `?6`'s and that agent still stands with token hash `?4`. A racing
/// poll that claimed it first (or a sweep that changed it meanwhile) leaves no row to update
/// (it waits for that poll's commit, then updates nothing).
pub(super) const CLAIM_SEEN: &str = "UPDATE agent_commands SET status = 'dispatched', \
       claim_id = ?3, claimed_at = ?2, attempts = attempts + 1, updated_at = ?2 \
     WHERE id = ?1 AND status = 'queued' AND updated_at = ?5 AND expires_at > ?2 \
       AND agent_id = ?6 AND EXISTS (SELECT 1 FROM agents \
         WHERE id = ?6 AND status = 'active' AND token_hash = ?4)";
/// Claim the oldest unexpired queued command of agent `?1` at time `?2` with claim id `?3`.
/// SQLite runs one writer at a time, so its update of the row a subquery picks is atomic as
/// it stands (and its stores check the agent before, in the same transaction). Expired
/// commands are left to the sweeper, which settles them and says why.
pub(super) const CLAIM_SQLITE: &str = "UPDATE agent_commands SET status = 'dispatched', \
       claim_id = ?3, claimed_at = ?2, attempts = attempts + 1, updated_at = ?2 \
     WHERE id = (SELECT id FROM agent_commands \
       WHERE agent_id = ?1 AND status = 'queued' AND expires_at > ?2 \
       ORDER BY queued_at, id LIMIT 1) RETURNING *";
/// The look before a claim, on either engine: no row when agent `?1` no longer stands
/// (active, token hash `?3`), else one row whose `queued` is the id of a queued command
/// unexpired at `?2`, null when there is none (the claim's own conditions).
pub(super) const LOOK: &str = "SELECT (SELECT id FROM agent_commands \
       WHERE agent_id = a.id AND status = 'queued' AND expires_at > ?2 LIMIT 1) AS queued \
     FROM agents a WHERE a.id = ?1 AND a.status = 'active' AND a.token_hash = ?3";
/// A heartbeat that changed nothing but the time: agent `?1` with token hash `?2` at `?3`,
/// answering the presence last announced (no row: the agent no longer stands).
pub(super) const TOUCH: &str = "UPDATE agents SET last_seen_at = ?3, updated_at = ?3 \
     WHERE id = ?1 AND status = 'active' AND token_hash = ?2 RETURNING presence";
/// Agent `?1`'s command `?2`, read for a report, if the agent still stands (token hash
/// `?3`): no row when it does not, a row of nulls when it has no such command.
pub(super) const REPORTED_COMMAND: &str = "SELECT c.* FROM agents a \
       LEFT JOIN agent_commands c ON c.id = ?2 AND c.agent_id = a.id \
     WHERE a.id = ?1 AND a.status = 'active' AND a.token_hash = ?3";
/// Queue a command: its 17 columns in the entity's order, if its agent `?3` is the tenant's
/// (`?2`) and active, owned by user `?18`, seen after `?19` and holding token hash `?20`,
/// each unless null ([`QueueFor`]): the insert itself checks what a dispatch would otherwise
/// read the agent for. A command handed straight to a waiting poll is inserted claimed.
pub(super) const QUEUE: &str = "INSERT INTO agent_commands (id, tenant_id, agent_id, \
       command_type, payload, status, result, error_message, created_by, claim_id, attempts, \
       queued_at, claimed_at, started_at, completed_at, expires_at, updated_at) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17 \
     FROM agents WHERE id = ?3 AND tenant_id = ?2 AND status = 'active' \
       AND (?18 IS NULL OR owner_user_id = ?18) AND (?19 IS NULL OR last_seen_at > ?19) \
       AND (?20 IS NULL OR token_hash = ?20)";
/// A report applied to command `?1`, if it is still in status `?9` under claim `?10`;
/// `?8`, when not null, replaces the payload (its secrets withheld once it ended).
pub(super) const REPORT: &str = "UPDATE agent_commands SET status = ?2, started_at = ?3, \
       completed_at = ?4, result = ?5, error_message = ?6, updated_at = ?7, \
       payload = COALESCE(?8, payload) \
     WHERE id = ?1 AND status = ?9 AND claim_id = ?10";
/// [`REPORT`] of a command as this replica claimed it: also only if it is unchanged since
/// (`updated_at` `?11`) and its agent `?12` still stands with token hash `?13`, so no read
/// comes first.
pub(super) const REPORT_SEEN: &str = "UPDATE agent_commands SET status = ?2, started_at = ?3, \
       completed_at = ?4, result = ?5, error_message = ?6, updated_at = ?7, \
       payload = COALESCE(?8, payload) \
     WHERE id = ?1 AND status = ?9 AND claim_id = ?10 AND updated_at = ?11 \
       AND agent_id = ?12 AND EXISTS (SELECT 1 FROM agents \
         WHERE id = ?12 AND status = 'active' AND token_hash = ?13)";
/// Cancel command `?1` at `?2` if it is still queued; `?3` as in [`REPORT`].
pub(super) const CANCEL: &str = "UPDATE agent_commands SET status = 'cancelled', \
       completed_at = ?2, updated_at = ?2, payload = COALESCE(?3, payload) \
     WHERE id = ?1 AND status = 'queued'";
/// The sweeper's settling of command `?1`, if it is still in status `?8` as of `?9`
/// (its `updated_at`); `?10` as in [`REPORT`].
pub(super) const SETTLE: &str = "UPDATE agent_commands SET status = ?2, claim_id = ?3, \
       claimed_at = ?4, completed_at = ?5, error_message = ?6, updated_at = ?7, \
       payload = COALESCE(?10, payload) \
     WHERE id = ?1 AND status = ?8 AND updated_at = ?9";

/// A statement above in PostgreSQL's placeholders (`$1` for `?1`; they hold no other `?`).
pub(super) fn postgres(sql: &str) -> String {
    sql.replace('?', "$")
}

/// Which agent a command may be queued for, beyond being its tenant's and active: checked
/// by the insert ([`CommandStore::queue`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueFor<'a> {
    /// The agent's owner must be this user (`None`: any owner; an admin's dispatch).
    pub owner: Option<&'a str>,
    /// The agent must have been seen after this time (`None`: queued even when offline).
    pub seen_after: Option<i64>,
    /// The agent must hold the token with this hash (a waiting poll's, when the command is
    /// handed to that poll).
    pub token_hash: Option<&'a str>,
}

/// A command handed straight to a waiting poll ([`CommandStore::hand_over`]): the command
/// as that poll claimed it, and the events of its queueing and its claim, in that order.
pub struct Handed {
    pub command: Model,
    pub queued: Recorded,
    pub dispatched: Recorded,
}

/// `command`, as queued, claimed at `now` under `claim_id`.
pub(super) fn claimed(mut command: Model, now: i64, claim_id: &str) -> Model {
    command.status = CommandStatus::Dispatched.into();
    command.claim_id = Some(claim_id.to_owned());
    command.claimed_at = Some(now);
    command.attempts += 1;
    command.updated_at = now;
    command
}

/// What sent a poll to claim.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Woken<'a> {
    /// Nothing: the poll has just come, so it looks before it claims.
    No,
    /// A wake-up: a command was queued for the agent (`Some`: the one the wake-up named,
    /// tried first) or the agent changed.
    Yes(Option<&'a str>),
    /// A wake-up for this command, queued on this replica and handed over as it was
    /// written: tried first, without reading it (a row that changed meanwhile is not taken).
    Queued(&'a Model),
}

/// What a poll's claim found.
pub enum Claim {
    Command(Box<(Model, Recorded)>),
    Nothing,
    /// The agent was revoked, or its token replaced, since its token was last read.
    Revoked,
}

/// What became of an agent's report.
pub enum Reported {
    Done(Box<(Model, Recorded)>),
    /// The agent was revoked, or its token replaced, since its token was last read.
    Revoked,
    /// The agent has no command with that id.
    NotFound,
    /// The report does not fit the command as stored; the reason says why.
    Refused(String),
}

/// How the sweeper settles a command it found stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Back to the queue: the claim lapsed before the agent started it.
    Requeue,
    /// Queued past its expiry: `expired`.
    Expire,
    /// `failed`, saying why.
    Fail(String),
}

/// What an agent reports on a command it claimed: `running`, then `succeeded` or `failed`.
#[derive(Debug, Clone)]
pub struct Report {
    pub claim_id: String,
    pub status: ReportStatus,
    /// The result as JSON text.
    pub result: Option<String>,
    pub error_message: Option<String>,
}

impl Report {
    /// Check the report against `command` as stored (the claim must be the current one and
    /// the transition allowed) and bring the command to the reported state.
    pub fn apply(self, command: &mut Model, now: i64) -> Result<(), String> {
        if command.claim_id.as_deref() != Some(self.claim_id.as_str()) {
            return Err("This claim is not the command's current claim".into());
        }
        use CommandStatus::{Dispatched, Failed, Running, Succeeded};
        let to = CommandStatus::from(self.status);
        let allowed = matches!(
            (command.status.0, to),
            (Dispatched, Running | Succeeded | Failed) | (Running, Succeeded | Failed)
        );
        if !allowed {
            return Err(format!(
                "A {} command cannot become {to}",
                command.status.as_str()
            ));
        }
        if to == Running {
            command.started_at = Some(now);
        } else {
            command.completed_at = Some(now);
        }
        command.status = to.into();
        if self.result.is_some() {
            command.result = self.result;
        }
        if self.error_message.is_some() {
            command.error_message = self.error_message;
        }
        command.updated_at = now;
        Ok(())
    }
}

/// Once a command has ended, its payload no longer needs what only the agent may read:
/// empty those parts in `command` and answer the payload to store, or `None` when the stored
/// one stays as it is. Only the config ISO's command carries such parts, so no other payload
/// is parsed or written again.
pub(super) fn withhold_ended_secrets(command: &mut Model) -> Option<String> {
    if !command.status.0.is_terminal()
        || !botmox_proto::command::carries_secrets(&command.command_type)
    {
        return None;
    }
    let mut payload: serde_json::Value = serde_json::from_str(&command.payload).ok()?;
    if !botmox_proto::command::withhold_secrets(&command.command_type, &mut payload) {
        return None;
    }
    command.payload = payload.to_string();
    Some(command.payload.clone())
}

/// `command` as the sweeper leaves it: its new status and times, before it is written.
pub(super) fn settled(mut command: Model, how: Settle, now: i64) -> Model {
    match how {
        Settle::Requeue => {
            command.status = CommandStatus::Queued.into();
            command.claim_id = None;
            command.claimed_at = None;
        }
        Settle::Expire => {
            command.status = CommandStatus::Expired.into();
            command.completed_at = Some(now);
            command.error_message = Some("Command expired before agent pickup".into());
        }
        Settle::Fail(message) => {
            command.status = CommandStatus::Failed.into();
            command.completed_at = Some(now);
            command.error_message = Some(message);
        }
    }
    command.updated_at = now;
    command
}

/// The bus's storage. Every write returns its [`Recorded`] event, which the caller
/// announces after the call returns (the write has committed by then).
#[async_trait]
pub trait CommandStore: Send + Sync {
    /// One agent of the tenant.
    async fn agent(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<agent::Model>>;

    /// The agent holding the token with this hash, whatever its state.
    async fn agent_by_token(&self, token_hash: &str) -> StoreResult<Option<agent::Model>>;

    /// Record that the active agent holding this token was seen at `now`, answering the
    /// presence last announced for it; `None` when it is no longer active or its token
    /// changed.
    async fn touch(
        &self,
        agent_id: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<Presence>>;

    /// Insert a new queued command, if its agent is the command's tenant's, active and as
    /// `to` asks; `None` when it is not (nothing inserted).
    async fn queue(&self, command: Model, to: QueueFor<'_>) -> StoreResult<Option<Recorded>>;

    /// Insert `command` (as [`CommandStore::queue`] would) already claimed at `now` under
    /// `claim_id` by a poll of its agent waiting with the token `to.token_hash`, with the
    /// events of both steps: one write where queueing and claiming take two. `None` as for
    /// `queue`.
    async fn hand_over(
        &self,
        command: Model,
        to: QueueFor<'_>,
        now: i64,
        claim_id: &str,
    ) -> StoreResult<Option<Handed>>;

    /// Claim the agent's oldest queued command at `now` under `claim_id` (or the one its
    /// wake-up named, when that is still queued), only if the agent still stands as it was
    /// when its token was read (active, same token), checked where no revocation can slip in
    /// between. Unless the poll was `woken` for a queued command (one poll per command), a
    /// plain read comes first: a poll's first look usually finds nothing, and says so
    /// without a write.
    async fn claim(
        &self,
        agent: &agent::Model,
        woken: Woken<'_>,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Claim>;

    /// Apply `agent`'s report to its command `id`, if the agent still stands as it was when
    /// its token was read and the command did not change meanwhile.
    async fn report(
        &self,
        agent: &agent::Model,
        id: &str,
        report: Report,
        now: i64,
    ) -> StoreResult<Reported>;

    /// Cancel `command` if it is still queued; `None` when it is not.
    async fn cancel(&self, command: Model, now: i64) -> StoreResult<Option<(Model, Recorded)>>;

    /// Settle a stale command found by the sweeper, if nobody changed it since it was read
    /// (same status and `updated_at`); `None` when somebody did.
    async fn settle(&self, command: Model, how: Settle, now: i64) -> StoreResult<Option<Recorded>>;
}
