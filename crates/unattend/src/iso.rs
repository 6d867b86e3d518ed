//! The config ISO, built in memory: ISO 9660 with Joliet names (what Windows reads), volume
//! label [`VOLUME_LABEL`], the files at its root. Pure, so the agent (which uploads it to
//! Proxmox) and the server (which answers it to operators) build the same image.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use hadris_iso::read::PathSeparator;
use hadris_iso::write::options::{CreationFeatures, IsoFormatOptions};
use hadris_iso::write::{File as IsoFile, InputFiles, IsoImageWriter};

/// The volume label the guest's `START.ps1` looks for.
pub const VOLUME_LABEL: &str = "PROVISION";

/// Joliet's longest name, in UTF-16 code units.
pub const MAX_NAME_UNITS: usize = 64;

/// Why an image cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A name that cannot be a file at the root of a Joliet volume read by Windows.
    #[error("file name {name:?} cannot go on the ISO: {reason}")]
    BadName { name: String, reason: &'static str },
    /// Two names Windows would read as the same file (it compares names ignoring case).
    #[error("file names {first:?} and {second:?} are the same file on Windows")]
    DuplicateName { first: String, second: String },
    /// The image could not be written.
    #[error("cannot write the ISO image: {0}")]
    Write(String),
}

/// The ISO image holding `files` (name -> content) at its root.
pub fn build(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, Error> {
    check_names(files.keys())?;
    let entries = files
        .iter()
        .map(|(name, contents)| IsoFile::File {
            name: Arc::new(name.clone()),
            contents: contents.clone(),
        })
        .collect();
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
        application_id: Some("BOTMOX".to_owned()),
        sector_size: 2048,
        path_separator: PathSeparator::ForwardSlash,
        features: CreationFeatures::extensions(),
        strict_charset: false,
    };
    let image = IsoImageWriter::create(Cursor::new(Vec::new()), input, options)
        .map_err(|e| Error::Write(e.to_string()))?;
    Ok(image.into_inner())
}

/// Every name is a valid Joliet name Windows can open, and no two are the same to Windows.
fn check_names<'a>(names: impl Iterator<Item = &'a String>) -> Result<(), Error> {
    let mut folded: BTreeMap<String, &String> = BTreeMap::new();
    for name in names {
        let bad = |reason| Error::BadName {
            name: name.clone(),
            reason,
        };
        if name.is_empty() || name == "." || name == ".." {
            return Err(bad("it is empty, `.` or `..`"));
        }
        if name.contains(['/', '\\']) {
            return Err(bad("files go at the root: no path separators"));
        }
        if name
            .chars()
            .any(|c| c.is_control() || "*:;?\"<>|".contains(c))
        {
            return Err(bad(
                "control characters and * : ; ? \" < > | are not allowed",
            ));
        }
        if name.chars().any(|c| u32::from(c) > 0xFFFF) {
            return Err(bad(
                "Joliet names are UCS-2: no characters outside the Basic Multilingual Plane",
            ));
        }
        if name.ends_with(['.', ' ']) {
            return Err(bad("Windows drops a trailing dot or space"));
        }
        if name.encode_utf16().count() > MAX_NAME_UNITS {
            return Err(bad("longer than Joliet's 64 UTF-16 units"));
        }
        if let Some(first) = folded.insert(name.to_lowercase(), name) {
            return Err(Error::DuplicateName {
                first: first.clone(),
                second: name.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([(name.to_owned(), b"x".to_vec())])
    }

    #[test]
    fn names_that_cannot_go_on_the_iso_are_refused() {
        let long = "a".repeat(MAX_NAME_UNITS + 1);
        for name in [
            "", ".", "..", "a/b", r"a\b", "a:b", "a?", "a\u{1}", "a.", &long,
        ] {
            assert!(
                matches!(build(&one(name)), Err(Error::BadName { .. })),
                "{name:?}"
            );
        }
        // 64 UTF-16 units is the limit, counted in units, not bytes.
        assert!(build(&one(&"я".repeat(MAX_NAME_UNITS))).is_ok());
        // UCS-2 only: Linux reads surrogate pairs in Joliet names as two unknown characters.
        assert!(matches!(build(&one("a😀.txt")), Err(Error::BadName { .. })));
    }

    #[test]
    fn names_equal_ignoring_case_are_refused() {
        let files = BTreeMap::from([
            ("Setup.ps1".to_owned(), vec![]),
            ("setup.PS1".to_owned(), vec![]),
        ]);
        assert_eq!(
            build(&files),
            Err(Error::DuplicateName {
                first: "Setup.ps1".into(),
                second: "setup.PS1".into()
            })
        );
    }
}
