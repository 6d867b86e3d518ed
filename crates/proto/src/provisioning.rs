//! Unattend profiles and the per-VM provisioning payload (spec provisioning §2, §5, §7.2), as
//! they go over the wire.
//!
//! [`ProfileConfig`] is the profile's `config` object with the reference's camelCase names.
//! Unknown keys are kept (each section and the top level carry a flattened map), every field
//! that may be left out has the default of §2.2/§2.3, and the legacy values the reference
//! still accepts are read: `mixed` (= `fixed_random`), the visual-effect modes `balanced`
//! and `random`, the flat desktop icons `recycleBin`/`thisPC` and the flat effects
//! `cursorShadow`/`fontSmoothing`.
//!
//! Where the reference's semantics surprised its users, these types say what a field means
//! (see each field): `autoLogonCount: 0` turns auto-logon off, `delaySeconds: 0` starts the
//! bootstrap at once, the legacy default executable `START.exe` is the shipped `START.ps1`,
//! the `sequential` user-name suffix takes a number the caller gives, and `randomCount`
//! with `min > max` is a 400 instead of a crash.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::validate::{FieldErrors, Validate};

/// Longest free text of a profile (names, passwords, time-zone ids).
const TEXT_CHARS: usize = 200;
/// Most entries of one package or capability list.
const MAX_LIST: usize = 500;
/// Most keyboard layouts (Windows keeps at most five input methods in an answer file).
const MAX_LAYOUTS: usize = 5;
/// Longest Windows local user name (SAM account name).
const MAX_USER_NAME: usize = 20;
/// Most digits a user-name suffix adds (`random_digits` 2..4, `sequential` up to 9999).
const SUFFIX_DIGITS: usize = 4;
/// Largest `sequential` suffix.
pub const MAX_SEQUENCE: u32 = 9999;
/// Longest `customScript.delaySeconds`.
pub const MAX_DELAY_SECONDS: u32 = 600;
/// The bootstrap script every ISO carries.
pub const BOOTSTRAP_SCRIPT: &str = "START.ps1";
/// The reference's default executable, which never existed on its ISO; read as [`BOOTSTRAP_SCRIPT`].
pub const LEGACY_BOOTSTRAP_EXE: &str = "START.exe";

fn is_false(b: &bool) -> bool {
    !*b
}

macro_rules! default_fn {
    ($name:ident, $ty:ty, $value:expr) => {
        fn $name() -> $ty {
            $value
        }
    };
}

default_fn!(yes, bool, true);
default_fn!(default_password, String, "1204".to_owned());
default_fn!(default_auto_logon, u32, 9_999_999);
default_fn!(default_ui_language, String, "en-US".to_owned());
default_fn!(default_time_zone, String, "Turkey Standard Time".to_owned());
default_fn!(default_geo, u32, DEFAULT_GEO_ID);
default_fn!(default_delay, u32, 20);
default_fn!(default_executable, String, BOOTSTRAP_SCRIPT.to_owned());
default_fn!(default_netmask, String, "255.255.255.0".to_owned());
default_fn!(default_dns, Vec<String>, vec!["8.8.8.8".to_owned()]);

/// GeoID of Turkey in Microsoft's table (the reference's UI mislabels it "Tunisia").
pub const DEFAULT_GEO_ID: u32 = 235;

/// How a name (user or computer) is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NameMode {
    /// A new random name per VM.
    #[default]
    Random,
    /// The fixed name `User` / `WIN-PC`.
    Fixed,
    /// `customName` (random when it is empty).
    Custom,
}

wire_words!(
    NameMode,
    "name mode",
    [Random = "random", Fixed = "fixed", Custom = "custom"]
);

/// What follows a custom user name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NameSuffix {
    #[default]
    None,
    /// 2 to 4 random digits.
    RandomDigits,
    /// The caller's sequence number (1 to 9999, at least two digits: `Bot01`); generating
    /// without one is refused.
    Sequential,
}

wire_words!(
    NameSuffix,
    "name suffix",
    [
        None = "none",
        RandomDigits = "random_digits",
        Sequential = "sequential"
    ]
);

/// Local group of the account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum UserGroup {
    #[default]
    Administrators,
    Users,
}

wire_words!(
    UserGroup,
    "group",
    [Administrators = "Administrators", Users = "Users"]
);

/// How a removal list is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemovalMode {
    /// The fixed list.
    #[default]
    Fixed,
    /// A random subset of the pool.
    Random,
    /// The fixed list plus a random subset of the rest of the pool (legacy name `mixed`).
    #[serde(alias = "mixed")]
    FixedRandom,
}

wire_words!(
    RemovalMode,
    "removal mode",
    [
        Fixed = "fixed",
        Random = "random",
        FixedRandom = "fixed_random"
    ]
);

/// Visual-effect mode (spec §4.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VisualMode {
    /// Windows' own choice: nothing is written. Legacy `balanced` means this (as the
    /// reference's UI migrates it).
    #[serde(alias = "balanced")]
    Default,
    /// Every effect on.
    Appearance,
    /// Every effect off.
    #[default]
    Performance,
    /// `effects[key]`, off when absent.
    Custom,
    /// `effects[key]`, a coin flip per VM when absent. Legacy `random` means this.
    #[serde(alias = "random")]
    CustomRandomize,
}

wire_words!(
    VisualMode,
    "visual-effects mode",
    [
        Default = "default",
        Appearance = "appearance",
        Performance = "performance",
        Custom = "custom",
        CustomRandomize = "custom_randomize"
    ]
);

/// Desktop-icon mode (spec §4.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DesktopMode {
    /// Windows' icons and Start folders are left alone.
    #[default]
    Default,
    /// `icons[key]`, hidden when absent.
    Custom,
    /// `icons[key]`, a coin flip per VM when absent.
    CustomRandomize,
}

wire_words!(
    DesktopMode,
    "desktop-icons mode",
    [
        Default = "default",
        Custom = "custom",
        CustomRandomize = "custom_randomize"
    ]
);

