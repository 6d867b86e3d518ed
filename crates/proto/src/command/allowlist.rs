//! What `proxmox.ssh-exec` may run: a few fixed command templates, parsed into typed commands
//! with validated arguments, and rendered back as fixed words with each word quoted. Nothing
//! of the request is passed through as text, so `;`, `$()` and friends have nowhere to go
//! (the reference matched regular expressions over a shell string and offered
//! `allowUnsafe`). Part of the contract: a dispatch of anything else is refused at once (400),
//! and the agent runs only what parses here.

/// `qm` power and status actions.
const QM_ACTIONS: &[&str] = &[
    "status", "start", "stop", "shutdown", "reset", "suspend", "resume",
];

/// One allowed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// `qm <action> <vmid>`
    Qm { action: &'static str, vmid: u32 },
    /// `qm sendkey <vmid> <key>`
    SendKey { vmid: u32, key: String },
    /// `cat /etc/pve/qemu-server/<vmid>.conf` (the configured config directory).
    CatConfig { vmid: u32 },
    /// `pvesh get /nodes/<node>/qemu`
    NodeVms { node: String },
    /// `pvesh get /cluster/resources`
    ClusterResources,
}

/// Why a command line is not allowed, in words (the allowed forms listed).
fn forbidden(command: &str) -> String {
    let shown: String = command.chars().take(200).collect();
    format!(
        "'{shown}' is not an allowed command (allowed: qm status|start|stop|shutdown|reset|suspend|resume <vmid>, \
         qm sendkey <vmid> <key>, cat /etc/pve/qemu-server/<vmid>.conf, pvesh get /nodes/<node>/qemu, \
         pvesh get /cluster/resources)"
    )
}

/// A VM id: 1 to 9 digits, no leading zero.
pub fn parse_vmid(s: &str) -> Option<u32> {
    let ok =
        (1..=9).contains(&s.len()) && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

fn is_key(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'))
}

fn is_node(s: &str) -> bool {
    let mut bytes = s.bytes();
    (1..=63).contains(&s.len())
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
}

/// Read a requested command line (trimmed, words case-insensitive, whole line).
pub fn parse(command: &str) -> Result<Allowed, String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let parsed = match lower.as_slice() {
        ["qm", "sendkey", vmid, _] => parse_vmid(vmid).and_then(|vmid| {
            let key = words[3];
            is_key(key).then(|| Allowed::SendKey {
                vmid,
                key: key.to_owned(),
            })
        }),
        ["qm", action, vmid] => QM_ACTIONS
            .iter()
            .find(|a| *a == action)
            .zip(parse_vmid(vmid))
            .map(|(action, vmid)| Allowed::Qm { action, vmid }),
        ["cat", path] => path
            .strip_prefix("/etc/pve/qemu-server/")
            .and_then(|file| file.strip_suffix(".conf"))
            .and_then(parse_vmid)
            .map(|vmid| Allowed::CatConfig { vmid }),
        ["pvesh", "get", _] => {
            let path = words[2].strip_suffix('/').unwrap_or(words[2]);
            if path.eq_ignore_ascii_case("/cluster/resources") {
                Some(Allowed::ClusterResources)
            } else {
                path.strip_prefix("/nodes/")
                    .and_then(|rest| rest.strip_suffix("/qemu"))
                    .filter(|node| is_node(node))
                    .map(|node| Allowed::NodeVms {
                        node: node.to_owned(),
                    })
            }
        }
        _ => None,
    };
    parsed.ok_or_else(|| forbidden(command))
}

impl Allowed {
    /// The command's words; VM config files are read from `config_dir`.
    pub fn argv(&self, config_dir: &str) -> Vec<String> {
        match self {
            Self::Qm { action, vmid } => vec!["qm".into(), (*action).into(), vmid.to_string()],
            Self::SendKey { vmid, key } => {
                vec!["qm".into(), "sendkey".into(), vmid.to_string(), key.clone()]
            }
            Self::CatConfig { vmid } => vec!["cat".into(), config_file(config_dir, *vmid)],
            Self::NodeVms { node } => {
                vec!["pvesh".into(), "get".into(), format!("/nodes/{node}/qemu")]
            }
            Self::ClusterResources => {
                vec!["pvesh".into(), "get".into(), "/cluster/resources".into()]
            }
        }
    }
}

/// `<config_dir>/<vmid>.conf`
pub fn config_file(config_dir: &str, vmid: u32) -> String {
    format!("{}/{vmid}.conf", config_dir.trim_end_matches('/'))
}

/// One word for a POSIX shell: single-quoted, embedded quotes closed and escaped. SSH hands
/// the remote side a command line, not an argument vector, so this is how fixed words stay
/// words.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The command line of `argv`, every word quoted.
pub fn command_line(argv: &[String]) -> String {
    argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "/etc/pve/qemu-server";

    fn line(command: &str) -> String {
        command_line(&parse(command).unwrap().argv(DIR))
    }

    #[test]
    fn the_templates_are_allowed_and_rendered_as_fixed_words() {
        assert_eq!(line("qm status 101"), "'qm' 'status' '101'");
        assert_eq!(line("  QM Start 101  "), "'qm' 'start' '101'");
        assert_eq!(
            line("qm sendkey 101 ctrl-alt-delete"),
            "'qm' 'sendkey' '101' 'ctrl-alt-delete'"
        );
        assert_eq!(line("qm sendkey 7 A"), "'qm' 'sendkey' '7' 'A'");
        assert_eq!(
            line("cat /etc/pve/qemu-server/101.conf"),
            "'cat' '/etc/pve/qemu-server/101.conf'"
        );
        assert_eq!(
            line("pvesh get /nodes/pve-1.lan/qemu/"),
            "'pvesh' 'get' '/nodes/pve-1.lan/qemu'"
        );
        assert_eq!(
            line("PVESH GET /cluster/resources"),
            "'pvesh' 'get' '/cluster/resources'"
        );
        for action in QM_ACTIONS {
            assert!(parse(&format!("qm {action} 100")).is_ok(), "{action}");
        }
        assert_eq!(
            command_line(
                &parse("cat /etc/pve/qemu-server/5.conf")
                    .unwrap()
                    .argv("/tmp/t-1/")
            ),
            "'cat' '/tmp/t-1/5.conf'"
        );
    }

    #[test]
    fn everything_else_is_forbidden() {
        for bad in [
            "",
            "   ",
            "qm destroy 101",
            "qm status 101; rm -rf /",
            "qm status 101 && id",
            "qm status $(id)",
            "qm status 0101",
            "qm status 1234567890",
            "qm status -1",
            "qm sendkey 101 a;b",
            "qm sendkey 101 $(reboot)",
            "qm sendkey 101",
            "cat /etc/passwd",
            "cat /etc/pve/qemu-server/../../shadow.conf",
            "cat /etc/pve/qemu-server/101.conf /etc/shadow",
            "pvesh get /nodes/h1;id/qemu",
            "pvesh get /nodes/h1/qemu/101/config",
            "pvesh get /nodes/-h/qemu",
            "pvesh set /cluster/resources",
            "bash -c 'qm status 101'",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("is not an allowed command"), "{bad}: {e}");
        }
    }

    #[test]
    fn quoting_keeps_words_whole() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(id);`x`"), "'$(id);`x`'");
    }
}
