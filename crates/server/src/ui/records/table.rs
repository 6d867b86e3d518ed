//! One table page for every record kind that is a plain list (licences, proxies,
//! subscriptions, notes, bots): a [`TableSpec`] names the columns, filters and form inputs,
//! and the handlers here list (sorted, filtered and paged by the database through
//! `ListParams`), create, edit and delete records of any such kind.

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::common::{Ctx, list_page, with_notice};
use super::form::{self, FieldSpec, FormView, Mode, Opt, Posted, Source};
use super::proxy_paste;
use super::rows::{RowView, rows};
use super::spec::TableSpec;
use crate::db::entity::record;
use crate::http::ApiError;
use crate::principal::Auth;
use crate::records::documents::routes::ListParams;
use crate::records::documents::service;
use crate::records::documents::store::ListQuery;
use crate::records::kinds::Kind;
use crate::state::AppState;
use crate::ui::error_page::PageError;
use crate::ui::layout::{Layout, render};
use crate::ui::markdown;

/// Rows per page a table offers; the first is its default.
const PAGE_SIZES: [u64; 4] = [20, 10, 50, 100];

#[derive(Debug, Default, Deserialize)]
pub struct TableQuery {
    q: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    r#type: Option<String>,
    /// Only records of this project (the Project page links here).
    project_id: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<u64>,
    /// Rows per page, one of [`PAGE_SIZES`].
    limit: Option<u64>,
    notice: Option<String>,
}

impl TableQuery {
    fn filter(&self, param: &str) -> Option<&str> {
        match param {
            "status" => self.status.as_deref(),
            "type" => self.r#type.as_deref(),
            _ => None,
        }
        .filter(|v| !v.is_empty())
    }

    /// The status the table is filtered to, if any.
    pub fn status_filter(&self) -> Option<&str> {
        self.filter("status")
    }

    /// The notice key after a redirect (`deleted`, ...).
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Rows per page: the one asked for, or the default; another number is refused.
    fn page_size(&self) -> Result<u64, ApiError> {
        match self.limit {
            None => Ok(PAGE_SIZES[0]),
            Some(n) if PAGE_SIZES.contains(&n) => Ok(n),
            Some(_) => Err(ApiError::bad_request(
                "Rows per page must be 10, 20, 50 or 100",
            )),
        }
    }

    /// This listing's URL (at `base`) with another sort, order and page.
    fn href(&self, spec: &TableSpec, base: &str, sort: &str, order: &str, page: u64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(q) = self.q.as_deref().filter(|q| !q.is_empty()) {
            query.append_pair("q", q);
        }
        for f in spec.filters {
            if let Some(v) = self.filter(f.param) {
                query.append_pair(f.param, v);
            }
        }
        if let Some(p) = self.project_id.as_deref().filter(|p| !p.is_empty()) {
            query.append_pair("project_id", p);
        }
        if let Some(limit) = self.limit {
            query.append_pair("limit", &limit.to_string());
        }
        query
            .append_pair("sort", sort)
            .append_pair("order", order)
            .append_pair("page", &page.to_string());
        format!("{base}?{}", query.finish())
    }
}

pub struct HeaderView {
    pub label: &'static str,
    pub key: &'static str,
    pub href: Option<String>,
    pub arrow: &'static str,
}

pub struct FilterView {
    pub param: &'static str,
    pub label: &'static str,
    pub options: Vec<Opt>,
}

/// A table of records with its filter form and pager, as `records_list.html` draws it: the
/// table pages and the Project page's accounts table.
pub struct ListView {
    /// The listing's URL: the filter form posts here and links lead back here.
    pub path: String,
    pub noun: &'static str,
    pub open_label: &'static str,
    pub q: String,
    /// Kept across filter submissions (`/bots?project_id=...`).
    pub project_id: String,
    /// With a project column: the filter's choices ("All" and each project), else empty
    /// (and `project_id` rides along hidden).
    pub projects: Vec<Opt>,
    pub sort: String,
    pub order: &'static str,
    pub filters: Vec<FilterView>,
    pub headers: Vec<HeaderView>,
    pub rows: Vec<RowView>,
    pub total: u64,
    pub page: u64,
    pub pages: u64,
    /// The page size choices, the current one selected.
    pub sizes: Vec<(u64, bool)>,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// Where a row's deletion returns to: this listing as shown.
    pub back: String,
}

#[derive(Template)]
#[template(path = "records_table.html")]
struct TablePage {
    layout: Layout,
    slug: &'static str,
    noun: &'static str,
    list: ListView,
    notice: Option<String>,
    form: FormView,
}