/// `user`: the local account Windows Setup creates and logs on with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserConfig {
    pub name_mode: NameMode,
    /// Used in `custom` mode: at most 20 characters with its suffix, none of `"/\[]:;|=,+*?<>@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_name: Option<String>,
    #[serde(default)]
    pub custom_name_suffix: NameSuffix,
    /// Falls back to the resolved user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default = "default_password")]
    pub password: String,
    #[serde(default)]
    pub group: UserGroup,
    /// How many times Windows logs on by itself. `0` turns auto-logon off (the first-logon
    /// commands then run when someone logs on); the reference replaced 0 by 9 999 999.
    #[serde(default = "default_auto_logon")]
    pub auto_logon_count: u32,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// `computerName`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComputerNameConfig {
    pub mode: NameMode,
    /// Used in `custom` mode: a NetBIOS name of 1 to 15 letters, digits and `-`, not all digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_name: Option<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// One keyboard layout: a LANGID (`0409`) and a KLID (`00000409`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyboardLayout {
    pub language: String,
    pub layout: String,
}

/// `locale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocaleConfig {
    /// Also the system and user locale.
    #[serde(default = "default_ui_language")]
    pub ui_language: String,
    /// The preferred form; wins over `inputLocales`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyboard_layouts: Vec<KeyboardLayout>,
    /// Legacy form, `0409:00000409`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_locales: Vec<String>,
    #[serde(default = "default_time_zone")]
    #[schema(max_length = 100, pattern = "\\S")]
    pub time_zone: String,
    /// Microsoft GeoID; `0` means the default (235).
    #[serde(default = "default_geo")]
    pub geo_location: u32,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl Default for LocaleConfig {
    fn default() -> Self {
        Self {
            ui_language: default_ui_language(),
            keyboard_layouts: vec![KeyboardLayout {
                language: "0409".into(),
                layout: "00000409".into(),
            }],
            input_locales: Vec::new(),
            time_zone: default_time_zone(),
            geo_location: DEFAULT_GEO_ID,
            extra: Map::new(),
        }
    }
}

/// How many random picks (inclusive bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RandomCount {
    pub min: u32,
    pub max: u32,
}

impl Default for RandomCount {
    fn default() -> Self {
        Self { min: 5, max: 15 }
    }
}

/// `softwareRemoval`: provisioned and installed Appx packages to remove.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareRemoval {
    pub mode: RemovalMode,
    #[serde(default)]
    pub fixed_packages: Vec<String>,
    #[serde(default)]
    pub random_pool: Vec<String>,
    /// Dropped from the final list whatever the mode.
    #[serde(default)]
    pub never_remove: Vec<String>,
    #[serde(default)]
    pub random_count: RandomCount,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// `capabilityRemoval`: Windows capabilities to remove (random picks 3 to 10).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityRemoval {
    pub mode: RemovalMode,
    #[serde(default)]
    pub fixed_capabilities: Vec<String>,
    #[serde(default)]
    pub random_pool: Vec<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// `windowsSettings` (spec §4.4): each `true` toggle adds its commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowsSettings {
    #[serde(default = "yes")]
    pub disable_defender: bool,
    #[serde(default = "yes")]
    pub disable_windows_update: bool,
    #[serde(default = "yes")]
    pub disable_uac: bool,
    #[serde(default = "yes")]
    pub disable_smart_screen: bool,
    #[serde(default = "yes")]
    pub disable_system_restore: bool,
    #[serde(default = "yes")]
    pub enable_long_paths: bool,
    #[serde(default = "yes")]
    pub allow_power_shell_scripts: bool,
    #[serde(default = "yes")]
    pub disable_widgets: bool,
    #[serde(default = "yes")]
    pub disable_edge_startup: bool,
    #[serde(default = "yes")]
    pub prevent_device_encryption: bool,
    #[serde(default = "yes")]
    pub disable_sticky_keys: bool,
    #[serde(default)]
    pub enable_remote_desktop: bool,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl Default for WindowsSettings {
    /// Every toggle on except `enableRemoteDesktop`.
    fn default() -> Self {
        Self {
            disable_defender: true,
            disable_windows_update: true,
            disable_uac: true,
            disable_smart_screen: true,
            disable_system_restore: true,
            enable_long_paths: true,
            allow_power_shell_scripts: true,
            disable_widgets: true,
            disable_edge_startup: true,
            prevent_device_encryption: true,
            disable_sticky_keys: true,
            enable_remote_desktop: false,
            extra: Map::new(),
        }
    }
}

/// `visualEffects` (spec §4.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisualEffects {
    #[serde(default)]
    pub mode: VisualMode,
    /// Effect key -> on.
    #[serde(default)]
    pub effects: BTreeMap<String, bool>,
    /// Legacy flat form of `effects.cursorShadow` (`effects` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_shadow: Option<bool>,
    /// Legacy flat form of `effects.fontSmoothing` (`effects` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_smoothing: Option<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl VisualEffects {
    /// The effect `key` as set, reading the legacy flat fields too.
    pub fn effect(&self, key: &str) -> Option<bool> {
        self.effects.get(key).copied().or(match key {
            "cursorShadow" => self.cursor_shadow,
            "fontSmoothing" => self.font_smoothing,
            _ => None,
        })
    }
}

/// `desktopIcons` (spec §4.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesktopIcons {
    /// Absent: `default`, or `custom` when the legacy flat `recycleBin`/`thisPC` are given
    /// (as the reference's UI migrates them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DesktopMode>,
    /// `thisPC`, `recycleBin`, `userFiles`, `controlPanel`, `network` -> shown.
    #[serde(default)]
    pub icons: BTreeMap<String, bool>,
    /// Start-menu folder key -> shown; only the keys given are written.
    #[serde(default)]
    pub start_folders: BTreeMap<String, bool>,
    /// Delete the Edge shortcuts from the desktops, in every mode (the reference ignored it
    /// in `default` mode).
    #[serde(default = "yes")]
    pub delete_edge_shortcut: bool,
    /// Legacy flat form of `icons.recycleBin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recycle_bin: Option<bool>,
    /// Legacy flat form of `icons.thisPC`.
    #[serde(default, rename = "thisPC", skip_serializing_if = "Option::is_none")]
    pub this_pc: Option<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl Default for DesktopIcons {
    fn default() -> Self {
        Self {
            mode: None,
            icons: BTreeMap::new(),
            start_folders: BTreeMap::new(),
            delete_edge_shortcut: true,
            recycle_bin: None,
            this_pc: None,
            extra: Map::new(),
        }
    }
}

