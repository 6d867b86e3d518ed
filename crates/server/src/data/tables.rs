//! Copies an SQLite database into PostgreSQL table by table and proves the copy, for
//! `botmox data migrate` and a restore into PostgreSQL.
//!
//! Both databases are first brought to this binary's schema by its migrations, so they hold
//! the same tables; PostgreSQL's catalog says each column's type, and every value is read
//! from SQLite, converted to that type, and written with it. The copy runs in one
//! PostgreSQL transaction (a failure leaves nothing behind), inserts with `ON CONFLICT DO
//! NOTHING` (a second run over an earlier copy adds nothing) and moves each identity
//! sequence past the copied ids. Then every table is read back: its row count and a
//! SHA-256 over its rows (order-free, in one canonical form for both engines) must equal
//! the source's, or the run fails naming the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::TryStreamExt;
use rusqlite::types::ValueRef;
use sea_orm::sqlx::{self, PgPool, Postgres, Row};
use sha2::{Digest, Sha256};

/// Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters per statement).
const BATCH_ROWS: usize = 500;

/// The table of applied migrations: each side keeps its own, compared, never copied.
pub(super) fn migrations_table() -> String {
    use sea_orm_migration::MigratorTrait;
    crate::db::migrations::Migrator::migration_table_name().to_string()
}

/// One table's proof: how many rows, and the SHA-256 over them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableProof {
    pub table: String,
    pub rows: u64,
    pub sha256: String,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: Kind,
    /// Filled from a sequence when omitted (the sequence is moved past the copied values).
    serial: bool,
}

/// The column types the schema uses, each written and read as its own Rust type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int8,
    Int4,
    Bool,
    Float8,
    Text,
    Timestamptz,
}

impl Kind {
    fn of(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "bigint" => Self::Int8,
            "integer" => Self::Int4,
            "boolean" => Self::Bool,
            "double precision" => Self::Float8,
            "text" | "character varying" => Self::Text,
            "timestamp with time zone" => Self::Timestamptz,
            _ => return None,
        })
    }
}

/// A value in the one form both engines' readings are compared in (times to the
/// microsecond, PostgreSQL's precision).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Float(f64),
    Text(String),
    Micros(i64),
}

impl Value {
    /// SQLite's value as the column's type, or why it is not one.
    fn from_sqlite(kind: Kind, value: ValueRef<'_>) -> Result<Self, String> {
        Ok(match (kind, value) {
            (_, ValueRef::Null) => Self::Null,
            (Kind::Int8 | Kind::Int4, ValueRef::Integer(i)) => Self::Int(i),
            (Kind::Bool, ValueRef::Integer(i @ (0 | 1))) => Self::Bool(i == 1),
            (Kind::Float8, ValueRef::Real(f)) => Self::Float(f),
            (Kind::Float8, ValueRef::Integer(i)) => Self::Float(i as f64),
            (Kind::Text, ValueRef::Text(t)) => Self::Text(
                std::str::from_utf8(t)
                    .map_err(|_| "text that is not UTF-8".to_owned())?
                    .to_owned(),
            ),
            (Kind::Timestamptz, ValueRef::Text(t)) => {
                let text = std::str::from_utf8(t).map_err(|_| "a time that is not UTF-8")?;
                Self::Micros(parse_time(text)?.timestamp_micros())
            }
            (kind, other) => {
                return Err(format!("{:?} where {kind:?} is stored", other.data_type()));
            }
        })
    }

    /// PostgreSQL's value of column `i`.
    fn from_postgres(kind: Kind, row: &sqlx::postgres::PgRow, i: usize) -> sqlx::Result<Self> {
        fn or_null<T>(value: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
            value.map_or(Value::Null, f)
        }
        Ok(match kind {
            Kind::Int8 => or_null(row.try_get::<Option<i64>, _>(i)?, Value::Int),
            Kind::Int4 => or_null(row.try_get::<Option<i32>, _>(i)?, |v| Value::Int(v.into())),
            Kind::Bool => or_null(row.try_get::<Option<bool>, _>(i)?, Value::Bool),
            Kind::Float8 => or_null(row.try_get::<Option<f64>, _>(i)?, Value::Float),
            Kind::Text => or_null(row.try_get::<Option<String>, _>(i)?, Value::Text),
            Kind::Timestamptz => or_null(row.try_get::<Option<DateTime<Utc>>, _>(i)?, |t| {
                Value::Micros(t.timestamp_micros())
            }),
        })
    }

