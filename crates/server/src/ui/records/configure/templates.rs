//! Named sets of a generator's parameters kept in settings (`schedule/templates`,
//! `generators/account/templates`): saved from the form, applied back into it, deleted.
//! Each generator says where its set lives and how its inputs read and write one.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::typed::Typed;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::settings::service as settings;
use crate::state::AppState;
use crate::ui::records::form::{Opt, Posted};

/// Where a generator's templates live and how its form holds one.
pub struct Store {
    /// The settings path of the map of templates, e.g. `schedule/templates`.
    pub path: &'static str,
    /// The key of a template's parameters (`params` or `settings`).
    pub key: &'static str,
    /// The parameters the form holds, checked.
    pub read: fn(&Posted) -> ApiResult<Value>,
    /// Put stored parameters into the form's inputs.
    pub write: fn(&mut Posted, &Value) -> ApiResult<()>,
}

impl Store {
    /// The saved templates as (id, name), by name.
    pub fn list(&self, tree: &Value) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = tree
            .pointer(&format!("/{}", self.path))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(id, t)| {
                        let name = t.get("name").and_then(Value::as_str).unwrap_or(id);
                        (id.clone(), name.to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|(_, name)| name.to_lowercase());
        out
    }

    /// The select's options, `chosen` selected.
    pub fn options(&self, tree: &Value, chosen: &str) -> Vec<Opt> {
        self.list(tree)
            .into_iter()
            .map(|(id, name)| Opt {
                selected: id == chosen,
                value: id,
                label: name,
            })
            .collect()
    }

    /// The parameters of template `id`, when it has any.
    pub fn params(&self, tree: &Value, id: &str) -> Option<Value> {
        tree.pointer(&format!("/{}/{id}/{}", self.path, self.key))
            .cloned()
    }

    /// `apply_template`, `save_template` or `delete_template`, by the form's `template`
    /// (the chosen one) and `template_name` (a new one's name). The form keeps what it
    /// holds, with the template's parameters when one is applied.
    pub async fn act(
        &self,
        state: &AppState,
        auth: &Auth,
        action: &str,
        posted: &Posted,
    ) -> ApiResult<Typed> {
        let mut typed = posted.clone();
        let chosen = posted.get("template").map(|t| t.trim()).unwrap_or_default();
        let tree = settings::tree(&state.db, auth.tenant()).await?;
        let saved: BTreeMap<String, String> = self.list(&tree).into_iter().collect();
        let notice = match action {
            "save_template" => {
                let params = (self.read)(posted)?;
                let name = posted
                    .get("template_name")
                    .map(|n| n.trim())
                    .unwrap_or_default();
                if name.is_empty() {
                    return Err(ApiError::field("generator", "Name the template to save it"));
                }
                let id = id_of(name);
                let now = crate::clock::now_ms();
                let path = settings::parse_path(&format!("{}/{id}", self.path))?;
                let body =
                    json!({"name": name, self.key: params, "created_at": now, "updated_at": now});
                settings::write(state, auth, &path, body).await?;
                typed.insert("template".into(), id);
                typed.remove("template_name");
                format!("Template “{name}” saved.")
            }
            _ if !saved.contains_key(chosen) => {
                return Err(ApiError::field(
                    "generator",
                    "Choose a saved template first",
                ));
            }
            "apply_template" => {
                let params = self
                    .params(&tree, chosen)
                    .ok_or_else(|| ApiError::field("generator", "The template cannot be read"))?;
                (self.write)(&mut typed, &params)?;
                format!("Template “{}” applied: press Generate.", saved[chosen])
            }
            _ => {
                let path = settings::parse_path(&format!("{}/{chosen}", self.path))?;
                settings::write(state, auth, &path, Value::Null).await?;
                typed.remove("template");
                format!("Template “{}” deleted.", saved[chosen])
            }
        };
        Ok(Typed {
            posted: typed,
            notice: Some(notice),
            ..Typed::default()
        })
    }
}

/// Parameters as settings keep them may carry `updated_at`, which the contract's types do
/// not.
pub fn without_stamp(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.remove("updated_at");
    }
    v
}

/// A template's key: its name in lower-case letters, digits and dashes.
fn id_of(name: &str) -> String {
    let mut id = String::new();
    for c in deunicode::deunicode(name).chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-').to_owned();
    if id.is_empty() { "template".into() } else { id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_templates_key_is_its_name_in_plain_words() {
        assert_eq!(id_of("Évening  grind!"), "evening-grind");
        assert_eq!(id_of("???"), "template");
    }
}
