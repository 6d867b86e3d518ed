//! `seed-leases`: a fleet of registered VMs, each holding one execution lease, made through
//! the API as an admin would (a perpetual licence without a seat limit, a tenant-default
//! entitlement, then register + lease per VM), with the lease ids written one per line for
//! the heartbeat load (`run --values`, and wrk's script in `bench/licensing.sh`).

use std::time::Duration;

use anyhow::Context;
use botmox_client::Client;
use botmox_proto::licensing::{
    CreateLicenseRequest, LeaseRequest, LicenseType, Modules, RegisterVmRequest,
    SetEntitlementRequest,
};
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use reqwest::Url;

#[derive(Debug, Args)]
pub struct SeedLeasesArgs {
    /// Base URL of the server (loopback only).
    #[arg(long)]
    url: Url,
    /// An admin's EMAIL:PASSWORD.
    #[arg(long, value_name = "EMAIL:PASSWORD")]
    login: String,
    /// VMs, one lease each.
    #[arg(long, default_value_t = 10_000)]
    vms: u32,
    /// Requests in flight while seeding.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// File to write the lease ids to, one per line.
    #[arg(long)]
    out: std::path::PathBuf,
}

pub async fn seed(args: SeedLeasesArgs) -> anyhow::Result<()> {
    super::check_loopback(&args.url, "--url")?;
    let token = super::login(&args.url, &args.login, Duration::from_secs(30)).await?;
    let client = Client::new(args.url.as_str())?.with_token(token);
    client
        .create_license(&CreateLicenseRequest {
            license_type: Some(LicenseType::Perpetual),
            ..Default::default()
        })
        .await
        .context("creating the licence")?;
    client
        .set_entitlement(&SetEntitlementRequest {
            user_id: None,
            modules: Modules(vec!["bench".into()]),
        })
        .await
        .context("setting the entitlement")?;
    let started = std::time::Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..args.vms)
        .map(|i| {
            let client = client.clone();
            async move {
                let vm_uuid = format!("bench-vm-{i:08}");
                client
                    .register_vm(&RegisterVmRequest {
                        vm_uuid: vm_uuid.clone(),
                        ..Default::default()
                    })
                    .await
                    .with_context(|| format!("registering {vm_uuid}"))?;
                let lease = client
                    .lease(&LeaseRequest {
                        vm_uuid: vm_uuid.clone(),
                        agent_id: "bench-agent".into(),
                        runner_id: format!("runner-{i}"),
                        module: "bench".into(),
                        ..Default::default()
                    })
                    .await
                    .with_context(|| format!("leasing for {vm_uuid}"))?;
                anyhow::Ok(lease.lease_id)
            }
        })
        .buffer_unordered(args.connections.max(1))
        .try_collect()
        .await?;
    std::fs::write(&args.out, ids.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "seed-leases: {} VMs registered and leased in {:.1}s ({} register+lease pairs/s)",
        ids.len(),
        started.elapsed().as_secs_f64(),
        (ids.len() as f64 / started.elapsed().as_secs_f64()) as u64
    );
    Ok(())
}
