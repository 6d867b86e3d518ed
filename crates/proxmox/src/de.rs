//! Lenient field decoders for PVE's loose JSON typing (spec 3.4): the server is Perl, so an
//! integer may arrive as `4` or `"4"`, a boolean as `1`, `"1"` or `true`, and `nextid` as a
//! string. Used through `#[serde(deserialize_with = ...)]`.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// Any JSON scalar, as it came.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Null,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, string, boolean or null")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(if v >= 0 {
                    Scalar::Unsigned(v as u64)
                } else {
                    Scalar::Signed(v)
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Text(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar {
    fn to_u64(&self) -> Option<u64> {
        match self {
            Self::Unsigned(v) => Some(*v),
            Self::Float(f) if f.is_finite() && *f >= 0.0 => Some(f.round() as u64),
            Self::Text(s) => {
                let s = s.trim();
                s.parse::<u64>().ok().or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .map(|f| f.round() as u64)
                })
            }
            _ => None,
        }
    }

    /// An id: like [`Scalar::to_u64`] but a fraction is refused rather than rounded (`100.6`
    /// must not become VM 101), and so is anything beyond 32 bits.
    fn to_u32(&self) -> Option<u32> {
        let fraction = match self {
            Self::Float(f) => f.fract() != 0.0,
            Self::Text(s) => s.trim().parse::<f64>().is_ok_and(|f| f.fract() != 0.0),
            _ => false,
        };
        if fraction {
            return None;
        }
        self.to_u64().and_then(|v| u32::try_from(v).ok())
    }

    fn to_f64(&self) -> Option<f64> {
        match self {
            Self::Unsigned(v) => Some(*v as f64),
            Self::Signed(v) => Some(*v as f64),
            Self::Float(f) => Some(*f),
            Self::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn to_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            Self::Unsigned(v) => Some(*v != 0),
            Self::Signed(v) => Some(*v != 0),
            Self::Float(f) => Some(*f != 0.0),
            Self::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" | "" => Some(false),
                _ => None,
            },
            Self::Null => Some(false),
        }
    }

    /// Text form of a scalar: numbers in decimal, booleans as `1`/`0` (how PVE writes them in
    /// its config files); `None` for null.
    pub(crate) fn into_text(self) -> Option<String> {
        match self {
            Self::Unsigned(v) => Some(v.to_string()),
            Self::Signed(v) => Some(v.to_string()),
            Self::Float(f) => Some(f.to_string()),
            Self::Bool(b) => Some(if b { "1" } else { "0" }.to_owned()),
            Self::Text(s) => Some(s),
            Self::Null => None,
        }
    }
}

fn invalid<E: de::Error>(what: &str, got: &Scalar) -> E {
    E::custom(format!("expected {what}, got {got:?}"))
}

/// Id (non-negative, 32 bit) from a number or a numeric string.
pub fn u32_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let s = Scalar::deserialize(d)?;
    s.to_u32()
        .ok_or_else(|| invalid("a 32-bit unsigned integer", &s))
}

/// Optional integer: `null` -> `None`; a value of the wrong shape is dropped rather than
/// failing the whole reply (these are statistics, not identifiers).
pub fn opt_u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Scalar::deserialize(d)?.to_u64())
}

/// Optional id: `null` -> `None`.
pub fn opt_u32_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Null => Ok(None),
        s => s
            .to_u32()
            .map(Some)
            .ok_or_else(|| invalid("a 32-bit unsigned integer", &s)),
    }
}

/// Optional float from a number or a numeric string.
pub fn opt_f64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Scalar::deserialize(d)?.to_f64())
}

/// Boolean from `0`/`1`, `"0"`/`"1"`, `true`/`false`; `null` is false. Use with
/// `#[serde(default)]` for keys PVE leaves out when false.
pub fn bool_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = Scalar::deserialize(d)?;
    s.to_bool().ok_or_else(|| invalid("a boolean", &s))
}

/// Optional boolean, `None` when absent or `null`.
pub fn opt_bool_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Null => Ok(None),
        s => s
            .to_bool()
            .map(Some)
            .ok_or_else(|| invalid("a boolean", &s)),
    }
}

