//! The VM pipeline: batches, one job per VM (its settings, where it is, the command its step
//! waits for, why it failed, and the lease of the replica running it) and each job's step
//! history. A VM id a live job holds is unique per agent and target (`vmid_lock`), so two
//! jobs never clone into the same id.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000015_vm_jobs"
    }
}

#[derive(DeriveIden)]
enum VmJobBatches {
    Table,
    Id,
    TenantId,
    OwnerUserId,
    AgentId,
    Count,
    Concurrency,
    Request,
    CreatedAt,
}

#[derive(DeriveIden)]
enum VmJobs {
    Table,
    Id,
    TenantId,
    BatchId,
    Seq,
    Kind,
    OwnerUserId,
    OwnerRole,
    AgentId,
    Target,
    Node,
    TemplateVmid,
    Storage,
    IsoStorage,
    Vmid,
    VmidLock,
    NamePrefix,
    VmName,
    VmUuid,
    Cores,
    MemoryMb,
    DiskGib,
    Bridge,
    ProjectId,
    ProfileId,
    PlaybookId,
    Ip,
    BootKeys,
    KeysSent,
    DiskKey,
    DiskSizeGib,
    Smbios1,
    IsoPath,
    CdromSlot,
    TokenId,
    Progress,
    State,
    Step,
    StepCommandId,
    CancelRequested,
    ErrorStep,
    ErrorCode,
    ErrorMessage,
    RunnerId,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum VmJobSteps {
    Table,
    Id,
    TenantId,
    JobId,
    Step,
    Status,
    CommandId,
    Detail,
    At,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string().not_null().to_owned()
}

fn opt_text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string().null().to_owned()
}

fn int(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn opt_int(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(VmJobBatches::Table)
                .col(text(VmJobBatches::Id).primary_key())
                .col(text(VmJobBatches::TenantId))
                .col(text(VmJobBatches::OwnerUserId))
                .col(text(VmJobBatches::AgentId))
                .col(int(VmJobBatches::Count))
                .col(int(VmJobBatches::Concurrency))
                .col(ColumnDef::new(VmJobBatches::Request).text().not_null())
                .col(int(VmJobBatches::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VmJobs::Table)
                .col(text(VmJobs::Id).primary_key())
                .col(text(VmJobs::TenantId))
                .col(opt_text(VmJobs::BatchId))
                .col(int(VmJobs::Seq))
                .col(text(VmJobs::Kind))
                .col(text(VmJobs::OwnerUserId))
                .col(text(VmJobs::OwnerRole))
                .col(text(VmJobs::AgentId))
                .col(opt_text(VmJobs::Target))
                .col(opt_text(VmJobs::Node))
                .col(opt_int(VmJobs::TemplateVmid))
                .col(opt_text(VmJobs::Storage))
                .col(opt_text(VmJobs::IsoStorage))
                .col(opt_int(VmJobs::Vmid))
                .col(opt_text(VmJobs::VmidLock))
                .col(opt_text(VmJobs::NamePrefix))
                .col(opt_text(VmJobs::VmName))
                .col(opt_text(VmJobs::VmUuid))
                .col(opt_int(VmJobs::Cores))
                .col(opt_int(VmJobs::MemoryMb))
                .col(opt_int(VmJobs::DiskGib))
                .col(opt_text(VmJobs::Bridge))
                .col(opt_text(VmJobs::ProjectId))
                .col(opt_text(VmJobs::ProfileId))
                .col(opt_text(VmJobs::PlaybookId))
                .col(ColumnDef::new(VmJobs::Ip).text().null())
                .col(int(VmJobs::BootKeys))
                .col(int(VmJobs::KeysSent))
                .col(opt_text(VmJobs::DiskKey))
                .col(opt_int(VmJobs::DiskSizeGib))
                .col(opt_text(VmJobs::Smbios1))
                .col(opt_text(VmJobs::IsoPath))
                .col(opt_text(VmJobs::CdromSlot))
                .col(opt_text(VmJobs::TokenId))
                .col(ColumnDef::new(VmJobs::Progress).text().null())
                .col(text(VmJobs::State))
                .col(text(VmJobs::Step))
                .col(opt_text(VmJobs::StepCommandId))
                .col(
                    ColumnDef::new(VmJobs::CancelRequested)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(opt_text(VmJobs::ErrorStep))
                .col(opt_text(VmJobs::ErrorCode))
                .col(ColumnDef::new(VmJobs::ErrorMessage).text().null())
                .col(opt_text(VmJobs::RunnerId))
                .col(opt_int(VmJobs::LeaseUntil))
                .col(int(VmJobs::CreatedAt))
                .col(int(VmJobs::UpdatedAt))
                .col(opt_int(VmJobs::StartedAt))
                .col(opt_int(VmJobs::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("vm_jobs_tenant_created")
                .table(VmJobs::Table)
                .col(VmJobs::TenantId)
                .col(VmJobs::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("vm_jobs_batch")
                .table(VmJobs::Table)
                .col(VmJobs::BatchId)
                .col(VmJobs::State)
                .to_owned(),
        )
        .await?;
        // What the runners look for: live jobs by lease.
        m.create_index(
            Index::create()
                .name("vm_jobs_state_lease")
                .table(VmJobs::Table)
                .col(VmJobs::State)
                .col(VmJobs::LeaseUntil)
                .to_owned(),
        )
        .await?;
        // NULLs are distinct on both engines: only live jobs hold a VM id.
        m.create_index(
            Index::create()
                .name("vm_jobs_vmid_lock")
                .table(VmJobs::Table)
                .col(VmJobs::AgentId)
                .col(VmJobs::VmidLock)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VmJobSteps::Table)
                .col(
                    ColumnDef::new(VmJobSteps::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(text(VmJobSteps::TenantId))
                .col(text(VmJobSteps::JobId))
                .col(text(VmJobSteps::Step))
                .col(text(VmJobSteps::Status))
                .col(opt_text(VmJobSteps::CommandId))
                .col(ColumnDef::new(VmJobSteps::Detail).text().null())
                .col(int(VmJobSteps::At))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("vm_job_steps_job")
                .table(VmJobSteps::Table)
                .col(VmJobSteps::JobId)
                .col(VmJobSteps::Id)
                .to_owned(),
        )
        .await
    }
}
