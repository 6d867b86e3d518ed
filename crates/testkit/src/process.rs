//! The `botmox` binary as a child process on a [`TestServer`]'s database, for what only a
//! real process shows: being killed with SIGKILL mid-run and started again, and what it
//! writes to its log (kept in a file).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{TEST_SECRET_KEY, TestServer};

pub struct ServerProcess {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// Its data folder, and its log (`server.log`).
    dir: tempfile::TempDir,
}

/// A port of 127.0.0.1 free right now, for a server process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl ServerProcess {
    /// Run `bin serve` on `shared`'s database with its signing key (so its tokens work),
    /// limits out of the way, and wait until it answers.
    pub async fn start(bin: &str, shared: &TestServer) -> Self {
        Self::start_at(bin, shared, free_port()).await
    }

    /// As [`ServerProcess::start`] on a given port: a restart where clients expect it.
    pub async fn start_at(bin: &str, shared: &TestServer, port: u16) -> Self {
        Self::start_with_env(bin, shared, port, &[]).await
    }

    /// As [`ServerProcess::start_at`] with more environment variables (settings).
    pub async fn start_with_env(
        bin: &str,
        shared: &TestServer,
        port: u16,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new(bin)
            .envs(env.iter().copied())
            .arg("serve")
            .env("DATABASE_URL", shared.database_url())
            .env("BOTMOX_DATA_DIR", dir.path())
            .env("BOTMOX_SECRET_KEY", TEST_SECRET_KEY)
            .env("BOTMOX_LISTEN", format!("127.0.0.1:{port}"))
            .env("BOTMOX_RATE_LIMIT_PER_ADDRESS", "100000000")
            .env("BOTMOX_RATE_LIMIT_PER_PRINCIPAL", "100000000")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("server.log")).expect("log file"))
            .spawn()
            .expect("start the botmox binary");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = shared
                .http
                .get(format!("{url}/api/v1/health"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "{bin} did not start on {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, url, dir }
    }

    /// Stop with SIGTERM (the log is flushed) and answer everything the server logged.
    pub fn stop_and_read_log(mut self) -> String {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(stopped.success());
        self.child.wait().expect("reaped");
        std::fs::read_to_string(self.dir.path().join("server.log")).expect("the log")
    }

    /// SIGKILL: no shutdown, no flush, as a crash or the OOM killer would.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