    fn digest_into(&self, hasher: &mut Sha256) {
        match self {
            Self::Null => hasher.update([0]),
            Self::Int(i) => {
                hasher.update([1]);
                hasher.update(i.to_le_bytes());
            }
            Self::Bool(b) => hasher.update([2, u8::from(*b)]),
            Self::Float(f) => {
                hasher.update([3]);
                hasher.update(f.to_bits().to_le_bytes());
            }
            Self::Text(t) => {
                hasher.update([4]);
                hasher.update((t.len() as u64).to_le_bytes());
                hasher.update(t.as_bytes());
            }
            Self::Micros(m) => {
                hasher.update([5]);
                hasher.update(m.to_le_bytes());
            }
        }
    }

    fn bind<'q>(
        self,
        kind: Kind,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> anyhow::Result<sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>> {
        Ok(match (kind, self) {
            (Kind::Int8, Self::Int(i)) => query.bind(i),
            (Kind::Int8, Self::Null) => query.bind(None::<i64>),
            (Kind::Int4, Self::Int(i)) => {
                query.bind(i32::try_from(i).context("an integer column's value is out of range")?)
            }
            (Kind::Int4, Self::Null) => query.bind(None::<i32>),
            (Kind::Bool, Self::Bool(b)) => query.bind(b),
            (Kind::Bool, Self::Null) => query.bind(None::<bool>),
            (Kind::Float8, Self::Float(f)) => query.bind(f),
            (Kind::Float8, Self::Null) => query.bind(None::<f64>),
            (Kind::Text, Self::Text(t)) => query.bind(t),
            (Kind::Text, Self::Null) => query.bind(None::<String>),
            (Kind::Timestamptz, Self::Micros(m)) => query
                .bind(DateTime::<Utc>::from_timestamp_micros(m).context("a time out of range")?),
            (Kind::Timestamptz, Self::Null) => query.bind(None::<DateTime<Utc>>),
            (kind, value) => bail!("{value:?} cannot be written as {kind:?}"),
        })
    }
}

/// A time as SQLite keeps it: sqlx's `YYYY-MM-DD HH:MM:SS.f+00:00`, or RFC 3339.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| format!("{text:?} is not a time"))
}

/// `"name"`, with inner quotes doubled.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Row digests of one table, summed up order-free: sorted, then hashed together.
#[derive(Default)]
struct Proof {
    rows: Vec<[u8; 32]>,
}

impl Proof {
    fn add(&mut self, row: &[Value]) {
        let mut hasher = Sha256::new();
        for value in row {
            value.digest_into(&mut hasher);
        }
        self.rows.push(hasher.finalize().into());
    }

    fn finish(mut self, table: &str) -> TableProof {
        self.rows.sort_unstable();
        let mut hasher = Sha256::new();
        for row in &self.rows {
            hasher.update(row);
        }
        TableProof {
            table: table.to_owned(),
            rows: self.rows.len() as u64,
            sha256: hex::encode(hasher.finalize()),
        }
    }
}

