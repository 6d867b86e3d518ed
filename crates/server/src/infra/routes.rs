//! `/api/v1/infra/*`: the reference's 16 direct Proxmox and SSH operations, each run as a
//! catalogue command on an agent (see the module docs). Every route takes `agent_id` and
//! `timeout_ms` in the query.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use botmox_proto::command::VmId;
use botmox_proto::validate::{FieldErrors, Validate};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::openapi::{RefOr, Response as ResponseDoc};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, MAX_WAIT_MS, MIN_WAIT_MS, command};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Valid, answer};
use crate::openapi::responses::error_response;
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(status))
        .routes(routes!(list_vms))
        .routes(routes!(clone_vm))
        .routes(routes!(get_config, update_config))
        .routes(routes!(task_status))
        .routes(routes!(power))
        .routes(routes!(delete_vm))
        .routes(routes!(sendkey))
        .routes(routes!(vm_status))
        .routes(routes!(cluster_resources))
        .routes(routes!(ssh_test))
        .routes(routes!(ssh_exec))
        .routes(routes!(ssh_read_config, ssh_write_config))
}

/// Which agent runs the call and how long to wait for it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InfraQuery {
    /// The agent (default: settings `vmgenerator.agentId`, else the only active agent).
    agent_id: Option<String>,
    /// How long to wait for the agent's outcome, in ms (default 60000).
    #[param(minimum = 1000, maximum = 600000)]
    timeout_ms: Option<u64>,
}

impl InfraQuery {
    /// Run `command_type` with `payload` as this query asks.
    async fn run(
        &self,
        state: &AppState,
        auth: &Auth,
        command_type: &str,
        payload: Value,
    ) -> ApiResult<Value> {
        if self
            .timeout_ms
            .is_some_and(|ms| !(MIN_WAIT_MS..=MAX_WAIT_MS).contains(&ms))
        {
            return Err(ApiError::field(
                "timeout_ms",
                format!("must be from {MIN_WAIT_MS} to {MAX_WAIT_MS}"),
            ));
        }
        let command = command(command_type, payload)?;
        service::run(
            state,
            auth,
            self.agent_id.as_deref(),
            self.timeout_ms,
            command,
        )
        .await
    }
}

/// What every infra call may answer besides its result (and the errors all operations
/// share): the agent away, failing or too slow.
struct AgentAnswers;

impl utoipa::IntoResponses for AgentAnswers {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        [
            ("409", "AGENT_OFFLINE: the agent was not seen within 120 s"),
            ("502", "COMMAND_FAILED: the agent ran the command and it failed; `details` carry its code and message"),
            ("504", "AGENT_TIMEOUT: the agent did not finish in time; `details.command_id` names the command"),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_owned(), RefOr::T(error_response(description).build())))
        .collect()
    }
}

fn ok(data: Value) -> ApiResult<Response> {
    Ok(answer(StatusCode::OK, data))
}

/// `result` with `connected: true` added (the reference's login and status answers).
fn connected(result: Value) -> Value {
    let mut out = match result {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    out.insert("connected".into(), Value::Bool(true));
    Value::Object(out)
}

/// A flag as the reference read it from a query: 1, true, yes or on.
fn flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// A VM id as the reference took it in paths: digits, of a number Proxmox can give a VM.
fn vmid(raw: &str) -> ApiResult<u64> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| {
            raw.bytes().all(|b| b.is_ascii_digit()) && (1..=u64::from(VmId::MAX)).contains(id)
        })
        .ok_or_else(|| ApiError::field("vmid", "must be a VM id, 1 to 999999999"))
}

/// Log in to Proxmox afresh (the agent renews its ticket); `{connected: true}`.
#[utoipa::path(post, path = "/api/v1/infra/proxmox/login", tag = "infra", security(("bearer" = ["infra"])),
    params(InfraQuery),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn login(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    let result = q
        .run(&s, &auth, "proxmox.login", json!({"force": true}))
        .await?;
    ok(connected(result))
}

/// Whether Proxmox answers, and its version: `{connected: true, version, ...}`.
#[utoipa::path(get, path = "/api/v1/infra/proxmox/status", tag = "infra", security(("bearer" = ["infra"])),
    params(InfraQuery),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn status(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    let result = q.run(&s, &auth, "proxmox.status", json!({})).await?;
    ok(connected(result))
}

/// The node's VMs.
#[utoipa::path(get, path = "/api/v1/infra/proxmox/nodes/{node}/qemu", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), InfraQuery),
    responses((status = 200, body = Envelope<Vec<Object>>), AgentAnswers))]
pub async fn list_vms(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(node): ApiPath<String>,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    ok(q.run(&s, &auth, "proxmox.list-vms", json!({"node": node}))
        .await?)
}

/// The clone options of the reference (`full` also as 0 or 1).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CloneBody {
    #[schema(minimum = 100)]
    newid: Option<u64>,
    name: Option<String>,
    storage: Option<String>,
    format: Option<String>,
    #[schema(value_type = Option<bool>)]
    full: Option<Value>,
}

