//! Bounds of request bodies, checked once after deserialising.
//!
//! Serde settles the shape (types, required keys, enum strings); [`Validate`] settles the
//! limits that a type cannot say (lengths, ranges, list sizes). Both end in one
//! [`FieldErrors`], which the server sends as the `details` of its 400 answer, so a caller
//! learns every bad field at once and in words.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeOwned, Deserializer, Error as _, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Most problems one [`FieldErrors`] keeps; see [`FieldErrors::add`].
const MAX_PROBLEMS: usize = 100;
/// The form error that stands for the problems past [`MAX_PROBLEMS`].
const PROBLEMS_LEFT_OUT: &str = "more problems were found and left out";
/// Text never carries NUL: PostgreSQL cannot store it, and no field of the API needs it.
const NUL_PROBLEM: &str = "must not contain the NUL character (U+0000)";

/// Whether a string or key anywhere in `value` holds NUL.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The problems of a request body: per field, and of the body as a whole.
///
/// Serialises to the reference's validator shape `{"formErrors": [...], "fieldErrors":
/// {"field": ["problem", ...]}}`. Field names are the wire names; nested ones are paths
/// such as `payload.vmid` or `capabilities[3]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldErrors {
    /// Problems not tied to one field (for example a key missing from the body).
    pub form_errors: Vec<String>,
    pub field_errors: BTreeMap<String, Vec<String>>,
}

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One problem of one field.
    pub fn single(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, problem);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.form_errors.is_empty() && self.field_errors.is_empty()
    }

    /// One problem of `field`. Past 100 problems the rest are left out (with one form error
    /// saying so), so a body of many bad keys cannot make a far larger answer.
    pub fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        let count =
            self.form_errors.len() + self.field_errors.values().map(Vec::len).sum::<usize>();
        if count >= MAX_PROBLEMS {
            if self.form_errors.last().map(String::as_str) != Some(PROBLEMS_LEFT_OUT) {
                self.form_errors.push(PROBLEMS_LEFT_OUT.to_owned());
            }
            return;
        }
        self.field_errors
            .entry(field.into())
            .or_default()
            .push(problem.into());
    }

    pub fn add_form(&mut self, problem: impl Into<String>) {
        self.form_errors.push(problem.into());
    }

    /// The problems of `field`, if any.
    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.field_errors.get(field).map(Vec::as_slice)
    }

    /// Take over `other`'s problems as they are.
    pub fn merge(&mut self, other: FieldErrors) {
        self.form_errors.extend(other.form_errors);
        for (field, problems) in other.field_errors {
            for problem in problems {
                self.add(field.clone(), problem);
            }
        }
    }

    /// Take over `other`'s problems, their field names prefixed with `prefix.`.
    pub fn merge_under(&mut self, prefix: &str, other: FieldErrors) {
        for problem in other.form_errors {
            self.add(prefix, problem);
        }
        for (field, problems) in other.field_errors {
            for problem in problems {
                self.add(format!("{prefix}.{field}"), problem);
            }
        }
    }

    /// `Ok` when nothing was found.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Record `problem` for `field` unless `ok`.
    pub fn check(&mut self, field: &str, ok: bool, problem: impl Into<String>) {
        if !ok {
            self.add(field, problem);
        }
    }

    /// An optional string of at most `max` characters, without NUL.
    pub fn max_chars(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(value) = value {
            self.text(field, value, value, max);
        }
    }

    /// A string with a non-blank character and, trimmed, at most `max` characters, without NUL.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.add(field, "must be a non-empty string");
        }
        self.text(field, value, trimmed, max);
    }

    /// `counted` (`value`, maybe trimmed) of at most `max` characters, and no NUL in `value`.
    fn text(&mut self, field: &str, value: &str, counted: &str, max: usize) {
        if counted.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
        if value.contains('\0') {
            self.add(field, NUL_PROBLEM);
        }
    }

    /// An optional value whose JSON has at most `max_bytes` bytes and no NUL in any string
    /// or key (free-form objects such as a report's result or a heartbeat's host facts).
    pub fn json_within(&mut self, field: &str, value: Option<&impl Serialize>, max_bytes: usize) {
        let Some(value) = value else { return };
        let json = serde_json::to_value(value).unwrap_or(Value::Null);
        let size = serde_json::to_vec(&json).map_or(usize::MAX, |v| v.len());
        if size > max_bytes {
            self.add(field, format!("must be at most {max_bytes} bytes of JSON"));
        }
        if has_nul(&json) {
            self.add(field, NUL_PROBLEM);
        }
    }

    /// An optional number from `min` to `max` (inclusive).
    pub fn in_range<T: PartialOrd + fmt::Display + Copy>(
        &mut self,
        field: &str,
        value: Option<T>,
        min: T,
        max: T,
    ) {
        if value.is_some_and(|v| v < min || v > max) {
            self.add(field, format!("must be between {min} and {max}"));
        }
    }

    /// An optional list of at most `max_items` strings of at most `max_chars` characters each.
    pub fn text_list(
        &mut self,
        field: &str,
        items: Option<&[String]>,
        max_items: usize,
        max_chars: usize,
    ) {
        let Some(items) = items else { return };
        if items.len() > max_items {
            self.add(field, format!("must have at most {max_items} items"));
        }
        for (i, item) in items.iter().enumerate() {
            if item.chars().count() > max_chars {
                self.add(
                    field,
                    format!("item {i}: must be at most {max_chars} characters"),
                );
            }
            if item.contains('\0') {
                self.add(field, format!("item {i}: {NUL_PROBLEM}"));
            }
        }
    }
}

