//! Golden files: `default-profile.txt` holds the generated `autounattend.xml` and
//! `setup.ps1` of the default profile; each other file, one per option of the unattend
//! profile (spec provisioning §2.2), holds the lines that change when that one option is
//! set (a line diff against the default: `-` removed, `+` added), so it shows exactly the
//! option's effect. All are made with a fixed seed and compared byte for byte. Every case
//! must differ from the default's output (each option has an effect), except the legacy
//! spellings, which must equal the output of what they stand for.
//!
//! Every generated answer file is also checked for the properties Windows Setup needs
//! (`check_answer_file`): a real XML parser reads it, no byte-order mark, the unattend
//! namespace and the `wcm` prefix, the three passes in order, the component attributes,
//! command lines within 1 024 characters, passwords as base64 of UTF-16LE `<pw>Password`,
//! and no password or token in clear.
//!
//! To rewrite the golden files after an intended change, run
//! `UPDATE_GOLDEN=1 cargo test -p botmox-unattend --test golden` and review the diff.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use botmox_proto::provisioning::{IpConfig, ProfileConfig, ProvisionSoftware};
use botmox_unattend::{
    Error, MAX_COMMAND_LINE, Payload, ProvisionInput, Resolved, UNATTEND_NS, WCM_NS, files,
    resolve, start_ps1,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use url::Url;

const SEED: u64 = 42;
const TOKEN: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJwcm92aXNpb24ifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
const VM_UUID: &str = "4c4c4544-0042-3510-8052-b4c04f565931";

fn default_profile() -> Value {
    serde_json::to_value(ProfileConfig::default()).unwrap()
}

/// `base` with `patch` merged in (objects recursively, anything else replaced).
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Every option of §2.2 (and its legacy spellings), as a patch of the default profile.
fn cases() -> Vec<(&'static str, Value)> {
    let pool = json!([
        "Microsoft.BingNews",
        "Microsoft.XboxGamingOverlay",
        "Clipchamp.Clipchamp",
        "Microsoft.Copilot",
        "Microsoft.GetHelp",
        "Microsoft.People",
        "Microsoft.ZuneMusic"
    ]);
    let caps = json!([
        "Browser.InternetExplorer",
        "Media.WindowsMediaPlayer",
        "Microsoft.Windows.WordPad",
        "OpenSSH.Client",
        "WMIC",
        "MathRecognizer",
        "Print.Fax.Scan",
        "App.StepsRecorder",
        "Language.Handwriting",
        "Hello.Face",
        "XPS.Viewer"
    ]);
    let mut v = vec![
        (
            "user.nameMode-fixed",
            json!({"user": {"nameMode": "fixed"}}),
        ),
        (
            "user.nameMode-custom",
            json!({"user": {"nameMode": "custom", "customName": "Operator"}}),
        ),
        (
            "user.customNameSuffix-random_digits",
            json!({"user": {"nameMode": "custom", "customName": "Operator", "customNameSuffix": "random_digits"}}),
        ),
        (
            "user.customNameSuffix-sequential",
            json!({"user": {"nameMode": "custom", "customName": "Operator", "customNameSuffix": "sequential"}}),
        ),
        (
            "user.displayName",
            json!({"user": {"displayName": "Farm Operator <7> & \"friends\""}}),
        ),
        (
            "user.password",
            json!({"user": {"password": "P@ss<&>\"'wörd-€"}}),
        ),
        ("user.group-Users", json!({"user": {"group": "Users"}})),
        (
            "user.autoLogonCount-3",
            json!({"user": {"autoLogonCount": 3}}),
        ),
        (
            "user.autoLogonCount-0",
            json!({"user": {"autoLogonCount": 0}}),
        ),
        (
            "computerName.mode-fixed",
            json!({"computerName": {"mode": "fixed"}}),
        ),
        (
            "computerName.mode-custom",
            json!({"computerName": {"mode": "custom", "customName": "FARM-042"}}),
        ),
        (
            "locale.uiLanguage",
            json!({"locale": {"uiLanguage": "de-DE"}}),
        ),
        (
            "locale.keyboardLayouts",
            json!({"locale": {"keyboardLayouts": [{"language": "0409", "layout": "00000409"}, {"language": "0419", "layout": "00000419"}]}}),
        ),
        (
            "locale.inputLocales-legacy",
            json!({"locale": {"keyboardLayouts": [], "inputLocales": ["0407:00000407", "0409:00000409"]}}),
        ),
        (
            "locale.timeZone",
            json!({"locale": {"timeZone": "W. Europe Standard Time"}}),
        ),
        ("locale.geoLocation", json!({"locale": {"geoLocation": 94}})),
        (
            "locale.geoLocation-0-means-default",
            json!({"locale": {"geoLocation": 0}}),
        ),
        (
            "xmlTemplate-ui-only",
            json!({"xmlTemplate": "<unattend>UI only</unattend>"}),
        ),
        (
            "softwareRemoval.fixedPackages",
            json!({"softwareRemoval": {"fixedPackages": ["Microsoft.BingNews", "Microsoft.Copilot"]}}),
        ),
        (
            "softwareRemoval.mode-random",
            json!({"softwareRemoval": {"mode": "random", "randomPool": pool}}),
        ),
        (
            "softwareRemoval.mode-fixed_random",
            json!({"softwareRemoval": {"mode": "fixed_random", "fixedPackages": ["Microsoft.Edge"], "randomPool": pool}}),
        ),
        (
            "softwareRemoval.mode-mixed-legacy",
            json!({"softwareRemoval": {"mode": "mixed", "fixedPackages": ["Microsoft.Edge"], "randomPool": pool}}),
        ),
        (
            "softwareRemoval.randomCount",
            json!({"softwareRemoval": {"mode": "random", "randomPool": pool, "randomCount": {"min": 1, "max": 2}}}),
        ),
        (
            "softwareRemoval.neverRemove",
            json!({"softwareRemoval": {"fixedPackages": ["Microsoft.BingNews", "Microsoft.Copilot"], "neverRemove": ["microsoft.copilot"]}}),
        ),
        (
            "capabilityRemoval.fixedCapabilities",
            json!({"capabilityRemoval": {"fixedCapabilities": ["WMIC", "Browser.InternetExplorer"]}}),
        ),
        (
            "capabilityRemoval.mode-random",
            json!({"capabilityRemoval": {"mode": "random", "randomPool": caps}}),
        ),
        (
            "capabilityRemoval.mode-fixed_random",
            json!({"capabilityRemoval": {"mode": "fixed_random", "fixedCapabilities": ["WMIC"], "randomPool": caps}}),
        ),
        (
            "visualEffects.mode-default",
            json!({"visualEffects": {"mode": "default"}}),
        ),
        (
            "visualEffects.mode-balanced-legacy",
            json!({"visualEffects": {"mode": "balanced"}}),
        ),
        (
            "visualEffects.mode-appearance",
            json!({"visualEffects": {"mode": "appearance"}}),
        ),
        (
            "visualEffects.mode-custom",
            json!({"visualEffects": {"mode": "custom", "effects": {"dragFullWindows": true}}}),
        ),
        (
            "visualEffects.effects",
            json!({"visualEffects": {"mode": "custom", "effects": {"fontSmoothing": true, "thumbnailPreviews": true, "animateMinMax": true}}}),
        ),
        (
            "visualEffects.mode-custom_randomize",
            json!({"visualEffects": {"mode": "custom_randomize", "effects": {"fontSmoothing": true}}}),
        ),
        (
            "visualEffects.mode-random-legacy",
            json!({"visualEffects": {"mode": "random", "effects": {"fontSmoothing": true}}}),
        ),
        (
            "visualEffects.cursorShadow-fontSmoothing-legacy",
            json!({"visualEffects": {"mode": "custom", "cursorShadow": true, "fontSmoothing": true}}),
        ),
        (
            "desktopIcons.mode-custom",
            json!({"desktopIcons": {"mode": "custom"}}),
        ),
        (
            "desktopIcons.mode-custom_randomize",
            json!({"desktopIcons": {"mode": "custom_randomize"}}),
        ),
        (
            "desktopIcons.icons",
            json!({"desktopIcons": {"mode": "custom", "icons": {"thisPC": true, "recycleBin": true}}}),
        ),
        (
            "desktopIcons.recycleBin-thisPC-legacy",
            json!({"desktopIcons": {"recycleBin": true, "thisPC": true}}),
        ),
        (
            "desktopIcons.startFolders",
            json!({"desktopIcons": {"mode": "custom", "startFolders": {"documents": true, "downloads": true, "music": false}}}),
        ),
        (
            "desktopIcons.deleteEdgeShortcut-false",
            json!({"desktopIcons": {"deleteEdgeShortcut": false}}),
        ),
        (
            "customScript.executable-ps1",
            json!({"customScript": {"executable": "bootstrap2.ps1"}}),
        ),
        (
            "customScript.executable-exe",
            json!({"customScript": {"executable": "Runner.exe"}}),
        ),
        (
            "customScript.executable-START.exe-legacy",
            json!({"customScript": {"executable": "START.exe"}}),
        ),
        (
            "customScript.delaySeconds-0",
            json!({"customScript": {"delaySeconds": 0}}),
        ),
        (
            "customScript.delaySeconds-90",
            json!({"customScript": {"delaySeconds": 90}}),
        ),
    ];
    for (key, name) in [
        ("disableDefender", "windowsSettings.disableDefender-false"),
        (
            "disableWindowsUpdate",
            "windowsSettings.disableWindowsUpdate-false",
        ),
        ("disableUac", "windowsSettings.disableUac-false"),
        (
            "disableSmartScreen",
            "windowsSettings.disableSmartScreen-false",
        ),
        (
            "disableSystemRestore",
            "windowsSettings.disableSystemRestore-false",
        ),
        ("enableLongPaths", "windowsSettings.enableLongPaths-false"),
        (
            "allowPowerShellScripts",
            "windowsSettings.allowPowerShellScripts-false",
        ),
        ("disableWidgets", "windowsSettings.disableWidgets-false"),
        (
            "disableEdgeStartup",
            "windowsSettings.disableEdgeStartup-false",
        ),
        (
            "preventDeviceEncryption",
            "windowsSettings.preventDeviceEncryption-false",
        ),
        (
            "disableStickyKeys",
            "windowsSettings.disableStickyKeys-false",
        ),
    ] {
        v.push((name, json!({"windowsSettings": {key: false}})));
    }
    v.push((
        "windowsSettings.enableRemoteDesktop-true",
        json!({"windowsSettings": {"enableRemoteDesktop": true}}),
    ));
    v
}

/// Legacy spellings (and values that mean the default) and what they must generate exactly like.
const SAME_AS: [(&str, &str); 7] = [
    ("locale.geoLocation-0-means-default", "default-profile"),
    ("xmlTemplate-ui-only", "default-profile"),
    (
        "softwareRemoval.mode-mixed-legacy",
        "softwareRemoval.mode-fixed_random",
    ),
    (
        "visualEffects.mode-balanced-legacy",
        "visualEffects.mode-default",
    ),
    (
        "visualEffects.mode-random-legacy",
        "visualEffects.mode-custom_randomize",
    ),
    (
        "customScript.executable-START.exe-legacy",
        "default-profile",
    ),
    (
        "desktopIcons.recycleBin-thisPC-legacy",
        "desktopIcons.icons",
    ),
];

fn config(patch: &Value) -> ProfileConfig {
    let mut v = default_profile();
    merge(&mut v, patch);
    botmox_proto::from_json(v).unwrap()
}

fn ip() -> IpConfig {
    IpConfig {
        address: "192.168.50.21".into(),
        netmask: "255.255.254.0".into(),
        gateway: "192.168.50.1".into(),
        dns: vec!["192.168.50.1".into(), "1.1.1.1".into()],
    }
}

fn payload_files(
    resolved: &Resolved,
    playbook: Option<&str>,
    software: &[ProvisionSoftware],
) -> BTreeMap<String, Vec<u8>> {
    let url = Url::parse("https://botmox.example.net/").unwrap();
    let ip = ip();
    files(&Payload {
        resolved,
        provision: ProvisionInput {
            vm_uuid: VM_UUID,
            ip: &ip,
            token: TOKEN,
            api_endpoint: Some(&url),
            s3_endpoint: "",
            software,
        },
        playbook,
    })
    .unwrap()
}

fn text(files: &BTreeMap<String, Vec<u8>>, name: &str) -> String {
    String::from_utf8(files[name].clone()).unwrap()
}

/// The golden text of a case: its answer file and settings script.
fn render(name: &str, patch: &Value) -> (String, Resolved) {
    let config = config(patch);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let resolved = resolve(&config, Some(7), &mut rng).unwrap();
    let files = payload_files(&resolved, None, &[]);
    let xml = text(&files, "autounattend.xml");
    check_answer_file(&xml, &resolved, name);
    let script = text(&files, "setup.ps1");
    assert!(
        script.is_ascii(),
        "{name}: setup.ps1 must be ASCII (PowerShell 5.1 reads it as ANSI)"
    );
    assert!(
        !script.contains(TOKEN) && !xml.contains(TOKEN),
        "{name}: token in clear"
    );
    let out = format!(
        "===== case: {name}\n===== patch: {patch}\n===== autounattend.xml\n{xml}===== setup.ps1\n{script}"
    );
    (out, resolved)
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"))
}

/// Compare `actual` with the golden file `name`, or rewrite it under `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) -> Result<(), String> {
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return Ok(());
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == actual => Ok(()),
        Ok(_) => Err(format!(
            "{name}: differs from {} (UPDATE_GOLDEN=1 to rewrite)",
            path.display()
        )),
        Err(e) => Err(format!("{name}: cannot read {}: {e}", path.display())),
    }
}

