//! Is everything the agent needs reachable and does it let the agent in? The same checks
//! serve `status`, `doctor` (which exits non-zero on a failure) and the heartbeat, whose
//! `host.doctor` facts the Agents page shows.

use botmox_client::{Client, ClientError};
use botmox_proto::ErrorCode;
use botmox_proto::agent::{DoctorFacts, ServiceCheck};
use botmox_proto::command::{Command, EventsQuery, OnNode, SshProbe};
use chrono::Utc;

use crate::config::AgentConfig;
use crate::error::code;
use crate::executor::Executor;

/// ServiceCheck Proxmox and SSH side by side: the heartbeat's `host.doctor` (the server's own
/// reachability goes without saying, and `run` has no need to check it).
pub async fn check_node(executor: &Executor, config: &AgentConfig) -> DoctorFacts {
    let (proxmox, ssh) = tokio::join!(check_proxmox(executor, config), check_ssh(executor, config));
    DoctorFacts {
        checked_at: Utc::now(),
        proxmox,
        ssh,
    }
}

/// What `status` and `doctor` check: the server too.
#[derive(Debug, Clone)]
pub struct Facts {
    pub server: ServiceCheck,
    pub node: DoctorFacts,
}

impl Facts {
    /// One line per service, in plain words.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.server.line("Server")];
        lines.extend(self.node.lines());
        lines
    }

    /// Doctor's verdict: the server and Proxmox must work; SSH must work once configured.
    pub fn healthy(&self) -> bool {
        let DoctorFacts { proxmox, ssh, .. } = &self.node;
        self.server.ok() && proxmox.ok() && (ssh.ok() || !ssh.configured)
    }
}

/// Can the agent talk to its server with its token? Opening its event stream proves the
/// token without side effects (a heartbeat would show the agent online while it does not run).
pub async fn check_server(config: &AgentConfig) -> ServiceCheck {
    let configured = |reachable, authenticated, detail: String| ServiceCheck {
        configured: true,
        reachable,
        authenticated,
        detail,
    };
    let client = match Client::new(&config.server_url) {
        Ok(c) => c,
        Err(e) => return configured(false, false, e.to_string()),
    };
    if let Err(e) = client.live().await {
        return configured(false, false, format!("{}: {e}", config.server_url));
    }
    let query = EventsQuery {
        agent_id: Some(config.agent_id.clone()),
        ..EventsQuery::default()
    };
    let client = client.with_token(&config.token);
    match client.events(&query, None).await.map(drop) {
        Ok(()) => configured(
            true,
            true,
            format!("{} accepts agent {}", config.server_url, config.agent_id),
        ),
        Err(e) if e.is(ErrorCode::AgentRevoked) => configured(
            true,
            false,
            "this agent was revoked; pair it again".to_owned(),
        ),
        Err(e @ ClientError::Api { status: 401, .. }) => configured(
            true,
            false,
            format!("the agent token was refused ({e}); pair again if it expired"),
        ),
        Err(e) => configured(true, false, e.to_string()),
    }
}

/// Does the active Proxmox target answer, and accept the agent's token or password?
pub async fn check_proxmox(executor: &Executor, config: &AgentConfig) -> ServiceCheck {
    let Some(target) = config.target(None) else {
        return ServiceCheck {
            configured: false,
            reachable: false,
            authenticated: false,
            detail: "no [[proxmox]] target in the config".to_owned(),
        };
    };
    let place = format!("{} node {}", target.url, target.node);
    let status = Command::Status(OnNode {
        node: None,
        target: None,
    });
    let (reachable, authenticated, detail) = match executor.execute(&status).await {
        Ok(v) => (
            true,
            true,
            format!(
                "{place}, Proxmox VE {}",
                v["version"].as_str().unwrap_or("?")
            ),
        ),
        Err(e) if matches!(e.code.as_str(), "PVE_TRANSPORT" | "PVE_TIMEOUT") => {
            (false, false, format!("{place}: {e}"))
        }
        Err(e) if e.code == code::PROXMOX_NOT_CONFIGURED || e.code == "PVE_CONFIG" => {
            (false, false, e.to_string())
        }
        Err(e) => (true, false, format!("{place}: {e}")),
    };
    ServiceCheck {
        configured: true,
        reachable,
        authenticated,
        detail,
    }
}

