//! A bot's health (spec ui.md §3.3, Summary): what needs the operator's attention about the
//! licences, proxy and subscriptions attached to it, by their effective status
//! (`records::expiry`), and whether the bot has reported lately. `GET /bots/{id}/health`
//! serves it and the bot page's banner and alert cards draw it.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::clock;
use crate::db::entity::record;
use crate::http::ApiResult;
use crate::principal::Auth;
use crate::records::documents::service;
use crate::records::documents::store::ListQuery;
use crate::records::expiry::{self, EXPIRED, EXPIRING, Window};
use crate::records::kinds::Kind;
use crate::state::AppState;

/// A bot not heard from for this long shows as offline (spec ui.md §1.4).
pub const OFFLINE_AFTER_MS: i64 = 5 * 60 * 1000;
/// The most records of one kind a bot's health reads.
const ATTACHED_READ: u64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Alert {
    pub severity: Severity,
    /// `license_expired`, `license_expiring`, `proxy_expired`, `proxy_banned`,
    /// `proxy_expiring`, `subscriptions_expired`, `subscriptions_expiring` or `bot_offline`.
    pub code: &'static str,
    pub title: String,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `warning` or `critical`: the worst alert.
    pub level: &'static str,
    /// "All systems operational", "N warning(s)" or "N critical issue(s)".
    pub summary: String,
    /// Critical alerts first.
    pub alerts: Vec<Alert>,
}

/// What is attached to a bot, as its health reads it.
pub struct Attached {
    pub licenses: Vec<record::Model>,
    pub proxies: Vec<record::Model>,
    pub subscriptions: Vec<record::Model>,
}

fn plural(n: usize, one: &str) -> String {
    clock::count(n as i64, one)
}

fn state_of<'a>(window: &Window, m: &'a record::Model) -> &'a str {
    window.status(m.status.as_deref(), m.expires_at_ms)
}

/// The health of `bot` with `attached` records, at `window`.
pub fn assess(bot: &record::Model, attached: &Attached, window: &Window) -> Health {
    let state = |m| state_of(window, m);
    let left = |m: &record::Model| {
        m.expires_at_ms
            .map(|e| expiry::days_left(e, window.now))
            .unwrap_or_default()
    };
    let mut alerts = Vec::new();
    let mut add = |severity, code, title: String, detail: String| {
        alerts.push(Alert {
            severity,
            code,
            title,
            detail,
        })
    };
    for l in &attached.licenses {
        let key = service::document(l)
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or(&l.id)
            .to_owned();
        match state(l) {
            EXPIRED => add(
                Severity::Critical,
                "license_expired",
                "License expired".into(),
                format!("{key} expired; the bot cannot run without a licence."),
            ),
            EXPIRING => add(
                Severity::Warning,
                "license_expiring",
                "License expiring soon".into(),
                format!("{key} expires in {}.", clock::count(left(l), "day")),
            ),
            _ => {}
        }
    }
    for p in &attached.proxies {
        let doc = service::document(p);
        let address = match (doc.get("ip").and_then(Value::as_str), doc.get("port")) {
            (Some(ip), Some(port)) => format!("{ip}:{port}"),
            (Some(ip), None) => ip.to_owned(),
            _ => p.id.clone(),
        };
        match state(p) {
            EXPIRED => add(
                Severity::Critical,
                "proxy_expired",
                "Proxy expired".into(),
                format!("{address} expired."),
            ),
            "banned" => add(
                Severity::Critical,
                "proxy_banned",
                "Proxy banned".into(),
                format!("{address} is banned; attach another proxy."),
            ),
            EXPIRING => add(
                Severity::Warning,
                "proxy_expiring",
                "Proxy expiring soon".into(),
                format!("{address} expires in {}.", clock::count(left(p), "day")),
            ),
            _ => {}
        }
    }
    let subs_in = |s: &'static str| {
        attached
            .subscriptions
            .iter()
            .filter(move |m| state_of(window, m) == s)
    };
    let expired = subs_in(EXPIRED).count();
    if expired > 0 {
        add(
            Severity::Critical,
            "subscriptions_expired",
            format!("{} expired", plural(expired, "subscription")),
            "Renew or replace them.".into(),
        );
    }
    let soonest = subs_in(EXPIRING).map(left).min();
    if let Some(soonest) = soonest {
        let n = subs_in(EXPIRING).count();
        add(
            Severity::Warning,
            "subscriptions_expiring",
            format!("{} expiring soon", plural(n, "subscription")),
            format!("The first in {}.", clock::count(soonest, "day")),
        );
    }
    let doc = service::document(bot);
    let banned = doc.get("status").and_then(Value::as_str) == Some("banned");
    let last_seen = doc.get("last_seen").and_then(Value::as_i64);
    let silent = last_seen.is_none_or(|t| window.now - t > OFFLINE_AFTER_MS);
    if silent && !banned {
        add(
            Severity::Warning,
            "bot_offline",
            "Bot offline".into(),
            match last_seen {
                Some(t) => format!("Last seen {} ago.", clock::span(window.now - t)),
                None => "Never seen.".into(),
            },
        );
    }
    alerts.sort_by_key(|a| a.severity != Severity::Critical);
    let critical = alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .count();
    let (level, summary) = match (critical, alerts.len()) {
        (0, 0) => ("ok", "All systems operational".into()),
        (0, n) => ("warning", plural(n, "warning")),
        (n, _) => ("critical", plural(n, "critical issue")),
    };
    Health {
        level,
        summary,
        alerts,
    }
}

