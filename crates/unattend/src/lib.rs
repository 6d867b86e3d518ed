//! A VM's provisioning files, as pure functions: a profile plus per-VM values in, the bytes
//! of the config ISO's files out (spec provisioning §3-5, §8.2, §9). No I/O, no clock: the
//! caller supplies the randomness ([`resolve`] takes any `rand::Rng`, so tests seed it and
//! the server passes a cryptographic one), the token and the public URL.
//!
//! The ISO (see [`files`], and [`iso::build`] for the image itself) holds:
//!
//! | file | made by |
//! |---|---|
//! | `autounattend.xml` | [`autounattend_xml`]: the answer file Windows Setup reads from the CD |
//! | `setup.ps1` | [`settings_script`]: the profile's debloat and Windows settings |
//! | `provision.json` | [`provision_json`]: VM UUID, static IP, token, public URL, software |
//! | `START.ps1` | [`start_ps1`]: the bootstrap, the same for every VM |
//! | `playbook.yml` | the chosen playbook, only when there is one (check it with [`validate_playbook`]) |
//!
//! # What this fixes relative to the reference
//!
//! The reference's answer file did not work as written (spec §13). Here:
//!
//! - passwords are base64 of **UTF-16LE** `<password>Password`, as Windows decodes them
//!   (the reference used UTF-8, so the account's password and auto-logon were wrong);
//! - no first-logon command is over the 1 024-character limit: the settings script is a
//!   file on the ISO run with `-File`, not an inline `-Command` with nested double quotes;
//! - the first logon copies `START.ps1` (and `provision.json`, `setup.ps1`,
//!   `playbook.yml`) from the ISO to `C:\WindowsSetup`, and the reference's default
//!   `START.exe`, which never existed, means that `START.ps1`;
//! - the XML comes from a real writer (every value escaped), without a byte-order mark,
//!   with the unattend namespace, the `wcm` prefix and `processorArchitecture="amd64"` on
//!   every component;
//! - every option of the profile has an effect: `sequential` suffixes take the caller's
//!   number, `autoLogonCount: 0` turns auto-logon off, `delaySeconds: 0` starts at once,
//!   `deleteEdgeShortcut` holds in every desktop mode, legacy values are read;
//! - random subsets come from an unbiased partial Fisher-Yates shuffle, not a random sort
//!   comparator;
//! - `provision.json` needs the configured public URL ([`Error::NoPublicUrl`], a 400 for
//!   the server) instead of a silent `http://127.0.0.1:<port>` no VM can reach;
//! - `START.ps1` computes the prefix length from the netmask's leading one bits before it
//!   touches the adapter, retries with back-off, reports progress, fetches its software
//!   through a licence lease and checks its SHA-256.
//!
//! # What the server must provide
//!
//! `START.ps1` sends `POST /api/v1/license/lease` and `POST /api/v1/artifacts/resolve-download`
//! (bodies as spec api.md §11-12) with `Authorization: Bearer <provisioning token>`: the only
//! credential a VM holds. The server has to accept a provisioning token as a principal on
//! those two routes, acting for the token's user and only for the token's `vm_uuid`; until it
//! does, a VM with `software` in its `provision.json` reports `app_downloaded`/`failed`.
//! The server also chooses the `software` list (e.g. the playbook runner module).

use std::collections::BTreeMap;

use botmox_proto::FieldErrors;
use botmox_proto::provisioning::{IpConfig, ProvisionSoftware};
use serde::Serialize;
use url::Url;

pub mod iso;
mod playbook;
mod resolve;
mod script;
mod xml;

pub use playbook::{
    DEFAULT_RUNNER, KNOWN_ROLES, MAX_PLAYBOOK_CHARS, PlaybookIssue, PlaybookValidation,
    playbook_runner, validate_playbook,
};
pub use resolve::{
    DESKTOP_ICONS, Desktop, EFFECT_SLOTS, EffectSlot, Launcher, RegType, Resolved, START_FOLDERS,
    resolve,
};
pub use script::{ps_quote, settings_script};
pub use xml::{
    MAX_COMMAND_LINE, UNATTEND_NS, WCM_NS, autounattend_xml, encode_password, first_logon_commands,
};

/// Where the first logon puts the provisioning files in the guest.
pub const SETUP_DIR: &str = r"C:\WindowsSetup";
/// The settings script's file name on the ISO and in [`SETUP_DIR`].
pub const SETTINGS_SCRIPT: &str = "setup.ps1";
/// The bootstrap's file name.
pub const START_SCRIPT: &str = "START.ps1";
/// The answer file's name (Windows Setup looks for it at the root of removable media).
pub const ANSWER_FILE: &str = "autounattend.xml";
pub const PROVISION_FILE: &str = "provision.json";
pub const PLAYBOOK_FILE: &str = "playbook.yml";
/// `provision.json`'s informational `bootstrap_url`.
pub const BOOTSTRAP_URL: &str = "/provisioning/validate-token";

