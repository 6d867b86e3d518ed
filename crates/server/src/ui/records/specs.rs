//! The table pages as data: for each kind its columns, filters and form inputs (spec ui.md
//! §3.4–3.6, §3.9 and the bots list), read by the generic handlers of `table`.

use super::form::{FieldSpec, Input, field, required};
use super::spec::{Cell, Column, Filter, TableSpec};
use crate::records::kinds::{BOT_STATUSES, Kind};

const LICENSE_STATUSES: &[&str] = &["active", "expired", "revoked"];
const PROXY_STATUSES: &[&str] = &["active", "expired", "banned"];
/// The status filters of kinds that expire offer their effective statuses
/// (`records::expiry`), `expiring` included, which no form sets.
const LICENSE_STATES: &[&str] = &["active", "expiring", "expired", "revoked"];
const PROXY_STATES: &[&str] = &["active", "expiring", "expired", "banned"];
const SUBSCRIPTION_STATES: &[&str] = &["active", "expiring", "expired", "cancelled"];
const PROXY_TYPES: &[&str] = &["http", "socks5"];
const SUBSCRIPTION_STATUSES: &[&str] = &["active", "cancelled"];
const SUBSCRIPTION_TYPES: &[&str] = &["wow", "bot", "proxy", "vpn", "other"];
/// The statuses a form may set: `banned` only comes from the lifecycle endpoints.
const BOT_SETTABLE: &[&str] = &["prepare", "offline", "leveling", "profession", "farming"];
pub const FACTIONS: &[&str] = &["alliance", "horde"];

const fn col(label: &'static str, sort: Option<&'static str>, cell: Cell) -> Column {
    Column { label, sort, cell }
}

pub static LICENSES: TableSpec = TableSpec {
    kind: Kind::License,
    slug: "license",
    path: "/licenses",
    item_path: "/licenses",
    active: "licenses",
    section: "Resources",
    title: "Licenses",
    columns: &[
        col("Status", Some("status"), Cell::Badge("status")),
        col("License key", Some("key"), Cell::Open("key")),
        col("Type", Some("type"), Cell::Text("type")),
        col("Bots", None, Cell::Bots("bot_ids")),
        col("Expires", Some("expires_at"), Cell::Date("expires_at")),
        col("Days left", None, Cell::DaysLeft),
        col("Created", Some("created_at"), Cell::Date("created_at")),
    ],
    filters: &[Filter {
        param: "status",
        label: "Status",
        options: LICENSE_STATES,
    }],
    fields: &[
        required("key", "License key", Input::Text),
        required("type", "Type", Input::Text),
        required("status", "Status", Input::Select(LICENSE_STATUSES)),
        field("expires_at", "Expires", Input::DateMs),
    ],
    default_sort: ("created_at", true),
    expiry: true,
    status_first: None,
};

pub static PROXIES: TableSpec = TableSpec {
    kind: Kind::Proxy,
    slug: "proxy",
    path: "/proxies",
    item_path: "/proxies",
    active: "proxies",
    section: "Resources",
    title: "Proxies",
    columns: &[
        col("Status", Some("status"), Cell::Badge("status")),
        col("Proxy", Some("ip"), Cell::Address),
        col("Type", Some("type"), Cell::Text("type")),
        col("Provider", None, Cell::Text("provider")),
        col("Country", None, Cell::Text("country")),
        col("Bot", None, Cell::Bots("bot_id")),
        col("Expires", Some("expires_at"), Cell::Date("expires_at")),
        col("Days left", None, Cell::DaysLeft),
    ],
    filters: &[
        Filter {
            param: "status",
            label: "Status",
            options: PROXY_STATES,
        },
        Filter {
            param: "type",
            label: "Type",
            options: PROXY_TYPES,
        },
    ],
    fields: &[
        // A pasted string fills the next inputs, so they are not required in the page.
        field(
            "paste",
            "Proxy string (ip:port:login:password, …)",
            Input::ProxyPaste,
        ),
        field("ip", "IP or host", Input::Text),
        field("port", "Port", Input::Number),
        required("type", "Type", Input::Select(PROXY_TYPES)),
        field("login", "Login", Input::Text),
        field("password", "Password", Input::Password),
        field("provider", "Provider", Input::Text),
        field("country", "Country", Input::Text),
        required("status", "Status", Input::Select(PROXY_STATUSES)),
        field("expires_at", "Expires", Input::DateMs),
    ],
    default_sort: ("created_at", true),
    expiry: true,
    status_first: None,
};