/// String from a string or a number (task `id` is `"100"`, some servers send `100`).
pub fn string_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Scalar::deserialize(d)?.into_text().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    struct Probe {
        #[serde(deserialize_with = "u32_lenient")]
        n: u32,
        #[serde(default, deserialize_with = "opt_u64_lenient")]
        on: Option<u64>,
        #[serde(default, deserialize_with = "bool_lenient")]
        b: bool,
        #[serde(default, deserialize_with = "opt_bool_lenient")]
        ob: Option<bool>,
        #[serde(default, deserialize_with = "opt_f64_lenient")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "string_lenient")]
        s: String,
        #[serde(default, deserialize_with = "opt_u32_lenient")]
        id: Option<u32>,
    }

    fn probe(v: serde_json::Value) -> Probe {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn integers_as_numbers_or_strings() {
        assert_eq!(probe(json!({"n": 8192})).n, 8192);
        assert_eq!(probe(json!({"n": "8192"})).n, 8192);
        assert_eq!(probe(json!({"n": " 7 "})).n, 7);
        assert_eq!(probe(json!({"n": 4.0})).n, 4);
        assert_eq!(probe(json!({"n": 1, "on": "12"})).on, Some(12));
        assert_eq!(probe(json!({"n": 1, "on": null})).on, None);
        assert_eq!(probe(json!({"n": 1})).on, None);
        assert_eq!(probe(json!({"n": 1, "id": "101"})).id, Some(101));
        assert!(serde_json::from_value::<Probe>(json!({"n": "abc"})).is_err());
        assert!(serde_json::from_value::<Probe>(json!({"n": -1})).is_err());
        assert!(serde_json::from_value::<Probe>(json!({"n": 1, "id": 5_000_000_000u64})).is_err());
    }

    #[test]
    fn ids_are_never_rounded_or_wrapped() {
        for bad in [
            json!(100.6),
            json!("100.4"),
            json!(4_294_967_296u64),
            json!("99999999999999999999"),
            json!(1e300),
            json!("NaN"),
            json!([101]),
            json!({"vmid": 101}),
        ] {
            assert!(
                serde_json::from_value::<Probe>(json!({"n": bad.clone()})).is_err(),
                "n = {bad}"
            );
            assert!(
                serde_json::from_value::<Probe>(json!({"n": 1, "id": bad.clone()})).is_err(),
                "id = {bad}"
            );
        }
        assert_eq!(probe(json!({"n": 4_294_967_295u64})).n, u32::MAX);
        assert_eq!(probe(json!({"n": "101.0"})).n, 101);
    }

    #[test]
    fn booleans_as_0_1_strings_or_bools() {
        for (v, want) in [
            (json!(1), true),
            (json!(0), false),
            (json!("1"), true),
            (json!("0"), false),
            (json!(true), true),
            (json!(false), false),
            (json!(null), false),
        ] {
            assert_eq!(probe(json!({"n": 1, "b": v.clone()})).b, want, "{v}");
        }
        assert!(!probe(json!({"n": 1})).b, "absent means false");
        assert_eq!(probe(json!({"n": 1})).ob, None);
        assert_eq!(probe(json!({"n": 1, "ob": 1})).ob, Some(true));
        assert!(serde_json::from_value::<Probe>(json!({"n": 1, "b": "maybe"})).is_err());
    }

    #[test]
    fn floats_and_strings() {
        assert_eq!(probe(json!({"n": 1, "f": 0.25})).f, Some(0.25));
        assert_eq!(probe(json!({"n": 1, "f": "0.5"})).f, Some(0.5));
        assert_eq!(probe(json!({"n": 1, "f": 3})).f, Some(3.0));
        assert_eq!(probe(json!({"n": 1, "s": 100})).s, "100");
        assert_eq!(probe(json!({"n": 1, "s": "100"})).s, "100");
        assert_eq!(probe(json!({"n": 1, "s": ""})).s, "");
    }

    #[test]
    fn scalar_text_forms() {
        assert_eq!(Scalar::Bool(true).into_text().as_deref(), Some("1"));
        assert_eq!(Scalar::Unsigned(4).into_text().as_deref(), Some("4"));
        assert_eq!(Scalar::Float(0.5).into_text().as_deref(), Some("0.5"));
        assert_eq!(Scalar::Null.into_text(), None);
    }
}
