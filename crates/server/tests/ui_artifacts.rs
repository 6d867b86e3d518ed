//! The Artifacts page over HTTP, as a browser's requests: only admins open it; the page's
//! upload (raw body, CSRF token in a header) records a release; status, assignment and
//! deletion forms work and show refusals on the page; the download audit is filtered; the
//! navigation links the page for admins.

use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn form(
    server: &TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let res = server
        .http
        .post(format!("{}{path}", server.url))
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, res.text().await.unwrap(), location)
}

async fn page(server: &TestServer, cookie: &str, path: &str) -> (StatusCode, String) {
    let res = server
        .http
        .get(format!("{}{path}", server.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

both_backends! {
    async fn admins_upload_assign_change_and_delete_from_the_page(backend) {
        let server = TestServer::start(backend).await;
        server.create_user("acme", "admin@example.com", Role::Admin).await;
        server.create_user("acme", "user@example.com", Role::User).await;
        let (cookie, csrf) = server.ui_session("admin@example.com", "correct-horse-battery").await;
        let (status, html) = page(&server, &cookie, "/artifacts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(r#"href="/artifacts" class="active""#) && html.contains("No releases yet."), "{html}");
        let (user_cookie, _) = server.ui_session("user@example.com", "correct-horse-battery").await;
        let (status, html) = page(&server, &user_cookie, "/artifacts").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        let (_, html) = page(&server, &user_cookie, "/agents").await;
        assert!(html.contains("href=\"/agents\"") && !html.contains("href=\"/artifacts\""), "the navigation hides it from non-admins");

        // The page's upload: the raw file, the token in a header.
        let upload = |token: &str, version: &str| {
            let request = server.http.post(format!("{}/artifacts/upload?module=runner&platform=windows&version={version}", server.url))
                .header("cookie", &cookie).header("x-csrf-token", token).body(vec![7u8; 100_000]);
            async move {
                let res = request.send().await.unwrap();
                (res.status(), res.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, refused) = upload("forged", "1").await;
        assert_eq!((status, refused["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("FORBIDDEN")));
        let (status, made) = upload(&csrf, "1").await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        let id = made["data"]["id"].as_i64().unwrap().to_string();
        assert_eq!(made["data"]["size_bytes"], 100_000);
        let (status, dup) = upload(&csrf, "1").await;
        assert_eq!((status, dup["error"]["code"].clone()), (StatusCode::CONFLICT, json!("ALREADY_EXISTS")));
        let (_, html) = page(&server, &cookie, "/artifacts").await;
        assert!(html.contains(&format!(r#"<tr data-id="{id}">"#)) && html.contains(made["data"]["sha256"].as_str().unwrap()), "{html}");

        // Assign it as the tenant default; a bad release id is shown on the page.
        let (status, _, location) = form(&server, &cookie, "/artifacts/assign",
            &[("_csrf", &csrf), ("user_id", ""), ("module", "runner"), ("platform", "windows"), ("channel", ""), ("release_id", &id)]).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/artifacts?notice=assigned")));
        let (status, html, _) = form(&server, &cookie, "/artifacts/assign",
            &[("_csrf", &csrf), ("module", "runner"), ("platform", "linux"), ("release_id", &id)]).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(html.contains("not runner/linux/stable"), "{html}");
        let (_, html) = page(&server, &cookie, "/artifacts?notice=assigned").await;
        assert!(html.contains("Assignment saved.") && html.contains("<em>tenant default</em>"), "{html}");

        // Deleting while assigned is refused on the page; a status change is saved.
        let (status, html, _) = form(&server, &cookie, &format!("/artifacts/releases/{id}/delete"), &[("_csrf", &csrf)]).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(html.contains("The release is assigned"), "{html}");
        let (status, _, _) = form(&server, &cookie, &format!("/artifacts/releases/{id}/status"), &[("_csrf", &csrf), ("status", "archived")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, _, _) = form(&server, &cookie, &format!("/artifacts/releases/{id}/status"), &[("_csrf", "x"), ("status", "active")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "forms check their CSRF token");
        let (_, list) = server.get("/api/v1/artifacts/releases", &server.user_session("acme", "admin2@example.com", Role::Admin).await.access_token).await;
        assert_eq!(list["data"][0]["status"], "archived");

        // A second release takes over the default, then the first one can go.
        let (_, second) = upload(&csrf, "2").await;
        let second = second["data"]["id"].as_i64().unwrap().to_string();
        form(&server, &cookie, "/artifacts/assign", &[("_csrf", &csrf), ("module", "runner"), ("platform", "windows"), ("release_id", &second)]).await;
        let (status, _, location) = form(&server, &cookie, &format!("/artifacts/releases/{id}/delete"), &[("_csrf", &csrf)]).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/artifacts?notice=deleted")));
        let (_, html) = page(&server, &cookie, "/artifacts").await;
        assert!(!html.contains(&format!(r#"<tr data-id="{id}">"#)));

        // The audit filters are read from the query; a bad one is a 400 page.
        let (status, html) = page(&server, &cookie, "/artifacts?vm_uuid=vm-1&result=denied&user_id=u-9").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(r#"value="vm-1""#) && html.contains(r#"value="u-9""#) && html.contains(r#"<option value="denied" selected>"#), "{html}");
        assert_eq!(page(&server, &cookie, "/artifacts?result=maybe").await.0, StatusCode::BAD_REQUEST);
    }
}

/// In headless Chromium: choose a file, upload it from the page, watch the progress, and see
/// the release listed with the SHA-256 the server computed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_uploads_a_file_showing_its_progress() {
    use botmox_testkit::browser::{
        Browser, click, fill, set_value, sign_in, text_of, wait_for_parts,
    };
    use sha2::Digest;

    let server = TestServer::start(botmox_testkit::Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@example.com", Role::Admin)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runner.bin");
    let bytes: Vec<u8> = (0..24_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(&bytes));

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &admin.email, &admin.password).await;
    c.goto(&format!("{}/artifacts", server.url)).await.unwrap();
    c.execute(
        "window.seen = []; const s = document.getElementById('upload-status'); \
         new MutationObserver(() => window.seen.push(s.textContent)).observe(s, {childList: true, characterData: true, subtree: true}); return true;",
        vec![],
    )
    .await
    .unwrap();
    fill(c, "#upload-form input[name=module]", "runner").await;
    c.find(fantoccini::Locator::Css("#upload-form input[type=file]"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    // A refused upload marks the input it concerns, and the form keeps what was typed.
    let long_version = "9".repeat(120);
    set_value(c, "#upload-form input[name=version]", &long_version).await;
    click(c, "#upload-form button").await;
    wait_for_parts(
        c,
        "#upload-form .field-error[data-field=version]",
        &["100 characters"],
    )
    .await;
    assert!(
        text_of(c, "#upload-status")
            .await
            .contains("see the marked fields")
    );
    let kept = c
        .execute(
            "return document.querySelector('#upload-form input[name=module]').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!("runner"));
    fill(c, "#upload-form input[name=version]", "3.1.4").await;
    click(c, "#upload-form button").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !text_of(c, "#upload-status")
        .await
        .starts_with("Uploaded release")
    {
        let status = text_of(c, "#upload-status").await;
        assert!(
            !status.starts_with("Upload failed") && std::time::Instant::now() < deadline,
            "{status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let status = text_of(c, "#upload-status").await;
    assert!(
        status.contains(&sha) && status.contains("24000000 bytes"),
        "{status}"
    );
    let seen = c.execute("return window.seen;", vec![]).await.unwrap();
    let seen: Vec<String> = serde_json::from_value(seen).unwrap();
    assert!(
        seen.iter()
            .any(|s| s.starts_with("Uploading: ") && s.contains("% of 24000000 bytes")),
        "progress was shown: {seen:?}"
    );
    let progress = c
        .execute(
            "return document.getElementById('upload-progress').value;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(progress, json!(100));
    wait_for_parts(c, "#releases", &["runner", "3.1.4", &sha]).await;
    let marks = c
        .find_all(fantoccini::Locator::Css("#upload-form .field-error"))
        .await
        .unwrap();
    assert!(marks.is_empty(), "a successful upload clears the marks");
    browser.close().await;
}
