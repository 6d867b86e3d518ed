//! The vocabulary of the operator's records that other callers rely on.

/// Every status a bot can have, in the order of its life cycle.
pub const BOT_STATUSES: &[&str] = &[
    "offline",
    "prepare",
    "leveling",
    "profession",
    "farming",
    "banned",
];

/// A bot's generated identity (`/api/v1/bots/{id}/generate/*`, spec ui.md §3.3 Configure):
/// what each generator takes and proposes. A proposal is not saved: the caller saves it with
/// `PATCH /bots/{id}`, setting the matching `generation_locks` flag, after which the
/// generator refuses (409 `GENERATION_LOCKED`) until the flag is cleared.
pub mod identity {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    use crate::validate::{FieldErrors, Validate};

    /// The countries a person can be made for: code and name.
    pub const COUNTRIES: &[(&str, &str)] = &[
        ("US", "United States"),
        ("DE", "Germany"),
        ("FR", "France"),
        ("BR", "Brazil"),
    ];

    /// The mail domains offered for a generated e-mail (any other may be given).
    pub const MAIL_DOMAINS: &[&str] = &[
        "gmail.com",
        "outlook.com",
        "yahoo.com",
        "proton.me",
        "gmx.net",
    ];

    /// The flags of a bot's `generation_locks` object, one per generated value.
    pub const LOCKS: &[&str] = &[
        "person_data",
        "account_email",
        "account_password",
        "character_name",
        "schedule",
    ];

    /// `POST /bots/{id}/generate/person`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct PersonRequest {
        /// A code of [`COUNTRIES`].
        pub country: String,
    }

    impl Validate for PersonRequest {
        fn validate(&self) -> Result<(), FieldErrors> {
            let mut e = FieldErrors::new();
            e.check(
                "country",
                COUNTRIES.iter().any(|(code, _)| *code == self.country),
                format!(
                    "must be one of {}",
                    crate::one_of(&COUNTRIES.iter().map(|(c, _)| *c).collect::<Vec<_>>())
                ),
            );
            e.into_result()
        }
    }

    /// A bot's `person` object.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct Person {
        pub first_name: String,
        pub last_name: String,
        /// `DD-MM-YYYY`.
        pub birth_date: String,
        /// A code of [`COUNTRIES`].
        pub country: String,
        pub city: String,
        pub zip: String,
        pub address: String,
    }

    /// Which characters a generated password has, and how many.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields, default)]
    pub struct PasswordOptions {
        /// 8 to 32 characters.
        pub length: u8,
        pub uppercase: bool,
        pub lowercase: bool,
        pub numbers: bool,
        pub symbols: bool,
    }

    impl Default for PasswordOptions {
        fn default() -> Self {
            Self {
                length: 16,
                uppercase: true,
                lowercase: true,
                numbers: true,
                symbols: false,
            }
        }
    }

    impl PasswordOptions {
        pub const MIN_LENGTH: u8 = 8;
        pub const MAX_LENGTH: u8 = 32;
    }

    impl Validate for PasswordOptions {
        fn validate(&self) -> Result<(), FieldErrors> {
            let mut e = FieldErrors::new();
            e.check(
                "length",
                (Self::MIN_LENGTH..=Self::MAX_LENGTH).contains(&self.length),
                format!("must be from {} to {}", Self::MIN_LENGTH, Self::MAX_LENGTH),
            );
            e.check(
                "uppercase",
                self.uppercase || self.lowercase || self.numbers || self.symbols,
                "at least one kind of character is needed",
            );
            e.into_result()
        }
    }

    /// `POST /bots/{id}/generate/account`: an e-mail made from the bot's person at `domain`,
    /// and a password.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AccountRequest {
        #[serde(default)]
        pub password: PasswordOptions,
        /// The mail domain, e.g. `gmail.com` (one of [`MAIL_DOMAINS`] or any other).
        pub domain: String,
    }

    impl Validate for AccountRequest {
        fn validate(&self) -> Result<(), FieldErrors> {
            let mut e = FieldErrors::new();
            if let Err(inner) = self.password.validate() {
                e.merge_under("password", inner);
            }
            e.check(
                "domain",
                is_domain(&self.domain),
                "must be a domain name such as mail.example",
            );
            e.into_result()
        }
    }

    /// A host name of at least two labels of letters, digits and inner hyphens.
    pub fn is_domain(name: &str) -> bool {
        let labels: Vec<&str> = name.split('.').collect();
        name.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    }

    /// What the account generator proposes: each value its lock leaves free (`None` when
    /// locked).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct AccountProposal {
        pub email: Option<String>,
        pub password: Option<String>,
    }

    /// `GET /wow-names?count=N`: character names, made here.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct NamesQuery {
        /// 1 to 50 (default 10).
        #[serde(default)]
        pub count: Option<u32>,
    }

    impl NamesQuery {
        pub const MAX: u32 = 50;

        pub fn count(&self) -> usize {
            self.count.unwrap_or(10) as usize
        }
    }

    impl Validate for NamesQuery {
        fn validate(&self) -> Result<(), FieldErrors> {
            let mut e = FieldErrors::new();
            e.check(
                "count",
                self.count.is_none_or(|n| (1..=Self::MAX).contains(&n)),
                format!("must be from 1 to {}", Self::MAX),
            );
            e.into_result()
        }
    }

    /// Character names.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct Names {
        pub names: Vec<String>,
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_domain_has_two_labels_of_host_characters() {
            assert!(is_domain("mail.example"));
            assert!(is_domain("a-b.example.org"));
            for bad in [
                "localhost",
                "a..b",
                "-a.b",
                "a b.c",
                "a.b-",
                "ex@mple.com",
                "",
            ] {
                assert!(!is_domain(bad), "{bad}");
            }
        }

        #[test]
        fn password_options_need_a_length_in_range_and_a_class() {
            assert!(PasswordOptions::default().validate().is_ok());
            let short = PasswordOptions {
                length: 7,
                ..Default::default()
            };
            assert!(short.validate().unwrap_err().get("length").is_some());
            let none = PasswordOptions {
                uppercase: false,
                lowercase: false,
                numbers: false,
                symbols: false,
                ..Default::default()
            };
            assert!(none.validate().unwrap_err().get("uppercase").is_some());
        }
    }
}
