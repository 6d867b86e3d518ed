//! The unattend profile pages: the caller's profiles, and the editor that shows every option
//! of a profile (spec provisioning §2.2) with a preview of the `autounattend.xml` and
//! `setup.ps1` it makes for one VM. The Windows password is write-only here as in the API:
//! the field starts empty, and saving it empty keeps the stored one.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::provisioning::{
    CreateProfileRequest, DesktopMode, KeyboardLayout, NameMode, NameSuffix, PreviewProfileRequest,
    ProfileConfig, ProfilePreview, ProfileView, RemovalMode, UpdateProfileRequest, UserGroup,
    VisualMode, WindowsSettings,
};
use botmox_proto::{FieldErrors, Validate};
use botmox_unattend::{DESKTOP_ICONS, EFFECT_SLOTS, START_FOLDERS};
use std::str::FromStr;

use super::error_page::PageResult;
use super::layout::{Layout, render};
use super::refusal::Refusal;
use super::session::{CsrfForm, EmptyForm, UiUser};
use crate::http::ApiError;
use crate::principal::Auth;
use crate::provisioning::service;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};

/// What the preview puts in the password element when the stored password is kept (it is
/// write-only, so the preview never shows it).
const KEPT_PASSWORD: &str = "(stored password)";

#[derive(Template)]
#[template(path = "profiles.html")]
struct ProfilesPage {
    layout: Layout,
    profiles: Vec<ProfileView>,
    notice: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

pub async fn list_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<Notice>,
) -> PageResult {
    let profiles = service::list_profiles(&state.db, &auth).await?;
    let (layout, csrf) = Layout::new(
        &state,
        &auth,
        &headers,
        "/profiles",
        "profiles",
        &[("Provisioning", None), ("Unattend profiles", None)],
    )
    .await;
    let notice = match q.notice.as_deref() {
        Some("deleted") => Some("Profile deleted.".to_owned()),
        _ => None,
    };
    let body = ProfilesPage {
        layout,
        profiles,
        notice,
    };
    Ok(csrf.attach(render(&body).into_response()))
}

/// An on/off option.
struct Toggle {
    key: String,
    label: String,
    on: bool,
}

/// An option that is on, off, or left open (`""`: Windows' choice, or a coin flip per VM in
/// a randomising mode).
struct Choice {
    key: &'static str,
    label: String,
    value: &'static str,
}

#[derive(Template)]
#[template(path = "profile_edit.html")]
struct EditorPage {
    layout: Layout,
    /// `None` for a new profile.
    id: Option<String>,
    name: String,
    is_default: bool,
    password_set: bool,
    config: ProfileConfig,
    layouts: String,
    settings: Vec<Toggle>,
    effects: Vec<Choice>,
    icons: Vec<Choice>,
    folders: Vec<Choice>,
    preview: Option<ProfilePreview>,
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

/// `camelCase` -> `Camel case`.
fn words(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn tri(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "on",
        Some(false) => "off",
        None => "",
    }
}

/// The toggles of `windowsSettings`, by wire name, in declaration order.
fn setting_flags(settings: &WindowsSettings) -> Vec<(String, bool)> {
    let value = serde_json::to_value(settings).unwrap_or_default();
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_bool().map(|on| (k.clone(), on)))
        .collect()
}

/// The page's view of `config`.
struct EditorState {
    id: Option<String>,
    name: String,
    is_default: bool,
    password_set: bool,
    config: ProfileConfig,
}

