//! Artifacts: releases (files in the blob store), per-user and tenant-default assignments,
//! and the download audit. The tenant default is the assignment whose `user_id` is `''`
//! (not NULL), so one plain unique index covers users and the default alike on SQLite and
//! PostgreSQL, and an assignment is replaced atomically with one upsert.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000012_artifacts"
    }
}

#[derive(DeriveIden)]
enum ArtifactReleases {
    Table,
    Id,
    TenantId,
    Module,
    Platform,
    Channel,
    Version,
    ObjectKey,
    Sha256,
    SizeBytes,
    Status,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum ArtifactAssignments {
    Table,
    Id,
    TenantId,
    UserId,
    Module,
    Platform,
    Channel,
    ReleaseId,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum ArtifactDownloadAudit {
    Table,
    Id,
    TenantId,
    LeaseId,
    LeaseJti,
    UserId,
    VmUuid,
    Module,
    Platform,
    Channel,
    ReleaseId,
    EventType,
    Result,
    Reason,
    RequestIp,
    UrlExpiresAt,
    Metadata,
    CreatedAt,
}

fn id<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn text<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c).string().not_null().to_owned()
}

fn text_null<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c).string().null().to_owned()
}

fn big<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().to_owned()
}

fn big_null<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c).big_integer().null().to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ArtifactReleases as R;
        m.create_table(
            Table::create()
                .table(R::Table)
                .col(id(R::Id))
                .col(text(R::TenantId))
                .col(text(R::Module))
                .col(text(R::Platform))
                .col(text(R::Channel))
                .col(text(R::Version))
                .col(text(R::ObjectKey))
                .col(text(R::Sha256))
                .col(big(R::SizeBytes))
                .col(text(R::Status))
                .col(big(R::CreatedAt))
                .col(big(R::UpdatedAt))
                .col(text_null(R::CreatedBy))
                .col(text_null(R::UpdatedBy))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("artifact_releases_version")
                .table(R::Table)
                .col(R::TenantId)
                .col(R::Module)
                .col(R::Platform)
                .col(R::Channel)
                .col(R::Version)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("artifact_releases_object")
                .table(R::Table)
                .col(R::TenantId)
                .col(R::ObjectKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("artifact_releases_tenant_created")
                .table(R::Table)
                .col(R::TenantId)
                .col(R::CreatedAt)
                .to_owned(),
        )
        .await?;

        use ArtifactAssignments as A;
        m.create_table(
            Table::create()
                .table(A::Table)
                .col(id(A::Id))
                .col(text(A::TenantId))
                .col(text(A::UserId))
                .col(text(A::Module))
                .col(text(A::Platform))
                .col(text(A::Channel))
                .col(big(A::ReleaseId))
                .col(big(A::CreatedAt))
                .col(big(A::UpdatedAt))
                .col(text_null(A::CreatedBy))
                .col(text_null(A::UpdatedBy))
                .foreign_key(
                    ForeignKey::create()
                        .from(A::Table, A::ReleaseId)
                        .to(R::Table, R::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("artifact_assignments_scope")
                .table(A::Table)
                .col(A::TenantId)
                .col(A::UserId)
                .col(A::Module)
                .col(A::Platform)
                .col(A::Channel)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("artifact_assignments_release")
                .table(A::Table)
                .col(A::ReleaseId)
                .to_owned(),
        )
        .await?;

        use ArtifactDownloadAudit as D;
        m.create_table(
            Table::create()
                .table(D::Table)
                .col(id(D::Id))
                .col(text(D::TenantId))
                .col(text_null(D::LeaseId))
                .col(text_null(D::LeaseJti))
                .col(text_null(D::UserId))
                .col(text(D::VmUuid))
                .col(text(D::Module))
                .col(text(D::Platform))
                .col(text(D::Channel))
                .col(big_null(D::ReleaseId))
                .col(text(D::EventType))
                .col(text(D::Result))
                .col(text_null(D::Reason))
                .col(text_null(D::RequestIp))
                .col(big_null(D::UrlExpiresAt))
                .col(ColumnDef::new(D::Metadata).text().not_null())
                .col(big(D::CreatedAt))
                .to_owned(),
        )
        .await?;
        // One index per admin filter, each ending in the time the list is ordered by.
        for (name, col) in [
            ("artifact_download_audit_vm", Some(D::VmUuid)),
            ("artifact_download_audit_module", Some(D::Module)),
            ("artifact_download_audit_result", Some(D::Result)),
            ("artifact_download_audit_user", Some(D::UserId)),
            ("artifact_download_audit_created", None),
        ] {
            let mut index = Index::create();
            index.name(name).table(D::Table).col(D::TenantId);
            if let Some(col) = col {
                index.col(col);
            }
            index.col(D::CreatedAt);
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}
