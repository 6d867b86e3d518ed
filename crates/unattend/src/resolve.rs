//! Value resolution (spec provisioning §3): a profile plus chance gives one VM's values.

use botmox_proto::Validate;
use botmox_proto::provisioning::{
    DEFAULT_GEO_ID, DesktopMode, NameMode, NameSuffix, ProfileConfig, RemovalMode, UserGroup,
    VisualMode, WindowsSettings,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::Error;

const ADJECTIVES: [&str; 16] = [
    "Quick", "Silent", "Brave", "Clever", "Sharp", "Bold", "Keen", "Swift", "Lucky", "Noble",
    "Calm", "Warm", "Cool", "Grand", "Prime", "Fair",
];
const NOUNS: [&str; 16] = [
    "Fox", "Hawk", "Wolf", "Bear", "Lynx", "Deer", "Sage", "Oak", "Elm", "Pine", "Star", "Moon",
    "Dawn", "Ash", "Jay", "Wren",
];
const COMPUTER_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Random capability picks, inclusive (the reference's fixed range).
const CAPABILITY_PICKS: (u32, u32) = (3, 10);
/// Delay before the bootstrap starts when the profile has no `customScript`.
const DEFAULT_DELAY: u32 = 20;

/// Kind of a registry value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegType {
    Dword,
    Sz,
}

impl RegType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dword => "REG_DWORD",
            Self::Sz => "REG_SZ",
        }
    }
}

/// One registry slot of the visual effects (spec §4.5): the first effect key decides it.
#[derive(Debug)]
pub struct EffectSlot {
    pub key: &'static str,
    pub path: &'static str,
    pub name: &'static str,
    pub kind: RegType,
    pub on: &'static str,
    pub off: &'static str,
}

const DESKTOP: &str = r"HKCU\Control Panel\Desktop";
const ADVANCED: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\Advanced";
const DWM: &str = r"HKCU\Software\Microsoft\Windows\DWM";

macro_rules! slot {
    ($key:literal, $path:expr, $name:literal, $kind:ident, $on:literal, $off:literal) => {
        EffectSlot {
            key: $key,
            path: $path,
            name: $name,
            kind: RegType::$kind,
            on: $on,
            off: $off,
        }
    };
}

/// The distinct slots, in table order. Keys that share a slot in the reference's table
/// (`animateMinMax`, `peekDesktop`, `iconShadow`, the fades) never decide it, so they are
/// not listed.
pub const EFFECT_SLOTS: [EffectSlot; 12] = [
    slot!(
        "animateControls",
        r"HKCU\Control Panel\Desktop\WindowMetrics",
        "MinAnimate",
        Sz,
        "1",
        "0"
    ),
    slot!(
        "animateTaskbar",
        ADVANCED,
        "TaskbarAnimations",
        Dword,
        "1",
        "0"
    ),
    slot!("aeropeek", DWM, "EnableAeroPeek", Dword, "1", "0"),
    slot!("fontSmoothing", DESKTOP, "FontSmoothing", Sz, "2", "0"),
    slot!("dragFullWindows", DESKTOP, "DragFullWindows", Sz, "1", "0"),
    slot!(
        "listBoxSmoothScrolling",
        DESKTOP,
        "SmoothScroll",
        Dword,
        "1",
        "0"
    ),
    slot!("cursorShadow", ADVANCED, "ListviewShadow", Dword, "1", "0"),
    slot!("thumbnailPreviews", ADVANCED, "IconsOnly", Dword, "0", "1"),
    slot!(
        "translucent",
        ADVANCED,
        "ListviewAlphaSelect",
        Dword,
        "1",
        "0"
    ),
    slot!(
        "saveThumbnails",
        ADVANCED,
        "DisableThumbnailCache",
        Dword,
        "0",
        "1"
    ),
    slot!("windowShadow", DWM, "Composition", Dword, "1", "0"),
    slot!("fadeMenuItems", DESKTOP, "MenuShowDelay", Sz, "400", "0"),
];

