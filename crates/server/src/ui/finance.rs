//! The Finance page (spec ui.md §3.12): totals, income/expense/profit over time and the
//! breakdowns by project and category drawn as SVG on the server from the SQL aggregates,
//! and the transactions with a form to record income and expenses.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

use super::charts::BarChart;
use super::error_page::PageError;
use super::layout::{Layout, page_url, render};
use super::records::common::seg;
use super::records::form::{day_ms, iso_day};
use super::refusal::Problems;
use super::session::EmptyForm;
use super::session::{CsrfForm, UiUser};
use crate::http::ApiError;
use crate::principal::Auth;
use crate::records::documents::service;
use crate::records::documents::store::{ListQuery, SortKey};
use crate::records::finance::service::{self as finance, Period, Summary, SummaryParams};
use crate::records::kinds::Kind;
use crate::settings;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};

use crate::clock::DAY_MS;

pub mod chart;

const ROWS: u64 = 50;
const CATEGORIES: [&str; 6] = [
    "sale",
    "subscription_game",
    "subscription_bot",
    "proxy",
    "bot_license",
    "other",
];

#[derive(Debug, Default, Deserialize)]
pub struct FinanceQuery {
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
    currency: Option<String>,
    project_id: Option<String>,
    /// Transactions of this type (`income` or `expense`) only.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Transactions of this category only.
    category: Option<String>,
    /// Transactions whose values hold this text.
    q: Option<String>,
    page: Option<u64>,
    notice: Option<String>,
    /// The operation whose values the form holds for editing.
    edit: Option<String>,
}

/// One row of the transactions table.
struct Row {
    id: String,
    date: String,
    kind: String,
    category: String,
    project: String,
    description: String,
    amount: String,
    currency: String,
    /// Gold sold or bought, "N g @ price per 1000 g", when recorded.
    gold: String,
    /// Its edit form.
    edit: String,
}

struct ProjectRow {
    name: String,
    income: String,
    expense: String,
    profit: String,
    margin: String,
    /// Gold sold in g, and its average price per 1000 g ("–" when none).
    gold_sold: String,
    gold_price: String,
}

/// Gold as the page shows it: whole grams, or "–" for none.
fn grams(gold: f64) -> String {
    if gold == 0.0 {
        "–".into()
    } else {
        format!("{} g", plain(gold.round()))
    }
}

/// An average price per 1000 g in the summary's currency, or "–".
fn per_1000(price: Option<f64>, currency: &str) -> String {
    price.map_or_else(|| "–".into(), |p| format!("{} {currency}", fmt(p)))
}

/// What the add-transaction form holds (kept when it is refused).
#[derive(Debug, Default, Deserialize)]
pub struct OperationForm {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    project_id: String,
    #[serde(default)]
    description: String,
    /// Gold sold or bought, and its price per 1000 g at the time (the reference's fields).
    #[serde(default)]
    gold_amount: String,
    #[serde(default)]
    gold_price_at_time: String,
    /// The version an edit was read at (refused with 412 if it changed meanwhile).
    #[serde(default, rename = "_version")]
    version: String,
}

impl OperationForm {
    /// The form holding operation `m`, for editing.
    fn of(m: &crate::db::entity::record::Model) -> Self {
        let doc = service::document(m);
        let text = |k: &str| match doc.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.as_f64().map(plain).unwrap_or_default(),
            _ => String::new(),
        };
        Self {
            kind: text("type"),
            category: text("category"),
            amount: text("amount"),
            currency: text("currency"),
            date: m.date_ms.map(iso_day).unwrap_or_default(),
            project_id: text("project_id"),
            description: text("description"),
            gold_amount: text("gold_amount"),
            gold_price_at_time: text("gold_price_at_time"),
            version: service::etag(m),
        }
    }
}