pub static SUBSCRIPTIONS: TableSpec = TableSpec {
    kind: Kind::Subscription,
    slug: "subscription",
    path: "/subscriptions",
    item_path: "/subscriptions",
    active: "subscriptions",
    section: "Resources",
    title: "Subscriptions",
    columns: &[
        col("Status", Some("status"), Cell::Badge("status")),
        col("Type", Some("type"), Cell::Open("type")),
        col("Bot", None, Cell::Bots("bot_id")),
        col(
            "Account",
            Some("account_email"),
            Cell::Text("account_email"),
        ),
        col("Auto-renew", None, Cell::Flag("auto_renew")),
        col("Expires", Some("expires_at"), Cell::Date("expires_at")),
        col("Days left", None, Cell::DaysLeft),
        col("Created", Some("created_at"), Cell::Date("created_at")),
    ],
    filters: &[
        Filter {
            param: "status",
            label: "Status",
            options: SUBSCRIPTION_STATES,
        },
        Filter {
            param: "type",
            label: "Type",
            options: SUBSCRIPTION_TYPES,
        },
    ],
    fields: &[
        required("type", "Type", Input::Select(SUBSCRIPTION_TYPES)),
        field("bot_id", "Bot", Input::RecordId(Kind::Bot)),
        required("status", "Status", Input::Select(SUBSCRIPTION_STATUSES)),
        field("expires_at", "Expires", Input::DateMs),
        field("account_email", "Account email", Input::Text),
        field("auto_renew", "Auto-renew", Input::Checkbox),
        field("notes", "Notes", Input::TextArea),
    ],
    default_sort: ("expires_at", false),
    expiry: true,
    status_first: None,
};

pub static NOTES: TableSpec = TableSpec {
    kind: Kind::Note,
    slug: "note",
    path: "/notes",
    item_path: "/notes",
    active: "notes",
    section: "Workspace",
    title: "Notes",
    columns: &[
        col("Title", Some("title"), Cell::Open("title")),
        col("Tags", None, Cell::Text("tags")),
        col("Pinned", None, Cell::Flag("is_pinned")),
        col("Updated", Some("updated_at"), Cell::Date("updated_at")),
    ],
    filters: &[],
    fields: &[
        required("title", "Title", Input::Text),
        field("tags", "Tags (comma-separated)", Input::Tags),
        field("is_pinned", "Pinned", Input::Checkbox),
        field("content", "Content (markdown)", Input::TextArea),
    ],
    default_sort: ("updated_at", true),
    expiry: false,
    status_first: Some("pinned"),
};

/// The bot form: the summary tab edits the same inputs it is created with.
pub const BOT_FIELDS: &[FieldSpec] = &[
    required("name", "Name", Input::Text),
    field("project_id", "Project", Input::Text),
    required("status", "Status", Input::Select(BOT_SETTABLE)),
    field("character/name", "Character name", Input::Text),
    field("character/class", "Class", Input::Text),
    field("character/race", "Race", Input::Text),
    field("character/server", "Server", Input::Text),
    field("character/level", "Level", Input::Number),
    field("character/faction", "Faction", Input::Select(FACTIONS)),
];

/// Bots filter by status.
const BOT_FILTERS: &[Filter] = &[Filter {
    param: "status",
    label: "Status",
    options: BOT_STATUSES,
}];

pub static BOTS: TableSpec = TableSpec {
    kind: Kind::Bot,
    slug: "bot",
    path: "/bots",
    item_path: "/bot",
    active: "bots",
    section: "Resources",
    title: "Bots",
    columns: &[
        col("Name", Some("name"), Cell::Open("name")),
        col("Project", Some("project_id"), Cell::Text("project_id")),
        col("Status", Some("status"), Cell::Badge("status")),
        col("Level", None, Cell::Text("character/level")),
        col("Last seen", None, Cell::LastSeen),
        col("Updated", Some("updated_at"), Cell::Date("updated_at")),
    ],
    filters: BOT_FILTERS,
    fields: BOT_FIELDS,
    default_sort: ("name", false),
    expiry: false,
    status_first: None,
};

/// The accounts table of a Project page (spec ui.md §3.2): the project's bots with their
/// account, character and what is attached to them. Not a page of its own: the Project
/// page draws it under its own URL, and its rows are deleted through the Bots table.
pub static PROJECT_ACCOUNTS: TableSpec = TableSpec {
    kind: Kind::Bot,
    slug: "account",
    path: "/bots",
    item_path: "/bot",
    active: "bots",
    section: "Projects",
    title: "Accounts",
    columns: &[
        col("Bot", Some("name"), Cell::BotName),
        col("Status", Some("status"), Cell::Badge("status")),
        col("VM", None, Cell::OpenTab("vm/name", "vm")),
        col("Account", None, Cell::Text("account/email")),
        col("Character", None, Cell::Character),
        col("License", None, Cell::Attached(Kind::License)),
        col("Proxy", None, Cell::Attached(Kind::Proxy)),
        col("Subscription", None, Cell::Attached(Kind::Subscription)),
        col("Last seen", None, Cell::LastSeen),
    ],
    filters: BOT_FILTERS,
    fields: BOT_FIELDS,
    default_sort: ("name", false),
    expiry: false,
    status_first: None,
};

/// Every table page.
pub static TABLES: [&TableSpec; 5] = [&LICENSES, &PROXIES, &SUBSCRIPTIONS, &NOTES, &BOTS];
