//! A bot's made-up identity (spec ui.md §3.3 Configure): a person for a country, an
//! account's e-mail from that person and a password of the asked length and kinds of
//! character, and character names. Everything is made here, from bundled data (the reference
//! scraped a third-party names site for character names, one request per batch).
//!
//! A generator never saves: it proposes, and the caller saves with `PATCH /bots/{id}`,
//! setting the bot's `generation_locks` flag for what it saved. While a flag is set the
//! generator for that value refuses (409 `GENERATION_LOCKED`), so a click cannot overwrite
//! an identity already in use; clearing the flag (a PATCH, or *Unlock* in the UI) lets it
//! generate again.

use botmox_proto::ErrorCode;
use botmox_proto::records::identity::{AccountProposal, PasswordOptions, Person};
use chrono::{Datelike, Days, NaiveDate};
use fake::Fake;
use fake::faker::address::raw::{BuildingNumber, CityName, StreetName, ZipCode};
use fake::faker::impls::address::CityNameGenFn;
use fake::faker::name::raw::{FirstName, LastName};
use fake::locales::{DE_DE, EN, FR_FR, PT_BR};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::Value;

use crate::http::ApiError;

/// Symbols a password may hold: printable, and none that a shell, a URL or a CSV cell
/// treats specially.
const SYMBOLS: &str = "!#%*+-=?@^_~";

