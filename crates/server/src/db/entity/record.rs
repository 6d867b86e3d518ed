use sea_orm::entity::prelude::*;

/// One record of a tenant: the JSON document plus columns projected from it.
#[derive(Clone, Debug, Default, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The document as JSON text, without `id`, `created_at` and `updated_at`.
    pub data: String,
    /// Bumped on every write; the ETag.
    pub version: i64,
    /// Epoch milliseconds, set by the server.
    pub created_at: i64,
    pub updated_at: i64,
    pub status: Option<String>,
    #[sea_orm(column_name = "type")]
    pub r#type: Option<String>,
    pub project_id: Option<String>,
    pub bot_id: Option<String>,
    pub name: Option<String>,
    pub category: Option<String>,
    pub currency: Option<String>,
    pub amount: Option<f64>,
    pub date_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    /// A finance operation's gold (`gold_amount`), summed per day with its amount.
    pub gold_amount: Option<f64>,
    /// The document's values at any depth, lower-cased, credentials left out: what `q` matches.
    pub search: String,
    /// Who created the record (a user id or `token:<id>`): may reveal its sealed fields.
    pub owner_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
