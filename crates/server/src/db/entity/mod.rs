//! SeaORM entities, one module per table, mirroring the migrations.

pub mod agent;
pub mod agent_command;
pub mod api_token;
pub mod artifact_assignment;
pub mod artifact_download_audit;
pub mod artifact_release;
pub mod audit_log;
pub mod bot_archive;
pub mod bot_event;
pub mod command_event;
pub mod execution_lease;
pub mod finance_daily;
pub mod playbook;
pub mod provisioning_token;
pub mod record;
pub mod refresh_token;
pub mod session;
pub mod settings;
pub mod setup_token;
pub mod storage_policy;
pub mod stored;
pub mod tenant;
pub mod tenant_entitlement;
pub mod tenant_license;
pub mod unattend_profile;
pub mod user;
pub mod vault_binding;
pub mod vault_envelope;
pub mod vault_secret;
pub mod vault_user_key;
pub mod vm_registry;
pub mod vm_setup_progress;
// The VM pipeline.
pub mod vm_job;
pub mod vm_job_batch;
pub mod vm_job_step;