/// Why a payload cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The profile breaks its limits (the server answers 400 with these field errors).
    #[error("invalid profile: {0}")]
    Invalid(FieldErrors),
    /// A `sequential` user-name suffix without a sequence number from 1 to 9999.
    #[error(
        "the profile's user name takes a sequential suffix: give a sequence number from 1 to 9999"
    )]
    SequenceRequired,
    /// No public URL is configured, so the VM could not reach the server.
    #[error(
        "no public URL is configured: set the server's public URL, which provisioned VMs use to reach it"
    )]
    NoPublicUrl,
    /// The public URL is not `http` or `https` (or has a query or fragment).
    #[error("the public URL must be a plain http or https URL")]
    BadPublicUrl,
    /// The caller's random generator failed.
    #[error("random generator failed: {0}")]
    Rng(String),
    /// A software entry or the IP configuration breaks its limits.
    #[error("invalid provisioning input: {0}")]
    InvalidInput(FieldErrors),
}

/// What `provision.json` says of one VM.
#[derive(Debug, Clone, Copy)]
pub struct ProvisionInput<'a> {
    /// The VM's SMBIOS UUID, as the token binds it.
    pub vm_uuid: &'a str,
    pub ip: &'a IpConfig,
    /// The provisioning token.
    pub token: &'a str,
    /// The server's configured public URL; `None` is [`Error::NoPublicUrl`].
    pub api_endpoint: Option<&'a Url>,
    /// The object store's endpoint, `""` when there is none.
    pub s3_endpoint: &'a str,
    /// What `START.ps1` leases and downloads, in order.
    pub software: &'a [ProvisionSoftware],
}

#[derive(Serialize)]
struct ProvisionJson<'a> {
    version: u32,
    vm_uuid: &'a str,
    ip: &'a IpConfig,
    token: &'a str,
    s3_endpoint: &'a str,
    api_endpoint: &'a str,
    bootstrap_url: &'a str,
    software: &'a [ProvisionSoftware],
}

/// `provision.json` (spec §5), pretty-printed with two-space indents, plus the `software`
/// list `START.ps1` fetches. `api_endpoint` is the public URL without a trailing `/`.
pub fn provision_json(input: &ProvisionInput<'_>) -> Result<String, Error> {
    let url = input.api_endpoint.ok_or(Error::NoPublicUrl)?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(Error::BadPublicUrl);
    }
    use botmox_proto::Validate;
    let mut problems = FieldErrors::new();
    if let Err(e) = input.ip.validate() {
        problems.merge_under("ip", e);
    }
    for (i, s) in input.software.iter().enumerate() {
        if let Err(e) = s.validate() {
            problems.merge_under(&format!("software[{i}]"), e);
        }
    }
    if !problems.is_empty() {
        return Err(Error::InvalidInput(problems));
    }
    let json = ProvisionJson {
        version: 1,
        vm_uuid: input.vm_uuid,
        ip: input.ip,
        token: input.token,
        s3_endpoint: input.s3_endpoint,
        api_endpoint: url.as_str().trim_end_matches('/'),
        bootstrap_url: BOOTSTRAP_URL,
        software: input.software,
    };
    let mut out = serde_json::to_string_pretty(&json).expect("plain data serialises");
    out.push('\n');
    Ok(out)
}

/// The bootstrap script, the same for every VM (spec §9, §12): finds `provision.json`,
/// applies the static IP, validates its token, reports progress, leases and downloads its
/// software with retries and a SHA-256 check, runs the playbook step, reports completion.
pub fn start_ps1() -> &'static str {
    include_str!("START.ps1")
}

/// Everything one VM's ISO needs.
#[derive(Debug, Clone, Copy)]
pub struct Payload<'a> {
    pub resolved: &'a Resolved,
    pub provision: ProvisionInput<'a>,
    /// The playbook's YAML, `None` for no playbook (then there is no `playbook.yml`).
    pub playbook: Option<&'a str>,
}

/// The files a profile alone decides for one VM: `autounattend.xml` (copying the ISO's
/// files, `playbook.yml` among them when `with_playbook`) and `setup.ps1`. The profile
/// editor previews these; [`files`] adds the per-VM rest.
pub fn answer_files(resolved: &Resolved, with_playbook: bool) -> BTreeMap<String, Vec<u8>> {
    let mut copied = vec![PROVISION_FILE, START_SCRIPT, SETTINGS_SCRIPT];
    if with_playbook {
        copied.push(PLAYBOOK_FILE);
    }
    let mut out = BTreeMap::new();
    out.insert(
        ANSWER_FILE.to_owned(),
        autounattend_xml(resolved, &copied).into_bytes(),
    );
    out.insert(
        SETTINGS_SCRIPT.to_owned(),
        settings_script(resolved).into_bytes(),
    );
    out
}

/// Every file of the config ISO, by name (`[A-Za-z0-9._-]`).
pub fn files(payload: &Payload<'_>) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let provision = provision_json(&payload.provision)?;
    let mut out = answer_files(payload.resolved, payload.playbook.is_some());
    out.insert(PROVISION_FILE.to_owned(), provision.into_bytes());
    out.insert(START_SCRIPT.to_owned(), start_ps1().as_bytes().to_vec());
    if let Some(playbook) = payload.playbook {
        out.insert(PLAYBOOK_FILE.to_owned(), playbook.as_bytes().to_vec());
    }
    Ok(out)
}
