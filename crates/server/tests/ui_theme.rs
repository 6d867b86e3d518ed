//! The Settings page's Theme section in real headless Chromium: a colour changed for the
//! light theme reaches every page through `/theme.css`, an uploaded image becomes the
//! background behind the pages, a value out of range is refused with what was typed kept,
//! and removing the image or resetting the theme takes it all back.

use botmox_proto::auth::Role;
use botmox_testkit::browser::{
    Browser, click, fill, overflowing, resize, set_value, sign_in, text_of, wait_for, wait_for_url,
};
use botmox_testkit::{Backend, TestServer};
use fantoccini::{Client, Locator};
use serde_json::json;

/// A value the page's script computes.
async fn eval(c: &Client, script: &str) -> String {
    let v = c.execute(script, vec![]).await.unwrap();
    v.as_str().unwrap_or_default().trim().to_owned()
}

async fn accent(c: &Client) -> String {
    eval(
        c,
        "return getComputedStyle(document.documentElement).getPropertyValue('--accent')",
    )
    .await
}

async fn background(c: &Client) -> String {
    eval(
        c,
        "return getComputedStyle(document.body, '::before').backgroundImage",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_colours_and_background_reach_every_page() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;

    c.goto(&format!("{}/settings#theme", server.url))
        .await
        .unwrap();
    let input = "#theme-form input[name=light_accent]";
    assert_eq!(
        c.find(Locator::Css(input))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "#2f7fd1",
        "the built-in colour is shown"
    );
    assert_eq!(accent(c).await, "#2f7fd1");
    set_value(c, input, "#aa0000").await;
    click(c, "#theme-form .actions button").await;
    wait_for(c, "#notice", "Theme saved.").await;
    assert_eq!(
        accent(c).await,
        "#aa0000",
        "the page takes the tenant's colour"
    );
    c.goto(&format!("{}/bots", server.url)).await.unwrap();
    assert_eq!(accent(c).await, "#aa0000", "and every other page too");
    let (_, stored) = server
        .get("/api/v1/settings/theme/palettes", &session.access_token)
        .await;
    assert_eq!(
        stored["data"],
        json!({"light": {"accent": "#aa0000"}, "dark": {}}),
        "{stored}"
    );

    // An image uploaded becomes the background.
    c.goto(&format!("{}/settings#theme", server.url))
        .await
        .unwrap();
    assert_eq!(background(c).await, "none");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bg.png");
    let mut png = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
    ];
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&[0, 0, 0, 64, 0, 0, 0, 32, 8, 2, 0, 0, 0, 0, 0, 0, 0]);
    std::fs::write(&file, &png).unwrap();
    c.find(Locator::Css("#theme-upload input[type=file]"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    click(c, "#theme-upload button").await;
    wait_for_url(c, "notice=theme-saved").await;
    let listed = text_of(c, "#theme-images li").await;
    assert!(
        listed.contains("64×32") && listed.contains("in use"),
        "{listed}"
    );
    let shown = background(c).await;
    assert!(shown.contains("/theme-assets/"), "{shown}");

    // A blur out of range is refused beside the form, the colours typed kept.
    c.execute(
        "document.querySelector('#theme-form input[name=blur]').removeAttribute('max')",
        vec![],
    )
    .await
    .unwrap();
    fill(c, "#theme-form input[name=blur]", "30").await;
    set_value(c, "#theme-form input[name=dark_fg]", "#eeeeee").await;
    click(c, "#theme-form .actions button").await;
    wait_for(c, "#theme-error", "Blur must be a number from 0 to 24").await;
    assert_eq!(
        c.find(Locator::Css("#theme-form input[name=dark_fg]"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "#eeeeee"
    );

    resize(c, 1024, 800).await;
    c.goto(&format!("{}/settings#theme", server.url))
        .await
        .unwrap();
    text_of(c, "#theme-images").await;
    assert_eq!(overflowing(c).await, Vec::<String>::new());

    // Removed, the image leaves the background; reset, the colours are the built-in ones.
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(c, "#theme-images button").await;
    wait_for(c, "#notice", "Image removed.").await;
    assert_eq!(background(c).await, "none");
    text_of(c, "#no-images").await;
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(c, "#theme-reset button").await;
    wait_for(
        c,
        "#notice",
        "Theme reset to the built-in colours, without a background.",
    )
    .await;
    assert_eq!(accent(c).await, "#2f7fd1");
    browser.close().await;
}
