//! Benchmark of a VM's provisioning payload and config ISO (target: under 20 ms per VM):
//! per VM, resolve a profile with every option on (random names, software and capability
//! removal lists, randomized effects and icons), render its files with
//! [`botmox_unattend::files`] (with a playbook and three software items) and build the ISO
//! with [`botmox_unattend::iso::build`]. One thread; prints mean, p50, p99 and max per VM,
//! the time of each step, and VMs per second.
//!
//! `cargo run --release -p botmox-unattend --example provision_bench [-- VMS]` (default 1000).

use std::time::{Duration, Instant};

use botmox_proto::provisioning::{IpConfig, ProfileConfig, ProvisionSoftware};
use botmox_unattend::{Payload, ProvisionInput, files, iso, resolve};
use serde_json::json;
use url::Url;

const PLAYBOOK: &str = "\
name: Farm standard
roles:
  - role: base-system
    vars:
      timezone: W. Europe Standard Time
      power_plan: high_performance
  - role: winsible-setup
  - role: game-client
    vars:
      install_dir: D:\\Games
      channels: [stable, beta]
";

/// A profile with every option of spec provisioning §2.2 set to something that does work.
fn profile() -> ProfileConfig {
    let pool = [
        "Microsoft.BingNews",
        "Microsoft.BingWeather",
        "Microsoft.XboxGamingOverlay",
        "Microsoft.XboxApp",
        "Clipchamp.Clipchamp",
        "Microsoft.Copilot",
        "Microsoft.GetHelp",
        "Microsoft.Getstarted",
        "Microsoft.People",
        "Microsoft.ZuneMusic",
        "Microsoft.ZuneVideo",
        "Microsoft.WindowsFeedbackHub",
        "Microsoft.MicrosoftSolitaireCollection",
        "Microsoft.Todos",
    ];
    let caps = [
        "Browser.InternetExplorer",
        "Media.WindowsMediaPlayer",
        "Microsoft.Windows.WordPad",
        "OpenSSH.Client",
        "MathRecognizer",
        "Print.Fax.Scan",
        "App.StepsRecorder",
        "Language.Handwriting",
        "Hello.Face",
        "XPS.Viewer",
    ];
    let mut value = serde_json::to_value(ProfileConfig::default()).unwrap();
    let patch = json!({
        "user": {"nameMode": "custom", "customName": "Operator", "customNameSuffix": "random_digits",
                 "displayName": "Farm Operator", "password": "P@ssw0rd-€", "autoLogonCount": 3},
        "computerName": {"mode": "custom", "customName": "FARM"},
        "locale": {"uiLanguage": "de-DE", "timeZone": "W. Europe Standard Time", "geoLocation": 94,
                   "keyboardLayouts": [{"language": "0407", "layout": "00000407"},
                                       {"language": "0409", "layout": "00000409"}]},
        "softwareRemoval": {"mode": "fixed_random", "fixedPackages": ["Microsoft.Edge", "Microsoft.OneDrive"],
                            "randomPool": pool, "randomCount": {"min": 4, "max": 8},
                            "neverRemove": ["Microsoft.WindowsStore"]},
        "capabilityRemoval": {"mode": "fixed_random", "fixedCapabilities": ["WMIC"], "randomPool": caps},
        "visualEffects": {"mode": "custom_randomize",
                          "effects": {"fontSmoothing": true, "thumbnailPreviews": true, "animateMinMax": true}},
        "desktopIcons": {"mode": "custom_randomize", "icons": {"thisPC": true, "recycleBin": true},
                         "startFolders": {"documents": true, "downloads": true}},
        "customScript": {"delaySeconds": 30},
        "windowsSettings": {"enableRemoteDesktop": true},
    });
    merge(&mut value, &patch);
    botmox_proto::from_json(value).unwrap()
}

fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn software() -> Vec<ProvisionSoftware> {
    [
        ("winsible-setup", true),
        ("game-client", false),
        ("farm-helper", false),
    ]
    .into_iter()
    .map(|(module, runner)| ProvisionSoftware {
        module: module.into(),
        platform: "windows".into(),
        channel: "stable".into(),
        file: format!("{module}.exe"),
        args: None,
        runner,
    })
    .collect()
}

fn main() {
    let vms: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("VMS must be a number"))
        .unwrap_or(1000);
    let config = profile();
    let software = software();
    let url = Url::parse("https://botmox.example.net/").unwrap();
    let mut rng = rand::rngs::OsRng;

    let (mut total, mut steps, mut bytes) = (Vec::with_capacity(vms), [Duration::ZERO; 3], 0);
    let run = Instant::now();
    for n in 0..vms {
        let vm_uuid = format!("4c4c4544-0042-3510-8052-{n:012x}");
        let token = format!("eyJhbGciOiJIUzI1NiJ9.eyJ2bSI6IntufSJ9.{n:043}");
        let ip = IpConfig {
            address: format!("10.20.{}.{}", n / 250 % 256, 2 + n % 250),
            netmask: "255.255.0.0".into(),
            gateway: "10.20.0.1".into(),
            dns: vec!["10.20.0.1".into(), "1.1.1.1".into()],
        };

        let start = Instant::now();
        let resolved = resolve(&config, Some(n as u32 + 1), &mut rng).unwrap();
        let resolved_at = Instant::now();
        let files = files(&Payload {
            resolved: &resolved,
            provision: ProvisionInput {
                vm_uuid: &vm_uuid,
                ip: &ip,
                token: &token,
                api_endpoint: Some(&url),
                s3_endpoint: "",
                software: &software,
            },
            playbook: Some(PLAYBOOK),
        })
        .unwrap();
        let rendered_at = Instant::now();
        let image = iso::build(&files).unwrap();
        let end = Instant::now();

        steps[0] += resolved_at - start;
        steps[1] += rendered_at - resolved_at;
        steps[2] += end - rendered_at;
        total.push(end - start);
        bytes = image.len();
    }
    let elapsed = run.elapsed();

    total.sort_unstable();
    let at = |q: f64| total[((total.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = total.iter().sum::<Duration>() / vms as u32;
    println!("{vms} VMs, one thread, ISO of {bytes} bytes (5 files)");
    println!(
        "per VM: mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target < 20 ms)",
        ms(mean),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
    println!(
        "steps (mean): resolve {:.3} ms, files {:.3} ms, iso {:.3} ms",
        ms(steps[0] / vms as u32),
        ms(steps[1] / vms as u32),
        ms(steps[2] / vms as u32),
    );
    println!(
        "throughput: {:.0} VMs/s on one core",
        vms as f64 / elapsed.as_secs_f64()
    );
}
