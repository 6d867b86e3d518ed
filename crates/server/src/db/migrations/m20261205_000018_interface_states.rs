//! Each user's own state of the web UI's resource tree (its width, whether it is collapsed,
//! which nodes are open and which bot statuses it shows), so the tree looks the same in
//! every browser the user signs in from. It goes with the user.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000018_interface_states"
    }
}

#[derive(DeriveIden)]
enum InterfaceStates {
    Table,
    UserId,
    TenantId,
    ResourceTree,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(InterfaceStates::Table)
                .col(
                    ColumnDef::new(InterfaceStates::UserId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(InterfaceStates::TenantId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(InterfaceStates::ResourceTree)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(InterfaceStates::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(InterfaceStates::Table, InterfaceStates::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }
}
