//! Record forms. HTML forms post strings; the records service wants JSON with numbers,
//! booleans, epoch-ms dates and lists, and answers with field errors. This module declares
//! a kind's inputs once and converts both ways: posted strings to the service's JSON, and a
//! record (or what the user typed) back to inputs with the service's errors beside them.

use std::collections::HashMap;

use crate::records::kinds::Kind;
use serde_json::{Map, Value};

use crate::http::ApiError;
use crate::ui::refusal::Problems;

/// A posted urlencoded form, every field as a string.
pub type Posted = HashMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Text,
    TextArea,
    Number,
    /// A calendar day stored as epoch milliseconds (midnight UTC).
    DateMs,
    /// A calendar day stored as `YYYY-MM-DD`.
    Day,
    Select(&'static [&'static str]),
    /// Posted when ticked; stored as `true`/`false`.
    Checkbox,
    /// Never shown again; left empty it stays unchanged.
    Password,
    /// Comma-separated text stored as a list of strings.
    Tags,
    /// One of the tenant's records of this kind (a bot, a note), stored as its id.
    RecordId(Kind),
    /// A pasted proxy string, spread into the other inputs before the form is read
    /// (`proxy_paste`); never stored itself.
    ProxyPaste,
}

/// One input of a kind's form. `name` is the document key; `a/b` is a nested key.
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub input: Input,
    /// Sent even when blank, so the service names the problem; selects get no blank option.
    pub required: bool,
}

pub const fn field(name: &'static str, label: &'static str, input: Input) -> FieldSpec {
    FieldSpec {
        name,
        label,
        input,
        required: false,
    }
}

pub const fn required(name: &'static str, label: &'static str, input: Input) -> FieldSpec {
    FieldSpec {
        name,
        label,
        input,
        required: true,
    }
}

/// One `<option>`.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One input as the template draws it.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `textarea`, `number`, `date`, `select`, `checkbox` or `password`.
    pub kind: &'static str,
    pub value: String,
    pub checked: bool,
    pub required: bool,
    pub options: Vec<Opt>,
    pub error: Option<String>,
}

/// A whole form: its inputs, the error banner, and the version (ETag) it was read at.
pub struct FormView {
    pub fields: Vec<FieldView>,
    pub error: Option<String>,
    pub version: String,
}

/// Where a form's values come from.
pub enum Source<'a> {
    Blank,
    Record(&'a Value),
    Posted(&'a Posted),
}

/// The value at a `/`-separated path of a document.
pub fn value_at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(doc, |node, key| node.get(key))
}

/// A scalar as text (strings unquoted).
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `YYYY-MM-DD` of epoch milliseconds (UTC).
pub fn iso_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Epoch milliseconds of the start (UTC) of a `YYYY-MM-DD` day.
pub fn day_ms(day: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

fn html_kind(input: Input) -> &'static str {
    match input {
        Input::Text | Input::Tags | Input::ProxyPaste => "text",
        Input::TextArea => "textarea",
        Input::Number => "number",
        Input::DateMs | Input::Day => "date",
        Input::Select(_) | Input::RecordId(_) => "select",
        Input::Checkbox => "checkbox",
        Input::Password => "password",
    }
}

/// The text an input shows for a stored value.
fn shown(input: Input, v: &Value) -> String {
    match input {
        Input::Password | Input::Checkbox => String::new(),
        Input::DateMs => v.as_i64().map(iso_day).unwrap_or_default(),
        _ => scalar_text(v),
    }
}

/// The inputs of `specs`, filled from `source`, with `problems` beside them. `records` are
/// the choices of [`Input::RecordId`] as (id, label).
pub fn view(
    specs: &[FieldSpec],
    source: Source<'_>,
    problems: Option<&Problems>,
    records: &[(String, String)],
) -> Vec<FieldView> {
    specs
        .iter()
        .map(|spec| {
            let (value, checked) = match &source {
                Source::Blank => (String::new(), false),
                Source::Record(doc) => {
                    let v = value_at(doc, spec.name).unwrap_or(&Value::Null);
                    (shown(spec.input, v), v.as_bool().unwrap_or(false))
                }
                Source::Posted(posted) => {
                    let typed = posted.get(spec.name);
                    // Everything typed comes back, a password too: a refused form
                    // loses nothing.
                    let value = typed.cloned().unwrap_or_default();
                    (value, typed.is_some())
                }
            };
            let choices: Vec<(String, String)> = match spec.input {
                Input::Select(values) => values
                    .iter()
                    .map(|v| ((*v).to_owned(), v.replace('_', " ")))
                    .collect(),
                Input::RecordId(_) => records.to_vec(),
                _ => Vec::new(),
            };
            let mut options = Vec::new();
            if !choices.is_empty() || matches!(spec.input, Input::RecordId(_)) {
                if !spec.required {
                    options.push(("".to_owned(), "—".to_owned()));
                }
                options.extend(choices.iter().cloned());
                // A stored value outside the usual choices is still offered (and kept).
                if !value.is_empty() && !choices.iter().any(|(v, _)| *v == value) {
                    options.push((value.clone(), value.clone()));
                }
            }
            FieldView {
                name: spec.name,
                label: spec.label,
                kind: html_kind(spec.input),
                options: options
                    .into_iter()
                    .map(|(v, label)| Opt {
                        selected: v == value,
                        value: v,
                        label,
                    })
                    .collect(),
                value,
                checked,
                required: spec.required,
                error: problems.and_then(|p| p.of(spec.name)),
            }
        })
        .collect()
}

