//! An unattend profile config, as a user can send it, into the answer files: a config is
//! resolved or refused without a panic, and the autounattend.xml of one that resolves is
//! always well-formed XML, whatever its strings hold.
#![no_main]

use botmox_proto::provisioning::ProfileConfig;
use botmox_unattend::{ANSWER_FILE, answer_files, resolve};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<ProfileConfig>(data) else {
        return;
    };
    let Ok(resolved) = resolve(&config, Some(1), &mut rand::rngs::StdRng::seed_from_u64(7)) else {
        return;
    };
    let files = answer_files(&resolved, true);
    let xml = std::str::from_utf8(&files[ANSWER_FILE]).expect("the answer file is UTF-8");
    if let Err(e) = roxmltree::Document::parse(xml) {
        panic!("autounattend.xml is not well-formed ({e}):\n{xml}");
    }
});
