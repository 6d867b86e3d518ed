//! HTTP plumbing: one handler decodes the path, authenticates, reads the body by PVE's rules
//! and routes to the endpoint; an HTTP/1.1-only accept loop (plain or TLS) serves it, so
//! custom reason phrases reach the client as PVE sends them.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, header};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::api::{self, Ctx};
use crate::auth;
use crate::params::RawParams;
use crate::reply::{self, ApiError};
use crate::state::Shared;
use crate::storage;

/// Largest non-upload body.
const MAX_BODY: usize = 512 * 1024;

pub(crate) struct App {
    pub(crate) shared: Arc<Shared>,
    /// What `GET /nodes` shows as `ssl_fingerprint`.
    pub(crate) fingerprint: String,
}

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response<Body> {
    match route(&app, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// Not Proxmox: where a test reads back a small uploaded ISO as the VM would see it,
/// `GET /fake/iso/<node>/<storage>/<file>` (with the usual credentials).
const KEPT_ISO_PATH: &str = "/fake/iso/";

fn kept_iso(app: &App, file: &str) -> Result<Response<Body>, ApiError> {
    let parts: Vec<&str> = file.split('/').collect();
    let [node, storage, name] = parts.as_slice() else {
        return Err(ApiError::status(
            404,
            "expected /fake/iso/<node>/<storage>/<file>",
        ));
    };
    let state = app.shared.lock();
    let bytes = state
        .node(node)
        .and_then(|n| n.storages.get(*storage))
        .and_then(|s| s.isos.get(*name))
        .and_then(|f| f.bytes.clone())
        .ok_or_else(|| ApiError::status(404, format!("no kept upload '{storage}:iso/{name}'")))?;
    drop(state);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(bytes.as_ref().clone()))
        .map_err(|e| ApiError::status(500, e.to_string()))
}

async fn route(app: &App, request: Request) -> Result<Response<Body>, ApiError> {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    if let Some(te) = parts.headers.get(header::TRANSFER_ENCODING) {
        let te = te.to_str().unwrap_or_default();
        return Err(ApiError::status(
            501,
            if te.eq_ignore_ascii_case("chunked") {
                "chunked transfer encoding not supported".to_owned()
            } else {
                format!("Unknown transfer encoding '{te}'")
            },
        ));
    }
    let path = percent_decode_str(parts.uri.path())
        .decode_utf8_lossy()
        .into_owned();
    if let Some(file) = path.strip_prefix(KEPT_ISO_PATH) {
        auth::authenticate(&app.shared, &parts.headers, &method, false)?;
        return kept_iso(app, file);
    }
    let rel = match path.strip_prefix("/api2/json") {
        Some("") => "/".to_owned(),
        Some(rel) if rel.starts_with('/') => rel.to_owned(),
        _ => return Err(ApiError::status(501, "no such uri")),
    };
    if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "DELETE") {
        return Err(ApiError::not_implemented(&method, &rel));
    }
    let segments: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    let login = method == "POST" && segments == ["access", "ticket"];
    let upload =
        method == "POST" && matches!(segments.as_slice(), ["nodes", _, "storage", _, "upload"]);
    let caller = if login {
        None
    } else {
        Some(auth::authenticate(
            &app.shared,
            &parts.headers,
            &method,
            upload,
        )?)
    };
    let length: u64 = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > 0 && !matches!(method.as_str(), "POST" | "PUT") {
        return Err(ApiError::status(
            501,
            format!("Unexpected content for method '{method}'"),
        ));
    }
    let mut raw = RawParams::from_query(parts.uri.query().unwrap_or_default())?;
    if let (Some(caller), true) = (&caller, upload) {
        let ctx = Ctx {
            shared: &app.shared,
            caller,
            raw: &raw,
        };
        return storage::upload(&ctx, segments[1], segments[3], &parts.headers, body)
            .await
            .map(reply::ok);
    }
    if length > 0 {
        let too_large = || ApiError::status(501, "for data too large");
        if length > MAX_BODY as u64 {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| too_large())?;
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let main = content_type.map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        match main.as_deref() {
            None | Some("application/x-www-form-urlencoded") => {
                raw.merge_form(&String::from_utf8_lossy(&bytes), false)?;
            }
            Some("application/json") => raw.merge_json(&bytes)?,
            Some(_) => {
                return Err(ApiError::status(
                    506,
                    format!(
                        "upload 'Content-Type '{}' not implemented",
                        content_type.unwrap_or_default()
                    ),
                ));
            }
        }
    }
    let Some(caller) = caller else {
        return auth::login(&app.shared, &raw).map(reply::ok);
    };
    let ctx = Ctx {
        shared: &app.shared,
        caller: &caller,
        raw: &raw,
    };
    dispatch(app, &ctx, &method, &segments, &rel).await
}