/// The properties every answer file must have for Windows Setup.
fn check_answer_file(xml: &str, r: &Resolved, case: &str) {
    assert!(
        !xml.as_bytes().starts_with(b"\xEF\xBB\xBF"),
        "{case}: byte-order mark"
    );
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{case}"
    );
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{case}: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "unattend", "{case}");
    assert_eq!(root.tag_name().namespace(), Some(UNATTEND_NS), "{case}");
    assert_eq!(
        root.lookup_namespace_uri(Some("wcm")),
        Some(WCM_NS),
        "{case}"
    );
    for node in doc.descendants().filter(|n| n.is_element()) {
        assert_eq!(
            node.tag_name().namespace(),
            Some(UNATTEND_NS),
            "{case}: {:?}",
            node.tag_name()
        );
        for attr in node.attributes() {
            if attr.name() == "action" {
                assert_eq!(attr.namespace(), Some(WCM_NS), "{case}");
                assert_eq!(attr.value(), "add");
            }
        }
    }

    let passes: Vec<&str> = root
        .children()
        .filter(|n| n.has_tag_name((UNATTEND_NS, "settings")))
        .map(|n| n.attribute("pass").unwrap())
        .collect();
    assert_eq!(passes, ["windowsPE", "specialize", "oobeSystem"], "{case}");
    let expected_components = [
        ("windowsPE", "Microsoft-Windows-International-Core-WinPE"),
        ("windowsPE", "Microsoft-Windows-Setup"),
        ("specialize", "Microsoft-Windows-Shell-Setup"),
        ("specialize", "Microsoft-Windows-International-Core"),
        ("specialize", "Microsoft-Windows-Deployment"),
        ("oobeSystem", "Microsoft-Windows-Shell-Setup"),
    ];
    let components: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| n.has_tag_name((UNATTEND_NS, "component")))
        .map(|c| {
            for (attr, value) in [
                ("processorArchitecture", "amd64"),
                ("publicKeyToken", "31bf3856ad364e35"),
                ("language", "neutral"),
                ("versionScope", "nonSxS"),
            ] {
                assert_eq!(c.attribute(attr), Some(value), "{case}: {attr}");
            }
            (
                c.parent_element().unwrap().attribute("pass").unwrap(),
                c.attribute("name").unwrap(),
            )
        })
        .collect();
    assert_eq!(components, expected_components, "{case}");

    let element_text = |name: &str| -> Vec<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name((UNATTEND_NS, name)))
            .map(|n| n.text().unwrap_or("").to_owned())
            .collect()
    };
    let commands: Vec<String> = element_text("CommandLine")
        .into_iter()
        .chain(element_text("Path"))
        .collect();
    assert!(commands.len() >= 3, "{case}");
    for command in &commands {
        assert!(
            command.chars().count() <= MAX_COMMAND_LINE,
            "{case}: {} chars: {command}",
            command.len()
        );
        assert!(!command.contains('\n'), "{case}");
    }
    let orders: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name((UNATTEND_NS, "SynchronousCommand")))
        .map(|n| {
            n.children()
                .find(|c| c.has_tag_name((UNATTEND_NS, "Order")))
                .unwrap()
                .text()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(orders, ["1", "2", "3"], "{case}");

    let values: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name((UNATTEND_NS, "Password")))
        .map(|p| {
            let child = |name: &str| {
                p.children()
                    .find(|c| c.has_tag_name((UNATTEND_NS, name)))
                    .unwrap()
                    .text()
                    .unwrap_or("")
                    .to_owned()
            };
            assert_eq!(child("PlainText"), "false", "{case}");
            child("Value")
        })
        .collect();
    let expected_passwords = if r.auto_logon_count.is_some() { 2 } else { 1 };
    assert_eq!(values.len(), expected_passwords, "{case}");
    for value in values {
        let bytes = STANDARD.decode(&value).unwrap();
        assert_eq!(bytes.len() % 2, 0);
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(
            String::from_utf16(&units).unwrap(),
            format!("{}Password", r.password),
            "{case}"
        );
    }
    if r.password.len() >= 6 {
        assert!(!xml.contains(&r.password), "{case}: password in clear");
    }

    assert_eq!(
        element_text("ComputerName"),
        std::slice::from_ref(&r.computer_name),
        "{case}"
    );
    assert!(r.computer_name.len() <= 15);
    let names = element_text("Name");
    assert_eq!(names, std::slice::from_ref(&r.username), "{case}");
    assert_eq!(
        element_text("Username").len(),
        usize::from(r.auto_logon_count.is_some()),
        "{case}"
    );
}

