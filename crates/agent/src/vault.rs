//! Passwords from the vault: a Proxmox target's or the SSH settings' `password_secret`
//! names a secret (its id, or the field of a secret bound to this agent); the agent fetches
//! its own envelope, opens it with its vault private key as that secret of its tenant, and
//! keeps the password in memory only (the config file never holds it).

use anyhow::{Context, bail};
use botmox_client::Client;
use botmox_client::vault::open;
use botmox_proto::vault::{BoundSecret, SecretCiphertext, is_secret_id};

use crate::config::AgentConfig;

/// Fill in every password that `config` takes from the vault. A config without vault
/// references is left alone (and costs no request). Never save the result.
pub async fn resolve(config: &mut AgentConfig, client: &Client) -> anyhow::Result<()> {
    let wanted: Vec<String> = config
        .targets
        .iter()
        .filter_map(|t| t.password_secret.clone())
        .chain(config.ssh.iter().filter_map(|s| s.password_secret.clone()))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let private_key = config
        .vault_private_key
        .clone()
        .context("password_secret needs the agent's vault key; pair the agent again")?;
    // Fetched once for every field reference.
    let mut bound: Option<Vec<BoundSecret>> = None;
    let mut opened = Vec::with_capacity(wanted.len());
    for reference in wanted {
        let sealed = if is_secret_id(&reference) {
            client
                .secret_ciphertext(&reference)
                .await
                .with_context(|| format!("cannot fetch vault secret {reference}"))?
        } else {
            if bound.is_none() {
                bound = Some(
                    client
                        .bound_secrets()
                        .await
                        .context("cannot fetch the secrets bound to this agent")?,
                );
            }
            by_field(bound.as_deref().unwrap_or_default(), &reference)?
        };
        // Our own tenant when pairing recorded it, so the server cannot pass off another
        // tenant's secret; configs paired before it take the server's word.
        let tenant = config.tenant_id.as_deref().unwrap_or(&sealed.tenant_id);
        let plain = open(
            &private_key,
            tenant,
            &sealed.id,
            &sealed.field,
            &sealed.envelope,
        )
        .with_context(|| format!("vault secret '{reference}'"))?;
        let value = String::from_utf8(plain)
            .with_context(|| format!("vault secret '{reference}' is not UTF-8 text"))?;
        opened.push((reference, value));
    }
    let value_of = |reference: &String| {
        opened
            .iter()
            .find(|(r, _)| r == reference)
            .map(|(_, v)| v.clone())
    };
    for target in &mut config.targets {
        if let Some(reference) = &target.password_secret {
            target.password = value_of(reference);
        }
    }
    if let Some(ssh) = &mut config.ssh
        && let Some(reference) = &ssh.password_secret
    {
        ssh.password = value_of(reference);
    }
    Ok(())
}

/// The one secret bound to this agent under `field`: its own binding before a tenant-wide
/// one.
fn by_field(bound: &[BoundSecret], field: &str) -> anyhow::Result<SecretCiphertext> {
    use botmox_proto::vault::BindingScope;
    let mut matches: Vec<&BoundSecret> = bound
        .iter()
        .filter(|b| b.binding.field_name == field)
        .collect();
    matches.sort_by_key(|b| b.binding.scope_type != BindingScope::Agent);
    match matches.first() {
        Some(b) => Ok(b.secret.clone()),
        None => bail!(
            "no secret is bound to this agent under '{field}' (bind one with scope agent, tenant or vm_settings, sealed to this agent)"
        ),
    }
}
