//! Tenants, users, sessions, refresh tokens, API tokens, the first-run setup link and the
//! audit log.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000001_foundation"
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Email,
    PasswordHash,
    Role,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    TenantId,
    Kind,
    UiTokenHash,
    ClientAddr,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    SessionId,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    TenantId,
    Name,
    Role,
    TokenHash,
    Prefix,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum SetupTokens {
    Table,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    TenantId,
    ActorType,
    ActorId,
    ActorEmail,
    Action,
    Target,
    Result,
    ClientAddr,
    RequestId,
    CreatedAt,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string().not_null().to_owned()
}

fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string().null().to_owned()
}

fn time(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn time_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tenants::Table)
                .col(text(Tenants::Id).primary_key())
                .col(text(Tenants::Name).unique_key())
                .col(time(Tenants::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(text(Users::Id).primary_key())
                .col(text(Users::TenantId))
                .col(text(Users::Email).unique_key())
                .col(text_null(Users::PasswordHash))
                .col(text(Users::Role))
                .col(
                    ColumnDef::new(Users::Disabled)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(time(Users::CreatedAt))
                .col(time(Users::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Users::Table, Users::TenantId)
                        .to(Tenants::Table, Tenants::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("users_tenant")
                .table(Users::Table)
                .col(Users::TenantId)
                .col(Users::Email)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(text(Sessions::Id).primary_key())
                .col(text(Sessions::UserId))
                .col(text(Sessions::TenantId))
                .col(text(Sessions::Kind))
                .col(text_null(Sessions::UiTokenHash).unique_key())
                .col(text_null(Sessions::ClientAddr))
                .col(time(Sessions::CreatedAt))
                .col(time(Sessions::ExpiresAt))
                .col(time_null(Sessions::RevokedAt))
                .col(text_null(Sessions::RevokedReason))
                .foreign_key(
                    ForeignKey::create()
                        .from(Sessions::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("sessions_user")
                .table(Sessions::Table)
                .col(Sessions::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(text(RefreshTokens::TokenHash).primary_key())
                .col(text(RefreshTokens::SessionId))
                .col(time(RefreshTokens::CreatedAt))
                .col(time_null(RefreshTokens::UsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(RefreshTokens::Table, RefreshTokens::SessionId)
                        .to(Sessions::Table, Sessions::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("refresh_tokens_session")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::SessionId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(text(ApiTokens::Id).primary_key())
                .col(text(ApiTokens::TenantId))
                .col(text(ApiTokens::Name))
                .col(text(ApiTokens::Role))
                .col(text(ApiTokens::TokenHash).unique_key())
                .col(text(ApiTokens::Prefix))
                .col(text_null(ApiTokens::CreatedBy))
                .col(time(ApiTokens::CreatedAt))
                .col(time_null(ApiTokens::ExpiresAt))
                .col(time_null(ApiTokens::RevokedAt))
                .col(time_null(ApiTokens::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(ApiTokens::Table, ApiTokens::TenantId)
                        .to(Tenants::Table, Tenants::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("api_tokens_tenant")
                .table(ApiTokens::Table)
                .col(ApiTokens::TenantId)
                .col(ApiTokens::CreatedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SetupTokens::Table)
                .col(text(SetupTokens::TokenHash).primary_key())
                .col(time(SetupTokens::CreatedAt))
                .col(time(SetupTokens::ExpiresAt))
                .col(time_null(SetupTokens::UsedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(
                    ColumnDef::new(AuditLog::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(text_null(AuditLog::TenantId))
                .col(text(AuditLog::ActorType))
                .col(text_null(AuditLog::ActorId))
                .col(text_null(AuditLog::ActorEmail))
                .col(text(AuditLog::Action))
                .col(text_null(AuditLog::Target))
                .col(text(AuditLog::Result))
                .col(text_null(AuditLog::ClientAddr))
                .col(text_null(AuditLog::RequestId))
                .col(time(AuditLog::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_tenant_time")
                .table(AuditLog::Table)
                .col(AuditLog::TenantId)
                .col(AuditLog::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_tenant_action")
                .table(AuditLog::Table)
                .col(AuditLog::TenantId)
                .col(AuditLog::Action)
                .col(AuditLog::Id)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
