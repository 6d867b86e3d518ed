//! The bot page's Configure tab in real headless Chromium: a person generated for a country,
//! saved (which locks it: the generator is off until unlocked), an account e-mail made from
//! that person and a password of the asked kind, a character whose race and class follow the
//! project's reference data, with a generated name. What the browser saved is read back
//! through the JSON API.

use botmox_proto::auth::Role;
use botmox_testkit::browser::{
    Browser, attr, click, fill, overflowing, resize, select, set_value, sign_in, text_of, wait_for,
    wait_for_url,
};
use botmox_testkit::{Backend, TestServer};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// The value of the input matching `css`.
async fn value_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// The Summary tab's fact labelled `label`.
async fn fact(c: &Client, label: &str) -> String {
    text_of(c, "dl.facts").await;
    c.find(Locator::XPath(&format!(
        "//dl[@class='facts']/dt[.='{label}']/following-sibling::dd[1]"
    )))
    .await
    .unwrap_or_else(|e| panic!("{label}: {e}"))
    .text()
    .await
    .unwrap()
}

/// The values of the options of the select matching `css` that the page shows.
async fn shown_options(c: &Client, css: &str) -> Vec<String> {
    let found = c
        .execute(
            "return [...document.querySelector(arguments[0]).options]\
               .filter(o => !o.hidden && o.value).map(o => o.value)",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bots_person_account_and_character_are_generated_saved_and_locked() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let t = &session.access_token;
    let admin = server
        .user_session("acme", "boss@example.com", Role::Admin)
        .await;
    let projects = json!({"tbc": {"name": "TBC", "referenceData": {
        "servers": ["Gehennas", "Firemaw"],
        "races": {"alliance": ["Human", "Dwarf"], "horde": ["Orc", "Troll"]},
        "classes": {"Human": ["Warrior", "Mage"], "Orc": ["Warrior", "Shaman"], "Troll": ["Hunter"]}}}});
    let (status, _) = server
        .put("/api/v1/settings/projects", &admin.access_token, projects)
        .await;
    assert!(status.is_success());
    let bot = server
        .create(
            "/api/v1/bots",
            t,
            json!({"name": "farm-1", "project_id": "tbc"}),
        )
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;
    let api_bot = || async {
        let (_, body) = server.get(&format!("/api/v1/bots/{bot}"), t).await;
        body["data"].clone()
    };

    // The tab says the person and account are missing.
    c.goto(&format!("{}/bot/{bot}", server.url)).await.unwrap();
    assert_eq!(
        attr(c, "a[data-tab=configure] .tab-warning", "title").await,
        "Person or account data is incomplete"
    );
    click(c, "a[data-tab=configure]").await;
    wait_for_url(c, "tab=configure").await;
    assert_eq!(text_of(c, "a.subtab.active").await, "1. Person !");

    // A person for Germany, generated into the form and saved only on Save.
    select(c, "#configure-person select[name='person/country']", "DE").await;
    click(c, "#generate").await;
    text_of(c, "#configure-notice").await;
    let first = value_of(c, "input[name='person/first_name']").await;
    let birth = value_of(c, "input[name='person/birth_date']").await;
    assert!(!first.is_empty() && birth.len() == 10, "{first} {birth}");
    assert!(
        api_bot().await.get("person").is_none(),
        "a proposal is not saved"
    );
    click(c, "#configure-person .actions button[value=save]").await;
    wait_for_url(c, "notice=saved").await;
    let saved = api_bot().await;
    assert_eq!(saved["person"]["first_name"], first.as_str());
    assert_eq!(saved["person"]["country"], "DE");
    assert_eq!(saved["generation_locks"]["person_data"], true);
    assert_eq!(text_of(c, "[data-lock=Person]").await, "Person: locked");
    assert_eq!(
        attr(c, "#generate", "disabled").await,
        "true",
        "a locked person is not generated"
    );
    // Unlocked, it can be generated again.
    click(c, "#unlock").await;
    wait_for_url(c, "notice=unlocked").await;
    assert_eq!(api_bot().await["generation_locks"]["person_data"], false);
    assert_eq!(attr(c, "#generate", "disabled").await, "");

    // The account: an e-mail from the person, a password of 20 letters, digits and symbols.
    click(c, "a[data-section=account]").await;
    wait_for_url(c, "section=account").await;
    fill(c, "input[name=gen_length]", "20").await;
    click(c, "input[name=gen_symbols]").await;
    select(c, "select[name=gen_domain]", "custom").await;
    fill(c, "input[name=gen_custom_domain]", "mail.example").await;
    click(c, "#generate").await;
    text_of(c, "#configure-notice").await;
    let email = value_of(c, "input[name='account/email']").await;
    let password = value_of(c, "input[name='account/password']").await;
    assert!(email.ends_with("@mail.example"), "{email}");
    assert_eq!(password.chars().count(), 20, "{password}");
    assert!(
        password.chars().any(|ch| !ch.is_ascii_alphanumeric()),
        "{password}"
    );
    assert_eq!(
        value_of(c, "input[name=gen_length]").await,
        "20",
        "the options stay as set"
    );
    click(c, "#configure-account .actions button[value=save]").await;
    wait_for_url(c, "notice=saved").await;
    let saved = api_bot().await;
    assert_eq!(saved["account"]["email"], email.as_str());
    let (_, revealed) = server
        .post(
            &format!("/api/v1/bots/{bot}/reveal"),
            t,
            json!({"field": "account/password"}),
        )
        .await;
    assert_eq!(
        revealed["data"]["value"],
        password.as_str(),
        "the generated password was saved"
    );
    let (_, last) = server
        .get("/api/v1/settings/generators/account/lastSettings", t)
        .await;
    assert_eq!(last["data"]["passwordOptions"]["length"], 20, "{last}");
    assert_eq!(last["data"]["customDomain"], "mail.example", "{last}");
    // The options kept as a template that the form opens with.
    fill(c, "input[name=template_name]", "Long passwords").await;
    click(c, "#save-template").await;
    wait_for(c, "#configure-notice", "Template “Long passwords” saved.").await;
    click(c, "#default-template").await;
    wait_for(
        c,
        "#configure-notice",
        "Template “Long passwords” is the default now.",
    )
    .await;
    let (_, last) = server.get("/api/v1/settings/generators/account", t).await;
    assert_eq!(
        last["data"]["defaultTemplateId"], "long-passwords",
        "{last}"
    );
    assert_eq!(
        last["data"]["templates"]["long-passwords"]["settings"]["passwordOptions"]["length"],
        20
    );
    // Unlocked and generated with other options, which become the last used ones; the
    // form still opens with the default template's.
    click(c, "#unlock").await;
    wait_for_url(c, "notice=unlocked").await;
    assert_eq!(value_of(c, "input[name=gen_length]").await, "20");
    fill(c, "input[name=gen_length]", "9").await;
    click(c, "input[name=gen_symbols]").await;
    click(c, "#generate").await;
    text_of(c, "#configure-notice").await;
    assert_eq!(value_of(c, "input[name='account/password']").await.len(), 9);
    c.goto(&format!(
        "{}/bot/{bot}?tab=configure&section=account",
        server.url
    ))
    .await
    .unwrap();
    assert_eq!(value_of(c, "input[name=gen_length]").await, "20");
    assert_eq!(
        text_of(c, "#default-template-name").await,
        "Opens with “Long passwords”."
    );
    // A password length out of range is refused beside the generator (past the browser's
    // own check, which stops it first).
    c.execute(
        "document.querySelector('input[name=gen_length]').removeAttribute('max')",
        vec![],
    )
    .await
    .unwrap();
    fill(c, "input[name=gen_length]", "64").await;
    click(c, "#generate").await;
    wait_for(
        c,
        "#generator-error",
        "Password length must be from 8 to 32",
    )
    .await;
    c.goto(&format!("{}/bot/{bot}?tab=configure", server.url))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Css("a[data-tab=configure] .tab-warning"))
            .await
            .is_err(),
        "complete now"
    );

    // The character: choices from the project's reference data, races of the faction only.
    click(c, "a[data-section=character]").await;
    wait_for_url(c, "section=character").await;
    assert_eq!(
        shown_options(c, "select[name='character/server']").await,
        ["Gehennas", "Firemaw"]
    );
    select(c, "select[name='character/faction']", "horde").await;
    assert_eq!(
        shown_options(c, "select[name='character/race']").await,
        ["Orc", "Troll"]
    );
    select(c, "select[name='character/race']", "Orc").await;
    assert_eq!(
        shown_options(c, "select[name='character/class']").await,
        ["Warrior", "Shaman"]
    );
    select(c, "select[name='character/class']", "Shaman").await;
    select(c, "select[name='character/server']", "Firemaw").await;
    click(c, "#generate").await;
    text_of(c, "#name-suggestions").await;
    let name = value_of(c, "input[name='character/name']").await;
    assert!((4..=12).contains(&name.len()), "{name}");
    assert_eq!(
        value_of(c, "select[name='character/class']").await,
        "Shaman",
        "the rest stays as chosen"
    );
    // Another suggestion fills the name.
    let other = attr(c, "#name-suggestions button", "data-fill-name").await;
    click(c, "#name-suggestions button").await;
    assert_eq!(value_of(c, "input[name='character/name']").await, other);
    // A combination the project does not have is refused beside its field, nothing lost,
    // and nothing on the page moves for it.
    let save_button = "#configure-character .actions button[value=save]";
    let top = |c: &Client| {
        let c = c.clone();
        async move {
            c.execute(
                "const b = document.querySelector(arguments[0]); \
                 return b.getBoundingClientRect().top - b.form.getBoundingClientRect().top",
                vec![json!(save_button)],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap()
        }
    };
    let before = top(c).await;
    set_value(c, "select[name='character/race']", "Human").await;
    click(c, "#configure-character .actions button[value=save]").await;
    wait_for(
        c,
        ".field-error[data-field='character/race']",
        "Human is not a race of the horde",
    )
    .await;
    assert_eq!(value_of(c, "input[name='character/name']").await, other);
    assert_eq!(top(c).await, before, "the error moved the form");
    select(c, "select[name='character/race']", "Orc").await;
    select(c, "select[name='character/class']", "Shaman").await;
    click(c, "#configure-character .actions button[value=save]").await;
    wait_for_url(c, "notice=saved").await;
    let saved = api_bot().await;
    let character: Value = saved["character"].clone();
    assert_eq!(
        character,
        json!({"name": other, "server": "Firemaw", "faction": "horde", "race": "Orc", "class": "Shaman"})
    );
    assert_eq!(saved["generation_locks"]["character_name"], true);

    // The Summary tab reads the person, the account and the week, each linked to its section.
    c.goto(&format!("{}/bot/{bot}", server.url)).await.unwrap();
    let person = fact(c, "Person").await;
    assert!(
        person.contains(&first) && person.contains(&format!("born {birth}")),
        "{person}"
    );
    assert_eq!(fact(c, "Account").await, email);
    assert_eq!(fact(c, "Schedule").await, "Not set");

    // At 1024 px the tab fits the window.
    resize(c, 1024, 800).await;
    c.goto(&format!(
        "{}/bot/{bot}?tab=configure&section=account",
        server.url
    ))
    .await
    .unwrap();
    text_of(c, "#account-generator").await;
    assert_eq!(overflowing(c).await, Vec::<String>::new());
    browser.close().await;
}

