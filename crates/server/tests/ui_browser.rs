//! The web UI in real headless Chromium: first-run setup, sign-in (back to the page asked
//! for) and sign-out, a form without its CSRF token refused, the error page for unknown pages
//! and bad query values, and the administration pages.

use botmox_proto::auth::Role;
use botmox_testkit::browser::{
    BROWSER_UTC_OFFSET_HOURS, Browser, attr, click, fill, path, select, text_of, wait_for,
    wait_for_parts, wait_for_url,
};
use botmox_testkit::{Backend, TestServer};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_setup_login_logout_and_csrf() {
    let server = TestServer::start(Backend::Sqlite).await;
    let link = server
        .setup_link
        .clone()
        .expect("a setup link while no user exists");
    let browser = Browser::start().await;
    let c = &browser.client;

    // The link moves its token into a cookie and shows the form.
    c.goto(&link).await.unwrap();
    assert_eq!(path(c).await, "/setup");
    assert!(
        c.current_url().await.unwrap().query().is_none(),
        "the token leaves the address bar"
    );
    fill(c, "input[name=tenant]", "acme").await;
    fill(c, "input[name=email]", "owner@example.com").await;
    fill(c, "input[name=password]", "a-long-password").await;
    fill(c, "input[name=password_confirm]", "a-long-password").await;
    click(c, "#create-admin").await;
    assert!(text_of(c, "#who").await.contains("owner@example.com"));
    assert_eq!(path(c).await, "/");
    wait_for(c, "#tenant", "acme").await;

    // Nothing readable by scripts: the session cookie is HttpOnly, browser storage is empty.
    let cookies = c.execute("return document.cookie", vec![]).await.unwrap();
    assert_eq!(cookies, serde_json::json!(""));
    let stored = c
        .execute("return localStorage.length + sessionStorage.length", vec![])
        .await
        .unwrap();
    assert_eq!(stored, serde_json::json!(0));

    // The setup link works once.
    c.goto(&link).await.unwrap();
    assert!(
        text_of(c, "#error-message")
            .await
            .contains("invalid, used or expired")
    );

    // The admin pages are reachable from the navigation.
    c.goto(&format!("{}/", server.url)).await.unwrap();
    click(c, "a[href='/admin/users']").await;
    assert!(text_of(c, "#users").await.contains("owner@example.com"));

    // A form posted without its CSRF token is refused and changes nothing.
    c.execute(
        r#"const f = document.createElement('form');
           f.method = 'post'; f.action = '/admin/users';
           for (const [k, v] of [['email', 'intruder@example.com'], ['password', 'a-long-password'], ['role', 'admin']]) {
             const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
           }
           document.body.appendChild(f); f.submit();"#,
        vec![],
    )
    .await
    .unwrap();
    assert!(text_of(c, "#error-message").await.contains("CSRF"));
    assert!(
        botmox_server::auth::store::user_by_email(server.state().db.read(), "intruder@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // Sign out, then a wrong password, then sign in again.
    c.goto(&format!("{}/", server.url)).await.unwrap();
    click(c, "#logout").await;
    text_of(c, "#login-form").await;
    assert_eq!(path(c).await, "/login");
    c.goto(&format!("{}/admin/users?role=admin", server.url))
        .await
        .unwrap();
    assert_eq!(
        path(c).await,
        "/login",
        "signed-out visitors are sent to the login page"
    );
    fill(c, "input[name=email]", "owner@example.com").await;
    fill(c, "input[name=password]", "not-the-password").await;
    click(c, "#sign-in").await;
    assert!(
        text_of(c, "#error")
            .await
            .contains("Invalid email or password")
    );
    fill(c, "input[name=password]", "a-long-password").await;
    click(c, "#sign-in").await;
    assert!(text_of(c, "#who").await.contains("owner@example.com"));
    let url = c.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.query()),
        ("/admin/users", Some("role=admin")),
        "signing in returns to the page asked for, after a failed attempt too"
    );

    // Unknown pages and bad query values answer the error page, not JSON.
    for (page, message) in [
        ("/no-such-page", "There is no page at this address."),
        ("/bots?page=abc", "page"),
        ("/bots?page=0", "page"),
        ("/finance?from=2020-01-01&to=2026-01-01", "range"),
    ] {
        c.goto(&format!("{}{page}", server.url)).await.unwrap();
        let shown = text_of(c, "#error-message").await;
        assert!(shown.contains(message), "{page}: {shown}");
    }

    // The theme switch persists.
    c.goto(&format!("{}/", server.url)).await.unwrap();
    click(c, "#theme-toggle").await;
    text_of(c, "#who").await;
    let theme = c
        .execute(
            "return document.documentElement.dataset.theme || ''",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(theme, serde_json::json!("dark"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_users_and_tokens_and_read_the_audit_log() {
    let server = TestServer::start(Backend::Sqlite).await;
    server
        .create_user("acme", "admin@example.com", Role::Admin)
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{}/login", server.url)).await.unwrap();
    fill(c, "input[name=email]", "admin@example.com").await;
    fill(c, "input[name=password]", "correct-horse-battery").await;
    click(c, "#sign-in").await;
    text_of(c, "#who").await;

    c.goto(&format!("{}/admin/users", server.url))
        .await
        .unwrap();
    fill(c, "#create-user input[name=email]", "worker@example.com").await;
    fill(c, "#create-user input[name=password]", "worker-password").await;
    click(c, "#create-user button").await;
    wait_for(c, "#notice", "User added.").await;
    assert!(text_of(c, "#users").await.contains("worker@example.com"));
    server.login("worker@example.com", "worker-password").await;

    // A refused form keeps what was typed, password and role included, and says what is
    // wrong next to the field (the browser's own checks are off to reach the server's).
    for (email, problem, marked) in [
        ("nobody", "must be an e-mail address", 1),
        ("worker@example.com", "already exists", 0),
    ] {
        c.execute(
            "document.getElementById('create-user').noValidate = true",
            vec![],
        )
        .await
        .unwrap();
        fill(c, "#create-user input[name=email]", email).await;
        fill(c, "#create-user input[name=password]", "typed-password").await;
        select(c, "#create-user select[name=role]", "infra").await;
        click(c, "#create-user button").await;
        // Waits for the answer's page: the previous page shows the previous problem. A
        // field's problem sits beside it; one no field carries goes above the form.
        let shown_at = if marked == 1 {
            "#create-user .field-error"
        } else {
            "#error"
        };
        wait_for_parts(c, shown_at, &[problem]).await;
        let banners = c
            .find_all(fantoccini::Locator::Css("#error"))
            .await
            .unwrap();
        assert_eq!(
            banners.len(),
            1 - marked,
            "{email}: banner only without a field"
        );
        for (input, typed) in [("email", email), ("password", "typed-password")] {
            let css = format!("#create-user input[name={input}]");
            assert_eq!(attr(c, &css, "value").await, typed, "{email}: {input}");
        }
        let role = "#create-user select[name=role] option:checked";
        assert_eq!(text_of(c, role).await, "infra");
        let marks = c
            .find_all(fantoccini::Locator::Css("#create-user .field-error"))
            .await
            .unwrap();
        assert_eq!(marks.len(), marked, "{email}");
        if marked == 1 {
            assert_eq!(marks[0].attr("data-field").await.unwrap().unwrap(), "email");
            assert!(marks[0].text().await.unwrap().contains(problem));
        }
    }

    // Set the worker's password from the page; the old one stops working.
    fill(
        c,
        "tr[data-email='worker@example.com'] input[name=password]",
        "replaced-password",
    )
    .await;
    click(
        c,
        "tr[data-email='worker@example.com'] form:has(input[name=password]) button",
    )
    .await;
    wait_for(c, "#notice", "User updated.").await;
    server
        .login("worker@example.com", "replaced-password")
        .await;

    fill(c, "#create-token input[name=name]", "deploy").await;
    click(c, "#create-token button").await;
    let secret = text_of(c, "#new-token-value").await;
    assert!(secret.starts_with("bmx_"));
    assert!(
        !c.current_url().await.unwrap().as_str().contains(&secret),
        "the secret is never in a URL"
    );
    let (status, who) = server.get("/api/v1/auth/whoami", &secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(who["data"]["tenant_id"], "acme");

    // Revoke it from the page (confirming the dialog).
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(c, "tr[data-name=deploy] button.danger").await;
    wait_for(c, "#notice", "Token revoked.").await;

    // Its last use reads DD.MM.YYYY HH:MM in the browser's time zone, with how long ago,
    // and the UTC time the server wrote as the tooltip.
    let used = "tr[data-name=deploy] time";
    let utc = chrono::NaiveDateTime::parse_from_str(
        attr(c, used, "title").await.trim_end_matches(" UTC"),
        "%d.%m.%Y %H:%M",
    )
    .unwrap();
    let local = utc + chrono::Duration::hours(BROWSER_UTC_OFFSET_HOURS);
    let shown = text_of(c, used).await;
    let (moment, ago) = shown.split_once(" (").unwrap();
    assert_eq!(moment, local.format("%d.%m.%Y %H:%M").to_string());
    assert!(ago == "just now)" || ago.ends_with(" ago)"), "{shown}");
    assert_eq!(
        server.get("/api/v1/auth/whoami", &secret).await.0,
        StatusCode::UNAUTHORIZED
    );

    c.goto(&format!("{}/admin/audit", server.url))
        .await
        .unwrap();
    let log = text_of(c, "#audit").await;
    for action in ["auth.login", "user.create", "token.create", "token.revoke"] {
        assert!(log.contains(action), "audit page lacks {action}: {log}");
    }
    fill(c, "#audit-filter input[name=action]", "token.").await;
    click(c, "#audit-filter button").await;
    wait_for_url(c, "action=token.").await;
    let filtered = text_of(c, "#audit").await;
    assert!(
        filtered.contains("token.revoke") && !filtered.contains("auth.login"),
        "{filtered}"
    );
    browser.close().await;
}
