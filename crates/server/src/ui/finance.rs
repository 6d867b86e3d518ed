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

use super::charts::{BarChart, LineChart, Series};
use super::error_page::PageError;
use super::layout::{Layout, render};
use super::records::form::{day_ms, iso_day};
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
}

struct ProjectRow {
    name: String,
    income: String,
    expense: String,
    profit: String,
    margin: String,
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
    line_chart: String,
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
    categories: [&'static str; 6],
    notice: Option<String>,
    error: Option<String>,
}

fn fmt(v: f64) -> String {
    format!("{v:.2}")
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
        ))
    };
    let (summary, projects, ops, total_rows, page) = match loaded.await {
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
    let labels: Vec<String> = summary.series.iter().map(|b| b.period.clone()).collect();
    let pick = |f: fn(&finance::Bucket) -> f64| summary.series.iter().map(f).collect::<Vec<_>>();
    let line_chart = LineChart::new(
        "cashflow",
        "Income, expenses and profit",
        &labels,
        vec![
            Series {
                name: "income",
                class: "income",
                values: pick(|b| b.income),
            },
            Series {
                name: "expenses",
                class: "expense",
                values: pick(|b| b.expense),
            },
            Series {
                name: "profit",
                class: "profit",
                values: pick(|b| b.profit),
            },
        ],
    )
    .render()
    .unwrap_or_default();
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
            }
        })
        .collect();
    let pages = total_rows.div_ceil(ROWS).max(1);
    let page_href = |n: u64| {
        let mut href = url::form_urlencoded::Serializer::new(String::from("/finance?"));
        for (k, v) in [
            ("from", from_day.as_str()),
            ("to", to_day.as_str()),
            ("period", &format!("{period:?}").to_lowercase()),
            ("currency", currency.as_str()),
            ("project_id", project.as_deref().unwrap_or_default()),
            ("type", q.kind.as_deref().unwrap_or_default()),
            ("category", q.category.as_deref().unwrap_or_default()),
            ("q", q.q.as_deref().unwrap_or_default()),
        ] {
            if !v.is_empty() {
                href.append_pair(k, v);
            }
        }
        href.append_pair("page", &n.to_string());
        href.finish()
    };
    let (previous, next) = (
        (page > 1).then(|| page_href(page - 1)),
        (page < pages).then(|| page_href(page + 1)),
    );
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
        summary,
        line_chart,
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
        categories: CATEGORIES,
        notice: feedback
            .notice
            .or_else(|| q.notice.as_deref().and_then(notice_text)),
        error: feedback.error.map(|e| e.message),
    };
    csrf.attach((feedback.status, render(&body)).into_response())
}

fn notice_text(key: &str) -> Option<String> {
    match key {
        "recorded" => Some("Operation recorded.".into()),
        "deleted" => Some("Operation deleted.".into()),
        _ => None,
    }
}

pub async fn finance_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<FinanceQuery>,
) -> Response {
    let form = OperationForm {
        kind: "income".into(),
        category: "sale".into(),
        currency: "USD".into(),
        date: Utc::now().date_naive().to_string(),
        ..Default::default()
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
        },
    )
    .await
}

/// The API body for a form: numbers as numbers, the day as epoch ms (its start, UTC), empty
/// optional fields left out.
fn operation_body(form: &OperationForm) -> Value {
    let mut body = Map::new();
    body.insert("type".into(), json!(form.kind.trim()));
    body.insert("category".into(), json!(form.category.trim()));
    body.insert("currency".into(), json!(form.currency.trim()));
    let amount = form.amount.trim();
    body.insert(
        "amount".into(),
        amount
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(amount)),
    );
    body.insert(
        "date".into(),
        day_ms(&form.date)
            .map(|d| json!(d))
            .unwrap_or_else(|| json!(form.date.trim())),
    );
    for (key, value) in [
        ("project_id", &form.project_id),
        ("description", &form.description),
    ] {
        if !value.trim().is_empty() {
            body.insert(key.into(), json!(value.trim()));
        }
    }
    Value::Object(body)
}

pub async fn create_operation(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<OperationForm>,
) -> Response {
    match service::create(&state, &auth, Kind::FinanceOperation, operation_body(&form)).await {
        Ok(_) => Redirect::to("/finance?notice=recorded").into_response(),
        Err(e) => {
            let status = e.status();
            page(
                &state,
                &auth,
                &headers,
                FinanceQuery::default(),
                Feedback {
                    status,
                    notice: None,
                    error: Some(e),
                    form,
                },
            )
            .await
        }
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
