//! Prometheus metrics: requests and latency per route, database pool figures.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder (installed on first use; several servers in one test process
/// share it).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        10.0,
                    ],
                )
                .expect("static bucket list is valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by a test); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

fn method_label(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The matched route of a request (cheap: the router's own shared string), or `None` when no
/// route matched.
pub fn route_of(req: &Request) -> Option<MatchedPath> {
    req.extensions().get::<MatchedPath>().cloned()
}

type Handles = (metrics::Counter, metrics::Histogram);
/// Per matched route (`""`: none matched), per (method, status): the request counter and
/// latency histogram, so a request looks its pair up instead of building labels and
/// registering them anew.
type HandleMap = HashMap<Arc<str>, HashMap<(&'static str, u16), Handles>>;

static HANDLES: OnceLock<RwLock<HandleMap>> = OnceLock::new();

/// Count a request and its latency, labelled by method, matched route and status.
pub fn record(
    method: &axum::http::Method,
    route: Option<&MatchedPath>,
    status: axum::http::StatusCode,
    elapsed: Duration,
) {
    let method = method_label(method);
    let route = route.map_or("", MatchedPath::as_str);
    let key = (method, status.as_u16());
    let handles = HANDLES.get_or_init(Default::default);
    let found = handles
        .read()
        .ok()
        .and_then(|map| map.get(route)?.get(&key).cloned());
    let (counter, histogram) = match found {
        Some(pair) => pair,
        None => {
            let label: Arc<str> = if route.is_empty() {
                "unmatched".into()
            } else {
                route.into()
            };
            let status = key.1.to_string();
            let pair = (
                metrics::counter!("http_requests_total", "method" => method, "route" => label.clone(), "status" => status),
                metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => label),
            );
            if let Ok(mut map) = handles.write() {
                map.entry(route.into())
                    .or_default()
                    .insert(key, pair.clone());
            }
            pair
        }
    };
    counter.increment(1);
    histogram.record(elapsed.as_secs_f64());
}