impl DesktopIcons {
    /// The mode in force (see [`DesktopIcons::mode`]).
    pub fn effective_mode(&self) -> DesktopMode {
        self.mode
            .unwrap_or(if self.recycle_bin.is_some() || self.this_pc.is_some() {
                DesktopMode::Custom
            } else {
                DesktopMode::Default
            })
    }

    /// The icon `key` as set, reading the legacy flat fields too.
    pub fn icon(&self, key: &str) -> Option<bool> {
        self.icons.get(key).copied().or(match key {
            "recycleBin" => self.recycle_bin,
            "thisPC" => self.this_pc,
            _ => None,
        })
    }
}

/// `customScript`: what the first logon starts after the settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomScript {
    /// A file name under `C:\WindowsSetup\` (`[A-Za-z0-9._-]`): a `.ps1` runs in PowerShell,
    /// anything else is started as a program. The default, and the reference's `START.exe`
    /// (which its ISO never had), mean the shipped `START.ps1`.
    #[serde(default = "default_executable")]
    pub executable: String,
    /// Seconds to wait before starting it, 0 to 600 (0: at once).
    #[serde(default = "default_delay")]
    pub delay_seconds: u32,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl Default for CustomScript {
    fn default() -> Self {
        Self {
            executable: default_executable(),
            delay_seconds: default_delay(),
            extra: Map::new(),
        }
    }
}

impl CustomScript {
    /// The file to start: the legacy `START.exe` is read as `START.ps1`.
    pub fn effective_executable(&self) -> &str {
        if self.executable.eq_ignore_ascii_case(LEGACY_BOOTSTRAP_EXE) {
            BOOTSTRAP_SCRIPT
        } else {
            &self.executable
        }
    }
}

/// An unattend profile's `config` (spec §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileConfig {
    pub user: UserConfig,
    pub computer_name: ComputerNameConfig,
    pub locale: LocaleConfig,
    pub software_removal: SoftwareRemoval,
    pub capability_removal: CapabilityRemoval,
    pub windows_settings: WindowsSettings,
    pub visual_effects: VisualEffects,
    pub desktop_icons: DesktopIcons,
    /// Absent: `START.ps1` after 20 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_script: Option<CustomScript>,
    /// Keys this version does not know (the UI's `xmlTemplate`), kept as they are.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl Default for ProfileConfig {
    /// The profile a new user gets (spec §2.3).
    fn default() -> Self {
        Self {
            user: UserConfig {
                name_mode: NameMode::Random,
                custom_name: None,
                custom_name_suffix: NameSuffix::None,
                display_name: None,
                password: default_password(),
                group: UserGroup::Administrators,
                auto_logon_count: default_auto_logon(),
                extra: Map::new(),
            },
            computer_name: ComputerNameConfig {
                mode: NameMode::Random,
                custom_name: None,
                extra: Map::new(),
            },
            locale: LocaleConfig::default(),
            software_removal: SoftwareRemoval::default(),
            capability_removal: CapabilityRemoval::default(),
            windows_settings: WindowsSettings::default(),
            visual_effects: VisualEffects::default(),
            desktop_icons: DesktopIcons::default(),
            custom_script: Some(CustomScript::default()),
            extra: Map::new(),
        }
    }
}

/// A control character, or one XML 1.0 cannot carry (U+FFFE, U+FFFF): never in names that
/// go into the answer file.
fn not_xml_text(c: char) -> bool {
    c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

/// Characters Windows refuses in a local user name.
const USER_NAME_FORBIDDEN: &str = "\"/\\[]:;|=,+*?<>@";

/// Whether `name` is a computer name Windows Setup takes: 1 to 15 ASCII letters, digits and
/// `-`, not all digits, not starting or ending with `-`. `Err` says why not.
pub fn check_computer_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err("must be 1 to 15 characters".into());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("must hold only letters, digits and '-'".into());
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must not be all digits".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    Ok(())
}