impl EditorState {
    fn page(
        self,
        layout: Layout,
        preview: Option<ProfilePreview>,
        notice: Option<String>,
        refusal: Refusal,
    ) -> EditorPage {
        let c = &self.config;
        let layouts = if c.locale.keyboard_layouts.is_empty() {
            c.locale.input_locales.join("\n")
        } else {
            c.locale
                .keyboard_layouts
                .iter()
                .map(|k| format!("{}:{}", k.language, k.layout))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let settings = setting_flags(&c.windows_settings)
            .into_iter()
            .map(|(key, on)| Toggle {
                label: words(&key),
                key,
                on,
            })
            .collect();
        let effects = EFFECT_SLOTS
            .iter()
            .map(|s| Choice {
                key: s.key,
                label: words(s.key),
                value: tri(c.visual_effects.effect(s.key)),
            })
            .collect();
        let icons = DESKTOP_ICONS
            .iter()
            .map(|(key, _)| Choice {
                key,
                label: words(key),
                value: tri(c.desktop_icons.icon(key)),
            })
            .collect();
        let folders = START_FOLDERS
            .iter()
            .map(|(key, _)| Choice {
                key,
                label: words(key),
                value: tri(c.desktop_icons.start_folders.get(*key).copied()),
            })
            .collect();
        EditorPage {
            layout,
            id: self.id,
            name: self.name,
            is_default: self.is_default,
            password_set: self.password_set,
            layouts,
            settings,
            effects,
            icons,
            folders,
            config: self.config,
            preview,
            notice,
            error: refusal.banner(),
            refusal,
        }
    }
}

/// The editor form's fields, named by the option's path in the config (`user.nameMode`).
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct EditorForm(Vec<(String, String)>);

impl EditorForm {
    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    fn text(&self, key: &str) -> Option<String> {
        Some(self.get(key).trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// One item per line (or comma), blanks dropped.
    fn lines(&self, key: &str) -> Vec<String> {
        self.get(key)
            .split(['\n', ','])
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn word<T: FromStr<Err = String>>(&self, key: &str, e: &mut FieldErrors, or: T) -> T {
        match self.text(key) {
            None => or,
            Some(v) => v.parse().unwrap_or_else(|problem| {
                e.add(key, problem);
                or
            }),
        }
    }

    fn number(&self, key: &str, e: &mut FieldErrors, or: u32) -> u32 {
        match self.text(key) {
            None => or,
            Some(v) => v.parse().unwrap_or_else(|_| {
                e.add(key, "must be a whole number");
                or
            }),
        }
    }

    fn choice(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        }
    }

    fn action(&self) -> &str {
        self.get("action")
    }

    /// The profile the form describes, over `base` (the stored config, so keys this editor
    /// does not show are kept). Problems with a field's form (a word or number that does not
    /// parse) are added to `e`; the config's own rules are checked by the caller.
    fn config(&self, base: ProfileConfig, e: &mut FieldErrors) -> ProfileConfig {
        let mut c = base;
        let user = &mut c.user;
        user.name_mode = self.word("user.nameMode", e, user.name_mode);
        user.custom_name = self.text("user.customName");
        user.custom_name_suffix = self.word("user.customNameSuffix", e, user.custom_name_suffix);
        user.display_name = self.text("user.displayName");
        user.password = self.get("user.password").to_owned();
        user.group = self.word("user.group", e, user.group);
        user.auto_logon_count = self.number("user.autoLogonCount", e, user.auto_logon_count);

        c.computer_name.mode = self.word("computerName.mode", e, c.computer_name.mode);
        c.computer_name.custom_name = self.text("computerName.customName");

        let locale = &mut c.locale;
        if let Some(v) = self.text("locale.uiLanguage") {
            locale.ui_language = v;
        }
        locale.keyboard_layouts = Vec::new();
        for (i, line) in self.lines("locale.keyboardLayouts").iter().enumerate() {
            match line.split_once(':') {
                Some((language, layout)) => locale.keyboard_layouts.push(KeyboardLayout {
                    language: language.trim().to_owned(),
                    layout: layout.trim().to_owned(),
                }),
                None => e.add(
                    format!("locale.keyboardLayouts[{i}]"),
                    "must be LANGID:KLID such as 0409:00000409",
                ),
            }
        }
        locale.input_locales = Vec::new();
        if let Some(v) = self.text("locale.timeZone") {
            locale.time_zone = v;
        }
        locale.geo_location = self.number("locale.geoLocation", e, locale.geo_location);

        let sw = &mut c.software_removal;
        sw.mode = self.word("softwareRemoval.mode", e, sw.mode);
        sw.fixed_packages = self.lines("softwareRemoval.fixedPackages");
        sw.random_pool = self.lines("softwareRemoval.randomPool");
        sw.never_remove = self.lines("softwareRemoval.neverRemove");
        sw.random_count.min =
            self.number("softwareRemoval.randomCount.min", e, sw.random_count.min);
        sw.random_count.max =
            self.number("softwareRemoval.randomCount.max", e, sw.random_count.max);

        let caps = &mut c.capability_removal;
        caps.mode = self.word("capabilityRemoval.mode", e, caps.mode);
        caps.fixed_capabilities = self.lines("capabilityRemoval.fixedCapabilities");
        caps.random_pool = self.lines("capabilityRemoval.randomPool");

        // Unticked boxes are not sent: every toggle is its presence.
        let mut settings = serde_json::to_value(&c.windows_settings).unwrap_or_default();
        for (key, _) in setting_flags(&c.windows_settings) {
            settings[&key] = self.has(&format!("windowsSettings.{key}")).into();
        }
        match serde_json::from_value::<WindowsSettings>(settings) {
            Ok(s) => c.windows_settings = s,
            Err(err) => e.add("windowsSettings", err.to_string()),
        }

        let visual = &mut c.visual_effects;
        visual.mode = self.word("visualEffects.mode", e, visual.mode);
        visual.cursor_shadow = None;
        visual.font_smoothing = None;
        for slot in &EFFECT_SLOTS {
            match self.choice(&format!("visualEffects.effects.{}", slot.key)) {
                Some(on) => visual.effects.insert(slot.key.to_owned(), on),
                None => visual.effects.remove(slot.key),
            };
        }

        let desktop = &mut c.desktop_icons;
        desktop.mode = Some(self.word("desktopIcons.mode", e, desktop.effective_mode()));
        desktop.recycle_bin = None;
        desktop.this_pc = None;
        for (key, _) in &DESKTOP_ICONS {
            match self.choice(&format!("desktopIcons.icons.{key}")) {
                Some(on) => desktop.icons.insert((*key).to_owned(), on),
                None => desktop.icons.remove(*key),
            };
        }
        for (key, _) in &START_FOLDERS {
            match self.choice(&format!("desktopIcons.startFolders.{key}")) {
                Some(on) => desktop.start_folders.insert((*key).to_owned(), on),
                None => desktop.start_folders.remove(*key),
            };
        }
        desktop.delete_edge_shortcut = self.has("desktopIcons.deleteEdgeShortcut");

        let mut script = c.custom_script.take().unwrap_or_default();
        if let Some(v) = self.text("customScript.executable") {
            script.executable = v;
        }
        script.delay_seconds = self.number("customScript.delaySeconds", e, script.delay_seconds);
        c.custom_script = Some(script);
        c
    }
}

fn new_state() -> EditorState {
    EditorState {
        id: None,
        name: String::new(),
        is_default: false,
        password_set: false,
        config: ProfileConfig::default(),
    }
}

/// The stored profile as the editor starts it: its config, the password left empty.
fn stored_state(view: ProfileView) -> Result<EditorState, ApiError> {
    let mut config: serde_json::Value = view.config;
    config["user"]["password"] = "".into();
    let config: ProfileConfig = serde_json::from_value(config).map_err(ApiError::internal)?;
    Ok(EditorState {
        id: Some(view.id),
        name: view.name,
        is_default: view.is_default,
        password_set: view.password_set,
        config,
    })
}

async fn show(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    status: StatusCode,
    editor: EditorState,
    (preview, notice, refusal): (Option<ProfilePreview>, Option<String>, Refusal),
) -> PageResult {
    let (path, title) = match &editor.id {
        Some(id) => (format!("/profiles/{id}"), editor.name.clone()),
        None => ("/profiles/new".to_owned(), "New profile".to_owned()),
    };
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        &path,
        "profiles",
        &[
            ("Provisioning", None),
            ("Unattend profiles", Some("/profiles")),
            (&title, None),
        ],
    )
    .await;
    let body = editor.page(layout, preview, notice, refusal);
    Ok(csrf.attach((status, render(&body)).into_response()))
}

pub async fn new_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
) -> PageResult {
    show(
        &state,
        &auth,
        &headers,
        StatusCode::OK,
        new_state(),
        (None, None, Refusal::none()),
    )
    .await
}

pub async fn edit_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    PageQuery(q): PageQuery<Notice>,
) -> PageResult {
    let editor = stored_state(service::get_profile(&state.db, &auth, &id).await?)?;
    let notice = match q.notice.as_deref() {
        Some("saved") => Some("Profile saved.".to_owned()),
        _ => None,
    };
    show(
        &state,
        &auth,
        &headers,
        StatusCode::OK,
        editor,
        (None, notice, Refusal::none()),
    )
    .await
}

