//! Recompute every record's search text (`records.search`, what a list's `q` matches):
//! it now takes the document's values at any depth, not only its top-level ones, so a bot is
//! found by its character's name or server and its account's e-mail. Rows are read and
//! rewritten in pages, in key order, and only those whose text changes are written.

use sea_orm::{ConnectionTrait, Value};
use sea_orm_migration::prelude::*;

use crate::records::kinds::search_text;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000016_record_search"
    }
}

const PAGE: u64 = 500;

fn col(name: &str) -> Alias {
    Alias::new(name)
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let backend = m.get_database_backend();
        let keys = || {
            ["tenant_id", "kind", "id"]
                .map(|c| SimpleExpr::from(Expr::col(col(c))))
                .to_vec()
        };
        let mut after: Option<[String; 3]> = None;
        loop {
            let mut page = Query::select();
            page.columns(["tenant_id", "kind", "id", "data", "search"].map(col))
                .from(col("records"))
                .order_by(col("tenant_id"), Order::Asc)
                .order_by(col("kind"), Order::Asc)
                .order_by(col("id"), Order::Asc)
                .limit(PAGE);
            if let Some(last) = &after {
                let last = last.clone().map(|v| SimpleExpr::from(Value::from(v)));
                page.and_where(Expr::tuple(keys()).gt(Expr::tuple(last)));
            }
            let rows = db.query_all(backend.build(&page)).await?;
            for row in &rows {
                let (tenant, kind, id, data, search): (String, String, String, String, String) = (
                    row.try_get("", "tenant_id")?,
                    row.try_get("", "kind")?,
                    row.try_get("", "id")?,
                    row.try_get("", "data")?,
                    row.try_get("", "search")?,
                );
                let doc: Option<serde_json::Map<String, serde_json::Value>> =
                    serde_json::from_str(&data).ok();
                let text = doc.as_ref().map(search_text);
                if let Some(text) = text.filter(|t| *t != search) {
                    let mut update = Query::update();
                    update
                        .table(col("records"))
                        .value(col("search"), text)
                        .and_where(Expr::col(col("tenant_id")).eq(tenant.as_str()))
                        .and_where(Expr::col(col("kind")).eq(kind.as_str()))
                        .and_where(Expr::col(col("id")).eq(id.as_str()));
                    db.execute(backend.build(&update)).await?;
                }
                after = Some([tenant, kind, id]);
            }
            if (rows.len() as u64) < PAGE {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{Database, Statement};

    use super::*;

    #[tokio::test]
    async fn every_page_of_records_gets_its_nested_values_searchable() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared(
            "CREATE TABLE records (tenant_id TEXT, kind TEXT, id TEXT, data TEXT, search TEXT, \
               PRIMARY KEY (tenant_id, kind, id))",
        )
        .await
        .unwrap();
        // More than two pages, in two tenants, with the text the old rule wrote.
        for i in 0..1_201 {
            let doc = serde_json::json!({"name": format!("bot-{i}"),
                "character": {"name": format!("Char{i:04}"), "server": "Gehennas"}});
            db.execute(Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Sqlite,
                "INSERT INTO records VALUES (?, 'bots', ?, ?, ?)",
                [
                    ["acme", "zeta"][i % 2].into(),
                    format!("b{i:05}").into(),
                    doc.to_string().into(),
                    format!("bot-{i}").into(),
                ],
            ))
            .await
            .unwrap();
        }
        let manager = SchemaManager::new(&db);
        Migration.up(&manager).await.unwrap();
        let rows = db
            .query_all(Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                "SELECT id, search FROM records",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1_201);
        for row in rows {
            let (id, search): (String, String) = (
                row.try_get("", "id").unwrap(),
                row.try_get("", "search").unwrap(),
            );
            let i: usize = id[1..].parse().unwrap();
            assert!(
                search.contains(&format!("char{i:04}")) && search.contains("gehennas"),
                "{id}: {search}"
            );
        }
    }
}
