//! The agent's side of the config ISO: the payload carries each file as base64, which is
//! decoded here and handed to [`botmox_unattend::iso::build`]; failures become the command's
//! `ISO_CREATE_FAILED`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::{ExecError, code};

/// Padding optional, as the payload allows.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn failed(message: String) -> ExecError {
    ExecError::new(code::ISO_CREATE_FAILED, message)
}

/// The ISO image of `files` (name -> base64 content).
pub fn build(files: &BTreeMap<String, String>) -> Result<Vec<u8>, ExecError> {
    let decoded = files
        .iter()
        .map(|(name, content)| {
            BASE64
                .decode(content)
                .map(|bytes| (name.clone(), bytes))
                .map_err(|e| failed(format!("{name} is not base64: {e}")))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    botmox_unattend::iso::build(&decoded).map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_payload_into_the_image() {
        let files = BTreeMap::from([("START.ps1".to_owned(), BASE64.encode(b"Write-Host hello"))]);
        let decoded = BTreeMap::from([("START.ps1".to_owned(), b"Write-Host hello".to_vec())]);
        // The images carry their creation time, so two builds a second apart differ in
        // those bytes: compare size and the decoded content instead.
        let image = build(&files).unwrap();
        assert_eq!(
            image.len(),
            botmox_unattend::iso::build(&decoded).unwrap().len()
        );
        assert!(image.windows(16).any(|w| w == b"Write-Host hello"));
        assert!(
            !image.windows(12).any(|w| w == b"V3JpdGUtSG9z"),
            "no base64 left"
        );
    }

    #[test]
    fn bad_base64_and_bad_names_are_coded_failures() {
        for (name, content) in [("a.txt", "***"), ("a/b.txt", "")] {
            let files = BTreeMap::from([(name.to_owned(), content.to_owned())]);
            assert_eq!(
                build(&files).unwrap_err().code,
                code::ISO_CREATE_FAILED,
                "{name}"
            );
        }
    }
}