/// Whether `name` is a Windows local user name of at most `max` characters.
fn check_user_name(name: &str, max: usize) -> Result<(), String> {
    if name.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if name
        .chars()
        .any(|c| not_xml_text(c) || USER_NAME_FORBIDDEN.contains(c))
    {
        return Err(format!(
            "must not contain control characters nor any of {USER_NAME_FORBIDDEN}"
        ));
    }
    if name.ends_with('.') || name.trim().is_empty() {
        return Err("must not be blank nor end with '.'".into());
    }
    Ok(())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An Appx package or capability name fragment: what `-like '*x*'` can take literally.
fn check_fragments(e: &mut FieldErrors, field: &str, items: &[String]) {
    if items.len() > MAX_LIST {
        e.add(field, format!("must have at most {MAX_LIST} items"));
    }
    for (i, item) in items.iter().enumerate() {
        let ok = !item.is_empty()
            && item.len() <= TEXT_CHARS
            && item
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~'));
        if !ok {
            e.add(
                format!("{field}[{i}]"),
                "must be 1 to 200 of letters, digits, '.', '_', '-' or '~'",
            );
        }
    }
}

/// A short free text without control characters (time-zone ids, display names).
fn check_plain(e: &mut FieldErrors, field: &str, value: &str, max: usize) {
    e.max_chars(field, Some(value), max);
    if value.chars().any(|c| c != '\0' && not_xml_text(c)) {
        e.add(field, "must not contain control characters");
    }
}

/// A language tag such as `en-US` or `sr-Latn-RS`.
fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && s.len() <= 85
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `s` is `[A-Za-z0-9._-]`, 1 to 100 characters: a file name of the ISO or of
/// `C:\WindowsSetup`.
pub fn is_plain_file_name(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Validate for ProfileConfig {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();

        let user = &self.user;
        if let Some(name) = user.custom_name.as_deref().filter(|n| !n.is_empty()) {
            let max = match user.custom_name_suffix {
                NameSuffix::None => MAX_USER_NAME,
                _ => MAX_USER_NAME - SUFFIX_DIGITS,
            };
            if let Err(problem) = check_user_name(name, max) {
                e.add("user.customName", problem);
            }
        }
        if let Some(display) = &user.display_name {
            check_plain(&mut e, "user.displayName", display, TEXT_CHARS);
        }
        e.max_chars("user.password", Some(&user.password), TEXT_CHARS);

        if let Some(name) = self
            .computer_name
            .custom_name
            .as_deref()
            .filter(|n| !n.is_empty())
            && let Err(problem) = check_computer_name(name)
        {
            e.add("computerName.customName", problem);
        }

        let locale = &self.locale;
        e.check(
            "locale.uiLanguage",
            is_language_tag(&locale.ui_language),
            "must be a language tag such as en-US",
        );
        if locale.keyboard_layouts.len() > MAX_LAYOUTS {
            e.add(
                "locale.keyboardLayouts",
                format!("must have at most {MAX_LAYOUTS} items"),
            );
        }
        for (i, kl) in locale.keyboard_layouts.iter().enumerate() {
            e.check(
                &format!("locale.keyboardLayouts[{i}].language"),
                is_hex(&kl.language, 4),
                "must be 4 hex digits (a LANGID such as 0409)",
            );
            e.check(
                &format!("locale.keyboardLayouts[{i}].layout"),
                is_hex(&kl.layout, 8),
                "must be 8 hex digits (a KLID such as 00000409)",
            );
        }
        if locale.input_locales.len() > MAX_LAYOUTS {
            e.add(
                "locale.inputLocales",
                format!("must have at most {MAX_LAYOUTS} items"),
            );
        }
        for (i, il) in locale.input_locales.iter().enumerate() {
            let ok = il
                .split_once(':')
                .is_some_and(|(lang, layout)| is_hex(lang, 4) && is_hex(layout, 8));
            e.check(
                &format!("locale.inputLocales[{i}]"),
                ok,
                "must be LANGID:KLID such as 0409:00000409",
            );
        }
        check_plain(&mut e, "locale.timeZone", &locale.time_zone, 100);
        e.check(
            "locale.timeZone",
            !locale.time_zone.trim().is_empty(),
            "must be a Windows time-zone id",
        );
        e.in_range("locale.geoLocation", Some(locale.geo_location), 0, 999_999);

        let sw = &self.software_removal;
        check_fragments(&mut e, "softwareRemoval.fixedPackages", &sw.fixed_packages);
        check_fragments(&mut e, "softwareRemoval.randomPool", &sw.random_pool);
        check_fragments(&mut e, "softwareRemoval.neverRemove", &sw.never_remove);
        e.check(
            "softwareRemoval.randomCount",
            sw.random_count.min <= sw.random_count.max,
            "min must not be greater than max",
        );
        e.in_range(
            "softwareRemoval.randomCount.max",
            Some(sw.random_count.max),
            0,
            MAX_LIST as u32,
        );
        let caps = &self.capability_removal;
        check_fragments(
            &mut e,
            "capabilityRemoval.fixedCapabilities",
            &caps.fixed_capabilities,
        );
        check_fragments(&mut e, "capabilityRemoval.randomPool", &caps.random_pool);

        for key in self.visual_effects.effects.keys() {
            e.max_chars("visualEffects.effects", Some(key), 100);
        }
        for key in self
            .desktop_icons
            .icons
            .keys()
            .chain(self.desktop_icons.start_folders.keys())
        {
            e.max_chars("desktopIcons", Some(key), 100);
        }

        if let Some(script) = &self.custom_script {
            e.check(
                "customScript.executable",
                is_plain_file_name(&script.executable),
                "must be a file name of 1 to 100 letters, digits, '.', '_' or '-'",
            );
            e.in_range(
                "customScript.delaySeconds",
                Some(script.delay_seconds),
                0,
                MAX_DELAY_SECONDS,
            );
        }
        // Kept keys (the UI's `xmlTemplate` is the big one) are stored as they come.
        for (key, value) in &self.extra {
            e.json_within(key, Some(value), 512 * 1024);
        }
        e.into_result()
    }
}

/// The prefix length of a dotted IPv4 netmask (`255.255.255.0` -> 24): its leading one
/// bits, which must be contiguous. `Err` says why it is no netmask.
pub fn netmask_prefix(netmask: &str) -> Result<u8, String> {
    let mask: Ipv4Addr = netmask
        .trim()
        .parse()
        .map_err(|_| "must be a dotted IPv4 netmask such as 255.255.255.0".to_owned())?;
    let bits = u32::from(mask);
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 {
        return Err("must be a contiguous netmask (ones then zeros)".into());
    }
    Ok(prefix as u8)
}

/// `ip` of a generate request: the VM's static IPv4 configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IpConfig {
    #[schema(example = "192.168.10.42")]
    pub address: String,
    #[serde(default = "default_netmask")]
    #[schema(example = "255.255.255.0")]
    pub netmask: String,
    #[schema(example = "192.168.10.1")]
    pub gateway: String,
    /// Default `["8.8.8.8"]`.
    #[serde(default = "default_dns")]
    #[schema(min_items = 1, max_items = 4)]
    pub dns: Vec<String>,
}

