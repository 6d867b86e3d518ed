//! The Project page lists a project's bots by name, 25 at a time: with only an index on the
//! project, both engines sorted all of the project's bots for every page (30 ms of SQLite's
//! 36 ms with 25,000 bots in the project). An index on project, name and id hands them out
//! in order; it also serves everything the index on the project alone did, which goes.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000020_records_project_name"
    }
}

#[derive(DeriveIden)]
enum Records {
    Table,
    TenantId,
    Kind,
    ProjectId,
    Name,
    Id,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("records_project_name")
                .table(Records::Table)
                .col(Records::TenantId)
                .col(Records::Kind)
                .col(Records::ProjectId)
                .col(Records::Name)
                .col(Records::Id)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("records_project")
                .table(Records::Table)
                .to_owned(),
        )
        .await
    }
}
