//! Settings paths (`/api/v1/settings/{path}`) and a record PATCH's deep keys (`a/b/c`):
//! a path is parsed or refused, its rule found, and any patch merges into any document
//! without a panic, leaving an object.
#![no_main]

use botmox_server::records::documents::service::merge;
use botmox_server::settings::{schema::rule_at, service::parse_path};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let (first, rest) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(raw) = std::str::from_utf8(first)
        && let Ok(path) = parse_path(raw)
    {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        let _ = rule_at(&parts);
    }
    let document = |bytes: &[u8]| -> Map<String, Value> {
        serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    };
    let patch = document(rest);
    let merged = merge(&document(first), &patch);
    let _ = serde_json::to_vec(&Value::Object(merged));
});
