//! The Configure tab's account generator: its options (password length and kinds of
//! character, mail domain), remembered as the tenant's last used ones (settings
//! `generators/account/lastSettings`), kept as named templates (`generators/account/
//! templates`) of which one may be the default (`defaultTemplateId`) the form opens with.

use botmox_proto::records::identity::{MAIL_DOMAINS, PasswordOptions, is_domain};
use botmox_proto::validate::Validate;
use rand::Rng;
use serde_json::{Value, json};

use super::templates::{Store, without_stamp};
use super::typed::Typed;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::bots::identity;
use crate::settings::service as settings;
use crate::state::AppState;
use crate::ui::records::form::{Opt, Posted};
use crate::ui::refusal::Problems;

/// The account generator's templates.
pub const TEMPLATES: Store = Store {
    path: "generators/account/templates",
    key: "settings",
    read: |posted| Ok(settings_of(&checked(posted)?, posted)),
    write: |posted, stored| {
        into_posted(posted, stored);
        Ok(())
    },
};

/// The account generator's options as its inputs show them.
pub struct AccountOptions {
    pub password: PasswordOptions,
    pub domains: Vec<Opt>,
    pub custom_domain: String,
    pub templates: Vec<Opt>,
    /// The name of the template the form opens with, when one is the default.
    pub default_template: Option<String>,
    /// The generator's refusal, in words.
    pub error: Option<String>,
}

/// The options shown: as posted, else the default template's, else the last used, else
/// the defaults.
pub fn view(tree: &Value, posted: &Posted, error: Option<&ApiError>) -> AccountOptions {
    let default_id = tree
        .pointer("/generators/account/defaultTemplateId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty());
    let mut shown = posted.clone();
    if !posted.contains_key("gen_length") {
        let stored = default_id
            .and_then(|id| TEMPLATES.params(tree, id))
            .or_else(|| tree.pointer("/generators/account/lastSettings").cloned());
        match stored {
            Some(stored) => into_posted(&mut shown, &stored),
            None => into_posted(
                &mut shown,
                &json!({"passwordOptions": PasswordOptions::default()}),
            ),
        }
    }
    let domain = shown.get("gen_domain").cloned().unwrap_or_default();
    let mut domains: Vec<Opt> = MAIL_DOMAINS
        .iter()
        .chain(["custom"].iter())
        .map(|d| Opt {
            value: (*d).to_owned(),
            label: if *d == "custom" { "Custom…" } else { d }.to_owned(),
            selected: domain == *d,
        })
        .collect();
    if !domains.iter().any(|d| d.selected) {
        domains[0].selected = true;
    }
    let chosen = shown.get("template").cloned().unwrap_or_default();
    let templates = TEMPLATES.options(tree, &chosen);
    AccountOptions {
        password: posted_options(&shown),
        domains,
        custom_domain: shown.get("gen_custom_domain").cloned().unwrap_or_default(),
        default_template: default_id.and_then(|id| {
            TEMPLATES
                .list(tree)
                .into_iter()
                .find(|(t, _)| t == id)
                .map(|(_, name)| name)
        }),
        templates,
        error: error
            .map(Problems::from_error)
            .and_then(|p| p.of("generator")),
    }
}

/// The password options as posted (an unparsable length reads as 0, which the validation
/// refuses).
fn posted_options(posted: &Posted) -> PasswordOptions {
    let on = |key: &str| posted.contains_key(key);
    PasswordOptions {
        length: posted
            .get("gen_length")
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0),
        uppercase: on("gen_uppercase"),
        lowercase: on("gen_lowercase"),
        numbers: on("gen_numbers"),
        symbols: on("gen_symbols"),
    }
}

/// The posted options and mail domain, checked; a refusal says what is wrong in words.
fn checked(posted: &Posted) -> ApiResult<(PasswordOptions, String)> {
    let options = posted_options(posted);
    options.validate().map_err(|e| {
        let problem = e
            .get("length")
            .map(|p| format!("Password length {}", p[0]))
            .or_else(|| e.get("uppercase").map(|p| format!("Password: {}", p[0])))
            .unwrap_or_default();
        ApiError::field("generator", problem)
    })?;
    let domain = match posted.get("gen_domain").map(String::as_str) {
        Some("custom") => posted
            .get("gen_custom_domain")
            .map(|d| d.trim().to_owned())
            .unwrap_or_default(),
        Some(d) if !d.is_empty() => d.to_owned(),
        _ => MAIL_DOMAINS[0].to_owned(),
    };
    if !is_domain(&domain) {
        return Err(ApiError::field(
            "generator",
            "The mail domain must be a domain name such as mail.example",
        ));
    }
    Ok((options, domain))
}

