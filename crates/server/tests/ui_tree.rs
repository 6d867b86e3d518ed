//! The resource tree beside every page, in real headless Chromium: projects with their bot
//! counts (the tenant's only), statuses with theirs, bots under an open status; the bot
//! filters, collapsing and resizing; and the user's state of it kept on the server (the
//! same after a reload, another user's untouched). Also the tree's routes refusing what
//! they must.

use std::time::{Duration, Instant};

use botmox_proto::auth::Role;
use botmox_testkit::browser::{Browser, attr, click, sign_in, text_of, wait_for};
use botmox_testkit::{Backend, TestServer, both_backends};
use fantoccini::Client;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The tree as loaded from the server (the page's placeholder has no `data-state`).
const LOADED: &str = "#resource-tree[data-state]";

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Wait (up to 10 s) until `condition` (a script's answer) holds on this page.
async fn wait_js(c: &Client, condition: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while js(c, &format!("return {condition};")).await != json!(true) {
        assert!(Instant::now() < deadline, "never held: {condition}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Load `page` until `condition` (a script's answer) holds on a freshly loaded tree: what
/// the user changed was sent in the background (a save outlives the page it was made on),
/// and is kept once a new page shows it.
async fn reload_until(c: &Client, page: &str, condition: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        c.goto(page).await.unwrap();
        text_of(c, LOADED).await;
        if js(c, &format!("return {condition};")).await == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never held: {condition}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_counts_lists_filters_and_keeps_each_users_state() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@example.com", Role::Admin)
        .await;
    let t = admin.access_token.as_str();
    server
        .put(
            "/api/v1/settings/projects",
            t,
            json!({"wow_tbc": {"name": "WoW TBC"}, "wow_midnight": {"name": "WoW Midnight"}}),
        )
        .await;
    let char01 = server
        .create(
            "/api/v1/bots",
            t,
            json!({"name": "bot-a", "project_id": "wow_tbc", "status": "farming",
                "character": {"name": "Char01"}, "vm": {"name": "WIN-7"}}),
        )
        .await;
    let mut ids = Vec::new();
    for (name, status) in [("bot-b", "farming"), ("bot-c", "leveling")] {
        ids.push(
            server
                .create(
                    "/api/v1/bots",
                    t,
                    json!({"name": name, "project_id": "wow_tbc", "status": status}),
                )
                .await,
        );
    }
    // Another tenant's bots in a project of the same id count nowhere here.
    let other = server
        .user_session("globex", "boss@globex.example", Role::Admin)
        .await;
    server
        .put(
            "/api/v1/settings/projects",
            &other.access_token,
            json!({"wow_tbc": {"name": "Theirs"}}),
        )
        .await;
    for _ in 0..2 {
        server
            .create(
                "/api/v1/bots",
                &other.access_token,
                json!({"name": "theirs", "project_id": "wow_tbc", "status": "farming"}),
            )
            .await;
    }
    let colleague = server
        .user_session("acme", "colleague@example.com", Role::User)
        .await;

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &admin.email, &admin.password).await;
    let home = format!("{}/", server.url);
    c.goto(&home).await.unwrap();
    let project = r#"details[data-key="p:wow_tbc"]"#;
    let farming = r#"details[data-key="s:farming:wow_tbc"]"#;
    assert_eq!(
        text_of(c, &format!("{project} > summary")).await,
        "WoW TBC (3)"
    );
    // A project without bots says so.
    assert_eq!(
        text_of(c, r#"details[data-key="p:wow_midnight"] > summary"#).await,
        "WoW Midnight (0)"
    );

    // Open the project, then its farming bots: the server lists them once the node is open.
    js(
        c,
        &format!("document.querySelector('{project} > summary').click(); return 1;"),
    )
    .await;
    assert_eq!(
        text_of(c, &format!("{farming} > summary")).await,
        "Farming (2)"
    );
    assert_eq!(
        attr(c, &format!("{farming} > summary > a"), "href").await,
        "/project/wow_tbc?status=farming"
    );
    js(
        c,
        &format!("document.querySelector('{farming} > summary').click(); return 1;"),
    )
    .await;
    let leaf = format!("{farming} .tree-bots li:first-child a");
    wait_for(c, &leaf, &format!("Char01 (WIN-7) - {}", &char01[..8])).await;
    // Without a character, the bot's own name; without a VM, "No VM".
    assert_eq!(
        text_of(c, &format!("{farming} .tree-bots li:nth-child(2) a")).await,
        format!("bot-b (No VM) - {}", &ids[0][..8])
    );

    // A bot's page marks its leaf as the current page.
    click(c, &leaf).await;
    text_of(c, LOADED).await;
    assert_eq!(
        attr(c, "#resource-tree a[aria-current=page]", "href").await,
        format!("/bot/{char01}")
    );

    // The open nodes are kept: a new page shows them open, the bots listed.
    reload_until(
        c,
        &home,
        &format!("document.querySelector('{farming}')?.open === true"),
    )
    .await;
    assert_eq!(
        text_of(c, &leaf).await,
        format!("Char01 (WIN-7) - {}", &char01[..8])
    );

    // The bot filters hide a status, everywhere the tree shows it, until shown again.
    click(c, "#tree-filters-toggle").await;
    // The server's answer replaces the tree: click inside it once it has.
    wait_js(
        c,
        "JSON.parse(document.getElementById('resource-tree').dataset.state).show_filters",
    )
    .await;
    click(c, r#"input[name="tree-status"][value="farming"]"#).await;
    reload_until(
        c,
        &home,
        &format!(
            "document.querySelector('{farming}') === null \
             && document.querySelector('details[data-key=\"s:leveling:wow_tbc\"]') !== null \
             && document.getElementById('tree-filters').hidden === false"
        ),
    )
    .await;
    assert_eq!(
        text_of(c, &format!("{project} > summary")).await,
        "WoW TBC (3)",
        "the project's count is of all its bots"
    );

    // Resized by keyboard on its edge, then collapsed: both kept.
    let width = "Math.round(document.querySelector('aside.tree').getBoundingClientRect().width)";
    assert_eq!(js(c, &format!("return {width};")).await, json!(280));
    let edge = c
        .find(fantoccini::Locator::Css("#tree-resizer"))
        .await
        .unwrap();
    edge.send_keys("\u{E014}\u{E014}").await.unwrap(); // ArrowRight twice
    // Two saves, the second sent once the first is answered: leaving before that is a race
    // between the browser's two requests, so wait for the server's answer to the second.
    wait_js(
        c,
        "JSON.parse(document.getElementById('resource-tree').dataset.state).width === 300",
    )
    .await;
    reload_until(c, &home, &format!("{width} === 300")).await;
    click(c, "#tree-toggle").await;
    assert_eq!(js(c, &format!("return {width};")).await, json!(48));
    reload_until(
        c,
        &home,
        &format!(
            "{width} === 48 && getComputedStyle(document.getElementById('main-nav')).display === 'none'"
        ),
    )
    .await;
    click(c, "#tree-toggle").await;
    reload_until(c, &home, &format!("{width} === 300")).await;

    // Another user of the tenant has a tree of their own, as it starts.
    browser.close().await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &colleague.email, &colleague.password).await;
    c.goto(&home).await.unwrap();
    text_of(c, LOADED).await;
    assert_eq!(
        js(
            c,
            &format!(
                "return [document.querySelector('{project}').open, {width}, \
                 document.getElementById('tree-filters').hidden];"
            )
        )
        .await,
        json!([false, 280, true])
    );
    browser.close().await;
}

both_backends! {
    async fn the_tree_routes_show_the_tenants_own_and_refuse_what_they_must(backend) {
        let server = TestServer::start(backend).await;
        let admin = server
            .user_session("acme", "admin@example.com", Role::Admin)
            .await;
        let other = server
            .user_session("globex", "boss@globex.example", Role::Admin)
            .await;
        for (session, bots) in [(&admin, 1), (&other, 2)] {
            let t = session.access_token.as_str();
            server
                .put("/api/v1/settings/projects", t, json!({"wow": {"name": "WoW"}}))
                .await;
            for _ in 0..bots {
                server
                    .create(
                        "/api/v1/bots",
                        t,
                        json!({"name": "b", "project_id": "wow", "status": "farming"}),
                    )
                    .await;
            }
        }
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let tree = format!("{}/ui/tree", server.url);
        let answer = plain.get(&tree).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "no session: sign in");

        let (cookie, csrf) = server.ui_session(&admin.email, &admin.password).await;
        let send = |state: &str, token: &str| {
            plain
                .post(&tree)
                .header("cookie", &cookie)
                .form(&[("_csrf", token), ("state", state)])
                .send()
        };
        // Kept twice (the second write replaces the first), answered as the tree now shows.
        for width in [240, 300] {
            let state = format!(r#"{{"width":{width},"open":["p:wow","s:farming:wow"]}}"#);
            let kept = send(&state, &csrf).await.unwrap();
            assert_eq!(kept.status(), StatusCode::OK);
            let html = kept.text().await.unwrap();
            assert!(html.contains(&format!(r#"data-width="{width}""#)), "{html}");
            assert!(html.contains("WoW <span class=\"count\">(1)</span>"), "only acme's bot: {html}");
            assert_eq!(html.matches("href=\"/bot/").count(), 1, "{html}");
        }
        // A status open inside a closed project lists no bots: nobody could see them.
        let closed = send(r#"{"width":300,"open":["s:farming:wow"]}"#, &csrf).await.unwrap();
        let html = closed.text().await.unwrap();
        assert!(html.contains("data-key=\"s:farming:wow\" open") && !html.contains("href=\"/bot/"), "{html}");
        for (state, says) in [
            (r#"{"width":9000}"#, "width"),
            (r#"{"hidden":["asleep"]}"#, "Unknown bot status"),
            ("not json", "Tree state"),
        ] {
            let refused = send(state, &csrf).await.unwrap();
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{state}");
            assert!(refused.text().await.unwrap().contains(says), "{state}");
        }
        let forged = send(r#"{"width":400}"#, "forged").await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        // No refusal changed what was kept.
        let shown = plain
            .get(&tree)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(shown.text().await.unwrap().contains(r#"data-width="300""#));
    }
}
