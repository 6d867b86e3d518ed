//! The rules of the settings tree (spec api.md §9.1) as one rule tree: a write at any path
//! is checked against the rule found by walking the tree down that path, so deep writes
//! (`projects/wow/gold_price_usd`) meet the same rules as whole-object writes.

use crate::schema::{Field, Rule, opt, req};
use botmox_proto::records::BOT_STATUSES;

const STR: Rule = Rule::Str(Some(2000));
const TS: Rule = Rule::Timestamp;

const ALERTS: &[Field] = &[
    opt("warning_days", Rule::Int(1, 365)),
    opt("updated_at", TS),
    opt("updated_by", STR),
];

const IPQS: &[Field] = &[opt("api_key", STR), opt("enabled", Rule::Bool)];
const TELEGRAM: &[Field] = &[
    opt("bot_token", STR),
    opt("chat_id", STR),
    opt("enabled", Rule::Bool),
];
const API_KEYS: &[Field] = &[
    opt("ipqs", Rule::Shape(IPQS)),
    opt("telegram", Rule::Shape(TELEGRAM)),
];

const PROXY: &[Field] = &[
    opt("auto_check_on_add", Rule::Bool),
    opt("fraud_score_threshold", Rule::Int(0, 100)),
    opt("check_interval_hours", Rule::Int(0, 168)),
];

const EVENTS: &[Field] = &[
    opt("bot_banned", Rule::Bool),
    opt("bot_offline", Rule::Bool),
    opt("bot_online", Rule::Bool),
    opt("level_up", Rule::Bool),
    opt("profession_maxed", Rule::Bool),
    opt("low_fraud_score", Rule::Bool),
    opt("daily_report", Rule::Bool),
];
const NOTIFICATIONS: &[Field] = &[opt("events", Rule::Shape(EVENTS))];

/// A project (game or workload) bots and money belong to.
pub const PROJECT: &[Field] = &[
    opt("id", STR),
    req("name", Rule::NonEmpty),
    opt("game", STR),
    opt("expansion", STR),
    opt("max_level", Rule::Int(1, 200)),
    opt("currency", STR),
    opt("currency_symbol", STR),
    opt("server_region", STR),
    opt("professions", Rule::ListOf(&STR, 200)),
    opt("referenceData", Rule::Any),
    opt("gold_price_usd", Rule::Positive),
    opt("created_at", TS),
    opt("updated_at", TS),
];

const VISUAL: &[Field] = &[
    opt("enabled", Rule::Bool),
    opt("mode", Rule::OneOf(&["none", "image"])),
    opt("backgroundAssetId", Rule::Nullable(&STR)),
    opt("backgroundImageUrl", Rule::Nullable(&STR)),
    opt(
        "backgroundPosition",
        Rule::OneOf(&["center", "top", "custom"]),
    ),
    opt("backgroundSize", Rule::OneOf(&["cover", "contain", "auto"])),
    opt("overlayOpacity", Rule::Fraction),
    opt("overlayColorLight", STR),
    opt("overlayColorDark", STR),
    opt("blurPx", Rule::Int(0, 24)),
    opt("dimStrength", Rule::Fraction),
];
const TYPOGRAPHY: &[Field] = &[
    opt("fontPrimary", STR),
    opt("fontCondensed", STR),
    opt("fontMono", STR),
];
const SHAPE: &[Field] = &[
    opt("radiusNone", Rule::Int(0, 24)),
    opt("radiusSm", Rule::Int(0, 24)),
    opt("radiusMd", Rule::Int(0, 24)),
    opt("radiusLg", Rule::Int(0, 24)),
];
const PRESET: &[Field] = &[
    opt("id", STR),
    opt("name", STR),
    opt("palettes", Rule::Object),
    opt("created_at", TS),
    opt("updated_at", TS),
];
const THEME: &[Field] = &[
    opt("palettes", Rule::Object),
    opt("presets", Rule::MapOf(&Rule::Shape(PRESET))),
    opt("active_preset_id", Rule::Nullable(&STR)),
    opt("visual", Rule::Shape(VISUAL)),
    opt("typography", Rule::Shape(TYPOGRAPHY)),
    opt("shape", Rule::Shape(SHAPE)),
    opt("updated_at", TS),
    opt("updated_by", STR),
];

