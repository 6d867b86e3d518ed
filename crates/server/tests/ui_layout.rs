//! The page layout in real headless Chromium: every page fits the window at 1440 and at
//! 1024 px (nothing sticks out past the right edge; wide tables scroll inside their card),
//! the navigation marks the current page with `aria-current`, and a skip link leads to the
//! content.

use botmox_proto::auth::Role;
use botmox_testkit::browser::{Browser, attr, overflowing, resize, sign_in, text_of};
use botmox_testkit::{Backend, TestServer};
use chrono::Datelike;
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_at_1440_and_1024_pixels() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@example.com", Role::Admin)
        .await;
    let t = admin.access_token.as_str();
    // Records with long words and long values, the kind that push layouts apart.
    let long = "Supercalifragilisticexpialidocious-farm-account-with-a-very-long-name";
    server
        .put(
            "/api/v1/settings/projects",
            t,
            json!({"wow_tbc": {"name": "World of Warcraft: The Burning Crusade Classic"}}),
        )
        .await;
    let now = chrono::Utc::now().timestamp_millis();
    let bot = server
        .create(
            "/api/v1/bots",
            t,
            json!({"name": long, "project_id": "wow_tbc", "status": "farming",
                "character": {"name": long, "level": 70, "server": "Gehennas", "faction": "horde"},
                "account": {"email": format!("{long}@example.com")}}),
        )
        .await;
    server
        .create(
            "/api/v1/resources/licenses",
            t,
            json!({"key": format!("LIC-{long}"), "type": "SIN", "status": "active",
                "expires_at": now + 3 * DAY_MS, "bot_ids": [bot]}),
        )
        .await;
    server
        .create(
            "/api/v1/resources/proxies",
            t,
            json!({"ip": "203.0.113.250", "port": 65000, "login": long, "provider": long,
                "status": "active", "expires_at": now - DAY_MS, "bot_id": bot}),
        )
        .await;
    server
        .create(
            "/api/v1/resources/subscriptions",
            t,
            json!({"type": "wow", "status": "active", "account_email": format!("{long}@example.com"),
                "expires_at": now + 20 * DAY_MS, "bot_id": bot}),
        )
        .await;
    let note = server
        .create(
            "/api/v1/workspace/notes",
            t,
            json!({"title": long, "content": format!("# {long}\n\n`{long}{long}`"), "tags": [long]}),
        )
        .await;
    server
        .create(
            "/api/v1/workspace/kanban",
            t,
            json!({"title": long, "status": "todo", "description": long}),
        )
        .await;
    // Today's event, and one on this week's Sunday: the last column, where an event too wide
    // for its day pushes the page past the window's right edge.
    let today = chrono::Utc::now().date_naive();
    let sunday = today + chrono::Days::new(6 - u64::from(today.weekday().num_days_from_monday()));
    for day in [today, sunday] {
        server
            .create(
                "/api/v1/workspace/calendar",
                t,
                json!({"title": long, "date": day.to_string()}),
            )
            .await;
    }
    server
        .create(
            "/api/v1/finance/operations",
            t,
            json!({"type": "expense", "category": "proxy", "amount": 123456789.5, "currency": "USD",
                "date": now, "description": long, "project_id": "wow_tbc"}),
        )
        .await;

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &admin.email, &admin.password).await;
    let pages = [
        "/".to_owned(),
        "/project/wow_tbc".into(),
        "/bots".into(),
        format!("/bot/{bot}?tab=summary"),
        format!("/bot/{bot}?tab=proxy"),
        format!("/bot/{bot}?tab=license"),
        format!("/bot/{bot}?tab=history"),
        "/archive".into(),
        "/licenses".into(),
        "/proxies".into(),
        "/subscriptions".into(),
        "/notes".into(),
        format!("/notes/{note}"),
        "/workspace/calendar".into(),
        "/workspace/kanban".into(),
        "/finance".into(),
        "/agents".into(),
        "/secrets".into(),
        "/vm-ops".into(),
        "/vm-jobs".into(),
        "/profiles".into(),
        "/playbooks".into(),
        "/vm-registry".into(),
        "/licensing".into(),
        "/settings".into(),
        "/admin/users".into(),
        "/admin/audit".into(),
        "/artifacts".into(),
    ];
    for width in [1440, 1024] {
        resize(c, width, 900).await;
        for page in &pages {
            c.goto(&format!("{}{page}", server.url)).await.unwrap();
            text_of(c, "main h1").await;
            let out = overflowing(c).await;
            assert!(out.is_empty(), "{page} at {width} px: {out:#?}");
        }
    }

    // The navigation says where the user is, and the skip link leads past it.
    c.goto(&format!("{}/proxies", server.url)).await.unwrap();
    assert_eq!(
        attr(c, "aside.tree a[aria-current=page]", "href").await,
        "/proxies"
    );
    assert_eq!(attr(c, "a.skip-link", "href").await, "#main");
    assert_eq!(attr(c, "main", "id").await, "main");
    browser.close().await;
}
