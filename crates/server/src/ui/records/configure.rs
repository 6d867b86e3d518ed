//! The bot page's Configure tab (spec ui.md §3.3): the bot's person, account and character,
//! one section each (`?tab=configure&section=…`), each with its generator and save-lock.
//!
//! One form per section posts to `/bot/{id}/configure/{section}` with the button pressed:
//! *Save* patches the section's fields at the version the page was read at and sets the
//! section's `generation_locks`; *Generate* fills the form with a proposal (nothing is
//! saved; a locked section refuses); *Unlock* clears the locks. The account generator's
//! options are remembered in settings `generators/account/lastSettings`; the character's
//! server, race and class come from the project's reference data.

use botmox_proto::records::identity::COUNTRIES;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::common::with_notice;
use super::form::{self, FieldSpec, FieldView, FormView, Input, Mode, Opt, Posted, Source, field};
use super::specs::{BOTS, FACTIONS};
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::bots::identity;
use crate::records::bots::reference::ReferenceData;
use crate::records::documents::service;
use crate::records::kinds::Kind;
use crate::settings::service as settings;
use crate::state::AppState;

const COUNTRY_CODES: &[&str] = &["US", "DE", "FR", "BR"];
/// The section whose inputs are the week's days ([`week`]).
const SCHEDULE: &str = "schedule";

const PERSON_FIELDS: &[FieldSpec] = &[
    field("person/first_name", "First name", Input::Text),
    field("person/last_name", "Last name", Input::Text),
    field("person/birth_date", "Birth date (DD-MM-YYYY)", Input::Text),
    field("person/country", "Country", Input::Select(COUNTRY_CODES)),
    field("person/city", "City", Input::Text),
    field("person/zip", "ZIP", Input::Text),
    field("person/address", "Address", Input::Text),
];

const ACCOUNT_FIELDS: &[FieldSpec] = &[
    field("account/email", "E-mail", Input::Text),
    field("account/password", "Password", Input::Password),
    field(
        "account/bnet_created_at",
        "Registration date",
        Input::DateMs,
    ),
];

const CHARACTER_FIELDS: &[FieldSpec] = &[
    field("character/name", "Name", Input::Text),
    field("character/server", "Server", Input::Text),
    field("character/faction", "Faction", Input::Select(FACTIONS)),
    field("character/race", "Race", Input::Text),
    field("character/class", "Class", Input::Text),
    field("character/level", "Level", Input::Number),
];

/// One section of the tab.
pub struct Section {
    key: &'static str,
    label: &'static str,
    fields: &'static [FieldSpec],
    /// The `generation_locks` flags a save sets and *Unlock* clears.
    locks: &'static [&'static str],
    /// The fields that must all be filled for the section to count as complete.
    needed: &'static [&'static str],
}

pub const SECTIONS: [Section; 4] = [
    Section {
        key: "person",
        label: "Person",
        fields: PERSON_FIELDS,
        locks: &["person_data"],
        needed: &[
            "person/first_name",
            "person/last_name",
            "person/birth_date",
            "person/country",
        ],
    },
    Section {
        key: "account",
        label: "Account",
        fields: ACCOUNT_FIELDS,
        locks: &["account_email", "account_password"],
        needed: &["account/email", "account/password"],
    },
    Section {
        key: "character",
        label: "Character",
        fields: CHARACTER_FIELDS,
        locks: &["character_name"],
        needed: &["character/name"],
    },
    // Its inputs are the week's days and the generator's parameters ([`week`]).
    Section {
        key: "schedule",
        label: "Schedule",
        fields: &[],
        locks: &["schedule"],
        needed: &["schedule/days"],
    },
];

impl Section {
    fn find(key: &str) -> ApiResult<&'static Section> {
        SECTIONS
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| ApiError::not_found("Section"))
    }

    /// Whether every needed value of the section is stored in `doc`.
    fn complete(&self, doc: &Value) -> bool {
        self.needed.iter().all(|path| {
            form::value_at(doc, path).is_some_and(|v| !form::scalar_text(v).trim().is_empty())
        })
    }
}

/// Whether the bot's person or account is incomplete (the tab's warning marker).
pub fn incomplete(doc: &Value) -> bool {
    SECTIONS[..2].iter().any(|s| !s.complete(doc))
}