/// Desktop icons: profile key and the CLSID Explorer keys them by.
pub const DESKTOP_ICONS: [(&str, &str); 5] = [
    ("thisPC", "{20D04FE0-3AEA-1069-A2D8-08002B30309D}"),
    ("recycleBin", "{645FF040-5081-101B-9F08-00AA002F954E}"),
    ("userFiles", "{59031a47-3f72-44a7-89c5-5595fe6b30ee}"),
    ("controlPanel", "{5399E694-6CE5-4D6C-8FCE-1D8870FDCBA0}"),
    ("network", "{F02C1A0D-BE21-4350-88B0-7367FC96EF3C}"),
];

/// Start-menu folders: profile key and registry value name.
pub const START_FOLDERS: [(&str, &str); 9] = [
    ("documents", "Start_ShowDocuments"),
    ("downloads", "Start_ShowDownloads"),
    ("music", "Start_ShowMusic"),
    ("pictures", "Start_ShowPictures"),
    ("videos", "Start_ShowVideos"),
    ("personalFolder", "Start_ShowPersonalFolder"),
    ("settings", "Start_ShowSettings"),
    ("fileExplorer", "Start_ShowFileExplorer"),
    ("network", "Start_ShowNetwork"),
];

/// Desktop icons and Start folders of a non-`default` desktop mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desktop {
    /// Shown, per [`DESKTOP_ICONS`] entry.
    pub icons: [bool; DESKTOP_ICONS.len()],
    /// Registry value name and shown, for the folders the profile names.
    pub start_folders: Vec<(&'static str, bool)>,
}

/// What the first logon starts after the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    /// File name under `C:\WindowsSetup\`.
    pub executable: String,
    pub delay_seconds: u32,
}

/// One VM's values: everything the generated files need, chance already spent.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub group: UserGroup,
    /// `None`: auto-logon off (`autoLogonCount: 0`).
    pub auto_logon_count: Option<u32>,
    pub computer_name: String,
    pub ui_language: String,
    /// `0409:00000409;0419:00000419`.
    pub input_locale: String,
    pub time_zone: String,
    pub geo_id: u32,
    /// Appx package name fragments to remove.
    pub packages: Vec<String>,
    /// Capability name fragments to remove.
    pub capabilities: Vec<String>,
    pub settings: WindowsSettings,
    /// On, per [`EFFECT_SLOTS`] entry; `None` in `default` mode (nothing written).
    pub visual_effects: Option<[bool; EFFECT_SLOTS.len()]>,
    /// `None` in `default` mode.
    pub desktop: Option<Desktop>,
    pub delete_edge_shortcut: bool,
    pub launcher: Launcher,
}

