//! The workspace pages that are not plain tables (spec ui.md §3.10–3.11): the calendar as a
//! month grid of events, and the kanban board whose tasks move between three columns.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, Months, NaiveDate};
use serde::Deserialize;
use serde_json::Value;

use super::common::{all, labels, notice_text, seg, with_notice};
use super::form::{self, FieldSpec, FormView, Input, Mode, Posted, Source, field, required};
use super::spec::TableSpec;
use super::specs::NOTES;
use crate::db::entity::record;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::documents::service;
use crate::records::documents::store::{ListQuery, SortKey};
use crate::records::kinds::Kind;
use crate::state::AppState;
use crate::ui::error_page::PageError;
use crate::ui::extract::{PagePath, PageQuery};
use crate::ui::layout::{Layout, render};
use crate::ui::session::{CsrfForm, UiUser};

const EVENT_FIELDS: &[FieldSpec] = &[
    required("title", "Title", Input::Text),
    required("date", "Date", Input::Day),
    field("linked_note_id", "Linked note", Input::RecordId(Kind::Note)),
    field("description", "Description", Input::TextArea),
];
/// Events listed as missed and as upcoming beside the month.
const AGENDA_LIMIT: u64 = 10;

const COLUMNS: [(&str, &str); 3] = [
    ("todo", "Todo"),
    ("in_progress", "In progress"),
    ("done", "Done"),
];
const STATUSES: &[&str] = &["todo", "in_progress", "done"];

const TASK_FIELDS: &[FieldSpec] = &[
    required("title", "Title", Input::Text),
    required("status", "Column", Input::Select(STATUSES)),
    field("due_date", "Due date", Input::Day),
    field("description", "Description", Input::TextArea),
];

/// Calendar events as their edit page knows them (the month grid is drawn here).
pub static CALENDAR_EVENTS: TableSpec = TableSpec {
    kind: Kind::CalendarEvent,
    slug: "event",
    path: "/workspace/calendar",
    item_path: "/workspace/calendar",
    active: "calendar",
    section: "Workspace",
    title: "Calendar",
    columns: &[],
    filters: &[],
    fields: EVENT_FIELDS,
    default_sort: ("date", false),
    expiry: false,
    status_first: None,
};

/// Kanban tasks as their edit page knows them (the board is drawn here).
pub static KANBAN_TASKS: TableSpec = TableSpec {
    kind: Kind::KanbanTask,
    slug: "task",
    path: "/workspace/kanban",
    item_path: "/workspace/kanban",
    active: "kanban",
    section: "Workspace",
    title: "Kanban",
    columns: &[],
    filters: &[],
    fields: TASK_FIELDS,
    default_sort: ("created_at", false),
    expiry: false,
    status_first: None,
};

/// A failed submission: the create form's typed values, or only an error to show.
type Failed<'a> = Option<(Option<&'a Posted>, ApiError)>;

/// The form and the answer's status after an optional failure; `records` are the choices
/// of its record select, if it has one.
fn form_after(
    specs: &[FieldSpec],
    failed: &Failed<'_>,
    records: &[(String, String)],
) -> (StatusCode, Option<String>, FormView) {
    match failed {
        Some((Some(posted), e)) => (
            e.status(),
            None,
            form::form_view(
                specs,
                Source::Posted(posted),
                Some(e),
                records,
                String::new(),
            ),
        ),
        Some((None, e)) => (
            e.status(),
            Some(e.message.clone()),
            form::form_view(specs, Source::Blank, None, records, String::new()),
        ),
        None => (
            StatusCode::OK,
            None,
            form::form_view(specs, Source::Blank, None, records, String::new()),
        ),
    }
}

fn text(doc: &Value, key: &str) -> String {
    doc.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn midnight_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |d| d.and_utc().timestamp_millis())
}

pub struct EventView {
    title: String,
    description: String,
    /// `DD.MM.YYYY`.
    day: String,
    /// The linked note: (title, page).
    note: Option<(String, String)>,
    /// Its edit page.
    edit: String,
    delete: String,
}

impl EventView {
    fn of(m: &record::Model, notes: &[(String, String)]) -> Self {
        let doc = service::view(m);
        let date = text(&doc, "date");
        let note = Some(text(&doc, "linked_note_id"))
            .filter(|n| !n.is_empty())
            .map(|id| {
                let title = notes
                    .iter()
                    .find(|(n, _)| *n == id)
                    .map_or_else(|| id.clone(), |(_, t)| t.clone());
                (title, NOTES.item_href(&id))
            });
        Self {
            title: text(&doc, "title"),
            description: text(&doc, "description"),
            day: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_or(date, |d| d.format("%d.%m.%Y").to_string()),
            note,
            edit: CALENDAR_EVENTS.item_href(&m.id),
            delete: CALENDAR_EVENTS.delete_href(&m.id),
        }
    }
}

