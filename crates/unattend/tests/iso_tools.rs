//! The config ISO read back by real tools (`xorriso`, `isoinfo`; `scripts/test.sh` installs them):
//! every file byte for byte, under the Joliet names Windows reads, and the volume label.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use botmox_unattend::iso::{self, VOLUME_LABEL};

/// Run `program` with `args`; its standard output, or a panic saying what failed (xorriso
/// also fails on any complaint about the image it reads).
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (does scripts/test.sh install it?): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for complaint in ["WARNING", "SORRY", "FAILURE", "FATAL"] {
        assert!(!stderr.contains(complaint), "{program} {args:?}:\n{stderr}");
    }
    String::from_utf8(out.stdout).unwrap()
}

/// The image in a temporary directory, as `image.iso`.
fn image_file(files: &BTreeMap<String, Vec<u8>>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("image.iso"), iso::build(files).unwrap()).unwrap();
    dir
}

/// Every file of the image's Joliet tree (the one Windows reads), extracted by xorriso.
fn extract_joliet(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let image = dir.join("image.iso");
    let out = dir.join("out");
    run(
        "xorriso",
        &[
            "-read_fs",
            "norock",
            "-osirrox",
            "on",
            "-indev",
            image.to_str().unwrap(),
            "-extract",
            "/",
            out.to_str().unwrap(),
        ],
    );
    std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            assert!(entry.file_type().unwrap().is_file(), "{entry:?}");
            let name = entry.file_name().into_string().unwrap();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

/// Content that shows misplaced bytes: no two 4-byte-aligned words alike within 16 GiB.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len.div_ceil(4) as u32)
        .flat_map(|i| {
            (i ^ seed.rotate_left(16))
                .wrapping_mul(2_654_435_761)
                .to_le_bytes()
        })
        .take(len)
        .collect()
}

fn files(entries: &[(&str, Vec<u8>)]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(name, bytes)| ((*name).to_owned(), bytes.clone()))
        .collect()
}

#[test]
fn the_usual_files_read_back_byte_for_byte() {
    let files = files(&[
        (
            "autounattend.xml",
            b"<?xml version=\"1.0\"?><unattend/>".to_vec(),
        ),
        ("provision.json", br#"{"vm_uuid":"x","token":"t"}"#.to_vec()),
        ("START.ps1", b"Write-Host 'hello'\r\n".to_vec()),
        ("setup.ps1", b"Set-ItemProperty -Path HKLM:\\X\r\n".to_vec()),
        ("playbook.yml", b"- name: play\n  roles: []\n".to_vec()),
    ]);
    let dir = image_file(&files);
    assert_eq!(extract_joliet(dir.path()), files);
}

#[test]
fn non_ascii_long_empty_and_large_files_read_back_byte_for_byte() {
    let files = files(&[
        ("настройка.ps1", "Write-Host 'привет'".as_bytes().to_vec()),
        ("résumé.txt", "é".repeat(3).into_bytes()),
        ("日本語のファイル名.txt", b"kanji".to_vec()),
        (
            "A Long Mixed-Case Name With Spaces And Dots.v1.2.txt",
            b"long".to_vec(),
        ),
        (&"n".repeat(iso::MAX_NAME_UNITS), b"64 units".to_vec()),
        ("empty.bin", Vec::new()),
        ("one-sector.bin", pattern(2048, 1)),
        ("over-64k.bin", pattern(64 * 1024 + 1, 2)),
        ("several-mib.bin", pattern(5 * 1024 * 1024 + 123, 3)),
    ]);
    let dir = image_file(&files);
    assert_eq!(extract_joliet(dir.path()), files);
}

#[test]
fn many_files_fill_several_directory_sectors() {
    // ~150 records of ~100 bytes each: the root directory spans several sectors, and a
    // record must never straddle two of them.
    let files: BTreeMap<String, Vec<u8>> = (0..150)
        .map(|i| {
            (
                format!("file number {i:03} with a long name.txt"),
                pattern(i * 37, i as u32),
            )
        })
        .collect();
    let dir = image_file(&files);
    assert_eq!(extract_joliet(dir.path()), files);
}

#[test]
fn windows_sees_the_label_and_the_names_with_their_case() {
    let files = files(&[
        ("START.ps1", b"a".to_vec()),
        ("autounattend.xml", b"b".to_vec()),
        ("MixedCase.Long-Name.txt", b"c".to_vec()),
    ]);
    let dir = image_file(&files);
    let image = dir.path().join("image.iso");
    let image = image.to_str().unwrap();

    // The primary volume descriptor's label, as xorriso and isoinfo report it.
    let pvd = run("xorriso", &["-indev", image, "-pvd_info"]);
    assert!(
        pvd.lines()
            .any(|l| l.starts_with("Volume Id") && l.ends_with(&format!(": {VOLUME_LABEL}"))),
        "{pvd}"
    );
    let info = run("isoinfo", &["-d", "-i", image]);
    assert!(
        info.contains(&format!("Volume id: {VOLUME_LABEL}\n")),
        "{info}"
    );
    assert!(info.contains("Joliet with UCS level 3 found"), "{info}");
    // The volume's size is the image's: no extent points past its end.
    let bytes = std::fs::read(dir.path().join("image.iso")).unwrap();
    let size = format!("Volume size is: {}\n", bytes.len() / 2048);
    assert!(
        bytes.len().is_multiple_of(2048) && info.contains(&size),
        "{info}"
    );

    // Windows names the drive from the Joliet descriptor: the same label, in UTF-16BE.
    let joliet = (17..32)
        .map(|n| &bytes[n * 2048..(n + 1) * 2048])
        .find(|s| s[0] == 2 && &s[1..6] == b"CD001")
        .expect("a Joliet supplementary volume descriptor");
    let label: Vec<u16> = joliet[40..72]
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let label = String::from_utf16(&label).unwrap();
    assert_eq!(label.trim_end(), VOLUME_LABEL);

    // The Joliet names, as isoinfo lists them: case kept, no `;1` version suffix (this
    // isoinfo cannot print non-ASCII Joliet names; the xorriso tests above cover those).
    let listing = run("isoinfo", &["-J", "-f", "-i", image]);
    let mut names: Vec<&str> = listing.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "/MixedCase.Long-Name.txt",
            "/START.ps1",
            "/autounattend.xml"
        ]
    );
}

#[test]
fn isoinfo_extracts_by_joliet_name() {
    let content = pattern(70 * 1024, 9);
    let files = files(&[("Provision.Large.json", content.clone())]);
    let dir = image_file(&files);
    let image = dir.path().join("image.iso");
    let out = Command::new("isoinfo")
        .args(["-J", "-i", image.to_str().unwrap()])
        .args(["-x", "/Provision.Large.json"])
        .output()
        .expect("isoinfo");
    assert!(out.status.success());
    assert_eq!(out.stdout, content);
}
