//! The Secrets page: the tenant's secrets (metadata only) and bindings; admins create and
//! rotate secrets, bind and unbind them. The value is sealed in the browser (`vault.js`,
//! WebCrypto) to the recipients' public keys: the form posts ciphertext envelopes only, and
//! the page never receives a plaintext from the server, which has none.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use botmox_proto::validate::Validate;
use botmox_proto::vault::{
    BindingQuery, BindingScope, BindingView, CreateBindingRequest, CreateSecretRequest,
    RecipientKey, RotateSecretRequest, SealedEnvelope, SecretMeta,
};
use serde::{Deserialize, Serialize};

use super::error_page::PageError;
use super::layout::{Layout, render};
use super::refusal::Refusal;
use super::session::{CsrfForm, EmptyForm, UiAdmin, UiUser};
use crate::http::ApiError;
use crate::principal::Auth;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};
use crate::vault::service;

#[derive(Template)]
#[template(path = "secrets.html")]
struct SecretsPage {
    layout: Layout,
    /// Sealed into every ciphertext (with the secret id and field).
    tenant: String,
    secrets: Vec<SecretMeta>,
    bindings: Vec<BindingView>,
    recipients: Vec<RecipientKey>,
    scopes: Vec<&'static str>,
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

impl SecretsPage {
    /// Whether `secret` is sealed to `recipient` (its rotate form starts with those ticked).
    fn sealed_to(&self, secret: &SecretMeta, recipient: &str) -> bool {
        secret.recipients.iter().any(|r| r.recipient == recipient)
    }

    /// The label of the secret a binding names.
    fn label_of(&self, id: &str) -> String {
        self.secrets
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.label.clone())
            .unwrap_or_else(|| id.to_owned())
    }
}

async fn page(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    status: StatusCode,
    notice: Option<String>,
    refusal: Refusal,
) -> Response {
    let loaded = async {
        Ok::<_, ApiError>((
            service::list(&state.db, auth).await?,
            service::list_bindings(&state.db, auth, BindingQuery::default()).await?,
            service::recipients(&state.db, auth.tenant()).await?,
        ))
    };
    let (secrets, bindings, recipients) = match loaded.await {
        Ok(all) => all,
        Err(e) => return PageError::from(e).into_response(),
    };
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/secrets",
        "secrets",
        &[("Operations", None), ("Secrets", None)],
    )
    .await;
    let body = SecretsPage {
        layout,
        tenant: auth.tenant().as_str().to_owned(),
        secrets,
        bindings,
        recipients,
        scopes: BindingScope::ALL.iter().map(|s| s.as_str()).collect(),
        notice,
        error: refusal.banner(),
        refusal,
    };
    csrf.attach((status, render(&body)).into_response())
}

/// The page again with what went wrong: each field's problem beside its input, the rest
/// above the page.
async fn refused(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    status: StatusCode,
    refusal: Refusal,
) -> Response {
    page(state, auth, headers, status, None, refusal).await
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

pub async fn secrets_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<NoticeQuery>,
) -> Response {
    let notice = match q.notice.as_deref() {
        Some("created") => Some("Secret stored (sealed in this browser)."),
        Some("rotated") => Some("Secret rotated."),
        Some("deleted") => Some("Secret deleted."),
        Some("bound") => Some("Binding saved."),
        Some("unbound") => Some("Binding removed."),
        _ => None,
    };
    page(
        &state,
        &auth,
        &headers,
        StatusCode::OK,
        notice.map(str::to_owned),
        Refusal::none(),
    )
    .await
}

/// The envelopes the page's script put in the form, as JSON.
fn envelopes(json: &str) -> Result<Vec<SealedEnvelope>, ApiError> {
    serde_json::from_str(json).map_err(|_| {
        ApiError::field(
            "envelopes",
            "were not sealed in the browser (is JavaScript on?)",
        )
    })
}

/// What the create form posts: no value, only what the browser sealed.
#[derive(Deserialize, Serialize)]
pub struct CreateForm {
    id: String,
    label: String,
    field: String,
    envelopes: String,
}

pub async fn create(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Response {
    let created = async {
        let request = CreateSecretRequest {
            id: form.id.clone(),
            label: form.label.clone(),
            field: form.field.trim().to_owned(),
            envelopes: envelopes(&form.envelopes)?,
        };
        request.validate()?;
        service::create(&state.db, &admin, request).await
    };
    match created.await {
        Ok(_) => Redirect::to("/secrets?notice=created").into_response(),
        Err(e) => {
            let refusal = Refusal::new("secret-create", &form, &e).unshown("id");
            refused(&state, &admin, &headers, e.status(), refusal).await
        }
    }
}

#[derive(Deserialize, Serialize)]
pub struct RotateForm {
    #[serde(default)]
    label: String,
    envelopes: String,
}

pub async fn rotate(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<RotateForm>,
) -> Response {
    let rotated = async {
        let request = RotateSecretRequest {
            label: Some(form.label.trim().to_owned()).filter(|l| !l.is_empty()),
            envelopes: envelopes(&form.envelopes)?,
        };
        request.validate()?;
        service::rotate(&state.db, &admin, &id, request).await
    };
    match rotated.await {
        Ok(_) => Redirect::to("/secrets?notice=rotated").into_response(),
        Err(e) => {
            let refusal = Refusal::new("secret-rotate", &form, &e).on_row(&id);
            refused(&state, &admin, &headers, e.status(), refusal).await
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    match service::delete(&state.db, &admin, &id).await {
        Ok(()) => Redirect::to("/secrets?notice=deleted").into_response(),
        Err(e) => refused(&state, &admin, &headers, e.status(), Refusal::message(&e)).await,
    }
}

#[derive(Deserialize, Serialize)]
pub struct BindForm {
    scope_type: String,
    scope_id: String,
    secret_ref: String,
}

pub async fn bind(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<BindForm>,
) -> Response {
    let bound = async {
        let request = CreateBindingRequest {
            scope_type: form
                .scope_type
                .parse()
                .map_err(|e: String| ApiError::field("scope_type", e))?,
            scope_id: form.scope_id.clone(),
            secret_ref: form.secret_ref.clone(),
            field_name: None,
        };
        request.validate()?;
        service::create_binding(&state.db, &admin, request).await
    };
    match bound.await {
        Ok(_) => Redirect::to("/secrets?notice=bound").into_response(),
        Err(e) => {
            let refusal = Refusal::new("binding-create", &form, &e);
            refused(&state, &admin, &headers, e.status(), refusal).await
        }
    }
}

pub async fn unbind(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    match service::delete_binding(&state.db, &admin, &id).await {
        Ok(()) => Redirect::to("/secrets?notice=unbound").into_response(),
        Err(e) => refused(&state, &admin, &headers, e.status(), Refusal::message(&e)).await,
    }
}
