//! Finance aggregates computed in SQL from the operations (the reference only served a
//! stored blob): income, expenses and profit per day, week or month, per category and per
//! project, for one currency, plus how many bots had operations in each period.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::kinds::Kind;
use crate::app::AppState;
use crate::auth::Auth;
use crate::db::entity::record::{Column, Entity};
use crate::http::{ApiError, ApiResult};

const DAY_MS: i64 = 86_400_000;
const MAX_BUCKETS: i64 = 1_000;
const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SummaryParams {
    /// Start (epoch ms, inclusive); default 30 days before `to`.
    pub from: Option<i64>,
    /// End (epoch ms, exclusive); default the end of today (UTC).
    pub to: Option<i64>,
    /// `day` (default), `week` (Monday-based) or `month`; UTC.
    pub period: Option<Period>,
    /// Default `USD`.
    pub currency: Option<String>,
    pub project_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// First day of the period, `YYYY-MM-DD` (UTC).
    pub period: String,
    pub start: i64,
    pub income: f64,
    pub expense: f64,
    pub profit: f64,
    /// Distinct bots with an operation in the period.
    pub active_bots: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryTotal {
    #[serde(rename = "type")]
    pub r#type: String,
    pub category: String,
    pub total: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectTotal {
    pub project_id: Option<String>,
    pub income: f64,
    pub expense: f64,
    pub profit: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Totals {
    pub income: f64,
    pub expense: f64,
    pub profit: f64,
    pub operations: i64,
    pub active_bots: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub from: i64,
    pub to: i64,
    pub period: Period,
    pub currency: String,
    pub totals: Totals,
    /// Every period of the range, empty ones included, oldest first.
    pub series: Vec<Bucket>,
    pub by_category: Vec<CategoryTotal>,
    pub by_project: Vec<ProjectTotal>,
}

fn day_of(ms: i64) -> NaiveDate {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

fn start_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or_default()
}

/// The first day of the period holding `d`.
fn period_start(period: Period, d: NaiveDate) -> NaiveDate {
    match period {
        Period::Day => d,
        Period::Week => d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64),
        Period::Month => d.with_day(1).unwrap_or(d),
    }
}

fn next_start(period: Period, d: NaiveDate) -> NaiveDate {
    match period {
        Period::Day => d + chrono::Duration::days(1),
        Period::Week => d + chrono::Duration::days(7),
        Period::Month => d.checked_add_months(chrono::Months::new(1)).unwrap_or(d),
    }
}

/// Starts (epoch ms) of the periods covering `[from, to)`.
fn boundaries(period: Period, from: i64, to: i64) -> ApiResult<Vec<i64>> {
    let mut out = Vec::new();
    let mut d = period_start(period, day_of(from));
    while start_ms(d) < to {
        out.push(start_ms(d));
        if out.len() as i64 > MAX_BUCKETS {
            return Err(ApiError::bad_request(format!(
                "The range holds more than {MAX_BUCKETS} periods; choose a longer period or a shorter range"
            )));
        }
        d = next_start(period, d);
    }
    Ok(out)
}

/// SQL for the index of an operation's period among `starts` (one comparison per period
/// boundary for months; arithmetic for days and weeks).
fn bucket_sql(period: Period, starts: &[i64]) -> String {
    let first = starts.first().copied().unwrap_or_default();
    match period {
        Period::Day => format!("CAST((date_ms - {first}) / {DAY_MS} AS BIGINT)"),
        Period::Week => format!("CAST((date_ms - {first}) / {} AS BIGINT)", 7 * DAY_MS),
        Period::Month => {
            let whens: String = starts
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, s)| format!(" WHEN date_ms < {s} THEN {}", i - 1))
                .collect();
            format!(
                "CAST(CASE{whens} ELSE {} END AS BIGINT)",
                starts.len().saturating_sub(1)
            )
        }
    }
}

fn sum_of(kind: &str) -> SimpleExpr {
    Expr::cust(format!(
        "COALESCE(SUM(CASE WHEN type = '{kind}' THEN amount ELSE 0.0 END), 0.0)"
    ))
}

/// Operations of the tenant in the range, currency and project.
fn operations(
    auth: &Auth,
    from: i64,
    to: i64,
    currency: &str,
    project: Option<&str>,
) -> sea_orm::Select<Entity> {
    let mut q = Entity::find()
        .filter(Column::TenantId.eq(&auth.tenant_id))
        .filter(Column::Kind.eq(Kind::FinanceOperation.as_str()))
        .filter(Column::Currency.eq(currency))
        .filter(Column::DateMs.gte(from))
        .filter(Column::DateMs.lt(to));
    if let Some(p) = project {
        q = q.filter(Column::ProjectId.eq(p));
    }
    q
}