impl CloneBody {
    /// `full` as the reference took it: true, false, 1 or 0 (or absent).
    fn full(&self) -> Result<Option<bool>, ()> {
        match &self.full {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(false)),
            Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Some(true)),
            Some(_) => Err(()),
        }
    }
}

impl Validate for CloneBody {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.check("full", self.full().is_ok(), "must be true, false, 0 or 1");
        e.into_result()
    }
}

/// Clone VM `vmid` (a template); the agent waits for the task: `{upid, newid, ...}`.
#[utoipa::path(post, path = "/api/v1/infra/proxmox/nodes/{node}/qemu/{vmid}/clone", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), ("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), InfraQuery),
    request_body = CloneBody,
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn clone_vm(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((node, template)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<InfraQuery>,
    Valid(body): Valid<CloneBody>,
) -> ApiResult<Response> {
    let full = body.full().ok().flatten();
    let mut payload = json!({"node": node, "templateVmId": vmid(&template)?});
    for (key, value) in [
        ("newid", body.newid.map(Value::from)),
        ("name", body.name.map(Value::from)),
        ("storage", body.storage.map(Value::from)),
        ("format", body.format.map(Value::from)),
        ("full", full.map(Value::from)),
    ] {
        if let Some(value) = value {
            payload[key] = value;
        }
    }
    ok(q.run(&s, &auth, "proxmox.clone", payload).await?)
}

/// A VM's config.
#[utoipa::path(get, path = "/api/v1/infra/proxmox/nodes/{node}/qemu/{vmid}/config", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), ("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), InfraQuery),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn get_config(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((node, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    let payload = json!({"node": node, "vmid": vmid(&id)?});
    ok(q.run(&s, &auth, "proxmox.get-config", payload).await?)
}

/// Set config keys (a non-empty object of the keys `proxmox.update-config` sets; a key it
/// does not set is a 400 naming it, where the reference dropped it silently).
#[utoipa::path(put, path = "/api/v1/infra/proxmox/nodes/{node}/qemu/{vmid}/config", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), ("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), InfraQuery),
    request_body(content = Object, description = "Config keys and values, e.g. {\"cores\": 4}"),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn update_config(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((node, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<InfraQuery>,
    ApiJson(config): ApiJson<Map<String, Value>>,
) -> ApiResult<Response> {
    let payload = json!({"node": node, "vmid": vmid(&id)?, "config": config});
    ok(q.run(&s, &auth, "proxmox.update-config", payload).await?)
}

/// A task's status.
#[utoipa::path(get, path = "/api/v1/infra/proxmox/nodes/{node}/tasks/{upid}/status", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), ("upid" = String, Path, description = "A Proxmox task id", pattern = r"^UPID:[!-~]{0,507}$"), InfraQuery),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn task_status(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((node, upid)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    let payload = json!({"node": node, "upid": upid});
    ok(q.run(&s, &auth, "proxmox.task-status", payload).await?)
}

/// The power actions of the reference's `status/{action}` route.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PowerAction {
    Start,
    Stop,
    Shutdown,
    Reset,
    Suspend,
    Resume,
}

impl PowerAction {
    fn command_type(self) -> &'static str {
        match self {
            Self::Start => "proxmox.start",
            Self::Stop => "proxmox.stop",
            Self::Shutdown => "proxmox.shutdown",
            Self::Reset => "proxmox.reset",
            Self::Suspend => "proxmox.suspend",
            Self::Resume => "proxmox.resume",
        }
    }
}

/// Start, stop, shut down, reset, suspend or resume a VM; the agent waits for the task.
#[utoipa::path(post, path = "/api/v1/infra/proxmox/nodes/{node}/qemu/{vmid}/status/{action}", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), ("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), ("action" = inline(PowerAction), Path), InfraQuery),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn power(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((node, id, action)): ApiPath<(String, String, PowerAction)>,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    let payload = json!({"node": node, "vmid": vmid(&id)?});
    ok(q.run(&s, &auth, action.command_type(), payload).await?)
}

/// The reference's delete flags (1, true, yes or on).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteFlags {
    purge: Option<String>,
    #[serde(rename = "destroy-unreferenced-disks")]
    #[param(rename = "destroy-unreferenced-disks")]
    destroy_unreferenced_disks: Option<String>,
}

