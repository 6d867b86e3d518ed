//! Typed async client of the Bot-Mox API, for the agent, the CLI, the testkit and the load
//! generator: one method per endpoint, bodies and answers from `botmox-proto`, so a caller
//! cannot drift from what the server reads and writes.
//!
//! Every answer is unwrapped from the `{success, data, meta?}` envelope; every failure is one
//! [`ClientError`] carrying the server's stable code. The agent's long-poll gets a client
//! time limit longer than the server's wait, and the command bus's event stream comes as a
//! [`Stream`] of typed events.

mod error;
pub mod vault;

use std::time::Duration;

use botmox_proto::agent::{
    AgentView, CreatePairingRequest, HeartbeatAnswer, HeartbeatRequest, PairingCreated,
    QuickPairRequest, RegisterRequest, RegisteredAgent, RevokeRequest, RotatedToken,
};
use botmox_proto::artifacts::{
    AssignRequest, AssignmentQuery, AssignmentView, DownloadAuditQuery, DownloadAuditView,
    EffectiveAssignment, ListAssignmentsQuery, ListReleasesQuery, PatchReleaseRequest,
    RegisterReleaseRequest, ReleaseView, ResolveDownloadRequest, ResolvedDownload, UploadQuery,
};
use botmox_proto::auth::{
    ApiTokenView, AuditEntry, AuditQuery, CreateApiTokenRequest, CreateUserRequest,
    CreatedApiToken, LoginRequest, PatchUserRequest, Principal, RefreshRequest, TokenPair,
    UserView, VerifyResult,
};
use botmox_proto::command::{
    CommandView, DispatchRequest, EventsQuery, ListCommandsQuery, NextQuery,
    ProxmoxDispatchRequest, ReportRequest, VmOpsEvent,
};
use botmox_proto::health::{Live, Ready, Summary};
use botmox_proto::licensing::{
    CreateLicenseRequest, EntitlementView, IssuedLease, LeaseHeartbeat, LeaseHeartbeatRequest,
    LeaseRequest, LeaseRevoked, LicenseView, RegisterVmRequest, RevokeLeaseRequest,
    SetEntitlementRequest, VmView,
};
use botmox_proto::vault::{
    BindingQuery, BindingView, BoundSecret, CreateBindingRequest, CreateSecretRequest,
    RecipientKey, RotateSecretRequest, SecretCiphertext, SecretMeta, VaultKeyRequest,
};
use botmox_proto::{Envelope, PageMeta, PageQuery};
use eventsource_stream::{EventStreamError, Eventsource};
use futures::stream::{BoxStream, Stream, StreamExt};
use reqwest::RequestBuilder;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

pub use error::{ClientError, Code};
/// HTTP methods, for [`Client::request`].
pub use reqwest::Method;

/// Time limit of an ordinary request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time a long-poll gets beyond the wait it asks the server for, so the server's empty
/// answer arrives before the client gives up.
pub const POLL_MARGIN: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A list answer with its paging facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub meta: Option<PageMeta>,
}

/// The command bus's events, as [`Client::events`] delivers them.
pub type EventStream = BoxStream<'static, Result<VmOpsEvent, ClientError>>;