/// Minutes between `HH:MM` and `HH:MM`.
fn span(start: &Value, end: &Value) -> i64 {
    let m = |v: &Value| {
        let (h, m) = v.as_str().unwrap().split_once(':').unwrap();
        h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()
    };
    m(end) - m(start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bots_week_is_generated_edited_saved_and_kept_in_templates() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let t = &session.access_token;
    let bot = server
        .create("/api/v1/bots", t, json!({"name": "farm-1"}))
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;
    c.goto(&format!(
        "{}/bot/{bot}?tab=configure&section=schedule",
        server.url
    ))
    .await
    .unwrap();
    assert_eq!(
        value_of(c, "input[name=gen_target]").await,
        "480",
        "the defaults"
    );

    // Five hours a day between 10:00 and 20:00, sessions of an hour or more.
    set_value(c, "input[name=gen_start]", "10:00").await;
    set_value(c, "input[name=gen_end]", "20:00").await;
    fill(c, "input[name=gen_target]", "300").await;
    fill(c, "input[name=gen_min_session]", "60").await;
    fill(c, "input[name=gen_min_break]", "15").await;
    fill(c, "input[name=gen_offset]", "0").await;
    fill(c, "input[name=timezone]", "Europe/Berlin").await;
    click(c, "#generate").await;
    text_of(c, "#configure-notice").await;
    for day in 0..7 {
        let line = value_of(c, &format!("input[name=day_{day}]")).await;
        assert!(
            line.contains('-') && line.starts_with(['1', '2']),
            "sessions between 10:00 and 20:00: {line}"
        );
        assert!(
            text_of(c, &format!("tr[data-day='{day}'] td.day-active"))
                .await
                .contains("5 h (20 %)"),
            "day {day}"
        );
    }
    let bars = c
        .find_all(Locator::Css("svg.timeline rect.session"))
        .await
        .unwrap();
    assert!(
        bars.len() >= 7,
        "a bar for each session at least: {}",
        bars.len()
    );
    // Saving keeps exactly what the form shows, and locks it.
    click(c, "#configure-schedule .actions button[value=save]").await;
    wait_for_url(c, "notice=saved").await;
    let (_, body) = server.get(&format!("/api/v1/bots/{bot}"), t).await;
    let week = body["data"]["schedule"].clone();
    assert_eq!(week["timezone"], "Europe/Berlin");
    let days = week["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    for day in days {
        let total: i64 = day["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| span(&s["start"], &s["end"]))
            .sum();
        assert_eq!(total, 300, "{day}");
    }
    assert_eq!(body["data"]["generation_locks"]["schedule"], true);
    assert_eq!(attr(c, "#generate", "disabled").await, "true");
    c.goto(&format!("{}/bot/{bot}", server.url)).await.unwrap();
    let summary = fact(c, "Schedule").await;
    assert!(
        summary.starts_with("35 hours a week, ")
            && summary.ends_with(" over 7 days (Europe/Berlin)"),
        "{summary}"
    );
    c.goto(&format!(
        "{}/bot/{bot}?tab=configure&section=schedule",
        server.url
    ))
    .await
    .unwrap();
    let (_, last) = server.get("/api/v1/settings/schedule/last_params", t).await;
    assert_eq!(last["data"]["targetActiveMinutes"], 300, "{last}");

    // Edited by hand: overlapping sessions are flagged, a line that does not read is
    // refused beside its day with everything typed kept.
    fill(c, "input[name=day_2]", "09:00-12:00, 11:00-13:00").await;
    fill(c, "input[name=day_4]", "25:00-26:00").await;
    click(c, "#configure-schedule .actions button[value=save]").await;
    wait_for(
        c,
        ".field-error[data-field=day_4]",
        "“25:00-26:00” is not a span like 09:00-11:30",
    )
    .await;
    assert_eq!(
        value_of(c, "input[name=day_2]").await,
        "09:00-12:00, 11:00-13:00"
    );
    fill(c, "input[name=day_4]", "").await;
    click(c, "input[name=day_4_enabled]").await;
    // Enter in a line saves (not one of the generator's buttons).
    c.find(Locator::Css("input[name=day_2]"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    wait_for_url(c, "notice=saved").await;
    text_of(c, "tr[data-day='2'] .overlap").await;
    let (_, body) = server.get(&format!("/api/v1/bots/{bot}"), t).await;
    assert_eq!(
        body["data"]["schedule"]["days"][2]["sessions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        body["data"]["schedule"]["days"][4],
        json!({"enabled": false, "sessions": []})
    );
    assert!(
        text_of(c, "#week-summary")
            .await
            .contains("1 day(s) with overlapping sessions")
    );

    // Parameters kept as a named template, applied again, and deleted.
    fill(c, "input[name=template_name]", "Evenings").await;
    click(c, "#save-template").await;
    wait_for(c, "#configure-notice", "Template “Evenings” saved.").await;
    let (_, templates) = server.get("/api/v1/settings/schedule/templates", t).await;
    assert_eq!(
        templates["data"]["evenings"]["params"]["targetActiveMinutes"], 300,
        "{templates}"
    );
    fill(c, "input[name=gen_target]", "600").await;
    click(c, "#apply-template").await;
    wait_for(
        c,
        "#configure-notice",
        "Template “Evenings” applied: press Generate.",
    )
    .await;
    assert_eq!(value_of(c, "input[name=gen_target]").await, "300");
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(c, "#delete-template").await;
    wait_for(c, "#configure-notice", "Template “Evenings” deleted.").await;
    let (_, templates) = server.get("/api/v1/settings/schedule/templates", t).await;
    assert!(templates["data"].get("evenings").is_none(), "{templates}");

    resize(c, 1024, 800).await;
    c.goto(&format!(
        "{}/bot/{bot}?tab=configure&section=schedule",
        server.url
    ))
    .await
    .unwrap();
    text_of(c, "#week").await;
    assert_eq!(overflowing(c).await, Vec::<String>::new());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_reference_data_is_edited_on_the_settings_page() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::Admin)
        .await;
    let t = &session.access_token;
    let projects = json!({"tbc": {"name": "TBC"}, "mid": {"name": "Midnight",
        "referenceData": {"servers": ["Silvermoon"]}}});
    let (status, _) = server.put("/api/v1/settings/projects", t, projects).await;
    assert!(status.is_success());
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;

    c.goto(&format!(
        "{}/settings?reference=mid#reference-data",
        server.url
    ))
    .await
    .unwrap();
    assert_eq!(
        value_of(c, "#reference-form textarea[name=servers]").await,
        "Silvermoon"
    );
    c.goto(&format!("{}/settings#reference-data", server.url))
        .await
        .unwrap();
    select(c, "#reference-project select[name=reference]", "tbc").await;
    click(c, "#reference-project button").await;
    wait_for_url(c, "reference=tbc").await;
    assert_eq!(
        value_of(c, "#reference-form textarea[name=servers]").await,
        ""
    );

    fill(
        c,
        "#reference-form textarea[name=servers]",
        "Gehennas, Firemaw",
    )
    .await;
    fill(c, "#reference-form textarea[name=horde]", "Orc, Troll").await;
    fill(
        c,
        "#reference-form textarea[name=classes]",
        "Orc: Warrior, Shaman\nTroll Hunter",
    )
    .await;
    click(c, "#reference-form button").await;
    wait_for(
        c,
        "#reference-error",
        "classes: “Troll Hunter” is not a line like Human: Warrior, Mage",
    )
    .await;
    assert_eq!(
        value_of(c, "#reference-form textarea[name=horde]").await,
        "Orc, Troll",
        "typed text kept"
    );
    fill(
        c,
        "#reference-form textarea[name=classes]",
        "Orc: Warrior, Shaman\nTroll: Hunter",
    )
    .await;
    click(c, "#reference-form button").await;
    wait_for(c, "#notice", "Reference data saved.").await;
    let (_, stored) = server
        .get("/api/v1/settings/projects/tbc/referenceData", t)
        .await;
    assert_eq!(
        stored["data"],
        json!({"servers": ["Gehennas", "Firemaw"], "races": {"horde": ["Orc", "Troll"]},
            "classes": {"Orc": ["Warrior", "Shaman"], "Troll": ["Hunter"]}})
    );
    let (_, other) = server
        .get("/api/v1/settings/projects/mid/referenceData", t)
        .await;
    assert_eq!(
        other["data"]["servers"],
        json!(["Silvermoon"]),
        "another project's data stays"
    );
    browser.close().await;
}
