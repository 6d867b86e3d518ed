//! A bot's page (`/bot/{id}`, spec ui.md §3.3): the summary tab edits the bot with the
//! version it was read at (a concurrent edit answers 412), and the proxy, licence and
//! subscription tabs list what is attached to the bot and attach or detach records by
//! changing their `bot_id` / `bot_ids`.

use askama::Template;
use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use botmox_proto::ErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{Ctx, all, notice_text, seg, with_notice};
use super::configure;
use super::form::{self, FormView, Mode, Opt, Posted, Source};
use super::lifecycle::{self, HistoryView, LifecycleView};
use super::proxy_paste;
use super::rows::{RowView, bot_ids, display_date, display_time, rows};
use super::spec::TableSpec;
use super::specs::{BOT_FIELDS, BOTS, LICENSES, PROXIES, SUBSCRIPTIONS};
use super::table;
use crate::db::entity::record;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::bots::health::{self, Health};
use crate::records::bots::service as lifecycle_service;
use crate::records::documents::service;
use crate::records::documents::store::ListQuery;
use crate::records::kinds::Kind;
use crate::state::AppState;
use crate::ui::error_page::PageError;
use crate::ui::extract::{PagePath, PageQuery};
use crate::ui::layout::{Layout, render};
use crate::ui::session::EmptyForm;
use crate::ui::session::{CsrfForm, UiUser};
use crate::ui::time;

/// A kind of record that points at bots: by one `bot_id`, or by a `bot_ids` list.
struct Attachment {
    tab: &'static str,
    label: &'static str,
    table: &'static TableSpec,
    many: bool,
}

/// The tab with the health banner, the facts and the bot's main fields.
const SUMMARY: &str = "summary";
/// The tab with the bot's person, account and character.
const CONFIGURE: &str = "configure";
/// The tab with the lifecycle log and archive.
const HISTORY: &str = "history";
/// The tab with the bot's VM.
const VM_INFO: &str = "vm";

const ATTACHMENTS: [Attachment; 3] = [
    Attachment {
        tab: "proxy",
        label: "Proxy",
        table: &PROXIES,
        many: false,
    },
    Attachment {
        tab: "license",
        label: "Licenses",
        table: &LICENSES,
        many: true,
    },
    Attachment {
        tab: "subscription",
        label: "Subscriptions",
        table: &SUBSCRIPTIONS,
        many: false,
    },
];

impl Attachment {
    fn find(tab: &str) -> ApiResult<&'static Attachment> {
        ATTACHMENTS
            .iter()
            .find(|a| a.tab == tab)
            .ok_or_else(|| ApiError::not_found("Tab"))
    }

    fn field(&self) -> &'static str {
        if self.many { "bot_ids" } else { "bot_id" }
    }

    fn holders(&self, doc: &Value) -> Vec<String> {
        bot_ids(doc.get(self.field()))
    }

    /// Records attached to `bot`, and records that could be attached to it.
    async fn load(
        &self,
        state: &AppState,
        auth: &Auth,
        bot: &str,
    ) -> ApiResult<(Vec<record::Model>, Vec<record::Model>)> {
        let kind = self.table.kind;
        let query = ListQuery {
            bot_id: Some(bot.to_owned()),
            ..all()
        };
        let (linked, _) = service::list(state, auth, kind, &query).await?;
        let (models, _) = service::list(state, auth, kind, &all()).await?;
        // A licence serves several bots; a proxy or subscription only an unattached one.
        let free = models
            .into_iter()
            .filter(|m| {
                let holders = self.holders(&service::view(m));
                if self.many {
                    !holders.iter().any(|b| b == bot)
                } else {
                    holders.is_empty()
                }
            })
            .collect();
        Ok((linked, free))
    }

    /// The patch that attaches `bot` to (or detaches it from) the record `doc`.
    fn relink(&self, doc: &Value, bot: &str, attach: bool) -> ApiResult<Value> {
        let mut ids = self.holders(doc);
        let holds = ids.iter().any(|b| b == bot);
        if !attach && !holds {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "This {} is not attached to this bot",
                    self.table.kind.label()
                ),
            ));
        }
        if self.many {
            ids.retain(|b| b != bot);
            if attach {
                ids.push(bot.to_owned());
            }
            return Ok(json!({ "bot_ids": ids }));
        }
        if attach && !ids.is_empty() && !holds {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "This {} is attached to another bot",
                    self.table.kind.label()
                ),
            ));
        }
        Ok(json!({ "bot_id": if attach { Value::from(bot) } else { Value::Null } }))
    }
}