const CHART_SERIES: &[Field] = &[
    req("key", Rule::NonEmpty),
    req("name", Rule::NonEmpty),
    req("color", Rule::NonEmpty),
    req("yAxisId", Rule::NonEmpty),
    req("unit", Rule::NonEmpty),
    req("type", Rule::OneOf(&["line", "bar"])),
    req("visible", Rule::Bool),
];
const FINANCE: &[Field] = &[opt(
    "chart_config",
    Rule::ListOf(&Rule::Shape(CHART_SERIES), 200),
)];

const RESOURCE_TREE: &[Field] = &[
    opt("expandedKeys", Rule::ListOf(&STR, 10_000)),
    opt(
        "visibleStatuses",
        Rule::ListOf(&Rule::OneOf(BOT_STATUSES), 6),
    ),
    opt("showFilters", Rule::Bool),
    opt("updated_at", TS),
];
const UI: &[Field] = &[opt("resource_tree", Rule::Shape(RESOURCE_TREE))];

const SCHEDULE_PARAMS: &[Field] = &[
    opt("startTime", Rule::Time),
    opt("endTime", Rule::Time),
    opt("startTime2", Rule::Time),
    opt("endTime2", Rule::Time),
    opt("useSecondWindow", Rule::Bool),
    opt("targetActiveMinutes", Rule::Int(30, 1380)),
    opt("minSessionMinutes", Rule::Int(15, 240)),
    opt("minBreakMinutes", Rule::Int(5, 120)),
    opt("randomOffsetMinutes", Rule::Int(0, 60)),
    opt("profile", STR),
    opt("updated_at", TS),
];
const SCHEDULE_TEMPLATE: &[Field] = &[
    opt("name", STR),
    opt("params", Rule::Shape(SCHEDULE_PARAMS)),
    opt("created_at", TS),
    opt("updated_at", TS),
];
const SCHEDULE: &[Field] = &[
    opt("last_params", Rule::Shape(SCHEDULE_PARAMS)),
    opt("templates", Rule::MapOf(&Rule::Shape(SCHEDULE_TEMPLATE))),
];

const HARDWARE: &[Field] = &[
    opt("cores", Rule::Int(1, 64)),
    opt("sockets", Rule::Int(1, 8)),
    opt("memory", Rule::Int(256, 262_144)),
    opt("balloon", Rule::Int(0, 262_144)),
    opt("cpu", STR),
    opt("onboot", Rule::Bool),
    opt("agent", Rule::Bool),
];
const VM_PROFILE: &[Field] = &[
    opt("name", STR),
    opt("hardware", Rule::Shape(HARDWARE)),
    opt("created_at", TS),
    opt("updated_at", TS),
];
const PROXMOX: &[Field] = &[
    opt("url", STR),
    opt("username", STR),
    opt("password", STR),
    opt("node", STR),
];
const SSH: &[Field] = &[
    opt("host", STR),
    opt("port", Rule::Int(1, 65535)),
    opt("username", STR),
    opt("password", STR),
    opt("privateKeyPath", STR),
    opt("useKeyAuth", Rule::Bool),
];
const OPTIONS: &[Field] = &[opt("options", Rule::ListOf(&STR, 200)), opt("default", STR)];
const TEMPLATE_VM: &[Field] = &[opt("vmId", Rule::Int(1, i32::MAX as i64)), opt("name", STR)];
const VM_GENERATOR: &[Field] = &[
    // The agent `/api/v1/infra/*` calls go to when they name none.
    opt("agentId", STR),
    opt("proxmox", Rule::Shape(PROXMOX)),
    opt("ssh", Rule::Shape(SSH)),
    opt("storage", Rule::Shape(OPTIONS)),
    opt("format", Rule::Shape(OPTIONS)),
    opt("template", Rule::Shape(TEMPLATE_VM)),
    opt("hardware", Rule::Shape(HARDWARE)),
    opt("projectHardware", Rule::Object),
    opt("hardwareApply", Rule::Object),
    opt("services", Rule::Object),
    opt("deleteVmFilters", Rule::Object),
    opt("profiles", Rule::MapOf(&Rule::Shape(VM_PROFILE))),
];