/// The options as settings keep them (`lastSettings`, a template's `settings`).
fn settings_of((options, _): &(PasswordOptions, String), posted: &Posted) -> Value {
    let domain = posted.get("gen_domain").cloned().unwrap_or_default();
    json!({
        "passwordOptions": options,
        "selectedDomain": if domain == "custom" { String::new() } else { domain.clone() },
        "customDomain": posted.get("gen_custom_domain").map(|d| d.trim()).unwrap_or_default(),
        "useCustomDomain": domain == "custom",
    })
}

/// Put stored options into the generator's inputs.
fn into_posted(posted: &mut Posted, stored: &Value) {
    let options = stored
        .get("passwordOptions")
        .cloned()
        .and_then(|v| serde_json::from_value::<PasswordOptions>(without_stamp(v)).ok())
        .filter(|o| o.validate().is_ok())
        .unwrap_or_default();
    posted.insert("gen_length".into(), options.length.to_string());
    for (key, on) in [
        ("gen_uppercase", options.uppercase),
        ("gen_lowercase", options.lowercase),
        ("gen_numbers", options.numbers),
        ("gen_symbols", options.symbols),
    ] {
        if on {
            posted.insert(key.into(), "true".into());
        } else {
            posted.remove(key);
        }
    }
    let text = |key: &str| {
        stored
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let custom = stored
        .get("useCustomDomain")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let domain = if custom {
        "custom".into()
    } else {
        text("selectedDomain")
    };
    posted.insert("gen_domain".into(), domain);
    posted.insert("gen_custom_domain".into(), text("customDomain"));
}

/// Fill the form with an e-mail made from the bot's person and a password, each unless
/// locked, and keep the options as the last used.
pub async fn generate(
    state: &AppState,
    auth: &Auth,
    bot: &Value,
    posted: &mut Posted,
    rng: &mut impl Rng,
) -> ApiResult<()> {
    let checked = checked(posted)?;
    let proposal = identity::account(bot, &checked.0, &checked.1, rng)?;
    let path = settings::parse_path("generators/account/lastSettings")?;
    settings::write(state, auth, &path, settings_of(&checked, posted)).await?;
    if let Some(email) = proposal.email {
        posted.insert("account/email".into(), email);
    }
    if let Some(password) = proposal.password {
        posted.insert("account/password".into(), password);
    }
    Ok(())
}

/// Make the chosen template the one the form opens with.
pub async fn set_default(state: &AppState, auth: &Auth, posted: &Posted) -> ApiResult<Typed> {
    let chosen = posted.get("template").map(|t| t.trim()).unwrap_or_default();
    let tree = settings::tree(&state.db, auth.tenant()).await?;
    let Some((id, name)) = TEMPLATES
        .list(&tree)
        .into_iter()
        .find(|(id, _)| id == chosen)
    else {
        return Err(ApiError::field(
            "generator",
            "Choose a saved template first",
        ));
    };
    let path = settings::parse_path("generators/account/defaultTemplateId")?;
    settings::write(state, auth, &path, json!(id)).await?;
    Ok(Typed {
        posted: posted.clone(),
        notice: Some(format!("Template “{name}” is the default now.")),
        ..Typed::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_go_into_the_inputs_and_back() {
        let stored = json!({"passwordOptions": {"length": 20, "uppercase": false, "lowercase": true,
            "numbers": true, "symbols": true}, "selectedDomain": "", "customDomain": "mail.example",
            "useCustomDomain": true});
        let mut posted = Posted::new();
        into_posted(&mut posted, &stored);
        let read = checked(&posted).unwrap();
        assert_eq!(read.1, "mail.example");
        assert_eq!(settings_of(&read, &posted), stored);
        posted.insert("gen_length".into(), "99".into());
        let err = checked(&posted).unwrap_err();
        assert_eq!(
            Problems::from_error(&err).of("generator").unwrap(),
            "Password length must be from 8 to 32"
        );
    }
}
