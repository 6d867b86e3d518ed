//! Request bodies several test files need in the same valid shape.

use serde_json::{Value, json};

/// A complete unattend profile config (every section the server requires), with the
/// Windows user's password when given.
pub fn unattend_profile(password: Option<&str>) -> Value {
    let mut c = json!({
        "user": {"nameMode": "custom", "customName": "Operator"},
        "computerName": {"mode": "fixed"},
        "locale": {"uiLanguage": "en-US", "keyboardLayouts": [{"language": "0409", "layout": "00000409"}]},
        "softwareRemoval": {"mode": "fixed", "fixedPackages": ["Microsoft.BingNews"]},
        "capabilityRemoval": {"mode": "fixed"},
        "windowsSettings": {},
        "visualEffects": {"mode": "performance"},
        "desktopIcons": {"mode": "default"},
        "xmlTemplate": "<unattend/>",
    });
    if let Some(p) = password {
        c["user"]["password"] = json!(p);
    }
    c
}
