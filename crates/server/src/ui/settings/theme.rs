//! The Settings page's Theme section and what it feeds: the colours of the light and the
//! dark theme, the background image (uploaded, chosen, removed) with its overlay, blur and
//! dim, saved to settings `theme`; the tenant's stylesheet (`/theme.css`) every signed-in
//! page loads; and the images themselves (`/theme-assets/{id}`), opened by the session.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botmox_proto::Envelope;
use botmox_proto::theme::ThemeAsset;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::http::upload::declared_length;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::settings::service;
use crate::state::AppState;
use crate::theme::assets;
use crate::theme::css::{self, Background, TOKENS};
use crate::ui::error_page::PageError;
use crate::ui::extract::PagePath;
use crate::ui::session::{self, UiUser};

/// One colour input.
pub struct ColourView {
    pub name: String,
    pub label: &'static str,
    pub value: String,
    /// No colour is stored: the value shown is the built-in one.
    pub built_in: bool,
}

/// The section as drawn.
pub struct ThemeView {
    pub light: Vec<ColourView>,
    pub dark: Vec<ColourView>,
    pub enabled: bool,
    pub assets: Vec<ThemeAsset>,
    /// The image in use.
    pub chosen: String,
    pub position: String,
    pub size: String,
    pub blur: String,
    pub dim: String,
    pub opacity: String,
    pub overlay_light: String,
    pub overlay_dark: String,
    pub error: Option<String>,
}

fn colours(theme: &Value, mode: &str, posted: Option<&HashMap<String, String>>) -> Vec<ColourView> {
    TOKENS
        .iter()
        .map(|(token, label, day, night)| {
            let name = format!("{mode}_{token}");
            let built_in = if mode == "light" { day } else { night };
            let stored = theme
                .pointer(&format!("/palettes/{mode}/{token}"))
                .and_then(Value::as_str)
                .filter(|c| css::is_colour(c));
            let value = posted
                .and_then(|p| p.get(&name).cloned())
                .or_else(|| stored.map(str::to_owned))
                .unwrap_or_else(|| (*built_in).to_owned());
            ColourView {
                name,
                label,
                built_in: stored.is_none(),
                value,
            }
        })
        .collect()
}

/// The section from settings `theme` and the tenant's images (what was typed, after a
/// refusal).
pub fn view(
    theme: &Value,
    assets: Vec<ThemeAsset>,
    failed: Option<&(HashMap<String, String>, ApiError)>,
) -> ThemeView {
    let posted = failed.map(|(p, _)| p);
    let visual = theme.get("visual").cloned().unwrap_or(Value::Null);
    let text = |name: &str, key: &str, default: &str| match posted {
        Some(p) => p.get(name).cloned().unwrap_or_default(),
        None => match visual.get(key) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => default.to_owned(),
        },
    };
    ThemeView {
        light: colours(theme, "light", posted),
        dark: colours(theme, "dark", posted),
        enabled: match posted {
            Some(p) => p.contains_key("enabled"),
            None => visual.get("enabled").and_then(Value::as_bool) == Some(true),
        },
        assets,
        chosen: text("asset", "backgroundAssetId", ""),
        position: text("position", "backgroundPosition", "center"),
        size: text("size", "backgroundSize", "cover"),
        blur: text("blur", "blurPx", "0"),
        dim: text("dim", "dimStrength", "0"),
        opacity: text("opacity", "overlayOpacity", "0"),
        overlay_light: text("overlay_light", "overlayColorLight", "#ffffff"),
        overlay_dark: text("overlay_dark", "overlayColorDark", "#000000"),
        error: failed.map(|(_, e)| e.message.clone()),
    }
}

/// The palettes posted: each colour that differs from the built-in one (a built-in colour
/// left as it is stays unset, so it follows later releases).
fn palettes(form: &HashMap<String, String>) -> ApiResult<Value> {
    let mut out = Map::new();
    for mode in ["light", "dark"] {
        let mut palette = Map::new();
        for (token, label, day, night) in TOKENS {
            let built_in = if mode == "light" { day } else { night };
            let Some(value) = form.get(&format!("{mode}_{token}")).map(|v| v.trim()) else {
                continue;
            };
            if !css::is_colour(value) {
                return Err(ApiError::bad_request(format!(
                    "{label} ({mode}) must be a colour like #2f7fd1"
                )));
            }
            if !value.eq_ignore_ascii_case(built_in) {
                palette.insert(token.to_owned(), json!(value.to_ascii_lowercase()));
            }
        }
        out.insert(mode.to_owned(), Value::Object(palette));
    }
    Ok(Value::Object(out))
}

/// The background settings posted, checked as the settings rules check them.
fn visual(form: &HashMap<String, String>) -> ApiResult<Value> {
    let text = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let number = |k: &str, label: &str, max: f64| -> ApiResult<f64> {
        text(k)
            .parse::<f64>()
            .ok()
            .filter(|n| (0.0..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("{label} must be a number from 0 to {max}"))
            })
    };
    let enabled = form.contains_key("enabled");
    let asset = text("asset");
    if enabled && asset.is_empty() {
        return Err(ApiError::bad_request(
            "Upload or choose an image to show it",
        ));
    }
    for (k, label) in [
        ("overlay_light", "The light overlay"),
        ("overlay_dark", "The dark overlay"),
    ] {
        if !css::is_colour(&text(k)) {
            return Err(ApiError::bad_request(format!(
                "{label} must be a colour like #000000"
            )));
        }
    }
    Ok(json!({
        "enabled": enabled,
        "mode": if enabled { "image" } else { "none" },
        "backgroundAssetId": if asset.is_empty() { Value::Null } else { json!(asset) },
        "backgroundPosition": if text("position") == "top" { "top" } else { "center" },
        "backgroundSize": match text("size").as_str() { "contain" => "contain", "auto" => "auto", _ => "cover" },
        "blurPx": number("blur", "Blur", 24.0)?.round() as i64,
        "dimStrength": number("dim", "Dim", 1.0)?,
        "overlayOpacity": number("opacity", "Overlay opacity", 1.0)?,
        "overlayColorLight": text("overlay_light").to_ascii_lowercase(),
        "overlayColorDark": text("overlay_dark").to_ascii_lowercase(),
    }))
}

