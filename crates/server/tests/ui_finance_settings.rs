//! The Overview, Finance and Settings pages in real headless Chromium: recording income and
//! expenses changes the totals and the server-drawn charts, settings are saved with the API's
//! rules, credentials stay write-only with an audited reveal, projects are managed.

use botmox_proto::auth::Role;
use botmox_testkit::browser::{
    Browser, attr, click, fill, select, set_value, sign_in, text_of, wait_for, wait_for_parts,
    wait_for_url,
};
use botmox_testkit::{Backend, TestServer};
use fantoccini::Locator;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_income_and_expenses_changes_totals_and_charts() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "op@example.com", Role::User)
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, "op@example.com", "correct-horse-battery").await;

    c.goto(&format!("{}/finance", server.url)).await.unwrap();
    wait_for(c, "#total-income", "0.00").await;
    let flat = attr(c, "polyline[data-series=income]", "points").await;
    // Nothing yet: the charts say so in words.
    assert!(
        text_of(c, ".chart-empty")
            .await
            .contains("Nothing recorded")
    );
    assert!(
        text_of(c, "[data-chart=expenses-by-category]")
            .await
            .contains("Nothing to show")
    );

    fill(c, "#operation-create input[name=amount]", "120").await;
    click(c, "#operation-create button").await;
    wait_for(c, "#notice", "Operation recorded.").await;
    wait_for(c, "#total-income", "120.00").await;
    let risen = attr(c, "polyline[data-series=income]", "points").await;
    assert_ne!(flat, risen, "the income line moved");

    select(c, "#operation-create select[name=type]", "expense").await;
    select(c, "#operation-create select[name=category]", "proxy").await;
    fill(c, "#operation-create input[name=amount]", "20.5").await;
    fill(c, "#operation-create input[name=description]", "proxy pack").await;
    click(c, "#operation-create button").await;
    wait_for(c, "#notice", "Operation recorded.").await;
    wait_for(c, "#total-expense", "20.50").await;
    wait_for(c, "#total-profit", "99.50").await;
    let bars = text_of(c, "[data-chart=expenses-by-category]").await;
    assert!(bars.contains("proxy") && bars.contains("20.50"), "{bars}");
    // Each point of the line has a marker with its period and value as a hover title.
    let titles = c
        .find_all(Locator::Css("circle.point[data-series=expense] title"))
        .await
        .unwrap();
    let mut marked = Vec::new();
    for t in titles {
        marked.push(t.prop("textContent").await.unwrap().unwrap_or_default());
    }
    assert!(
        marked.iter().any(|t| t.ends_with("Expenses: 20.50")),
        "{marked:?}"
    );
    assert!(text_of(c, "#operations").await.contains("proxy pack"));

    // The transactions filter by type, category and text, keeping the period.
    let rows = |c: &fantoccini::Client| {
        let c = c.clone();
        async move {
            c.find_all(Locator::Css("#operations tbody tr"))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(rows(c).await, 2);
    for (kind, category, q, shown, asked) in [
        ("expense", "", "", "proxy pack", "type=expense"),
        ("", "sale", "", "sale", "category=sale"),
        ("", "", "pack", "proxy pack", "q=pack"),
    ] {
        select(c, "#operation-filter select[name=type]", kind).await;
        select(c, "#operation-filter select[name=category]", category).await;
        fill(c, "#operation-filter input[name=q]", q).await;
        click(c, "#operation-filter button").await;
        wait_for_url(c, asked).await;
        wait_for_parts(c, "#operations tbody", &[shown]).await;
        assert_eq!(
            rows(c).await,
            1,
            "type {kind:?} category {category:?} q {q:?}"
        );
        let url = c.current_url().await.unwrap();
        assert!(url.as_str().contains("period=day"), "{url}");
    }

    // A refused form keeps what was typed and says why.
    fill(c, "#operation-create input[name=amount]", "lots").await;
    fill(c, "#operation-create input[name=description]", "kept text").await;
    click(c, "#operation-create button").await;
    assert!(
        !text_of(c, ".field-error[data-field=amount]")
            .await
            .is_empty()
    );
    assert_eq!(
        attr(c, "#operation-create input[name=description]", "value").await,
        "kept text"
    );

    // Edit the expense: a refused edit keeps the edit form; a good one records the gold
    // fields and clears the emptied description.
    c.goto(&format!("{}/finance", server.url)).await.unwrap();
    click(c, "#operations tr.op-expense a.edit").await;
    wait_for(c, "#operation-editing", "Edit operation").await;
    assert_eq!(
        attr(c, "#operation-edit input[name=amount]", "value").await,
        "20.5"
    );
    fill(c, "#operation-edit input[name=amount]", "-3").await;
    click(c, "#operation-edit button").await;
    assert!(
        !text_of(c, ".field-error[data-field=amount]")
            .await
            .is_empty()
    );
    // An empty amount is computed from the gold and its price per 1000 g.
    fill(c, "#operation-edit input[name=amount]", "").await;
    fill(c, "#operation-edit input[name=description]", "").await;
    fill(c, "#operation-edit input[name=gold_amount]", "1000").await;
    fill(c, "#operation-edit input[name=gold_price_at_time]", "20.5").await;
    click(c, "#operation-edit button").await;
    wait_for(c, "#notice", "Operation updated.").await;
    let edited = text_of(c, "#operations tr.op-expense").await;
    assert!(
        edited.contains("1000 g @ 20.5 per 1000 g") && !edited.contains("proxy pack"),
        "{edited}"
    );
    let (_, ops) = server
        .get(
            "/api/v1/finance/operations?type=expense",
            &session.access_token,
        )
        .await;
    let op = &ops["data"][0];
    let figures = ["gold_amount", "gold_price_at_time", "amount"].map(|k| op[k].as_f64());
    assert_eq!(figures, [Some(1000.0), Some(20.5), Some(20.5)], "{op}");
    assert!(op.get("description").is_none(), "{op}");

    // The API agrees, and so does the Overview.
    let (_, summary) = server
        .get("/api/v1/finance/summary", &session.access_token)
        .await;
    assert_eq!(summary["data"]["totals"]["profit"], json!(99.5));
    c.goto(&format!("{}/", server.url)).await.unwrap();
    wait_for(c, "#ov-income", "120.00").await;
    wait_for(c, "#ov-profit", "99.50").await;

    // A sale of gold by weight and price: its amount is computed, and the gold sold and its
    // average price show beside the totals.
    c.goto(&format!("{}/finance", server.url)).await.unwrap();
    assert_eq!(text_of(c, "#gold-sold").await, "–");
    fill(c, "#operation-create input[name=gold_amount]", "500").await;
    fill(c, "#operation-create input[name=gold_price_at_time]", "40").await;
    click(c, "#operation-create button").await;
    wait_for(c, "#notice", "Operation recorded.").await;
    wait_for(c, "#total-income", "140.00").await;
    wait_for(c, "#gold-sold", "500 g").await;
    let price = text_of(c, "#gold-price").await;
    assert!(price.contains("40.00 USD per 1000 g"), "{price}");
    c.goto(&format!("{}/", server.url)).await.unwrap();
    wait_for(c, "#ov-gold", "500 g · 40.00 per 1000 g").await;

    // The gold price is a series of its own on the right axis; the chart's settings hide a
    // series and draw another as bars, for the whole tenant.
    c.goto(&format!("{}/finance", server.url)).await.unwrap();
    let gold = "circle.point[data-series='gold_price:none'] title";
    text_of(c, "[data-chart=cashflow]").await;
    let priced = c
        .find(Locator::Css(gold))
        .await
        .unwrap()
        .prop("textContent")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        priced.ends_with("Gold price · No project: 40.00"),
        "{priced}"
    );
    assert!(
        !c.find_all(Locator::Css("text.right-axis"))
            .await
            .unwrap()
            .is_empty()
    );
    click(c, "#chart-settings summary").await;
    click(c, "tr[data-series=profit] input[type=checkbox]").await;
    select(c, "tr[data-series=expense] select", "bar").await;
    set_value(c, "tr[data-series=income] input[type=color]", "#123456").await;
    click(c, "#chart-form button").await;
    // Back on the page it came from, which now names its range and page in the URL.
    wait_for_url(c, "page=1").await;
    text_of(c, "[data-chart=cashflow]").await;
    assert!(
        c.find(Locator::Css("polyline[data-series=profit]"))
            .await
            .is_err(),
        "hidden"
    );
    assert!(
        c.find(Locator::Css("polyline[data-series=expense]"))
            .await
            .is_err(),
        "bars now"
    );
    assert!(
        !c.find_all(Locator::Css("rect.bar-series[data-series=expense]"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        attr(c, "polyline[data-series=income]", "stroke").await,
        "#123456"
    );
    let (_, config) = server
        .get(
            "/api/v1/settings/finance/chart_config",
            &session.access_token,
        )
        .await;
    let profit = config["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "profit")
        .unwrap()
        .clone();
    assert_eq!(
        (profit["visible"].clone(), profit["yAxisId"].clone()),
        (json!(false), json!("left")),
        "{config}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_saved_with_rules_and_credentials_stay_write_only() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@example.com", Role::Admin)
        .await;
    let t = &admin.access_token;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, "admin@example.com", "correct-horse-battery").await;
    c.goto(&format!("{}/settings", server.url)).await.unwrap();

    // Nothing stored yet: the inputs show the defaults that apply, marked as such.
    assert_eq!(
        attr(c, "#form-alerts input[name=warning_days]", "value").await,
        "7"
    );
    assert_eq!(text_of(c, "#form-alerts .default-note").await, "default");
    assert_eq!(
        attr(c, "#form-proxy input[name=fraud_score_threshold]", "value").await,
        "75"
    );
    fill(c, "#form-alerts input[name=warning_days]", "0").await;
    click(c, "#form-alerts button").await;
    assert!(
        text_of(c, "#alerts .field-error[data-field=warning_days]")
            .await
            .contains("warning_days")
    );
    assert!(
        c.find(Locator::Css("#alerts .error")).await.is_err(),
        "not repeated above the form"
    );
    fill(c, "#form-alerts input[name=warning_days]", "21").await;
    click(c, "#form-alerts button").await;
    wait_for(c, "#notice", "Settings saved.").await;
    assert!(
        c.find(Locator::Css("#form-alerts .default-note"))
            .await
            .is_err(),
        "a stored value is not marked as the default"
    );
    assert_eq!(
        server
            .get("/api/v1/settings/alerts/warning_days", t)
            .await
            .1["data"],
        21
    );

    // Problems are told in words; an id that cannot go into a URL is refused.
    for (id, name, problem) in [
        (
            "WoW TBC!",
            "TBC",
            "Project id must be 1 to 64 lowercase letters",
        ),
        ("tbc", "", "Project name is required"),
    ] {
        c.execute(
            "document.getElementById('project-form').noValidate = true",
            vec![],
        )
        .await
        .unwrap();
        fill(c, "#project-form input[name=id]", id).await;
        fill(c, "#project-form input[name=name]", name).await;
        click(c, "#project-form button").await;
        // Waits for the answer's page: the previous page shows the previous problem.
        // Beside its field when it names one, above the form otherwise.
        let shown_at = "#projects .error, #projects .field-error";
        wait_for_parts(c, shown_at, &[problem]).await;
        let shown = text_of(c, shown_at).await;
        assert!(shown.starts_with(problem), "{id}: {shown}");
    }
    let (_, projects) = server.get("/api/v1/settings/projects", t).await;
    assert_eq!(
        projects["data"],
        serde_json::Value::Null,
        "nothing refused was saved"
    );

    fill(c, "#project-form input[name=id]", "wow").await;
    fill(c, "#project-form input[name=name]", "WoW Classic").await;
    fill(c, "#project-form input[name=max_level]", "60").await;
    click(c, "#project-form button").await;
    wait_for(c, "#notice", "Project saved.").await;
    assert!(text_of(c, "#project-table").await.contains("WoW Classic"));
    assert_eq!(
        server
            .get("/api/v1/settings/projects/wow/max_level", t)
            .await
            .1["data"],
        60
    );

    // A project in use cannot be removed.
    server
        .create("/api/v1/bots", t, json!({"name": "b", "project_id": "wow"}))
        .await;
    // Removing asks first; declined, nothing happens.
    c.execute("window.confirm = () => false", vec![])
        .await
        .unwrap();
    click(c, "tr[data-id=wow] button").await;
    assert!(text_of(c, "#project-table").await.contains("WoW Classic"));
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(c, "tr[data-id=wow] button").await;
    let refused = text_of(c, "#projects .error").await;
    assert!(refused.contains("used by 1 bots"), "{refused}");

    // The project is in the navigation's tree (once loaded) and has its page.
    text_of(c, "#resource-tree[data-state]").await;
    click(c, "aside.tree a[data-project=wow]").await;
    wait_for(c, "#project-total", "Total 1 account").await;
    wait_for(c, "a.stat-card[data-status=offline] .stat-count", "1").await;
    server
        .create("/api/v1/bots", t, json!({"name": "outside the project"}))
        .await;
    c.refresh().await.unwrap();
    wait_for(c, "#project-total", "Total 1 account").await;
    let rows = c
        .find_all(fantoccini::Locator::Css("table#records tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the project's bot");
    c.goto(&format!("{}/settings", server.url)).await.unwrap();

    fill(
        c,
        "#form-api_keys input[name='ipqs/api_key']",
        "ipqs-secret-1",
    )
    .await;
    click(c, "#form-api_keys button").await;
    wait_for(c, "#notice", "Settings saved.").await;
    assert_eq!(
        attr(c, "#form-api_keys input[name='ipqs/api_key']", "value").await,
        "",
        "never echoed"
    );
    assert!(!c.source().await.unwrap().contains("ipqs-secret-1"));
    // Saving the card again with the field blank keeps the key.
    click(c, "#form-api_keys button").await;
    wait_for(c, "#notice", "Settings saved.").await;
    click(c, "#api_keys form.inline button").await;
    wait_for(c, "#revealed code", "ipqs-secret-1").await;
    let (_, audit) = server.get("/api/v1/audit?action=secret.reveal", t).await;
    assert_eq!(audit["data"][0]["target"], "settings:api_keys/ipqs/api_key");
    browser.close().await;
}