/// The form of `specs` filled from `source`, with the problems of `error` and the version
/// (ETag) the values were read at.
pub fn form_view(
    specs: &[FieldSpec],
    source: Source<'_>,
    error: Option<&ApiError>,
    records: &[(String, String)],
    version: String,
) -> FormView {
    let problems = error.map(Problems::from_error);
    let fields = view(specs, source, problems.as_ref(), records);
    // A problem shown beside its field is not repeated above the form (which would move it);
    // a nested one is reported by its leaf (`level` for `character/level`).
    let shown = |key: &str| {
        fields
            .iter()
            .any(|f| f.error.is_some() && (f.name == key || f.name.rsplit('/').next() == Some(key)))
    };
    let error = problems.as_ref().and_then(|p| p.banner(shown));
    FormView {
        fields,
        error,
        version,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Patch,
}

/// Put `value` at the `/`-separated `path` of `doc`, creating objects on the way.
pub fn insert_nested(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('/') {
        None => {
            doc.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let node = doc
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            if let Value::Object(child) = node {
                insert_nested(child, rest, value);
            }
        }
    }
}

/// The JSON body for the records service from a posted form. On create, blank optional
/// inputs are left out and `a/b` names become nested objects; on patch, blank optional
/// inputs are `null` (the service deletes them) and `a/b` names stay deep-merge paths.
pub fn body(specs: &[FieldSpec], posted: &Posted, mode: Mode) -> Result<Value, ApiError> {
    let mut doc = Map::new();
    for spec in specs {
        let raw = posted.get(spec.name).map(|s| s.trim()).unwrap_or_default();
        let value = match spec.input {
            Input::ProxyPaste => continue,
            Input::Checkbox => Value::Bool(posted.contains_key(spec.name)),
            Input::Password if raw.is_empty() => continue,
            _ if raw.is_empty() && spec.required => Value::String(String::new()),
            _ if raw.is_empty() => match mode {
                Mode::Create => continue,
                Mode::Patch => Value::Null,
            },
            // Unparsable numbers go through as text: the service's rule names the problem.
            Input::Number => raw
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| raw.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::String(raw.to_owned())),
            Input::DateMs => Value::from(
                day_ms(raw).ok_or_else(|| ApiError::field(spec.name, "must be a date"))?,
            ),
            Input::Tags => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| Value::String(t.to_owned()))
                    .collect(),
            ),
            _ => Value::String(raw.to_owned()),
        };
        match mode {
            Mode::Create => insert_nested(&mut doc, spec.name, value),
            Mode::Patch => {
                doc.insert(spec.name.to_owned(), value);
            }
        }
    }
    Ok(Value::Object(doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPECS: &[FieldSpec] = &[
        required("name", "Name", Input::Text),
        field("port", "Port", Input::Number),
        field("expires_at", "Expires", Input::DateMs),
        field("auto_renew", "Auto-renew", Input::Checkbox),
        field("password", "Password", Input::Password),
        field("tags", "Tags", Input::Tags),
        field("character/level", "Level", Input::Number),
        field("note", "Note", Input::Text),
    ];

    fn posted(pairs: &[(&str, &str)]) -> Posted {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn create_converts_types_nests_paths_and_skips_blanks() {
        let form = posted(&[
            ("name", " Bob "),
            ("port", "8080"),
            ("expires_at", "2030-01-02"),
            ("auto_renew", "true"),
            ("password", ""),
            ("tags", "a, b,,"),
            ("character/level", "60"),
            ("note", ""),
        ]);
        let out = body(SPECS, &form, Mode::Create).unwrap();
        assert_eq!(
            out,
            json!({"name": "Bob", "port": 8080, "expires_at": 1_893_542_400_000i64,
                   "auto_renew": true, "tags": ["a", "b"], "character": {"level": 60}})
        );
    }

    #[test]
    fn patch_nulls_blanks_keeps_paths_and_sends_blank_required_fields() {
        let form = posted(&[("name", ""), ("port", "x"), ("note", "")]);
        let out = body(SPECS, &form, Mode::Patch).unwrap();
        assert_eq!(out["name"], "");
        assert_eq!(out["port"], "x");
        assert_eq!(out["note"], Value::Null);
        assert_eq!(out["auto_renew"], false);
        assert_eq!(out["character/level"], Value::Null);
        assert!(
            out.get("password").is_none(),
            "an empty password means unchanged"
        );
        assert!(body(SPECS, &posted(&[("expires_at", "soon")]), Mode::Patch).is_err());
    }

    #[test]
    fn views_show_records_and_nested_problems() {
        let doc = json!({"name": "Bob", "expires_at": 1_893_542_400_000i64, "auto_renew": true,
                         "password": "••••", "tags": ["a", "b"], "character": {"level": 500}});
        let err =
            ApiError::bad_request("character: Invalid fields: level: must be between 1 and 100")
                .with_details(json!({"fieldErrors": {"level": ["must be between 1 and 100"]}}));
        let problems = Problems::from_error(&err);
        let views = view(SPECS, Source::Record(&doc), Some(&problems), &[]);
        let by = |n: &str| views.iter().find(|f| f.name == n).unwrap();
        assert_eq!(by("expires_at").value, "2030-01-02");
        assert!(by("auto_renew").checked);
        assert_eq!(by("password").value, "");
        assert_eq!(by("tags").value, "a, b");
        assert_eq!(by("character/level").value, "500");
        assert_eq!(
            by("character/level").error.as_deref(),
            Some("must be between 1 and 100")
        );
        assert!(by("name").error.is_none());
    }
}
