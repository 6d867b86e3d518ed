//! Playbook content check (spec provisioning §8.2). YAML is read with `serde_norway`, the
//! maintained fork of the deprecated `serde_yaml` (libyaml-based, with limits on recursion
//! and alias expansion).

pub use botmox_proto::provisioning::{PlaybookIssue, PlaybookValidation};
use serde_norway::Value;

/// Roles the runner knows; any other only warns.
pub const KNOWN_ROLES: [&str; 9] = [
    "base-system",
    "privacy-debloat",
    "network-config",
    "common-apps",
    "personalization",
    "nvidia-driver",
    "syncthing",
    "proxifier",
    "post-reboot",
];
/// Longest playbook, in characters.
pub use botmox_proto::provisioning::MAX_PLAYBOOK_CHARS;

struct Check {
    errors: Vec<PlaybookIssue>,
    warnings: Vec<PlaybookIssue>,
}

impl Check {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PlaybookIssue {
            path: Some(path.into()),
            message: message.into(),
        });
    }

    fn non_empty_string(&mut self, path: &str, value: Option<&Value>, required: bool) {
        match value {
            None | Some(Value::Null) if !required => {}
            None | Some(Value::Null) => self.error(path, "is required"),
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(_) => self.error(path, "must be a non-empty string"),
        }
    }

    fn optional_mapping(&mut self, path: &str, value: Option<&Value>) {
        if let Some(v) = value
            && !matches!(v, Value::Mapping(_) | Value::Null)
        {
            self.error(path, "must be a mapping");
        }
    }
}

fn report(
    errors: Vec<PlaybookIssue>,
    warnings: Vec<PlaybookIssue>,
    parsed: Option<serde_json::Value>,
) -> PlaybookValidation {
    PlaybookValidation {
        valid: errors.is_empty(),
        errors,
        warnings,
        parsed,
    }
}

/// Check a playbook's YAML: parse errors and schema problems are errors (with dotted
/// paths), a role outside [`KNOWN_ROLES`] is a warning.
pub fn validate_playbook(content: &str) -> PlaybookValidation {
    let form = |message: String| PlaybookIssue {
        path: None,
        message,
    };
    if content.trim().is_empty() {
        return report(vec![form("playbook is empty".into())], Vec::new(), None);
    }
    if content.chars().count() > MAX_PLAYBOOK_CHARS {
        return report(
            vec![form(format!(
                "playbook must be at most {MAX_PLAYBOOK_CHARS} characters"
            ))],
            Vec::new(),
            None,
        );
    }
    let doc: Value = match serde_norway::from_str(content) {
        Ok(doc) => doc,
        Err(e) => {
            return report(
                vec![form(format!("YAML parse error: {e}"))],
                Vec::new(),
                None,
            );
        }
    };
    let Value::Mapping(map) = &doc else {
        return report(
            vec![form("playbook must be a YAML mapping".into())],
            Vec::new(),
            None,
        );
    };
    let mut c = Check {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    c.non_empty_string("name", map.get("name"), true);
    c.non_empty_string("runner", map.get("runner"), false);
    c.optional_mapping("vars", map.get("vars"));
    c.optional_mapping("notifications", map.get("notifications"));
    match map.get("pre_checks") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Value::Mapping(m) = item {
                    c.non_empty_string(&format!("pre_checks.{i}.name"), m.get("name"), true);
                    c.non_empty_string(&format!("pre_checks.{i}.check"), m.get("check"), true);
                } else {
                    c.error(
                        format!("pre_checks.{i}"),
                        "must be a mapping with name and check",
                    );
                }
            }
        }
        Some(_) => c.error("pre_checks", "must be a list"),
    }
    match map.get("roles") {
        None | Some(Value::Null) => c.error("roles", "is required"),
        Some(Value::Sequence(items)) if items.is_empty() => {
            c.error("roles", "must have at least one role")
        }
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Mapping(m) = item else {
                    c.error(format!("roles.{i}"), "must be a mapping with a role");
                    continue;
                };
                c.non_empty_string(&format!("roles.{i}.role"), m.get("role"), true);
                if let Some(Value::String(role)) = m.get("role")
                    && !role.trim().is_empty()
                    && !KNOWN_ROLES.contains(&role.as_str())
                {
                    c.warnings.push(PlaybookIssue {
                        path: Some(format!("roles.{i}.role")),
                        message: format!(
                            "Unknown role \"{role}\" (known: {})",
                            KNOWN_ROLES.join(", ")
                        ),
                    });
                }
                if let Some(when) = m.get("when")
                    && !matches!(when, Value::String(_) | Value::Null)
                {
                    c.error(format!("roles.{i}.when"), "must be a string");
                }
                match m.get("tags") {
                    None | Some(Value::Null) => {}
                    Some(Value::Sequence(tags)) => {
                        for (j, tag) in tags.iter().enumerate() {
                            c.non_empty_string(&format!("roles.{i}.tags.{j}"), Some(tag), true);
                        }
                    }
                    Some(_) => c.error(format!("roles.{i}.tags"), "must be a list of strings"),
                }
                c.optional_mapping(&format!("roles.{i}.vars"), m.get("vars"));
            }
        }
        Some(_) => c.error("roles", "must be a list"),
    }
    let parsed = serde_json::to_value(&doc).ok();
    report(c.errors, c.warnings, parsed)
}

