//! Provisioning: unattend profiles and playbooks (per tenant and owner, one default each
//! per user by a partial unique index), provisioning tokens (stored as hashes, at most one
//! active per VM by a partial unique index) and the VMs' progress reports (an identical
//! repeat is the same row, by a unique index over the report and a hash of its details).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000014_provisioning"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum UnattendProfiles {
    Table,
    Id,
    TenantId,
    UserId,
    Name,
    IsDefault,
    Config,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Playbooks {
    Table,
    Id,
    TenantId,
    UserId,
    Name,
    IsDefault,
    Content,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProvisioningTokens {
    Table,
    Id,
    TenantId,
    UserId,
    VmUuid,
    TokenHash,
    Status,
    PlaybookId,
    IssuedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
    RevokeReason,
}

#[derive(DeriveIden)]
enum VmSetupProgress {
    Table,
    Id,
    TenantId,
    VmUuid,
    TokenId,
    Step,
    Status,
    Details,
    DetailsHash,
    CreatedAt,
}

/// Profiles and playbooks share their shape; only the body column's name differs.
fn owned_table<T: IntoIden + Copy + 'static>(table: T, cols: [T; 8]) -> TableCreateStatement {
    let [id, tenant, user, name, is_default, body, created, updated] = cols;
    Table::create()
        .table(table)
        .col(ColumnDef::new(id).string().not_null().primary_key())
        .col(ColumnDef::new(tenant).string().not_null())
        .col(ColumnDef::new(user).string().not_null())
        .col(ColumnDef::new(name).string().not_null())
        .col(ColumnDef::new(is_default).boolean().not_null())
        .col(ColumnDef::new(body).text().not_null())
        .col(ColumnDef::new(created).big_integer().not_null())
        .col(ColumnDef::new(updated).big_integer().not_null())
        .to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use Playbooks as P;
        use UnattendProfiles as U;
        m.create_table(owned_table(
            U::Table,
            [
                U::Id,
                U::TenantId,
                U::UserId,
                U::Name,
                U::IsDefault,
                U::Config,
                U::CreatedAt,
                U::UpdatedAt,
            ],
        ))
        .await?;
        m.create_table(owned_table(
            P::Table,
            [
                P::Id,
                P::TenantId,
                P::UserId,
                P::Name,
                P::IsDefault,
                P::Content,
                P::CreatedAt,
                P::UpdatedAt,
            ],
        ))
        .await?;

        let t = |c: ProvisioningTokens| ColumnDef::new(c).string().not_null().to_owned();
        let time = |c: ProvisioningTokens| ColumnDef::new(c).big_integer().not_null().to_owned();
        let opt_time = |c: ProvisioningTokens| ColumnDef::new(c).big_integer().null().to_owned();
        m.create_table(
            Table::create()
                .table(ProvisioningTokens::Table)
                .col(t(ProvisioningTokens::Id).primary_key().to_owned())
                .col(t(ProvisioningTokens::TenantId))
                .col(t(ProvisioningTokens::UserId))
                .col(t(ProvisioningTokens::VmUuid))
                .col(t(ProvisioningTokens::TokenHash))
                .col(t(ProvisioningTokens::Status))
                .col(
                    ColumnDef::new(ProvisioningTokens::PlaybookId)
                        .string()
                        .null(),
                )
                .col(time(ProvisioningTokens::IssuedAt))
                .col(time(ProvisioningTokens::ExpiresAt))
                .col(opt_time(ProvisioningTokens::UsedAt))
                .col(opt_time(ProvisioningTokens::RevokedAt))
                .col(
                    ColumnDef::new(ProvisioningTokens::RevokeReason)
                        .string()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("provisioning_tokens_vm")
                .table(ProvisioningTokens::Table)
                .col(ProvisioningTokens::TenantId)
                .col(ProvisioningTokens::VmUuid)
                .col(ProvisioningTokens::IssuedAt)
                .to_owned(),
        )
        .await?;

        let p = |c: VmSetupProgress| ColumnDef::new(c).string().not_null().to_owned();
        m.create_table(
            Table::create()
                .table(VmSetupProgress::Table)
                .col(p(VmSetupProgress::Id).primary_key().to_owned())
                .col(p(VmSetupProgress::TenantId))
                .col(p(VmSetupProgress::VmUuid))
                .col(p(VmSetupProgress::TokenId))
                .col(p(VmSetupProgress::Step))
                .col(p(VmSetupProgress::Status))
                .col(ColumnDef::new(VmSetupProgress::Details).text().not_null())
                .col(p(VmSetupProgress::DetailsHash))
                .col(
                    ColumnDef::new(VmSetupProgress::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("vm_setup_progress_vm")
                .table(VmSetupProgress::Table)
                .col(VmSetupProgress::TenantId)
                .col(VmSetupProgress::VmUuid)
                .col(VmSetupProgress::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("vm_setup_progress_report")
                .table(VmSetupProgress::Table)
                .col(VmSetupProgress::TokenId)
                .col(VmSetupProgress::Step)
                .col(VmSetupProgress::Status)
                .col(VmSetupProgress::DetailsHash)
                .unique()
                .to_owned(),
        )
        .await?;

        // The same statements on both engines: unique names per owner, and partial unique
        // indexes (SQLite and PostgreSQL both have them) for one default per owner and one
        // active token per VM, so no race can break either rule.
        let db = m.get_connection();
        for sql in [
            "CREATE UNIQUE INDEX unattend_profiles_name ON unattend_profiles (tenant_id, user_id, name)",
            "CREATE UNIQUE INDEX unattend_profiles_default ON unattend_profiles (tenant_id, user_id) WHERE is_default",
            "CREATE UNIQUE INDEX playbooks_name ON playbooks (tenant_id, user_id, name)",
            "CREATE UNIQUE INDEX playbooks_default ON playbooks (tenant_id, user_id) WHERE is_default",
            "CREATE UNIQUE INDEX provisioning_tokens_hash ON provisioning_tokens (token_hash)",
            "CREATE UNIQUE INDEX provisioning_tokens_active ON provisioning_tokens (tenant_id, vm_uuid) WHERE status = 'active'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
