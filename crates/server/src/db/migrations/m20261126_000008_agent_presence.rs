//! Agent presence: the online/offline state last announced as an event. Online itself is
//! computed from `last_seen_at`; this column lets exactly one heartbeat (or one sweeper on
//! one replica) announce a change, by a conditional update from the other value.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000008_agent_presence"
    }
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Presence,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Agents::Table)
                .add_column(
                    ColumnDef::new(Agents::Presence)
                        .string()
                        .not_null()
                        .default("offline"),
                )
                .to_owned(),
        )
        .await
    }
}