/// Whether the bot's `generation_locks` flag `lock` is set.
pub fn is_locked(bot: &Value, lock: &str) -> bool {
    bot.pointer(&format!("/generation_locks/{lock}"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// 409 `GENERATION_LOCKED` for `what` when its lock is set.
pub fn refuse_if_locked(bot: &Value, lock: &str, what: &str) -> Result<(), ApiError> {
    if is_locked(bot, lock) {
        return Err(ApiError::new(
            ErrorCode::GenerationLocked,
            format!("The {what} was saved and is locked; unlock it to generate another"),
        ));
    }
    Ok(())
}

/// A person living in `country` (a code of `identity::COUNTRIES`), born 21 to 45 years
/// before `today`.
pub fn person(country: &str, today: NaiveDate, rng: &mut impl Rng) -> Person {
    let parts = match country {
        "DE" => parts(DE_DE, false, rng),
        "FR" => parts(FR_FR, true, rng),
        "BR" => parts(PT_BR, false, rng),
        _ => parts(EN, true, rng),
    };
    let age_days = rng.gen_range(21 * 365..45 * 365);
    let born = today.checked_sub_days(Days::new(age_days)).unwrap_or(today);
    Person {
        first_name: parts.0,
        last_name: parts.1,
        birth_date: format!("{:02}-{:02}-{}", born.day(), born.month(), born.year()),
        country: country.to_owned(),
        city: parts.2,
        zip: parts.3,
        address: parts.4,
    }
}

/// First name, last name, city, postcode and street address in locale `l`; the house
/// number before the street or after it, as the country writes it.
fn parts<L: CityNameGenFn>(
    l: L,
    number_first: bool,
    rng: &mut impl Rng,
) -> (String, String, String, String, String) {
    let street: String = StreetName(l).fake_with_rng(rng);
    let number: String = BuildingNumber(l).fake_with_rng(rng);
    let address = if number_first {
        format!("{number} {street}")
    } else {
        format!("{street} {number}")
    };
    (
        FirstName(l).fake_with_rng(rng),
        LastName(l).fake_with_rng(rng),
        CityName(l).fake_with_rng(rng),
        ZipCode(l).fake_with_rng(rng),
        address,
    )
}

/// A password of `options.length` characters with at least one of each asked kind, the
/// rest drawn from all of them, in random order. `options` must be valid.
pub fn password(options: &PasswordOptions, rng: &mut impl Rng) -> String {
    let kinds: Vec<Vec<char>> = [
        (options.uppercase, ('A'..='Z').collect::<Vec<_>>()),
        (options.lowercase, ('a'..='z').collect()),
        (options.numbers, ('0'..='9').collect()),
        (options.symbols, SYMBOLS.chars().collect()),
    ]
    .into_iter()
    .filter_map(|(wanted, chars)| wanted.then_some(chars))
    .collect();
    let all: Vec<char> = kinds.iter().flatten().copied().collect();
    let mut chars: Vec<char> = kinds
        .iter()
        .filter_map(|kind| kind.choose(rng).copied())
        .collect();
    while chars.len() < usize::from(options.length) {
        chars.extend(all.choose(rng));
    }
    chars.shuffle(rng);
    chars.into_iter().collect()
}

/// An e-mail address at `domain` from the person's name and birth year: letters and digits
/// only, accents spelled out (`Zoé Müller`, 1990 → `zoe.muller90@…`).
pub fn email(person: &Person, domain: &str, rng: &mut impl Rng) -> String {
    let plain = |s: &str| -> String {
        deunicode::deunicode(s)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let year = person
        .birth_date
        .rsplit('-')
        .next()
        .filter(|y| y.len() == 4)
        .map_or_else(
            || format!("{:02}", rng.gen_range(0..100)),
            |y| y[2..].to_owned(),
        );
    let (first, last) = (plain(&person.first_name), plain(&person.last_name));
    let local = match rng.gen_range(0..3) {
        0 => format!("{first}.{last}{year}"),
        1 => format!("{}{last}{year}", first.chars().next().unwrap_or('x')),
        _ => format!("{first}{last}{}", rng.gen_range(10..1000)),
    };
    format!("{local}@{domain}")
}

/// The account generator's proposal: each value whose lock is clear. Both locked is a 409;
/// an e-mail needs the bot's person (its name and birth date).
pub fn account(
    bot: &Value,
    options: &PasswordOptions,
    domain: &str,
    rng: &mut impl Rng,
) -> Result<AccountProposal, ApiError> {
    let email_locked = is_locked(bot, "account_email");
    let password_locked = is_locked(bot, "account_password");
    if email_locked && password_locked {
        refuse_if_locked(bot, "account_email", "account's e-mail and password")?;
    }
    let email = if email_locked {
        None
    } else {
        let person = bot
            .get("person")
            .cloned()
            .and_then(|p| serde_json::from_value::<Person>(p).ok())
            .filter(|p| !p.first_name.is_empty() && !p.last_name.is_empty())
            .ok_or_else(|| {
                ApiError::field(
                    "person",
                    "An e-mail is made from the bot's person: generate or enter the person first",
                )
            })?;
        Some(email(&person, domain, rng))
    };
    Ok(AccountProposal {
        email,
        password: (!password_locked).then(|| password(options, rng)),
    })
}

/// Syllables of character names: a beginning, optional middles, an end.
const STARTS: &[&str] = &[
    "Ar", "Bel", "Cor", "Dra", "El", "Fen", "Gar", "Hal", "Is", "Jor", "Kal", "Lor", "Mor", "Nar",
    "Or", "Pel", "Quel", "Ral", "Sar", "Tor", "Ul", "Vor", "Wyn", "Xan", "Yr", "Zel", "Thal", "Ka",
    "Mi", "Ser",
];
const MIDDLES: &[&str] = &[
    "a", "e", "i", "o", "u", "ae", "ia", "or", "an", "el", "ri", "ul",
];
const ENDS: &[&str] = &[
    "dor", "wen", "mir", "thas", "rok", "lia", "nor", "grim", "vyn", "ra", "dil", "gar", "ion",
    "ash", "eth", "is", "ius", "ena",
];

/// `count` distinct character names: letters only, 4 to 12 of them, capitalised (what the
/// game accepts).
pub fn character_names(count: usize, rng: &mut impl Rng) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(count);
    while names.len() < count {
        let mut name = String::from(*STARTS.choose(rng).unwrap_or(&"Ar"));
        for _ in 0..rng.gen_range(0..3) {
            name.push_str(MIDDLES.choose(rng).unwrap_or(&"a"));
        }
        name.push_str(ENDS.choose(rng).unwrap_or(&"dor"));
        if (4..=12).contains(&name.len()) && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn a_person_is_whole_and_of_age() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let mut rng = rng();
        for country in ["US", "DE", "FR", "BR"] {
            for _ in 0..50 {
                let p = person(country, today, &mut rng);
                assert_eq!(p.country, country);
                for part in [&p.first_name, &p.last_name, &p.city, &p.zip, &p.address] {
                    assert!(!part.trim().is_empty(), "{p:?}");
                }
                let born = NaiveDate::parse_from_str(&p.birth_date, "%d-%m-%Y").unwrap();
                let age = today.years_since(born).unwrap();
                assert!((20..=45).contains(&age), "{p:?}");
            }
        }
    }

    #[test]
    fn a_password_has_its_length_and_every_asked_kind_and_no_other() {
        let mut rng = rng();
        for length in [8u8, 13, 32] {
            for (upper, lower, numbers, symbols) in [
                (true, true, true, true),
                (false, false, true, false),
                (true, false, false, true),
            ] {
                let options = PasswordOptions {
                    length,
                    uppercase: upper,
                    lowercase: lower,
                    numbers,
                    symbols,
                };
                for _ in 0..20 {
                    let p = password(&options, &mut rng);
                    assert_eq!(p.chars().count(), usize::from(length), "{p}");
                    let has = |f: fn(&char) -> bool| p.chars().any(|c| f(&c));
                    assert_eq!(has(char::is_ascii_uppercase), upper, "{p}");
                    assert_eq!(has(char::is_ascii_lowercase), lower, "{p}");
                    assert_eq!(has(char::is_ascii_digit), numbers, "{p}");
                    assert_eq!(p.chars().any(|c| SYMBOLS.contains(c)), symbols, "{p}");
                }
            }
        }
    }

    #[test]
    fn an_email_spells_the_person_out_in_plain_letters() {
        let zoe = Person {
            first_name: "Zoé".into(),
            last_name: "Müller-Ŝmith".into(),
            birth_date: "04-07-1990".into(),
            country: "DE".into(),
            city: "Berlin".into(),
            zip: "10115".into(),
            address: "Hauptstraße 1".into(),
        };
        let mut rng = rng();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..60 {
            let mail = email(&zoe, "mail.example", &mut rng);
            let (local, domain) = mail.split_once('@').unwrap();
            assert_eq!(domain, "mail.example");
            assert!(
                local
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.'),
                "{mail}"
            );
            assert!(local.contains("mullersmith"), "{mail}");
            seen.insert(mail);
        }
        assert!(seen.contains("zoe.mullersmith90@mail.example"), "{seen:?}");
    }

    #[test]
    fn locks_hold_back_what_they_cover() {
        let mut rng = rng();
        let options = PasswordOptions::default();
        let person = json!({"first_name": "Ann", "last_name": "Lee", "birth_date": "01-02-1991",
            "country": "US", "city": "X", "zip": "1", "address": "1 Y St"});
        let open = json!({"person": person});
        let both = account(&open, &options, "mail.example", &mut rng).unwrap();
        assert!(both.email.unwrap().ends_with("@mail.example"));
        assert_eq!(both.password.unwrap().len(), 16);

        let email_locked = json!({"person": person, "generation_locks": {"account_email": true}});
        let only = account(&email_locked, &options, "mail.example", &mut rng).unwrap();
        assert_eq!(only.email, None);
        assert!(only.password.is_some());

        let all = json!({"generation_locks": {"account_email": true, "account_password": true}});
        let err = account(&all, &options, "mail.example", &mut rng).unwrap_err();
        assert_eq!(err.code, ErrorCode::GenerationLocked);

        let nobody = json!({});
        let err = account(&nobody, &options, "mail.example", &mut rng).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(is_locked(
            &json!({"generation_locks": {"schedule": true}}),
            "schedule"
        ));
        assert!(!is_locked(
            &json!({"generation_locks": {"schedule": false}}),
            "schedule"
        ));
    }

    #[test]
    fn character_names_are_distinct_words_the_game_accepts() {
        let names = character_names(50, &mut rng());
        assert_eq!(names.len(), 50);
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), 50);
        for n in &names {
            assert!((4..=12).contains(&n.len()), "{n}");
            assert!(n.chars().all(|c| c.is_ascii_alphabetic()), "{n}");
            assert!(n.chars().next().unwrap().is_ascii_uppercase(), "{n}");
        }
    }
}