/// The table of `spec`'s records as `tq` asks, listed at `base` (whose URL names the project
/// when `project` is given: the Project page), with `ctx` (loaded for the page; what is
/// attached to the rows' bots is read here when the columns show it).
#[allow(clippy::too_many_arguments)]
pub async fn list_view(
    spec: &'static TableSpec,
    base: &str,
    project: Option<&str>,
    state: &AppState,
    auth: &Auth,
    tq: &TableQuery,
    projects: &[(String, String)],
    ctx: &mut Ctx,
) -> Result<ListView, ApiError> {
    let sort = tq
        .sort
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| spec.default_sort.0.into());
    let descending = match tq.order.as_deref() {
        Some(o) if !o.is_empty() => o == "desc",
        _ => tq.sort.is_none() && spec.default_sort.1,
    };
    let order = if descending { "desc" } else { "asc" };
    let page_size = tq.page_size()?;
    let params = ListParams {
        q: tq.q.clone(),
        status: tq.filter("status").map(str::to_owned),
        r#type: tq.filter("type").map(str::to_owned),
        project_id: project
            .map(str::to_owned)
            .or_else(|| tq.project_id.clone().filter(|p| !p.is_empty())),
        sort: Some(sort.clone()),
        order: tq.order.clone().or(Some(order.into())),
        page: tq.page,
        limit: Some(page_size),
        ..ListParams::default()
    };
    let mut query = ListQuery {
        expiry: Some(ctx.window),
        status_first: spec.status_first,
        ..params.resolve()?
    };
    let (models, total, pages) = list_page(state, auth, spec.kind, &mut query).await?;
    let attached = spec.attached_kinds();
    if !attached.is_empty() {
        ctx.load_attached(state, auth, &attached, &models).await?;
    }
    let page = query.page;
    let headers = spec
        .columns
        .iter()
        .map(|c| HeaderView {
            label: c.label,
            key: c.sort.unwrap_or_default(),
            href: c.sort.map(|key| {
                let flip = key == sort && !descending;
                tq.href(spec, base, key, if flip { "desc" } else { "asc" }, 1)
            }),
            arrow: match c.sort {
                Some(key) if key == sort => {
                    if descending {
                        " ▼"
                    } else {
                        " ▲"
                    }
                }
                _ => "",
            },
        })
        .collect();
    let filters = spec
        .filters
        .iter()
        .map(|f| {
            let current = tq.filter(f.param).unwrap_or_default();
            let mut options = vec![Opt {
                value: String::new(),
                label: "All".into(),
                selected: current.is_empty(),
            }];
            options.extend(f.options.iter().map(|o| Opt {
                value: (*o).into(),
                label: o.replace('_', " "),
                selected: *o == current,
            }));
            FilterView {
                param: f.param,
                label: f.label,
                options,
            }
        })
        .collect();
    let project_id = tq.project_id.clone().unwrap_or_default();
    let projects = if spec.columns.iter().any(|c| c.sort == Some("project_id")) {
        let mut choices = vec![Opt {
            value: String::new(),
            label: "All".into(),
            selected: project_id.is_empty(),
        }];
        choices.extend(projects.iter().map(|(id, name)| Opt {
            value: id.clone(),
            label: name.clone(),
            selected: *id == project_id,
        }));
        choices
    } else {
        Vec::new()
    };
    Ok(ListView {
        path: base.to_owned(),
        noun: spec.kind.label(),
        open_label: if spec.item_path == spec.path {
            "Edit"
        } else {
            "Open"
        },
        q: tq.q.clone().unwrap_or_default(),
        project_id,
        projects,
        rows: rows(spec, &models, ctx),
        total,
        page,
        pages,
        sizes: PAGE_SIZES.iter().map(|&n| (n, n == page_size)).collect(),
        prev: (page > 1).then(|| tq.href(spec, base, &sort, order, page - 1)),
        next: (page < pages).then(|| tq.href(spec, base, &sort, order, page + 1)),
        back: tq.href(spec, base, &sort, order, page),
        sort,
        order,
        filters,
        headers,
    })
}

/// The list page; `failed` re-shows the create form with what was typed and what was wrong.
async fn table_response(
    spec: &'static TableSpec,
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    tq: TableQuery,
    failed: Option<(&Posted, ApiError)>,
) -> Response {
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        spec.path,
        spec.active,
        &[(spec.section, None), (spec.title, Some(spec.path))],
    )
    .await;
    let loaded = async {
        let mut ctx = Ctx::load(state, auth, spec.named_kind()).await?;
        let list = list_view(
            spec,
            spec.path,
            None,
            state,
            auth,
            &tq,
            &layout.projects,
            &mut ctx,
        )
        .await?;
        Ok::<_, ApiError>((list, ctx))
    };
    let (list, ctx) = match loaded.await {
        Ok(v) => v,
        Err(e) => return PageError::from(e).into_response(),
    };
    let (status, form) = match &failed {
        Some((posted, e)) => (
            e.status(),
            form::form_view(
                spec.fields,
                Source::Posted(posted),
                Some(e),
                &ctx.records,
                String::new(),
            ),
        ),
        None => (
            StatusCode::OK,
            form::form_view(
                spec.fields,
                Source::Blank,
                None,
                &ctx.records,
                String::new(),
            ),
        ),
    };
    let view = TablePage {
        layout,
        slug: spec.slug,
        noun: spec.kind.label(),
        list,
        notice: tq
            .notice
            .as_deref()
            .and_then(|n| super::common::notice_text(spec.kind, n)),
        form,
    };
    csrf.attach((status, render(&view)).into_response())
}