#[test]
fn every_option_has_its_golden_file_and_an_effect() {
    let (base, _) = render("default-profile", &json!({}));
    let mut failures = Vec::new();
    if let Err(e) = golden("default-profile", &base) {
        failures.push(e);
    }
    let body = |s: &str| s.split_once("===== autounattend.xml").unwrap().1.to_owned();
    let mut outputs = BTreeMap::new();
    outputs.insert("default-profile", body(&base));
    for (name, patch) in cases() {
        let (out, _) = render(name, &patch);
        let header = out.split_inclusive('\n').take(2).collect::<String>();
        let effect = format!("{header}{}", line_diff(&body(&base), &body(&out)));
        if let Err(e) = golden(name, &effect) {
            failures.push(e);
        }
        let exempt = SAME_AS.iter().any(|(legacy, _)| *legacy == name);
        if !exempt && body(&out) == body(&base) {
            failures.push(format!("{name}: has no effect on the generated files"));
        }
        outputs.insert(name, body(&out));
    }
    for (legacy, same) in SAME_AS {
        if outputs[legacy] != outputs[same] {
            failures.push(format!(
                "{legacy}: should generate exactly what {same} does"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The lines of `new` that differ from `old`: `-` removed, `+` added, `@@ line n` before
/// each run (n counts the old lines, from 1), from a longest-common-subsequence match.
fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out, mut in_run) = (0, 0, String::new(), false);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
            in_run = false;
            continue;
        }
        if !in_run {
            out.push_str(&format!("@@ line {}\n", i + 1));
            in_run = true;
        }
        if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[test]
fn no_golden_file_is_left_over() {
    let mut known: Vec<String> = cases()
        .into_iter()
        .map(|(n, _)| format!("{n}.txt"))
        .collect();
    known.extend(["default-profile.txt".to_owned(), "payload.txt".to_owned()]);
    for entry in std::fs::read_dir(golden_path("x").parent().unwrap()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            known.contains(&name),
            "tests/golden/{name} belongs to no case"
        );
    }
}

#[test]
fn answer_files_hold_their_properties_for_many_seeds() {
    for (name, patch) in cases() {
        let config = config(&patch);
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let r = resolve(&config, Some(seed as u32 + 1), &mut rng).unwrap();
            let files = payload_files(&r, Some("name: x\nroles: [{role: base-system}]\n"), &[]);
            check_answer_file(&text(&files, "autounattend.xml"), &r, name);
        }
    }
}

#[test]
fn the_payload_has_every_file_and_playbook_only_when_chosen() {
    let config = ProfileConfig::default();
    let r = resolve(&config, None, &mut ChaCha8Rng::seed_from_u64(SEED)).unwrap();
    let software = [ProvisionSoftware {
        module: "winsible-setup".into(),
        platform: "windows".into(),
        channel: "stable".into(),
        file: "winsible-setup.exe".into(),
        args: None,
        runner: true,
    }];
    let playbook = "name: Standard\nroles:\n  - role: base-system\n";
    let with = payload_files(&r, Some(playbook), &software);
    let names: Vec<&str> = with.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "START.ps1",
            "autounattend.xml",
            "playbook.yml",
            "provision.json",
            "setup.ps1"
        ]
    );
    for name in &names {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        );
        assert!(
            !with[*name].starts_with(b"\xEF\xBB\xBF"),
            "{name}: byte-order mark"
        );
    }
    assert_eq!(with["START.ps1"], start_ps1().as_bytes());
    assert_eq!(with["playbook.yml"], playbook.as_bytes());
    let xml = text(&with, "autounattend.xml");
    assert!(
        xml.contains("'provision.json','START.ps1','setup.ps1','playbook.yml'"),
        "{xml}"
    );

    let without = payload_files(&r, None, &software);
    assert!(!without.contains_key("playbook.yml"));
    assert!(!text(&without, "autounattend.xml").contains("playbook.yml"));

    let provision = text(&with, "provision.json");
    let json: Value = serde_json::from_str(&provision).unwrap();
    assert_eq!(json["api_endpoint"], "https://botmox.example.net");
    assert_eq!(json["token"], TOKEN);
    assert_eq!(json["vm_uuid"], VM_UUID);
    assert_eq!(json["bootstrap_url"], "/provisioning/validate-token");
    assert_eq!(json["ip"]["netmask"], "255.255.254.0");
    assert_eq!(json["software"][0]["runner"], true);
    let out = format!("===== provision.json\n{provision}===== autounattend.xml\n{xml}");
    golden("payload", &out).unwrap();
}

