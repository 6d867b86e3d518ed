//! Queries of the VM pipeline, each within one tenant (the runner's claim, which spans the
//! tenants, reads rows that name theirs). Every change of a job a runner makes is conditional
//! on the runner still holding the job's lease, and comes with its event row.

use botmox_proto::vm_jobs::{JOB_EVENT_PREFIX, JobState, JobStep};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::bus::events::{Recorded, record_job};
use crate::db::entity::vm_job::{self, ActiveModel, Column, Entity, Model};
use crate::db::entity::{vm_job_batch, vm_job_step};
use crate::db::{Db, Engine, StoreResult, TenantId};

/// States a runner drives.
pub const LIVE: [JobState; 3] = [
    JobState::Queued,
    JobState::Running,
    JobState::WaitingForWindows,
];

fn live_words() -> Vec<&'static str> {
    LIVE.iter().map(|s| s.as_str()).collect()
}

/// Record the job's current state as an event (`vm-job.<state>`), in `db`'s transaction.
pub async fn record_change(db: &impl ConnectionTrait, job: &Model) -> StoreResult<Recorded> {
    record_job(
        db,
        &job.tenant_id,
        &job.agent_id,
        &job.id,
        &job.owner_user_id,
        format!("{JOB_EVENT_PREFIX}{}", job.state.as_str()),
        serde_json::to_string(&job.view()).unwrap_or_default(),
    )
    .await
}