/// The tables of PostgreSQL's current schema (but the migrations'), parents before the
/// tables whose foreign keys name them.
async fn postgres_tables(pg: &PgPool) -> anyhow::Result<Vec<Table>> {
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text, \
                (column_default LIKE 'nextval(%' OR is_identity = 'YES') AS serial \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> $1 \
         ORDER BY table_name, ordinal_position",
    )
    .bind(migrations_table())
    .fetch_all(pg)
    .await?;
    let mut tables: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for row in rows {
        let table: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let data_type: String = row.try_get(2)?;
        let Some(kind) = Kind::of(&data_type) else {
            bail!("column {table}.{name} has type {data_type}, which this copy does not know");
        };
        tables.entry(table).or_default().push(Column {
            name,
            kind,
            serial: row.try_get::<Option<bool>, _>(3)?.unwrap_or(false),
        });
    }
    let edges = sqlx::query(
        "SELECT DISTINCT child.relname::text, parent.relname::text \
         FROM pg_constraint c \
         JOIN pg_class child ON child.oid = c.conrelid \
         JOIN pg_class parent ON parent.oid = c.confrelid \
         WHERE c.contype = 'f' AND child.relnamespace = current_schema()::regnamespace",
    )
    .fetch_all(pg)
    .await?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for edge in edges {
        let (child, parent): (String, String) = (edge.try_get(0)?, edge.try_get(1)?);
        if child != parent {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut ordered = Vec::with_capacity(tables.len());
    let mut placed = BTreeSet::new();
    while placed.len() < tables.len() {
        let ready: Vec<String> = tables
            .keys()
            .filter(|t| !placed.contains(*t))
            .filter(|t| {
                parents.get(*t).is_none_or(|ps| {
                    ps.iter()
                        .all(|p| placed.contains(p) || !tables.contains_key(p))
                })
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            bail!("the tables' foreign keys form a cycle");
        }
        for name in ready {
            placed.insert(name.clone());
            let columns = tables[&name].clone();
            ordered.push(Table { name, columns });
        }
    }
    Ok(ordered)
}

/// The migrations applied to an SQLite database and its tables (but SQLite's own).
fn sqlite_schema(sqlite: &rusqlite::Connection) -> anyhow::Result<(Vec<String>, BTreeSet<String>)> {
    let mut statement = sqlite.prepare(&format!(
        "SELECT version FROM {} ORDER BY version",
        migrations_table()
    ))?;
    let migrations = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((migrations, sqlite_tables(sqlite)?))
}

/// An SQLite database's tables holding data: neither SQLite's own nor those of its search
/// index (`record_search*`, which stands where PostgreSQL has a trigram index: each engine's
/// migration builds its own from the records, so it is never copied or compared).
pub(super) fn sqlite_tables(sqlite: &rusqlite::Connection) -> anyhow::Result<BTreeSet<String>> {
    let mut statement = sqlite.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
         ESCAPE '\\' AND name NOT LIKE 'record\\_search%' ESCAPE '\\'",
    )?;
    let tables = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(tables)
}

/// Both sides must have had the same migrations applied and hold the same tables.
async fn same_schema(
    (migrations, names): (Vec<String>, BTreeSet<String>),
    pg: &PgPool,
    tables: &[Table],
) -> anyhow::Result<()> {
    let target: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT version FROM {} ORDER BY version",
        migrations_table()
    ))
    .fetch_all(pg)
    .await?;
    if migrations != target {
        bail!(
            "the two databases are at different migrations ({} against {}); run this binary's \
             migrations on both first",
            migrations.last().map_or("none", String::as_str),
            target.last().map_or("none", String::as_str)
        );
    }
    let expected: BTreeSet<String> = tables
        .iter()
        .map(|t| t.name.clone())
        .chain([migrations_table()])
        .collect();
    if names != expected {
        let only_sqlite: Vec<_> = names.difference(&expected).collect();
        let only_pg: Vec<_> = expected.difference(&names).collect();
        bail!("the tables differ: only in SQLite {only_sqlite:?}, only in PostgreSQL {only_pg:?}");
    }
    Ok(())
}

/// What the SQLite reader hands to the PostgreSQL writer.
enum Read {
    Rows(usize, Vec<Vec<Value>>),
    Done(TableProof),
}

/// Copy every table of the SQLite database at `source` (already at this binary's schema)
/// into PostgreSQL (the same), then prove it: answers each table's proof.
pub async fn copy_sqlite_to_postgres(
    source: &Path,
    pg: &PgPool,
) -> anyhow::Result<Vec<TableProof>> {
    let sqlite = rusqlite::Connection::open_with_flags(
        source,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", source.display()))?;
    let schema = sqlite_schema(&sqlite)?;
    let tables = postgres_tables(pg).await?;
    same_schema(schema, pg, &tables).await?;

    // One read transaction: every table from the same moment of the source.
    let (send, mut receive) = tokio::sync::mpsc::channel::<anyhow::Result<Read>>(4);
    let reading = tables.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let read = || -> anyhow::Result<()> {
            sqlite.execute_batch("BEGIN")?;
            for (index, table) in reading.iter().enumerate() {
                let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
                let query = format!("SELECT {} FROM {}", columns.join(", "), quoted(&table.name));
                let mut statement = sqlite.prepare(&query)?;
                let mut rows = statement.query([])?;
                let mut proof = Proof::default();
                let mut batch = Vec::with_capacity(BATCH_ROWS);
                while let Some(row) = rows.next()? {
                    let mut values = Vec::with_capacity(table.columns.len());
                    for (i, column) in table.columns.iter().enumerate() {
                        let value = Value::from_sqlite(column.kind, row.get_ref(i)?)
                            .map_err(|e| anyhow::anyhow!("{}.{}: {e}", table.name, column.name))?;
                        values.push(value);
                    }
                    proof.add(&values);
                    batch.push(values);
                    if batch.len() == BATCH_ROWS {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                        if send.blocking_send(Ok(Read::Rows(index, full))).is_err() {
                            return Ok(());
                        }
                    }
                }
                if !batch.is_empty() && send.blocking_send(Ok(Read::Rows(index, batch))).is_err() {
                    return Ok(());
                }
                if send
                    .blocking_send(Ok(Read::Done(proof.finish(&table.name))))
                    .is_err()
                {
                    return Ok(());
                }
            }
            sqlite.execute_batch("COMMIT")?;
            Ok(())
        };
        if let Err(e) = read() {
            let _ = send.blocking_send(Err(e));
        }
    });

    let mut txn = pg.begin().await?;
    let mut source_proofs = Vec::with_capacity(tables.len());
    while let Some(read) = receive.recv().await {
        match read? {
            Read::Rows(index, rows) => insert(&mut txn, &tables[index], rows)
                .await
                .with_context(|| format!("writing {}", tables[index].name))?,
            Read::Done(proof) => source_proofs.push(proof),
        }
    }
    reader.await?;
    if source_proofs.len() != tables.len() {
        bail!("the source was not read whole");
    }
    for table in &tables {
        for column in table.columns.iter().filter(|c| c.serial) {
            let (t, c) = (quoted(&table.name), quoted(&column.name));
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), \
                 COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)"
            ))
            .bind(&table.name)
            .bind(&column.name)
            .execute(&mut *txn)
            .await?;
        }
    }
    txn.commit().await?;

    for (table, expected) in tables.iter().zip(&source_proofs) {
        let found = postgres_proof(pg, table).await?;
        if &found != expected {
            bail!(
                "{} differs after the copy: the source has {} rows (sha256 {}), PostgreSQL {} \
                 (sha256 {}); the target held other data under the same keys",
                table.name,
                expected.rows,
                expected.sha256,
                found.rows,
                found.sha256
            );
        }
    }
    Ok(source_proofs)
}

