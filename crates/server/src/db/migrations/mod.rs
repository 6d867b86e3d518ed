//! Versioned, forward-only schema migrations. A migration, once released, is never edited:
//! changes come as a new file appended to the list.

mod m20261126_000001_foundation;
mod m20261126_000002_records;
mod m20261126_000003_bot_history_settings;
mod m20261126_000004_finance_daily;
mod m20261126_000005_agents;
mod m20261126_000006_agent_commands;
mod m20261126_000007_command_events;
mod m20261126_000008_agent_presence;
mod m20261126_000009_bus_indexes;
mod m20261202_000010_finance_totals;
mod m20261202_000011_licensing;
mod m20261202_000012_artifacts;
mod m20261202_000013_vault;
mod m20261202_000014_provisioning;
// The VM pipeline's jobs.
mod m20261202_000015_vm_jobs;
mod m20261203_000016_record_search;
mod m20261204_000017_finance_gold;
mod m20261205_000018_interface_states;
mod m20261205_000019_bot_counts;
mod m20261205_000020_records_project_name;
mod m20261205_000021_record_search_index;
mod m20261205_000022_theme_assets;

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_foundation::Migration),
            Box::new(m20261126_000002_records::Migration),
            Box::new(m20261126_000003_bot_history_settings::Migration),
            Box::new(m20261126_000004_finance_daily::Migration),
            Box::new(m20261126_000005_agents::Migration),
            Box::new(m20261126_000006_agent_commands::Migration),
            Box::new(m20261126_000007_command_events::Migration),
            Box::new(m20261126_000008_agent_presence::Migration),
            Box::new(m20261126_000009_bus_indexes::Migration),
            Box::new(m20261202_000010_finance_totals::Migration),
            Box::new(m20261202_000011_licensing::Migration),
            Box::new(m20261202_000012_artifacts::Migration),
            Box::new(m20261202_000013_vault::Migration),
            Box::new(m20261202_000014_provisioning::Migration),
            Box::new(m20261202_000015_vm_jobs::Migration),
            Box::new(m20261203_000016_record_search::Migration),
            Box::new(m20261204_000017_finance_gold::Migration),
            Box::new(m20261205_000018_interface_states::Migration),
            Box::new(m20261205_000019_bot_counts::Migration),
            Box::new(m20261205_000020_records_project_name::Migration),
            Box::new(m20261205_000021_record_search_index::Migration),
            Box::new(m20261205_000022_theme_assets::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("schema_migrations").into_iden()
    }
}