/// A section's link in the tab's sub-navigation.
pub struct SectionTab {
    pub key: &'static str,
    pub label: String,
    pub href: String,
    pub active: bool,
    pub complete: bool,
}

/// A lock of the section and whether it is set.
pub struct LockView {
    pub label: &'static str,
    pub set: bool,
}

/// The Configure tab as drawn.
pub struct ConfigureView {
    pub sections: Vec<SectionTab>,
    pub section: &'static str,
    pub action: String,
    pub locks: Vec<LockView>,
    /// Every lock of the section is set: *Generate* is off.
    pub locked: bool,
    /// Some lock of the section is set: *Unlock* is on.
    pub any_locked: bool,
    pub form: FormView,
    pub notice: Option<String>,
    pub account: Option<account::AccountOptions>,
    /// Other character names offered after *Generate*.
    pub names: Vec<String>,
    /// The project's races per faction and classes per race, for the page's script.
    pub reference_json: String,
    pub schedule: Option<week::WeekView>,
}

pub use typed::Typed;

mod account;
mod templates;
mod typed;
mod week;

/// The bot's person, account and week in a line each, for the Summary tab, with the
/// Configure section that edits each: (label, text, link).
pub fn summary(doc: &Value, href: &str) -> Vec<(&'static str, String, String)> {
    let text = |path: &str| {
        form::value_at(doc, path)
            .map(form::scalar_text)
            .unwrap_or_default()
    };
    let person = {
        let name = format!("{} {}", text("person/first_name"), text("person/last_name"));
        let place = [text("person/city"), text("person/country")]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        let born = text("person/birth_date");
        let mut parts: Vec<String> = vec![name.trim().to_owned(), place];
        if !born.is_empty() {
            parts.push(format!("born {born}"));
        }
        parts.retain(|p| !p.is_empty());
        parts.join(" · ")
    };
    let account = text("account/email");
    let week = crate::records::bots::schedule::of(doc).map(|week| {
        let playing: Vec<&botmox_proto::records::schedule::Day> = week
            .days
            .iter()
            .filter(|d| d.enabled && !d.sessions.is_empty())
            .collect();
        let sessions: usize = playing.iter().map(|d| d.sessions.len()).sum();
        let minutes: u32 = playing
            .iter()
            .map(|d| crate::records::bots::schedule::active_minutes(d))
            .sum();
        format!(
            "{} a week, {} over {} ({})",
            crate::clock::count(i64::from(minutes / 60), "hour"),
            crate::clock::count(sessions as i64, "session"),
            crate::clock::count(playing.len() as i64, "day"),
            week.timezone
        )
    });
    let or_unset = |s: String| {
        if s.is_empty() {
            "Not set".to_owned()
        } else {
            s
        }
    };
    let link = |section: &str| format!("{href}?tab=configure&section={section}");
    vec![
        ("Person", or_unset(person), link("person")),
        ("Account", or_unset(account), link("account")),
        (
            "Schedule",
            or_unset(week.unwrap_or_default()),
            link(SCHEDULE),
        ),
    ]
}

/// The sentence after a section was saved or unlocked.
pub fn notice(key: &str) -> Option<String> {
    match key {
        "saved" => Some(
            "Saved and locked: the generators leave these values alone until you unlock them."
                .into(),
        ),
        "unlocked" => Some("Unlocked: the generators may replace these values again.".into()),
        _ => None,
    }
}

