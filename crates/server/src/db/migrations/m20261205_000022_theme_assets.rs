//! The tenant's theme background images: each uploaded image's object in the blob store
//! (`theme-assets/<tenant>/<id>`), its kind, size and dimensions. Removing one removes its
//! object too (the reference only marked rows deleted and kept every object).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000022_theme_assets"
    }
}

#[derive(DeriveIden)]
enum ThemeAssets {
    Table,
    Id,
    TenantId,
    ObjectKey,
    MimeType,
    SizeBytes,
    Width,
    Height,
    CreatedBy,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ThemeAssets::Table)
                .col(
                    ColumnDef::new(ThemeAssets::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(ThemeAssets::TenantId).string().not_null())
                .col(ColumnDef::new(ThemeAssets::ObjectKey).string().not_null())
                .col(ColumnDef::new(ThemeAssets::MimeType).string().not_null())
                .col(
                    ColumnDef::new(ThemeAssets::SizeBytes)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(ThemeAssets::Width).integer().not_null())
                .col(ColumnDef::new(ThemeAssets::Height).integer().not_null())
                .col(ColumnDef::new(ThemeAssets::CreatedBy).string().null())
                .col(
                    ColumnDef::new(ThemeAssets::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("theme_assets_tenant_created")
                .table(ThemeAssets::Table)
                .col(ThemeAssets::TenantId)
                .col(ThemeAssets::CreatedAt)
                .to_owned(),
        )
        .await
    }
}