/// Resolve `config` for one VM (spec §3). `sequence` is the number of a `sequential`
/// user-name suffix; `rng` supplies every random choice (seed it for reproducible output,
/// use a cryptographic one in production). The config is validated first: a bad one is
/// [`Error::Invalid`], never a panic.
pub fn resolve<R: Rng + ?Sized>(
    config: &ProfileConfig,
    sequence: Option<u32>,
    rng: &mut R,
) -> Result<Resolved, Error> {
    config.validate().map_err(Error::Invalid)?;
    // One generator per part, seeded from `rng` in a fixed order, so an option changes only
    // its own part's draws (a seeded run stays comparable option by option).
    let mut part = || StdRng::from_rng(&mut *rng).map_err(|e| Error::Rng(e.to_string()));
    let (
        mut names_rng,
        mut computer_rng,
        mut packages_rng,
        mut caps_rng,
        mut fx_rng,
        mut desktop_rng,
    ) = (part()?, part()?, part()?, part()?, part()?, part()?);
    let user = &config.user;
    let username = username(config, sequence, &mut names_rng)?;
    let display_name = user
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map_or_else(|| username.clone(), str::to_owned);
    let computer_name = match (
        config.computer_name.mode,
        custom(&config.computer_name.custom_name),
    ) {
        (NameMode::Custom, Some(name)) => name.to_owned(),
        (NameMode::Fixed, _) => "WIN-PC".to_owned(),
        _ => {
            let mut name = String::with_capacity(15);
            name.push_str("DESKTOP-");
            for _ in 0..7 {
                name.push(COMPUTER_CHARS[computer_rng.gen_range(0..COMPUTER_CHARS.len())] as char);
            }
            name
        }
    };

    let locale = &config.locale;
    let input_locale = if !locale.keyboard_layouts.is_empty() {
        let pairs: Vec<String> = locale
            .keyboard_layouts
            .iter()
            .map(|k| format!("{}:{}", k.language, k.layout))
            .collect();
        pairs.join(";")
    } else if !locale.input_locales.is_empty() {
        locale.input_locales.join(";")
    } else {
        "0409:00000409".to_owned()
    };

    let sw = &config.software_removal;
    let mut packages = pick(
        sw.mode,
        &sw.fixed_packages,
        &sw.random_pool,
        (sw.random_count.min, sw.random_count.max),
        &mut packages_rng,
    );
    packages.retain(|p| !sw.never_remove.iter().any(|n| n.eq_ignore_ascii_case(p)));
    let caps = &config.capability_removal;
    let capabilities = pick(
        caps.mode,
        &caps.fixed_capabilities,
        &caps.random_pool,
        CAPABILITY_PICKS,
        &mut caps_rng,
    );

    let fx = &config.visual_effects;
    let visual_effects = match fx.mode {
        VisualMode::Default => None,
        mode => {
            let mut on = [false; EFFECT_SLOTS.len()];
            for (slot, on) in EFFECT_SLOTS.iter().zip(on.iter_mut()) {
                *on = match mode {
                    VisualMode::Appearance => true,
                    VisualMode::Performance | VisualMode::Default => false,
                    VisualMode::Custom => fx.effect(slot.key).unwrap_or(false),
                    VisualMode::CustomRandomize => {
                        fx.effect(slot.key).unwrap_or_else(|| fx_rng.r#gen())
                    }
                };
            }
            Some(on)
        }
    };

    let icons = &config.desktop_icons;
    let desktop = match icons.effective_mode() {
        DesktopMode::Default => None,
        mode => {
            let mut shown = [false; DESKTOP_ICONS.len()];
            for ((key, _), shown) in DESKTOP_ICONS.iter().zip(shown.iter_mut()) {
                *shown = match icons.icon(key) {
                    Some(v) => v,
                    None => mode == DesktopMode::CustomRandomize && desktop_rng.r#gen(),
                };
            }
            let start_folders = START_FOLDERS
                .iter()
                .filter_map(|(key, value)| icons.start_folders.get(*key).map(|on| (*value, *on)))
                .collect();
            Some(Desktop {
                icons: shown,
                start_folders,
            })
        }
    };

    let launcher = match &config.custom_script {
        Some(script) => Launcher {
            executable: script.effective_executable().to_owned(),
            delay_seconds: script.delay_seconds,
        },
        None => Launcher {
            executable: botmox_proto::provisioning::BOOTSTRAP_SCRIPT.to_owned(),
            delay_seconds: DEFAULT_DELAY,
        },
    };

    Ok(Resolved {
        username,
        display_name,
        password: user.password.clone(),
        group: user.group,
        auto_logon_count: (user.auto_logon_count > 0).then_some(user.auto_logon_count),
        computer_name,
        ui_language: locale.ui_language.clone(),
        input_locale,
        time_zone: locale.time_zone.clone(),
        geo_id: match locale.geo_location {
            0 => DEFAULT_GEO_ID,
            geo => geo,
        },
        packages,
        capabilities,
        settings: config.windows_settings.clone(),
        visual_effects,
        desktop,
        delete_edge_shortcut: icons.delete_edge_shortcut,
        launcher,
    })
}

fn custom(name: &Option<String>) -> Option<&str> {
    name.as_deref().map(str::trim).filter(|n| !n.is_empty())
}

fn username<R: Rng + ?Sized>(
    config: &ProfileConfig,
    sequence: Option<u32>,
    rng: &mut R,
) -> Result<String, Error> {
    let user = &config.user;
    Ok(match (user.name_mode, custom(&user.custom_name)) {
        (NameMode::Custom, Some(name)) => match user.custom_name_suffix {
            NameSuffix::None => name.to_owned(),
            NameSuffix::RandomDigits => {
                let digits = rng.gen_range(2..=4);
                let mut out = String::with_capacity(name.len() + digits);
                out.push_str(name);
                for _ in 0..digits {
                    out.push(char::from(b'0' + rng.gen_range(0..10u8)));
                }
                out
            }
            NameSuffix::Sequential => {
                let n = sequence
                    .filter(|n| (1..=botmox_proto::provisioning::MAX_SEQUENCE).contains(n))
                    .ok_or(Error::SequenceRequired)?;
                format!("{name}{n:02}")
            }
        },
        (NameMode::Fixed, _) => "User".to_owned(),
        _ => {
            let adjective = ADJECTIVES[rng.gen_range(0..ADJECTIVES.len())];
            let noun = NOUNS[rng.gen_range(0..NOUNS.len())];
            format!("{adjective}{noun}{}", rng.gen_range(10..=98))
        }
    })
}

/// `items` without repeats (compared case-insensitively), first spelling kept.
fn dedup(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&item)) {
            out.push(item);
        }
    }
    out
}