/// The module that runs a playbook when its YAML names none.
pub const DEFAULT_RUNNER: &str = "runner";

/// The artifact module that runs `content` on the VM: its top-level `runner`, else
/// [`DEFAULT_RUNNER`].
pub fn playbook_runner(content: &str) -> String {
    serde_norway::from_str::<Value>(content)
        .ok()
        .and_then(|doc| doc.get("runner")?.as_str().map(|r| r.trim().to_owned()))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| DEFAULT_RUNNER.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_is_named_or_the_default() {
        assert_eq!(playbook_runner(STANDARD), DEFAULT_RUNNER);
        let named = "name: x\nrunner: \" winsible \"\nroles:\n  - role: base-system\n";
        assert_eq!(playbook_runner(named), "winsible");
        assert!(validate_playbook(named).valid);
        let bad = "name: x\nrunner: [1]\nroles:\n  - role: base-system\n";
        let report = validate_playbook(bad);
        assert!(!report.valid);
        assert_eq!(report.errors[0].path.as_deref(), Some("runner"));
    }

    const STANDARD: &str = r#"
name: Bot-Mox Standard Provisioning
vars:
  vm_user: User
  power_plan: high_performance
pre_checks:
  - name: Check internet
    check: "Test-Connection 8.8.8.8 -Count 1 -Quiet"
roles:
  - role: base-system
    tags: [system]
    vars: {disable_defender: true, disable_windows_update: true}
  - role: common-apps
    tags: [apps]
    vars:
      apps:
        - {name: Chrome, file: APP_Chrome.exe, args: /silent /install}
  - role: nvidia-driver
    tags: [drivers]
    when: "facts.gpu.vendor == 'NVIDIA'"
  - role: post-reboot
    tags: [final]
"#;

    #[test]
    fn the_standard_playbook_is_valid() {
        let r = validate_playbook(STANDARD);
        assert!(r.valid, "{r:?}");
        assert!(r.warnings.is_empty());
        assert_eq!(r.parsed.unwrap()["roles"][0]["role"], "base-system");
    }

    #[test]
    fn problems_have_dotted_paths_and_unknown_roles_warn() {
        let r = validate_playbook(
            "name: ''\npre_checks: [{name: x}]\nroles:\n  - role: mystery\n    tags: ['', 3]\n    vars: [1]\n  - 5\nvars: 3\n",
        );
        assert!(!r.valid);
        let paths: Vec<&str> = r.errors.iter().filter_map(|e| e.path.as_deref()).collect();
        assert_eq!(
            paths,
            [
                "name",
                "vars",
                "pre_checks.0.check",
                "roles.0.tags.0",
                "roles.0.tags.1",
                "roles.0.vars",
                "roles.1"
            ]
        );
        assert_eq!(r.warnings.len(), 1);
        assert!(
            r.warnings[0]
                .message
                .starts_with("Unknown role \"mystery\"")
        );
    }

    #[test]
    fn bad_documents_are_form_errors() {
        for (content, start) in [
            ("name: [", "YAML parse error"),
            ("- a\n- b\n", "playbook must be a YAML mapping"),
            ("  ", "playbook is empty"),
        ] {
            let r = validate_playbook(content);
            assert!(!r.valid && r.errors[0].path.is_none(), "{content}");
            assert!(r.errors[0].message.starts_with(start), "{r:?}");
        }
        let r = validate_playbook("name: x\nroles: []\n");
        assert_eq!(r.errors[0].path.as_deref(), Some("roles"));
        let huge = format!(
            "name: x\nroles: [{{role: a}}]\n#{}",
            "x".repeat(MAX_PLAYBOOK_CHARS)
        );
        assert!(!validate_playbook(&huge).valid);
    }
}
