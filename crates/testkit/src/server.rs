//! A real Bot-Mox server on a fresh database, plus small HTTP helpers for tests.

use botmox_proto::auth::{Role, TokenPair};
use botmox_server::app::{self, Running};
use botmox_server::config::Settings;
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::Value;

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// PostgreSQL server used by tests: `BOTMOX_TEST_POSTGRES_URL`, else the local default.
pub fn postgres_admin_url() -> String {
    std::env::var("BOTMOX_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, db: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("valid postgres url");
    parsed.set_path(&format!("/{db}"));
    parsed.to_string()
}

/// A signed-in user of a test server.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub email: String,
    pub password: String,
    pub tenant: String,
    pub access_token: String,
    pub refresh_token: String,
}

pub struct TestServer {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    pub backend: Backend,
    /// The first-run setup link printed at start (no user existed).
    pub setup_link: Option<String>,
    pub http: reqwest::Client,
    running: Option<Running>,
    /// The PostgreSQL database this server created, dropped with it.
    _pg_database: Option<PostgresDatabase>,
    database_url: String,
    _dir: tempfile::TempDir,
}

/// Every test server signs with this key, so replicas accept each other's tokens.
pub const TEST_SECRET_KEY: &str = "botmox-test-secret-key-0123456789abcdef";

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Start with settings adjusted by `tweak` (rate limits, CORS origins, ...).
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_on(backend, None, tweak).await
    }

    /// A second server process on the same database (a replica behind a load balancer).
    pub async fn replica(&self) -> Self {
        Self::start_on(self.backend, Some(self.database_url.clone()), |_| {}).await
    }

    async fn start_on(
        backend: Backend,
        shared_database: Option<String>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pg_database = None;
        let database_url = match (backend, shared_database) {
            (_, Some(url)) => url,
            (Backend::Sqlite, None) => {
                format!("sqlite://{}", dir.path().join("botmox.db").display())
            }
            (Backend::Postgres, None) => {
                let database = PostgresDatabase::create().await;
                let url = database.url.clone();
                pg_database = Some(database);
                url
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let mut settings = Settings {
            data_dir: Some(dir.path().to_owned()),
            database_url: Some(database_url.clone()),
            db_max_connections: Some(8),
            secret_key: Some(TEST_SECRET_KEY.into()),
            listen: Some(addr),
            ..Default::default()
        };
        tweak(&mut settings);
        let config = settings.resolve().expect("valid test config");
        let running = app::start(config, Some(listener))
            .await
            .expect("server starts");
        let http = reqwest::Client::builder()
            .cookie_store(false)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            url: format!("http://{addr}"),
            backend,
            setup_link: running.setup_link.clone(),
            http,
            running: Some(running),
            _pg_database: pg_database,
            database_url,
            _dir: dir,
        }
    }

    /// The database this server runs on (another process may share it).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn state(&self) -> &botmox_server::state::AppState {
        &self.running.as_ref().expect("server running").state
    }

    /// The typed API client of this server, with `token` as its bearer when given.
    pub fn client(&self, token: Option<&str>) -> botmox_client::Client {
        let client = botmox_client::Client::new(&self.url).expect("the server's URL");
        match token {
            Some(t) => client.with_token(t),
            None => client,
        }
    }

    /// Run a raw SQL statement in a write transaction (tests that stage a state the API
    /// cannot make, such as an old timestamp); the number of rows it changed.
    pub async fn execute(&self, sql: &str) -> Result<u64, botmox_server::db::StoreError> {
        self.state()
            .db
            .write(async |txn| {
                let done = txn.execute_unprepared(sql).await?;
                Ok::<_, botmox_server::db::StoreError>(done.rows_affected())
            })
            .await
    }

    /// Shut down gracefully (in-flight requests finish, database closes).
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("graceful shutdown");
        }
    }

    /// Create a user directly, as `botmox user create` does.
    pub async fn create_user(&self, tenant: &str, email: &str, role: Role) -> String {
        let password = "correct-horse-battery";
        let tenant = botmox_server::db::TenantId::trusted(tenant);
        botmox_server::users::service::create_user(&self.state().db, &tenant, email, password, role)
            .await
            .unwrap_or_else(|e| panic!("create user {email}: {e}"))
            .id
    }

    /// Create a user and sign it in through the API.
    pub async fn user_session(&self, tenant: &str, email: &str, role: Role) -> Session {
        let user_id = self.create_user(tenant, email, role).await;
        let pair = self.login(email, "correct-horse-battery").await;
        Session {
            user_id,
            email: email.into(),
            password: "correct-horse-battery".into(),
            tenant: tenant.into(),
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> TokenPair {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login of {email} failed: {body}");
        serde_json::from_value(body["data"].clone()).expect("token pair")
    }

    /// An agent of `owner`, paired through a pairing code and registered (active and online):
    /// its id and its token.
    pub async fn paired_agent(&self, owner: &Session) -> (String, String) {
        let (_, pairing) = self
            .post(
                "/api/v1/agents/pairings",
                &owner.access_token,
                serde_json::json!({}),
            )
            .await;
        self.register(&pairing["data"]).await
    }

    /// Register the agent of `pairing` (a pairing as created, with its `pairing_code`): its
    /// id and its token.
    pub async fn register(&self, pairing: &serde_json::Value) -> (String, String) {
        let (status, agent) = self
            .call(
                Method::POST,
                "/api/v1/agents/register",
                None,
                Some(serde_json::json!({"pairing_code": pairing["pairing_code"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{agent}");
        let text = |key: &str| agent["data"][key].as_str().expect(key).to_owned();
        (text("id"), text("agent_token"))
    }

    /// As [`TestServer::paired_agent`], registering a fresh vault key: its id, its token and
    /// its vault private key (base64), to open what is sealed to it.
    pub async fn paired_vault_agent(&self, owner: &Session) -> (String, String, String) {
        let (private_key, public_key) = botmox_client::vault::generate_key_pair();
        let (_, pairing) = self
            .post(
                "/api/v1/agents/pairings",
                &owner.access_token,
                serde_json::json!({}),
            )
            .await;
        let (status, agent) = self
            .call(
                Method::POST,
                "/api/v1/agents/register",
                None,
                Some(serde_json::json!({
                    "pairing_code": pairing["data"]["pairing_code"],
                    "vault_public_key": public_key,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{agent}");
        let text = |key: &str| agent["data"][key].as_str().expect(key).to_owned();
        (text("id"), text("agent_token"), private_key)
    }

    /// The login form sent as a browser sends it: see [`ui_login`].
    pub async fn ui_login(
        &self,
        email: &str,
        password: &str,
    ) -> (reqwest::Response, String, String) {
        ui_login(&self.http, &self.url, email, password).await
    }

    /// A web UI session signed in through the login form: see [`ui_session`].
    pub async fn ui_session(&self, email: &str, password: &str) -> (String, String) {
        ui_session(&self.http, &self.url, email, password).await
    }

    /// One JSON request; returns the status and the parsed body (`Value::Null` when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        request(&self.http, &self.url, method, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Create a record (POST answering 201) and return its id.
    pub async fn create(&self, path: &str, token: &str, body: Value) -> String {
        let (status, created) = self.post(path, token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
        created["data"]["id"].as_str().expect("an id").to_owned()
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }
}

/// The value of cookie `name` set by `res`.
/// The login form of the server at `base` sent as a browser sends it (page, CSRF cookie and
/// token, then the form): the answer, and the CSRF cookie's value and form token it was sent
/// with.
pub async fn ui_login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> (reqwest::Response, String, String) {
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let nonce = set_cookie(&page, "botmox_csrf").expect("a CSRF cookie");
    let html = page.text().await.unwrap_or_default();
    let csrf = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the form")
        .to_owned();
    let answer = http
        .post(format!("{base}/login"))
        .header("cookie", format!("botmox_csrf={nonce}"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("login form sent");
    (answer, nonce, csrf)
}

/// A web UI session on the server at `base` signed in through the login form, as a browser
/// does it: its `Cookie` header and its forms' CSRF token.
pub async fn ui_session(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> (String, String) {
    let (signed_in, nonce, csrf) = ui_login(http, base, email, password).await;
    assert_eq!(
        signed_in.status(),
        StatusCode::SEE_OTHER,
        "UI login of {email}"
    );
    let session = set_cookie(&signed_in, "botmox_session").expect("a session cookie");
    (
        format!("botmox_csrf={nonce}; botmox_session={session}"),
        csrf,
    )
}

fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(name)?.strip_prefix('='))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
}

/// One JSON request to the server at `base`; the status and the parsed body (`Value::Null`
/// when not JSON).
pub async fn request(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `POST /api/v1/artifacts/releases/upload?<query>` with `bytes` as the raw body, to the
/// server at `base`; the status and the parsed body.
pub async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let res = http
        .post(format!("{base}/api/v1/artifacts/releases/upload?{query}"))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload sent");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Upload `bytes` as a release (`query` names module, platform, version) with an admin's
/// `token`; the release the server recorded.
pub async fn upload_release(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    bytes: Vec<u8>,
) -> Value {
    let (status, body) = upload(http, base, token, query, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{query}: {body}");
    body["data"].clone()
}

/// A new, empty PostgreSQL database of the test server, dropped with this guard.
#[derive(Debug)]
pub struct PostgresDatabase {
    pub url: String,
    name: String,
}

impl PostgresDatabase {
    pub async fn create() -> Self {
        let name = format!("botmox_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(postgres_admin_url())
            .await
            .expect("PostgreSQL for tests is reachable");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        Self {
            url: with_database(&postgres_admin_url(), &name),
            name,
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        // Drop the database on a thread of its own: Drop cannot await, and the test's
        // runtime may be shutting down.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = sea_orm::Database::connect(postgres_admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}
