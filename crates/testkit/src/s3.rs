//! A real S3-compatible server for tests: `s3s-fs` (the s3s project's file-system backed S3
//! server, installed by `scripts/test.sh` with `cargo install s3s-fs`) on a free port of 127.0.0.1,
//! with its own credentials and a data folder holding one bucket.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use botmox_server::config::Settings;

/// Where `scripts/test.sh` installs the binary as root; `BOTMOX_S3S_FS` names another, else `PATH` is searched.
pub const S3S_FS: &str = "/var/cache/botmox-tools/bin/s3s-fs";

pub struct S3Server {
    child: Child,
    /// E.g. `http://127.0.0.1:41234`.
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    dir: tempfile::TempDir,
    log: PathBuf,
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("BOTMOX_S3S_FS") {
        return path.into();
    }
    if Path::new(S3S_FS).exists() {
        return S3S_FS.into();
    }
    "s3s-fs".into()
}

impl S3Server {
    /// Start the server with one empty bucket and wait until it listens.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bucket = "botmox-artifacts".to_owned();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join(&bucket)).expect("bucket folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let (access_key, secret_key) = (
            "botmox-test-access".to_owned(),
            "botmox-test-secret-key".to_owned(),
        );
        let log = dir.path().join("s3s-fs.log");
        let bin = binary();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): install it with `cargo install s3s-fs@0.14.1 --features binary \
                     --locked --root /var/cache/botmox-tools` (scripts/test.sh does)",
                    bin.display()
                )
            });
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            access_key,
            secret_key,
            dir,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("s3s-fs exited ({status}): {}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "s3s-fs did not listen: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where the bucket's objects are kept on disk (`<key>` is a file under it).
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join("data").join(&self.bucket)
    }

    /// Point a server's settings at this store (path-style, as S3 servers off AWS want).
    pub fn configure(&self, settings: &mut Settings) {
        settings.blob_store = Some(format!("s3://{}", self.bucket));
        settings.s3_endpoint = Some(self.endpoint.clone());
        settings.s3_region = Some("us-east-1".into());
        settings.s3_access_key_id = Some(self.access_key.clone());
        settings.s3_secret_access_key = Some(self.secret_key.clone());
        settings.s3_path_style = Some(true);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