impl Validate for IpConfig {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        let ipv4 = |s: &str| s.trim().parse::<Ipv4Addr>().ok();
        let address = ipv4(&self.address);
        let gateway = ipv4(&self.gateway);
        e.check("address", address.is_some(), "must be an IPv4 address");
        e.check("gateway", gateway.is_some(), "must be an IPv4 address");
        let prefix = match netmask_prefix(&self.netmask) {
            Ok(p) => Some(p),
            Err(problem) => {
                e.add("netmask", problem);
                None
            }
        };
        if let (Some(a), Some(g), Some(p)) = (address, gateway, prefix) {
            let mask = u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
            e.check(
                "gateway",
                p >= 31 || u32::from(a) & mask == u32::from(g) & mask,
                "must be in the address's subnet",
            );
            e.check("address", a != g, "must differ from the gateway");
        }
        e.check(
            "dns",
            (1..=4).contains(&self.dns.len()),
            "must have 1 to 4 servers",
        );
        for (i, server) in self.dns.iter().enumerate() {
            e.check(
                &format!("dns[{i}]"),
                ipv4(server).is_some(),
                "must be an IPv4 address",
            );
        }
        e.into_result()
    }
}

/// `playbook_id` of a generate request: absent = the caller's default playbook; `"none"`
/// (or `null`) = no playbook at all, which the reference could not express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybookChoice {
    None,
    Id(String),
}

impl Serialize for PlaybookChoice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => s.serialize_str("none"),
            Self::Id(id) => s.serialize_str(id),
        }
    }
}

fn playbook_choice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PlaybookChoice>, D::Error> {
    Ok(Some(match Option::<String>::deserialize(d)? {
        None => PlaybookChoice::None,
        Some(s) if s.trim().eq_ignore_ascii_case("none") => PlaybookChoice::None,
        Some(s) => PlaybookChoice::Id(s.trim().to_owned()),
    }))
}

/// `POST /provisioning/generate-iso-payload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GenerateIsoPayloadRequest {
    /// The VM's SMBIOS UUID.
    #[schema(example = "4c4c4544-0042-3510-8052-b4c04f565931")]
    pub vm_uuid: String,
    pub ip: IpConfig,
    /// A saved profile; absent (and no `profile_config`): the caller's default profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// An inline profile; wins over `profile_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_config: Option<ProfileConfig>,
    /// Absent: the caller's default playbook; `"none"` or `null`: no playbook; else an id.
    #[serde(
        default,
        deserialize_with = "playbook_choice",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "none")]
    pub playbook_id: Option<PlaybookChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub vm_name: Option<String>,
    /// The number a `sequential` user-name suffix takes (1 to 9999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 9999)]
    pub sequence: Option<u32>,
}

impl Validate for GenerateIsoPayloadRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Err(problem) = crate::licensing::normalize_vm_uuid(&self.vm_uuid) {
            e.add("vm_uuid", problem);
        }
        if let Err(ip) = self.ip.validate() {
            e.merge_under("ip", ip);
        }
        if let Some(id) = &self.profile_id {
            e.required_text("profile_id", id, TEXT_CHARS);
        }
        if let Some(config) = &self.profile_config
            && let Err(c) = config.validate()
        {
            e.merge_under("profile_config", c);
        }
        if let Some(PlaybookChoice::Id(id)) = &self.playbook_id {
            e.required_text("playbook_id", id, TEXT_CHARS);
        }
        e.max_chars("vm_name", self.vm_name.as_deref(), TEXT_CHARS);
        e.in_range("sequence", self.sequence, 1, MAX_SEQUENCE);
        e.into_result()
    }
}

/// The answer of `POST /provisioning/generate-iso-payload` (camelCase, as the reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateIsoPayloadResponse {
    /// ISO file name -> base64 of its bytes.
    pub files: BTreeMap<String, String>,
    pub token: String,
    pub token_id: String,
    /// RFC 3339.
    pub expires_at: String,
    pub computer_name: String,
    pub username: String,
    pub vm_uuid: String,
    pub playbook_id: Option<String>,
}

/// One program `START.ps1` fetches through a lease (`provision.json`'s `software`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProvisionSoftware {
    /// The lease's and the artifact's module.
    pub module: String,
    #[serde(default = "default_platform")]
    pub platform: String,
    #[serde(default = "default_channel")]
    pub channel: String,
    /// File name under `C:\WindowsSetup\` (`[A-Za-z0-9._-]`).
    pub file: String,
    /// Arguments to run it with once downloaded; absent: only downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
    /// The playbook runner: started with `--headless --config <provision.json> --playbook
    /// <playbook.yml>` when the ISO has a playbook.
    #[serde(default, skip_serializing_if = "is_false")]
    pub runner: bool,
}

default_fn!(default_platform, String, "windows".to_owned());
default_fn!(default_channel, String, "stable".to_owned());

impl Validate for ProvisionSoftware {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("module", &self.module, TEXT_CHARS);
        e.required_text("platform", &self.platform, 100);
        e.required_text("channel", &self.channel, 100);
        e.check(
            "file",
            is_plain_file_name(&self.file),
            "must be a file name of 1 to 100 letters, digits, '.', '_' or '-'",
        );
        if let Some(args) = &self.args {
            check_plain(&mut e, "args", args, 1000);
        }
        e.into_result()
    }
}

/// One problem of a playbook: where (a dotted path such as `roles.0.role`; absent for the
/// document as a whole) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlaybookIssue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "roles.0.role")]
    pub path: Option<String>,
    pub message: String,
}

/// The answer of `POST /playbooks/validate` (always HTTP 200), and the `details` of a 422
/// `INVALID_PLAYBOOK` (spec provisioning §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlaybookValidation {
    pub valid: bool,
    pub errors: Vec<PlaybookIssue>,
    /// Unknown roles: the playbook is still valid.
    pub warnings: Vec<PlaybookIssue>,
    /// The document as JSON, when it parsed as a mapping with string keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parsed: Option<Value>,
}

// Profiles, playbooks, tokens and progress as the API shows them.

