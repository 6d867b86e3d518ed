//! The parts of the OpenAPI document that come from the server's rules rather than from a
//! request type: the bodies of records and settings (from their field rules, see
//! [`rules`]), the closed sets a path segment takes, and the error answers every operation
//! shares ([`responses`]). Route annotations name these types; `api` assembles the document.

pub mod responses;
pub mod rules;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, ObjectBuilder, Ref, Schema, SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::records::bots::service::BAN_MECHANISMS;
use crate::records::kinds::{BOT_STATUSES, CHARACTER, Kind};
use crate::schema::{Field, Rule};

/// Every record kind. [`position`] fails to compile when a kind is added and not listed.
const KINDS: [Kind; 8] = [
    Kind::License,
    Kind::Proxy,
    Kind::Subscription,
    Kind::Note,
    Kind::CalendarEvent,
    Kind::KanbanTask,
    Kind::Bot,
    Kind::FinanceOperation,
];

/// Where `kind` is in [`KINDS`].
const fn position(kind: Kind) -> usize {
    match kind {
        Kind::License => 0,
        Kind::Proxy => 1,
        Kind::Subscription => 2,
        Kind::Note => 3,
        Kind::CalendarEvent => 4,
        Kind::KanbanTask => 5,
        Kind::Bot => 6,
        Kind::FinanceOperation => 7,
    }
}

// Each kind at its own position: listed once, none left out.
const _: () = {
    let mut i = 0;
    while i < KINDS.len() {
        assert!(position(KINDS[i]) == i);
        i += 1;
    }
};

/// The kinds whose path segment `group` accepts (`Kind::resource`, `Kind::workspace`).
fn kinds_of(group: fn(&str) -> Option<Kind>) -> Vec<Kind> {
    KINDS
        .into_iter()
        .filter(|k| group(k.as_str()) == Some(*k))
        .collect()
}

fn kind_names(group: fn(&str) -> Option<Kind>) -> ObjectBuilder {
    rules::string().enum_values(Some(kinds_of(group).into_iter().map(Kind::as_str)))
}

/// A bot's status as a create or patch may set it: `banned` only through the ban endpoint.
fn settable_bot_status() -> ObjectBuilder {
    rules::string().enum_values(Some(
        BOT_STATUSES.iter().filter(|s| **s != "banned").copied(),
    ))
}

/// The rule of `field` of `kind` as a write checks it (a bot's `character` has its own).
fn field_schema(kind: Kind, field: &Field) -> RefOr<Schema> {
    match (kind, field.name) {
        (Kind::Bot, "character") => rules::shape(CHARACTER).into(),
        (Kind::Bot, "status") => settable_bot_status().into(),
        _ => rules::rule(field.rule),
    }
}

const KEPT: &str = "Other keys are kept as sent (`id`, `created_at` and `updated_at` are the \
                    server's; a create may choose `id`). `project_id` must name a project of \
                    the tenant's settings, `bot_id`/`bot_ids` bots of the tenant.";

/// The body of a create of `kind`: its fields by their rules, the required ones present,
/// not empty.
pub fn record_create(kind: Kind) -> ObjectBuilder {
    kind.fields()
        .iter()
        .fold(record_object(kind), |object, field| {
            let object = object.property(field.name, field_schema(kind, field));
            if field.required {
                object.required(field.name)
            } else {
                object
            }
        })
}

/// The body of a patch of `kind`: any of its fields (`null` removes an optional one), not
/// empty; the patched record must still meet the rules.
pub fn record_patch(kind: Kind) -> ObjectBuilder {
    kind.fields()
        .iter()
        .fold(record_object(kind), |object, field| {
            let schema = field_schema(kind, field);
            let schema = if field.required {
                schema
            } else {
                rules::nullable(schema)
            };
            object.property(field.name, schema)
        })
}

fn record_object(kind: Kind) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(kind.as_str()))
        .min_properties(Some(1))
        .description(Some(KEPT))
}

/// One of the record bodies of `kinds`.
fn any_of(kinds: Vec<Kind>, body: fn(Kind) -> ObjectBuilder) -> RefOr<Schema> {
    kinds
        .into_iter()
        .fold(AnyOfBuilder::new(), |any, kind| any.item(body(kind)))
        .description(Some("The body of the kind named in the path"))
        .into()
}

/// What `sort` of a record list takes: a key of `SortKey::parse`, blanks around it trimmed;
/// blank is the default.
pub const SORT_KEYS: &[&str] = &[
    "created_at",
    "updated_at",
    "name",
    "key",
    "ip",
    "title",
    "account_email",
    "status",
    "type",
    "date",
    "due_date",
    "expires_at",
    "amount",
    "category",
    "project_id",
];

/// A query value that is one of `words` or blank, with blanks around it (the server trims).
fn trimmed_choice(words: &[&str]) -> ObjectBuilder {
    let blank = rules::blank_class();
    rules::string().pattern(Some(format!(
        "^[{blank}]*(?:{})?[{blank}]*$",
        words.join("|")
    )))
}

/// `sort` of a record list.
pub fn sort_param() -> ObjectBuilder {
    trimmed_choice(SORT_KEYS)
}

/// `result` of the audit log: `ok`, `denied` or `error`.
pub fn audit_result_param() -> ObjectBuilder {
    trimmed_choice(&["ok", "denied", "error"])
}

/// `order` of a record list: `asc` (also when empty) or `desc`.
pub fn order_param() -> ObjectBuilder {
    rules::string().enum_values(Some(["asc", "desc", ""]))
}

