//! The tenant's stylesheet (`/theme.css`), made from settings `theme`: its colours override
//! the built-in theme tokens of the light and the dark theme, and a background image, when
//! one is on, fills the window behind the pages with its blur, dim and overlay. Only known
//! tokens and `#rgb`/`#rrggbb` colours are written, so nothing else stored under `theme` can
//! reach the stylesheet.

use std::fmt::Write;

use serde_json::Value;

/// The colour tokens a tenant may set: (token, what it colours, built-in light colour,
/// built-in dark colour). The built-in colours are those of `assets/app.css` (a test holds
/// them equal).
pub const TOKENS: [(&str, &str, &str, &str); 6] = [
    ("accent", "Accent", "#2f7fd1", "#3d8ee0"),
    ("bg", "Page background", "#f2f2f2", "#1e1f21"),
    ("surface", "Panels", "#ffffff", "#2a2c2f"),
    ("fg", "Text", "#222222", "#e4e6e8"),
    ("link", "Links", "#1a66b3", "#7ab8f5"),
    ("bar-bg", "Top bar", "#2c3036", "#17181a"),
];

/// Whether `v` is a colour as `#rgb` or `#rrggbb`.
pub fn is_colour(v: &str) -> bool {
    let hex = v.strip_prefix('#').unwrap_or_default();
    matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// The background image's settings, as the stylesheet uses them.
pub struct Background {
    /// The image's id (a UUID: the server's own).
    pub asset: String,
    pub position: &'static str,
    pub size: &'static str,
    pub blur_px: u32,
    pub dim: f64,
    pub opacity: f64,
    pub overlay_light: String,
    pub overlay_dark: String,
}

impl Background {
    /// The background `visual` asks for, when it is on and names an image.
    pub fn of(visual: &Value) -> Option<Self> {
        let on = visual.get("enabled").and_then(Value::as_bool) == Some(true)
            && visual.get("mode").and_then(Value::as_str) == Some("image");
        let asset = visual.get("backgroundAssetId").and_then(Value::as_str)?;
        if !on || uuid::Uuid::parse_str(asset).is_err() {
            return None;
        }
        let text = |key: &str| visual.get(key).and_then(Value::as_str).unwrap_or_default();
        let number = |key: &str, default: f64| {
            visual
                .get(key)
                .and_then(Value::as_f64)
                .filter(|n| (0.0..=1.0).contains(n))
                .unwrap_or(default)
        };
        let colour = |key: &str, default: &str| {
            Some(text(key))
                .filter(|c| is_colour(c))
                .unwrap_or(default)
                .to_owned()
        };
        Some(Self {
            asset: asset.to_owned(),
            position: if text("backgroundPosition") == "top" {
                "center top"
            } else {
                "center"
            },
            size: match text("backgroundSize") {
                "contain" => "contain",
                "auto" => "auto",
                _ => "cover",
            },
            blur_px: visual
                .get("blurPx")
                .and_then(Value::as_u64)
                .map_or(0, |b| b.min(24) as u32),
            dim: number("dimStrength", 0.0),
            opacity: number("overlayOpacity", 0.0),
            overlay_light: colour("overlayColorLight", "#ffffff"),
            overlay_dark: colour("overlayColorDark", "#000000"),
        })
    }
}

/// The declarations of one palette (`{token: colour}`), known tokens and colours only.
fn declarations(palette: Option<&Value>) -> String {
    let mut out = String::new();
    for (token, ..) in TOKENS {
        if let Some(colour) = palette
            .and_then(|p| p.get(token))
            .and_then(Value::as_str)
            .filter(|c| is_colour(c))
        {
            let _ = write!(out, " --{token}: {colour};");
        }
    }
    out
}

/// The stylesheet of settings `theme` (`null` or empty: an empty stylesheet). `background`
/// is the image in use, already checked to be the tenant's.
pub fn stylesheet(theme: &Value, background: Option<&Background>) -> String {
    let mut css = String::from("/* The tenant's theme (Settings → Theme). */\n");
    let light = declarations(theme.pointer("/palettes/light"));
    let dark = declarations(theme.pointer("/palettes/dark"));
    if !light.is_empty() {
        let _ = writeln!(css, ":root, html[data-theme=\"light\"] {{{light} }}");
    }
    if !dark.is_empty() {
        let _ = writeln!(css, "html[data-theme=\"dark\"] {{{dark} }}");
        let _ = writeln!(
            css,
            "@media (prefers-color-scheme: dark) {{ html:not([data-theme=\"light\"]):not([data-theme=\"dark\"]) {{{dark} }} }}"
        );
    }
    if let Some(b) = background {
        let _ = writeln!(
            css,
            "html {{ background: var(--bg); }}\nbody {{ background: transparent; }}"
        );
        let _ = writeln!(
            css,
            "body::before {{ content: \"\"; position: fixed; inset: -{edge}px; z-index: -2; pointer-events: none; \
             background: url(\"/theme-assets/{id}\") {position} / {size} no-repeat; \
             filter: blur({blur}px) brightness({bright:.2}); }}",
            edge = b.blur_px * 2,
            id = b.asset,
            position = b.position,
            size = b.size,
            blur = b.blur_px,
            bright = 1.0 - b.dim,
        );
        let overlay = |colour: &str| {
            format!(
                "content: \"\"; position: fixed; inset: 0; z-index: -1; pointer-events: none; background: {colour}; opacity: {:.2};",
                b.opacity
            )
        };
        let _ = writeln!(css, "body::after {{ {} }}", overlay(&b.overlay_light));
        let _ = writeln!(
            css,
            "html[data-theme=\"dark\"] body::after {{ background: {}; }}",
            b.overlay_dark
        );
        let _ = writeln!(
            css,
            "@media (prefers-color-scheme: dark) {{ html:not([data-theme=\"light\"]):not([data-theme=\"dark\"]) body::after {{ background: {}; }} }}",
            b.overlay_dark
        );
    }
    css
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_built_in_colours_are_those_of_the_stylesheet() {
        let css = include_str!("../../assets/app.css");
        let (light, rest) = css.split_once("html[data-theme=\"dark\"]").unwrap();
        for (token, _, day, night) in TOKENS {
            assert!(
                light.contains(&format!("--{token}: {day};")),
                "{token} light"
            );
            assert!(
                rest.contains(&format!("--{token}: {night};")),
                "{token} dark"
            );
        }
    }

    #[test]
    fn only_known_tokens_with_colours_reach_the_stylesheet() {
        let theme = json!({"palettes": {
            "light": {"accent": "#aa0000", "fg": "red; } body { display: none", "evil": "#000"},
            "dark": {"bg": "#101"}}});
        let css = stylesheet(&theme, None);
        assert!(
            css.contains(":root, html[data-theme=\"light\"] { --accent: #aa0000; }"),
            "{css}"
        );
        assert!(
            css.contains("html[data-theme=\"dark\"] { --bg: #101; }"),
            "{css}"
        );
        assert!(!css.contains("display") && !css.contains("evil"), "{css}");
        assert_eq!(
            stylesheet(&Value::Null, None).lines().count(),
            1,
            "nothing stored, nothing set"
        );
    }

    #[test]
    fn a_background_is_drawn_only_when_on_and_named_by_an_id() {
        let id = "3f8e2b1c-59a7-4c1e-9d0e-0123456789ab";
        let visual = json!({"enabled": true, "mode": "image", "backgroundAssetId": id,
            "backgroundSize": "contain", "blurPx": 6, "dimStrength": 0.25, "overlayOpacity": 0.4,
            "overlayColorDark": "#112233", "overlayColorLight": "url(x)"});
        let b = Background::of(&visual).unwrap();
        assert_eq!(
            (b.size, b.blur_px, b.overlay_light.as_str()),
            ("contain", 6, "#ffffff")
        );
        let css = stylesheet(&Value::Null, Some(&b));
        assert!(
            css.contains(&format!("url(\"/theme-assets/{id}\") center / contain")),
            "{css}"
        );
        assert!(
            css.contains("blur(6px) brightness(0.75)") && css.contains("opacity: 0.40"),
            "{css}"
        );
        assert!(css.contains("background: #112233"), "{css}");
        for off in [
            json!({"enabled": false, "mode": "image", "backgroundAssetId": id}),
            json!({"enabled": true, "mode": "none", "backgroundAssetId": id}),
            json!({"enabled": true, "mode": "image", "backgroundAssetId": "\") } * { x: url(\""}),
        ] {
            assert!(Background::of(&off).is_none(), "{off}");
        }
    }
}