/// Save (or preview, with `action=preview`) what the editor holds: a new profile when `id`
/// is `None`. A refusal shows the editor again as it was, with the reason.
async fn submit(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    id: Option<String>,
    form: EditorForm,
) -> PageResult {
    let stored = match &id {
        Some(id) => Some(stored_state(
            service::get_profile(&state.db, auth, id).await?,
        )?),
        None => None,
    };
    let base = stored
        .as_ref()
        .map_or_else(ProfileConfig::default, |s| s.config.clone());
    let mut problems = FieldErrors::new();
    let config = form.config(base, &mut problems);
    let editor = EditorState {
        id: id.clone(),
        name: form.get("name").trim().to_owned(),
        is_default: form.has("is_default"),
        password_set: stored.as_ref().is_some_and(|s| s.password_set),
        config,
    };
    // The password field as typed: empty on an existing profile keeps the stored one.
    let keep_password = id.is_some() && editor.config.user.password.is_empty();
    let outcome = if !problems.is_empty() {
        Err(ApiError::from(problems))
    } else if form.action() == "preview" {
        match preview(&editor.config, keep_password) {
            Ok(p) => {
                return show(
                    state,
                    auth,
                    headers,
                    StatusCode::OK,
                    editor,
                    (Some(p), None, Refusal::none()),
                )
                .await;
            }
            Err(e) => Err(e),
        }
    } else {
        save(state, auth, &editor, keep_password).await
    };
    match outcome {
        Ok(saved) => Ok(Redirect::to(&format!("/profiles/{saved}?notice=saved")).into_response()),
        Err(e) => {
            let status = e.status();
            show(
                state,
                auth,
                headers,
                status,
                editor,
                (
                    None,
                    None,
                    Refusal::of_pairs("profile-form", &form.0, &e).within("config"),
                ),
            )
            .await
        }
    }
}