pub async fn summary(state: &AppState, auth: &Auth, p: SummaryParams) -> ApiResult<Summary> {
    let to =
        p.to.unwrap_or_else(|| start_ms(Utc::now().date_naive()) + DAY_MS);
    let from = p.from.unwrap_or(to - DEFAULT_DAYS * DAY_MS);
    if from >= to || from < 0 {
        return Err(ApiError::field(
            "from",
            "must be before 'to' and not negative",
        ));
    }
    let period = p.period.unwrap_or(Period::Day);
    let currency = p
        .currency
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "USD".into());
    let project = p
        .project_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let starts = boundaries(period, from, to)?;
    let db = &state.db;
    let base = || operations(auth, from, to, &currency, project);

    let rows: Vec<(i64, f64, f64, i64)> = base()
        .select_only()
        .column_as(Expr::cust(bucket_sql(period, &starts)), "bucket")
        .column_as(sum_of("income"), "income")
        .column_as(sum_of("expense"), "expense")
        .column_as(Expr::cust("COUNT(DISTINCT bot_id)"), "bots")
        .group_by(Expr::cust("1"))
        .into_tuple()
        .all(db)
        .await?;
    let mut series: Vec<Bucket> = starts
        .iter()
        .map(|s| Bucket {
            period: day_of(*s).to_string(),
            start: *s,
            income: 0.0,
            expense: 0.0,
            profit: 0.0,
            active_bots: 0,
        })
        .collect();
    for (i, income, expense, bots) in rows {
        if let Some(b) = usize::try_from(i).ok().and_then(|i| series.get_mut(i)) {
            b.income = income;
            b.expense = expense;
            b.profit = income - expense;
            b.active_bots = bots;
        }
    }

    let by_category: Vec<CategoryTotal> = base()
        .select_only()
        .column(Column::Type)
        .column(Column::Category)
        .column_as(Expr::cust("COALESCE(SUM(amount), 0.0)"), "total")
        .group_by(Column::Type)
        .group_by(Column::Category)
        .into_tuple::<(Option<String>, Option<String>, f64)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(t, c, total)| CategoryTotal {
            r#type: t.unwrap_or_default(),
            category: c.unwrap_or_default(),
            total,
        })
        .collect();

    let mut by_project: Vec<ProjectTotal> = base()
        .select_only()
        .column(Column::ProjectId)
        .column_as(sum_of("income"), "income")
        .column_as(sum_of("expense"), "expense")
        .group_by(Column::ProjectId)
        .into_tuple::<(Option<String>, f64, f64)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(project_id, income, expense)| ProjectTotal {
            project_id,
            income,
            expense,
            profit: income - expense,
        })
        .collect();
    by_project.sort_by(|a, b| a.project_id.cmp(&b.project_id));

    let (operations, active_bots) = counts(db, base()).await?;
    let income: f64 = series.iter().map(|b| b.income).sum();
    let expense: f64 = series.iter().map(|b| b.expense).sum();
    Ok(Summary {
        from,
        to,
        period,
        currency,
        totals: Totals {
            income,
            expense,
            profit: income - expense,
            operations,
            active_bots,
        },
        series,
        by_category,
        by_project,
    })
}

async fn counts(
    db: &impl ConnectionTrait,
    select: sea_orm::Select<Entity>,
) -> Result<(i64, i64), DbErr> {
    let row: Option<(i64, i64)> = select
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(Expr::cust("COUNT(DISTINCT bot_id)"), "bots")
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.unwrap_or((0, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i32, m: u32, d: u32) -> i64 {
        start_ms(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn periods_cover_the_range_from_their_first_day() {
        let months = boundaries(Period::Month, ms(2026, 1, 15), ms(2026, 4, 1)).unwrap();
        assert_eq!(months, [ms(2026, 1, 1), ms(2026, 2, 1), ms(2026, 3, 1)]);
        // 2026-11-26 is a Thursday: its week starts on Monday the 23rd.
        let weeks = boundaries(Period::Week, ms(2026, 11, 26), ms(2026, 12, 1)).unwrap();
        assert_eq!(weeks, [ms(2026, 11, 23), ms(2026, 11, 30)]);
        assert_eq!(
            boundaries(Period::Day, ms(2026, 1, 1), ms(2026, 1, 3))
                .unwrap()
                .len(),
            2
        );
        assert!(boundaries(Period::Day, 0, ms(2026, 1, 1)).is_err());
    }

    #[test]
    fn month_buckets_compare_against_each_boundary() {
        let sql = bucket_sql(Period::Month, &[10, 20, 30]);
        assert_eq!(
            sql,
            "CAST(CASE WHEN date_ms < 20 THEN 0 WHEN date_ms < 30 THEN 1 ELSE 2 END AS BIGINT)"
        );
    }
}
