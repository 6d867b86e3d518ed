//! A project's reference data (settings `projects/<id>/referenceData`): the servers, the
//! races of each faction and the classes of each race its bots' characters choose from.
//! Stored as `{servers: [..], races: {alliance: [..], horde: [..]}, classes: {race: [..]}}`;
//! a list left out leaves that choice free.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceData {
    #[serde(default)]
    pub servers: Vec<String>,
    /// Faction (`alliance`, `horde`) → its races.
    #[serde(default)]
    pub races: BTreeMap<String, Vec<String>>,
    /// Race → its classes.
    #[serde(default)]
    pub classes: BTreeMap<String, Vec<String>>,
}

impl ReferenceData {
    /// The reference data of `project` in the settings `tree`; empty when it has none (or
    /// none of this shape).
    pub fn of(tree: &Value, project: &str) -> Self {
        tree.pointer(&format!("/projects/{}/referenceData", escape(project)))
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    /// Every race of every faction, each once, in order.
    pub fn all_races(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for race in self.races.values().flatten() {
            if !out.contains(race) {
                out.push(race.clone());
            }
        }
        out
    }

    /// Every class of every race, each once, in order.
    pub fn all_classes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for class in self.classes.values().flatten() {
            if !out.contains(class) {
                out.push(class.clone());
            }
        }
        out
    }

    /// What is wrong with a character's server, race and class (blank ones are free), as
    /// (field, problem) pairs.
    pub fn problems(
        &self,
        server: &str,
        faction: &str,
        race: &str,
        class: &str,
    ) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !server.is_empty()
            && !self.servers.is_empty()
            && !self.servers.iter().any(|s| s == server)
        {
            out.push((
                "server",
                format!("{server} is not a server of this project"),
            ));
        }
        if !race.is_empty() {
            match self.races.get(faction) {
                Some(races) if !races.iter().any(|r| r == race) => {
                    out.push(("race", format!("{race} is not a race of the {faction}")));
                }
                None if faction.is_empty() && !self.races.is_empty() => {
                    out.push(("faction", format!("Choose the faction of the {race}")));
                }
                None if !self.races.is_empty() => {
                    out.push((
                        "faction",
                        format!("The project has no races of the {faction}"),
                    ));
                }
                _ => {}
            }
        }
        if !class.is_empty()
            && let Some(classes) = self.classes.get(race)
            && !classes.iter().any(|c| c == class)
        {
            out.push(("class", format!("A {race} cannot be a {class}")));
        }
        out
    }
}

/// A JSON pointer token for `key` (`~` and `/` escaped).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> ReferenceData {
        let tree = json!({"projects": {"wow": {"name": "WoW", "referenceData": {
            "servers": ["Gehennas", "Firemaw"],
            "races": {"alliance": ["Human", "Dwarf"], "horde": ["Orc", "Undead"]},
            "classes": {"Human": ["Warrior", "Mage"], "Orc": ["Warrior", "Shaman"]}}}}});
        ReferenceData::of(&tree, "wow")
    }

    #[test]
    fn choices_come_from_the_project_and_combinations_are_checked() {
        let d = data();
        assert_eq!(d.all_races(), ["Human", "Dwarf", "Orc", "Undead"]);
        assert_eq!(d.all_classes(), ["Warrior", "Mage", "Shaman"]);
        assert!(d.problems("Gehennas", "horde", "Orc", "Shaman").is_empty());
        assert!(d.problems("", "", "", "").is_empty(), "blank is free");
        assert!(
            d.problems("Gehennas", "horde", "Undead", "Priest")
                .is_empty(),
            "no classes listed for the race"
        );
        assert_eq!(
            d.problems("", "", "Orc", "")[0].0,
            "faction",
            "a race needs its faction"
        );
        let fields =
            |p: Vec<(&'static str, String)>| p.into_iter().map(|(f, _)| f).collect::<Vec<_>>();
        assert_eq!(
            fields(d.problems("Nowhere", "horde", "Human", "Shaman")),
            ["server", "race", "class"]
        );
        assert_eq!(
            fields(d.problems("Firemaw", "alliance", "Human", "Shaman")),
            ["class"]
        );
        assert_eq!(
            ReferenceData::of(&json!({}), "wow"),
            ReferenceData::default()
        );
        assert_eq!(
            ReferenceData::of(&json!({"projects": {"wow": {"referenceData": 5}}}), "wow"),
            ReferenceData::default()
        );
    }
}