pub async fn list(
    spec: &'static TableSpec,
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    tq: TableQuery,
) -> Response {
    table_response(spec, &state, &auth, &headers, tq, None).await
}

pub async fn create(
    spec: &'static TableSpec,
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    posted: Posted,
) -> Response {
    let created = async {
        let body = form::body(spec.fields, &expanded(spec.fields, &posted)?, Mode::Create)?;
        service::create(&state, &auth, spec.kind, body).await
    };
    match created.await {
        Ok(m) if spec.item_path != spec.path => {
            Redirect::to(&with_notice(&spec.item_href(&m.id), "created")).into_response()
        }
        Ok(_) => Redirect::to(&with_notice(spec.path, "created")).into_response(),
        Err(e) => {
            let tq = TableQuery::default();
            table_response(spec, &state, &auth, &headers, tq, Some((&posted, e))).await
        }
    }
}

#[derive(Template)]
#[template(path = "records_edit.html")]
struct EditPage {
    layout: Layout,
    slug: &'static str,
    noun: &'static str,
    action: String,
    delete: String,
    back: &'static str,
    form: FormView,
    /// A note's content as HTML (`ui::markdown`).
    preview: Option<String>,
}

/// The edit page of one record; `failed` re-shows what was typed and what was wrong.
async fn edit_response(
    spec: &'static TableSpec,
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    id: &str,
    failed: Option<(&Posted, ApiError)>,
) -> Response {
    let loaded = async {
        let m = service::get(state, auth, spec.kind, id).await?;
        let ctx = Ctx::load(state, auth, spec.named_kind()).await?;
        Ok::<_, ApiError>((m, ctx))
    };
    let (m, ctx) = match loaded.await {
        Ok(v) => v,
        Err(e) => return PageError::from(e).into_response(),
    };
    let doc = service::view(&m);
    let (status, form) = match &failed {
        Some((posted, e)) => {
            let version = posted.get("_version").cloned().unwrap_or_default();
            (
                e.status(),
                form::form_view(
                    spec.fields,
                    Source::Posted(posted),
                    Some(e),
                    &ctx.records,
                    version,
                ),
            )
        }
        None => (
            StatusCode::OK,
            form::form_view(
                spec.fields,
                Source::Record(&doc),
                None,
                &ctx.records,
                service::etag(&m),
            ),
        ),
    };
    let name = spec
        .fields
        .first()
        .and_then(|f| form::value_at(&doc, f.name))
        .map(form::scalar_text)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| m.id.clone());
    let href = spec.item_href(&m.id);
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        &href,
        spec.active,
        &[
            (spec.section, None),
            (spec.title, Some(spec.path)),
            (&name, None),
        ],
    )
    .await;
    let view = EditPage {
        layout,
        slug: spec.slug,
        noun: spec.kind.label(),
        delete: spec.delete_href(&m.id),
        action: href,
        back: spec.path,
        form,
        preview: (spec.kind == Kind::Note)
            .then(|| {
                doc.get("content")
                    .and_then(Value::as_str)
                    .map(markdown::to_html)
            })
            .flatten(),
    };
    csrf.attach((status, render(&view)).into_response())
}

pub async fn edit(
    spec: &'static TableSpec,
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    id: String,
) -> Response {
    edit_response(spec, &state, &auth, &headers, &id, None).await
}

/// Apply a posted edit form to a record, guarded by the version the form was read at.
/// The posted form with a pasted proxy string spread into its inputs, when it has one.
fn expanded(fields: &[FieldSpec], posted: &Posted) -> Result<Posted, ApiError> {
    if fields.iter().any(|f| f.input == form::Input::ProxyPaste) {
        proxy_paste::expand(posted)
    } else {
        Ok(posted.clone())
    }
}

pub async fn patch_from_form(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    fields: &[FieldSpec],
    id: &str,
    posted: &Posted,
) -> Result<record::Model, ApiError> {
    let body = form::body(fields, &expanded(fields, posted)?, Mode::Patch)?;
    let version = posted
        .get("_version")
        .map(String::as_str)
        .filter(|v| !v.is_empty());
    service::patch(state, auth, kind, id, body, version).await
}

pub async fn update(
    spec: &'static TableSpec,
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    id: String,
    posted: Posted,
) -> Response {
    match patch_from_form(&state, &auth, spec.kind, spec.fields, &id, &posted).await {
        Ok(_) => Redirect::to(&with_notice(spec.path, "updated")).into_response(),
        Err(e) => edit_response(spec, &state, &auth, &headers, &id, Some((&posted, e))).await,
    }
}
