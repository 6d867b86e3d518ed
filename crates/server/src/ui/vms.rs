//! The VMs page: pick an agent and a node, see the node's VMs (status, CPU, memory, uptime)
//! as the agent lists them, and start, stop, shut down, reset or delete one. An action is a
//! command: it is queued and the page comes back at once; its progress shows in the command
//! log below (re-rendered from the VM operations page on each event), and the VM list
//! re-renders when a command that changes VMs finishes.

use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::command::{CommandStatus, DispatchRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use super::agent_picker::AgentPicker;
use super::error_page::PageResult;
use super::layout::{Layout, page_url, render};
use super::session::{CsrfForm, UiUser};
use crate::http::ApiError;
use crate::infra::service::{command, default_agent};
use crate::principal::Auth;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};
use crate::vm_ops::service;

/// How long the page waits for the agent's list.
const LIST_WAIT: Duration = Duration::from_secs(20);

/// The page's actions: (path word, command type, label).
const ACTIONS: [(&str, &str, &str); 5] = [
    ("start", "proxmox.start", "Start"),
    ("stop", "proxmox.stop", "Stop"),
    ("shutdown", "proxmox.shutdown", "Shut down"),
    ("reset", "proxmox.reset", "Reset"),
    ("delete", "proxmox.delete", "Delete"),
];

/// Commands whose end changes the list: the list re-renders when one of them finishes.
const CHANGING: &str = "proxmox.start proxmox.stop proxmox.shutdown proxmox.reset \
     proxmox.suspend proxmox.resume proxmox.delete proxmox.clone proxmox.update-config";

struct VmRow {
    vmid: u64,
    name: String,
    status: String,
    template: bool,
    cpu: String,
    memory: String,
    uptime: String,
}

