//! Test harness for Bot-Mox.
//!
//! [`TestServer`] starts the real server in-process on port 0, on a fresh SQLite file or a
//! fresh PostgreSQL database that is dropped afterwards. [`both_backends!`] turns one test
//! body into a SQLite test and a PostgreSQL test. [`isolation`] proves that one tenant cannot
//! reach another tenant's ids, [`browser`] drives headless Chromium, and [`ServerProcess`]
//! runs the `botmox` binary as a child process (to kill it with SIGKILL). [`s3::S3Server`] runs
//! a real S3-compatible server (`s3s-fs`).

pub mod browser;
pub mod fixtures;
pub mod isolation;
mod process;
pub mod s3;
mod server;

pub use process::{ServerProcess, free_port};
pub use server::{
    Backend, PostgresDatabase, Session, TEST_SECRET_KEY, TestServer, postgres_admin_url, request,
    ui_login, ui_session, upload, upload_release,
};

/// Expand each `async fn name(backend) { body }` into a module `name` with two tests,
/// `sqlite` and `postgres`, each running `body` with `backend` set accordingly.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $backend = $crate::Backend::Sqlite;
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $backend = $crate::Backend::Postgres;
                    $body
                }
            }
        )*
    };
}