async fn insert(
    txn: &mut sqlx::Transaction<'_, Postgres>,
    table: &Table,
    rows: Vec<Vec<Value>>,
) -> anyhow::Result<()> {
    let width = table.columns.len();
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {} ON CONFLICT DO NOTHING",
        quoted(&table.name),
        columns.join(", "),
        tuples.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        for (value, column) in row.into_iter().zip(&table.columns) {
            query = value.bind(column.kind, query)?;
        }
    }
    query.execute(&mut **txn).await?;
    Ok(())
}

/// One PostgreSQL table's proof, read now.
async fn postgres_proof(pg: &PgPool, table: &Table) -> anyhow::Result<TableProof> {
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
    let query = format!("SELECT {} FROM {}", columns.join(", "), quoted(&table.name));
    let mut rows = sqlx::query(&query).fetch(pg);
    let mut proof = Proof::default();
    while let Some(row) = rows.try_next().await? {
        let values = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| Value::from_postgres(c.kind, &row, i))
            .collect::<sqlx::Result<Vec<_>>>()?;
        proof.add(&values);
    }
    Ok(proof.finish(&table.name))
}

/// Whether every table of PostgreSQL's current schema (but the migrations') is empty, at
/// whatever schema it is: a restore goes only into an empty database.
pub async fn postgres_is_empty(pg: &PgPool) -> anyhow::Result<bool> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> $1",
    )
    .bind(migrations_table())
    .fetch_all(pg)
    .await?;
    for name in names {
        let query = format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(&name));
        if sqlx::query_scalar::<_, bool>(&query).fetch_one(pg).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_times_read_in_every_stored_form() {
        let expected = DateTime::parse_from_rfc3339("2026-12-04T18:40:35.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        for text in [
            "2026-12-04 18:40:35.123456+00:00",
            "2026-12-04T18:40:35.123456Z",
            "2026-12-04 21:40:35.123456+03:00",
            "2026-12-04 18:40:35.123456",
        ] {
            assert_eq!(parse_time(text).unwrap(), expected, "{text}");
        }
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn values_of_another_type_than_the_column_are_refused() {
        assert_eq!(
            Value::from_sqlite(Kind::Bool, ValueRef::Integer(1)),
            Ok(Value::Bool(true))
        );
        assert!(Value::from_sqlite(Kind::Bool, ValueRef::Integer(2)).is_err());
        assert!(Value::from_sqlite(Kind::Int8, ValueRef::Text(b"7")).is_err());
        assert_eq!(
            Value::from_sqlite(Kind::Float8, ValueRef::Integer(2)),
            Ok(Value::Float(2.0))
        );
    }

    #[test]
    fn a_proof_ignores_row_order_but_not_a_changed_value() {
        let rows = [
            vec![Value::Int(1), Value::Text("a".into())],
            vec![Value::Int(2), Value::Null],
        ];
        let proof = |rows: &[Vec<Value>]| {
            let mut p = Proof::default();
            rows.iter().for_each(|r| p.add(r));
            p.finish("t")
        };
        let forward = proof(&rows);
        let backward = proof(&[rows[1].clone(), rows[0].clone()]);
        assert_eq!(forward, backward);
        let changed = proof(&[
            rows[0].clone(),
            vec![Value::Int(2), Value::Text(String::new())],
        ]);
        assert_ne!(forward.sha256, changed.sha256);
        assert_eq!(forward.rows, 2);
    }
}
