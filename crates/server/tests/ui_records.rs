//! The record pages in real headless Chromium: a bot created, edited (with a field error
//! and a stale-version conflict) and given a proxy, whose expiry its health banner shows; the licence table's filter, sort, paging
//! and expiry marks, which agree with the Overview's counts; a kanban task moved and a calendar event placed on its day. Changes
//! made in the browser are checked through the JSON API.

use botmox_proto::auth::Role;
use botmox_testkit::browser::{
    Browser, attr, click, fill, path, select, set_value, sign_in, text_of, texts_of, wait_for,
    wait_for_url,
};
use botmox_testkit::{Backend, Session, TestServer};
use fantoccini::{Client, Locator};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

/// A server, a user with an API token, and a browser signed in as that user.
async fn signed_in() -> (TestServer, Session, Browser) {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let browser = Browser::start().await;
    sign_in(
        &browser.client,
        &server.url,
        &session.email,
        &session.password,
    )
    .await;
    (server, session, browser)
}

/// Projects `tbc` ("TBC") and `mid` ("Midnight") in the tenant, set by one of its admins.
async fn define_projects(server: &TestServer) {
    let admin = server
        .user_session("acme", "boss@example.com", Role::Admin)
        .await;
    let projects = json!({"tbc": {"name": "TBC"}, "mid": {"name": "Midnight"}});
    let (status, _) = server
        .put("/api/v1/settings/projects", &admin.access_token, projects)
        .await;
    assert!(status.is_success());
}

