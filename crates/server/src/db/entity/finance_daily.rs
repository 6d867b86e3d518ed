use sea_orm::entity::prelude::*;

/// The sum and count of a tenant's finance operations of one UTC day, currency, project
/// (`""` for none), category and type, with their gold.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "finance_daily")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    /// Days since 1970-01-01 (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category: String,
    #[sea_orm(primary_key, auto_increment = false, column_name = "type")]
    pub r#type: String,
    pub amount: f64,
    pub operations: i64,
    /// The gold of the operations that carry some, and their amount (for the average price).
    pub gold: f64,
    pub gold_value: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