/// A removal list (spec §3): the fixed list, a uniform random subset of the pool of
/// `count` (clamped to the pool) entries, or both (the subset drawn from the pool less the
/// fixed list). The subset comes from a Fisher-Yates partial shuffle, unbiased.
fn pick<R: Rng + ?Sized>(
    mode: RemovalMode,
    fixed: &[String],
    pool: &[String],
    (min, max): (u32, u32),
    rng: &mut R,
) -> Vec<String> {
    let fixed = dedup(fixed.iter().cloned());
    if mode == RemovalMode::Fixed {
        return fixed;
    }
    let mut candidates = dedup(
        pool.iter()
            .filter(|p| {
                mode == RemovalMode::Random || !fixed.iter().any(|f| f.eq_ignore_ascii_case(p))
            })
            .cloned(),
    );
    let len = candidates.len();
    let (lo, hi) = (
        (min as usize).min(len),
        (max as usize).min(len).max((min as usize).min(len)),
    );
    let count = rng.gen_range(lo..=hi);
    let (chosen, _) = candidates.partial_shuffle(rng, count);
    let chosen = chosen.to_vec();
    match mode {
        RemovalMode::Random => chosen,
        _ => fixed.into_iter().chain(chosen).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn pool(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("P{i}")).collect()
    }

    #[test]
    fn random_picks_stay_in_bounds_and_are_unbiased_enough() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let pool = pool(10);
        let mut hits = [0u32; 10];
        for _ in 0..20_000 {
            let chosen = pick(RemovalMode::Random, &[], &pool, (3, 3), &mut rng);
            assert_eq!(chosen.len(), 3);
            for c in chosen {
                hits[c[1..].parse::<usize>().unwrap()] += 1;
            }
        }
        // Each entry is chosen with probability 3/10: 6000 expected of 20000 draws.
        for h in hits {
            assert!((5600..6400).contains(&h), "{hits:?}");
        }
    }

    #[test]
    fn counts_are_clamped_to_the_pool_and_fixed_entries_come_first() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let chosen = pick(RemovalMode::Random, &[], &pool(2), (5, 15), &mut rng);
        assert_eq!(chosen.len(), 2);
        let fixed = vec!["P0".to_owned(), "p0".to_owned(), "X".to_owned()];
        let chosen = pick(
            RemovalMode::FixedRandom,
            &fixed,
            &pool(4),
            (10, 10),
            &mut rng,
        );
        assert_eq!(&chosen[..2], ["P0", "X"]);
        assert_eq!(chosen.len(), 5, "{chosen:?}");
        assert!(pick(RemovalMode::Random, &[], &[], (5, 15), &mut rng).is_empty());
    }
}
