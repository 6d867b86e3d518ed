//! Finance aggregates (the reference only served a stored blob): income, expenses and
//! profit per day, week or month, per category and per project, for one currency. They are
//! read from `finance_daily`, the per-day totals the records service keeps in the same
//! transaction as every operation's write, so a year is a few thousand rows at most.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::store;
use crate::clock::{DAY_MS, MAX_MS};
use crate::db::Db;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::documents::counts;

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
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// Start (epoch ms, inclusive, 0 to 8e15); default 30 days before `to`.
    #[param(minimum = 0, maximum = 8_000_000_000_000_000_i64)]
    pub from: Option<i64>,
    /// End (epoch ms, exclusive, up to 8e15); default the end of today (UTC).
    #[param(minimum = 1, maximum = 8_000_000_000_000_000_i64)]
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
    pub operations: i64,
    /// Gold sold in the period, per project (only those that sold any).
    pub gold: Vec<GoldSold>,
}

/// Gold a project sold in a period, and its average price.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GoldSold {
    pub project_id: Option<String>,
    pub gold_sold: f64,
    /// Money per 1000 g.
    pub gold_price_per_1000: Option<f64>,
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
    /// Gold sold (income operations' `gold_amount`).
    pub gold_sold: f64,
    /// What that gold brought per 1000 g on average; null when none was sold.
    pub gold_price_per_1000: Option<f64>,
}

/// Gold sold and its average price per 1000 g, from the gold and the amount it brought.
fn gold_price(gold: f64, value: f64) -> Option<f64> {
    (gold > 0.0).then(|| tidy(value / gold * 1000.0))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Totals {
    pub income: f64,
    pub expense: f64,
    pub profit: f64,
    pub operations: i64,
    /// Gold sold over the range (income operations' `gold_amount`).
    pub gold_sold: f64,
    /// Its average price per 1000 g; null when none was sold.
    pub gold_price_per_1000: Option<f64>,
    /// Bots working now (status prepare, leveling, profession or farming), of the project
    /// when one is chosen.
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

/// SQL for the index of a day's period among `starts` (days since the epoch): arithmetic
/// for days and weeks, one comparison per boundary for months.
fn bucket_sql(period: Period, starts: &[i64]) -> String {
    let first = starts.first().copied().unwrap_or_default();
    match period {
        Period::Day => format!("CAST(day - {first} AS BIGINT)"),
        Period::Week => format!("CAST((day - {first}) / 7 AS BIGINT)"),
        // One month: every day is in bucket 0 (a CASE needs at least one WHEN).
        Period::Month if starts.len() < 2 => "CAST(0 AS BIGINT)".to_owned(),
        Period::Month => {
            let whens: String = starts
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, s)| format!(" WHEN day < {s} THEN {}", i - 1))
                .collect();
            format!(
                "CAST(CASE{whens} ELSE {} END AS BIGINT)",
                starts.len().saturating_sub(1)
            )
        }
    }
}

