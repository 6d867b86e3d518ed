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

    pub fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
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
            self.field_errors.entry(field).or_default().extend(problems);
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

    /// An optional string of at most `max` characters.
    pub fn max_chars(&mut self, field: &str, value: Option<&str>, max: usize) {
        if value.is_some_and(|v| v.chars().count() > max) {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    /// A string with a non-blank character and, trimmed, at most `max` characters.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.add(field, "must be a non-empty string");
        } else if trimmed.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
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
            if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom("must be a whole number"))
            }
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim()
                .parse()
                .map_err(|_| E::custom(format!("must be a whole number, not {v:?}")))
        }
    }
    d.deserialize_any(Whole)
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
}
