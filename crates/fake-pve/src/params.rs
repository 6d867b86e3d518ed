//! Request parameters and their schema check, with PVE's texts: query and body merged (query
//! wins), booleans only `0`/`1` in form encoding, unknown and missing parameters refused.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::reply::ApiError;

/// A parameter as it arrived: form/query text, or a JSON value from a JSON body.
#[derive(Clone, Debug)]
pub(crate) enum Raw {
    Text(String),
    Json(Value),
}

impl Raw {
    fn describe(&self) -> String {
        match self {
            Raw::Text(s) => s.clone(),
            Raw::Json(Value::String(s)) => s.clone(),
            Raw::Json(v) => v.to_string(),
        }
    }
}

/// Parameters merged from query and body, `_dc` dropped.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawParams(BTreeMap<String, Raw>);

impl RawParams {
    pub(crate) fn from_query(query: &str) -> Result<Self, ApiError> {
        let mut params = Self::default();
        params.merge_form(query, true)?;
        Ok(params)
    }

    /// Add form-encoded pairs; `wins` decides whether they override existing keys.
    pub(crate) fn merge_form(&mut self, form: &str, wins: bool) -> Result<(), ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(form)
            .map_err(|e| ApiError::status(400, format!("unable to parse parameters - {e}")))?;
        for (k, v) in pairs {
            self.insert(k, Raw::Text(v), wins);
        }
        Ok(())
    }

    pub(crate) fn merge_json(&mut self, body: &[u8]) -> Result<(), ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::status(400, format!("unable to parse JSON body - {e}")))?;
        let Value::Object(map) = value else {
            return Err(ApiError::status(400, "JSON body must be an object"));
        };
        for (k, v) in map {
            self.insert(k, Raw::Json(v), false);
        }
        Ok(())
    }

    pub(crate) fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).map(Raw::describe)
    }

    pub(crate) fn insert_text(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), Raw::Text(value));
    }

    fn insert(&mut self, key: String, value: Raw, wins: bool) {
        if key == "_dc" {
            return;
        }
        if wins || !self.0.contains_key(&key) {
            self.0.insert(key, value);
        }
    }
}

/// Declared type of a parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ty {
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    Str {
        max_len: usize,
    },
    Vmid,
    Enum(&'static [&'static str]),
    /// A string checked by a predicate; the text is PVE's format complaint.
    Format(fn(&str) -> bool, &'static str),
}

pub(crate) const STR: Ty = Ty::Str { max_len: 65536 };
/// A non-negative integer.
pub(crate) const UINT: Ty = Ty::Int {
    min: 0,
    max: i64::MAX,
};
pub(crate) const DNS: Ty = Ty::Format(is_dns_name, "value does not look like a valid DNS name");
pub(crate) const NODE: Ty = Ty::Format(is_node_name, "value does not look like a valid node name");
pub(crate) const STORAGE_ID: Ty = Ty::Format(
    is_storage_id,
    "value does not look like a valid storage identifier",
);

/// A checked parameter value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Val {
    Int(i64),
    Bool(bool),
    Str(String),
}

/// Parameters after the schema check.
#[derive(Clone, Debug, Default)]
pub(crate) struct Params(BTreeMap<String, Val>);

impl Params {
    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(Val::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn int(&self, key: &str) -> Option<i64> {
        match self.0.get(key) {
            Some(Val::Int(v)) => Some(*v),
            _ => None,
        }
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.0.get(key), Some(Val::Bool(true)))
    }

    pub(crate) fn opt_flag(&self, key: &str) -> Option<bool> {
        match self.0.get(key) {
            Some(Val::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Val)> {
        self.0.iter()
    }

    /// The value as config-file text (`1`/`0` for booleans).
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|v| match v {
            Val::Int(i) => i.to_string(),
            Val::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
            Val::Str(s) => s.clone(),
        })
    }
}

/// A schema: which parameters exist (with type) and which are required.
pub(crate) struct Schema<'a> {
    pub(crate) lookup: &'a dyn Fn(&str) -> Option<Ty>,
    pub(crate) required: &'a [&'a str],
}

/// Check `raw` against the schema. `path` holds the parameters taken from the URL (they are
/// part of the schema too; a conflicting repeat in query/body is refused).
pub(crate) fn validate(
    raw: &RawParams,
    path: &[(&str, &str)],
    schema: &Schema<'_>,
) -> Result<Params, ApiError> {
    let mut errors = BTreeMap::new();
    let mut out = BTreeMap::new();
    let mut all: BTreeMap<String, Raw> = raw.0.clone();
    for (name, value) in path {
        if let Some(other) = all.get(*name)
            && other.describe() != *value
        {
            errors.insert(
                (*name).to_owned(),
                "duplicate parameter (already defined in URI) with conflicting values!".to_owned(),
            );
        }
        all.insert((*name).to_owned(), Raw::Text((*value).to_owned()));
    }
    for (name, value) in &all {
        match (schema.lookup)(name) {
            None => {
                errors.insert(
                    name.clone(),
                    "property is not defined in schema and the schema does not allow additional properties".to_owned(),
                );
            }
            Some(ty) => match check(ty, value) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err(text) => {
                    errors.entry(name.clone()).or_insert(text);
                }
            },
        }
    }
    for name in schema.required {
        if !all.contains_key(*name) {
            errors.insert(
                (*name).to_owned(),
                "property is missing and it is not optional".to_owned(),
            );
        }
    }
    if errors.is_empty() {
        Ok(Params(out))
    } else {
        Err(ApiError::params(errors))
    }
}

