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

/// A list as an editor writes it: items separated by commas or new lines, trimmed, blanks
/// and repeats dropped.
fn items(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_owned());
        }
    }
    out
}

impl ReferenceData {
    /// Reference data from the editor's four texts: servers, the alliance's and the horde's
    /// races (lists), and one `Race: Class, Class` line per race. A class line without its
    /// race is refused, naming the line.
    pub fn from_texts(
        servers: &str,
        alliance: &str,
        horde: &str,
        classes: &str,
    ) -> Result<Self, String> {
        let mut races = BTreeMap::new();
        for (faction, text) in [("alliance", alliance), ("horde", horde)] {
            let list = items(text);
            if !list.is_empty() {
                races.insert(faction.to_owned(), list);
            }
        }
        let mut by_race = BTreeMap::new();
        for line in classes.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (race, list) = line
                .split_once(':')
                .filter(|(race, _)| !race.trim().is_empty())
                .ok_or_else(|| format!("“{line}” is not a line like Human: Warrior, Mage"))?;
            by_race.insert(race.trim().to_owned(), items(list));
        }
        Ok(Self {
            servers: items(servers),
            races,
            classes: by_race,
        })
    }

    /// The editor's texts: servers, alliance races, horde races, class lines.
    pub fn to_texts(&self) -> [String; 4] {
        let races = |faction: &str| {
            self.races
                .get(faction)
                .map(|r| r.join(", "))
                .unwrap_or_default()
        };
        let classes = self
            .classes
            .iter()
            .map(|(race, list)| format!("{race}: {}", list.join(", ")))
            .collect::<Vec<_>>()
            .join("\n");
        [
            self.servers.join(", "),
            races("alliance"),
            races("horde"),
            classes,
        ]
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
    fn the_editors_texts_read_into_reference_data_and_back() {
        let d = ReferenceData::from_texts(
            "Gehennas, Firemaw\nGehennas",
            "Human,Dwarf",
            "",
            "Human: Warrior, Mage\n\n  Orc :Shaman",
        )
        .unwrap();
        assert_eq!(d.servers, ["Gehennas", "Firemaw"]);
        assert_eq!(d.races.keys().collect::<Vec<_>>(), ["alliance"]);
        assert_eq!(d.classes["Orc"], ["Shaman"]);
        let [servers, alliance, horde, classes] = d.to_texts();
        assert_eq!(
            (servers.as_str(), alliance.as_str(), horde.as_str()),
            ("Gehennas, Firemaw", "Human, Dwarf", "")
        );
        assert_eq!(classes, "Human: Warrior, Mage\nOrc: Shaman");
        assert_eq!(
            ReferenceData::from_texts(&servers, &alliance, &horde, &classes).unwrap(),
            d
        );
        assert!(ReferenceData::from_texts("", "", "", "Warrior, Mage").is_err());
        assert!(ReferenceData::from_texts("", "", "", ": Mage").is_err());
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