/// Does the node's SSH server answer with the pinned key and accept the agent's login?
pub async fn check_ssh(executor: &Executor, config: &AgentConfig) -> ServiceCheck {
    if config.ssh.is_none() {
        return ServiceCheck {
            configured: false,
            reachable: false,
            authenticated: false,
            detail: "no [ssh] section in the config (needed only for ssh-* commands)".to_owned(),
        };
    }
    let probe = SshProbe {
        ssh_host: None,
        ssh_port: None,
        ssh_username: None,
        timeout_ms: None,
        node: None,
        target: None,
    };
    let result = executor.ssh_probe(&probe, false).await;
    let code = result["code"].as_str().unwrap_or_default();
    let place = format!(
        "{}@{}:{}",
        result["username"].as_str().unwrap_or("?"),
        result["host"].as_str().unwrap_or("?"),
        result["port"]
    );
    let message = result["message"].as_str().unwrap_or_default();
    let (configured, reachable, authenticated) = match code {
        "OK" => (true, true, true),
        code::SSH_AUTH_FAILED | code::SSH_HOST_KEY_CHANGED | code::SSH_EXEC_ERROR => {
            (true, true, false)
        }
        code::SSH_UNREACHABLE => (true, false, false),
        _ => (false, false, false),
    };
    let detail = if code == "OK" {
        format!(
            "{place} with {} login",
            result["mode"].as_str().unwrap_or("?")
        )
    } else {
        format!("{place}: {code}: {message}")
    };
    ServiceCheck {
        configured,
        reachable,
        authenticated,
        detail,
    }
}

/// All three checks.
pub async fn check_all(executor: &Executor, config: &AgentConfig) -> Facts {
    let (server, node) = tokio::join!(check_server(config), check_node(executor, config));
    Facts { server, node }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(configured: bool, reachable: bool, authenticated: bool) -> ServiceCheck {
        ServiceCheck {
            configured,
            reachable,
            authenticated,
            detail: "d".into(),
        }
    }

    #[test]
    fn verdicts_and_words() {
        let node = |proxmox, ssh| DoctorFacts {
            checked_at: Utc::now(),
            proxmox,
            ssh,
        };
        let facts = Facts {
            server: check(true, true, true),
            node: node(check(true, true, false), check(false, false, false)),
        };
        assert!(!facts.healthy());
        assert_eq!(
            facts.lines(),
            [
                "Server: reachable and authenticated (d)",
                "Proxmox: reachable, but NOT authenticated (d)",
                "SSH: not configured (d)",
            ]
        );
        let fine = Facts {
            node: node(check(true, true, true), check(false, false, false)),
            ..facts.clone()
        };
        assert!(fine.healthy(), "SSH is optional until configured");
        let broken_ssh = Facts {
            node: node(check(true, true, true), check(true, false, false)),
            ..fine.clone()
        };
        assert!(!broken_ssh.healthy());
        let unreachable_server = Facts {
            server: check(true, false, false),
            ..fine.clone()
        };
        assert!(!unreachable_server.healthy());
        let value = serde_json::to_value(&fine.node).unwrap();
        assert!(value["checked_at"].is_string(), "{value}");
        assert_eq!(value["proxmox"]["authenticated"], true);
        assert_eq!(value["ssh"]["configured"], false);
        assert!(value.get("server").is_none());
        // The server reads back exactly what the heartbeat carries.
        let host = serde_json::json!({"hostname": "h", "doctor": value});
        assert_eq!(DoctorFacts::of_host(&host), Some(fine.node.clone()));
    }
}
