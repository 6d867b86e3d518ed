//! The VM registry, tenant licences, entitlements and execution leases. Lease tokens are
//! stored as hashes only; a lease's seat is counted while it is active and unexpired.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000011_licensing"
    }
}

#[derive(DeriveIden)]
enum VmRegistry {
    Table,
    TenantId,
    VmUuid,
    UserId,
    VmName,
    ProjectId,
    Status,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantLicenses {
    Table,
    Id,
    TenantId,
    UserId,
    LicenseType,
    Status,
    ExpiresAt,
    MaxLeases,
    Metadata,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantEntitlements {
    Table,
    TenantId,
    UserId,
    Modules,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ExecutionLeases {
    Table,
    Id,
    TenantId,
    TokenHash,
    Kid,
    Status,
    UserId,
    VmUuid,
    Module,
    Version,
    AgentId,
    RunnerId,
    LicenseId,
    CreatedAt,
    UpdatedAt,
    ExpiresAt,
    MaxExpiresAt,
    LastHeartbeatAt,
    RevokedAt,
    RevokedBy,
    RevokeReason,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(VmRegistry::Table)
                .col(ColumnDef::new(VmRegistry::TenantId).string().not_null())
                .col(ColumnDef::new(VmRegistry::VmUuid).string().not_null())
                .col(ColumnDef::new(VmRegistry::UserId).string().not_null())
                .col(ColumnDef::new(VmRegistry::VmName).string().not_null())
                .col(ColumnDef::new(VmRegistry::ProjectId).string().not_null())
                .col(ColumnDef::new(VmRegistry::Status).string().not_null())
                .col(ColumnDef::new(VmRegistry::Metadata).text().not_null())
                .col(
                    ColumnDef::new(VmRegistry::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(VmRegistry::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(VmRegistry::TenantId)
                        .col(VmRegistry::VmUuid),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("vm_registry_owner")
                .table(VmRegistry::Table)
                .col(VmRegistry::TenantId)
                .col(VmRegistry::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(TenantLicenses::Table)
                .col(
                    ColumnDef::new(TenantLicenses::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(TenantLicenses::TenantId).string().not_null())
                .col(ColumnDef::new(TenantLicenses::UserId).string().null())
                .col(
                    ColumnDef::new(TenantLicenses::LicenseType)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(TenantLicenses::Status).string().not_null())
                .col(
                    ColumnDef::new(TenantLicenses::ExpiresAt)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(TenantLicenses::MaxLeases).integer().null())
                .col(ColumnDef::new(TenantLicenses::Metadata).text().not_null())
                .col(ColumnDef::new(TenantLicenses::CreatedBy).string().null())
                .col(
                    ColumnDef::new(TenantLicenses::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(TenantLicenses::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("tenant_licenses_tenant")
                .table(TenantLicenses::Table)
                .col(TenantLicenses::TenantId)
                .col(TenantLicenses::CreatedAt)
                .to_owned(),
        )
        .await?;

        // `user_id` is '' for the tenant's default entitlement, so one key covers both.
        m.create_table(
            Table::create()
                .table(TenantEntitlements::Table)
                .col(
                    ColumnDef::new(TenantEntitlements::TenantId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(TenantEntitlements::UserId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(TenantEntitlements::Modules)
                        .text()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(TenantEntitlements::UpdatedBy)
                        .string()
                        .null(),
                )
                .col(
                    ColumnDef::new(TenantEntitlements::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(TenantEntitlements::TenantId)
                        .col(TenantEntitlements::UserId),
                )
                .to_owned(),
        )
        .await?;

        let text = |c: ExecutionLeases| ColumnDef::new(c).string().not_null().to_owned();
        let time = |c: ExecutionLeases| ColumnDef::new(c).big_integer().not_null().to_owned();
        m.create_table(
            Table::create()
                .table(ExecutionLeases::Table)
                .col(
                    ColumnDef::new(ExecutionLeases::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(text(ExecutionLeases::TenantId))
                .col(text(ExecutionLeases::TokenHash))
                .col(text(ExecutionLeases::Kid))
                .col(text(ExecutionLeases::Status))
                .col(text(ExecutionLeases::UserId))
                .col(text(ExecutionLeases::VmUuid))
                .col(text(ExecutionLeases::Module))
                .col(ColumnDef::new(ExecutionLeases::Version).string().null())
                .col(text(ExecutionLeases::AgentId))
                .col(text(ExecutionLeases::RunnerId))
                .col(text(ExecutionLeases::LicenseId))
                .col(time(ExecutionLeases::CreatedAt))
                .col(time(ExecutionLeases::UpdatedAt))
                .col(time(ExecutionLeases::ExpiresAt))
                .col(time(ExecutionLeases::MaxExpiresAt))
                .col(time(ExecutionLeases::LastHeartbeatAt))
                .col(
                    ColumnDef::new(ExecutionLeases::RevokedAt)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(ExecutionLeases::RevokedBy).string().null())
                .col(
                    ColumnDef::new(ExecutionLeases::RevokeReason)
                        .string()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        let indexes: [(&str, Vec<ExecutionLeases>, bool); 5] = [
            (
                "execution_leases_token",
                vec![ExecutionLeases::TokenHash],
                true,
            ),
            (
                "execution_leases_tenant_created",
                vec![ExecutionLeases::TenantId, ExecutionLeases::CreatedAt],
                false,
            ),
            // Seats in use: the active leases of one licence.
            (
                "execution_leases_license",
                vec![
                    ExecutionLeases::LicenseId,
                    ExecutionLeases::Status,
                    ExecutionLeases::ExpiresAt,
                ],
                false,
            ),
            // The sweeper: active leases past their expiry.
            (
                "execution_leases_sweep",
                vec![ExecutionLeases::Status, ExecutionLeases::ExpiresAt],
                false,
            ),
            (
                "execution_leases_vm",
                vec![ExecutionLeases::TenantId, ExecutionLeases::VmUuid],
                false,
            ),
        ];
        for (name, cols, unique) in indexes {
            let mut index = Index::create();
            index.name(name).table(ExecutionLeases::Table);
            for col in cols {
                index.col(col);
            }
            if unique {
                index.unique();
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}
