//! A refused form, drawn again. The service answers a bad submission with a message and the
//! problem of each field; a page shows every value the user typed back in its input, each
//! problem under its input (in the row gap, so nothing moves), and the message above the form
//! only when no input of the form carries it (a conflict, a missing record).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::http::ApiError;

/// The service's complaint about a submission: its message and the problem of each field.
pub struct Problems {
    pub message: String,
    fields: HashMap<String, String>,
    /// Whether the service named problems of the whole form (no field's).
    whole_form: bool,
}

impl Problems {
    pub fn from_error(e: &ApiError) -> Self {
        let fields = e
            .details
            .as_ref()
            .and_then(|d| d.get("fieldErrors"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::Array(items) => items
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("; "),
                            other => other.as_str().unwrap_or_default().to_owned(),
                        };
                        (k.clone(), text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let whole_form = e
            .details
            .as_ref()
            .and_then(|d| d.get("formErrors"))
            .and_then(Value::as_array)
            .is_some_and(|errors| !errors.is_empty());
        Self {
            message: e.message.clone(),
            fields,
            whole_form,
        }
    }

    /// The problem of input `name`. Nested objects are validated on their own and report
    /// `leaf` with a message starting `parent: ` (e.g. `character: ... level: ...`).
    pub fn of(&self, name: &str) -> Option<String> {
        if let Some(p) = self.fields.get(name) {
            return Some(p.clone());
        }
        let (parent, leaf) = name.rsplit_once('/')?;
        self.message
            .starts_with(&format!("{parent}: "))
            .then(|| self.fields.get(leaf).cloned())
            .flatten()
    }

    /// The message for above a form: `None` when the service named only fields' problems
    /// and `shown(key)` says each of them is drawn beside an input (then repeating it above
    /// would only move the form); a problem no input draws keeps the message above, so
    /// nothing is lost.
    pub fn banner(&self, shown: impl Fn(&str) -> bool) -> Option<String> {
        let all_shown =
            !self.whole_form && !self.fields.is_empty() && self.fields.keys().all(|k| shown(k));
        (!all_shown).then(|| self.message.clone())
    }

    /// The problems of the keys inside `parent` (`payload.vmid`, `payload.config.name` for
    /// `payload`), each with its key below `parent`, in key order.
    fn inside(&self, parent: &str) -> Option<String> {
        let prefix = format!("{parent}.");
        let mut found: Vec<String> = self
            .fields
            .iter()
            .filter_map(|(k, v)| Some(format!("{}: {v}", k.strip_prefix(&prefix)?)))
            .collect();
        found.sort();
        (!found.is_empty()).then(|| found.join("; "))
    }
}

/// One refused form of a page (a page may hold several, told apart by the form's id and,
/// for a form repeated on each table row, the row's id). A page not showing a refusal holds
/// [`Refusal::none`], which answers nothing for every form.
#[derive(Default)]
pub struct Refusal {
    form: String,
    row: String,
    typed: HashMap<String, String>,
    problems: Option<Problems>,
    /// The service's field key and the form's input name, where they differ.
    renamed: Vec<(&'static str, &'static str)>,
    /// Inputs holding a whole object (JSON text) that carry its keys' problems.
    objects: Vec<&'static str>,
    /// Inputs the page does not draw a problem beside (hidden, a checkbox, a button).
    unshown: Vec<&'static str>,
    /// The object of the request the form's inputs fill (`config` for `config.user.name`).
    within: Option<&'static str>,
}

impl Refusal {
    pub fn none() -> Self {
        Self::default()
    }

    /// Form `form` was refused with `e`; `typed` is the form as posted (a struct of strings).
    pub fn new(form: &str, typed: &impl Serialize, e: &ApiError) -> Self {
        let typed = match serde_json::to_value(typed) {
            Ok(Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    Value::Null => None,
                    other => Some((k, other.to_string())),
                })
                .collect(),
            _ => HashMap::new(),
        };
        Self::typed(form, typed, e)
    }

    /// [`Refusal::new`] for a form posted as name/value pairs (the last of a name counts).
    pub fn of_pairs(form: &str, pairs: &[(String, String)], e: &ApiError) -> Self {
        Self::typed(form, pairs.iter().cloned().collect(), e)
    }

    fn typed(form: &str, typed: HashMap<String, String>, e: &ApiError) -> Self {
        Self {
            form: form.to_owned(),
            row: String::new(),
            typed,
            problems: Some(Problems::from_error(e)),
            renamed: Vec::new(),
            objects: Vec::new(),
            unshown: Vec::new(),
            within: None,
        }
    }

    /// A refusal of no form's inputs (a button): its message goes above the page's forms.
    pub fn message(e: &ApiError) -> Self {
        Self::new("", &(), e)
    }

    /// The refused form is the one of table row `row`.
    pub fn on_row(mut self, row: &str) -> Self {
        row.clone_into(&mut self.row);
        self
    }

    /// The service calls input `input` `key` (`ip.first_address` for `first_address`); an
    /// input may have several keys.
    pub fn renaming(mut self, key: &'static str, input: &'static str) -> Self {
        self.renamed.push((key, input));
        self
    }

    /// The form's inputs fill object `parent` of the request: the service names input
    /// `user.name` `parent.user.name` (inputs outside it keep their own name).
    pub fn within(mut self, parent: &'static str) -> Self {
        self.within = Some(parent);
        self
    }

    /// Input `input` has no problem drawn beside it (a hidden input, a checkbox): a problem
    /// of it goes above the form.
    pub fn unshown(mut self, input: &'static str) -> Self {
        self.unshown.push(input);
        self
    }

    /// Input `input` holds a JSON object: the problems of its keys show beside it.
    pub fn with_object(mut self, input: &'static str) -> Self {
        self.objects.push(input);
        self
    }

    /// The service's keys for input `input`: its renamings, or its own name.
    fn keys<'a>(&'a self, input: &'a str) -> Vec<&'a str> {
        let renamed: Vec<&str> = self
            .renamed
            .iter()
            .filter(|(_, i)| *i == input)
            .map(|(k, _)| *k)
            .collect();
        if renamed.is_empty() {
            vec![input]
        } else {
            renamed
        }
    }

    fn is(&self, form: &str, row: &str) -> bool {
        !self.form.is_empty() && self.form == form && self.row == row
    }

    /// What was typed into input `name` of form `form`; empty for any other form.
    pub fn value(&self, form: &str, name: &str) -> &str {
        self.row_value(form, "", name)
    }

    /// [`Refusal::value`] for the form of a table row.
    pub fn row_value(&self, form: &str, row: &str, name: &str) -> &str {
        if !self.is(form, row) {
            return "";
        }
        self.typed.get(name).map_or("", String::as_str)
    }

    /// Whether form `form` was refused with input `name` (a select's value) set to `value`.
    pub fn chose(&self, form: &str, name: &str, value: &str) -> bool {
        self.is(form, "") && self.typed.get(name).is_some_and(|v| v == value)
    }

    /// Whether form `form` is the refused one (so its inputs show what was typed).
    pub fn refused(&self, form: &str) -> bool {
        self.is(form, "")
    }

    /// The problem of input `name` of form `form`.
    pub fn problem(&self, form: &str, name: &str) -> Option<String> {
        self.row_problem(form, "", name)
    }

    /// [`Refusal::problem`] for the form of a table row.
    pub fn row_problem(&self, form: &str, row: &str, name: &str) -> Option<String> {
        if !self.is(form, row) {
            return None;
        }
        self.problem_of(name)
    }

    fn problem_of(&self, input: &str) -> Option<String> {
        let problems = self.problems.as_ref()?;
        let found: Vec<String> = self
            .keys(input)
            .into_iter()
            .filter_map(|k| {
                problems.of(k).or_else(|| {
                    let parent = self.within?;
                    problems.of(&format!("{parent}.{k}"))
                })
            })
            .collect();
        (!found.is_empty()).then(|| found.join("; ")).or_else(|| {
            self.objects
                .contains(&input)
                .then(|| problems.inside(input))
                .flatten()
        })
    }

    /// The message for above the form: `None` when every problem is shown beside an input
    /// of the form (see [`Problems::banner`]).
    pub fn banner(&self) -> Option<String> {
        self.problems.as_ref()?.banner(|key| {
            self.typed
                .keys()
                .filter(|input| !self.unshown.contains(&input.as_str()))
                .any(|input| {
                    let keys = self.keys(input);
                    keys.contains(&key)
                        || self.within.is_some_and(|parent| {
                            keys.iter().any(|k| key == format!("{parent}.{k}"))
                        })
                        || (self.objects.contains(&input.as_str())
                            && key.starts_with(&format!("{input}.")))
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Form {
        name: String,
        first_address: String,
        queue: Option<String>,
    }

    fn form() -> Form {
        Form {
            name: "vm-".into(),
            first_address: "10.0.0.300".into(),
            queue: None,
        }
    }

    #[test]
    fn a_field_problem_sits_beside_its_input_and_not_above_the_form() {
        let e = ApiError::field("ip.first_address", "must be an IPv4 address");
        let r = Refusal::new("batch", &form(), &e).renaming("ip.first_address", "first_address");
        assert_eq!(
            r.problem("batch", "first_address").as_deref(),
            Some("must be an IPv4 address")
        );
        assert_eq!(r.problem("batch", "name"), None);
        assert_eq!(r.problem("delete", "first_address"), None);
        assert_eq!(r.value("batch", "first_address"), "10.0.0.300");
        assert_eq!(r.value("delete", "first_address"), "");
        assert_eq!(r.banner(), None);
    }

    #[test]
    fn a_problem_no_input_carries_goes_above_the_form() {
        let e = ApiError::field("agent_id", "is not an agent of this tenant");
        let r = Refusal::new("batch", &form(), &e);
        assert_eq!(r.banner().as_deref(), Some(e.message.as_str()));
        assert_eq!(r.problem("batch", "name"), None);
    }

    #[test]
    fn an_object_input_carries_the_problems_of_its_keys() {
        let e = ApiError::from(botmox_proto::FieldErrors::single(
            "name.vmid",
            "must be a number",
        ));
        let r = Refusal::new("batch", &form(), &e).with_object("name");
        assert_eq!(
            r.problem("batch", "name").as_deref(),
            Some("vmid: must be a number")
        );
        assert_eq!(r.banner(), None);
        let plain = Refusal::new("batch", &form(), &e);
        assert_eq!(plain.problem("batch", "name"), None);
        assert!(plain.banner().is_some());
    }

    #[test]
    fn inputs_within_an_object_of_the_request_find_their_problems() {
        let e = ApiError::field("config.first_address", "must be an IPv4 address");
        let r = Refusal::new("batch", &form(), &e).within("config");
        assert!(r.problem("batch", "first_address").is_some());
        assert_eq!(r.banner(), None);
        let pairs = [("first_address".to_owned(), "x".to_owned())];
        let r = Refusal::of_pairs("batch", &pairs, &e).within("config");
        assert_eq!(r.value("batch", "first_address"), "x");
        assert!(r.problem("batch", "first_address").is_some());
    }

    #[test]
    fn a_problem_of_an_input_drawn_without_one_keeps_the_message_above() {
        let mut fields = botmox_proto::FieldErrors::single("name", "is required");
        fields.add("queue", "must be on or off");
        let e = ApiError::from(fields);
        let r = Refusal::new(
            "batch",
            &Form {
                queue: Some("x".into()),
                ..form()
            },
            &e,
        );
        assert_eq!(r.banner(), None, "both inputs draw their problem");
        let r = Refusal::new(
            "batch",
            &Form {
                queue: Some("x".into()),
                ..form()
            },
            &e,
        )
        .unshown("queue");
        assert!(r.banner().is_some(), "the checkbox's problem is not lost");
        assert!(
            r.problem("batch", "name").is_some(),
            "and the field's is still beside"
        );
        let mut whole = botmox_proto::FieldErrors::single("name", "is required");
        whole.add_form("the body is not an object");
        let r = Refusal::new("batch", &form(), &ApiError::from(whole));
        assert!(
            r.banner().is_some(),
            "a problem of the whole form goes above"
        );
    }

    #[test]
    fn a_row_form_answers_only_for_its_row() {
        let e = ApiError::field("name", "is required");
        let r = Refusal::new("rename", &form(), &e).on_row("u1");
        assert!(r.row_problem("rename", "u1", "name").is_some());
        assert!(r.row_problem("rename", "u2", "name").is_none());
        assert_eq!(r.row_value("rename", "u1", "name"), "vm-");
        assert!(Refusal::none().problem("rename", "name").is_none());
        assert_eq!(Refusal::none().banner(), None);
    }
}