async fn dispatch(
    app: &App,
    ctx: &Ctx<'_>,
    method: &str,
    segments: &[&str],
    rel: &str,
) -> Result<Response<Body>, ApiError> {
    let data = match (method, segments) {
        ("GET", ["version"]) => api::version(ctx.raw)?,
        ("GET", ["nodes"]) => api::nodes(ctx, &app.fingerprint)?,
        ("GET", ["cluster", "nextid"]) => api::next_id(ctx)?,
        ("GET", ["cluster", "resources"]) => api::cluster_resources(ctx)?,
        ("GET", ["nodes", node, "qemu"]) => api::list_vms(ctx, node)?,
        ("GET", ["nodes", node, "qemu", vmid, "status", "current"]) => {
            api::vm_status(ctx, node, vmid)?
        }
        ("POST", ["nodes", node, "qemu", vmid, "status", action])
            if api::power_params(action).is_some() =>
        {
            api::power(ctx, node, vmid, action)?
        }
        ("POST", ["nodes", node, "qemu", vmid, "clone"]) => api::clone_vm(ctx, node, vmid)?,
        ("GET", ["nodes", node, "qemu", vmid, "config"]) => api::get_config(ctx, node, vmid)?,
        ("PUT", ["nodes", node, "qemu", vmid, "config"]) => {
            api::write_config(ctx, node, vmid, false).await?
        }
        ("POST", ["nodes", node, "qemu", vmid, "config"]) => {
            api::write_config(ctx, node, vmid, true).await?
        }
        ("PUT", ["nodes", node, "qemu", vmid, "resize"]) => api::resize(ctx, node, vmid)?,
        ("PUT", ["nodes", node, "qemu", vmid, "sendkey"]) => api::send_key(ctx, node, vmid)?,
        ("DELETE", ["nodes", node, "qemu", vmid]) => api::delete_vm(ctx, node, vmid)?,
        ("POST", ["nodes", node, "qemu", vmid, "agent", "ping"]) => {
            api::agent(ctx, node, vmid, "ping")?
        }
        (
            "GET",
            [
                "nodes",
                node,
                "qemu",
                vmid,
                "agent",
                "network-get-interfaces",
            ],
        ) => api::agent(ctx, node, vmid, "network-get-interfaces")?,
        ("GET", ["nodes", node, "tasks", upid, "status"]) => api::task_status(ctx, node, upid)?,
        ("GET", ["nodes", node, "tasks", upid, "log"]) => {
            let (lines, total) = api::task_log(ctx, node, upid)?;
            return Ok(reply::ok_total(lines, total));
        }
        ("GET", ["nodes", node, "storage"]) => storage::list_storages(ctx, node)?,
        ("GET", ["nodes", node, "storage", storage, "content"]) => {
            storage::content(ctx, node, storage)?
        }
        ("DELETE", ["nodes", node, "storage", storage, "content", volume @ ..])
            if !volume.is_empty() =>
        {
            storage::delete_volume(ctx, node, storage, &volume.join("/")).await?
        }
        _ => return Err(ApiError::not_implemented(method, rel)),
    };
    Ok(reply::ok(data))
}

/// Accept connections until `stop` fires; each connection speaks HTTP/1.1 only.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let service = TowerToHyperService::new(router.clone());
                let tls = tls.clone();
                connections.spawn(async move {
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}