impl Health {
    /// The class of the banner: `ok`, `warn` or `error`.
    pub fn banner_class(&self) -> &'static str {
        match self.level {
            "ok" => "ok",
            "warning" => "warn",
            _ => "error",
        }
    }
}

/// The records attached to `bot` (a licence by its `bot_ids`, the others by `bot_id`).
async fn attached(state: &AppState, auth: &Auth, bot: &str) -> ApiResult<Attached> {
    let of = |kind| async move {
        let query = ListQuery {
            bot_id: Some(bot.to_owned()),
            limit: ATTACHED_READ,
            ..ListQuery::default()
        };
        service::list(state, auth, kind, &query)
            .await
            .map(|(rows, _)| rows)
    };
    Ok(Attached {
        licenses: of(Kind::License).await?,
        proxies: of(Kind::Proxy).await?,
        subscriptions: of(Kind::Subscription).await?,
    })
}

/// The health of `bot`, a record the caller has read: what is attached to it, now.
pub async fn of_bot(state: &AppState, auth: &Auth, bot: &record::Model) -> ApiResult<Health> {
    let attached = attached(state, auth, &bot.id).await?;
    Ok(assess(bot, &attached, &service::window(state, auth).await?))
}

/// The health of bot `id`.
pub async fn health(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Health> {
    of_bot(
        state,
        auth,
        &service::get(state, auth, Kind::Bot, id).await?,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::DAY_MS;

    const W: Window = Window {
        now: 1_000 * DAY_MS,
        warning_days: 7,
    };

    fn model(kind: Kind, data: &str, status: Option<&str>, expires: Option<i64>) -> record::Model {
        record::Model {
            tenant_id: "t".into(),
            kind: kind.as_str().into(),
            id: format!("{}-{}", kind.as_str(), expires.unwrap_or_default()),
            data: data.into(),
            status: status.map(str::to_owned),
            expires_at_ms: expires.map(|d| W.now + d),
            ..record::Model::default()
        }
    }

    #[test]
    fn the_banner_counts_critical_issues_before_warnings() {
        let seen = format!(r#"{{"status":"farming","last_seen":{}}}"#, W.now - 60_000);
        let bot = model(Kind::Bot, &seen, Some("farming"), None);
        let none = Attached {
            licenses: vec![],
            proxies: vec![],
            subscriptions: vec![],
        };
        let h = assess(&bot, &none, &W);
        assert_eq!(
            (h.level, h.summary.as_str()),
            ("ok", "All systems operational")
        );

        let lic = r#"{"key":"K-1"}"#;
        let proxy = r#"{"ip":"10.0.0.1","port":8080}"#;
        let attached = Attached {
            licenses: vec![model(Kind::License, lic, Some("active"), Some(3 * DAY_MS))],
            proxies: vec![model(Kind::Proxy, proxy, Some("banned"), Some(30 * DAY_MS))],
            subscriptions: vec![
                model(Kind::Subscription, "{}", Some("active"), Some(-DAY_MS)),
                model(Kind::Subscription, "{}", None, Some(-2 * DAY_MS)),
                model(Kind::Subscription, "{}", Some("active"), Some(2 * DAY_MS)),
                model(Kind::Subscription, "{}", Some("cancelled"), Some(-DAY_MS)),
            ],
        };
        let h = assess(&bot, &attached, &W);
        assert_eq!(
            (h.level, h.summary.as_str()),
            ("critical", "2 critical issues")
        );
        let codes: Vec<&str> = h.alerts.iter().map(|a| a.code).collect();
        assert_eq!(
            codes,
            [
                "proxy_banned",
                "subscriptions_expired",
                "license_expiring",
                "subscriptions_expiring"
            ]
        );
        assert_eq!(h.alerts[1].title, "2 subscriptions expired");
        assert_eq!(h.alerts[2].detail, "K-1 expires in 3 days.");

        let stale = format!(
            r#"{{"status":"farming","last_seen":{}}}"#,
            W.now - 20 * 60_000
        );
        let h = assess(&model(Kind::Bot, &stale, None, None), &none, &W);
        assert_eq!((h.level, h.summary.as_str()), ("warning", "1 warning"));
        assert_eq!(h.alerts[0].detail, "Last seen 20 minutes ago.");
        let banned = model(Kind::Bot, r#"{"status":"banned"}"#, None, None);
        assert_eq!(
            assess(&banned, &none, &W).level,
            "ok",
            "a banned bot is not offline"
        );
    }
}