/// Save the form's colours and background.
pub async fn save(state: &AppState, auth: &Auth, form: &HashMap<String, String>) -> ApiResult<()> {
    let asset = form.get("asset").map(|a| a.trim()).unwrap_or_default();
    if !asset.is_empty() {
        assets::get(state, auth, asset).await?;
    }
    let body = json!({
        "palettes": palettes(form)?,
        "visual": visual(form)?,
        "updated_at": crate::clock::now_ms(),
        "updated_by": auth.caller(),
    });
    let path = service::parse_path("theme")?;
    service::write(state, auth, &path, body).await?;
    Ok(())
}

/// The built-in colours and no background (the images stay).
pub async fn reset(state: &AppState, auth: &Auth) -> ApiResult<()> {
    let path = service::parse_path("theme")?;
    let body = json!({"palettes": {"light": {}, "dark": {}},
        "visual": {"enabled": false, "mode": "none", "backgroundAssetId": null}});
    service::write(state, auth, &path, body).await?;
    Ok(())
}

/// `POST /settings/theme/assets`: an image as the raw body (sent by the page's script with
/// the CSRF token in `X-CSRF-Token`), kept and made the background; answers like the API.
pub async fn upload(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !session::csrf_ok(&state, &headers, token) {
        return ApiError::forbidden("The upload could not be verified; reload the page")
            .into_response();
    }
    let result = async {
        let asset = assets::upload(
            &state,
            &auth,
            declared_length(&headers),
            body.into_data_stream(),
        )
        .await?;
        let path = service::parse_path("theme/visual")?;
        let body = json!({"enabled": true, "mode": "image", "backgroundAssetId": asset.id});
        service::write(&state, &auth, &path, body).await?;
        ApiResult::Ok(asset)
    };
    match result.await {
        Ok(asset) => (StatusCode::CREATED, Json(Envelope::ok(asset))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /theme-assets/{id}`: an image of the signed-in user's tenant.
pub async fn image(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    PagePath(id): PagePath<String>,
) -> Response {
    match assets::content(&state, &auth, &id).await {
        Ok(response) => response,
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The tenant's stylesheet, and an entity tag of it.
async fn stylesheet(state: &AppState, auth: &Auth) -> ApiResult<String> {
    let tree = service::tree(&state.db, auth.tenant()).await?;
    let theme = tree.get("theme").cloned().unwrap_or(Value::Null);
    let mut background = theme.get("visual").and_then(Background::of);
    // Only an image of the tenant's own is drawn.
    if let Some(b) = &background
        && assets::get(state, auth, &b.asset).await.is_err()
    {
        background = None;
    }
    Ok(css::stylesheet(&theme, background.as_ref()))
}

/// `GET /theme.css`: revalidated on every page (an unchanged one answers 304).
pub async fn theme_css(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
) -> Response {
    let css = match stylesheet(&state, &auth).await {
        Ok(css) => css,
        Err(e) => return PageError::from(e).into_response(),
    };
    let tag = format!("\"{}\"", &hex::encode(Sha256::digest(css.as_bytes()))[..32]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, css).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Ok(tag) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, tag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn only_colours_that_differ_from_the_built_in_ones_are_kept() {
        let posted = form(&[
            ("light_accent", "#AA0000"),
            ("light_bg", "#f2f2f2"),
            ("dark_fg", "#eeeeee"),
        ]);
        assert_eq!(
            palettes(&posted).unwrap(),
            json!({"light": {"accent": "#aa0000"}, "dark": {"fg": "#eeeeee"}})
        );
        let err = palettes(&form(&[("dark_link", "blue")])).unwrap_err();
        assert!(
            err.message.contains("Links (dark) must be a colour"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_background_needs_an_image_and_numbers_in_range() {
        let base = [
            ("overlay_light", "#ffffff"),
            ("overlay_dark", "#000000"),
            ("blur", "4"),
            ("dim", "0.3"),
            ("opacity", "0.5"),
            ("size", "contain"),
            ("position", "top"),
        ];
        let v = visual(&form(
            &[&base[..], &[("asset", "a1"), ("enabled", "on")]].concat(),
        ))
        .unwrap();
        assert_eq!(v["mode"], "image");
        assert_eq!(
            (v["blurPx"].clone(), v["backgroundSize"].clone()),
            (json!(4), json!("contain"))
        );
        assert!(
            visual(&form(&[&base[..], &[("enabled", "on")]].concat())).is_err(),
            "no image"
        );
        let mut wrong = form(&base);
        wrong.insert("blur".into(), "30".into());
        assert!(visual(&wrong).unwrap_err().message.contains("Blur"));
    }
}