/// Destroy a VM; the agent waits for the task.
#[utoipa::path(delete, path = "/api/v1/infra/proxmox/nodes/{node}/qemu/{vmid}", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), ("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), InfraQuery, DeleteFlags),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn delete_vm(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((node, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<InfraQuery>,
    ApiQuery(flags): ApiQuery<DeleteFlags>,
) -> ApiResult<Response> {
    let payload = json!({
        "node": node,
        "vmid": vmid(&id)?,
        "purge": flag(flags.purge.as_deref()),
        "destroyUnreferencedDisks": flag(flags.destroy_unreferenced_disks.as_deref()),
    });
    ok(q.run(&s, &auth, "proxmox.delete", payload).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendKeyBody {
    /// A key as `qm sendkey` names it, e.g. `ret` or `ctrl-alt-delete`.
    #[schema(pattern = "^[A-Za-z0-9_+-]+$", example = "ret")]
    key: String,
}

impl Validate for SendKeyBody {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("key", &self.key, 64);
        e.into_result()
    }
}

/// Press a key in a VM: `{transport: "proxmox-api-put", upid: null}` (the agent uses the
/// API's PUT; it has no SSH fallback to report).
#[utoipa::path(post, path = "/api/v1/infra/proxmox/nodes/{node}/qemu/{vmid}/sendkey", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), ("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), InfraQuery),
    request_body = SendKeyBody,
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn sendkey(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((node, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<InfraQuery>,
    Valid(body): Valid<SendKeyBody>,
) -> ApiResult<Response> {
    let payload = json!({"node": node, "vmid": vmid(&id)?, "key": body.key});
    q.run(&s, &auth, "proxmox.sendkey", payload).await?;
    ok(json!({"transport": "proxmox-api-put", "upid": null}))
}

/// A VM's current status.
#[utoipa::path(get, path = "/api/v1/infra/proxmox/nodes/{node}/qemu/{vmid}/status/current", tag = "infra", security(("bearer" = ["infra"])),
    params(("node" = String, Path, description = "A Proxmox node name", pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"), ("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), InfraQuery),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn vm_status(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((node, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    let payload = json!({"node": node, "vmid": vmid(&id)?});
    ok(q.run(&s, &auth, "proxmox.vm-status", payload).await?)
}

/// The cluster's resources.
#[utoipa::path(get, path = "/api/v1/infra/proxmox/cluster/resources", tag = "infra", security(("bearer" = ["infra"])),
    params(InfraQuery),
    responses((status = 200, body = Envelope<Vec<Object>>), AgentAnswers))]
pub async fn cluster_resources(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    ok(q.run(&s, &auth, "proxmox.cluster-resources", json!({}))
        .await?)
}

/// Probe the agent's SSH connection to the node (never fails: the answer says how it went).
#[utoipa::path(post, path = "/api/v1/infra/ssh/test", tag = "infra", security(("bearer" = ["infra"])),
    params(InfraQuery),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn ssh_test(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    ok(q.run(&s, &auth, "proxmox.ssh-test", json!({})).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SshExecBody {
    /// One allowlisted command (api.md §20b); anything else is refused before it is sent.
    #[schema(example = "qm status 101")]
    command: String,
    /// Milliseconds, 1000 to 120000.
    #[schema(minimum = 1000, maximum = 120000)]
    timeout: Option<u64>,
}

impl Validate for SshExecBody {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.in_range("timeout", self.timeout, 1_000, 120_000);
        e.into_result()
    }
}

/// Run one allowlisted command over the agent's SSH: `{stdout, stderr, exitCode, allowlisted}`.
#[utoipa::path(post, path = "/api/v1/infra/ssh/exec", tag = "infra", security(("bearer" = ["infra"])),
    params(InfraQuery), request_body = SshExecBody,
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn ssh_exec(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<InfraQuery>,
    Valid(body): Valid<SshExecBody>,
) -> ApiResult<Response> {
    let mut payload = json!({"command": body.command});
    if let Some(ms) = body.timeout {
        payload["timeoutMs"] = ms.into();
    }
    ok(q.run(&s, &auth, "proxmox.ssh-exec", payload).await?)
}

/// A VM's config file, read over the agent's SSH: `{config}`.
#[utoipa::path(get, path = "/api/v1/infra/ssh/vm-config/{vmid}", tag = "infra", security(("bearer" = ["infra"])),
    params(("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), InfraQuery),
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn ssh_read_config(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<InfraQuery>,
) -> ApiResult<Response> {
    let payload = json!({"vmid": vmid(&id)?});
    ok(q.run(&s, &auth, "proxmox.ssh-read-config", payload).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VmConfigBody {
    /// The whole config file.
    #[schema(min_length = 1)]
    content: String,
}

impl Validate for VmConfigBody {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.check(
            "content",
            !self.content.trim().is_empty(),
            "must not be empty",
        );
        e.into_result()
    }
}

/// Write a VM's config file over the agent's SSH: `{written: true}`.
#[utoipa::path(put, path = "/api/v1/infra/ssh/vm-config/{vmid}", tag = "infra", security(("bearer" = ["infra"])),
    params(("vmid" = String, Path, description = "A VM id, 1 to 999999999", pattern = r"^0*[1-9][0-9]{0,8}$"), InfraQuery), request_body = VmConfigBody,
    responses((status = 200, body = Envelope<Object>), AgentAnswers))]
pub async fn ssh_write_config(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<InfraQuery>,
    Valid(body): Valid<VmConfigBody>,
) -> ApiResult<Response> {
    let payload = json!({"vmid": vmid(&id)?, "content": body.content});
    ok(q.run(&s, &auth, "proxmox.ssh-write-config", payload)
        .await?)
}