/// The Configure tab of `doc` (the bot, masked) on `section`.
pub async fn view(
    state: &AppState,
    auth: &Auth,
    doc: &Value,
    version: String,
    section: Option<&str>,
    typed: Option<Typed>,
) -> ApiResult<ConfigureView> {
    let section = Section::find(section.unwrap_or("person"))?;
    let href = BOTS.item_href(doc["id"].as_str().unwrap_or_default());
    let tree = settings::tree(&state.db, auth.tenant()).await?;
    let typed = typed.unwrap_or_default();
    let source = if typed.posted.is_empty() {
        Source::Record(doc)
    } else {
        Source::Posted(&typed.posted)
    };
    let version = typed.posted.get("_version").cloned().unwrap_or(version);
    let mut form = form::form_view(section.fields, source, typed.error.as_ref(), &[], version);
    let project = doc["project_id"].as_str().unwrap_or_default();
    let reference = ReferenceData::of(&tree, project);
    if section.key == "character" {
        offer(&mut form.fields, "character/server", &reference.servers);
        offer(&mut form.fields, "character/race", &reference.all_races());
        offer(
            &mut form.fields,
            "character/class",
            &reference.all_classes(),
        );
    }
    let locks: Vec<LockView> = section
        .locks
        .iter()
        .map(|lock| LockView {
            label: lock_label(lock),
            set: identity::is_locked(doc, lock),
        })
        .collect();
    let account = (section.key == "account")
        .then(|| account::view(&tree, &typed.posted, typed.error.as_ref()));
    let schedule = (section.key == SCHEDULE)
        .then(|| week::view(doc, &tree, &typed.posted, typed.error.as_ref()));
    Ok(ConfigureView {
        sections: SECTIONS
            .iter()
            .enumerate()
            .map(|(i, s)| SectionTab {
                key: s.key,
                label: format!("{}. {}", i + 1, s.label),
                href: format!("{href}?tab=configure&section={}", s.key),
                active: s.key == section.key,
                complete: s.complete(doc),
            })
            .collect(),
        section: section.key,
        action: format!("{href}/configure/{}", section.key),
        locked: locks.iter().all(|l| l.set),
        any_locked: locks.iter().any(|l| l.set),
        locks,
        form,
        notice: typed.notice,
        account,
        // Suggestions stay through a refused save (the form carries them back).
        names: if typed.names.is_empty() {
            typed
                .posted
                .get("_names")
                .map(|n| {
                    n.split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            typed.names
        },
        reference_json: json!({"races": reference.races, "classes": reference.classes}).to_string(),
        schedule,
    })
}

/// Make the text input `name` a choice among `choices` (when there are any), keeping the
/// value it shows.
fn offer(fields: &mut [FieldView], name: &str, choices: &[String]) {
    let Some(f) = fields.iter_mut().find(|f| f.name == name) else {
        return;
    };
    if choices.is_empty() {
        return;
    }
    f.kind = "select";
    let mut values: Vec<String> = vec![String::new()];
    values.extend(choices.iter().cloned());
    if !f.value.is_empty() && !choices.contains(&f.value) {
        values.push(f.value.clone());
    }
    f.options = values
        .into_iter()
        .map(|v| Opt {
            label: if v.is_empty() {
                "—".into()
            } else {
                v.clone()
            },
            selected: v == f.value,
            value: v,
        })
        .collect();
}

fn lock_label(lock: &str) -> &'static str {
    match lock {
        "person_data" => "Person",
        "account_email" => "E-mail",
        "account_password" => "Password",
        "character_name" => "Character name",
        _ => "Schedule",
    }
}

/// What a post to a section comes to: back to the section with a sentence (saved,
/// unlocked), or the section drawn again with what the post left in it.
pub enum Acted {
    Redirect(String),
    Show(&'static str, Typed),
}

/// `POST /bot/{id}/configure/{section}` with `_do` = `save`, `generate`, `unlock` or one of
/// the generators' template actions (the bot page's handler draws the answer).
pub async fn act(
    state: &AppState,
    auth: &Auth,
    id: &str,
    key: &str,
    posted: Posted,
) -> ApiResult<Acted> {
    let section = Section::find(key)?;
    let here = format!(
        "{}?tab=configure&section={}",
        BOTS.item_href(id),
        section.key
    );
    let action = posted.get("_do").map(String::as_str);
    let outcome = match action {
        Some(template @ ("apply_template" | "save_template" | "delete_template")) => {
            let store = if section.key == SCHEDULE {
                &week::TEMPLATES
            } else {
                &account::TEMPLATES
            };
            match store.act(state, auth, template, &posted).await {
                Ok(typed) => typed,
                Err(error) => refused(posted, error),
            }
        }
        Some("default_template") => match account::set_default(state, auth, &posted).await {
            Ok(typed) => typed,
            Err(error) => refused(posted, error),
        },
        Some("generate") => match generate(state, auth, id, section, &posted).await {
            Ok(typed) => typed,
            Err(error) => refused(posted, error),
        },
        Some("unlock") => match unlock(state, auth, id, section).await {
            Ok(()) => return Ok(Acted::Redirect(with_notice(&here, "unlocked"))),
            Err(error) => refused(Posted::new(), error),
        },
        _ => match save(state, auth, id, section, &posted).await {
            Ok(()) => return Ok(Acted::Redirect(with_notice(&here, "saved"))),
            Err(error) => refused(posted, error),
        },
    };
    Ok(Acted::Show(section.key, outcome))
}

fn refused(posted: Posted, error: ApiError) -> Typed {
    Typed {
        posted,
        error: Some(error),
        ..Typed::default()
    }
}

/// Save the section's fields at the version the form was read at, and lock them.
async fn save(
    state: &AppState,
    auth: &Auth,
    id: &str,
    section: &Section,
    posted: &Posted,
) -> ApiResult<()> {
    let mut body = if section.key == SCHEDULE {
        json!({ SCHEDULE: week::from_posted(posted)? })
    } else {
        form::body(section.fields, posted, Mode::Patch)?
    };
    if section.key == "character" {
        let bot = service::get(state, auth, Kind::Bot, id).await?;
        let tree = settings::tree(&state.db, auth.tenant()).await?;
        let reference = ReferenceData::of(&tree, bot.project_id.as_deref().unwrap_or_default());
        let text = |k: &str| posted.get(k).map(|v| v.trim()).unwrap_or_default();
        let problems = reference.problems(
            text("character/server"),
            text("character/faction"),
            text("character/race"),
            text("character/class"),
        );
        if let Some((field, problem)) = problems.into_iter().next() {
            return Err(ApiError::field(&format!("character/{field}"), problem));
        }
    }
    let map = body.as_object_mut().expect("a form body is an object");
    for lock in section.locks {
        map.insert(format!("generation_locks/{lock}"), Value::Bool(true));
    }
    let version = posted
        .get("_version")
        .map(String::as_str)
        .filter(|v| !v.is_empty());
    service::patch(state, auth, Kind::Bot, id, body, version).await?;
    Ok(())
}

/// Clear the section's locks.
async fn unlock(state: &AppState, auth: &Auth, id: &str, section: &Section) -> ApiResult<()> {
    let body: Map<String, Value> = section
        .locks
        .iter()
        .map(|lock| (format!("generation_locks/{lock}"), Value::Bool(false)))
        .collect();
    service::patch(state, auth, Kind::Bot, id, Value::Object(body), None).await?;
    Ok(())
}

/// The section's form with a proposal in it: what was typed, the generated values over it.
async fn generate(
    state: &AppState,
    auth: &Auth,
    id: &str,
    section: &Section,
    posted: &Posted,
) -> ApiResult<Typed> {
    let bot = service::view(&service::get(state, auth, Kind::Bot, id).await?);
    let mut typed = posted.clone();
    // Seeded from the OS like the thread's generator, but `Send`: it lives across awaits.
    let mut rng = StdRng::from_entropy();
    let mut names = Vec::new();
    match section.key {
        "person" => {
            identity::refuse_if_locked(&bot, "person_data", "person")?;
            let country = posted
                .get("person/country")
                .filter(|c| COUNTRY_CODES.contains(&c.as_str()))
                .map_or(COUNTRIES[0].0, String::as_str);
            let today = chrono::Utc::now().date_naive();
            let person = identity::person(country, today, &mut rng);
            if let Value::Object(values) = json!(person) {
                for (key, value) in values {
                    typed.insert(format!("person/{key}"), form::scalar_text(&value));
                }
            }
        }
        "account" => account::generate(state, auth, &bot, &mut typed, &mut rng).await?,
        SCHEDULE => {
            identity::refuse_if_locked(&bot, "schedule", "schedule")?;
            week::generate(state, auth, &mut typed, &mut rng).await?;
        }
        _ => {
            identity::refuse_if_locked(&bot, "character_name", "character name")?;
            names = identity::character_names(6, &mut rng);
            typed.insert("character/name".into(), names.remove(0));
        }
    }
    Ok(Typed {
        posted: typed,
        notice: Some("Generated: nothing is saved until you press Save.".into()),
        names,
        ..Typed::default()
    })
}