pub struct TabView {
    key: &'static str,
    label: &'static str,
    href: String,
    active: bool,
    /// Why the tab wants attention, shown as a marker.
    warning: Option<&'static str>,
}

pub struct Linked {
    row: RowView,
    detach: String,
}

/// One resource tab: what is attached, and the choice of what to attach.
pub struct ResourcesView {
    tab: &'static str,
    noun: &'static str,
    list_path: &'static str,
    headers: Vec<&'static str>,
    linked: Vec<Linked>,
    options: Vec<Opt>,
    attach: String,
    error: Option<String>,
    /// On the proxy tab: where a pasted proxy string is posted, and what was typed there.
    paste: Option<(String, String)>,
}

/// A fact in the bot page's summary list.
pub enum Fact {
    Text(String),
    /// A moment, drawn as a `<time>` element (localised and "… ago" by `app.js`).
    Time(time::Moment),
    /// A text linked to a page.
    Link(String, String),
}

impl Fact {
    /// Epoch milliseconds as a moment with how long ago it was (as text when out of range).
    fn ago(ms: i64) -> Self {
        chrono::DateTime::from_timestamp_millis(ms).map_or_else(
            || Self::Text(display_time(ms)),
            |t| Self::Time(time::Moment::ago(&t)),
        )
    }
}

#[derive(Template)]
#[template(path = "bot_page.html")]
struct BotPage {
    layout: Layout,
    href: String,
    status: String,
    lifecycle: LifecycleView,
    history: Option<HistoryView>,
    history_error: Option<String>,
    facts: Vec<(&'static str, Fact)>,
    /// The summary tab's banner and alert cards.
    health: Option<Health>,
    tabs: Vec<TabView>,
    notice: Option<String>,
    resources: Option<ResourcesView>,
    /// The VM Info tab.
    vm: Option<VmInfo>,
    configure: Option<configure::ConfigureView>,
    form: Option<FormView>,
}

/// The bot's VM as its VM Info tab shows it (the bot's `vm` object).
pub struct VmInfo {
    /// Name, IP and creation; `None` when no VM is assigned.
    facts: Option<(String, String, Fact)>,
}

impl VmInfo {
    fn of(doc: &Value) -> Self {
        let vm = doc.get("vm").filter(|v| v.is_object());
        let text = |key: &str| {
            vm.and_then(|v| v.get(key))
                .map(form::scalar_text)
                .unwrap_or_default()
        };
        let created = match vm.and_then(|v| v.get("created_at")) {
            Some(Value::Number(n)) => n.as_i64().map_or(Fact::Text(n.to_string()), Fact::ago),
            Some(v) => Fact::Text(form::scalar_text(v)),
            None => Fact::Text("unknown".into()),
        };
        let (name, ip) = (text("name"), text("ip"));
        Self {
            facts: (!name.is_empty() || !ip.is_empty()).then_some((name, ip, created)),
        }
    }
}

/// A failed submission to re-show: the summary form's typed values, or a tab's error.
pub struct Failed<'a> {
    pub posted: Option<&'a Posted>,
    pub error: ApiError,
}

