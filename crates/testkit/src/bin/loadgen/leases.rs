//! `seed-leases`: a fleet of registered VMs, each holding one execution lease, made through
//! the API: an admin sets up a perpetual licence without a seat limit, a tenant-default
//! entitlement and a small release assigned as the tenant default; then the VMs' owner (the
//! admin, or with `--owner-login` a plain user, as a farm's runners are) registers and leases
//! each VM. It writes the request bodies of the two loads of `bench/licensing.sh`, one JSON
//! object per line: a heartbeat of each lease, and a resolve-download of each lease's VM
//! (`run --values` with `--body '{v}'`, and wrk's `bench/bodies.lua`). With `--provisioned`,
//! it also generates the provisioning payload of the first VMs and writes their tokens, for
//! the progress reports of `system`.

use std::time::Duration;

use anyhow::Context;
use botmox_client::Client;
use botmox_proto::artifacts::{AssignRequest, UploadQuery};
use botmox_proto::licensing::{
    CreateLicenseRequest, LeaseRequest, LicenseType, Modules, RegisterVmRequest,
    SetEntitlementRequest,
};
use botmox_proto::provisioning::GenerateIsoPayloadResponse;
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
    /// The VMs' owner, EMAIL:PASSWORD of a user of the same tenant (default: the admin).
    #[arg(long, value_name = "EMAIL:PASSWORD")]
    owner_login: Option<String>,
    /// VMs, one lease each.
    #[arg(long, default_value_t = 10_000)]
    vms: u32,
    /// Requests in flight while seeding.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// File for the heartbeat bodies, one per line.
    #[arg(long)]
    heartbeats: std::path::PathBuf,
    /// File for the resolve-download bodies, one per line.
    #[arg(long)]
    resolves: std::path::PathBuf,
    /// VMs, of the first ones, whose provisioning payload is generated (the server needs a
    /// public URL for it): their tokens go to `--provisioning-tokens`.
    #[arg(long, default_value_t = 0, requires = "provisioning_tokens")]
    provisioned: u32,
    /// File for `<vm_uuid> <provisioning token>` lines of the provisioned VMs.
    #[arg(long)]
    provisioning_tokens: Option<std::path::PathBuf>,
}

const MODULE: &str = "bench";

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
            modules: Modules(vec![MODULE.into()]),
        })
        .await
        .context("setting the entitlement")?;
    let file: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let upload = UploadQuery {
        module: MODULE.into(),
        platform: "windows".into(),
        version: format!("bench-{}", uuid::Uuid::new_v4()),
        channel: None,
        status: None,
    };
    let size = file.len() as u64;
    let release = client
        .upload_release(&upload, size, futures::stream::iter([Ok(file)]))
        .await
        .context("uploading the release")?;
    client
        .assign_release(&AssignRequest {
            user_id: None,
            module: MODULE.into(),
            platform: "windows".into(),
            channel: None,
            release_id: release.id,
        })
        .await
        .context("assigning the release")?;
    let client = match &args.owner_login {
        Some(owner) => {
            let token = super::login(&args.url, owner, Duration::from_secs(30)).await?;
            Client::new(args.url.as_str())?.with_token(token)
        }
        None => client,
    };
    let started = std::time::Instant::now();
    let leases: Vec<(String, String, String)> = futures::stream::iter(0..args.vms)
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
                        module: MODULE.into(),
                        ..Default::default()
                    })
                    .await
                    .with_context(|| format!("leasing for {vm_uuid}"))?;
                anyhow::Ok((lease.lease_id, lease.token, vm_uuid))
            }
        })
        .buffer_unordered(args.connections.max(1))
        .try_collect()
        .await?;
    let lines = |body: &dyn Fn(&(String, String, String)) -> serde_json::Value| {
        leases
            .iter()
            .map(|l| body(l).to_string() + "\n")
            .collect::<String>()
    };
    let heartbeats = lines(&|(id, _, _)| serde_json::json!({ "lease_id": id }));
    let resolves = lines(
        &|(_, token, vm)| serde_json::json!({ "lease_token": token, "vm_uuid": vm, "module": MODULE, "platform": "windows" }),
    );
    for (path, text) in [(&args.heartbeats, heartbeats), (&args.resolves, resolves)] {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "seed-leases: {} VMs registered and leased in {:.1}s ({} register+lease pairs/s)",
        leases.len(),
        started.elapsed().as_secs_f64(),
        (leases.len() as f64 / started.elapsed().as_secs_f64()) as u64
    );
    if let Some(path) = &args.provisioning_tokens {
        let vms = leases
            .iter()
            .take(args.provisioned as usize)
            .map(|(_, _, vm)| vm);
        let tokens = provisioning_tokens(&client, vms, args.connections).await?;
        std::fs::write(path, tokens).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Generate the provisioning payload of each of `vms` (as their owner, `client`), in
/// `connections` requests at a time: `<vm_uuid> <token>` lines, the tokens the VMs report
/// their progress with.
async fn provisioning_tokens(
    client: &Client,
    vms: impl Iterator<Item = &String>,
    connections: usize,
) -> anyhow::Result<String> {
    let profile = &botmox_testkit::fixtures::unattend_profile(Some("bench-password"));
    let lines: Vec<String> = futures::stream::iter(vms)
        .map(|vm| async move {
            let body = serde_json::json!({
                "vm_uuid": vm,
                "ip": {"address": "10.0.0.5", "gateway": "10.0.0.1"},
                "profile_config": profile,
            });
            let payload: GenerateIsoPayloadResponse = client
                .request(
                    reqwest::Method::POST,
                    "/provisioning/generate-iso-payload",
                    Some(&body),
                )
                .await
                .with_context(|| format!("generating the provisioning payload of {vm}"))?;
            anyhow::Ok(format!("{vm} {}\n", payload.token))
        })
        .buffer_unordered(connections.max(1))
        .try_collect()
        .await?;
    Ok(lines.concat())
}