/// An unattend profile as every answer shows it. The Windows password is write-only: it is
/// never in `config`, and `passwordSet` says whether the stored one is non-empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: String,
    pub is_default: bool,
    /// The profile's config without `user.password`.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Whether a non-empty Windows password is stored (a `PUT` without one keeps it).
    #[serde(rename = "passwordSet")]
    pub password_set: bool,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /unattend-profiles`. `config.user.password` absent: the default (`1204`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateProfileRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
    pub config: ProfileConfig,
}

impl Validate for CreateProfileRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("name", &self.name, TEXT_CHARS);
        if let Err(c) = self.config.validate() {
            e.merge_under("config", c);
        }
        e.into_result()
    }
}

/// `PUT /unattend-profiles/{id}`: what is given changes. A `config` without
/// `user.password` keeps the stored password.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdateProfileRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// A whole config (checked as [`ProfileConfig`]); its `user.password` may be left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ProfileConfig>)]
    pub config: Option<Value>,
}

impl UpdateProfileRequest {
    /// The config, and whether it carries its own password (`None` without a config).
    pub fn parsed_config(&self) -> Result<Option<(ProfileConfig, bool)>, FieldErrors> {
        let Some(value) = &self.config else {
            return Ok(None);
        };
        let has_password = value
            .get("user")
            .and_then(|u| u.get("password"))
            .is_some_and(|p| !p.is_null());
        let config = crate::validate::from_json::<ProfileConfig>(value.clone()).map_err(|e| {
            let mut out = FieldErrors::new();
            out.merge_under("config", e);
            out
        })?;
        Ok(Some((config, has_password)))
    }
}

impl Validate for UpdateProfileRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Some(name) = &self.name {
            e.required_text("name", name, TEXT_CHARS);
        }
        if let Err(c) = self.parsed_config() {
            e.merge(c);
        }
        e.into_result()
    }
}

/// A playbook (spec provisioning §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlaybookView {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: String,
    pub is_default: bool,
    /// The YAML document.
    pub content: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Longest playbook, in characters.
pub const MAX_PLAYBOOK_CHARS: usize = 65_536;

/// `POST /playbooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatePlaybookRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
    #[schema(min_length = 1, max_length = 65536)]
    pub content: String,
}

impl Validate for CreatePlaybookRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("name", &self.name, TEXT_CHARS);
        e.required_text("content", &self.content, MAX_PLAYBOOK_CHARS);
        e.into_result()
    }
}

/// `PUT /playbooks/{id}`: what is given changes; new content is checked again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdatePlaybookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 65536)]
    pub content: Option<String>,
}

impl Validate for UpdatePlaybookRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Some(name) = &self.name {
            e.required_text("name", name, TEXT_CHARS);
        }
        if let Some(content) = &self.content {
            e.required_text("content", content, MAX_PLAYBOOK_CHARS);
        }
        e.into_result()
    }
}

/// `POST /unattend-profiles/preview`: what a profile makes for one VM, without saving it
/// or issuing a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewProfileRequest {
    pub config: ProfileConfig,
    /// The number of a `sequential` user-name suffix, 1 to 9999 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 9999)]
    pub sequence: Option<u32>,
    /// Preview as if a playbook were chosen (`autounattend.xml` then copies `playbook.yml`).
    #[serde(default)]
    pub with_playbook: bool,
}

impl Validate for PreviewProfileRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Err(c) = self.config.validate() {
            e.merge_under("config", c);
        }
        e.in_range("sequence", self.sequence, 1, 9999);
        e.into_result()
    }
}

/// The preview of a profile: the answer file and the settings script of one VM, with the
/// names drawn for it (random choices differ from one preview to the next, as between VMs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfilePreview {
    /// `autounattend.xml` and `setup.ps1`, as text.
    pub files: BTreeMap<String, String>,
    pub computer_name: String,
    pub username: String,
}

/// `POST /playbooks/validate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidatePlaybookRequest {
    #[schema(min_length = 1, max_length = 65536)]
    pub content: String,
}

impl Validate for ValidatePlaybookRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("content", &self.content, MAX_PLAYBOOK_CHARS);
        e.into_result()
    }
}

/// A provisioning token's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionTokenStatus {
    Active,
    /// The VM reported `completed`/`completed`.
    Used,
    /// Past its expiry (shown as such whether or not it was marked).
    Expired,
    /// Revoked by its owner, replaced by a newer token for the VM, or its VM was
    /// deactivated or moved.
    Revoked,
}

wire_words!(
    ProvisionTokenStatus,
    "provisioning token status",
    [
        Active = "active",
        Used = "used",
        Expired = "expired",
        Revoked = "revoked"
    ]
);

/// A provisioning token as lists show it (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProvisionTokenView {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub vm_uuid: String,
    pub status: ProvisionTokenStatus,
    pub playbook_id: Option<String>,
    /// RFC 3339.
    pub issued_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<String>,
}

/// `GET /provisioning/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProvisionTokenQuery {
    /// The VM whose tokens to list.
    #[param(
        pattern = r"^\s*[A-Za-z0-9:_-]{8,128}\s*$",
        example = "4c4c4544-0042-3510-8052-b4c04f565931"
    )]
    pub vm_uuid: String,
}

/// The `{vmUuid}` of `GET /provisioning/progress/{vmUuid}`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProgressPath {
    /// The VM UUID, any case (surrounding blanks are trimmed away).
    #[serde(rename = "vmUuid")]
    #[param(
        pattern = r"^\s*[A-Za-z0-9:_-]{8,128}\s*$",
        example = "4c4c4544-0042-3510-8052-b4c04f565931"
    )]
    pub vm_uuid: String,
}

impl Validate for ProvisionTokenQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Err(problem) = crate::licensing::normalize_vm_uuid(&self.vm_uuid) {
            e.add("vm_uuid", problem);
        }
        e.into_result()
    }
}

/// `POST /provisioning/validate-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidateTokenRequest {
    #[schema(min_length = 1, max_length = 4096)]
    pub token: String,
    #[schema(example = "4c4c4544-0042-3510-8052-b4c04f565931")]
    pub vm_uuid: String,
}

fn check_token_body(e: &mut FieldErrors, token: &str, vm_uuid: &str) {
    e.required_text("token", token, 4096);
    if let Err(problem) = crate::licensing::normalize_vm_uuid(vm_uuid) {
        e.add("vm_uuid", problem);
    }
}

impl Validate for ValidateTokenRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_token_body(&mut e, &self.token, &self.vm_uuid);
        e.into_result()
    }
}

