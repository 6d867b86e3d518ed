//! Sign-in, sessions, refresh-token rotation, API tokens and external JWTs, over HTTP on
//! SQLite and PostgreSQL.

use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends! {
    async fn login_gives_tokens_and_whoami_names_the_principal(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "Ops@Example.com", Role::Infra).await;
        let (status, body) = server.call(Method::POST, "/api/v1/auth/login", None,
            Some(json!({"email": "ops@example.com", "password": s.password}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["success"], true);
        assert_eq!(body["data"]["token_type"], "Bearer");
        assert_eq!(body["data"]["expires_in"], 900);
        assert!(body["data"]["refresh_token"].as_str().unwrap().len() > 40);

        let (status, who) = server.get("/api/v1/auth/whoami", &s.access_token).await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert_eq!(who["data"]["uid"], s.user_id.as_str());
        assert_eq!(who["data"]["email"], "ops@example.com");
        assert_eq!(who["data"]["tenant_id"], "acme");
        assert_eq!(who["data"]["roles"], json!(["infra"]));
        assert_eq!(who["data"]["type"], "user");

        let (status, v) = server.get("/api/v1/auth/verify", &s.access_token).await;
        assert_eq!((status, v["data"]["valid"].clone()), (StatusCode::OK, json!(true)));
        server.stop().await;
    }

    async fn wrong_email_and_wrong_password_are_the_same_401(backend) {
        let server = TestServer::start(backend).await;
        server.create_user("acme", "a@example.com", Role::User).await;
        for (email, password) in [("nobody@example.com", "correct-horse-battery"), ("a@example.com", "wrong-password-123")] {
            let (status, body) = server.call(Method::POST, "/api/v1/auth/login", None,
                Some(json!({"email": email, "password": password}))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(body["error"]["code"], "INVALID_CREDENTIALS");
            assert_eq!(body["error"]["message"], "Invalid email or password");
        }
        let (status, body) = server.get("/api/v1/auth/whoami", "not-a-token").await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("UNAUTHORIZED")));
        let (status, _) = server.call(Method::GET, "/api/v1/auth/whoami", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn refresh_rotates_and_reuse_revokes_the_family(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "a@example.com", Role::User).await;
        let (status, first) = server.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": s.refresh_token}))).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        let next_refresh = first["data"]["refresh_token"].as_str().unwrap().to_owned();
        let next_access = first["data"]["access_token"].as_str().unwrap().to_owned();
        assert_ne!(next_refresh, s.refresh_token);
        assert_eq!(server.get("/api/v1/auth/whoami", &next_access).await.0, StatusCode::OK);

        // Replaying the spent token: refused, and the whole session dies.
        let (status, _) = server.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": s.refresh_token}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(server.get("/api/v1/auth/whoami", &next_access).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(server.get("/api/v1/auth/whoami", &s.access_token).await.0, StatusCode::UNAUTHORIZED);
        let (status, _) = server.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": next_refresh}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn logout_ends_the_session(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "a@example.com", Role::User).await;
        let (status, _) = server.post("/api/v1/auth/logout", &s.access_token, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.get("/api/v1/auth/whoami", &s.access_token).await.0, StatusCode::UNAUTHORIZED);
        let (status, _) = server.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": s.refresh_token}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn disabling_a_user_or_changing_its_role_acts_on_the_next_request(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let user = server.user_session("acme", "u@example.com", Role::User).await;
        let (_, who) = server.get("/api/v1/auth/whoami", &user.access_token).await;
        assert_eq!(who["data"]["roles"], json!(["user"]));

        let (status, _) = server.patch(&format!("/api/v1/users/{}", user.user_id), &admin.access_token, json!({"role": "infra"})).await;
        assert_eq!(status, StatusCode::OK);
        let (_, who) = server.get("/api/v1/auth/whoami", &user.access_token).await;
        assert_eq!(who["data"]["roles"], json!(["infra"]));

        let (status, _) = server.patch(&format!("/api/v1/users/{}", user.user_id), &admin.access_token, json!({"disabled": true})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.get("/api/v1/auth/whoami", &user.access_token).await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = server.call(Method::POST, "/api/v1/auth/login", None,
            Some(json!({"email": user.email, "password": user.password}))).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("ACCOUNT_DISABLED")));
    }

    async fn api_tokens_work_until_revoked_and_never_exceed_the_creator(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let (status, created) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "ci", "role": "user"})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let secret = created["data"]["token"].as_str().unwrap().to_owned();
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("bmx_"));

        let (status, who) = server.get("/api/v1/auth/whoami", &secret).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(who["data"]["type"], "api_token");
        assert_eq!(who["data"]["uid"], format!("token:{id}"));
        assert_eq!(who["data"]["tenant_id"], "acme");
        assert_eq!(who["data"]["roles"], json!(["user"]));
        // A user-role token cannot reach admin routes.
        assert_eq!(server.get("/api/v1/users", &secret).await.0, StatusCode::FORBIDDEN);

        let (_, list) = server.get("/api/v1/tokens", &admin.access_token).await;
        assert_eq!(list["meta"]["total"], 1);
        assert!(list["data"][0].get("token").is_none(), "secret must not be listed");
        assert!(list["data"][0]["last_used_at"].is_string());

        let (status, _) = server.delete(&format!("/api/v1/tokens/{id}"), &admin.access_token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.get("/api/v1/auth/whoami", &secret).await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = server.delete(&format!("/api/v1/tokens/{id}"), &admin.access_token).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::CONFLICT, json!("CONFLICT")));

        // Bad input.
        let (status, body) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": " ", "role": "user"})).await;
        assert_eq!((status, body["error"]["details"]["fieldErrors"]["name"].is_array()), (StatusCode::BAD_REQUEST, true));
        let (status, _) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "x", "role": "root"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "x", "role": "user", "expires_at": "2001-01-01T00:00:00Z"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // An expired token stops working.
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
        let (_, created) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "short", "role": "user", "expires_at": soon})).await;
        let short = created["data"]["token"].as_str().unwrap().to_owned();
        assert_eq!(server.get("/api/v1/auth/whoami", &short).await.0, StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        assert_eq!(server.get("/api/v1/auth/whoami", &short).await.0, StatusCode::UNAUTHORIZED);
    }

    async fn login_is_throttled_per_account(backend) {
        let server = TestServer::start_with(backend, |s| s.login_attempts_per_account = Some(3)).await;
        server.create_user("acme", "a@example.com", Role::User).await;
        for _ in 0..3 {
            let (status, _) = server.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "a@example.com", "password": "wrong-password-1"}))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let res = server.http.post(format!("{}/api/v1/auth/login", server.url))
            .json(&json!({"email": "A@example.com", "password": "correct-horse-battery"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry));
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
    }

    async fn an_api_token_acts_as_its_creator_at_most(backend) {
        let server = TestServer::start(backend).await;
        let creator = server.user_session("acme", "creator@example.com", Role::Admin).await;
        let other = server.user_session("acme", "other@example.com", Role::Admin).await;
        let token = admin_token(&server, &creator).await;
        let (_, who) = server.get("/api/v1/auth/whoami", &token).await;
        assert_eq!(who["data"]["roles"], json!(["admin"]));
        assert_eq!(server.get("/api/v1/users", &token).await.0, StatusCode::OK);

        // Another admin demotes and disables the creator: the token is dead from the next request.
        let creator_path = format!("/api/v1/users/{}", creator.user_id);
        let (status, _) = server.patch(&creator_path, &other.access_token, json!({"role": "user", "disabled": true})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.get("/api/v1/auth/whoami", &token).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(server.get("/api/v1/users", &token).await.0, StatusCode::UNAUTHORIZED);
        let (status, _) = server.post("/api/v1/users", &token,
            json!({"email": "sneaky@example.com", "password": "long-enough-pw", "role": "admin"})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = server.patch(&creator_path, &token, json!({"role": "admin", "disabled": false})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (_, still) = server.get(&creator_path, &other.access_token).await;
        assert_eq!((still["data"]["role"].clone(), still["data"]["disabled"].clone()), (json!("user"), json!(true)));

        // A creator demoted to `user` (still enabled) leaves its admin token acting as a user.
        let demoted = server.user_session("acme", "demoted@example.com", Role::Admin).await;
        let token = admin_token(&server, &demoted).await;
        let demoted_path = format!("/api/v1/users/{}", demoted.user_id);
        assert_eq!(server.patch(&demoted_path, &other.access_token, json!({"role": "user"})).await.0, StatusCode::OK);
        let (status, who) = server.get("/api/v1/auth/whoami", &token).await;
        assert_eq!((status, who["data"]["roles"].clone()), (StatusCode::OK, json!(["user"])));
        assert_eq!(server.get("/api/v1/users", &token).await.0, StatusCode::FORBIDDEN);
        assert_eq!(server.patch(&demoted_path, &token, json!({"role": "admin"})).await.0, StatusCode::FORBIDDEN);
        // Promoted again, the token is an admin token again: the lower of the two roles.
        assert_eq!(server.patch(&demoted_path, &other.access_token, json!({"role": "admin"})).await.0, StatusCode::OK);
        assert_eq!(server.get("/api/v1/users", &token).await.0, StatusCode::OK);
    }

    async fn a_wrong_password_from_one_address_does_not_lock_out_another(backend) {
        let server = TestServer::start_with(backend, |s| s.trusted_proxies = Some(vec![[127, 0, 0, 1].into()])).await;
        server.create_user("acme", "a@example.com", Role::User).await;
        let login = |from: &'static str, password: &'static str| {
            server.http.post(format!("{}/api/v1/auth/login", server.url))
                .header("x-forwarded-for", from)
                .json(&json!({"email": "a@example.com", "password": password}))
                .send()
        };
        for _ in 0..5 {
            assert_eq!(login("198.51.100.7", "wrong-password-1").await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        // The owner, elsewhere, still signs in.
        assert_eq!(login("203.0.113.8", "correct-horse-battery").await.unwrap().status(), StatusCode::OK);
        // The address that guessed is throttled, even with the right password.
        let res = login("198.51.100.7", "correct-horse-battery").await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
    }

    async fn the_login_form_throttles_like_the_api_and_says_when_to_retry(backend) {
        let server = TestServer::start(backend).await;
        server.create_user("acme", "a@example.com", Role::User).await;
        for _ in 0..5 {
            let (res, _, _) = server.ui_login("a@example.com", "wrong-password-1").await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
        let (res, _, _) = server.ui_login("a@example.com", "correct-horse-battery").await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(wait >= 1, "{wait}");
        assert!(res.text().await.unwrap().contains("<form"), "the login page again, with the error");
    }

    async fn external_jwts_are_accepted_only_when_configured(backend) {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let claims = json!({"sub": "ext-1", "aud": "authenticated", "email": "Ext@Example.com",
            "exp": chrono::Utc::now().timestamp() + 300});
        let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"supabase-jwt-secret")).unwrap();

        let off = TestServer::start(backend).await;
        off.create_user("acme", "ext@example.com", Role::User).await;
        assert_eq!(off.get("/api/v1/auth/whoami", &token).await.0, StatusCode::UNAUTHORIZED);
        off.stop().await;

        let on = TestServer::start_with(backend, |s| s.external_jwt_hs256_secret = Some("supabase-jwt-secret".into())).await;
        let uid = on.create_user("acme", "ext@example.com", Role::Admin).await;
        let (status, who) = on.get("/api/v1/auth/whoami", &token).await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert_eq!(who["data"]["source"], "external");
        assert_eq!(who["data"]["uid"], uid.as_str());
        assert_eq!(who["data"]["roles"], json!(["admin"]));
        let forged = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"guess")).unwrap();
        assert_eq!(on.get("/api/v1/auth/whoami", &forged).await.0, StatusCode::UNAUTHORIZED);
        let stranger = encode(&Header::default(), &json!({"sub": "x", "aud": "authenticated", "email": "who@example.com",
            "exp": chrono::Utc::now().timestamp() + 300}), &EncodingKey::from_secret(b"supabase-jwt-secret")).unwrap();
        assert_eq!(on.get("/api/v1/auth/whoami", &stranger).await.0, StatusCode::UNAUTHORIZED);
    }
}

/// An admin-role API token of `creator`: its secret.
async fn admin_token(server: &TestServer, creator: &botmox_testkit::Session) -> String {
    let (status, created) = server
        .post(
            "/api/v1/tokens",
            &creator.access_token,
            json!({"name": "automation", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"]["token"].as_str().unwrap().to_owned()
}

/// RS256: tokens signed by the provider's private key verify against its configured public key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_rs256_jwts_verify_against_the_configured_public_key() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.pem");
    let public = dir.path().join("public.pem");
    let openssl = |args: &[&str]| {
        assert!(
            std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap()
                .status
                .success()
        )
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let key = EncodingKey::from_rsa_pem(&std::fs::read(&private).unwrap()).unwrap();
    let claims = json!({"sub": "ext-2", "aud": "authenticated", "iss": "https://idp.example.com", "email": "rs@example.com",
        "exp": chrono::Utc::now().timestamp() + 300});
    let token = encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();

    let public_key = public.clone();
    let server = TestServer::start_with(botmox_testkit::Backend::Sqlite, move |s| {
        s.external_jwt_rs256_keys = Some(vec![public_key]);
        s.external_jwt_issuer = Some("https://idp.example.com".into());
    })
    .await;
    server
        .create_user("acme", "rs@example.com", Role::User)
        .await;
    let (status, who) = server.get("/api/v1/auth/whoami", &token).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["data"]["source"], "external");
    // Wrong issuer, or an HS256 token made with the public key as secret (algorithm confusion), fail.
    let other_iss = encode(
        &Header::new(Algorithm::RS256),
        &json!({"sub": "x", "aud": "authenticated", "iss": "https://evil.example.com",
        "email": "rs@example.com", "exp": chrono::Utc::now().timestamp() + 300}),
        &key,
    )
    .unwrap();
    assert_eq!(
        server.get("/api/v1/auth/whoami", &other_iss).await.0,
        StatusCode::UNAUTHORIZED
    );
    let confused = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(&std::fs::read(&public).unwrap()),
    )
    .unwrap();
    assert_eq!(
        server.get("/api/v1/auth/whoami", &confused).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Two servers on one PostgreSQL database: a change made through one replica takes effect on
/// the other as soon as its cache hears the notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_changes_reach_every_replica() {
    let a = TestServer::start(botmox_testkit::Backend::Postgres).await;
    let b = a.replica().await;
    let admin = a
        .user_session("acme", "admin@example.com", Role::Admin)
        .await;
    let user = a.user_session("acme", "u@example.com", Role::User).await;
    // Warm replica B's cache with the user's principal.
    assert_eq!(
        b.get("/api/v1/auth/whoami", &user.access_token).await.0,
        StatusCode::OK
    );
    let (status, _) = a
        .patch(
            &format!("/api/v1/users/{}", user.user_id),
            &admin.access_token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    refused_soon(
        &b,
        "/api/v1/auth/whoami",
        &user.access_token,
        "replica B still accepts a disabled user",
    )
    .await;
    b.stop().await;
}

/// Poll `path` on `server` with `token` until it answers 401 (and 200 until then). The
/// deadline is well inside the principal cache's lifetime, so only the change's notification
/// can end the wait, not a cache entry running out.
async fn refused_soon(server: &TestServer, path: &str, token: &str, what: &str) {
    let deadline = std::time::Instant::now() + botmox_server::principal::cache::ENTRY_TTL / 2;
    loop {
        let status = server.get(path, token).await.0;
        if status == StatusCode::UNAUTHORIZED {
            return;
        }
        assert_eq!(status, StatusCode::OK, "{what}");
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Two replicas on one PostgreSQL database: a token warmed in one replica's cache stops
/// acting as admin there once its creator is demoted and disabled through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_creator_s_token_stops_on_every_replica() {
    let a = TestServer::start(botmox_testkit::Backend::Postgres).await;
    let b = a.replica().await;
    let creator = a
        .user_session("acme", "creator@example.com", Role::Admin)
        .await;
    let other = a
        .user_session("acme", "other@example.com", Role::Admin)
        .await;
    let token = admin_token(&a, &creator).await;
    assert_eq!(b.get("/api/v1/users", &token).await.0, StatusCode::OK);
    let (status, _) = a
        .patch(
            &format!("/api/v1/users/{}", creator.user_id),
            &other.access_token,
            json!({"role": "user", "disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    refused_soon(
        &b,
        "/api/v1/users",
        &token,
        "replica B still accepts the token",
    )
    .await;
    let (status, _) = b
        .post(
            "/api/v1/users",
            &token,
            json!({"email": "sneaky@example.com", "password": "long-enough-pw", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    b.stop().await;
}
