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
        #[schema(schema_with = country_schema)]
        pub country: String,
    }

    /// The country codes as the document's enum.
    fn country_schema() -> utoipa::openapi::Object {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(COUNTRIES.iter().map(|(code, _)| *code)))
            .build()
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
        #[schema(minimum = 8, maximum = 32)]
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
        /// The mail domain, e.g. `gmail.com` (one of [`MAIL_DOMAINS`] or any other): two or
        /// more labels of letters, digits and inner hyphens.
        #[schema(
            max_length = 253,
            pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
        )]
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
        #[param(minimum = 1, maximum = 50)]
        #[schema(minimum = 1, maximum = 50)]
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

/// A bot's weekly schedule (the bot's `schedule` object) and the generator that proposes
/// one (`POST /api/v1/bots/{id}/generate/schedule`).
pub mod schedule {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    use crate::validate::{FieldErrors, Validate};

    /// Minutes in a day.
    pub const DAY_MINUTES: u32 = 24 * 60;
    /// The day names, in the order of `days` (Monday first).
    pub const WEEKDAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];

    /// A bot's week: seven days, Monday first.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct Schedule {
        pub version: u32,
        /// The IANA time zone the times are in (the bot's machine's), e.g. `Europe/Berlin`.
        #[serde(default)]
        pub timezone: String,
        pub days: Vec<Day>,
    }

    /// One day of a schedule.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct Day {
        pub enabled: bool,
        #[serde(default)]
        pub sessions: Vec<Session>,
    }

    /// A span of the day the bot plays (`active`) or pauses (`break`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub struct Session {
        pub id: String,
        /// `HH:MM`, 24 h.
        pub start: String,
        /// `HH:MM`, 24 h, after `start`.
        pub end: String,
        pub enabled: bool,
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub profile: Option<String>,
    }

    /// The schedule generator's parameters (settings `schedule/last_params` keeps the last
    /// ones used, `schedule/templates` named sets), in the reference's names.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ScheduleParams {
        /// The first window the sessions fall in: `HH:MM` to `HH:MM`.
        #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
        pub start_time: String,
        #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
        pub end_time: String,
        /// The second window, used when `use_second_window`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub start_time2: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub end_time2: String,
        #[serde(default)]
        pub use_second_window: bool,
        /// Minutes of play a day, 30 to 1380.
        #[schema(minimum = 30, maximum = 1380)]
        pub target_active_minutes: u32,
        /// Shortest session, 15 to 240 minutes.
        #[schema(minimum = 15, maximum = 240)]
        pub min_session_minutes: u32,
        /// Shortest break between two sessions, 5 to 120 minutes.
        #[schema(minimum = 5, maximum = 120)]
        pub min_break_minutes: u32,
        /// Each window's ends move by up to this many minutes either way, 0 to 60.
        #[serde(default)]
        #[schema(minimum = 0, maximum = 60)]
        pub random_offset_minutes: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(max_length = 200)]
        pub profile: Option<String>,
    }

    impl Default for ScheduleParams {
        fn default() -> Self {
            Self {
                start_time: "09:00".into(),
                end_time: "23:00".into(),
                start_time2: String::new(),
                end_time2: String::new(),
                use_second_window: false,
                target_active_minutes: 480,
                min_session_minutes: 60,
                min_break_minutes: 15,
                random_offset_minutes: 15,
                profile: None,
            }
        }
    }

    /// Minutes since midnight of `HH:MM` (24 h), `None` when it is not one.
    pub fn minutes(hhmm: &str) -> Option<u32> {
        let (h, m) = hhmm.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    }

    /// `HH:MM` of minutes since midnight.
    pub fn hhmm(minutes: u32) -> String {
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }

    impl ScheduleParams {
        /// The windows in minutes since midnight, in order.
        pub fn windows(&self) -> Vec<(u32, u32)> {
            let mut out = Vec::new();
            if let (Some(a), Some(b)) = (minutes(&self.start_time), minutes(&self.end_time)) {
                out.push((a, b));
            }
            if self.use_second_window
                && let (Some(a), Some(b)) = (minutes(&self.start_time2), minutes(&self.end_time2))
            {
                out.push((a, b));
            }
            out.sort_unstable();
            out
        }
    }

    impl Validate for ScheduleParams {
        fn validate(&self) -> Result<(), FieldErrors> {
            let mut e = FieldErrors::new();
            let window = |e: &mut FieldErrors, start: (&str, &str), end: (&str, &str)| match (
                minutes(start.1),
                minutes(end.1),
            ) {
                (None, _) => e.add(start.0, "must be a time HH:MM"),
                (_, None) => e.add(end.0, "must be a time HH:MM"),
                (Some(a), Some(b)) if b <= a => e.add(end.0, "must be after the start"),
                _ => {}
            };
            window(
                &mut e,
                ("startTime", &self.start_time),
                ("endTime", &self.end_time),
            );
            if self.use_second_window {
                window(
                    &mut e,
                    ("startTime2", &self.start_time2),
                    ("endTime2", &self.end_time2),
                );
                let w = self.windows();
                if e.is_empty() && w.len() == 2 && w[1].0 < w[0].1 {
                    e.add("startTime2", "the two windows overlap");
                }
            }
            let ranges = [
                ("targetActiveMinutes", self.target_active_minutes, 30, 1380),
                ("minSessionMinutes", self.min_session_minutes, 15, 240),
                ("minBreakMinutes", self.min_break_minutes, 5, 120),
                ("randomOffsetMinutes", self.random_offset_minutes, 0, 60),
            ];
            for (field, value, min, max) in ranges {
                e.check(
                    field,
                    (min..=max).contains(&value),
                    format!("must be from {min} to {max}"),
                );
            }
            e.max_chars("profile", self.profile.as_deref(), 200);
            e.into_result()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn times_read_and_write_as_hh_mm() {
            assert_eq!(minutes("09:05"), Some(545));
            assert_eq!(minutes("23:59"), Some(1439));
            for bad in ["9:05", "24:00", "12:60", "ab:cd", "1200", ""] {
                assert_eq!(minutes(bad), None, "{bad}");
            }
            assert_eq!(hhmm(545), "09:05");
        }

        #[test]
        fn parameters_need_ordered_windows_that_do_not_overlap() {
            assert!(ScheduleParams::default().validate().is_ok());
            let backwards = ScheduleParams {
                end_time: "08:00".into(),
                ..Default::default()
            };
            assert!(backwards.validate().unwrap_err().get("endTime").is_some());
            let overlapping = ScheduleParams {
                end_time: "14:00".into(),
                use_second_window: true,
                start_time2: "13:00".into(),
                end_time2: "20:00".into(),
                ..Default::default()
            };
            assert!(
                overlapping
                    .validate()
                    .unwrap_err()
                    .get("startTime2")
                    .is_some()
            );
            let tiny = ScheduleParams {
                min_session_minutes: 5,
                ..Default::default()
            };
            assert!(
                tiny.validate()
                    .unwrap_err()
                    .get("minSessionMinutes")
                    .is_some()
            );
        }
    }
}