/// Sums kept as running totals can carry float noise from many additions and removals.
fn tidy(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

pub async fn summary(db: &Db, auth: &Auth, p: SummaryParams) -> ApiResult<Summary> {
    let in_range = |field: &str, ms: i64| {
        if (0..=MAX_MS).contains(&ms) {
            Ok(ms)
        } else {
            Err(ApiError::field(
                field,
                format!("must be epoch milliseconds from 0 to {MAX_MS}"),
            ))
        }
    };
    let to = match p.to {
        Some(to) => in_range("to", to)?,
        None => start_ms(Utc::now().date_naive()) + DAY_MS,
    };
    let from = match p.from {
        Some(from) => in_range("from", from)?,
        None => (to - DEFAULT_DAYS * DAY_MS).max(0),
    };
    if from >= to {
        return Err(ApiError::field("from", "must be before 'to'"));
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
    let days: Vec<i64> = starts.iter().map(|s| s.div_euclid(DAY_MS)).collect();
    // Whole UTC days: the day holding `from` up to the day holding the last instant before `to`.
    let (first_day, end_day) = (from.div_euclid(DAY_MS), (to - 1).div_euclid(DAY_MS) + 1);
    let rows = store::sums(
        db,
        auth.tenant(),
        &currency,
        (first_day, end_day),
        project,
        &bucket_sql(period, &days),
    )
    .await?;

    let mut series: Vec<Bucket> = starts
        .iter()
        .map(|s| Bucket {
            period: day_of(*s).to_string(),
            start: *s,
            income: 0.0,
            expense: 0.0,
            profit: 0.0,
            operations: 0,
            gold: Vec::new(),
        })
        .collect();
    // Gold brought in per period: (bucket, project, gold, amount).
    let mut gold_by_period: Vec<(usize, Option<String>, f64, f64)> = Vec::new();
    let mut by_category: Vec<CategoryTotal> = Vec::new();
    let mut by_project: Vec<ProjectTotal> = Vec::new();
    // Gold brought in: (project, gold, amount).
    let mut gold_in: Vec<(Option<String>, f64, f64)> = Vec::new();
    // Rows whose operations were all edited away or deleted sum to nothing.
    for (bucket, kind, category, project_id, amount, operations, gold, gold_value) in
        rows.into_iter().filter(|r| r.5 != 0)
    {
        let income = kind == "income";
        if let Some(b) = usize::try_from(bucket).ok().and_then(|i| series.get_mut(i)) {
            if income {
                b.income += amount;
            } else {
                b.expense += amount;
            }
            b.operations += operations;
        }
        match by_category
            .iter_mut()
            .find(|c| c.r#type == kind && c.category == category)
        {
            Some(c) => c.total += amount,
            None => by_category.push(CategoryTotal {
                r#type: kind.clone(),
                category,
                total: amount,
            }),
        }
        let project_id = Some(project_id).filter(|p| !p.is_empty());
        if income
            && gold != 0.0
            && let Ok(i) = usize::try_from(bucket)
        {
            match gold_by_period
                .iter_mut()
                .find(|(b, p, _, _)| *b == i && *p == project_id)
            {
                Some(g) => {
                    g.2 += gold;
                    g.3 += gold_value;
                }
                None => gold_by_period.push((i, project_id.clone(), gold, gold_value)),
            }
        }
        if income && gold != 0.0 {
            match gold_in.iter_mut().find(|(p, _, _)| *p == project_id) {
                Some(g) => {
                    g.1 += gold;
                    g.2 += gold_value;
                }
                None => gold_in.push((project_id.clone(), gold, gold_value)),
            }
        }
        let entry = match by_project.iter().position(|p| p.project_id == project_id) {
            Some(i) => &mut by_project[i],
            None => {
                by_project.push(ProjectTotal {
                    project_id,
                    income: 0.0,
                    expense: 0.0,
                    profit: 0.0,
                    gold_sold: 0.0,
                    gold_price_per_1000: None,
                });
                by_project.last_mut().expect("just pushed")
            }
        };
        if income {
            entry.income += amount;
        } else {
            entry.expense += amount;
        }
    }
    gold_by_period.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    for (i, project_id, gold, value) in gold_by_period {
        if let Some(b) = series.get_mut(i) {
            b.gold.push(GoldSold {
                project_id,
                gold_sold: tidy(gold),
                gold_price_per_1000: gold_price(gold, value),
            });
        }
    }
    for b in &mut series {
        b.income = tidy(b.income);
        b.expense = tidy(b.expense);
        b.profit = tidy(b.income - b.expense);
    }
    for c in &mut by_category {
        c.total = tidy(c.total);
    }
    by_category.sort_by(|a, b| (&a.r#type, &a.category).cmp(&(&b.r#type, &b.category)));
    for p in &mut by_project {
        p.income = tidy(p.income);
        p.expense = tidy(p.expense);
        p.profit = tidy(p.income - p.expense);
        if let Some((_, gold, value)) = gold_in.iter().find(|g| g.0 == p.project_id) {
            p.gold_sold = tidy(*gold);
            p.gold_price_per_1000 = gold_price(*gold, *value);
        }
    }
    let (gold_sold, gold_value) = gold_in
        .iter()
        .fold((0.0, 0.0), |(g, v), p| (g + p.1, v + p.2));
    by_project.sort_by(|a, b| a.project_id.cmp(&b.project_id));

    let working = counts::bots(db.read(), auth.tenant(), project).await?;
    let active_bots = working
        .iter()
        .filter(|(_, s, _)| {
            matches!(
                s.as_str(),
                "prepare" | "leveling" | "profession" | "farming"
            )
        })
        .map(|(_, _, n)| n)
        .sum();
    let income = tidy(series.iter().map(|b| b.income).sum());
    let expense = tidy(series.iter().map(|b| b.expense).sum());
    Ok(Summary {
        from,
        to,
        period,
        currency,
        totals: Totals {
            income,
            expense,
            profit: tidy(income - expense),
            operations: series.iter().map(|b| b.operations).sum(),
            gold_sold: tidy(gold_sold),
            gold_price_per_1000: gold_price(gold_sold, gold_value),
            active_bots,
        },
        series,
        by_category,
        by_project,
    })
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
            "CAST(CASE WHEN day < 20 THEN 0 WHEN day < 30 THEN 1 ELSE 2 END AS BIGINT)"
        );
        assert_eq!(bucket_sql(Period::Month, &[10]), "CAST(0 AS BIGINT)");
        assert_eq!(
            bucket_sql(Period::Week, &[7, 14]),
            "CAST((day - 7) / 7 AS BIGINT)"
        );
    }
}
