//! Status enums of the wire contract stored as their wire strings. A column of
//! `Stored<CommandStatus>` reads back as the enum (from SeaORM and from a direct SQLite
//! row alike), so the code compares statuses, not strings, and a row with an unknown status
//! is an error where it is read.

use std::str::FromStr;

use botmox_proto::agent::{AgentStatus, Presence};
use botmox_proto::command::CommandStatus;
use botmox_proto::licensing::{LeaseStatus, LicenseStatus, LicenseType, VmStatus};
use botmox_proto::provisioning::{ProgressStatus, ProvisionTokenStatus};
use botmox_proto::vault::BindingScope;
use botmox_proto::vm_jobs::{JobKind, JobState, JobStep};
use sea_orm::sea_query::{ArrayType, ColumnType, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};

/// An enum whose wire form is one lowercase word.
pub trait WireEnum: Copy + FromStr + std::fmt::Debug + 'static {
    fn wire(self) -> &'static str;
}

/// Each wire enum stored in a column.
macro_rules! wire_enums {
    ($($ty:ty),+) => {
        $(impl WireEnum for $ty {
            fn wire(self) -> &'static str {
                self.as_str()
            }
        })+
    };
}

wire_enums!(
    CommandStatus,
    AgentStatus,
    Presence,
    VmStatus,
    LicenseType,
    LicenseStatus,
    LeaseStatus,
    BindingScope,
    ProvisionTokenStatus,
    ProgressStatus
);

wire_enums!(JobKind, JobState, JobStep);

/// A stored status: the enum in the code, its wire word in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Stored<T>(pub T);

impl<T: WireEnum> Stored<T> {
    pub fn as_str(self) -> &'static str {
        self.0.wire()
    }
}

impl<T: PartialEq> PartialEq<T> for Stored<T> {
    fn eq(&self, other: &T) -> bool {
        self.0 == *other
    }
}

impl<T: WireEnum> From<T> for Stored<T> {
    fn from(t: T) -> Self {
        Self(t)
    }
}

impl<T: WireEnum> From<Stored<T>> for Value {
    fn from(s: Stored<T>) -> Value {
        Value::String(Some(Box::new(s.as_str().to_owned())))
    }
}

fn parse<T: WireEnum>(text: &str) -> Option<Stored<T>> {
    text.parse().ok().map(Stored)
}

impl<T: WireEnum> TryGetable for Stored<T> {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        let text = String::try_get_by(res, index)?;
        parse(&text).ok_or_else(|| {
            TryGetError::DbErr(DbErr::Type(format!(
                "'{text}' is not a {}",
                std::any::type_name::<T>()
            )))
        })
    }
}

impl<T: WireEnum> ValueType for Stored<T> {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        match v {
            Value::String(Some(text)) => parse(&text).ok_or(ValueTypeErr),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        format!("Stored<{}>", std::any::type_name::<T>())
    }

    fn array_type() -> ArrayType {
        ArrayType::String
    }

    fn column_type() -> ColumnType {
        ColumnType::Text
    }
}

impl<T: WireEnum> rusqlite::ToSql for Stored<T> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(
            rusqlite::types::ValueRef::Text(self.as_str().as_bytes()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_wire_word() {
        for status in CommandStatus::ALL {
            let value: Value = Stored(status).into();
            assert_eq!(value, Value::String(Some(Box::new(status.as_str().into()))));
            assert_eq!(
                <Stored<CommandStatus> as ValueType>::try_from(value).ok(),
                Some(Stored(status))
            );
        }
        assert!(
            <Stored<AgentStatus> as ValueType>::try_from(Value::String(Some(Box::new(
                "offline".into()
            ))))
            .is_err(),
            "a word that is not a status is refused"
        );
    }
}