/// The text of column `column` (1-based) in each row of `table#records`.
/// Read in one script, so a page that is being replaced cannot leave a stale cell between
/// finding the cells and reading them.
async fn column_texts(c: &Client, column: usize) -> Vec<String> {
    texts_of(c, &format!("table#records tbody tr td:nth-child({column})")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_are_created_edited_and_given_a_proxy() {
    let (server, session, browser) = signed_in().await;
    let (c, token) = (&browser.client, session.access_token.as_str());

    // A level out of range is refused next to its input; what was typed stays.
    c.goto(&format!("{}/bots", server.url)).await.unwrap();
    fill(c, "form#bot-create input[name=name]", "Thrall").await;
    fill(c, "form#bot-create input[name='character/class']", "Shaman").await;
    fill(c, "form#bot-create input[name='character/level']", "500").await;
    click(c, "form#bot-create button[type=submit]").await;
    let problem = text_of(c, ".field-error[data-field='character/level']").await;
    assert!(problem.contains("between 1 and 100"), "{problem}");
    assert_eq!(
        attr(c, "form#bot-create input[name=name]", "value").await,
        "Thrall"
    );

    fill(c, "form#bot-create input[name='character/level']", "60").await;
    click(c, "form#bot-create button[type=submit]").await;
    wait_for(c, "#notice", "Bot created.").await;
    wait_for(c, "main h1", "Thrall").await;
    wait_for(c, "#bot-status", "prepare").await;
    text_of(c, "#lifecycle-actions").await;
    let bot_id = path(c).await.trim_start_matches("/bot/").to_owned();
    let (_, bot) = server.get(&format!("/api/v1/bots/{bot_id}"), token).await;
    assert_eq!(
        bot["data"]["character"],
        json!({"class": "Shaman", "level": 60})
    );

    c.goto(&format!("{}/bots", server.url)).await.unwrap();
    assert!(text_of(c, "table#records").await.contains("Thrall"));

    // Edit on the summary tab; the API sees the change.
    click(c, "table#records a.open").await;
    text_of(c, "form#bot-edit").await;
    fill(c, "form#bot-edit input[name='character/name']", "Go'el").await;
    click(c, "form#bot-edit button[type=submit]").await;
    wait_for(c, "#notice", "Bot updated.").await;
    let (_, bot) = server.get(&format!("/api/v1/bots/{bot_id}"), token).await;
    assert_eq!(bot["data"]["character"]["name"], "Go'el");
    assert_eq!(bot["data"]["character"]["level"], 60);

    // A form read before someone else's change is refused with 412's message.
    server
        .patch(
            &format!("/api/v1/bots/{bot_id}"),
            token,
            json!({"character/server": "Nordrassil"}),
        )
        .await;
    fill(c, "form#bot-edit input[name='character/name']", "Late").await;
    click(c, "form#bot-edit button[type=submit]").await;
    assert!(
        text_of(c, "#error")
            .await
            .contains("changed since it was read")
    );
    let (_, bot) = server.get(&format!("/api/v1/bots/{bot_id}"), token).await;
    assert_eq!(bot["data"]["character"]["name"], "Go'el");

    // The list's search box finds the bot by its character's name and server.
    let seen = chrono::Utc::now().timestamp_millis();
    server
        .create(
            "/api/v1/bots",
            token,
            json!({"name": "Jaina", "last_seen": seen}),
        )
        .await;
    // The list says when each bot was last seen, and which are offline.
    c.goto(&format!("{}/bots?sort=name", server.url))
        .await
        .unwrap();
    assert_eq!(
        column_texts(c, 5).await,
        ["0 minutes ago", "offline · never"]
    );
    assert_eq!(text_of(c, "td .badge.warn").await, "offline · never");
    for (q, typed) in [("go%27el", "go'el"), ("Nordrassil", "Nordrassil")] {
        c.goto(&format!("{}/bots?q={q}", server.url)).await.unwrap();
        assert_eq!(attr(c, "form#filter input[name=q]", "value").await, typed);
        let found = text_of(c, "table#records tbody").await;
        assert!(
            found.contains("Thrall") && !found.contains("Jaina"),
            "{typed}: {found}"
        );
    }
    // ... and the project filter, by the project's name.
    define_projects(&server).await;
    server
        .patch(
            &format!("/api/v1/bots/{bot_id}"),
            token,
            json!({"project_id": "tbc"}),
        )
        .await;
    c.goto(&format!("{}/bots", server.url)).await.unwrap();
    select(c, "#filter select[name=project_id]", "tbc").await;
    click(c, "#filter button[type=submit]").await;
    wait_for(c, "#page-info", "Page 1 of 1 · Total 1").await;
    assert!(text_of(c, "table#records tbody").await.contains("Thrall"));
    assert!(
        text_of(c, "#filter select[name=project_id]")
            .await
            .contains("Midnight")
    );

    // Add a proxy: refused for its port, the form keeps every typed value, the password too.
    c.goto(&format!("{}/proxies", server.url)).await.unwrap();
    fill(c, "form#proxy-create input[name=ip]", "203.0.113.7").await;
    fill(c, "form#proxy-create input[name=port]", "70000").await;
    fill(c, "form#proxy-create input[name=login]", "user1").await;
    fill(
        c,
        "form#proxy-create input[name=password]",
        "hunter2-secret",
    )
    .await;
    click(c, "form#proxy-create button[type=submit]").await;
    text_of(c, ".field-error[data-field=port]").await;
    for (input, typed) in [
        ("ip", "203.0.113.7"),
        ("login", "user1"),
        ("password", "hunter2-secret"),
    ] {
        let css = format!("form#proxy-create input[name={input}]");
        assert_eq!(attr(c, &css, "value").await, typed, "{input}");
    }
    // ... and with the port put right, is taken; its password never comes back to the page.
    fill(c, "form#proxy-create input[name=port]", "8080").await;
    click(c, "form#proxy-create button[type=submit]").await;
    wait_for(c, "#notice", "Proxy created.").await;
    assert!(
        text_of(c, "table#records")
            .await
            .contains("203.0.113.7:8080")
    );
    assert!(!c.source().await.unwrap().contains("hunter2-secret"));

    // Edit it: the password input starts empty, and left empty keeps the stored password.
    click(c, "table#records a.open").await;
    text_of(c, "form#proxy-edit").await;
    assert_eq!(
        attr(c, "form#proxy-edit input[name=password]", "value").await,
        ""
    );
    fill(c, "form#proxy-edit input[name=port]", "8081").await;
    click(c, "form#proxy-edit button[type=submit]").await;
    wait_for(c, "#notice", "Proxy updated.").await;
    let (_, proxies) = server.get("/api/v1/resources/proxies", token).await;
    let proxy_id = proxies["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(proxies["data"][0]["port"], 8081);
    let (_, revealed) = server
        .post(
            &format!("/api/v1/resources/proxies/{proxy_id}/reveal"),
            token,
            json!({"field": "password"}),
        )
        .await;
    assert_eq!(revealed["data"]["value"], "hunter2-secret");

    // Attach it on the bot's proxy tab.
    c.goto(&format!("{}/bot/{bot_id}?tab=proxy", server.url))
        .await
        .unwrap();
    text_of(c, "#none-linked").await;
    click(c, "form#attach-proxy button[type=submit]").await;
    wait_for(c, "#notice", "Proxy attached.").await;
    assert!(
        text_of(c, "table#linked")
            .await
            .contains("203.0.113.7:8081")
    );
    let (_, proxy) = server
        .get(&format!("/api/v1/resources/proxies/{proxy_id}"), token)
        .await;
    assert_eq!(proxy["data"]["bot_id"], json!(bot_id));

    // The summary's health banner: a proxy past its expiry is critical even though its
    // stored status says active, and a bot never seen is a warning.
    server
        .patch(
            &format!("/api/v1/resources/proxies/{proxy_id}"),
            token,
            json!({"status": "active", "expires_at": chrono::Utc::now().timestamp_millis() - DAY_MS}),
        )
        .await;
    c.goto(&format!("{}/bot/{bot_id}?tab=summary", server.url))
        .await
        .unwrap();
    wait_for(c, "#health-summary", "1 critical issue").await;
    assert_eq!(attr(c, "#health", "data-level").await, "critical");
    let cards = text_of(c, "#health-alerts").await;
    assert!(
        cards.contains("Proxy expired") && cards.contains("203.0.113.7:8081 expired."),
        "{cards}"
    );
    assert!(cards.contains("Bot offline") && cards.contains("Never seen."));

    // A proxy string pasted from a provider fills the proxy: an unreadable one is refused
    // beside its input and kept; a good one gives address, type and credentials.
    c.goto(&format!("{}/proxies", server.url)).await.unwrap();
    fill(c, "form#proxy-create input[name=paste]", "not a proxy").await;
    click(c, "form#proxy-create button[type=submit]").await;
    let problem = text_of(c, ".field-error[data-field=paste]").await;
    assert!(problem.contains("is not a proxy string"), "{problem}");
    assert_eq!(
        attr(c, "form#proxy-create input[name=paste]", "value").await,
        "not a proxy"
    );
    fill(
        c,
        "form#proxy-create input[name=paste]",
        "socks5://alice:pw:1@198.51.100.4:1080",
    )
    .await;
    click(c, "form#proxy-create button[type=submit]").await;
    wait_for(c, "#notice", "Proxy created.").await;
    let (_, pasted) = server
        .get("/api/v1/resources/proxies?q=198.51.100.4", token)
        .await;
    let p = &pasted["data"][0];
    assert_eq!(
        (
            p["ip"].clone(),
            p["port"].clone(),
            p["type"].clone(),
            p["login"].clone()
        ),
        (
            json!("198.51.100.4"),
            json!(1080),
            json!("socks5"),
            json!("alice")
        ),
        "{pasted}"
    );
    assert!(p.get("paste").is_none(), "the pasted string is not stored");
    let (_, revealed) = server
        .post(
            &format!(
                "/api/v1/resources/proxies/{}/reveal",
                p["id"].as_str().unwrap()
            ),
            token,
            json!({"field": "password"}),
        )
        .await;
    assert_eq!(revealed["data"]["value"], "pw:1");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licence_table_filters_sorts_pages_and_marks_expiry() {
    let (server, session, browser) = signed_in().await;
    let (c, token) = (&browser.client, session.access_token.as_str());
    let now = chrono::Utc::now().timestamp_millis();
    for (key, kind, expires) in [
        ("BETA-2", "SIN", now + 30 * DAY_MS),
        ("ALPHA-1", "SIN", now + 3 * DAY_MS),
        ("GAMMA-3", "SIN-old", now - DAY_MS),
    ] {
        let body = json!({"key": key, "type": kind, "status": "active", "expires_at": expires});
        let (status, _) = server.post("/api/v1/resources/licenses", token, body).await;
        assert!(status.is_success());
    }
    for n in 0..20 {
        let body = json!({"key": format!("BULK-{n:02}"), "type": "bulk"});
        server.post("/api/v1/resources/licenses", token, body).await;
    }

    c.goto(&format!("{}/licenses", server.url)).await.unwrap();
    wait_for(c, "#page-info", "Page 1 of 2 · Total 23").await;
    click(c, "#next").await;
    wait_for(c, "#page-info", "Page 2 of 2 · Total 23").await;
    assert_eq!(column_texts(c, 2).await.len(), 3);
    // Fifty rows a page: one page; a size not offered is refused on the error page.
    c.goto(&format!("{}/licenses", server.url)).await.unwrap();
    select(c, "#filter select[name=limit]", "50").await;
    click(c, "#filter button[type=submit]").await;
    wait_for(c, "#page-info", "Page 1 of 1 · Total 23").await;
    assert_eq!(column_texts(c, 2).await.len(), 23);
    c.goto(&format!("{}/licenses?limit=7", server.url))
        .await
        .unwrap();
    assert!(text_of(c, "main").await.contains("Rows per page must be"));
    // A page past the last shows the last.
    c.goto(&format!("{}/licenses?page=99", server.url))
        .await
        .unwrap();
    wait_for(c, "#page-info", "Page 2 of 2 · Total 23").await;
    assert_eq!(column_texts(c, 2).await.len(), 3);

    // Filter by text, then sort by key both ways; expiring and expired rows are marked.
    fill(c, "#filter input[name=q]", "sin").await;
    click(c, "#filter button[type=submit]").await;
    wait_for(c, "#page-info", "Page 1 of 1 · Total 3").await;
    click(c, "a[data-sort=key]").await;
    wait_for(c, "a[data-sort=key]", "License key ▲").await;
    assert_eq!(column_texts(c, 2).await, ["ALPHA-1", "BETA-2", "GAMMA-3"]);
    assert!(text_of(c, "tr.expiring").await.contains("ALPHA-1"));
    assert!(text_of(c, "tr.expired").await.contains("GAMMA-3"));
    assert_eq!(
        c.find_all(Locator::Css("tr.expiring, tr.expired"))
            .await
            .unwrap()
            .len(),
        2
    );
    click(c, "a[data-sort=key]").await;
    wait_for(c, "a[data-sort=key]", "License key ▼").await;
    assert_eq!(column_texts(c, 2).await, ["GAMMA-3", "BETA-2", "ALPHA-1"]);
    assert!(
        c.current_url().await.unwrap().as_str().contains("q=sin"),
        "sorting keeps the filter"
    );

    // One expiry model: the badge, the days left, the filter and the Overview agree.
    click(c, "a[data-sort=key]").await;
    wait_for(c, "a[data-sort=key]", "License key ▲").await;
    assert_eq!(column_texts(c, 1).await, ["expiring", "active", "expired"]);
    assert_eq!(column_texts(c, 6).await, ["3", "30", "-1"]);
    c.goto(&format!("{}/", server.url)).await.unwrap();
    let card = "#card-licenses";
    assert_eq!(
        text_of(c, &format!("{card} a[data-state=active]")).await,
        "21"
    );
    assert_eq!(
        text_of(c, &format!("{card} a[data-state=expiring]")).await,
        "1"
    );
    assert_eq!(
        text_of(c, &format!("{card} a[data-state=expired]")).await,
        "1"
    );
    assert!(text_of(c, "#card-expiring").await.contains("3 days"));
    click(c, &format!("{card} a[data-state=expired]")).await;
    wait_for(c, "#page-info", "Page 1 of 1 · Total 1").await;
    assert_eq!(column_texts(c, 2).await, ["GAMMA-3"]);
    select(c, "#filter select[name=status]", "expiring").await;
    click(c, "#filter button[type=submit]").await;
    // The page before also reads "Page 1 of 1 · Total 1": wait for the new one's address.
    wait_for_url(c, "status=expiring").await;
    wait_for(c, "#page-info", "Page 1 of 1 · Total 1").await;
    assert_eq!(column_texts(c, 2).await, ["ALPHA-1"]);
    select(c, "#filter select[name=status]", "active").await;
    click(c, "#filter button[type=submit]").await;
    wait_for(c, "#page-info", "Page 1 of 2 · Total 21").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kanban_tasks_move_and_calendar_events_land_on_their_day() {
    let (server, session, browser) = signed_in().await;
    let (c, token) = (&browser.client, session.access_token.as_str());

    c.goto(&format!("{}/workspace/kanban", server.url))
        .await
        .unwrap();
    // A column's New link starts the form in that column.
    click(c, "#column-in_progress a.new-task").await;
    assert_eq!(
        attr(
            c,
            "form#task-create select[name=status] option[selected]",
            "value"
        )
        .await,
        "in_progress"
    );
    select(c, "form#task-create select[name=status]", "todo").await;
    fill(c, "form#task-create input[name=title]", "Buy gold").await;
    click(c, "form#task-create button[type=submit]").await;
    wait_for(c, "#notice", "Kanban task created.").await;
    assert!(text_of(c, "#column-todo").await.contains("Buy gold"));
    // Each step starts from a page without a notice, so the next notice is the new page's.
    c.goto(&format!("{}/workspace/kanban", server.url))
        .await
        .unwrap();
    click(
        c,
        "#column-todo li[data-title='Buy gold'] button[value=done]",
    )
    .await;
    wait_for(c, "#notice", "Kanban task moved.").await;
    assert!(text_of(c, "#column-done").await.contains("Buy gold"));
    assert!(!text_of(c, "#column-todo").await.contains("Buy gold"));
    let (_, tasks) = server.get("/api/v1/workspace/kanban", token).await;
    assert_eq!(tasks["data"][0]["status"], "done");
    // Dragged onto another column, a card moves there too (the browser's drag events, sent
    // as a pointer drag sends them).
    c.goto(&format!("{}/workspace/kanban", server.url))
        .await
        .unwrap();
    c.execute(
        "const card = document.querySelector(\"#column-done li[data-title='Buy gold']\");
         const column = document.querySelector('#column-in_progress h2');
         const dt = new DataTransfer();
         const send = (on, type) => on.dispatchEvent(
             new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
         send(card, 'dragstart');
         send(column, 'dragover');
         send(column, 'drop');
         send(card, 'dragend');
         return 1;",
        vec![],
    )
    .await
    .unwrap();
    wait_for(c, "#notice", "Kanban task moved.").await;
    assert!(text_of(c, "#column-in_progress").await.contains("Buy gold"));
    let (_, tasks) = server.get("/api/v1/workspace/kanban", token).await;
    assert_eq!(tasks["data"][0]["status"], "in_progress");

    // A task past its due date is marked overdue until it is done; dates read DD.MM.YYYY.
    let yesterday = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    for (title, status) in [("Renew proxies", "todo"), ("Old report", "done")] {
        let body = json!({"title": title, "status": status, "due_date": yesterday.to_string()});
        server.create("/api/v1/workspace/kanban", token, body).await;
    }
    c.goto(&format!("{}/workspace/kanban", server.url))
        .await
        .unwrap();
    let late = text_of(c, "li.card.overdue").await;
    assert!(
        late.contains("Renew proxies")
            && late.contains(&format!("due {}", yesterday.format("%d.%m.%Y"))),
        "{late}"
    );
    assert_eq!(
        c.find_all(Locator::Css("li.card.overdue"))
            .await
            .unwrap()
            .len(),
        1,
        "a done task is not overdue"
    );
    // Edit a task: its title and due date change, and it is no longer overdue.
    click(c, "li.card.overdue a.edit").await;
    assert_eq!(
        attr(c, "form#task-edit input[name=title]", "value").await,
        "Renew proxies"
    );
    fill(c, "form#task-edit input[name=title]", "Renew all proxies").await;
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    set_value(
        c,
        "form#task-edit input[name=due_date]",
        &tomorrow.to_string(),
    )
    .await;
    click(c, "form#task-edit button[type=submit]").await;
    wait_for(c, "#notice", "Kanban task updated.").await;
    assert!(
        text_of(c, "#column-todo")
            .await
            .contains("Renew all proxies")
    );
    assert!(c.find(Locator::Css("li.card.overdue")).await.is_err());

    let day = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-15")
        .to_string();
    let note = server
        .create(
            "/api/v1/workspace/notes",
            token,
            json!({"title": "Raid plan", "content": "bring flasks"}),
        )
        .await;
    let last_week = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let body = json!({"title": "Guild meeting", "date": last_week.to_string()});
    server
        .create("/api/v1/workspace/calendar", token, body)
        .await;
    c.goto(&format!("{}/workspace/calendar", server.url))
        .await
        .unwrap();
    fill(c, "form#event-create input[name=title]", "Raid night").await;
    set_value(c, "form#event-create input[name=date]", &day).await;
    select(c, "form#event-create select[name=linked_note_id]", &note).await;
    click(c, "form#event-create button[type=submit]").await;
    wait_for(c, "#notice", "Calendar event created.").await;
    let cell = format!("td[data-date='{day}']");
    assert!(text_of(c, &cell).await.contains("Raid night"));
    // Beside the month: what was missed (before today) and what is coming, with the note.
    let missed = text_of(c, "#agenda li.missed").await;
    assert!(
        missed.contains("Guild meeting")
            && missed.contains(&last_week.format("%d.%m.%Y").to_string()),
        "{missed}"
    );
    let listed = text_of(c, "#agenda").await;
    assert!(
        listed.contains("Raid night") && listed.contains("Note: Raid plan"),
        "{listed}"
    );
    assert_eq!(
        attr(c, &format!("{cell} a.event-note"), "href").await,
        format!("/notes/{note}")
    );
    // The week view shows the seven days of the event's week, and moves a week at a time.
    c.goto(&format!(
        "{}/workspace/calendar?month={}",
        server.url,
        &day[..7]
    ))
    .await
    .unwrap();
    click(c, "#view-week").await;
    wait_for(c, "#view-week[aria-current=page]", "Week").await;
    let shown = c
        .find_all(Locator::Css("#calendar tbody td"))
        .await
        .unwrap()
        .len();
    assert_eq!(shown, 7);
    let week_days: Vec<String> = {
        let mut days = Vec::new();
        for td in c
            .find_all(Locator::Css("#calendar tbody td"))
            .await
            .unwrap()
        {
            days.push(td.attr("data-date").await.unwrap().unwrap_or_default());
        }
        days
    };
    let today = chrono::Utc::now().date_naive().to_string();
    assert!(week_days.contains(&today), "{week_days:?}");
    click(c, "#next-month").await;
    let next_week = (chrono::Utc::now().date_naive() + chrono::Duration::days(7)).to_string();
    text_of(c, &format!("td[data-date='{next_week}']")).await;
    click(c, "#view-month").await;
    wait_for(c, "#view-month[aria-current=page]", "Month").await;
    c.goto(&format!(
        "{}/workspace/calendar?month={}",
        server.url,
        &day[..7]
    ))
    .await
    .unwrap();
    // Edit it from its title: another title and the next day.
    click(c, &format!("{cell} a.event-title")).await;
    fill(c, "form#event-edit input[name=title]", "Raid night, moved").await;
    let next_day = format!("{}16", &day[..8]);
    set_value(c, "form#event-edit input[name=date]", &next_day).await;
    click(c, "form#event-edit button[type=submit]").await;
    wait_for(c, "#notice", "Calendar event updated.").await;
    let moved = format!("td[data-date='{next_day}']");
    assert!(text_of(c, &moved).await.contains("Raid night, moved"));
    assert!(!text_of(c, &cell).await.contains("Raid night"));
    let cell = moved;

    // Delete it (confirming the dialog); the month stays in view.
    let month = &day[..7];
    c.goto(&format!("{}/workspace/calendar?month={month}", server.url))
        .await
        .unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(c, &format!("{cell} .event button")).await;
    wait_for(c, "#notice", "Calendar event deleted.").await;
    assert!(!text_of(c, &cell).await.contains("Raid night"));
    let (_, events) = server.get("/api/v1/workspace/calendar", token).await;
    let titles: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["title"].as_str())
        .collect();
    assert_eq!(titles, ["Guild meeting"]);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_moves_through_its_lifecycle_and_is_banned_and_unbanned() {
    let (server, session, browser) = signed_in().await;
    let t = &session.access_token;
    let c = &browser.client;
    let bot = server
        .create(
            "/api/v1/bots",
            t,
            json!({"name": "Lich", "status": "prepare", "character": {"level": 33}}),
        )
        .await;
    c.goto(&format!("{}/bot/{bot}", server.url)).await.unwrap();

    for status in ["leveling", "farming"] {
        select(c, "#transition select[name=status]", status).await;
        click(c, "#transition button").await;
        wait_for(c, "#bot-status", status).await;
    }
    wait_for(c, "#notice", "Bot moved.").await;

    click(c, "#ban-panel summary").await;
    select(c, "#ban select[name=ban_mechanism]", "ip_ban").await;
    fill(
        c,
        "#ban textarea[name=ban_reason]",
        "flagged by the anti-cheat",
    )
    .await;
    click(c, "#ban button").await;
    wait_for(c, "#bot-status", "banned").await;
    assert!(
        c.find(Locator::Css("#transition")).await.is_err(),
        "a banned bot offers only unban"
    );
    let (_, archive) = server.get(&format!("/api/v1/bots/{bot}/archive"), t).await;
    assert_eq!(archive["data"][0]["ban_details"]["ban_mechanism"], "ip_ban");

    // The archive lists it with the ban's details, mechanism in words, and unbans it.
    c.goto(&format!("{}/archive", server.url)).await.unwrap();
    let row = text_of(c, "table#archive tbody tr").await;
    assert!(
        row.contains("flagged by the anti-cheat") && row.contains("ip ban"),
        "{row}"
    );
    click(c, "table#archive button").await;
    wait_for(c, "#bot-status", "farming").await;
    wait_for(c, "#notice", "Bot unbanned.").await;
    c.goto(&format!("{}/archive", server.url)).await.unwrap();
    text_of(c, "#no-banned").await;
    // A page number past any bound is refused on the error page, never a 500.
    c.goto(&format!("{}/archive?page=9223372036854775807", server.url))
        .await
        .unwrap();
    assert!(text_of(c, "main").await.contains("page"));
    c.goto(&format!("{}/bot/{bot}", server.url)).await.unwrap();

    click(c, "a[data-tab=history]").await;
    text_of(c, "#lifecycle-log").await;
    let kinds = c
        .find_all(Locator::Css("#lifecycle-log tbody tr"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for row in kinds {
        seen.push(row.attr("data-type").await.unwrap().unwrap_or_default());
    }
    assert_eq!(seen, ["unban", "ban", "status_change", "status_change"]);
    let archived = text_of(c, "#archive").await;
    assert!(
        archived.contains("ip_ban")
            && archived.contains("flagged by the anti-cheat")
            && archived.contains("33"),
        "{archived}"
    );
    let (_, api) = server.get(&format!("/api/v1/bots/{bot}"), t).await;
    assert_eq!(api["data"]["status"], "farming");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_notes_lead_and_a_note_previews_its_markdown_safely() {
    let (server, session, browser) = signed_in().await;
    let (c, token) = (&browser.client, session.access_token.as_str());
    let content =
        "# Plan\n\n**bold** [bad](javascript:alert(1))\n\n<script>window.hacked = 1</script>\n";
    for (title, pinned) in [("Alpha", false), ("Pinned one", true), ("Zulu", false)] {
        let body = json!({"title": title, "is_pinned": pinned, "content": content});
        server.create("/api/v1/workspace/notes", token, body).await;
    }
    c.goto(&format!("{}/notes", server.url)).await.unwrap();
    assert_eq!(column_texts(c, 1).await[0], "Pinned one");
    click(c, "a[data-sort=title]").await;
    wait_for(c, "a[data-sort=title]", "Title ▲").await;
    assert_eq!(
        column_texts(c, 1).await,
        ["Pinned one", "Alpha", "Zulu"],
        "pinned first whatever the sort"
    );

    click(c, "table#records a.open").await;
    assert_eq!(text_of(c, "#note-preview h1").await, "Plan");
    assert_eq!(text_of(c, "#note-preview strong").await, "bold");
    assert_eq!(attr(c, "#note-preview a", "href").await, "#");
    assert!(
        text_of(c, "#note-preview").await.contains("<script>"),
        "shown as text"
    );
    let ran = c
        .execute("return window.hacked === 1", vec![])
        .await
        .unwrap();
    assert_eq!(ran, json!(false));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_page_lists_its_accounts_with_what_is_attached() {
    let (server, session, browser) = signed_in().await;
    let (c, token) = (&browser.client, session.access_token.as_str());
    define_projects(&server).await;
    let mut ids = Vec::new();
    let seen = chrono::Utc::now().timestamp_millis() - 10 * 60_000;
    for (name, project, status, server_name) in [
        ("Thrall", "tbc", "farming", "Gehennas"),
        ("Jaina", "tbc", "farming", "Firemaw"),
        ("Sylvanas", "mid", "farming", "Gehennas"),
    ] {
        let body = json!({
            "name": name, "project_id": project, "status": status,
            "account": {"email": format!("{}@mail.example", name.to_lowercase())},
            "vm": {"name": format!("vm-{name}")}, "last_seen": seen,
            "character": {"name": format!("{name}Char"), "level": 60,
                          "server": server_name, "faction": "horde"},
        });
        let (status, created) = server.post("/api/v1/bots", token, body).await;
        assert!(status.is_success(), "{created}");
        ids.push(created["data"]["id"].as_str().unwrap().to_owned());
    }
    let ban = json!({"ban_date": "05.03.2026", "ban_reason": "warden", "ban_mechanism": "game_suspension"});
    let (status, banned) = server
        .post(
            &format!("/api/v1/bots/{}/lifecycle/ban", ids[1]),
            token,
            ban,
        )
        .await;
    assert!(status.is_success(), "{banned}");
    let now = chrono::Utc::now().timestamp_millis();
    let attach = [
        (
            "licenses",
            json!({"key": "L-1", "bot_ids": [ids[0]], "expires_at": now - DAY_MS}),
        ),
        (
            "proxies",
            json!({"ip": "203.0.113.9", "port": 8080, "bot_id": ids[0], "expires_at": now + 3 * DAY_MS}),
        ),
        (
            "subscriptions",
            json!({"type": "wow", "bot_id": ids[2], "expires_at": now + 90 * DAY_MS}),
        ),
    ];
    for (kind, body) in attach {
        let (status, created) = server
            .post(&format!("/api/v1/resources/{kind}"), token, body)
            .await;
        assert!(status.is_success(), "{created}");
    }

    // The project's two bots, never the other project's, with their account, character
    // and the state of what is attached to them.
    c.goto(&format!("{}/project/tbc", server.url))
        .await
        .unwrap();
    wait_for(c, "#project-total", "Total 2 accounts").await;
    assert_eq!(
        text_of(c, "a.stat-card[data-status=farming] .stat-count").await,
        "1"
    );
    assert_eq!(
        text_of(c, "a.stat-card[data-status=banned] .stat-count").await,
        "1"
    );
    let thrall = format!("table#records tr[data-id='{}']", ids[0]);
    let row = text_of(c, &thrall).await;
    for part in [
        "Thrall",
        &ids[0][..8],
        "vm-Thrall",
        "thrall@mail.example",
        "ThrallChar (60)",
        "Gehennas • horde",
    ] {
        assert!(row.contains(part), "{part} in {row}");
    }
    // Columns: bot, status, VM, account, character, licence, proxy, subscription.
    assert_eq!(
        column_texts(c, 6).await,
        ["none", "expired\nended 1 day ago"]
    );
    assert_eq!(column_texts(c, 7).await, ["none", "expiring\n3 days left"]);
    assert_eq!(column_texts(c, 8).await, ["none", "none"]);
    assert!(!text_of(c, "table#records").await.contains("Sylvanas"));
    // The VM column opens the bot's VM Info tab; a bot without a VM says so.
    click(c, &format!("{thrall} td a[href$='?tab=vm']")).await;
    wait_for(c, "#vm-name", "vm-Thrall").await;
    c.goto(&format!("{}/bot/{}?tab=vm", server.url, ids[1]))
        .await
        .unwrap();
    text_of(c, "#vm-name").await;
    server
        .patch(
            &format!("/api/v1/bots/{}", ids[1]),
            token,
            json!({"vm": null}),
        )
        .await;
    c.refresh().await.unwrap();
    wait_for(c, "#no-vm", "No VM assigned to this bot.").await;
    c.goto(&format!("{}/project/tbc", server.url))
        .await
        .unwrap();
    // The bot's page names its project, linked back, and when it was last seen.
    click(c, &format!("{thrall} td a")).await;
    wait_for(c, "dl.facts a[href='/project/tbc']", "TBC").await;
    let seen_at = attr(c, "dl.facts time[data-ago]", "datetime").await;
    assert!(seen_at.ends_with('Z'), "{seen_at}");

    // Search over nested fields, then the status filter, which the stat cards also set.
    c.goto(&format!("{}/project/tbc?q=firemaw", server.url))
        .await
        .unwrap();
    assert_eq!(column_texts(c, 1).await.len(), 1);
    assert!(text_of(c, "table#records").await.contains("Jaina"));
    wait_for(c, "#project-total", "Total 2 accounts · 1 match the filter").await;
    c.goto(&format!("{}/project/tbc", server.url))
        .await
        .unwrap();
    click(c, "a.stat-card[data-status=farming]").await;
    wait_for(c, "#page-info", "Page 1 of 1 · Total 1").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.query()),
        ("/project/tbc", Some("status=farming"))
    );
    assert_eq!(
        attr(c, "#filter select[name=status] option[selected]", "value").await,
        "farming"
    );
    assert!(text_of(c, "table#records").await.contains("Thrall"));
    // Sorted by name (ascending at first), then descending through the header link.
    c.goto(&format!("{}/project/tbc", server.url))
        .await
        .unwrap();
    let names = column_texts(c, 1).await;
    assert!(names[0].starts_with("Jaina"), "{names:?}");
    click(c, "a.sort[data-sort=name]").await;
    wait_for(c, "a.sort[data-sort=name]", "Bot ▼").await;
    let names = column_texts(c, 1).await;
    assert!(
        names[0].starts_with("Thrall") && names[1].starts_with("Jaina"),
        "{names:?}"
    );

    // The table is wider than its panel here, and a row's actions stay in sight all the
    // same: the Delete button lies inside the scroller's visible box without scrolling it.
    let delete = format!("table#records tr[data-id='{}'] button.danger", ids[1]);
    let boxes = c
        .execute(
            "const s = document.querySelector('.table-scroll').getBoundingClientRect(); \
             const b = document.querySelector(arguments[0]).getBoundingClientRect(); \
             return [s.left, s.right, b.left, b.right];",
            vec![serde_json::json!(delete)],
        )
        .await
        .unwrap();
    let [left, right, button_left, button_right] =
        serde_json::from_value::<[f64; 4]>(boxes).unwrap();
    assert!(
        left <= button_left && button_right <= right,
        "Delete at {button_left}..{button_right}, the scroller shows {left}..{right}"
    );
    // Delete an account from the table (confirming), and stay on the project's page.
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(c, &delete).await;
    wait_for(c, "#notice", "Bot deleted.").await;
    assert!(path(c).await.starts_with("/project/tbc"));
    wait_for(c, "#project-total", "Total 1 account").await;
    let (status, _) = server.get(&format!("/api/v1/bots/{}", ids[1]), token).await;
    assert_eq!(status.as_u16(), 404);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_proxy_string_becomes_the_bots_proxy() {
    let (server, session, browser) = signed_in().await;
    let (c, token) = (&browser.client, session.access_token.as_str());
    let bot = server
        .create("/api/v1/bots", token, json!({"name": "Rexxar"}))
        .await;
    c.goto(&format!("{}/bot/{bot}?tab=proxy", server.url))
        .await
        .unwrap();
    // A string that is no proxy is refused and stays in its input.
    fill(c, "#paste-proxy input[name=paste]", "not a proxy").await;
    click(c, "#paste-proxy button").await;
    assert!(text_of(c, "#error").await.contains("paste"));
    assert_eq!(
        attr(c, "#paste-proxy input[name=paste]", "value").await,
        "not a proxy"
    );
    fill(
        c,
        "#paste-proxy input[name=paste]",
        "198.51.100.4:3128:u1:secret-pw",
    )
    .await;
    click(c, "#paste-proxy button").await;
    wait_for(c, "#notice", "Proxy attached.").await;
    assert!(text_of(c, "#tab-proxy").await.contains("198.51.100.4:3128"));
    assert!(!c.source().await.unwrap().contains("secret-pw"));
    let (_, proxies) = server.get("/api/v1/resources/proxies", token).await;
    let proxy = &proxies["data"][0];
    assert_eq!(
        (&proxy["bot_id"], &proxy["login"], &proxy["port"]),
        (&json!(bot), &json!("u1"), &json!(3128))
    );
    assert_ne!(
        proxy["password"],
        json!("secret-pw"),
        "stored sealed, shown masked"
    );
    browser.close().await;
}