fn as_text(value: &Raw, ty_name: &str) -> Result<String, String> {
    match value {
        Raw::Text(s) => Ok(s.clone()),
        Raw::Json(Value::String(s)) => Ok(s.clone()),
        Raw::Json(Value::Number(n)) => Ok(n.to_string()),
        Raw::Json(other) => Err(format!("type check ('{ty_name}') failed - got '{other}'")),
    }
}

fn check(ty: Ty, value: &Raw) -> Result<Val, String> {
    match ty {
        Ty::Bool => match value {
            Raw::Json(Value::Bool(b)) => Ok(Val::Bool(*b)),
            other => match as_text(other, "boolean")?.as_str() {
                "1" => Ok(Val::Bool(true)),
                "0" => Ok(Val::Bool(false)),
                got => Err(format!("type check ('boolean') failed - got '{got}'")),
            },
        },
        Ty::Int { min, max } => {
            let text = as_text(value, "integer")?;
            let number: i64 = text
                .parse()
                .ok()
                .filter(|_| !text.starts_with('+'))
                .ok_or_else(|| format!("type check ('integer') failed - got '{text}'"))?;
            if number < min {
                return Err(format!("value must have a minimum value of {min}"));
            }
            if number > max {
                return Err(format!("value must have a maximum value of {max}"));
            }
            Ok(Val::Int(number))
        }
        Ty::Vmid => {
            let text = as_text(value, "integer")?;
            let ok = (3..=9).contains(&text.len())
                && !text.starts_with('0')
                && text.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err("invalid format - value does not look like a valid VM ID\n".into());
            }
            Ok(Val::Int(
                text.parse().map_err(|_| "invalid VM ID".to_owned())?,
            ))
        }
        Ty::Str { max_len } => {
            let text = as_text(value, "string")?;
            if text.len() > max_len {
                return Err(format!("value may only be {max_len} characters long"));
            }
            Ok(Val::Str(text))
        }
        Ty::Format(pred, what) => {
            let text = as_text(value, "string")?;
            if pred(&text) {
                Ok(Val::Str(text))
            } else {
                Err(format!("invalid format - {what}\n"))
            }
        }
        Ty::Enum(values) => {
            let text = as_text(value, "string")?;
            if values.contains(&text.as_str()) {
                Ok(Val::Str(text))
            } else {
                Err(format!(
                    "value '{text}' does not have a value in the enumeration '{}'",
                    values.join(", ")
                ))
            }
        }
    }
}

fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

pub(crate) fn is_dns_name(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_label)
}

pub(crate) fn is_node_name(s: &str) -> bool {
    is_label(s)
}

pub(crate) fn is_storage_id(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// A schema lookup over a fixed list.
pub(crate) fn fixed(list: &'static [(&'static str, Ty)]) -> impl Fn(&str) -> Option<Ty> {
    move |name| list.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// [`validate`] against a fixed parameter list.
pub(crate) fn checked(
    raw: &RawParams,
    path: &[(&str, &str)],
    list: &'static [(&'static str, Ty)],
    required: &[&str],
) -> Result<Params, ApiError> {
    let lookup = fixed(list);
    validate(
        raw,
        path,
        &Schema {
            lookup: &lookup,
            required,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[(&str, Ty)] = &[
        ("node", NODE),
        ("vmid", Ty::Vmid),
        ("full", Ty::Bool),
        ("newid", Ty::Vmid),
        ("name", DNS),
        ("timeout", Ty::Int { min: 0, max: 10 }),
    ];

    fn run(raw: RawParams) -> Result<Params, BTreeMap<String, String>> {
        checked(&raw, &[("node", "pve"), ("vmid", "100")], LIST, &["newid"]).map_err(|e| e.errors())
    }

    #[test]
    fn form_rules() {
        let mut raw = RawParams::default();
        raw.merge_form("newid=101&full=1&name=w11-01&_dc=123", false)
            .unwrap();
        let p = run(raw).unwrap();
        assert_eq!(p.int("newid"), Some(101));
        assert!(p.flag("full"));
        assert_eq!(p.int("vmid"), Some(100));

        let mut raw = RawParams::default();
        raw.merge_form("full=true&name=w11_01&bogus=1&timeout=11", false)
            .unwrap();
        let errors = run(raw).unwrap_err();
        assert_eq!(errors["full"], "type check ('boolean') failed - got 'true'");
        assert!(errors["name"].contains("valid DNS name"));
        assert!(errors["bogus"].starts_with("property is not defined"));
        assert_eq!(
            errors["newid"],
            "property is missing and it is not optional"
        );
        assert_eq!(errors["timeout"], "value must have a maximum value of 10");
    }

    #[test]
    fn json_and_query_rules() {
        let mut raw = RawParams::from_query("newid=102").unwrap();
        raw.merge_json(br#"{"newid": 101, "full": true, "vmid": 100}"#)
            .unwrap();
        let p = run(raw).unwrap();
        assert_eq!(p.int("newid"), Some(102), "query wins over body");
        assert!(p.flag("full"));

        let mut raw = RawParams::default();
        raw.merge_form("newid=101&vmid=200", false).unwrap();
        let errors = run(raw).unwrap_err();
        assert!(errors["vmid"].starts_with("duplicate parameter"));

        let mut raw = RawParams::default();
        raw.merge_form("newid=99", false).unwrap();
        assert!(run(raw).unwrap_err()["newid"].contains("valid VM ID"));
    }

    #[test]
    fn name_formats() {
        assert!(is_dns_name("w11-01.lab"));
        assert!(!is_dns_name("w11_01"));
        assert!(!is_dns_name("-a"));
        assert!(is_storage_id("local-lvm"));
        assert!(!is_storage_id("Local"));
    }
}