impl fmt::Display for FieldErrors {
    /// `problem; field: problem, problem; other: problem`, as the 400 message says it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = self.form_errors.iter().cloned();
        let fields = self
            .field_errors
            .iter()
            .map(|(field, problems)| format!("{field}: {}", problems.join(", ")));
        f.write_str(&form.chain(fields).collect::<Vec<_>>().join("; "))
    }
}

impl std::error::Error for FieldErrors {}

/// Limits a request body must keep beyond its shape. Implemented by every request type;
/// a caller runs it after deserialising (or uses [`from_json`], which does both).
pub trait Validate {
    fn validate(&self) -> Result<(), FieldErrors>;
}

/// Deserialise `body` and check its limits; every problem comes back as [`FieldErrors`],
/// a shape problem under the path of the field it concerns.
pub fn from_json<T: DeserializeOwned + Validate>(body: Value) -> Result<T, FieldErrors> {
    let value: T = serde_path_to_error::deserialize(body).map_err(shape_error)?;
    value.validate()?;
    Ok(value)
}

/// A deserialisation error as field errors: under its path, or of the whole body at the root.
pub(crate) fn shape_error(e: serde_path_to_error::Error<serde_json::Error>) -> FieldErrors {
    let path = e.path().to_string();
    let problem = e.into_inner().to_string();
    let mut errors = FieldErrors::new();
    if path == "." {
        errors.add_form(problem);
    } else {
        errors.add(path, problem);
    }
    errors
}

/// A whole number given as a JSON number or as a numeric string: the reference UI sends
/// ids and counts both ways.
pub(crate) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Whole;
    impl Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number (a JSON number or a numeric string)")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("must not be negative"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            // `u64::MAX as f64` is 2^64, one past the largest u64: it must be excluded.
            if v.fract() == 0.0 && (0.0..u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom("must be a whole number"))
            }
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim()
                .parse()
                .map_err(|_| E::custom(format!("must be a whole number, not {}", quoted(v))))
        }
    }
    d.deserialize_any(Whole)
}

