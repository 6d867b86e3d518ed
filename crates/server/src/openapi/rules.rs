//! The JSON Schema of a field rule ([`Rule`]): what [`crate::schema::check`] takes, said in
//! the document's terms, so the document's request schemas are the rules the server applies
//! and cannot drift from them. Where the server is more lenient than a schema can say
//! (numbers given as numeric strings), the schema names the canonical form.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};

use crate::clock::MAX_MS;
use crate::schema::{Field, MAX_AMOUNT, Rule};

/// The characters `str::trim` removes (Unicode `White_Space`), as ranges.
const BLANK: &[(char, char)] = &[
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// [`BLANK`] as the inside of a regular expression class, spelled out (`\s` means other
/// characters in other engines).
pub fn blank_class() -> String {
    BLANK
        .iter()
        .map(|&(from, to)| {
            if from == to {
                format!("\\u{:04x}", from as u32)
            } else {
                format!("\\u{:04x}-\\u{:04x}", from as u32, to as u32)
            }
        })
        .collect()
}

/// A pattern found in a string with at least one character that is not blank.
pub fn non_blank_pattern() -> String {
    format!("[^{}]", blank_class())
}

/// `HH:MM` as chrono's `%H:%M` reads it (one or two digits each).
const TIME_PATTERN: &str = "^(?:[01]?[0-9]|2[0-3]):[0-5]?[0-9]$";

pub fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A string with a non-blank character.
pub fn non_blank() -> ObjectBuilder {
    string().pattern(Some(non_blank_pattern()))
}

fn number() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Number)
}

fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
}

/// `null`, or a value of `inner`.
pub fn nullable(inner: RefOr<Schema>) -> RefOr<Schema> {
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(inner)
        .into()
}

/// Any JSON value.
pub fn any() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::AnyValue)
}

/// The schema of a value that `rule` accepts.
pub fn rule(rule: Rule) -> RefOr<Schema> {
    match rule {
        Rule::Str(max) => string().max_length(max).into(),
        Rule::NonEmpty => non_blank().into(),
        Rule::Label(max) => {
            // Trimmed: 1 to `max` characters, the first and last not blank.
            let (inner, blank) = (max.saturating_sub(2), blank_class());
            string()
                .pattern(Some(format!(
                    "^[{blank}]*[^{blank}](?:[\\s\\S]{{0,{inner}}}[^{blank}])?[{blank}]*$"
                )))
                .into()
        }
        Rule::OneOf(allowed) => string().enum_values(Some(allowed.iter().copied())).into(),
        Rule::Int(min, max) => integer(min, max).into(),
        Rule::Num => number().into(),
        Rule::Bool => ObjectBuilder::new().schema_type(Type::Boolean).into(),
        Rule::Timestamp => integer(0, MAX_MS)
            .description(Some("Epoch milliseconds"))
            .into(),
        Rule::Date => string()
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .into(),
        Rule::StrList => ArrayBuilder::new().items(non_blank()).into(),
        Rule::Object => ObjectBuilder::new().schema_type(Type::Object).into(),
        Rule::Structured => ObjectBuilder::new()
            .schema_type(SchemaType::Array(vec![Type::Object, Type::Array]))
            .into(),
        Rule::Nullable(inner) => nullable(self::rule(*inner)),
        Rule::Positive => number().exclusive_minimum(Some(0)).into(),
        Rule::Fraction => number().minimum(Some(0)).maximum(Some(1)).into(),
        Rule::Amount => number().minimum(Some(0)).maximum(Some(MAX_AMOUNT)).into(),
        Rule::Time => string().pattern(Some(TIME_PATTERN)).into(),
        Rule::Any => any().into(),
        Rule::Shape(fields) => shape(fields).into(),
        Rule::MapOf(inner) => ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("By id; a `null` value removes the entry"))
            .additional_properties(Some(nullable(self::rule(*inner))))
            .into(),
        Rule::IdMapOf(inner) => ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "By id (lowercase letters, digits, `_` or `-`); a `null` value removes the entry",
            ))
            .property_names(Some(string().pattern(Some(crate::schema::ID_PATTERN))))
            .additional_properties(Some(nullable(self::rule(*inner))))
            .into(),
        Rule::ListOf(inner, max) => ArrayBuilder::new()
            .items(self::rule(*inner))
            .max_items(Some(max))
            .into(),
    }
}

/// An object whose `fields` follow their rules; other keys are kept as they are.
pub fn shape(fields: &[Field]) -> ObjectBuilder {
    fields.iter().fold(
        ObjectBuilder::new().schema_type(Type::Object),
        |object, field| {
            let object = object.property(field.name, rule(field.rule));
            if field.required {
                object.required(field.name)
            } else {
                object
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{opt, req};
    use serde_json::{Value, json};

    fn json_of(schema: RefOr<Schema>) -> Value {
        serde_json::to_value(schema).unwrap()
    }

    #[test]
    fn rules_become_their_schemas() {
        assert_eq!(
            json_of(rule(Rule::Int(1, 65535))),
            json!({"type": "integer", "minimum": 1, "maximum": 65535})
        );
        assert_eq!(
            json_of(rule(Rule::OneOf(&["a", "b"]))),
            json!({"type": "string", "enum": ["a", "b"]})
        );
        const FIELDS: &[Field] = &[
            req("name", Rule::NonEmpty),
            opt("bot_id", Rule::Nullable(&Rule::Str(Some(5)))),
        ];
        let shape = json_of(rule(Rule::Shape(FIELDS)));
        assert_eq!(shape["required"], json!(["name"]));
        assert_eq!(
            shape["properties"]["bot_id"]["anyOf"],
            json!([{"type": "null"}, {"type": "string", "maxLength": 5}])
        );
        assert_eq!(
            json_of(rule(Rule::Timestamp))["maximum"],
            json!(crate::clock::MAX_MS)
        );
    }

    /// The blank class is exactly what `trim` removes.
    #[test]
    fn the_blank_class_is_what_trim_removes() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let in_class = BLANK.iter().any(|&(from, to)| (from..=to).contains(&c));
            assert_eq!(in_class, c.is_whitespace(), "{c:?}");
        }
        assert!(non_blank_pattern().starts_with(r"[^\u0009-\u000d\u0020\u0085"));
    }
}
