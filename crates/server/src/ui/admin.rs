//! Administration pages: users and API tokens, and the audit log.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::auth::{
    ApiTokenView, AuditEntry, CreateApiTokenRequest, CreateUserRequest, PatchUserRequest, Role,
    UserView,
};
use serde::{Deserialize, Serialize};

use super::error_page::PageResult;
use super::layout::{Layout, render};
use super::refusal::Refusal;
use super::session::EmptyForm;
use super::session::{CsrfForm, UiAdmin};
use crate::audit::AuditSlot;
use crate::http::ApiError;
use crate::principal::Admin;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};
use crate::{api_tokens, audit, users};

const ROLES: [&str; 3] = ["user", "infra", "admin"];
const RESULTS: [&str; 3] = ["ok", "denied", "error"];
const TABLE_LIMIT: u64 = 200;

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserView>,
    tokens: Vec<ApiTokenView>,
    roles: [&'static str; 3],
    notice: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
    refusal: Refusal,
}

struct Feedback {
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
    refusal: Refusal,
}

async fn users_response(
    state: &AppState,
    admin: &Admin,
    headers: &HeaderMap,
    feedback: Feedback,
) -> PageResult {
    let (layout, csrf) = Layout::new(
        state,
        admin,
        headers,
        "/admin/users",
        "users",
        &[("Administration", None), ("Users & API tokens", None)],
    )
    .await;
    let (users, _) = users::service::list(&state.db, admin, 1, TABLE_LIMIT).await?;
    let (tokens, _) = api_tokens::service::list(&state.db, admin, 1, TABLE_LIMIT).await?;
    let page = UsersPage {
        layout,
        users: users.into_iter().map(users::service::view).collect(),
        tokens: tokens.into_iter().map(api_tokens::service::view).collect(),
        roles: ROLES,
        notice: feedback.notice,
        error: feedback.error,
        new_token: feedback.new_token,
        refusal: feedback.refusal,
    };
    Ok(csrf.attach((feedback.status, render(&page)).into_response()))
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(key: &str) -> Option<String> {
    Some(
        match key {
            "user-created" => "User added.",
            "user-updated" => "User updated.",
            "token-revoked" => "Token revoked.",
            _ => return None,
        }
        .into(),
    )
}

pub async fn users_page(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PageQuery(q): PageQuery<NoticeQuery>,
) -> PageResult {
    let notice = q.notice.as_deref().and_then(notice_text);
    users_response(
        &state,
        &admin,
        &headers,
        Feedback {
            status: StatusCode::OK,
            notice,
            error: None,
            new_token: None,
            refusal: Refusal::none(),
        },
    )
    .await
}

/// The page again, showing why a form was refused, with what was typed into it.
async fn failed(
    state: &AppState,
    admin: &Admin,
    headers: &HeaderMap,
    status: StatusCode,
    refusal: Refusal,
) -> PageResult {
    users_response(
        state,
        admin,
        headers,
        Feedback {
            status,
            notice: None,
            error: refusal.banner(),
            new_token: None,
            refusal,
        },
    )
    .await
}

#[derive(Deserialize, Serialize)]
pub struct CreateUserForm {
    email: String,
    password: String,
    role: String,
}

pub async fn create_user(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    audit: AuditSlot,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<CreateUserForm>,
) -> PageResult {
    audit.describe(
        "user.create",
        format!("email:{}", form.email.trim().to_lowercase()),
    );
    let result = async {
        let role: Role = form
            .role
            .parse()
            .map_err(|e: String| ApiError::field("role", e))?;
        let request = CreateUserRequest {
            email: form.email.clone(),
            password: form.password.clone(),
            role,
        };
        users::service::create(&state.db, &admin, &request).await
    };
    match result.await {
        Ok(user) => {
            audit.describe("user.create", format!("user:{}", user.id));
            Ok(Redirect::to("/admin/users?notice=user-created").into_response())
        }
        Err(e) => {
            let refusal = Refusal::new("create-user", &form, &e);
            failed(&state, &admin, &headers, e.status(), refusal).await
        }
    }
}

#[derive(Deserialize, Serialize)]
pub struct UpdateUserForm {
    role: Option<String>,
    disabled: Option<String>,
    password: Option<String>,
}

pub async fn update_user(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    audit: AuditSlot,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<UpdateUserForm>,
) -> PageResult {
    audit.describe("user.update", format!("user:{id}"));
    let result = async {
        let role = form
            .role
            .as_deref()
            .map(|r| r.parse::<Role>().map_err(|e| ApiError::field("role", e)))
            .transpose()?;
        let disabled = match form.disabled.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(ApiError::field("disabled", "must be true or false")),
        };
        users::service::patch_user(
            &state,
            &admin,
            &id,
            PatchUserRequest {
                role,
                disabled,
                password: form.password.clone(),
            },
        )
        .await
    };
    match result.await {
        Ok(_) => Ok(Redirect::to("/admin/users?notice=user-updated").into_response()),
        Err(e) if e.code == botmox_proto::ErrorCode::NotFound => Err(e.into()),
        Err(e) => {
            let refusal = Refusal::new("update-user", &form, &e)
                .on_row(&id)
                .unshown("disabled");
            failed(&state, &admin, &headers, e.status(), refusal).await
        }
    }
}