/// `v` quoted for an error message, cut after 40 characters: an answer never repeats a
/// long value back.
fn quoted(v: &str) -> String {
    const MAX: usize = 40;
    if v.chars().count() <= MAX {
        format!("{v:?}")
    } else {
        let cut: String = v.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

/// [`lenient_u64`] for an optional field (absent or `null`: `None`) that must fit `T`.
pub(crate) fn lenient_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    #[derive(Deserialize)]
    struct Lenient(#[serde(deserialize_with = "lenient_u64")] u64);
    match Option::<Lenient>::deserialize(d)? {
        None => Ok(None),
        Some(Lenient(n)) => T::try_from(n)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("{n} is too large"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Body {
        name: String,
        #[serde(default, deserialize_with = "lenient_opt")]
        minutes: Option<u32>,
        tags: Option<Vec<String>>,
    }

    impl Validate for Body {
        fn validate(&self) -> Result<(), FieldErrors> {
            let mut e = FieldErrors::new();
            e.required_text("name", &self.name, 5);
            e.in_range("minutes", self.minutes, 5, 1440);
            e.text_list("tags", self.tags.as_deref(), 2, 3);
            e.into_result()
        }
    }

    #[test]
    fn limits_are_reported_per_field_in_the_reference_shape() {
        let errors =
            from_json::<Body>(json!({"name": " ", "minutes": "2", "tags": ["a", "b", "long"]}))
                .unwrap_err();
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            json!({"formErrors": [], "fieldErrors": {
                "minutes": ["must be between 5 and 1440"],
                "name": ["must be a non-empty string"],
                "tags": ["must have at most 2 items", "item 2: must be at most 3 characters"],
            }})
        );
        assert_eq!(
            errors.to_string(),
            "minutes: must be between 5 and 1440; name: must be a non-empty string; \
             tags: must have at most 2 items, item 2: must be at most 3 characters"
        );
    }

    #[test]
    fn shape_errors_name_their_field_or_the_body() {
        let wrong_type = from_json::<Body>(json!({"name": "a", "minutes": "soon"})).unwrap_err();
        assert!(wrong_type.get("minutes").unwrap()[0].contains("whole number"));
        let missing = from_json::<Body>(json!({})).unwrap_err();
        assert_eq!(missing.form_errors, ["missing field `name`"]);
        let item = from_json::<Body>(json!({"name": "a", "tags": ["x", 5]})).unwrap_err();
        assert!(item.get("tags[1]").is_some(), "{item:?}");
    }

    #[test]
    fn numbers_may_come_as_numeric_strings() {
        let body: Body = from_json(json!({"name": "a", "minutes": " 30 "})).unwrap();
        assert_eq!(body.minutes, Some(30));
        let body: Body = from_json(json!({"name": "a", "minutes": 30.0})).unwrap();
        assert_eq!(body.minutes, Some(30));
        for bad in [json!(-1), json!(1.5), json!("1e3"), json!(5_000_000_000u64)] {
            assert!(from_json::<Body>(json!({"name": "a", "minutes": bad})).is_err());
        }
    }
    #[test]
    fn nul_is_refused_in_every_kind_of_text() {
        let e =
            from_json::<Body>(json!({"name": "a\u{0}b", "tags": ["ok", "x\u{0}"]})).unwrap_err();
        assert_eq!(e.get("name").unwrap(), [NUL_PROBLEM]);
        assert_eq!(e.get("tags").unwrap(), [format!("item 1: {NUL_PROBLEM}")]);
        let mut e = FieldErrors::new();
        e.max_chars("note", Some("\0"), 10);
        e.json_within("host", Some(&json!({"k": ["\0"]})), 100);
        e.json_within("other", Some(&json!({"\0": 1})), 100);
        e.json_within("big", Some(&json!({"k": "x".repeat(100)})), 100);
        e.json_within("absent", None::<&Value>, 0);
        let fields: Vec<&str> = e.field_errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["big", "host", "note", "other"]);
        assert_eq!(e.get("big").unwrap(), ["must be at most 100 bytes of JSON"]);
    }

    #[test]
    fn problems_past_the_cap_are_left_out_once() {
        let mut e = FieldErrors::new();
        for i in 0..10_000 {
            e.add(format!("k{i}"), "unknown key");
        }
        let count: usize = e.field_errors.values().map(Vec::len).sum();
        assert_eq!(count, MAX_PROBLEMS);
        assert_eq!(e.form_errors, [PROBLEMS_LEFT_OUT]);
        let mut merged = FieldErrors::single("a", "bad");
        merged.merge(e.clone());
        merged.merge(e);
        let count: usize = merged.field_errors.values().map(Vec::len).sum();
        assert!(
            count + merged.form_errors.len() <= MAX_PROBLEMS + 3,
            "{count}"
        );
    }

    #[test]
    fn whole_numbers_past_u64_and_long_strings_are_refused_briefly() {
        let whole = |v: Value| lenient_u64(v).map_err(|e| e.to_string());
        assert_eq!(
            whole(json!(18446744073709549568.0)),
            Ok(18446744073709549568)
        );
        // 2^64 as a float used to saturate to u64::MAX.
        assert!(whole(json!(18446744073709551616.0)).is_err());
        assert!(whole(json!(1e300)).is_err());
        let long = whole(json!("9".repeat(10_000) + "x")).unwrap_err();
        assert!(long.len() < 120, "{long}");
        assert_eq!(
            whole(json!("soon")).unwrap_err(),
            "must be a whole number, not \"soon\""
        );
    }
}
