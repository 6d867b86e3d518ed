//! A command dispatch body and an SSH command line: checked into fields or refused, never a
//! panic; a body that is accepted carries no credential in its payload.
#![no_main]

use botmox_proto::command::{DispatchRequest, allowlist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = DispatchRequest::parse(body);
    }
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = allowlist::parse(line);
        let _ = allowlist::parse_vmid(line);
    }
});