#[derive(Template)]
#[template(path = "finance.html")]
struct FinancePage {
    layout: Layout,
    from: String,
    to: String,
    period: String,
    currency: String,
    project_id: String,
    projects: Vec<(String, String)>,
    summary: Summary,
    income: String,
    expense: String,
    profit: String,
    /// Gold sold over the range, and its average price per 1000 g.
    gold_sold: String,
    gold_price: String,
    line_chart: String,
    /// The chart's series with their settings, and the page's own URL to come back to.
    chart_series: Vec<chart::SeriesSetting>,
    chart_keys: String,
    here: String,
    expense_chart: String,
    income_chart: String,
    by_project: Vec<ProjectRow>,
    rows: Vec<Row>,
    total_rows: u64,
    page: u64,
    pages: u64,
    /// The transaction filters as asked.
    op_kind: String,
    op_category: String,
    op_q: String,
    /// The previous and next pages of transactions, with every filter.
    previous: Option<String>,
    next: Option<String>,
    form: OperationForm,
    /// Where the form posts: a new operation, or the one being edited.
    form_action: String,
    /// The form edits an operation (and says so).
    editing: bool,
    categories: [&'static str; 6],
    notice: Option<String>,
    /// The operation form's problems, by input.
    problems: HashMap<&'static str, String>,
    error: Option<String>,
}

/// The inputs of the operation form, whose problems are shown beside them.
const OPERATION_INPUTS: [&str; 9] = [
    "type",
    "category",
    "amount",
    "currency",
    "date",
    "project_id",
    "description",
    "gold_amount",
    "gold_price_at_time",
];

fn fmt(v: f64) -> String {
    format!("{v:.2}")
}

/// A figure as typed: whole numbers without a decimal point ("1000", not "1000.0").
fn plain(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

fn blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

struct Feedback {
    status: StatusCode,
    notice: Option<String>,
    error: Option<ApiError>,
    form: OperationForm,
    /// The id of the operation the form edits.
    editing: Option<String>,
}

async fn page(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    q: FinanceQuery,
    feedback: Feedback,
) -> Response {
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/finance",
        "finance",
        &[("Finance", None)],
    )
    .await;
    let today = Utc::now().date_naive();
    let to_day = blank(&q.to)
        .and_then(|s| day_ms(&s))
        .map(iso_day)
        .unwrap_or_else(|| today.to_string());
    let from_day = blank(&q.from)
        .and_then(|s| day_ms(&s))
        .map(iso_day)
        .unwrap_or_else(|| (today - chrono::Duration::days(29)).to_string());
    let period = match q.period.as_deref() {
        Some("week") => Period::Week,
        Some("month") => Period::Month,
        _ => Period::Day,
    };
    let currency = blank(&q.currency).unwrap_or_else(|| "USD".into());
    let project = blank(&q.project_id);
    let from_ms = day_ms(&from_day).unwrap_or_default();
    let to_ms = day_ms(&to_day).unwrap_or_default() + DAY_MS;
    let params = SummaryParams {
        from: Some(from_ms),
        to: Some(to_ms),
        period: Some(period),
        currency: Some(currency.clone()),
        project_id: project.clone(),
    };
    let loaded = async {
        let summary = finance::summary(&state.db, auth, params).await?;
        let tree = settings::service::tree(&state.db, auth.tenant()).await?;
        let list = ListQuery {
            project_id: project.clone(),
            r#type: blank(&q.kind),
            category: blank(&q.category),
            q: blank(&q.q),
            from: Some(from_ms),
            to: Some(to_ms),
            sort: SortKey::Date,
            descending: true,
            page: q.page.unwrap_or(1).clamp(1, crate::http::paging::MAX_PAGE),
            limit: ROWS,
            ..ListQuery::default()
        };
        let (ops, total) = service::list(state, auth, Kind::FinanceOperation, &list).await?;
        Ok::<_, ApiError>((
            summary,
            settings::service::projects(&tree),
            ops,
            total,
            list.page,
            tree,
        ))
    };
    let (summary, projects, ops, total_rows, page, tree) = match loaded.await {
        Ok(v) => v,
        Err(e) => return PageError::from(e).into_response(),
    };
    let name_of = |id: &Option<String>| match id {
        Some(id) => projects
            .iter()
            .find(|(p, _)| p == id)
            .map_or(id.clone(), |(_, n)| n.clone()),
        None => "No project".into(),
    };
    let chart_series = chart::series(&tree, &summary, &name_of);
    let line_chart = chart::render(&summary, &chart_series);
    let of_type = |t: &str| {
        summary
            .by_category
            .iter()
            .filter(|c| c.r#type == t)
            .map(|c| (c.category.clone(), c.total))
            .collect::<Vec<_>>()
    };
    let expense_chart = BarChart::new(
        "expenses-by-category",
        "Expenses by category",
        "expense",
        of_type("expense"),
    )
    .render()
    .unwrap_or_default();
    let income_chart = BarChart::new(
        "income-by-category",
        "Income by category",
        "income",
        of_type("income"),
    )
    .render()
    .unwrap_or_default();
    let by_project = summary
        .by_project
        .iter()
        .map(|p| ProjectRow {
            name: name_of(&p.project_id),
            income: fmt(p.income),
            expense: fmt(p.expense),
            profit: fmt(p.profit),
            margin: if p.income > 0.0 {
                format!("{:.1}%", 100.0 * p.profit / p.income)
            } else {
                "–".into()
            },
            gold_sold: grams(p.gold_sold),
            gold_price: per_1000(p.gold_price_per_1000, &currency),
        })
        .collect();
    let rows = ops
        .iter()
        .map(|m| {
            let doc = service::document(m);
            let text = |k: &str| {
                doc.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let number_at = |k: &str| doc.get(k).and_then(Value::as_f64);
            Row {
                id: m.id.clone(),
                date: m.date_ms.map(iso_day).unwrap_or_default(),
                kind: text("type"),
                category: text("category"),
                project: m
                    .project_id
                    .as_ref()
                    .map(|p| name_of(&Some(p.clone())))
                    .unwrap_or_default(),
                description: text("description"),
                amount: m.amount.map(fmt).unwrap_or_default(),
                currency: text("currency"),
                gold: match (number_at("gold_amount"), number_at("gold_price_at_time")) {
                    (Some(g), Some(p)) => format!("{} g @ {} per 1000 g", plain(g), plain(p)),
                    (Some(g), None) => format!("{} g", plain(g)),
                    _ => String::new(),
                },
                edit: format!("/finance?edit={}#transactions", seg(&m.id)),
            }
        })
        .collect();
    let pages = total_rows.div_ceil(ROWS).max(1);
    let page_href = |n: u64| {
        page_url(
            "/finance",
            &[
                ("from", from_day.as_str()),
                ("to", to_day.as_str()),
                ("period", &format!("{period:?}").to_lowercase()),
                ("currency", currency.as_str()),
                ("project_id", project.as_deref().unwrap_or_default()),
                ("type", q.kind.as_deref().unwrap_or_default()),
                ("category", q.category.as_deref().unwrap_or_default()),
                ("q", q.q.as_deref().unwrap_or_default()),
                ("page", &n.to_string()),
            ],
        )
    };
    let (previous, next) = (
        (page > 1).then(|| page_href(page - 1)),
        (page < pages).then(|| page_href(page + 1)),
    );
    let here = page_href(page);
    // A refusal naming a field of the form is shown beside that field, not above the page.
    let found = feedback.error.as_ref().map(Problems::from_error);
    let problems: HashMap<&'static str, String> = OPERATION_INPUTS
        .iter()
        .filter_map(|name| Some((*name, found.as_ref()?.of(name)?)))
        .collect();
    let error = found
        .as_ref()
        .and_then(|f| f.banner(|key| problems.contains_key(key)));
    let gold_price = match summary.totals.gold_price_per_1000 {
        Some(p) => format!("{} per 1000 g on average", per_1000(Some(p), &currency)),
        None => "No gold sold in this range".into(),
    };
    let body = FinancePage {
        layout,
        from: from_day,
        to: to_day,
        period: format!("{period:?}").to_lowercase(),
        currency,
        project_id: project.unwrap_or_default(),
        projects,
        income: fmt(summary.totals.income),
        expense: fmt(summary.totals.expense),
        profit: fmt(summary.totals.profit),
        gold_sold: grams(summary.totals.gold_sold),
        gold_price,
        summary,
        line_chart,
        chart_keys: chart_series
            .iter()
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>()
            .join(","),
        chart_series,
        here,
        expense_chart,
        income_chart,
        by_project,
        rows,
        total_rows,
        page,
        pages,
        op_kind: blank(&q.kind).unwrap_or_default(),
        op_category: blank(&q.category).unwrap_or_default(),
        op_q: blank(&q.q).unwrap_or_default(),
        previous,
        next,
        form: feedback.form,
        form_action: match &feedback.editing {
            Some(id) => format!("/finance/operations/{}", seg(id)),
            None => "/finance/operations".into(),
        },
        editing: feedback.editing.is_some(),
        categories: CATEGORIES,
        notice: feedback
            .notice
            .or_else(|| q.notice.as_deref().and_then(notice_text)),
        problems,
        error,
    };
    csrf.attach((feedback.status, render(&body)).into_response())
}

fn notice_text(key: &str) -> Option<String> {
    match key {
        "recorded" => Some("Operation recorded.".into()),
        "deleted" => Some("Operation deleted.".into()),
        "updated" => Some("Operation updated.".into()),
        _ => None,
    }
}

pub async fn finance_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<FinanceQuery>,
) -> Response {
    let (form, editing) = match blank(&q.edit) {
        Some(id) => match service::get(&state, &auth, Kind::FinanceOperation, &id).await {
            Ok(m) => (OperationForm::of(&m), Some(id)),
            Err(e) => return PageError::from(e).into_response(),
        },
        None => (
            OperationForm {
                kind: "income".into(),
                category: "sale".into(),
                currency: "USD".into(),
                date: Utc::now().date_naive().to_string(),
                ..Default::default()
            },
            None,
        ),
    };
    page(
        &state,
        &auth,
        &headers,
        q,
        Feedback {
            status: StatusCode::OK,
            notice: None,
            error: None,
            form,
            editing,
        },
    )
    .await
}

/// A number typed into a form as a JSON number, or as the text when it is not one (so the
/// API's rule names the problem).
fn number(text: &str) -> Value {
    let text = text.trim();
    text.parse::<f64>()
        .map(Value::from)
        .unwrap_or_else(|_| json!(text))
}

/// The API body for a form: numbers as numbers, the day as epoch ms (its start, UTC); empty
/// optional fields left out of a new operation and cleared (`null`) from an edited one.
fn operation_body(form: &OperationForm, editing: bool) -> Value {
    let mut body = Map::new();
    body.insert("type".into(), json!(form.kind.trim()));
    body.insert("category".into(), json!(form.category.trim()));
    body.insert("currency".into(), json!(form.currency.trim()));
    // A sale of gold may give the gold and its price per 1000 g instead of the amount.
    let from_gold = match (
        form.gold_amount.trim().parse::<f64>(),
        form.gold_price_at_time.trim().parse::<f64>(),
    ) {
        (Ok(gold), Ok(price)) if form.amount.trim().is_empty() => {
            Some(json!((gold * price / 1000.0 * 100.0).round() / 100.0))
        }
        _ => None,
    };
    body.insert(
        "amount".into(),
        from_gold.unwrap_or_else(|| number(&form.amount)),
    );
    body.insert(
        "date".into(),
        day_ms(&form.date)
            .map(|d| json!(d))
            .unwrap_or_else(|| json!(form.date.trim())),
    );
    for (key, value, numeric) in [
        ("project_id", &form.project_id, false),
        ("description", &form.description, false),
        ("gold_amount", &form.gold_amount, true),
        ("gold_price_at_time", &form.gold_price_at_time, true),
    ] {
        let value = match value.trim() {
            "" if editing => Value::Null,
            "" => continue,
            v if numeric => number(v),
            v => json!(v),
        };
        body.insert(key.into(), value);
    }
    Value::Object(body)
}

pub async fn create_operation(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<OperationForm>,
) -> Response {
    let body = operation_body(&form, false);
    match service::create(&state, &auth, Kind::FinanceOperation, body).await {
        Ok(_) => Redirect::to("/finance?notice=recorded").into_response(),
        Err(e) => refused(&state, &auth, &headers, form, None, e).await,
    }
}

/// The page again with the form as it was typed and why it was refused.
async fn refused(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    form: OperationForm,
    editing: Option<String>,
    e: ApiError,
) -> Response {
    let feedback = Feedback {
        status: e.status(),
        notice: None,
        error: Some(e),
        form,
        editing,
    };
    page(state, auth, headers, FinanceQuery::default(), feedback).await
}

/// Save an edited operation, if nobody changed it since the form was read.
pub async fn update_operation(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<OperationForm>,
) -> Response {
    let body = operation_body(&form, true);
    let version = Some(form.version.as_str()).filter(|v| !v.is_empty());
    match service::patch(&state, &auth, Kind::FinanceOperation, &id, body, version).await {
        Ok(_) => Redirect::to("/finance?notice=updated").into_response(),
        Err(e) => refused(&state, &auth, &headers, form, Some(id), e).await,
    }
}

pub async fn delete_operation(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    match service::delete(&state, &auth, Kind::FinanceOperation, &id, false).await {
        Ok(()) => Redirect::to("/finance?notice=deleted").into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}