fn row_label(row: &RowView) -> String {
    row.cells
        .iter()
        .map(|c| {
            c.parts
                .iter()
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

async fn resources(
    state: &AppState,
    auth: &Auth,
    bot: &str,
    att: &'static Attachment,
    (error, pasted): (Option<String>, String),
) -> ApiResult<ResourcesView> {
    let (linked, free) = att.load(state, auth, bot).await?;
    let ctx = Ctx::load(state, auth, Some(Kind::Bot)).await?;
    let href = format!("/bot/{}", seg(bot));
    let linked = rows(att.table, &linked, &ctx)
        .into_iter()
        .map(|row| Linked {
            detach: format!("{href}/{}/{}/detach", att.tab, seg(&row.id)),
            row,
        })
        .collect();
    let options = rows(att.table, &free, &ctx)
        .iter()
        .map(|row| Opt {
            value: row.id.clone(),
            label: row_label(row),
            selected: false,
        })
        .collect();
    Ok(ResourcesView {
        tab: att.tab,
        noun: att.table.kind.label(),
        list_path: att.table.path,
        headers: att.table.columns.iter().map(|c| c.label).collect(),
        linked,
        options,
        attach: format!("{href}/{}/attach", att.tab),
        error,
        paste: (att.table.kind == Kind::Proxy).then(|| (format!("{href}/proxy/paste"), pasted)),
    })
}

/// What the bot page shows besides the stored bot: the tab (the summary when `None`) and
/// the Configure section, the sentence after a redirect, a refused form of the summary or a
/// resource tab, what a Configure section typed or generated.
#[derive(Default)]
pub struct Shown<'a> {
    pub tab: Option<&'a str>,
    pub section: Option<&'a str>,
    pub notice: Option<&'a str>,
    pub failed: Option<Failed<'a>>,
    pub configure: Option<configure::Typed>,
}

pub async fn page_response(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    id: &str,
    shown: Shown<'_>,
) -> Response {
    let Shown {
        tab,
        section,
        notice,
        failed,
        configure: typed,
    } = shown;
    let on_history = tab == Some(HISTORY);
    let on_vm = tab == Some(VM_INFO);
    let on_configure = tab == Some(CONFIGURE);
    let att = match tab
        .filter(|t| ![SUMMARY, HISTORY, VM_INFO, CONFIGURE].contains(t))
        .map(Attachment::find)
    {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => return PageError::from(e).into_response(),
    };
    let m = match service::get(state, auth, Kind::Bot, id).await {
        Ok(m) => m,
        Err(e) => return PageError::from(e).into_response(),
    };
    let doc = service::view(&m);
    let text = |key: &str| {
        doc.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let status_code = failed.as_ref().map_or(StatusCode::OK, |f| f.error.status());
    let mut history_error = None;
    let (form, resources) = match att {
        Some(att) => match resources(state, auth, id, att, tab_failure(failed)).await {
            Ok(r) => (None, Some(r)),
            Err(e) => return PageError::from(e).into_response(),
        },
        None if on_history => {
            history_error = failed.map(|f| f.error.message);
            (None, None)
        }
        None if on_vm || on_configure => (None, None),
        None => {
            let (source, version, error) = match &failed {
                Some(Failed {
                    posted: Some(posted),
                    error,
                }) => (
                    Source::Posted(posted),
                    posted.get("_version").cloned().unwrap_or_default(),
                    Some(error),
                ),
                _ => (
                    Source::Record(&doc),
                    service::etag(&m),
                    failed.as_ref().map(|f| &f.error),
                ),
            };
            let form = form::form_view(BOT_FIELDS, source, error, &[], version);
            (Some(form), None)
        }
    };
    let history = if on_history {
        match lifecycle::history(state, auth, id).await {
            Ok(h) => Some(h),
            Err(e) => return PageError::from(e).into_response(),
        }
    } else {
        None
    };
    let configure = if on_configure {
        let version = service::etag(&m);
        match configure::view(state, auth, &doc, version, section, typed).await {
            Ok(view) => Some(view),
            Err(e) => return PageError::from(e).into_response(),
        }
    } else {
        None
    };
    let href = BOTS.item_href(&m.id);
    let active = match tab {
        Some(t) if [HISTORY, VM_INFO, CONFIGURE].contains(&t) => t,
        _ => att.map_or(SUMMARY, |a| a.tab),
    };
    let mut tabs = vec![
        TabView {
            key: SUMMARY,
            label: "Summary",
            href: format!("{href}?tab={SUMMARY}"),
            active: active == SUMMARY,
            warning: None,
        },
        TabView {
            key: CONFIGURE,
            label: "Configure",
            href: format!("{href}?tab={CONFIGURE}"),
            active: active == CONFIGURE,
            warning: configure::incomplete(&doc).then_some("Person or account data is incomplete"),
        },
    ];
    tabs.extend(ATTACHMENTS.iter().map(|a| TabView {
        key: a.tab,
        label: a.label,
        href: format!("{href}?tab={}", a.tab),
        active: active == a.tab,
        warning: None,
    }));
    tabs.push(TabView {
        key: VM_INFO,
        label: "VM Info",
        href: format!("{href}?tab={VM_INFO}"),
        active: active == VM_INFO,
        warning: None,
    });
    tabs.push(TabView {
        key: HISTORY,
        label: "History",
        href: format!("{href}?tab={HISTORY}"),
        active: active == HISTORY,
        warning: None,
    });
    let name = Some(text("name"))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| m.id.clone());
    let notice_kind = match notice {
        Some("attached" | "detached") => att.map_or(Kind::Bot, |a| a.table.kind),
        _ => Kind::Bot,
    };
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        &href,
        BOTS.active,
        &[
            (BOTS.section, None),
            (BOTS.title, Some(BOTS.path)),
            (&name, None),
        ],
    )
    .await;
    let status = Some(text("status"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "offline".into());
    let health = if form.is_some() {
        match health::of_bot(state, auth, &m).await {
            Ok(h) => Some(h),
            Err(e) => return PageError::from(e).into_response(),
        }
    } else {
        None
    };
    let last_seen = match doc.get("last_seen").and_then(Value::as_i64) {
        Some(ms) => Fact::ago(ms),
        None => Fact::Text("never".into()),
    };
    let project = match text("project_id") {
        id if id.is_empty() => Fact::Text("none".into()),
        id => Fact::Link(
            layout
                .projects
                .iter()
                .find(|(p, _)| *p == id)
                .map_or_else(|| id.clone(), |(_, name)| name.clone()),
            format!("/project/{}", seg(&id)),
        ),
    };
    let view = BotPage {
        layout,
        facts: [
            ("Bot ID", Fact::Text(m.id.clone())),
            ("Project", project),
            ("Last seen", last_seen),
        ]
        .into_iter()
        .chain(
            configure::summary(&doc, &BOTS.item_href(&m.id))
                .into_iter()
                .map(|(label, text, link)| (label, Fact::Link(text, link))),
        )
        .chain([
            ("Created", Fact::Text(display_date(m.created_at))),
            ("Updated", Fact::Text(display_date(m.updated_at))),
        ])
        .collect(),
        href,
        lifecycle: LifecycleView::for_status(&status),
        history,
        history_error,
        status,
        health,
        tabs,
        notice: notice.and_then(|n| {
            notice_text(notice_kind, n).or_else(|| on_configure.then(|| configure::notice(n))?)
        }),
        resources,
        vm: on_vm.then(|| VmInfo::of(&doc)),
        configure,
        form,
    };
    csrf.attach((status_code, render(&view)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct BotQuery {
    tab: Option<String>,
    section: Option<String>,
    notice: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    PageQuery(q): PageQuery<BotQuery>,
) -> Response {
    let shown = Shown {
        tab: q.tab.as_deref(),
        section: q.section.as_deref(),
        notice: q.notice.as_deref(),
        ..Shown::default()
    };
    page_response(&state, &auth, &headers, &id, shown).await
}

pub async fn update(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(posted): CsrfForm<Posted>,
) -> Response {
    match table::patch_from_form(&state, &auth, Kind::Bot, BOT_FIELDS, &id, &posted).await {
        Ok(m) => Redirect::to(&with_notice(&BOTS.item_href(&m.id), "updated")).into_response(),
        Err(error) => refused(&state, &auth, &headers, (&id, None), Some(&posted), error).await,
    }
}

/// A resource tab's error, and what was typed into its proxy paste form.
fn tab_failure(failed: Option<Failed<'_>>) -> (Option<String>, String) {
    let Some(failed) = failed else {
        return (None, String::new());
    };
    let pasted = failed
        .posted
        .and_then(|p| p.get(proxy_paste::PASTE))
        .cloned()
        .unwrap_or_default();
    (Some(failed.error.message), pasted)
}

/// A proxy made from a pasted string (`ip:port:login:password` and the other forms of
/// `proxy_paste`), created attached to the bot.
pub async fn paste_proxy(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(posted): CsrfForm<Posted>,
) -> Response {
    let created = async {
        service::get(&state, &auth, Kind::Bot, &id).await?;
        let mut body = form::body(PROXIES.fields, &proxy_paste::expand(&posted)?, Mode::Create)?;
        body["bot_id"] = json!(id);
        service::create(&state, &auth, Kind::Proxy, body).await
    };
    match created.await {
        Ok(_) => {
            let to = format!("{}?tab=proxy", BOTS.item_href(&id));
            Redirect::to(&with_notice(&to, "attached")).into_response()
        }
        Err(error) => {
            let at = (id.as_str(), Some("proxy"));
            refused(&state, &auth, &headers, at, Some(&posted), error).await
        }
    }
}

/// The bot's page on `tab` (the summary when `None`) again, showing why a form there was
/// refused and what was typed into it.
async fn refused(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    (id, tab): (&str, Option<&str>),
    posted: Option<&Posted>,
    error: ApiError,
) -> Response {
    let shown = Shown {
        tab,
        failed: Some(Failed { posted, error }),
        ..Shown::default()
    };
    page_response(state, auth, headers, id, shown).await
}

/// `POST /bot/{id}/configure/{section}`: a Configure section's form (see
/// [`configure::act`]).
pub async fn configure_post(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath((id, key)): PagePath<(String, String)>,
    CsrfForm(posted): CsrfForm<Posted>,
) -> Response {
    match configure::act(&state, &auth, &id, &key, posted).await {
        Ok(configure::Acted::Redirect(to)) => Redirect::to(&to).into_response(),
        Ok(configure::Acted::Show(section, typed)) => {
            let shown = Shown {
                tab: Some(CONFIGURE),
                section: Some(section),
                configure: Some(typed),
                ..Shown::default()
            };
            page_response(&state, &auth, &headers, &id, shown).await
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

/// Attach or detach record `record` of the tab's kind, guarded by the version just read.
async fn relink(
    state: &AppState,
    auth: &Auth,
    bot: &str,
    att: &Attachment,
    record: &str,
    attach: bool,
) -> ApiResult<()> {
    service::get(state, auth, Kind::Bot, bot).await?;
    let kind = att.table.kind;
    let current = service::get(state, auth, kind, record).await?;
    let body = att.relink(&service::view(&current), bot, attach)?;
    let version = service::etag(&current);
    service::patch(state, auth, kind, record, body, Some(&version)).await?;
    Ok(())
}

async fn relink_response(
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    bot: String,
    tab: String,
    record: String,
    attach: bool,
) -> Response {
    let att = match Attachment::find(&tab) {
        Ok(a) => a,
        Err(e) => return PageError::from(e).into_response(),
    };
    let verb = if attach { "attached" } else { "detached" };
    match relink(&state, &auth, &bot, att, &record, attach).await {
        Ok(()) => {
            let to = format!("{}?tab={}", BOTS.item_href(&bot), att.tab);
            Redirect::to(&with_notice(&to, verb)).into_response()
        }
        Err(error) => refused(&state, &auth, &headers, (&bot, Some(&tab)), None, error).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct AttachForm {
    #[serde(default)]
    record_id: String,
}

pub async fn attach(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath((id, tab)): PagePath<(String, String)>,
    CsrfForm(form): CsrfForm<AttachForm>,
) -> Response {
    relink_response(state, auth, headers, id, tab, form.record_id, true).await
}

pub async fn detach(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath((id, tab, record)): PagePath<(String, String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    relink_response(state, auth, headers, id, tab, record, false).await
}

/// `POST /bot/{id}/lifecycle/{transition|ban|unban}`.
pub async fn act(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath((id, action)): PagePath<(String, String)>,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (result, notice) = match action.as_str() {
        "transition" => (
            lifecycle_service::transition(&state, &auth, &id, &field("status")).await,
            "moved",
        ),
        "ban" => {
            let body = json!({"ban_date": field("ban_date"), "ban_reason": field("ban_reason"),
                "ban_mechanism": field("ban_mechanism")});
            (
                lifecycle_service::ban(&state, &auth, &id, body).await,
                "banned",
            )
        }
        "unban" => (
            lifecycle_service::unban(&state, &auth, &id).await,
            "unbanned",
        ),
        _ => return PageError::from(ApiError::not_found("Lifecycle action")).into_response(),
    };
    match result {
        Ok(_) => Redirect::to(&with_notice(&format!("/bot/{}", seg(&id)), notice)).into_response(),
        Err(error) => refused(&state, &auth, &headers, (&id, Some(HISTORY)), None, error).await,
    }
}