/// What the editor's profile makes for one VM; a kept password shows as [`KEPT_PASSWORD`].
fn preview(config: &ProfileConfig, keep_password: bool) -> Result<ProfilePreview, ApiError> {
    let mut config = config.clone();
    if keep_password {
        config.user.password = KEPT_PASSWORD.to_owned();
    }
    let request = PreviewProfileRequest {
        config,
        sequence: None,
        with_playbook: false,
    };
    request.validate()?;
    service::preview_profile(&request)
}

/// Store the editor's profile; its id.
async fn save(
    state: &AppState,
    auth: &Auth,
    editor: &EditorState,
    keep_password: bool,
) -> Result<String, ApiError> {
    match &editor.id {
        None => {
            let request = CreateProfileRequest {
                name: editor.name.clone(),
                is_default: editor.is_default,
                config: editor.config.clone(),
            };
            request.validate()?;
            Ok(service::create_profile(&state.db, auth, request).await?.id)
        }
        Some(id) => {
            let mut config = serde_json::to_value(&editor.config).map_err(ApiError::internal)?;
            if keep_password && let Some(user) = config["user"].as_object_mut() {
                user.remove("password");
            }
            let request = UpdateProfileRequest {
                name: Some(editor.name.clone()),
                is_default: Some(editor.is_default),
                config: Some(config),
            };
            request.validate()?;
            Ok(service::update_profile(&state.db, auth, id, request)
                .await?
                .id)
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<EditorForm>,
) -> PageResult {
    submit(&state, &auth, &headers, None, form).await
}

pub async fn update(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<EditorForm>,
) -> PageResult {
    submit(&state, &auth, &headers, Some(id), form).await
}

pub async fn delete(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> PageResult {
    service::delete_profile(&state.db, &auth, &id).await?;
    Ok(Redirect::to("/profiles?notice=deleted").into_response())
}
