//! Field rules for JSON documents (records, spec api.md §6.5; settings, §9.1), checked once
//! at the edge. Unknown fields pass through untouched; known fields must have the documented
//! type and range, so no input can reach the database in a shape it would refuse.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::http::ApiError;

/// The largest amount of money a field takes: a trillion, more than any one operation of a
/// bot farm is worth, and far enough below `f64::MAX` that no sum of them can overflow.
pub const MAX_AMOUNT: f64 = 1e12;

/// What an id that goes into URLs and references must look like (a project's): the
/// pattern the API document states, the sentence a refusal says, and the check.
pub const ID_PATTERN: &str = "^[a-z0-9_-]{1,64}$";
pub const ID_RULE: &str = "id must be 1 to 64 lowercase letters, digits, '_' or '-'";

pub fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// What a field may hold.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Any string; `Some(n)` caps its length in characters.
    Str(Option<usize>),
    /// A string with at least one non-blank character.
    NonEmpty,
    /// A string with at least one non-blank character, at most this many characters.
    Label(usize),
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
    /// An integer in the inclusive range.
    Int(i64, i64),
    /// A finite number (numeric strings are accepted, as in the reference).
    Num,
    Bool,
    /// Epoch milliseconds: a non-negative integer (numeric strings accepted).
    Timestamp,
    /// `YYYY-MM-DD`.
    Date,
    /// An array of non-empty strings.
    StrList,
    Object,
    /// An object or an array.
    Structured,
    /// `null` or the inner rule.
    Nullable(&'static Rule),
    /// A finite number greater than zero.
    Positive,
    /// A number from 0 to 1.
    Fraction,
    /// An amount of money (or gold): a number from 0 to [`MAX_AMOUNT`]. Direction comes
    /// from elsewhere (a finance operation's `type`), never from the sign.
    Amount,
    /// A time of day as `HH:MM` (24 h).
    Time,
    /// Anything.
    Any,
    /// An object whose fields follow these rules (unknown fields kept).
    Shape(&'static [Field]),
    /// An object mapping ids to values of the rule; a `null` value removes the entry.
    MapOf(&'static Rule),
    /// [`Rule::MapOf`] whose new keys must also be ids by [`ID_PATTERN`]: the writer checks
    /// keys it adds (keys stored before the rule keep working), the API document declares it.
    IdMapOf(&'static Rule),
    /// An array of at most `max` items of the rule.
    ListOf(&'static Rule, usize),
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub rule: Rule,
    pub required: bool,
}

pub const fn opt(name: &'static str, rule: Rule) -> Field {
    Field {
        name,
        rule,
        required: false,
    }
}

pub const fn req(name: &'static str, rule: Rule) -> Field {
    Field {
        name,
        rule,
        required: true,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// Check one value; `Err` carries the message for that field. Returns the value to store
/// (numbers given as strings are stored as numbers).
pub fn check(rule: Rule, v: &Value) -> Result<Value, String> {
    match rule {
        Rule::Nullable(inner) => {
            if v.is_null() {
                Ok(Value::Null)
            } else {
                check(*inner, v)
            }
        }
        Rule::Str(max) => match v {
            Value::String(s) if max.is_none_or(|m| s.chars().count() <= m) => Ok(v.clone()),
            Value::String(_) => Err(format!(
                "must be at most {} characters",
                max.unwrap_or_default()
            )),
            _ => Err("must be a string".into()),
        },
        Rule::NonEmpty => match v {
            Value::String(s) if !s.trim().is_empty() => Ok(Value::String(s.trim().to_owned())),
            _ => Err("must be a non-empty string".into()),
        },
        Rule::Label(max) => match v {
            Value::String(s) if s.trim().chars().count() > max => {
                Err(format!("must be at most {max} characters"))
            }
            _ => check(Rule::NonEmpty, v),
        },
        Rule::OneOf(allowed) => match v {
            Value::String(s) if allowed.contains(&s.as_str()) => Ok(v.clone()),
            _ => Err(format!("must be one of: {}", allowed.join(", "))),
        },
        Rule::Int(min, max) => {
            let n = as_number(v)
                .filter(|f| f.fract() == 0.0)
                .ok_or("must be an integer")?;
            if n < min as f64 || n > max as f64 {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(Value::from(n as i64))
        }
        Rule::Num => as_number(v)
            .map(Value::from)
            .ok_or_else(|| "must be a number".into()),
        Rule::Bool => v
            .as_bool()
            .map(Value::from)
            .ok_or_else(|| "must be true or false".into()),
        Rule::Timestamp => {
            let n = as_number(v)
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= crate::clock::MAX_MS as f64)
                .ok_or("must be epoch milliseconds")?;
            Ok(Value::from(n as i64))
        }
        Rule::Date => match v {
            Value::String(s) if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
                Ok(v.clone())
            }
            _ => Err("must be a date as YYYY-MM-DD".into()),
        },
        Rule::StrList => match v {
            Value::Array(items)
                if items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| !s.trim().is_empty())) =>
            {
                Ok(v.clone())
            }
            _ => Err("must be a list of non-empty strings".into()),
        },
        Rule::Object => {
            if v.is_object() {
                Ok(v.clone())
            } else {
                Err("must be an object".into())
            }
        }
        Rule::Structured => {
            if v.is_object() || v.is_array() {
                Ok(v.clone())
            } else {
                Err("must be an object or an array".into())
            }
        }
        Rule::Positive => as_number(v)
            .filter(|f| *f > 0.0)
            .map(Value::from)
            .ok_or_else(|| "must be a number greater than 0".into()),
        Rule::Amount => as_number(v)
            .filter(|f| (0.0..=MAX_AMOUNT).contains(f))
            .map(Value::from)
            .ok_or_else(|| format!("must be a number from 0 to {MAX_AMOUNT:.0}")),
        Rule::Fraction => as_number(v)
            .filter(|f| (0.0..=1.0).contains(f))
            .map(Value::from)
            .ok_or_else(|| "must be a number from 0 to 1".into()),
        Rule::Time => match v {
            Value::String(s) if chrono::NaiveTime::parse_from_str(s, "%H:%M").is_ok() => {
                Ok(v.clone())
            }
            _ => Err("must be a time as HH:MM".into()),
        },
        Rule::Any => Ok(v.clone()),
        Rule::Shape(fields) => {
            let Value::Object(map) = v else {
                return Err("must be an object".into());
            };
            check_fields(fields, map, false)
                .map(Value::Object)
                .map_err(|errors| summary(&errors))
        }
        Rule::MapOf(inner) | Rule::IdMapOf(inner) => {
            let Value::Object(map) = v else {
                return Err("must be an object".into());
            };
            let mut out = Map::new();
            for (key, value) in map {
                if value.is_null() {
                    continue;
                }
                let checked = check(*inner, value).map_err(|e| format!("{key}: {e}"))?;
                out.insert(key.clone(), checked);
            }
            Ok(Value::Object(out))
        }
        Rule::ListOf(inner, max) => {
            let Value::Array(items) = v else {
                return Err("must be a list".into());
            };
            if items.len() > max {
                return Err(format!("must have at most {max} items"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| check(*inner, item).map_err(|e| format!("item {i}: {e}")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
    }
}

type FieldErrors = BTreeMap<String, Vec<String>>;

fn summary(errors: &FieldErrors) -> String {
    errors
        .iter()
        .map(|(f, p)| format!("{f}: {}", p.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn check_fields(
    fields: &[Field],
    body: &Map<String, Value>,
    partial: bool,
) -> Result<Map<String, Value>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut out = body.clone();
    for field in fields {
        match body.get(field.name) {
            None if field.required && !partial => {
                errors
                    .entry(field.name.into())
                    .or_default()
                    .push("is required".into());
            }
            None => {}
            Some(Value::Null) if partial && !field.required => {}
            Some(v) => match check(field.rule, v) {
                Ok(normalised) => {
                    out.insert(field.name.into(), normalised);
                }
                Err(problem) => errors.entry(field.name.into()).or_default().push(problem),
            },
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A 400 listing the problem of each field, in the reference's `fieldErrors` shape.
pub fn field_errors(errors: &BTreeMap<String, Vec<String>>) -> ApiError {
    ApiError::bad_request(format!("Invalid fields: {}", summary(errors)))
        .with_details(serde_json::json!({ "formErrors": [], "fieldErrors": errors }))
}

/// Validate a create (`partial = false`) or patch body against `fields`. The result keeps
/// unknown keys, normalises known ones, and on failure lists every bad field.
pub fn validate(
    fields: &[Field],
    body: &Map<String, Value>,
    partial: bool,
) -> Result<Map<String, Value>, ApiError> {
    check_fields(fields, body, partial).map_err(|errors| field_errors(&errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_short_lowercase_words() {
        for id in ["wow", "wow_tbc", "tbc-2", "9", &"a".repeat(64)] {
            assert!(is_id(id), "{id}");
        }
        for id in ["", "WoW", "WoW TBC!", "a/b", "ü", &"a".repeat(65)] {
            assert!(!is_id(id), "{id}");
        }
    }

    const FIELDS: &[Field] = &[
        req("name", Rule::NonEmpty),
        opt("port", Rule::Int(1, 65535)),
        opt("status", Rule::OneOf(&["active", "expired"])),
        opt("bot_id", Rule::Nullable(&Rule::Str(None))),
        opt("expires_at", Rule::Timestamp),
        opt("day", Rule::Date),
    ];

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn valid_bodies_are_normalised_and_keep_unknown_fields() {
        let out = validate(FIELDS, &obj(json!({"name": " a ", "port": "8080", "expires_at": "1700000000000", "extra": {"x": 1}})), false).unwrap();
        assert_eq!(out["name"], "a");
        assert_eq!(out["port"], 8080);
        assert_eq!(out["expires_at"], 1_700_000_000_000i64);
        assert_eq!(out["extra"], json!({"x": 1}));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let err = validate(
            FIELDS,
            &obj(json!({"port": 70000, "status": "gone", "bot_id": 5, "day": "2024-13-01"})),
            false,
        )
        .unwrap_err();
        let fields = err.details.unwrap()["fieldErrors"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(fields, ["bot_id", "day", "name", "port", "status"]);
    }

    const INNER: &[Field] = &[req("name", Rule::NonEmpty), opt("max", Rule::Int(1, 10))];

    #[test]
    fn nested_shapes_maps_and_lists_are_checked() {
        const MAP: Rule = Rule::MapOf(&Rule::Shape(INNER));
        let ok = check(MAP, &json!({"a": {"name": "x", "max": "3"}, "gone": null})).unwrap();
        assert_eq!(ok, json!({"a": {"name": "x", "max": 3}}));
        let err = check(MAP, &json!({"a": {"max": 11}})).unwrap_err();
        assert!(err.contains("a: max: must be between 1 and 10"), "{err}");
        assert!(err.contains("name: is required"), "{err}");
        const LIST: Rule = Rule::ListOf(&Rule::Time, 2);
        assert!(check(LIST, &json!(["08:30", "23:59"])).is_ok());
        assert!(check(LIST, &json!(["24:00"])).is_err());
        assert!(check(LIST, &json!(["01:00", "02:00", "03:00"])).is_err());
        assert!(check(Rule::Positive, &json!(0)).is_err());
        assert_eq!(check(Rule::Amount, &json!("12.5")).unwrap(), json!(12.5));
        assert_eq!(check(Rule::Amount, &json!(1e12)).unwrap(), json!(1e12));
        for bad in [
            json!(-0.01),
            json!(1.7e308),
            json!(1e12 + 1.0),
            json!("NaN"),
            json!("inf"),
        ] {
            assert!(check(Rule::Amount, &bad).is_err(), "{bad}");
        }
        assert_eq!(check(Rule::Positive, &json!("0.5")).unwrap(), json!(0.5));
    }

    #[test]
    fn patches_need_no_required_fields_and_may_null_optional_ones() {
        assert!(validate(FIELDS, &obj(json!({"port": 1})), true).is_ok());
        assert!(validate(FIELDS, &obj(json!({"status": null})), true).is_ok());
        assert!(validate(FIELDS, &obj(json!({"name": null})), true).is_err());
        assert!(validate(FIELDS, &obj(json!({"port": 1.5})), true).is_err());
    }
}
