//! The Agents and VM operations pages in real headless Chromium: a pairing created on the
//! page gives a one-paste string an agent registers with; the agent shows up online with its
//! version; a command dispatched through the API appears in the open command log and goes
//! through dispatched, running and succeeded with its result, all live (no reload);
//! revoking the agent on the page stops its token.

use base64::Engine;
use botmox_proto::auth::Role;
use botmox_testkit::browser::{
    Browser, attr, click, fill, select, set_value, sign_in, text_of, texts_of, wait_for,
    wait_for_parts,
};
use botmox_testkit::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Mark the page: a reload would lose the mark.
async fn set_marker(c: &fantoccini::Client) {
    c.execute("window.botmoxMarker = 'still here'; return true;", vec![])
        .await
        .unwrap();
}

async fn marker(c: &fantoccini::Client) -> String {
    let v = c
        .execute("return window.botmoxMarker || 'reloaded';", vec![])
        .await
        .unwrap();
    v.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_from_the_page_see_it_online_and_revoke_it() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;
    c.goto(&format!("{}/agents", server.url)).await.unwrap();
    fill(c, "#pairing-create input[name=name]", "rack-1").await;
    click(c, "#pairing-create button").await;
    let uri = text_of(c, "#pairing-uri").await;
    assert!(text_of(c, "#pairing-command").await.contains(&uri));
    // The same bundle as a link on the server's URL, and a copy button beside each paste.
    let link = text_of(c, "#pairing-link").await;
    let bundle_of = |s: &str| s.split_once("bundle=").map(|(_, b)| b.to_owned());
    assert!(
        link.starts_with(&format!("{}/agent/pair?bundle=", server.url)),
        "{link}"
    );
    assert_eq!(bundle_of(&link), bundle_of(&uri));
    click(c, "button[data-copy=pairing-link]").await;
    // The clipboard answers asynchronously: wait for the button to say how it went.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let copied = loop {
        let text = text_of(c, "button[data-copy=pairing-link]").await;
        if text != "Copy" || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        copied == "Copied" || copied.starts_with("Selected"),
        "{copied}"
    );
    let bundle = uri
        .strip_prefix("botmox://pair?bundle=")
        .expect("a pairing URI");
    let bundle: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(bundle)
            .unwrap(),
    )
    .unwrap();

    set_marker(c).await;
    let (status, agent) = server
        .call(Method::POST, "/api/v1/agents/register", None,
            Some(json!({"pairing_code": bundle["pairing_code"], "version": "0.9.1", "platform": "linux"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let token = agent["data"]["agent_token"].as_str().unwrap().to_owned();

    // The list updates by itself (the agent's `agent.online` event), without a reload.
    wait_for_parts(c, "#agents tbody tr", &["rack-1", "online", "0.9.1"]).await;
    assert_eq!(
        marker(c).await,
        "still here",
        "updated in place, not reloaded"
    );

    // A command dispatched through the API appears on the open VM operations page, then
    // runs and shows its result as the agent reports: all without a reload.
    c.goto(&format!("{}/vm-ops", server.url)).await.unwrap();
    set_marker(c).await;
    let agent_id = agent["data"]["id"].as_str().unwrap();
    let (status, queued) = server
        .post(
            "/api/v1/vm-ops/proxmox/list-vms",
            &session.access_token,
            json!({"agent_id": agent_id}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_for_parts(
        c,
        "#commands tbody tr",
        &["proxmox.list-vms", "queued", "rack-1"],
    )
    .await;
    let (_, claimed) = server
        .get("/api/v1/vm-ops/commands/next?timeout_ms=1000", &token)
        .await;
    assert_eq!(claimed["data"]["id"], queued["data"]["id"]);
    wait_for_parts(c, "#commands tbody tr", &["dispatched"]).await;
    let claim = claimed["data"]["claim_id"].clone();
    let path = format!(
        "/api/v1/vm-ops/commands/{}",
        claimed["data"]["id"].as_str().unwrap()
    );
    server
        .patch(
            &path,
            &token,
            json!({"claim_id": claim, "status": "running"}),
        )
        .await;
    wait_for_parts(c, "#commands tbody tr", &["running"]).await;
    server
        .patch(
            &path,
            &token,
            json!({"claim_id": claim, "status": "succeeded", "result": {"vms": 3}}),
        )
        .await;
    // The result reads as a key/value list, the raw JSON behind a toggle; the badge is green.
    wait_for_parts(c, "#commands tbody tr", &["succeeded", "vms", "3"]).await;
    let done = "#commands tbody tr[data-status=succeeded]";
    assert!(
        attr(c, &format!("{done} .badge"), "class")
            .await
            .contains("ok")
    );
    click(c, &format!("{done} details.raw summary")).await;
    wait_for_parts(c, &format!("{done} details.raw pre"), &["\"vms\": 3"]).await;
    assert_eq!(
        marker(c).await,
        "still here",
        "updated in place, not reloaded"
    );
    // The dispatch form queues any action of the catalogue; a payload that is not JSON is
    // refused with the reason, the form kept as it was.
    select(
        c,
        "#dispatch-form select[name=command_type]",
        "proxmox.vm-status",
    )
    .await;
    fill(c, "#dispatch-form textarea[name=payload]", "{\"vmid\": 1").await;
    click(c, "#dispatch-form button").await;
    wait_for_parts(
        c,
        "#dispatch-form .field-error[data-field=payload]",
        &["JSON"],
    )
    .await;
    assert_eq!(
        attr(
            c,
            "#dispatch-form select[name=command_type] option[selected]",
            "value"
        )
        .await,
        "proxmox.vm-status"
    );
    set_value(
        c,
        "#dispatch-form textarea[name=payload]",
        "{\"vmid\": 101}",
    )
    .await;
    click(c, "#dispatch-form button").await;
    wait_for_parts(c, "#notice", &["Command queued"]).await;
    wait_for_parts(c, "#commands tbody tr", &["proxmox.vm-status", "queued"]).await;
    let (_, listed) = server
        .get(
            "/api/v1/vm-ops/commands?command_type=proxmox.vm-status",
            &session.access_token,
        )
        .await;
    assert_eq!(
        listed["data"][0]["payload"],
        json!({"vmid": 101}),
        "{listed}"
    );
    // A command that fails shows its error with a red badge.
    let (_, claimed) = server
        .get("/api/v1/vm-ops/commands/next?timeout_ms=1000", &token)
        .await;
    let path = format!(
        "/api/v1/vm-ops/commands/{}",
        claimed["data"]["id"].as_str().unwrap()
    );
    let failure = json!({"claim_id": claimed["data"]["claim_id"], "status": "failed",
        "error_message": "VM 101 does not exist"});
    server.patch(&path, &token, failure).await;
    wait_for_parts(
        c,
        "#commands tbody tr[data-status=failed]",
        &["proxmox.vm-status", "VM 101 does not exist"],
    )
    .await;
    let failed = "#commands tbody tr[data-status=failed] .badge";
    assert!(attr(c, failed, "class").await.contains("error"));

    // What the agent's doctor found shows on the Agents page, in words.
    let doctor = json!({"checked_at": "2026-12-02T10:00:00Z",
        "proxmox": {"configured": true, "reachable": true, "authenticated": true, "detail": "Proxmox VE 8.2"},
        "ssh": {"configured": true, "reachable": false, "authenticated": false, "detail": "connection refused"}});
    let (status, _) = server
        .post(
            "/api/v1/agents/heartbeat",
            &token,
            json!({"host": {"hostname": "rack-1", "doctor": doctor}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    c.goto(&format!("{}/agents", server.url)).await.unwrap();
    assert_eq!(
        text_of(c, "#agents tbody tr .proxmox").await,
        "reachable and authenticated"
    );
    assert_eq!(text_of(c, "#agents tbody tr .ssh").await, "NOT reachable");
    assert!(
        attr(c, "#agents tbody tr .ssh", "title")
            .await
            .contains("connection refused")
    );

    click(c, "#agents tbody tr button").await;
    wait_for(c, "#notice", "Agent revoked.").await;
    assert!(text_of(c, "#agents tbody tr").await.contains("revoked"));
    assert_eq!(
        server
            .post("/api/v1/agents/heartbeat", &token, json!({}))
            .await
            .0,
        StatusCode::CONFLICT,
        "a revoked agent's token answers AGENT_REVOKED"
    );
    browser.close().await;
}

/// Pairings of 55 agents named `rack-00` to `rack-54`, in that order.
async fn pair_racks(server: &TestServer, token: &str) -> Vec<Value> {
    let mut pairings = Vec::new();
    for i in 0..55 {
        let (status, body) = server
            .post(
                "/api/v1/agents/pairings",
                token,
                json!({"name": format!("rack-{i:02}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        pairings.push(body["data"].clone());
    }
    pairings
}

/// A fleet larger than a page is shown fifty agents at a time, newest first, with the total
/// and a pager; the live re-render keeps to the page shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_fleet_is_paged_on_the_agents_page() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    pair_racks(&server, &session.access_token).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;
    c.goto(&format!("{}/agents", server.url)).await.unwrap();
    assert_eq!(text_of(c, "#agent-total").await, "55");
    assert_eq!(text_of(c, "#page-info").await, "Page 1 of 2 · Total 55");
    // The names in the list shown, first column of each row.
    let names = |c| texts_of(c, "#agents tbody tr td:first-child");
    let mut shown = names(c).await;
    assert_eq!(shown.len(), 50);
    assert_eq!(attr(c, "#agent-list", "data-live").await, "/agents?page=1");
    click(c, "#next").await;
    wait_for(c, "#page-info", "Page 2 of 2 · Total 55").await;
    let second = names(c).await;
    assert_eq!(second.len(), 5);
    shown.extend(second);
    shown.sort();
    let every: Vec<String> = (0..55).map(|i| format!("rack-{i:02}")).collect();
    assert_eq!(shown, every, "the two pages show every agent once");
    assert!(
        c.find(fantoccini::Locator::Css("#next")).await.is_err(),
        "no page after the last"
    );
    // A page past the last shows the last, however far past.
    for past in ["99", "18446744073709551615"] {
        c.goto(&format!("{}/agents?page={past}", server.url))
            .await
            .unwrap();
        wait_for(c, "#page-info", "Page 2 of 2 · Total 55").await;
    }
    // Found by name: the count, no pager for one page, and the live re-render keeps the search.
    c.goto(&format!("{}/agents", server.url)).await.unwrap();
    fill(c, "#agent-search input[name=q]", "RACK-1").await;
    click(c, "#agent-search button[type=submit]").await;
    wait_for(c, "#agent-total", "10").await;
    let mut found = names(c).await;
    found.sort();
    let tens: Vec<String> = (10..20).map(|i| format!("rack-{i}")).collect();
    assert_eq!(found, tens);
    assert!(
        c.find(fantoccini::Locator::Css("#page-info"))
            .await
            .is_err()
    );
    assert_eq!(
        attr(c, "#agent-list", "data-live").await,
        "/agents?page=1&q=RACK-1"
    );
    fill(c, "#agent-search input[name=q]", "50%").await;
    click(c, "#agent-search button[type=submit]").await;
    wait_for(c, "#agent-list p.muted", "No agent's name holds “50%”.").await;
    assert_eq!(text_of(c, "#agent-total").await, "0");
}

/// A fleet larger than the agent field lists is searched by name on the VM operations page:
/// the fields offer the newest fifty and say so, "Find agent" narrows them, an agent chosen
/// stays offered, a command dispatched to a found agent is logged under its name, and another
/// tenant's agent is never offered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_fleet_is_searched_on_the_vm_operations_page() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let stranger = server
        .user_session("other", "ops@other.example", Role::User)
        .await;
    let pairings = pair_racks(&server, &session.access_token).await;
    let (found_id, _) = server.register(&pairings[3]).await;
    let (_, foreign) = server
        .post(
            "/api/v1/agents/pairings",
            &stranger.access_token,
            json!({"name": "rack-foreign"}),
        )
        .await;
    let foreign_id = foreign["data"]["id"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;
    c.goto(&format!("{}/vm-ops", server.url)).await.unwrap();
    assert_eq!(
        text_of(c, "#agent-choices").await,
        "50 of 55 agents listed, newest first: Find agent looks for others."
    );
    let names = texts_of(c, "#dispatch-form select[name=agent_id] option").await;
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((names.len(), distinct.len()), (50, 50));
    // One left out (of the oldest, give or take agents paired in the same millisecond).
    let (left_out_id, left_out) = pairings
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .find(|(_, name)| !names.iter().any(|n| n == name))
        .expect("an agent left out");

    // Find one by part of its name, in any case.
    fill(c, "#command-filter input[name=agent_q]", "RACK-03").await;
    click(c, "#command-filter button[type=submit]").await;
    wait_for(
        c,
        "#agent-choices",
        "1 of 1 agents whose name holds “RACK-03” listed, newest first: Find agent looks for others.",
    )
    .await;
    assert_eq!(
        texts_of(c, "#dispatch-form select[name=agent_id] option").await,
        ["rack-03"]
    );
    assert_eq!(
        texts_of(c, "#command-filter select[name=agent_id] option").await,
        ["All agents", "rack-03"]
    );
    // Dispatch to it; the log names it.
    select(
        c,
        "#dispatch-form select[name=command_type]",
        "proxmox.start",
    )
    .await;
    fill(
        c,
        "#dispatch-form textarea[name=payload]",
        r#"{"vmid": 103}"#,
    )
    .await;
    click(c, "#dispatch-form button[type=submit]").await;
    wait_for(
        c,
        "#notice",
        "Command queued; it shows below as the agent runs it.",
    )
    .await;
    assert_eq!(
        text_of(c, "#commands tbody tr:first-child td:nth-child(2)").await,
        "rack-03"
    );
    assert_eq!(
        attr(c, "#commands tbody tr:first-child", "data-status").await,
        "queued"
    );
    let (_, commands) = server
        .get(
            &format!("/api/v1/vm-ops/commands?agent_id={found_id}"),
            &session.access_token,
        )
        .await;
    assert_eq!(commands["data"].as_array().unwrap().len(), 1);

    // An agent chosen in the filter stays offered though it is not among the newest fifty;
    // another tenant's agent is not offered, whatever the address says.
    let filter_options = "#command-filter select[name=agent_id] option";
    c.goto(&format!("{}/vm-ops?agent_id={left_out_id}", server.url))
        .await
        .unwrap();
    let names = texts_of(c, filter_options).await;
    assert_eq!((names.len(), names[51].as_str()), (52, left_out));
    assert_eq!(
        attr(
            c,
            "#command-filter select[name=agent_id] option[selected]",
            "value"
        )
        .await,
        left_out_id
    );
    c.goto(&format!("{}/vm-ops?agent_id={foreign_id}", server.url))
        .await
        .unwrap();
    let names = texts_of(c, filter_options).await;
    assert_eq!(names.len(), 51);
    assert!(!names.iter().any(|n| n == "rack-foreign"), "{names:?}");

    // A search longer than any name is refused, as the API refuses it.
    c.goto(&format!(
        "{}/vm-ops?agent_q={}",
        server.url,
        "a".repeat(201)
    ))
    .await
    .unwrap();
    assert!(
        text_of(c, "#error-message")
            .await
            .contains("at most 200 characters")
    );

    // The VM generator's two agent fields are the same picker, searched from the page.
    c.goto(&format!("{}/vm-jobs", server.url)).await.unwrap();
    assert_eq!(
        text_of(c, "#agent-choices").await,
        "50 of 55 agents listed, newest first: Find agent looks for others."
    );
    fill(c, "#agent-find input[name=agent_q]", "rack-03").await;
    click(c, "#agent-find button[type=submit]").await;
    wait_for(
        c,
        "#agent-choices",
        "1 of 1 agents whose name holds “rack-03” listed, newest first: Find agent looks for others.",
    )
    .await;
    for form in ["#batch-form", "#delete-form"] {
        assert_eq!(
            texts_of(c, &format!("{form} select[name=agent_id] option")).await,
            ["rack-03"],
            "{form}"
        );
    }
    browser.close().await;
}

/// Play the agent of `token` on `url`, for as long as the task runs: answer the VMs to
/// `proxmox.list-vms` (a running one and a template) and `{}` to anything else, adding each
/// command's type and payload to `answered`.
async fn play_agent(url: String, token: String, answered: Arc<Mutex<Vec<(String, Value)>>>) {
    let http = reqwest::Client::new();
    loop {
        let next: Value = http
            .get(format!("{url}/api/v1/vm-ops/commands/next?timeout_ms=5000"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let command = &next["data"];
        if command.is_null() {
            continue;
        }
        let kind = command["command_type"].as_str().unwrap().to_owned();
        let result = if kind == "proxmox.list-vms" {
            json!([
                {"vmid": 101, "name": "web-1", "status": "running", "cpu": 0.05,
                 "mem": 1_073_741_824_u64, "maxmem": 4_294_967_296_u64, "uptime": 3_700},
                {"vmid": 900, "name": "win-template", "status": "stopped", "template": true},
            ])
        } else {
            json!({})
        };
        let status = http
            .patch(format!(
                "{url}/api/v1/vm-ops/commands/{}",
                command["id"].as_str().unwrap()
            ))
            .bearer_auth(&token)
            .json(
                &json!({"claim_id": command["claim_id"], "status": "succeeded", "result": result}),
            )
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
        answered
            .lock()
            .unwrap()
            .push((kind, command["payload"].clone()));
    }
}

/// The VMs page with a fleet larger than its agent field: it offers fifty active agents,
/// "Find agent" finds the one wanted, the page lists that agent's VMs through it (templates
/// without actions), and an action queues the command for that agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vms_page_finds_an_agent_lists_its_vms_and_acts_on_one() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let mut agents = Vec::new();
    for pairing in pair_racks(&server, &session.access_token).await {
        agents.push(server.register(&pairing).await);
    }
    let (rack_07, token) = agents[7].clone();
    let answered = Arc::new(Mutex::new(Vec::new()));
    let agent = tokio::spawn(play_agent(server.url.clone(), token, answered.clone()));

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;
    // The agent asked for is listed with the newest fifty, and its VMs are shown.
    c.goto(&format!("{}/vms?agent_id={rack_07}", server.url))
        .await
        .unwrap();
    wait_for(c, "#vms tbody tr[data-vmid='101'] td:nth-child(2)", "web-1").await;
    assert_eq!(
        text_of(c, "#agent-choices").await,
        "50 of 55 agents listed, newest first: Find agent looks for others."
    );
    let offered = texts_of(c, "#vm-filter select[name=agent_id] option").await;
    assert!(
        (50..=51).contains(&offered.len()) && offered.iter().any(|n| n == "rack-07"),
        "{offered:?}"
    );
    assert_eq!(
        attr(
            c,
            "#vm-filter select[name=agent_id] option[selected]",
            "value"
        )
        .await,
        rack_07
    );
    // Found by name, it is the only one offered.
    fill(c, "#vm-filter input[name=agent_q]", "rack-07").await;
    click(c, "#vm-filter button[type=submit]").await;
    wait_for(
        c,
        "#agent-choices",
        "1 of 1 agents whose name holds “rack-07” listed, newest first: Find agent looks for others.",
    )
    .await;
    assert_eq!(
        texts_of(c, "#vm-filter select[name=agent_id] option").await,
        ["rack-07"]
    );
    wait_for(c, "#vms tbody tr[data-vmid='101'] td:nth-child(2)", "web-1").await;
    assert_eq!(
        texts_of(c, "#vms tbody tr[data-vmid='900'] button").await,
        Vec::<String>::new(),
        "a template has no actions"
    );
    click(
        c,
        "#vms tbody tr[data-vmid='101'] form[action$='/start'] button",
    )
    .await;
    wait_for(
        c,
        "#notice",
        "Start of VM 101 queued: its progress shows in the log below.",
    )
    .await;
    // The page's lists are read-only commands (one of the last seconds answers for another);
    // the start is an action, sent once.
    agent.abort();
    let answered = answered.lock().unwrap().clone();
    let (lists, actions): (Vec<_>, Vec<_>) = answered
        .into_iter()
        .partition(|(kind, _)| kind == "proxmox.list-vms");
    assert!(!lists.is_empty());
    assert_eq!(
        actions,
        [("proxmox.start".to_owned(), json!({"vmid": 101}))]
    );
    browser.close().await;
}
