//! The config ISO writer with any set of files: an image or an error, never a panic, and an
//! image is whole 2,048-byte sectors.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|files: BTreeMap<String, Vec<u8>>| {
    if let Ok(image) = botmox_unattend::iso::build(&files) {
        assert_eq!(image.len() % 2048, 0);
    }
});
