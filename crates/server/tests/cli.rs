//! The `botmox` binary: help, migrate, user create (on SQLite and PostgreSQL), and a
//! zero-configuration start that prints the setup link and stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use botmox_testkit::{Backend, both_backends, postgres_admin_url};
use sea_orm::ConnectionTrait;

const BIN: &str = env!("CARGO_BIN_EXE_botmox");

/// A fresh database URL for the backend, and a guard dropping a PostgreSQL database after.
struct Db {
    url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl Db {
    async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("cli.db").display()),
                pg_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let name = format!("botmox_cli_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(postgres_admin_url())
                    .await
                    .unwrap();
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                let mut url = url::Url::parse(&postgres_admin_url()).unwrap();
                url.set_path(&format!("/{name}"));
                Self {
                    url: url.to_string(),
                    pg_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }

    async fn drop_pg(&self) {
        if let Some(name) = &self.pg_name {
            let admin = sea_orm::Database::connect(postgres_admin_url())
                .await
                .unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    }
}

fn botmox(args: &[&str], db: &Db) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("BOTMOX_DATA_DIR", db._dir.path())
        .output()
        .unwrap()
}

both_backends! {
    async fn user_create_refuses_duplicates_and_short_passwords(backend) {
        let db = Db::new(backend).await;
        let out = botmox(&["migrate"], &db);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = botmox(&["user", "create", "--email", "a@example.com", "--password", "long-enough-pw", "--role", "admin", "--tenant", "acme"], &db);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("a@example.com"));

        let out = botmox(&["user", "create", "--email", "A@example.com", "--password", "long-enough-pw", "--role", "user"], &db);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"), "{}", String::from_utf8_lossy(&out.stderr));

        let out = botmox(&["user", "create", "--email", "b@example.com", "--password", "short", "--role", "user"], &db);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));

        let out = botmox(&["user", "create", "--email", "b@example.com", "--password", "long-enough-pw", "--role", "root"], &db);
        assert!(!out.status.success());

        // The user exists in the database the server would use.
        let conn = botmox_server::db::Db::open(&db.url, 1).await.unwrap();
        let found = botmox_server::auth::store::user_by_email(conn.read(), "a@example.com").await.unwrap().unwrap();
        assert_eq!((found.role.as_str(), found.tenant_id.as_str()), ("admin", "acme"));
        conn.close().await.unwrap();
        db.drop_pg().await;
    }
}

#[test]
fn help_explains_every_option() {
    let expected: [(&[&str], &[&str]); 4] = [
        (
            &["serve", "--help"],
            &[
                "--listen",
                "--data-dir",
                "--database-url",
                "--public-url",
                "--config",
                "--log-format",
                "BOTMOX_LISTEN",
                "DATABASE_URL",
            ],
        ),
        (
            &["user", "create", "--help"],
            &["--email", "--password", "--role", "--tenant"],
        ),
        (
            &["--help"],
            &["serve", "migrate", "backup", "restore", "data", "user"],
        ),
        (
            &["data", "migrate", "--help"],
            &["--to", "--blobs-to", "--data-dir"],
        ),
    ];
    for (args, words) in expected {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        for word in words {
            assert!(help.contains(word), "{} lacks {word}", args.join(" "));
        }
    }
    // The release an operator runs, for upgrade notes and bug reports.
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("botmox {}", env!("CARGO_PKG_VERSION"))
    );
}

/// `backup` on PostgreSQL and `data migrate` from it, or to something that is not
/// PostgreSQL, are refused with a reason and write nothing.
#[test]
fn backup_and_migrate_refuse_what_they_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("BOTMOX_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let out = dir.path().join("backup");
    let refused = run(&[
        "backup",
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/postgres",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(refused.contains("back it up with pg_dump"), "{refused}");
    assert!(!out.exists());
    let refused = run(&["data", "migrate", "--to", "mysql://localhost/botmox"]);
    assert!(
        refused.contains("--to takes a postgres:// URL"),
        "{refused}"
    );
    let refused = run(&[
        "data",
        "migrate",
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/postgres",
        "--to",
        "postgres://postgres@127.0.0.1:5432/postgres",
    ]);
    assert!(refused.contains("not SQLite"), "{refused}");
}

/// Whether `GET /api/v1/health/live` on the port answers 200.
fn answers_live(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        "GET /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

/// `botmox serve` in `dir` with no configuration but `args`, its log piped; once it answers,
/// `check` runs, then SIGTERM. The exit status was success; returns the log.
fn serve_in(dir: &std::path::Path, args: &[&str], check: impl FnOnce(u16)) -> String {
    let port = botmox_testkit::free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("BOTMOX_DATA_DIR")
        .env_remove("BOTMOX_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // The port is bound before the database and blob store are opened: wait for an answer.
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        while !answers_live(port) {
            assert!(std::time::Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        check(port);
    }));
    if let Err(failed) = checked {
        // No server left behind by a failed check.
        let _ = child.kill();
        let _ = child.wait();
        std::panic::resume_unwind(failed);
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_with_no_configuration_prints_a_setup_link_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut port = 0;
    let log = serve_in(dir.path(), &[], |p| {
        port = p;
        // Defaults: SQLite and blobs under ./data, key generated.
        assert!(data.join("botmox.db").exists());
        assert!(data.join("blobs").is_dir());
        assert!(data.join("secret.key").exists());
        // All of it the owner's alone, the write-ahead log too.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |name: &str| {
                std::fs::metadata(data.join(name))
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .permissions()
                    .mode()
                    & 0o777
            };
            for (name, expected) in [
                ("", 0o700),
                ("blobs", 0o700),
                ("botmox.db", 0o600),
                ("botmox.db-wal", 0o600),
                ("botmox.db-shm", 0o600),
                ("secret.key", 0o600),
            ] {
                assert_eq!(
                    mode(name),
                    expected,
                    "mode of data/{name}: {:o}",
                    mode(name)
                );
            }
        }
    });
    assert!(
        log.contains(&format!("http://127.0.0.1:{port}/setup?token=")),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
    // Written to a pipe: plain text, no colour codes.
    assert!(
        !log.contains("\x1b["),
        "colour codes in a piped log: {log:?}"
    );
    // The database was closed cleanly: SQLite checkpointed and removed its write-ahead log.
    assert!(!data.join("botmox.db-wal").exists());
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve_in(dir.path(), &["--log-format", "json"], |_| {});
    assert!(
        !log.contains("\x1b["),
        "colour codes in JSON lines: {log:?}"
    );
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| {
            assert!(l["level"].is_string() && l["timestamp"].is_string(), "{l}");
            l["message"].as_str().unwrap_or_default()
        })
        .collect();
    for expected in ["listening", "stopped"] {
        assert!(messages.contains(&expected), "{expected} in {messages:?}");
    }
    assert!(
        messages.iter().any(|m| m.contains("/setup?token=")),
        "{messages:?}"
    );
}