pub struct DayView {
    day: u32,
    date: String,
    in_month: bool,
    today: bool,
    events: Vec<EventView>,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    layout: Layout,
    /// The month's name, or the week's days.
    month_label: String,
    back: String,
    prev: String,
    next: String,
    /// The same place as a month and as a week.
    month_view: String,
    week_view: String,
    /// The week view is shown.
    weekly: bool,
    weeks: Vec<Vec<DayView>>,
    /// Before today, the latest first.
    missed: Vec<EventView>,
    /// Today and later, the soonest first.
    upcoming: Vec<EventView>,
    notice: Option<String>,
    error: Option<String>,
    form: FormView,
}

/// The first day of `YYYY-MM`, or of the current month.
fn month_start(month: Option<&str>) -> NaiveDate {
    month
        .and_then(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok())
        .unwrap_or_else(|| {
            let today = chrono::Utc::now().date_naive();
            today.with_day(1).unwrap_or(today)
        })
}

/// What the calendar shows: a month (by its first day) or a week (by its Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Month(NaiveDate),
    Week(NaiveDate),
}

/// The Monday of the week holding `day`.
fn monday_of(day: NaiveDate) -> NaiveDate {
    day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))
}

impl Span {
    /// The week holding `day`.
    fn week_of(day: NaiveDate) -> Self {
        Self::Week(monday_of(day))
    }

    /// The first day drawn and how many weeks are drawn (a month's grid starts on the
    /// Monday of its first week).
    fn grid(self) -> (NaiveDate, u64) {
        match self {
            Self::Month(first) => {
                let start = monday_of(first);
                let end = first + Months::new(1);
                (start, ((end - start).num_days().max(0) as u64).div_ceil(7))
            }
            Self::Week(monday) => (monday, 1),
        }
    }

    fn href(self) -> String {
        match self {
            Self::Month(first) => {
                format!("/workspace/calendar?month={}", first.format("%Y-%m"))
            }
            Self::Week(monday) => format!("/workspace/calendar?view=week&week={monday}"),
        }
    }

    fn label(self) -> String {
        match self {
            Self::Month(first) => first.format("%B %Y").to_string(),
            Self::Week(monday) => format!(
                "Week of {} – {}",
                monday.format("%d.%m.%Y"),
                (monday + chrono::Days::new(6)).format("%d.%m.%Y")
            ),
        }
    }

    /// The span before and the span after.
    fn neighbours(self) -> (Self, Self) {
        match self {
            Self::Month(first) => (
                Self::Month(first - Months::new(1)),
                Self::Month(first + Months::new(1)),
            ),
            Self::Week(monday) => (
                Self::Week(monday - chrono::Days::new(7)),
                Self::Week(monday + chrono::Days::new(7)),
            ),
        }
    }

    /// Whether `day` belongs to the span (a month's grid also shows its neighbours' days).
    fn holds(self, day: NaiveDate) -> bool {
        match self {
            Self::Month(first) => day.year() == first.year() && day.month() == first.month(),
            Self::Week(_) => true,
        }
    }

    /// The same place as a month and as a week: the month of the week's Monday; the week
    /// of today when it falls in the month, else of the month's first day.
    fn views(self, today: NaiveDate) -> (Self, Self) {
        match self {
            Self::Month(first) => {
                let day = if self.holds(today) { today } else { first };
                (self, Self::week_of(day))
            }
            Self::Week(monday) => (Self::Month(monday.with_day(1).unwrap_or(monday)), self),
        }
    }
}