#[derive(Deserialize, Serialize)]
pub struct CreateTokenForm {
    name: String,
    role: String,
    expires_on: Option<String>,
}

/// Creating a token renders the page directly with the secret, so it never travels in a URL.
pub async fn create_token(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    audit: AuditSlot,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<CreateTokenForm>,
) -> PageResult {
    audit.describe("token.create", format!("name:{}", form.name.trim()));
    let result = async {
        let role: Role = form
            .role
            .parse()
            .map_err(|e: String| ApiError::field("role", e))?;
        let expires_at = match form
            .expires_on
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(day) => {
                let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .map_err(|_| ApiError::field("expires_on", "must be a date"))?;
                Some(
                    date.and_hms_opt(0, 0, 0)
                        .map(|d| d.and_utc())
                        .ok_or_else(|| ApiError::field("expires_on", "must be a date"))?,
                )
            }
        };
        api_tokens::service::create(
            &state.db,
            &admin,
            CreateApiTokenRequest {
                name: form.name.clone(),
                role,
                expires_at,
            },
        )
        .await
    };
    match result.await {
        Ok(created) => {
            audit.describe("token.create", format!("token:{}", created.view.id));
            let feedback = Feedback {
                status: StatusCode::CREATED,
                notice: None,
                error: None,
                new_token: Some(created.token),
                refusal: Refusal::none(),
            };
            users_response(&state, &admin, &headers, feedback).await
        }
        Err(e) => {
            let refusal = Refusal::new("create-token", &form, &e);
            failed(&state, &admin, &headers, e.status(), refusal).await
        }
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    audit: AuditSlot,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> PageResult {
    audit.describe("token.revoke", format!("token:{id}"));
    match api_tokens::service::revoke(&state, &admin, &id).await {
        Ok(_) => Ok(Redirect::to("/admin/users?notice=token-revoked").into_response()),
        Err(e) if e.code == botmox_proto::ErrorCode::NotFound => Err(e.into()),
        Err(e) => {
            let refusal = Refusal::message(&e);
            failed(&state, &admin, &headers, e.status(), refusal).await
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditEntry>,
    action: String,
    actor: String,
    result: String,
    results: [&'static str; 3],
    total: u64,
    page: u64,
    pages: u64,
    prev: Option<String>,
    next: Option<String>,
}

pub async fn audit_page(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PageQuery(q): PageQuery<audit::routes::AuditQuery>,
) -> PageResult {
    let limit = 50;
    let page = q.page.unwrap_or(1).clamp(1, crate::http::paging::MAX_PAGE);
    let filter = q.filter()?;
    let (entries, total) =
        audit::store::list(&state.db, admin.tenant(), &filter, page, limit).await?;
    let pages = total.div_ceil(limit).max(1);
    let link = |p: u64| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("action", &filter.action),
            ("actor", &filter.actor),
            ("result", &filter.result),
        ] {
            if let Some(v) = value {
                query.append_pair(key, v);
            }
        }
        query.append_pair("page", &p.to_string());
        format!("/admin/audit?{}", query.finish())
    };
    let (layout, csrf) = Layout::new(
        &state,
        &admin,
        &headers,
        "/admin/audit",
        "audit",
        &[("Administration", None), ("Audit log", None)],
    )
    .await;
    let view = AuditPage {
        layout,
        entries,
        action: filter.action.clone().unwrap_or_default(),
        actor: filter.actor.clone().unwrap_or_default(),
        result: filter.result.clone().unwrap_or_default(),
        results: RESULTS,
        total,
        page,
        pages,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    };
    Ok(csrf.attach(render(&view)))
}