/// The answer of `validate-token` (the reference's mixed key style).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenValidated {
    pub valid: bool,
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(rename = "tenantId")]
    pub tenant_id: String,
    /// The reference's presigned bootstrap download; software now comes through leases.
    pub bootstrap_url: Option<String>,
    pub app_url: Option<String>,
}

/// A progress step's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProgressStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

wire_words!(
    ProgressStatus,
    "progress status",
    [
        Pending = "pending",
        Running = "running",
        Completed = "completed",
        Failed = "failed"
    ]
);

/// The step whose `completed` status marks the token used.
pub const FINAL_STEP: &str = "completed";

/// `POST /provisioning/report-progress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportProgressRequest {
    #[schema(min_length = 1, max_length = 4096)]
    pub token: String,
    #[schema(pattern = r"^\s*[A-Za-z0-9:_-]{8,128}\s*$")]
    pub vm_uuid: String,
    #[schema(min_length = 1, max_length = 200, example = "windows_installed")]
    pub step: String,
    pub status: ProgressStatus,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

impl Validate for ReportProgressRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_token_body(&mut e, &self.token, &self.vm_uuid);
        e.required_text("step", &self.step, TEXT_CHARS);
        e.json_within("details", Some(&self.details), 16 * 1024);
        e.into_result()
    }
}

/// One progress report of a VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProgressView {
    pub id: String,
    pub tenant_id: String,
    pub vm_uuid: String,
    pub token_id: String,
    pub step: String,
    pub status: ProgressStatus,
    #[schema(value_type = Object)]
    pub details: Value,
    /// RFC 3339.
    pub created_at: String,
}