/// A record: its document with `id`, `created_at` and `updated_at` (epoch ms).
fn record() -> ObjectBuilder {
    let integer = || ObjectBuilder::new().schema_type(Type::Integer);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("id", rules::string())
        .property("created_at", integer())
        .property("updated_at", integer())
        .property(
            "effective_status",
            rules::string().description(Some(
                "Licences, proxies and subscriptions: the computed state (docs/api.md, Expiry)",
            )),
        )
        .property(
            "days_left",
            rules::nullable(
                integer()
                    .description(Some(
                        "Licences, proxies and subscriptions: started days until `expires_at`",
                    ))
                    .into(),
            ),
        )
        .required("id")
        .required("created_at")
        .required("updated_at")
}

/// The success envelope around `data`; with `meta` for a page.
fn envelope(data: RefOr<Schema>, page: bool) -> ObjectBuilder {
    let object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("success", ObjectBuilder::new().schema_type(Type::Boolean))
        .property("data", data)
        .required("success")
        .required("data");
    if page {
        object
            .property("meta", Ref::from_schema_name("PageMeta"))
            .required("meta")
    } else {
        object
    }
}

/// The longest settings path, in bytes.
pub const SETTINGS_PATH_BYTES: usize = 512;

/// A type of the document whose schema is built from the server's rules.
macro_rules! documented {
    ($( $(#[doc = $doc:literal])* $name:ident => $schema:expr; )*) => {
        $(
            $(#[doc = $doc])*
            pub struct $name;

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    $schema.into()
                }
            }

            impl ToSchema for $name {}
        )*
    };
}

documented! {
    /// `licenses`, `proxies` or `subscriptions`.
    ResourceKind => kind_names(Kind::resource);
    /// `notes`, `calendar` or `kanban`.
    WorkspaceKind => kind_names(Kind::workspace);
    /// A new licence, proxy or subscription.
    ResourceCreate => any_of(kinds_of(Kind::resource), record_create);
    /// A change of a licence, proxy or subscription.
    ResourcePatch => any_of(kinds_of(Kind::resource), record_patch);
    /// A new note, calendar event or kanban task.
    WorkspaceCreate => any_of(kinds_of(Kind::workspace), record_create);
    /// A change of a note, calendar event or kanban task.
    WorkspacePatch => any_of(kinds_of(Kind::workspace), record_patch);
    /// A new bot.
    BotCreate => record_create(Kind::Bot);
    /// A change of a bot.
    BotPatch => record_patch(Kind::Bot);
    /// A new finance operation.
    FinanceOperationCreate => record_create(Kind::FinanceOperation);
    /// A change of a finance operation.
    FinanceOperationPatch => record_patch(Kind::FinanceOperation);
    /// An envelope with a record.
    RecordAnswer => envelope(record().into(), false);
    /// An envelope with a page of records and `meta`.
    RecordPage => envelope(ArrayBuilder::new().items(record()).into(), true);
    /// The answer of a delete: `{id, deleted: true}`.
    Deleted => envelope(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("id", rules::string())
            .property("deleted", ObjectBuilder::new().schema_type(Type::Boolean))
            .required("id")
            .required("deleted")
            .into(),
        false,
    );
    /// An envelope with any JSON value.
    ValueAnswer => envelope(rules::any().into(), false);
    /// An envelope with a page of JSON values and `meta`.
    ValuePage => envelope(ArrayBuilder::new().items(rules::any()).into(), true);
    /// An action of the command catalogue: the command type without `proxmox.`.
    ProxmoxAction => rules::string().enum_values(Some(
        botmox_proto::command::COMMAND_TYPES
            .iter()
            .filter_map(|t| t.strip_prefix("proxmox.")),
    ));
    /// `{status}`: the status a lifecycle transition moves the bot to (not `banned`).
    Transition => ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("status", settable_bot_status())
        .required("status");
    /// `{ban_date: "DD.MM.YYYY", ban_reason, ban_mechanism}`.
    Ban => ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "ban_date",
            // Days 1 to 28 are valid in every month; the server takes any real date.
            rules::string().pattern(Some(r"^(?:0[1-9]|1[0-9]|2[0-8])\.(?:0[1-9]|1[0-2])\.[0-9]{4}$")),
        )
        .property("ban_reason", rules::non_blank().max_length(Some(1000)))
        .property(
            "ban_mechanism",
            rules::string().enum_values(Some(BAN_MECHANISMS)),
        )
        .required("ban_date")
        .required("ban_reason")
        .required("ban_mechanism");
    /// The settings tree, or a part of it: objects merge shallowly into the stored tree.
    SettingsTree => match crate::settings::schema::TREE {
        Rule::Shape(fields) => rules::shape(fields),
        _ => unreachable!("the settings tree is an object"),
    }
    .min_properties(Some(1));
    /// The value to write at a settings path: any JSON value but an empty object (`null`
    /// removes). Known paths have their own rules (docs/api.md, Settings).
    SettingsValue => AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::Array(vec![
            Type::Null,
            Type::Boolean,
            Type::Number,
            Type::String,
            Type::Array,
        ])))
        .item(ObjectBuilder::new().schema_type(Type::Object).min_properties(Some(1)));
    /// A settings path: segments separated by `/`, none with `.`, `#`, `$`, `[` or `]`; at
    /// most 512 bytes (the server's limit; tests/openapi.rs holds both to it).
    SettingsPath => rules::string()
        .max_length(Some(SETTINGS_PATH_BYTES))
        .pattern(Some(r"^[^.#$\[\]]*$"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_groups_name_their_kinds() {
        let names = |group| {
            kinds_of(group)
                .into_iter()
                .map(Kind::as_str)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Kind::resource),
            ["licenses", "proxies", "subscriptions"]
        );
        assert_eq!(names(Kind::workspace), ["notes", "calendar", "kanban"]);
    }
}