#[derive(Template)]
#[template(path = "vms.html")]
struct VmsPage {
    layout: Layout,
    agents: AgentPicker,
    agent_id: String,
    node: String,
    /// The agent's list, once it answered.
    vms: Option<Vec<VmRow>>,
    /// This page with its choices: what the list re-renders from.
    live_url: String,
    /// The VM operations page for this agent: where the command log comes from.
    log_url: String,
    changing: &'static str,
    actions: [(&'static str, &'static str, &'static str); 5],
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct VmsQuery {
    agent_id: Option<String>,
    /// What the "Find agent" field holds ([`AgentPicker`]).
    agent_q: Option<String>,
    node: Option<String>,
    /// The action just queued and its VM, for the notice.
    done: Option<String>,
    vmid: Option<u64>,
}

fn blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `4.2 GiB` and the like.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `2d 3h 4m`, or `-` for a VM that does not run.
fn uptime(seconds: u64) -> String {
    if seconds == 0 {
        return "-".into();
    }
    let (d, h, m) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

/// One VM of the agent's `proxmox.list-vms` result.
fn vm_row(vm: &Value) -> Option<VmRow> {
    let number = |key: &str| vm.get(key).and_then(Value::as_u64);
    let memory = match (number("mem"), number("maxmem")) {
        (Some(used), Some(max)) => format!("{} / {}", bytes(used), bytes(max)),
        (None, Some(max)) => bytes(max),
        _ => "-".into(),
    };
    Some(VmRow {
        vmid: number("vmid")?,
        name: vm.get("name").and_then(Value::as_str).unwrap_or("").into(),
        status: vm
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .into(),
        template: vm.get("template").and_then(Value::as_bool) == Some(true),
        cpu: vm
            .get("cpu")
            .and_then(Value::as_f64)
            .map_or("-".into(), |c| format!("{:.1} %", c * 100.0)),
        memory,
        uptime: uptime(number("uptime").unwrap_or(0)),
    })
}

/// The active agents the page offers (those "Find agent" matches, with the one asked for,
/// else the tenant's default), and the one it shows: the one asked for, else the tenant's
/// default, else the first online one offered, else the first.
async fn chosen_agent(
    state: &AppState,
    auth: &Auth,
    asked: Option<String>,
    find: Option<&str>,
) -> Result<(AgentPicker, Option<String>), ApiError> {
    if let Some(asked) = asked {
        let agents = AgentPicker::load(state, auth, find, true, &[&asked]).await?;
        return Ok((agents, Some(asked)));
    }
    let default = default_agent(state, auth).await?;
    let keep: Vec<&str> = default.as_deref().into_iter().collect();
    let agents = AgentPicker::load(state, auth, find, true, &keep).await?;
    let options = &agents.options;
    let chosen = default
        .filter(|id| agents.offers(id))
        .or_else(|| options.iter().find(|a| a.2).map(|a| a.0.clone()))
        .or_else(|| options.first().map(|a| a.0.clone()));
    Ok((agents, chosen))
}

/// The node's VMs through the agent, or why not.
async fn list_vms(
    state: &AppState,
    auth: &Auth,
    agent_id: &str,
    node: &str,
) -> Result<Vec<VmRow>, ApiError> {
    let payload = if node.is_empty() {
        json!({})
    } else {
        json!({ "node": node })
    };
    let request = DispatchRequest {
        agent_id: agent_id.to_owned(),
        command: command("proxmox.list-vms", payload)?,
        expires_in_seconds: Some(LIST_WAIT.as_secs() as u32),
        queue_if_offline: None,
    };
    let done = service::dispatch_and_wait(state, auth, request, LIST_WAIT).await?;
    if done.status.0 != CommandStatus::Succeeded {
        return Err(ApiError::new(
            botmox_proto::ErrorCode::CommandFailed,
            format!(
                "The agent could not list the VMs: {}",
                done.error_message
                    .unwrap_or_else(|| done.status.0.to_string())
            ),
        ));
    }
    let result: Value = done
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let mut rows: Vec<VmRow> = result
        .as_array()
        .map(|vms| vms.iter().filter_map(vm_row).collect())
        .unwrap_or_default();
    rows.sort_by_key(|r| r.vmid);
    Ok(rows)
}

pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<VmsQuery>,
) -> PageResult {
    let (agents, agent_id) =
        chosen_agent(&state, &auth, blank(&q.agent_id), q.agent_q.as_deref()).await?;
    let node = blank(&q.node).unwrap_or_default();
    let (status, vms, error) = match &agent_id {
        None => (
            StatusCode::OK,
            None,
            Some("No active agent yet: pair one on the Agents page.".to_owned()),
        ),
        Some(agent) => match list_vms(&state, &auth, agent, &node).await {
            Ok(rows) => (StatusCode::OK, Some(rows), None),
            Err(e) => (e.status(), None, Some(e.message)),
        },
    };
    let agent_id = agent_id.unwrap_or_default();
    let notice = match (q.done.as_deref(), q.vmid) {
        (Some(done), Some(vmid)) => {
            ACTIONS
                .iter()
                .find(|(word, _, _)| *word == done)
                .map(|(_, _, label)| {
                    format!("{label} of VM {vmid} queued: its progress shows in the log below.")
                })
        }
        _ => None,
    };
    let (layout, csrf) = Layout::new(
        &state,
        &auth,
        &headers,
        "/vms",
        "vms",
        &[("Resources", None), ("Virtual Machines", None)],
    )
    .await;
    let body = VmsPage {
        layout,
        live_url: page_url(
            "/vms",
            &[
                ("agent_id", &agent_id),
                ("node", &node),
                ("agent_q", &agents.find),
            ],
        ),
        agents,
        log_url: page_url("/vm-ops", &[("agent_id", &agent_id)]),
        agent_id,
        node,
        vms,
        changing: CHANGING,
        actions: ACTIONS,
        notice,
        error,
    };
    Ok(csrf.attach((status, render(&body)).into_response()))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    agent_id: String,
    #[serde(default)]
    node: String,
}

/// `POST /vms/{vmid}/{action}`: queue the action and come back to the list.
pub async fn act(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    PagePath((vmid, action)): PagePath<(u64, String)>,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> PageResult {
    let Some((word, command_type, _)) = ACTIONS.iter().find(|(word, _, _)| *word == action) else {
        return Err(ApiError::not_found("Action").into());
    };
    let node = form.node.trim();
    let mut payload = json!({ "vmid": vmid });
    if !node.is_empty() {
        payload["node"] = node.into();
    }
    let request = DispatchRequest {
        agent_id: form.agent_id.trim().to_owned(),
        command: command(command_type, payload)?,
        expires_in_seconds: None,
        queue_if_offline: None,
    };
    service::dispatch(&state, &auth, request).await?;
    let vmid = vmid.to_string();
    let back = page_url(
        "/vms",
        &[
            ("agent_id", form.agent_id.trim()),
            ("node", node),
            ("done", word),
            ("vmid", &vmid),
        ],
    );
    Ok(Redirect::to(&back).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vms_read_as_people_read_them() {
        let row = vm_row(
            &json!({"vmid": 101, "name": "w1", "status": "running", "cpu": 0.0512,
            "mem": 1_610_612_736u64, "maxmem": 4_294_967_296u64, "uptime": 93_784}),
        )
        .unwrap();
        assert_eq!(
            (row.cpu.as_str(), row.memory.as_str(), row.uptime.as_str()),
            ("5.1 %", "1.5 GiB / 4.0 GiB", "1d 2h 3m")
        );
        let template =
            vm_row(&json!({"vmid": 100, "template": true, "status": "stopped"})).unwrap();
        assert!(template.template);
        assert_eq!(
            (template.cpu.as_str(), template.uptime.as_str()),
            ("-", "-")
        );
        assert!(vm_row(&json!({"name": "no id"})).is_none());
        assert_eq!(bytes(512), "512 B");
    }
}
