//! What a store can fail with, apart from the storage handle so that everything below it
//! (the direct SQLite connections) can name it.

use sea_orm::DbErr;

/// What a store can fail with. Rule violations are not store errors: a store reports them
/// in its return value (`Option`, `bool`, an outcome enum) and the service decides.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database row: {0}")]
    Row(#[from] serde_rusqlite::Error),
    /// The transaction a direct write shared with others did not commit.
    #[error("database: {0}")]
    Batch(String),
    #[error("the database connections are closed")]
    Closed,
}

impl StoreError {
    /// A unique-constraint violation (a duplicate), which callers usually answer with 409.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Db(e) => is_unique_violation(e),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Whether an error is a unique-constraint violation (a duplicate), which callers turn into 409.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