/// Append a line to a job's step history.
pub async fn add_step(
    db: &impl ConnectionTrait,
    job: &Model,
    step: JobStep,
    status: &str,
    command_id: Option<&str>,
    detail: Option<String>,
    at: i64,
) -> StoreResult<()> {
    vm_job_step::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        tenant_id: sea_orm::ActiveValue::Set(job.tenant_id.clone()),
        job_id: sea_orm::ActiveValue::Set(job.id.clone()),
        step: sea_orm::ActiveValue::Set(step.into()),
        status: sea_orm::ActiveValue::Set(status.to_owned()),
        command_id: sea_orm::ActiveValue::Set(command_id.map(str::to_owned)),
        detail: sea_orm::ActiveValue::Set(detail),
        at: sea_orm::ActiveValue::Set(at),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn insert_batch(
    db: &impl ConnectionTrait,
    batch: vm_job_batch::Model,
) -> StoreResult<()> {
    vm_job_batch::ActiveModel::from(batch).insert(db).await?;
    Ok(())
}

pub async fn insert(db: &impl ConnectionTrait, job: Model) -> StoreResult<Model> {
    Ok(ActiveModel::from(job).insert(db).await?)
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<Option<Model>> {
    Ok(Entity::find_by_id(id.to_owned())
        .filter(Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?)
}

pub async fn steps(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    job_id: &str,
) -> StoreResult<Vec<vm_job_step::Model>> {
    Ok(vm_job_step::Entity::find()
        .filter(vm_job_step::Column::TenantId.eq(tenant.as_str()))
        .filter(vm_job_step::Column::JobId.eq(job_id))
        .order_by_asc(vm_job_step::Column::Id)
        .all(db)
        .await?)
}

/// What a job list is narrowed to.
pub struct JobFilter<'a> {
    /// Only this owner's jobs.
    pub owner: Option<&'a str>,
    pub batch_id: Option<&'a str>,
    pub state: Option<JobState>,
}

/// Newest first, then by position in the batch.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: JobFilter<'_>,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<Model>, u64)> {
    let mut find = Entity::find().filter(Column::TenantId.eq(tenant.as_str()));
    if let Some(owner) = filter.owner {
        find = find.filter(Column::OwnerUserId.eq(owner));
    }
    if let Some(batch) = filter.batch_id {
        find = find.filter(Column::BatchId.eq(batch));
    }
    if let Some(state) = filter.state {
        find = find.filter(Column::State.eq(state.as_str()));
    }
    let paginator = find
        .order_by_desc(Column::CreatedAt)
        .order_by_asc(Column::Seq)
        .order_by_asc(Column::Id)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

/// Write every column of `job`, provided `runner` still holds it (`None`: provided no runner
/// does, as for a queued job). `false` when the condition did not hold.
pub async fn save_held(
    db: &impl ConnectionTrait,
    job: &Model,
    runner: Option<&str>,
) -> StoreResult<bool> {
    let held = match runner {
        Some(r) => Column::RunnerId.eq(r),
        None => Column::RunnerId.is_null(),
    };
    let done = Entity::update_many()
        .set(ActiveModel::from(job.clone()).reset_all())
        .filter(Column::Id.eq(job.id.as_str()))
        .filter(held)
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Extend `runner`'s lease on a job to `until`; `false` when it no longer holds it.
pub async fn renew(db: &Db, id: &str, runner: &str, until: i64) -> StoreResult<bool> {
    db.write(async |txn| {
        let done = Entity::update_many()
            .col_expr(Column::LeaseUntil, Expr::value(until))
            .filter(Column::Id.eq(id))
            .filter(Column::RunnerId.eq(runner))
            .exec(txn)
            .await?;
        Ok(done.rows_affected == 1)
    })
    .await
}

/// VM ids live jobs of this agent hold on this target.
pub async fn held_vmids(
    db: &impl ConnectionTrait,
    agent_id: &str,
    target_key: &str,
) -> StoreResult<Vec<u32>> {
    let prefix = format!("{target_key}/");
    let locks: Vec<Option<String>> = Entity::find()
        .select_only()
        .column(Column::VmidLock)
        .filter(Column::AgentId.eq(agent_id))
        .filter(Column::VmidLock.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(locks
        .into_iter()
        .flatten()
        .filter_map(|l| l.strip_prefix(&prefix).and_then(|id| id.parse().ok()))
        .collect())
}

/// Claim for `runner` (until `until`) live jobs nobody holds: at most `active` jobs to run
/// their Proxmox steps (a queued job only while its batch runs fewer than its concurrency)
/// and any number waiting for Windows. On PostgreSQL the candidates are locked with `SKIP
/// LOCKED` and each batch row while its jobs are counted, so replicas claiming at once
/// neither take the same job nor exceed a batch's concurrency; SQLite has one writer.
pub async fn claim(
    db: &Db,
    runner: &str,
    now: i64,
    until: i64,
    active: usize,
) -> StoreResult<Vec<(Model, Recorded)>> {
    let postgres = db.engine() == Engine::Postgres;
    db.write(async |txn| {
        let mut find = Entity::find()
            .filter(Column::State.is_in(live_words()))
            .filter(
                Condition::any()
                    .add(Column::LeaseUntil.is_null())
                    .add(Column::LeaseUntil.lt(now)),
            )
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Seq)
            .limit(200);
        if postgres {
            find = find.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let candidates = find.all(txn).await?;
        let mut claimed = Vec::new();
        let mut taken = 0;
        for mut job in candidates {
            let waiting = job.state == JobState::WaitingForWindows;
            if !waiting && taken >= active {
                continue;
            }
            if job.state == JobState::Queued
                && let Some(batch_id) = &job.batch_id
            {
                let mut batch = vm_job_batch::Entity::find_by_id(batch_id.clone());
                if postgres {
                    batch = batch.lock_exclusive();
                }
                let Some(batch) = batch.one(txn).await? else {
                    continue;
                };
                let running = Entity::find()
                    .filter(Column::BatchId.eq(batch_id.as_str()))
                    .filter(Column::State.eq(JobState::Running.as_str()))
                    .count(txn)
                    .await?;
                if running >= u64::try_from(batch.concurrency).unwrap_or(1) {
                    continue;
                }
            }
            let before = job.clone();
            job.runner_id = Some(runner.to_owned());
            job.lease_until = Some(until);
            if job.state == JobState::Queued {
                job.state = JobState::Running.into();
                job.started_at = Some(now);
            }
            job.updated_at = now;
            let done = Entity::update_many()
                .set(ActiveModel::from(job.clone()).reset_all())
                .filter(Column::Id.eq(job.id.as_str()))
                .filter(Column::UpdatedAt.eq(before.updated_at))
                .filter(
                    Condition::any()
                        .add(Column::LeaseUntil.is_null())
                        .add(Column::LeaseUntil.lt(now)),
                )
                .exec(txn)
                .await?;
            if done.rows_affected != 1 {
                continue;
            }
            if !waiting {
                taken += 1;
            }
            // Also a resumption is announced: the board sees the job run again.
            let event = record_change(txn, &job).await?;
            claimed.push((job, event));
        }
        Ok(claimed)
    })
    .await
}

/// What asking a job to stop did.
pub enum Cancel {
    NotFound,
    /// It had already finished.
    Finished(Model),
    /// Flagged: its runner stops it at the next step (or when its command ends).
    Flagged(Model),
    /// A queued job nobody ran: cancelled at once.
    Cancelled(Model, Recorded),
    /// It changed meanwhile (a runner claimed it): ask again.
    Raced,
}

/// Ask a job to stop.
pub async fn request_cancel(db: &Db, tenant: &TenantId, id: &str, now: i64) -> StoreResult<Cancel> {
    db.write(async |txn| {
        let Some(mut job) = get(txn, tenant, id).await? else {
            return Ok(Cancel::NotFound);
        };
        if job.state.0.is_terminal() {
            return Ok(Cancel::Finished(job));
        }
        let before = job.clone();
        job.cancel_requested = true;
        job.updated_at = now;
        let idle = job.state == JobState::Queued && job.runner_id.is_none();
        if idle {
            job.state = JobState::Cancelled.into();
            job.finished_at = Some(now);
            job.vmid_lock = None;
        }
        let done = Entity::update_many()
            .set(ActiveModel::from(job.clone()).reset_all())
            .filter(Column::Id.eq(job.id.as_str()))
            .filter(Column::UpdatedAt.eq(before.updated_at))
            .filter(Column::State.eq(before.state.as_str()))
            .filter(match &before.runner_id {
                Some(r) => Column::RunnerId.eq(r.as_str()),
                None => Column::RunnerId.is_null(),
            })
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            return Ok(Cancel::Raced);
        }
        if !idle {
            return Ok(Cancel::Flagged(job));
        }
        add_step(txn, &job, job.step.0, "cancelled", None, None, now).await?;
        let event = record_change(txn, &job).await?;
        Ok(Cancel::Cancelled(job, event))
    })
    .await
}

/// Whether a job was asked to stop (read fresh, for a runner between and during steps).
pub async fn cancel_requested(db: &Db, id: &str) -> StoreResult<bool> {
    let flag: Option<bool> = Entity::find_by_id(id.to_owned())
        .select_only()
        .column(Column::CancelRequested)
        .into_tuple()
        .one(db.read())
        .await?;
    Ok(flag.unwrap_or(false))
}

/// The job as stored (no tenant filter: the runner reads the row it holds).
pub async fn reload(db: &Db, id: &str) -> StoreResult<Option<vm_job::Model>> {
    Ok(Entity::find_by_id(id.to_owned()).one(db.read()).await?)
}