/// The SSE event (`GET /vm-ops/events`) of a VM's progress report: data `{event_id,
/// event_type: "provisioning.progress", tenant_id, progress: ProgressView, server_time}`.
pub const EVENT_VM_PROVISIONING: &str = "vm-provisioning";
/// Its `event_type`.
pub const PROGRESS_EVENT_TYPE: &str = "provisioning.progress";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::from_json;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "user": {"nameMode": "random"},
            "computerName": {"mode": "random"},
            "locale": {},
            "softwareRemoval": {"mode": "fixed"},
            "capabilityRemoval": {"mode": "fixed"},
            "windowsSettings": {},
            "visualEffects": {},
            "desktopIcons": {},
        })
    }

    fn with(path: &[&str], value: Value) -> Value {
        let mut v = minimal();
        let mut at = &mut v;
        for key in &path[..path.len() - 1] {
            at = at.get_mut(*key).unwrap();
        }
        at[path[path.len() - 1]] = value;
        v
    }

    #[test]
    fn defaults_are_those_of_the_spec() {
        let c: ProfileConfig = from_json(minimal()).unwrap();
        assert_eq!(c.user.password, "1204");
        assert_eq!(c.user.auto_logon_count, 9_999_999);
        assert_eq!(c.user.group, UserGroup::Administrators);
        assert_eq!(c.locale.ui_language, "en-US");
        assert_eq!(c.locale.time_zone, "Turkey Standard Time");
        assert_eq!(c.locale.geo_location, 235);
        assert_eq!(
            c.software_removal.random_count,
            RandomCount { min: 5, max: 15 }
        );
        assert!(c.windows_settings.disable_defender && !c.windows_settings.enable_remote_desktop);
        assert_eq!(c.windows_settings, WindowsSettings::default());
        assert_eq!(c.visual_effects.mode, VisualMode::Performance);
        assert_eq!(c.desktop_icons.effective_mode(), DesktopMode::Default);
        assert!(c.desktop_icons.delete_edge_shortcut);
        assert!(c.custom_script.is_none());
        ProfileConfig::default().validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_kept_at_every_level() {
        let mut v = with(&["xmlTemplate"], json!("<unattend/>"));
        v["user"]["future"] = json!(1);
        let c: ProfileConfig = from_json(v).unwrap();
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["xmlTemplate"], "<unattend/>");
        assert_eq!(back["user"]["future"], 1);
        assert_eq!(back["user"]["nameMode"], "random");
    }

    #[test]
    fn legacy_values_are_read() {
        let c: ProfileConfig =
            from_json(with(&["softwareRemoval", "mode"], json!("mixed"))).unwrap();
        assert_eq!(c.software_removal.mode, RemovalMode::FixedRandom);
        let c: ProfileConfig = from_json(with(
            &["visualEffects"],
            json!({"mode": "balanced", "cursorShadow": true}),
        ))
        .unwrap();
        assert_eq!(c.visual_effects.mode, VisualMode::Default);
        assert_eq!(c.visual_effects.effect("cursorShadow"), Some(true));
        let c: ProfileConfig =
            from_json(with(&["visualEffects", "mode"], json!("random"))).unwrap();
        assert_eq!(c.visual_effects.mode, VisualMode::CustomRandomize);
        let c: ProfileConfig = from_json(with(
            &["desktopIcons"],
            json!({"recycleBin": false, "thisPC": true}),
        ))
        .unwrap();
        assert_eq!(c.desktop_icons.effective_mode(), DesktopMode::Custom);
        assert_eq!(c.desktop_icons.icon("thisPC"), Some(true));
        assert_eq!(c.desktop_icons.icon("recycleBin"), Some(false));
        let script = CustomScript {
            executable: "start.EXE".into(),
            ..CustomScript::default()
        };
        assert_eq!(script.effective_executable(), "START.ps1");
    }

    #[test]
    fn the_references_gaps_are_field_errors() {
        let e = from_json::<ProfileConfig>(with(
            &["softwareRemoval", "randomCount"],
            json!({"min": 9, "max": 3}),
        ))
        .unwrap_err();
        assert!(e.get("softwareRemoval.randomCount").is_some(), "{e}");
        for bad in ["12345", "BAD NAME", "a_b", "TOO-LONG-NAME-XYZ", "-x", "x.y"] {
            let e = from_json::<ProfileConfig>(with(
                &["computerName"],
                json!({"mode": "custom", "customName": bad}),
            ))
            .unwrap_err();
            assert!(e.get("computerName.customName").is_some(), "{bad}: {e}");
        }
        for good in ["WIN-01", "Bot7", "a"] {
            from_json::<ProfileConfig>(with(
                &["computerName"],
                json!({"mode": "custom", "customName": good}),
            ))
            .unwrap();
        }
        let e = from_json::<ProfileConfig>(with(
            &["user"],
            json!({"nameMode": "custom", "customName": "a/b"}),
        ))
        .unwrap_err();
        assert!(e.get("user.customName").is_some());
        let e = from_json::<ProfileConfig>(with(
            &["user"],
            json!({"nameMode": "custom", "customName": "seventeen-chars-x", "customNameSuffix": "sequential"}),
        ))
        .unwrap_err();
        assert!(e.get("user.customName").is_some());
        let e = from_json::<ProfileConfig>(with(
            &["customScript"],
            json!({"executable": "..\\x.ps1", "delaySeconds": 601}),
        ))
        .unwrap_err();
        assert!(
            e.get("customScript.executable").is_some()
                && e.get("customScript.delaySeconds").is_some()
        );
        let e = from_json::<ProfileConfig>(with(
            &["softwareRemoval", "fixedPackages"],
            json!(["ok.name", "x'; rm"]),
        ))
        .unwrap_err();
        assert!(e.get("softwareRemoval.fixedPackages[1]").is_some(), "{e}");
        let e = from_json::<ProfileConfig>(with(&["locale"], json!({"uiLanguage": "english", "keyboardLayouts": [{"language": "409", "layout": "00000409"}], "inputLocales": ["0409-00000409"]})))
            .unwrap_err();
        assert_eq!(e.field_errors.len(), 3, "{e}");
    }

    #[test]
    fn required_sections_and_modes_are_required() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("desktopIcons");
        assert!(from_json::<ProfileConfig>(v).is_err());
        assert!(from_json::<ProfileConfig>(with(&["user"], json!({}))).is_err());
        assert!(from_json::<ProfileConfig>(with(&["user", "nameMode"], json!("other"))).is_err());
    }

    #[test]
    fn netmasks_give_their_prefix_length() {
        for (mask, prefix) in [
            ("255.255.255.0", 24),
            ("255.255.0.0", 16),
            ("255.255.255.255", 32),
            ("0.0.0.0", 0),
            ("255.255.255.128", 25),
            ("255.255.252.0", 22),
            ("128.0.0.0", 1),
            (" 255.255.255.252 ", 30),
        ] {
            assert_eq!(netmask_prefix(mask), Ok(prefix), "{mask}");
        }
        for bad in [
            "255.0.255.0",
            "255.255.255.1",
            "0.255.255.255",
            "255.255.255",
            "x",
            "256.0.0.0",
        ] {
            assert!(netmask_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schemas_name_the_wire_fields_and_not_the_kept_keys() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_string(&GenerateIsoPayloadRequest::schema()).unwrap();
        for field in ["vm_uuid", "profile_config", "playbook_id", "sequence", "ip"] {
            assert!(
                schema.contains(&format!("\"{field}\"")),
                "{field}: {schema}"
            );
        }
        let schema = serde_json::to_string(&ProfileConfig::schema()).unwrap();
        for field in [
            "computerName",
            "softwareRemoval",
            "desktopIcons",
            "customScript",
        ] {
            assert!(
                schema.contains(&format!("\"{field}\"")),
                "{field}: {schema}"
            );
        }
        assert!(!schema.contains("\"extra\""), "{schema}");
        let schema = serde_json::to_string(&UserConfig::schema()).unwrap();
        assert!(
            schema.contains("\"autoLogonCount\"") && !schema.contains("\"extra\""),
            "{schema}"
        );
    }

    #[test]
    fn generate_requests_are_checked() {
        let body = |ip: Value, extra: Value| {
            let mut v = json!({"vm_uuid": "4c4c4544-0042-3510-8052-b4c04f565931", "ip": ip});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            from_json::<GenerateIsoPayloadRequest>(v)
        };
        let ok = body(
            json!({"address": "10.0.0.5", "gateway": "10.0.0.1"}),
            json!({}),
        )
        .unwrap();
        assert_eq!(ok.ip.netmask, "255.255.255.0");
        assert_eq!(ok.ip.dns, ["8.8.8.8"]);
        assert_eq!(ok.playbook_id, None);
        let none = body(
            json!({"address": "10.0.0.5", "gateway": "10.0.0.1"}),
            json!({"playbook_id": "none"}),
        )
        .unwrap();
        assert_eq!(none.playbook_id, Some(PlaybookChoice::None));
        let null = body(
            json!({"address": "10.0.0.5", "gateway": "10.0.0.1"}),
            json!({"playbook_id": null}),
        )
        .unwrap();
        assert_eq!(null.playbook_id, Some(PlaybookChoice::None));
        let id = body(
            json!({"address": "10.0.0.5", "gateway": "10.0.0.1"}),
            json!({"playbook_id": "abc"}),
        )
        .unwrap();
        assert_eq!(id.playbook_id, Some(PlaybookChoice::Id("abc".into())));
        assert_eq!(serde_json::to_value(&none).unwrap()["playbook_id"], "none");

        let e = body(
            json!({"address": "10.0.0.300", "netmask": "255.0.255.0", "gateway": "x", "dns": ["1.1.1"]}),
            json!({"sequence": 0}),
        )
        .unwrap_err();
        for field in [
            "ip.address",
            "ip.netmask",
            "ip.gateway",
            "ip.dns[0]",
            "sequence",
        ] {
            assert!(e.get(field).is_some(), "{field}: {e}");
        }
        let e = body(
            json!({"address": "10.0.1.5", "netmask": "255.255.255.0", "gateway": "10.0.0.1"}),
            json!({}),
        )
        .unwrap_err();
        assert_eq!(
            e.get("ip.gateway").unwrap(),
            ["must be in the address's subnet"]
        );
        let e = body(
            json!({"address": "10.0.0.5", "gateway": "10.0.0.1"}),
            json!({"profile_config": {"user": {}}}),
        )
        .unwrap_err();
        assert!(!e.is_empty());
    }
}
