//! The provisioning ISO, built in memory: ISO 9660 with Joliet and Rock Ridge names, volume
//! label `PROVISION`, the files at its root. Built here and uploaded through the Proxmox API,
//! it needs no shell on the node (the reference pasted base64 into a remote shell line).

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hadris_iso::read::PathSeparator;
use hadris_iso::write::options::{CreationFeatures, IsoFormatOptions};
use hadris_iso::write::{File as IsoFile, InputFiles, IsoImageWriter};

use crate::error::{ExecError, code};

/// The volume label the guest's `START.ps1` looks for.
pub const VOLUME_LABEL: &str = "PROVISION";

/// Padding optional, as the payload allows.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn failed(message: String) -> ExecError {
    ExecError::new(code::ISO_CREATE_FAILED, message)
}

/// The ISO image of `files` (name -> base64 content; names already checked by the payload).
pub fn build(files: &BTreeMap<String, String>) -> Result<Vec<u8>, ExecError> {
    let mut entries = Vec::with_capacity(files.len());
    for (name, content) in files {
        let contents = BASE64
            .decode(content)
            .map_err(|e| failed(format!("{name} is not base64: {e}")))?;
        entries.push(IsoFile::File {
            name: Arc::new(name.clone()),
            contents,
        });
    }
    let input = InputFiles {
        path_separator: PathSeparator::ForwardSlash,
        files: entries,
    };
    let options = IsoFormatOptions {
        volume_name: VOLUME_LABEL.to_owned(),
        system_id: None,
        volume_set_id: None,
        publisher_id: None,
        preparer_id: None,
        application_id: Some("BOTMOX-AGENT".to_owned()),
        sector_size: 2048,
        path_separator: PathSeparator::ForwardSlash,
        features: CreationFeatures::extensions(),
        strict_charset: false,
    };
    let image = IsoImageWriter::create(Cursor::new(Vec::new()), input, options)
        .map_err(|e| failed(format!("cannot build the ISO image: {e}")))?;
    Ok(image.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hadris_iso::read::IsoImage;

    fn sector(image: &[u8], n: usize) -> &[u8] {
        &image[n * 2048..(n + 1) * 2048]
    }

    #[test]
    fn builds_a_labelled_joliet_image_with_the_files() {
        let mut files = BTreeMap::new();
        files.insert("provision.json".to_owned(), BASE64.encode(br#"{"vm":"x"}"#));
        files.insert("START.ps1".to_owned(), BASE64.encode(b"Write-Host hello"));
        let image = build(&files).unwrap();
        assert_eq!(image.len() % 2048, 0);

        // Primary volume descriptor at sector 16: type 1, "CD001", the label.
        let pvd = sector(&image, 16);
        assert_eq!((pvd[0], &pvd[1..6]), (1, &b"CD001"[..]));
        assert!(pvd[40..72].starts_with(VOLUME_LABEL.as_bytes()));
        // A Joliet supplementary descriptor (type 2, escape sequence %/E or %/C or %/@).
        let joliet = (17..32).map(|n| sector(&image, n)).find(|s| s[0] == 2);
        let joliet = joliet.expect("a Joliet volume descriptor");
        assert_eq!(&joliet[88..90], b"%/");

        // The contents are there, whole.
        let find = |needle: &[u8]| image.windows(needle.len()).any(|w| w == needle);
        assert!(find(br#"{"vm":"x"}"#) && find(b"Write-Host hello"));

        // Long names as Joliet (UTF-16BE, what Windows reads) and Rock Ridge (ASCII).
        let utf16 =
            |name: &str| -> Vec<u8> { name.encode_utf16().flat_map(u16::to_be_bytes).collect() };
        for name in ["provision.json", "START.ps1"] {
            assert!(find(&utf16(name)), "Joliet name {name}");
            assert!(find(name.as_bytes()), "Rock Ridge name {name}");
        }

        // And the image reads back as ISO 9660, with 8.3 names in the primary tree.
        let read = IsoImage::open(Cursor::new(image.clone())).unwrap();
        let entries = read.root_dir().iter(&read).read_entries().unwrap();
        let names: Vec<String> = entries
            .iter()
            .map(|e| String::from_utf8_lossy(e.name()).into_owned())
            .collect();
        assert!(names.iter().any(|n| n.starts_with("PROVISIO")), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("START")), "{names:?}");
    }

    #[test]
    fn bad_base64_is_a_coded_failure() {
        let mut files = BTreeMap::new();
        files.insert("a.txt".to_owned(), "***".to_owned());
        assert_eq!(build(&files).unwrap_err().code, code::ISO_CREATE_FAILED);
    }
}
