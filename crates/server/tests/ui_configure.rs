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
    click(c, "#configure-person button[value=save]").await;
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
    click(c, "#configure-account button[value=save]").await;
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
    // A combination the project does not have is refused beside its field, nothing lost.
    set_value(c, "select[name='character/race']", "Human").await;
    click(c, "#configure-character button[value=save]").await;
    wait_for(
        c,
        ".field-error[data-field='character/race']",
        "Human is not a race of the horde",
    )
    .await;
    assert_eq!(value_of(c, "input[name='character/name']").await, other);
    select(c, "select[name='character/race']", "Orc").await;
    select(c, "select[name='character/class']", "Shaman").await;
    click(c, "#configure-character button[value=save]").await;
    wait_for_url(c, "notice=saved").await;
    let saved = api_bot().await;
    let character: Value = saved["character"].clone();
    assert_eq!(
        character,
        json!({"name": other, "server": "Firemaw", "faction": "horde", "race": "Orc", "class": "Shaman"})
    );
    assert_eq!(saved["generation_locks"]["character_name"], true);

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