const PASSWORD_OPTIONS: &[Field] = &[
    opt("length", Rule::Int(6, 128)),
    opt("uppercase", Rule::Bool),
    opt("lowercase", Rule::Bool),
    opt("numbers", Rule::Bool),
    opt("symbols", Rule::Bool),
];
const ACCOUNT_SETTINGS: &[Field] = &[
    opt("passwordOptions", Rule::Shape(PASSWORD_OPTIONS)),
    opt("selectedDomain", STR),
    opt("customDomain", STR),
    opt("useCustomDomain", Rule::Bool),
];
const ACCOUNT_TEMPLATE: &[Field] = &[
    opt("name", STR),
    opt("created_at", TS),
    opt("updated_at", TS),
    opt("settings", Rule::Object),
];
const ACCOUNT_GENERATOR: &[Field] = &[
    opt("lastSettings", Rule::Shape(ACCOUNT_SETTINGS)),
    opt("defaultTemplateId", Rule::Nullable(&STR)),
    opt("templates", Rule::MapOf(&Rule::Shape(ACCOUNT_TEMPLATE))),
];
const GENERATORS: &[Field] = &[opt("account", Rule::Shape(ACCOUNT_GENERATOR))];

const ROOT: &[Field] = &[
    opt("alerts", Rule::Shape(ALERTS)),
    opt("api_keys", Rule::Shape(API_KEYS)),
    opt("proxy", Rule::Shape(PROXY)),
    opt("notifications", Rule::Shape(NOTIFICATIONS)),
    opt("projects", Rule::IdMapOf(&Rule::Shape(PROJECT))),
    opt("theme", Rule::Shape(THEME)),
    opt("finance", Rule::Shape(FINANCE)),
    opt("ui", Rule::Shape(UI)),
    opt("schedule", Rule::Shape(SCHEDULE)),
    opt("vmgenerator", Rule::Shape(VM_GENERATOR)),
    opt("generators", Rule::Shape(GENERATORS)),
];

/// The whole tree.
pub const TREE: Rule = Rule::Shape(ROOT);

/// The rule for the value at `path` (segments below the root); `Any` where the tree has none.
pub fn rule_at(path: &[&str]) -> Rule {
    let mut rule = TREE;
    for segment in path {
        rule = match rule {
            Rule::Shape(fields) => fields
                .iter()
                .find(|f| f.name == *segment)
                .map_or(Rule::Any, |f| f.rule),
            Rule::MapOf(inner) | Rule::IdMapOf(inner) => *inner,
            Rule::Nullable(inner) => *inner,
            _ => Rule::Any,
        };
        if matches!(rule, Rule::Any) {
            break;
        }
    }
    rule
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_are_found_down_any_path() {
        assert!(matches!(rule_at(&["alerts"]), Rule::Shape(_)));
        assert!(matches!(
            rule_at(&["alerts", "warning_days"]),
            Rule::Int(1, 365)
        ));
        assert!(matches!(rule_at(&["projects", "wow"]), Rule::Shape(_)));
        assert!(matches!(
            rule_at(&["projects", "wow", "gold_price_usd"]),
            Rule::Positive
        ));
        assert!(matches!(rule_at(&["anything", "else"]), Rule::Any));
        let v = json!({"passwordOptions": {"length": 5}});
        assert!(
            crate::schema::check(rule_at(&["generators", "account", "lastSettings"]), &v).is_err()
        );
    }
}