/// A client of one server, optionally with a bearer token (a session's access token, an API
/// token or an agent token). Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client of the server at `base_url` (e.g. `https://botmox.example.com`; a path prefix
    /// of a reverse proxy is kept). TLS verifies against the public web roots.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(ClientError::Transport)?;
        Self::with_http(http, base_url)
    }

    /// As [`Client::new`] on a `reqwest` client of the caller's (its own root CA, proxy, ...).
    pub fn with_http(http: reqwest::Client, base_url: &str) -> Result<Self, ClientError> {
        let base = Url::parse(base_url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| ClientError::BaseUrl(base_url.to_owned()))?;
        Ok(Self {
            http,
            base,
            token: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same client, sending `token` as `Authorization: Bearer`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The same client with another time limit for ordinary requests.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `/api/v1/<segments>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    /// A request with the token, without a time limit (for the event stream).
    fn authorized(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A request with the token and the ordinary time limit.
    fn build(&self, method: Method, url: Url) -> RequestBuilder {
        self.authorized(method, url).timeout(self.timeout)
    }

    /// `GET /api/v1/<segments>?<query>`.
    fn build_query(&self, segments: &[&str], query: &(impl Serialize + ?Sized)) -> RequestBuilder {
        self.build(Method::GET, self.url(segments)).query(query)
    }

    /// Send and unwrap the envelope.
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<Envelope<T>, ClientError> {
        let response = successful(request.send().await?).await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
            status,
            message: format!("{e}: {}", error::excerpt(&body)),
        })
    }

    /// Send `body` (if any) to `url` and unwrap the answer's data.
    async fn call_url<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        let mut request = self.build(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        Ok(self.send(request).await?.data)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        self.call_url(method, self.url(segments), body).await
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        self.call(Method::GET, segments, NO_BODY).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, ClientError> {
        self.call(Method::POST, segments, Some(body)).await
    }

    async fn page<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &(impl Serialize + ?Sized),
    ) -> Result<Page<T>, ClientError> {
        let envelope: Envelope<Vec<T>> = self.send(self.build_query(segments, query)).await?;
        Ok(Page {
            items: envelope.data,
            meta: envelope.meta,
        })
    }

    /// Any endpoint, for free-form documents (records, settings): `path` is relative to
    /// `/api/v1` and may carry a query, e.g. `/bots?status=active`.
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ClientError> {
        let mut url = self.url(&[]);
        let joined = format!("{}/{}", url.path(), path.trim_start_matches('/'));
        match joined.split_once('?') {
            Some((path, query)) => {
                url.set_path(path);
                url.set_query(Some(query));
            }
            None => url.set_path(&joined),
        }
        self.call_url(method, url, body).await
    }

    // ---- health ------------------------------------------------------------------------

    pub async fn health(&self) -> Result<Summary, ClientError> {
        self.get(&["health"]).await
    }

    pub async fn live(&self) -> Result<Live, ClientError> {
        self.get(&["health", "live"]).await
    }

    /// 503 `SERVICE_UNAVAILABLE` (the checks in its details) when not ready.
    pub async fn ready(&self) -> Result<Ready, ClientError> {
        self.get(&["health", "ready"]).await
    }

    // ---- auth --------------------------------------------------------------------------

    pub async fn login(&self, body: &LoginRequest) -> Result<TokenPair, ClientError> {
        self.post(&["auth", "login"], body).await
    }

    /// Each refresh token works once.
    pub async fn refresh(&self, body: &RefreshRequest) -> Result<TokenPair, ClientError> {
        self.post(&["auth", "refresh"], body).await
    }

    pub async fn logout(&self) -> Result<VerifyResult, ClientError> {
        self.call(Method::POST, &["auth", "logout"], NO_BODY).await
    }

    pub async fn whoami(&self) -> Result<Principal, ClientError> {
        self.get(&["auth", "whoami"]).await
    }

    pub async fn verify(&self) -> Result<VerifyResult, ClientError> {
        self.get(&["auth", "verify"]).await
    }

    // ---- users, tokens, audit (admins) -------------------------------------------------

    pub async fn list_users(&self, paging: &PageQuery) -> Result<Page<UserView>, ClientError> {
        self.page(&["users"], paging).await
    }

    pub async fn create_user(&self, body: &CreateUserRequest) -> Result<UserView, ClientError> {
        self.post(&["users"], body).await
    }

    pub async fn get_user(&self, id: &str) -> Result<UserView, ClientError> {
        self.get(&["users", id]).await
    }

    pub async fn patch_user(
        &self,
        id: &str,
        body: &PatchUserRequest,
    ) -> Result<UserView, ClientError> {
        self.call(Method::PATCH, &["users", id], Some(body)).await
    }

    pub async fn list_tokens(&self, paging: &PageQuery) -> Result<Page<ApiTokenView>, ClientError> {
        self.page(&["tokens"], paging).await
    }

    /// The answer holds the secret, shown this once.
    pub async fn create_token(
        &self,
        body: &CreateApiTokenRequest,
    ) -> Result<CreatedApiToken, ClientError> {
        self.post(&["tokens"], body).await
    }

    pub async fn revoke_token(&self, id: &str) -> Result<ApiTokenView, ClientError> {
        self.call(Method::DELETE, &["tokens", id], NO_BODY).await
    }

    pub async fn audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>, ClientError> {
        self.page(&["audit"], query).await
    }

    // ---- agents ------------------------------------------------------------------------

    pub async fn create_pairing(
        &self,
        body: &CreatePairingRequest,
    ) -> Result<PairingCreated, ClientError> {
        self.post(&["agents", "pairings"], body).await
    }

    /// Public: redeem a pairing code for an agent token.
    pub async fn register(&self, body: &RegisterRequest) -> Result<RegisteredAgent, ClientError> {
        self.post(&["agents", "register"], body).await
    }

    /// Public, when the server allows it: pair with an account's credentials.
    pub async fn quick_pair(
        &self,
        body: &QuickPairRequest,
    ) -> Result<RegisteredAgent, ClientError> {
        self.post(&["agents", "quick-pair"], body).await
    }

    /// Agent token.
    pub async fn heartbeat(&self, body: &HeartbeatRequest) -> Result<HeartbeatAnswer, ClientError> {
        self.post(&["agents", "heartbeat"], body).await
    }

    /// Agent token: a new token; the one used here stops working.
    pub async fn rotate_token(&self) -> Result<RotatedToken, ClientError> {
        self.call(Method::POST, &["agents", "token", "rotate"], NO_BODY)
            .await
    }

    pub async fn list_agents(&self) -> Result<Vec<AgentView>, ClientError> {
        self.get(&["agents"]).await
    }

    pub async fn get_agent(&self, id: &str) -> Result<AgentView, ClientError> {
        self.get(&["agents", id]).await
    }

    pub async fn revoke_agent(
        &self,
        id: &str,
        body: &RevokeRequest,
    ) -> Result<AgentView, ClientError> {
        self.post(&["agents", id, "revoke"], body).await
    }

    // ---- vault -------------------------------------------------------------------------
    // Sealing and opening are in [`vault`]; these calls move only ciphertext and metadata.

    /// Admins: store a secret sealed to its recipients (see [`vault::seal_to_all`]).
    pub async fn create_secret(
        &self,
        body: &CreateSecretRequest,
    ) -> Result<SecretMeta, ClientError> {
        self.post(&["secrets"], body).await
    }

    pub async fn list_secrets(&self) -> Result<Vec<SecretMeta>, ClientError> {
        self.get(&["secrets"]).await
    }

    pub async fn secret_meta(&self, id: &str) -> Result<SecretMeta, ClientError> {
        self.get(&["secrets", id, "meta"]).await
    }

    /// The caller's own envelope of a secret (an agent token's, or a user's).
    pub async fn secret_ciphertext(&self, id: &str) -> Result<SecretCiphertext, ClientError> {
        self.get(&["secrets", id, "ciphertext"]).await
    }

    pub async fn rotate_secret(
        &self,
        id: &str,
        body: &RotateSecretRequest,
    ) -> Result<SecretMeta, ClientError> {
        self.post(&["secrets", id, "rotate"], body).await
    }

    pub async fn delete_secret(&self, id: &str) -> Result<bool, ClientError> {
        self.call(Method::DELETE, &["secrets", id], NO_BODY).await
    }

    pub async fn create_binding(
        &self,
        body: &CreateBindingRequest,
    ) -> Result<BindingView, ClientError> {
        self.post(&["secrets", "bindings"], body).await
    }

    pub async fn list_bindings(
        &self,
        query: &BindingQuery,
    ) -> Result<Vec<BindingView>, ClientError> {
        let request = self.build_query(&["secrets", "bindings"], query);
        Ok(self.send(request).await?.data)
    }

    pub async fn delete_binding(&self, id: &str) -> Result<bool, ClientError> {
        self.call(Method::DELETE, &["secrets", "bindings", id], NO_BODY)
            .await
    }

    /// Register or replace the caller's vault public key.
    pub async fn put_vault_key(&self, body: &VaultKeyRequest) -> Result<RecipientKey, ClientError> {
        self.call(Method::PUT, &["secrets", "vault-key"], Some(body))
            .await
    }

    /// The tenant's recipients and their public keys, to seal to.
    pub async fn vault_recipients(&self) -> Result<Vec<RecipientKey>, ClientError> {
        self.get(&["secrets", "recipients"]).await
    }

    /// Agent token: the secrets bound to this agent, with its envelopes.
    pub async fn bound_secrets(&self) -> Result<Vec<BoundSecret>, ClientError> {
        self.get(&["secrets", "agent", "bound"]).await
    }

    // ---- command bus -------------------------------------------------------------------

    pub async fn dispatch(&self, body: &DispatchRequest) -> Result<CommandView, ClientError> {
        self.post(&["vm-ops", "commands"], body).await
    }

    /// The reference's route: `proxmox.<action>` with `params` as its payload.
    pub async fn dispatch_proxmox(
        &self,
        action: &str,
        body: &ProxmoxDispatchRequest,
    ) -> Result<CommandView, ClientError> {
        self.post(&["vm-ops", "proxmox", action], body).await
    }

    /// Agent token: the next command, claimed for this agent, or `None` when none came within
    /// the wait. The request may take the whole wait, so its time limit is the wait plus
    /// [`POLL_MARGIN`].
    pub async fn next(&self, query: &NextQuery) -> Result<Option<CommandView>, ClientError> {
        let request = self
            .build_query(&["vm-ops", "commands", "next"], query)
            .timeout(query.wait() + POLL_MARGIN);
        Ok(self.send(request).await?.data)
    }

    /// Agent token: progress or outcome of a claimed command.
    pub async fn report(&self, id: &str, body: &ReportRequest) -> Result<CommandView, ClientError> {
        self.call(Method::PATCH, &["vm-ops", "commands", id], Some(body))
            .await
    }

    pub async fn get_command(&self, id: &str) -> Result<CommandView, ClientError> {
        self.get(&["vm-ops", "commands", id]).await
    }

    /// Newest first, at most 100.
    pub async fn list_commands(
        &self,
        query: &ListCommandsQuery,
    ) -> Result<Vec<CommandView>, ClientError> {
        let request = self.build_query(&["vm-ops", "commands"], query);
        Ok(self.send(request).await?.data)
    }

    /// Cancel a command still queued (409 once claimed).
    pub async fn cancel_command(&self, id: &str) -> Result<CommandView, ClientError> {
        self.call(Method::POST, &["vm-ops", "commands", id, "cancel"], NO_BODY)
            .await
    }

    /// `POST /vm/register`
    pub async fn register_vm(&self, body: &RegisterVmRequest) -> Result<VmView, ClientError> {
        self.post(&["vm", "register"], body).await
    }

    /// `GET /vm/{uuid}/resolve`
    pub async fn resolve_vm(&self, uuid: &str) -> Result<VmView, ClientError> {
        self.get(&["vm", uuid, "resolve"]).await
    }

    /// `POST /license/tenant-licenses` (admins)
    pub async fn create_license(
        &self,
        body: &CreateLicenseRequest,
    ) -> Result<LicenseView, ClientError> {
        self.post(&["license", "tenant-licenses"], body).await
    }

    /// `POST /license/entitlements` (admins)
    pub async fn set_entitlement(
        &self,
        body: &SetEntitlementRequest,
    ) -> Result<EntitlementView, ClientError> {
        self.post(&["license", "entitlements"], body).await
    }

    /// `POST /license/lease`
    pub async fn lease(&self, body: &LeaseRequest) -> Result<IssuedLease, ClientError> {
        self.post(&["license", "lease"], body).await
    }

    /// `POST /license/heartbeat`
    pub async fn lease_heartbeat(&self, lease_id: &str) -> Result<LeaseHeartbeat, ClientError> {
        let body = LeaseHeartbeatRequest {
            lease_id: lease_id.into(),
        };
        self.post(&["license", "heartbeat"], &body).await
    }

    /// `POST /license/revoke`
    pub async fn revoke_lease(
        &self,
        body: &RevokeLeaseRequest,
    ) -> Result<LeaseRevoked, ClientError> {
        self.post(&["license", "revoke"], body).await
    }

    /// The command bus's events from now on, or after `last_event_id` (sent as the
    /// `Last-Event-ID` header, which the server prefers). The stream ends when the connection
    /// does; to resume, call again with the last event's [`VmOpsEvent::event_id`]. Event
    /// kinds this version does not know are skipped.
    pub async fn events(
        &self,
        query: &EventsQuery,
        last_event_id: Option<i64>,
    ) -> Result<EventStream, ClientError> {
        // No overall time limit: the stream is meant to stay open.
        let mut request = self
            .authorized(Method::GET, self.url(&["vm-ops", "events"]))
            .query(query)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = successful(request.send().await?).await?;
        Ok(typed_events(response.bytes_stream().eventsource()).boxed())
    }

    // ---- artifacts (admins, except resolve-download) -----------------------------------

    /// Upload a file of `size` bytes as a new release, streaming `body` (chunks of the file)
    /// without a time limit; the server answers with the SHA-256 and size it computed.
    pub async fn upload_release<S>(
        &self,
        query: &UploadQuery,
        size: u64,
        body: S,
    ) -> Result<ReleaseView, ClientError>
    where
        S: Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static,
    {
        let request = self
            .authorized(Method::POST, self.url(&["artifacts", "releases", "upload"]))
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body));
        Ok(self.send(request).await?.data)
    }

    /// Register an object already in the blob store (its size is checked).
    pub async fn register_release(
        &self,
        body: &RegisterReleaseRequest,
    ) -> Result<ReleaseView, ClientError> {
        self.post(&["artifacts", "releases"], body).await
    }

    pub async fn list_releases(
        &self,
        query: &ListReleasesQuery,
    ) -> Result<Page<ReleaseView>, ClientError> {
        self.page(&["artifacts", "releases"], query).await
    }

    pub async fn set_release_status(
        &self,
        id: i64,
        body: &PatchReleaseRequest,
    ) -> Result<ReleaseView, ClientError> {
        let id = id.to_string();
        self.call(Method::PATCH, &["artifacts", "releases", &id], Some(body))
            .await
    }

    /// 409 `IN_USE` while the release is assigned.
    pub async fn delete_release(&self, id: i64) -> Result<ReleaseView, ClientError> {
        let id = id.to_string();
        self.call(Method::DELETE, &["artifacts", "releases", &id], NO_BODY)
            .await
    }

    pub async fn assign_release(
        &self,
        body: &AssignRequest,
    ) -> Result<AssignmentView, ClientError> {
        self.post(&["artifacts", "assign"], body).await
    }

    pub async fn effective_assignment(
        &self,
        user_id: &str,
        module: &str,
        query: &AssignmentQuery,
    ) -> Result<EffectiveAssignment, ClientError> {
        let request = self.build_query(&["artifacts", "assign", user_id, module], query);
        Ok(self.send(request).await?.data)
    }

    pub async fn list_assignments(
        &self,
        query: &ListAssignmentsQuery,
    ) -> Result<Page<AssignmentView>, ClientError> {
        self.page(&["artifacts", "assignments"], query).await
    }

    pub async fn download_audit(
        &self,
        query: &DownloadAuditQuery,
    ) -> Result<Page<DownloadAuditView>, ClientError> {
        self.page(&["artifacts", "download-audit"], query).await
    }

    /// A lease token buys a short-lived URL of the assigned release; download it and check
    /// its SHA-256 and size.
    pub async fn resolve_download(
        &self,
        body: &ResolveDownloadRequest,
    ) -> Result<ResolvedDownload, ClientError> {
        self.post(&["artifacts", "resolve-download"], body).await
    }
}

/// For a call without a body.
const NO_BODY: Option<&()> = None;

/// `response` when its status is 2xx, else the failure it carries.
async fn successful(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(response)
    } else {
        Err(ClientError::from_failure(status, &response.bytes().await?))
    }
}

/// SSE frames as typed events, unknown kinds left out.
fn typed_events<S>(frames: S) -> impl Stream<Item = Result<VmOpsEvent, ClientError>>
where
    S: Stream<Item = Result<eventsource_stream::Event, EventStreamError<reqwest::Error>>>,
{
    frames.filter_map(|frame| async move {
        let frame = match frame {
            Ok(frame) => frame,
            Err(EventStreamError::Transport(e)) => return Some(Err(e.into())),
            Err(e) => {
                return Some(Err(ClientError::Decode {
                    status: 200,
                    message: e.to_string(),
                }));
            }
        };
        match VmOpsEvent::from_sse(&frame.event, &frame.data) {
            Ok(event) => event.map(Ok),
            Err(e) => Some(Err(ClientError::Decode {
                status: 200,
                message: format!("{} event: {e}", frame.event),
            })),
        }
    })
}

#[cfg(test)]
mod tests;
