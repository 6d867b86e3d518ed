//! Keeping and moving the data: a backup taken while the server writes holds every
//! acknowledged write and nothing half-written, and restores into SQLite and into
//! PostgreSQL; `botmox data migrate` moves an installation on the embedded defaults to
//! PostgreSQL and S3, runs again safely, and refuses a target that holds other data.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use botmox_proto::auth::Role;
use botmox_server::artifacts::download;
use botmox_server::config::{Config, Settings};
use botmox_server::db::TenantId;
use botmox_testkit::s3::S3Server;
use botmox_testkit::{Backend, PostgresDatabase, TEST_SECRET_KEY, TestServer};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_botmox");

/// Settings of an installation kept in `dir` (its SQLite file there unless `database_url`).
fn settings_in(dir: &Path, database_url: Option<&str>) -> Settings {
    Settings {
        data_dir: Some(dir.to_owned()),
        database_url: Some(database_url.map_or_else(
            || format!("sqlite://{}", dir.join("botmox.db").display()),
            str::to_owned,
        )),
        ..Default::default()
    }
}

fn config_of(settings: Settings) -> Config {
    settings.resolve().expect("valid settings")
}

/// A server on the installation `settings` describe (with no `secret_key`, the key of its
/// data folder).
async fn serve(settings: Settings) -> TestServer {
    TestServer::start_with(Backend::Sqlite, move |s| {
        *s = Settings {
            listen: s.listen,
            db_max_connections: s.db_max_connections,
            ..settings
        };
    })
    .await
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Sign in (the users are in the restored data, with the password the testkit gives).
async fn token(server: &TestServer, email: &str) -> String {
    server
        .login(email, "correct-horse-battery")
        .await
        .access_token
}

/// Ids and names of every bot the tenant's admin sees.
async fn bots(server: &TestServer, token: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for page in 1.. {
        let (status, body) = server
            .get(&format!("/api/v1/bots?limit=100&page={page}"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rows = body["data"].as_array().unwrap();
        found.extend(rows.iter().map(|b| {
            (
                b["id"].as_str().unwrap().to_owned(),
                b["name"].as_str().unwrap().to_owned(),
            )
        }));
        if rows.len() < 100 {
            break;
        }
    }
    found
}

/// The release's file as the server hands it out (a signed link, or a presigned S3 URL).
async fn download(server: &TestServer, key: &str) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp_millis();
    let (url, _) = download::url_for(server.state(), &TenantId::trusted("acme"), key, now)
        .await
        .expect("a download link");
    let res = server.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{url}");
    res.bytes().await.unwrap().to_vec()
}

/// The sealed password of `bot`, revealed by `token`'s user.
async fn reveal(server: &TestServer, token: &str, bot: &str) -> Value {
    let (status, body) = server
        .post(
            &format!("/api/v1/bots/{bot}/reveal"),
            token,
            json!({"field": "account/password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["value"].clone()
}

/// What the installation holds before it is backed up or moved: a bot with a sealed
/// password and a release with its file.
struct Seeded {
    bot: String,
    object_key: String,
    file: Vec<u8>,
}

/// A server on an installation in `dir` with its key in the data folder, an admin's token,
/// and what [`seed`] wrote.
async fn seeded_installation(dir: &Path) -> (TestServer, String, Seeded) {
    let server = serve(Settings {
        secret_key: None,
        ..settings_in(dir, None)
    })
    .await;
    let admin = server
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await
        .access_token;
    let seeded = seed(&server, &admin).await;
    (server, admin, seeded)
}

async fn seed(server: &TestServer, admin: &str) -> Seeded {
    let bot = server
        .create(
            "/api/v1/bots",
            admin,
            json!({"name": "keeper", "account": {"email": "k@mail.example", "password": "s3cret-pw"}}),
        )
        .await;
    let file: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let release = botmox_testkit::upload_release(
        &server.http,
        &server.url,
        admin,
        "module=runner&platform=windows&version=1",
        file.clone(),
    )
    .await;
    Seeded {
        bot,
        object_key: release["object_key"].as_str().unwrap().to_owned(),
        file,
    }
}

/// The restored installation answers as the original did: the same bots, the password
/// opens, the file is the same.
async fn assert_restored(
    server: &TestServer,
    seeded: &Seeded,
    expected: &BTreeSet<(String, String)>,
) {
    let admin = token(server, "admin@acme.example").await;
    assert_eq!(&bots(server, &admin).await, expected);
    assert_eq!(reveal(server, &admin, &seeded.bot).await, "s3cret-pw");
    assert_eq!(
        sha(&download(server, &seeded.object_key).await),
        sha(&seeded.file)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_writes_restores_every_acknowledged_write_on_both_engines() {
    let source_dir = tempfile::tempdir().unwrap();
    let (source, admin, seeded) = seeded_installation(source_dir.path()).await;

    // A writer creates bots one after another; each id is noted once its 201 arrived.
    let acknowledged = Arc::new(Mutex::new(vec![("keeper".to_owned(), seeded.bot.clone())]));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        let (http, url, admin) = (source.http.clone(), source.url.clone(), admin.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let name = format!("bot-{n}");
                let res = http
                    .post(format!("{url}/api/v1/bots"))
                    .bearer_auth(&admin)
                    .json(&json!({"name": name, "character": {"name": format!("Char{n}"), "level": 1 + n % 70}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                let body: Value = res.json().await.unwrap();
                let id = body["data"]["id"].as_str().unwrap().to_owned();
                acknowledged.lock().unwrap().push((name, id));
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 30 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before: BTreeSet<(String, String)> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .map(|(name, id)| (id.clone(), name.clone()))
        .collect();
    let backup_dir = tempfile::tempdir().unwrap();
    let out = backup_dir.path().join("backup");
    let source_config = source.state().config.as_ref().clone();
    let manifest = botmox_server::data::backup::backup(&source_config, &out)
        .await
        .expect("backup under writes");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let all: BTreeSet<(String, String)> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .map(|(name, id)| (id.clone(), name.clone()))
        .collect();
    assert!(
        manifest.secret_key,
        "the key kept in the data folder is in the backup"
    );
    assert_eq!(manifest.objects.len(), 1);

    // Into an empty SQLite installation.
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite_settings = Settings {
        secret_key: None,
        ..settings_in(sqlite_dir.path(), None)
    };
    botmox_server::data::backup::restore(&config_of(sqlite_settings.clone()), &out)
        .await
        .expect("restore into SQLite");
    let restored = serve(sqlite_settings.clone()).await;
    let admin_there = token(&restored, "admin@acme.example").await;
    let found = bots(&restored, &admin_there).await;
    assert!(
        found.is_superset(&before),
        "a write acknowledged before the backup is missing"
    );
    assert!(
        found.is_subset(&all),
        "the restore holds a bot nobody created"
    );
    assert_restored(&restored, &seeded, &found).await;
    // A second restore over it is refused, and leaves it as it was.
    let again = botmox_server::data::backup::restore(&config_of(sqlite_settings), &out).await;
    let refusal = again.unwrap_err().to_string();
    assert!(refusal.contains("restore into an empty"), "{refusal}");
    assert_eq!(bots(&restored, &admin_there).await, found);
    restored.stop().await;

    // Into an empty PostgreSQL database, with the key given in configuration.
    let pg = PostgresDatabase::create().await;
    let pg_dir = tempfile::tempdir().unwrap();
    let pg_settings = Settings {
        secret_key: Some(std::fs::read_to_string(out.join("secret.key")).unwrap()),
        ..settings_in(pg_dir.path(), Some(&pg.url))
    };
    botmox_server::data::backup::restore(&config_of(pg_settings.clone()), &out)
        .await
        .expect("restore into PostgreSQL");
    let on_pg = serve(pg_settings.clone()).await;
    assert_restored(&on_pg, &seeded, &found).await;
    let refused = botmox_server::data::backup::restore(&config_of(pg_settings), &out).await;
    let refusal = refused.unwrap_err().to_string();
    assert!(refusal.contains("restore into an empty"), "{refusal}");
    on_pg.stop().await;

    // A PostgreSQL database holding other data is refused before anything is written: its
    // schema is not migrated either.
    let occupied = PostgresDatabase::create().await;
    let conn = sea_orm::Database::connect(&occupied.url).await.unwrap();
    conn.execute_unprepared(
        "CREATE TABLE inventory (item text); INSERT INTO inventory VALUES ('kept')",
    )
    .await
    .unwrap();
    let occupied_dir = tempfile::tempdir().unwrap();
    let refused = botmox_server::data::backup::restore(
        &config_of(settings_in(occupied_dir.path(), Some(&occupied.url))),
        &out,
    )
    .await;
    let refusal = refused.unwrap_err().to_string();
    assert!(refusal.contains("restore into an empty"), "{refusal}");
    let tables = conn
        .query_all(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'",
        ))
        .await
        .unwrap();
    assert_eq!(tables.len(), 1, "only the table that was there");
    conn.close().await.unwrap();

    // A key that is not the backup's is refused before anything is written.
    let wrong_dir = tempfile::tempdir().unwrap();
    let wrong = Settings {
        secret_key: Some(TEST_SECRET_KEY.into()),
        ..settings_in(wrong_dir.path(), None)
    };
    let refused = botmox_server::data::backup::restore(&config_of(wrong), &out).await;
    let refusal = refused.unwrap_err().to_string();
    assert!(refusal.contains("not the backup's"), "{refusal}");
    assert!(!wrong_dir.path().join("botmox.db").exists());
    source.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_migrate_moves_sqlite_and_blobs_to_postgres_and_s3_and_runs_again_safely() {
    let source_dir = tempfile::tempdir().unwrap();
    let (source, admin, seeded) = seeded_installation(source_dir.path()).await;
    for n in 0..1_200 {
        source
            .create("/api/v1/bots", &admin, json!({"name": format!("bot-{n}")}))
            .await;
    }
    let expected = bots(&source, &admin).await;
    source.stop().await;

    let pg = PostgresDatabase::create().await;
    let s3 = S3Server::start();
    let migrate = || {
        let output = std::process::Command::new(BIN)
            .args(["data", "migrate", "--to", &pg.url, "--blobs-to"])
            .arg(format!("s3://{}", s3.bucket))
            .env("BOTMOX_DATA_DIR", source_dir.path())
            .env("AWS_ENDPOINT_URL", &s3.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", &s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
            .env("BOTMOX_S3_PATH_STYLE", "true")
            .output()
            .expect("botmox runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, first, err) = migrate();
    assert!(ok, "{err}");
    assert!(
        first.contains("copied and checked 1 objects, 200000 bytes"),
        "{first}"
    );
    assert!(first.contains("BOTMOX_SECRET_KEY"), "{first}");
    let records = first
        .lines()
        .find(|l| l.starts_with("table records:"))
        .expect("the records table is reported")
        .to_owned();
    assert!(records.contains("1201 rows"), "{records}");
    let (ok, second, err) = migrate();
    assert!(ok, "a second run over the copy: {err}");
    assert_eq!(
        first, second,
        "the second run finds and proves the same data"
    );

    // A target holding other data under the same keys fails the check, naming the table.
    let target = sea_orm::Database::connect(&pg.url).await.unwrap();
    let rename = |from: &str, to: &str| {
        format!("UPDATE records SET name = '{to}' WHERE kind = 'bots' AND name = '{from}'")
    };
    target
        .execute_unprepared(&rename("bot-7", "changed"))
        .await
        .unwrap();
    let (ok, _, err) = migrate();
    assert!(!ok);
    assert!(err.contains("records differs"), "{err}");
    target
        .execute_unprepared(&rename("changed", "bot-7"))
        .await
        .unwrap();
    target.close().await.unwrap();

    // Servers on the copy, with the key of the data folder.
    let key = std::fs::read_to_string(source_dir.path().join("secret.key")).unwrap();
    let target_dir = tempfile::tempdir().unwrap();
    let mut target_settings = Settings {
        secret_key: Some(key),
        ..settings_in(target_dir.path(), Some(&pg.url))
    };
    s3.configure(&mut target_settings);
    let moved = serve(target_settings).await;
    assert_restored(&moved, &seeded, &expected).await;
    // The identity sequences moved past the copied ids: a sign-in's audit row is written.
    let admin_there = token(&moved, "admin@acme.example").await;
    let (_, before) = moved.get("/api/v1/audit?limit=1", &admin_there).await;
    token(&moved, "admin@acme.example").await;
    let (_, after) = moved.get("/api/v1/audit?limit=1", &admin_there).await;
    assert!(
        after["meta"]["total"].as_u64() > before["meta"]["total"].as_u64(),
        "{before} {after}"
    );
    moved.stop().await;
}