#[test]
fn a_payload_without_a_public_url_is_refused() {
    let r = resolve(
        &ProfileConfig::default(),
        None,
        &mut ChaCha8Rng::seed_from_u64(1),
    )
    .unwrap();
    let ip = ip();
    let mut provision = ProvisionInput {
        vm_uuid: VM_UUID,
        ip: &ip,
        token: TOKEN,
        api_endpoint: None,
        s3_endpoint: "",
        software: &[],
    };
    let payload = |provision| Payload {
        resolved: &r,
        provision,
        playbook: None,
    };
    assert_eq!(files(&payload(provision)).unwrap_err(), Error::NoPublicUrl);
    let ftp = Url::parse("ftp://example.net/").unwrap();
    provision.api_endpoint = Some(&ftp);
    assert_eq!(files(&payload(provision)).unwrap_err(), Error::BadPublicUrl);
    let ok = Url::parse("http://10.0.0.2:8080/base/").unwrap();
    provision.api_endpoint = Some(&ok);
    let f = files(&payload(provision)).unwrap();
    assert!(text(&f, "provision.json").contains("\"api_endpoint\": \"http://10.0.0.2:8080/base\""));
    let bad_ip = IpConfig {
        netmask: "255.0.255.0".into(),
        ..ip.clone()
    };
    provision.ip = &bad_ip;
    match files(&payload(provision)).unwrap_err() {
        Error::InvalidInput(e) => assert!(e.get("ip.netmask").is_some()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sequential_suffixes_need_a_number_and_bad_profiles_are_errors() {
    let config = config(
        &json!({"user": {"nameMode": "custom", "customName": "Bot", "customNameSuffix": "sequential"}}),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(
        resolve(&config, None, &mut rng).unwrap_err(),
        Error::SequenceRequired
    );
    assert_eq!(
        resolve(&config, Some(0), &mut rng).unwrap_err(),
        Error::SequenceRequired
    );
    assert_eq!(
        resolve(&config, Some(3), &mut rng).unwrap().username,
        "Bot03"
    );
    assert_eq!(
        resolve(&config, Some(1234), &mut rng).unwrap().username,
        "Bot1234"
    );
    let mut bad = ProfileConfig::default();
    bad.software_removal.random_count.min = 9;
    bad.software_removal.random_count.max = 2;
    assert!(matches!(
        resolve(&bad, None, &mut rng),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn two_generations_differ_and_one_seed_repeats() {
    let config = ProfileConfig::default();
    let a = resolve(&config, None, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let b = resolve(&config, None, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
    let a2 = resolve(&config, None, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    assert_eq!(a, a2);
    assert_ne!(
        (&a.username, &a.computer_name),
        (&b.username, &b.computer_name)
    );
    assert!(a.computer_name.starts_with("DESKTOP-") && a.computer_name.len() == 15);
}

#[test]
fn start_ps1_does_what_the_spec_asks() {
    let script = start_ps1();
    assert!(
        script.is_ascii(),
        "PowerShell 5.1 reads a BOM-less script as ANSI"
    );
    for needle in [
        "function Get-PrefixLength",
        "function Find-ProvisionFile",
        "Get-PSDrive -PSProvider FileSystem",
        "New-NetIPAddress",
        "-PrefixLength $prefix",
        "Set-DnsClientServerAddress",
        "'/provisioning/validate-token'",
        "'/provisioning/report-progress'",
        "'/license/lease'",
        "'/artifacts/resolve-download'",
        "lease_token = $lease.token",
        "agent_id = ",
        "runner_id = ",
        "platform = $platform",
        "channel = $channel",
        "Get-FileHash -LiteralPath $part -Algorithm SHA256",
        "Start-Sleep -Seconds $delay",
        "'windows_installed' 'completed'",
        "'downloader_ready' 'running'",
        "'app_downloaded' 'completed'",
        "'playbook_running' 'running'",
        "'completed' 'completed'",
        "'completed' 'failed'",
        "--headless",
        "Win32_ComputerSystemProduct",
        "Tls12",
    ] {
        assert!(script.contains(needle), "START.ps1 lacks {needle}");
    }
    // The prefix is computed before the adapter's addresses are removed.
    let prefix = script.find("$prefix = Get-PrefixLength").unwrap();
    let remove = script.find("Remove-NetIPAddress").unwrap();
    assert!(prefix < remove);
    // `$args` is PowerShell's automatic variable: never assigned.
    assert!(!script.contains("$args ="));
}

#[test]
fn arbitrary_text_is_refused_or_generates_a_valid_answer_file() {
    use rand::Rng;
    const CHARS: [char; 16] = [
        'a',
        'Z',
        '7',
        ' ',
        '<',
        '&',
        '"',
        '\'',
        '\u{0}',
        '\u{1}',
        '\u{7f}',
        'é',
        '€',
        '\u{FFFF}',
        '\u{1F600}',
        ']',
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let random_text = |rng: &mut ChaCha8Rng, max: usize| -> String {
        let len = rng.gen_range(0..max);
        (0..len)
            .map(|_| CHARS[rng.gen_range(0..CHARS.len())])
            .collect()
    };
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..2000 {
        let t = random_text(&mut rng, 12);
        let patch = match rng.gen_range(0..5) {
            0 => json!({"user": {"nameMode": "custom", "customName": t}}),
            1 => json!({"user": {"displayName": t}}),
            2 => json!({"user": {"password": t}}),
            3 => json!({"computerName": {"mode": "custom", "customName": t}}),
            _ => json!({"locale": {"timeZone": t}}),
        };
        let mut v = default_profile();
        merge(&mut v, &patch);
        let Ok(config) = serde_json::from_value::<ProfileConfig>(v) else {
            continue;
        };
        match resolve(&config, None, &mut rng) {
            Ok(r) => {
                let files = payload_files(&r, None, &[]);
                check_answer_file(&text(&files, "autounattend.xml"), &r, "arbitrary");
                accepted += 1;
            }
            Err(Error::Invalid(_)) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(
        accepted > 50 && refused > 50,
        "{accepted} accepted, {refused} refused"
    );
}

/// A rough syntax check of PowerShell text, as no PowerShell runs here: strings close, and
/// `()`, `{}`, `[]` nest, outside comments and strings (inside a double-quoted string only
/// `$( )` nests, and may hold strings of its own). `Err` names the line.
fn powershell_nests(script: &str) -> Result<(), String> {
    // Open brackets, and '"' for a double-quoted string being read.
    let mut stack: Vec<(char, usize)> = Vec::new();
    let (mut line, mut prev) = (1, '\n');
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        let in_double = stack.last().is_some_and(|(open, _)| *open == '"');
        if in_double {
            match c {
                '`' => {
                    chars.next();
                }
                '"' => {
                    stack.pop();
                }
                '$' if chars.peek() == Some(&'(') => {
                    chars.next();
                    stack.push(('(', line));
                }
                _ => {}
            }
        } else {
            match c {
                '#' if prev.is_whitespace() || prev == ';' => {
                    while chars.peek().is_some_and(|&n| n != '\n') {
                        chars.next();
                    }
                }
                '\'' => loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                        }
                        Some('\'') => break,
                        Some('\n') | None => {
                            return Err(format!(
                                "line {line}: a single-quoted string is not closed"
                            ));
                        }
                        Some(_) => {}
                    }
                },
                '`' => {
                    chars.next();
                }
                '"' => stack.push(('"', line)),
                '(' | '{' | '[' => stack.push((c, line)),
                ')' | '}' | ']' => {
                    let want = match c {
                        ')' => '(',
                        '}' => '{',
                        _ => '[',
                    };
                    match stack.pop() {
                        Some((open, _)) if open == want => {}
                        Some((open, at)) => {
                            return Err(format!("line {line}: {c} closes {open} of line {at}"));
                        }
                        None => return Err(format!("line {line}: {c} closes nothing")),
                    }
                }
                _ => {}
            }
        }
        prev = c;
    }
    match stack.pop() {
        Some((open, at)) => Err(format!("{open} of line {at} is not closed")),
        None => Ok(()),
    }
}

#[test]
fn the_powershell_nests() {
    powershell_nests(start_ps1()).unwrap();
    assert!(powershell_nests("if ($a) { 'x' ").is_err());
    powershell_nests("Write-Host \"a (b $(Get-Date \"x)\") c\"; ( 'it''s' ) # )").unwrap();
    assert!(powershell_nests("Write-Host \"open").is_err());
    assert!(powershell_nests("Write-Host 'open").is_err());
    assert!(powershell_nests("(]").is_err());
    for (name, patch) in cases() {
        let config = config(&patch);
        let r = resolve(&config, Some(1), &mut ChaCha8Rng::seed_from_u64(SEED)).unwrap();
        let files = payload_files(&r, Some("name: x\nroles: [{role: a}]\n"), &[]);
        powershell_nests(&text(&files, "setup.ps1"))
            .map_err(|e| format!("{name}: setup.ps1: {e}"))
            .unwrap();
        let xml = text(&files, "autounattend.xml");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        for command in doc
            .descendants()
            .filter(|n| n.has_tag_name((UNATTEND_NS, "CommandLine")))
        {
            let line = command.text().unwrap();
            if let Some((_, script)) = line.split_once("-Command \"") {
                let script = script
                    .strip_suffix('"')
                    .expect("the -Command text ends the line");
                assert!(
                    !script.contains('"'),
                    "{name}: a double quote inside -Command: {line}"
                );
                powershell_nests(script)
                    .map_err(|e| format!("{name}: {line}: {e}"))
                    .unwrap();
            }
        }
    }
}