async fn calendar_response(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    span: Span,
    notice: Option<&str>,
    failed: Failed<'_>,
) -> Response {
    let (grid_start, weeks_shown) = span.grid();
    let grid_end = grid_start + chrono::Days::new(7 * weeks_shown);
    let query = ListQuery {
        from: Some(midnight_ms(grid_start)),
        to: Some(midnight_ms(grid_end)),
        sort: SortKey::Date,
        ..all()
    };
    let today = chrono::Utc::now().date_naive();
    let loaded = async {
        let (models, _) = service::list(state, auth, Kind::CalendarEvent, &query).await?;
        let notes = labels(state, auth, Kind::Note).await?;
        // Missed: before today, the latest first; upcoming: today and later, the soonest first.
        let agenda = |from: Option<i64>, to: Option<i64>, descending: bool| ListQuery {
            from,
            to,
            sort: SortKey::Date,
            descending,
            limit: AGENDA_LIMIT,
            ..ListQuery::default()
        };
        let midnight = midnight_ms(today);
        let (missed, _) = service::list(
            state,
            auth,
            Kind::CalendarEvent,
            &agenda(None, Some(midnight), true),
        )
        .await?;
        let (upcoming, _) = service::list(
            state,
            auth,
            Kind::CalendarEvent,
            &agenda(Some(midnight), None, false),
        )
        .await?;
        Ok::<_, ApiError>((models, notes, missed, upcoming))
    };
    let (models, notes, missed, upcoming) = match loaded.await {
        Ok(v) => v,
        Err(e) => return PageError::from(e).into_response(),
    };
    let back = span.href();
    let mut by_day: HashMap<String, Vec<EventView>> = HashMap::new();
    for m in &models {
        by_day
            .entry(text(&service::view(m), "date"))
            .or_default()
            .push(EventView::of(m, &notes));
    }
    let weeks = (0..weeks_shown)
        .map(|w| {
            (0..7)
                .map(|d| {
                    let day = grid_start + chrono::Days::new(w * 7 + d);
                    let date = day.format("%Y-%m-%d").to_string();
                    DayView {
                        day: day.day(),
                        events: by_day.remove(&date).unwrap_or_default(),
                        date,
                        in_month: span.holds(day),
                        today: day == today,
                    }
                })
                .collect()
        })
        .collect();
    let (status, error, form) = form_after(EVENT_FIELDS, &failed, &notes);
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        &back,
        "calendar",
        &[
            ("Workspace", None),
            ("Calendar", Some("/workspace/calendar")),
        ],
    )
    .await;
    let view = CalendarPage {
        layout,
        month_label: span.label(),
        prev: span.neighbours().0.href(),
        next: span.neighbours().1.href(),
        month_view: span.views(today).0.href(),
        week_view: span.views(today).1.href(),
        weekly: matches!(span, Span::Week(_)),
        back,
        weeks,
        missed: missed.iter().map(|m| EventView::of(m, &notes)).collect(),
        upcoming: upcoming.iter().map(|m| EventView::of(m, &notes)).collect(),
        notice: notice.and_then(|n| notice_text(Kind::CalendarEvent, n)),
        error,
        form,
    };
    csrf.attach((status, render(&view)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
    /// `week` for the week view, of the week holding `week` (`YYYY-MM-DD`) or today.
    view: Option<String>,
    week: Option<String>,
    notice: Option<String>,
}

pub async fn calendar(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<MonthQuery>,
) -> Response {
    let span = match q.view.as_deref() {
        Some("week") => Span::week_of(
            q.week
                .as_deref()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .unwrap_or_else(|| chrono::Utc::now().date_naive()),
        ),
        _ => Span::Month(month_start(q.month.as_deref())),
    };
    calendar_response(&state, &auth, &headers, span, q.notice.as_deref(), None).await
}

pub async fn create_event(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(posted): CsrfForm<Posted>,
) -> Response {
    // The month of the event's day is shown next (the day is `YYYY-MM-DD`).
    let span = Span::Month(month_start(posted.get("date").and_then(|d| d.get(..7))));
    let created = async {
        let body = form::body(EVENT_FIELDS, &posted, Mode::Create)?;
        service::create(&state, &auth, Kind::CalendarEvent, body).await
    };
    match created.await {
        Ok(_) => Redirect::to(&with_notice(&span.href(), "created")).into_response(),
        Err(e) => {
            let failed = Some((Some(&posted), e));
            calendar_response(&state, &auth, &headers, span, None, failed).await
        }
    }
}

pub struct TaskView {
    title: String,
    description: String,
    /// `DD.MM.YYYY`, or the text stored when it is not a date.
    due: String,
    /// Due before today (UTC) and not done.
    overdue: bool,
    action: String,
    /// Its edit page.
    edit: String,
    delete: String,
    /// The other columns, as (status, label).
    moves: Vec<(&'static str, &'static str)>,
}

pub struct ColumnView {
    status: &'static str,
    label: &'static str,
    tasks: Vec<TaskView>,
}

#[derive(Template)]
#[template(path = "kanban.html")]
struct KanbanPage {
    layout: Layout,
    columns: Vec<ColumnView>,
    notice: Option<String>,
    error: Option<String>,
    form: FormView,
}

fn order_of(doc: &Value) -> i64 {
    doc.get("order").and_then(Value::as_i64).unwrap_or(0)
}

async fn kanban_response(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    notice: Option<&str>,
    column: Option<&str>,
    failed: Failed<'_>,
) -> Response {
    let models = match service::list(state, auth, Kind::KanbanTask, &all()).await {
        Ok((models, _)) => models,
        Err(e) => return PageError::from(e).into_response(),
    };
    let mut docs: Vec<Value> = models.iter().map(service::view).collect();
    docs.sort_by_key(order_of);
    let today = chrono::Utc::now().date_naive();
    let columns = COLUMNS
        .iter()
        .map(|&(status, label)| ColumnView {
            status,
            label,
            tasks: docs
                .iter()
                .filter(|d| text(d, "status") == status)
                .map(|d| {
                    let id = seg(&text(d, "id"));
                    let due = text(d, "due_date");
                    let due_day = chrono::NaiveDate::parse_from_str(&due, "%Y-%m-%d").ok();
                    TaskView {
                        title: text(d, "title"),
                        description: text(d, "description"),
                        overdue: status != "done" && due_day.is_some_and(|day| day < today),
                        due: due_day.map_or(due, |day| day.format("%d.%m.%Y").to_string()),
                        action: format!("/workspace/kanban/{id}/move"),
                        edit: format!("/workspace/kanban/{id}"),
                        delete: format!("/workspace/kanban/{id}/delete"),
                        moves: COLUMNS
                            .iter()
                            .copied()
                            .filter(|(s, _)| *s != status)
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    let (status, error, mut form) = form_after(TASK_FIELDS, &failed, &[]);
    if let Some(column) = column.filter(|_| failed.is_none()) {
        let chosen = Posted::from([("status".to_owned(), column.to_owned())]);
        form = form::form_view(
            TASK_FIELDS,
            Source::Posted(&chosen),
            None,
            &[],
            String::new(),
        );
    }
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/workspace/kanban",
        "kanban",
        &[("Workspace", None), ("Kanban", Some("/workspace/kanban"))],
    )
    .await;
    let view = KanbanPage {
        layout,
        columns,
        notice: notice.and_then(|n| notice_text(Kind::KanbanTask, n)),
        error,
        form,
    };
    csrf.attach((status, render(&view)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
    /// The column a new task goes to (a column's *New* link).
    column: Option<String>,
}

pub async fn kanban(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<NoticeQuery>,
) -> Response {
    let column = q.column.as_deref().filter(|c| STATUSES.contains(c));
    kanban_response(&state, &auth, &headers, q.notice.as_deref(), column, None).await
}

/// The `order` that puts a task last in column `status`.
async fn next_order(state: &AppState, auth: &Auth, status: &str) -> ApiResult<i64> {
    let query = ListQuery {
        status: Some(status.to_owned()),
        ..all()
    };
    let (models, _) = service::list(state, auth, Kind::KanbanTask, &query).await?;
    Ok(models
        .iter()
        .map(|m| order_of(&service::view(m)))
        .max()
        .map_or(1, |o| o + 1))
}

pub async fn create_task(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(posted): CsrfForm<Posted>,
) -> Response {
    let created = async {
        let mut body = form::body(TASK_FIELDS, &posted, Mode::Create)?;
        let status = text(&body, "status");
        body["order"] = Value::from(next_order(&state, &auth, &status).await?);
        service::create(&state, &auth, Kind::KanbanTask, body).await
    };
    match created.await {
        Ok(_) => Redirect::to(&with_notice("/workspace/kanban", "created")).into_response(),
        Err(e) => {
            let failed = Some((Some(&posted), e));
            kanban_response(&state, &auth, &headers, None, None, failed).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    status: String,
}

pub async fn move_task(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> Response {
    let moved = async {
        let order = next_order(&state, &auth, &form.status).await?;
        let body = serde_json::json!({ "status": form.status, "order": order });
        service::patch(&state, &auth, Kind::KanbanTask, &id, body, None).await
    };
    match moved.await {
        Ok(_) => Redirect::to(&with_notice("/workspace/kanban", "moved")).into_response(),
        Err(e) => kanban_response(&state, &auth, &headers, None, None, Some((None, e))).await,
    }
}
