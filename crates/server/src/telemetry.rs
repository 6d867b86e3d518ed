//! Log setup: readable lines by default, JSON with `--log-format json`; `RUST_LOG` filters.
//! Lines are written to stderr by a background thread, so a slow terminal or disk never
//! holds up a request. Colour only when stderr is a terminal (and `NO_COLOR` is unset): a
//! file, a pipe or the journal gets plain text.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber. Keep the returned guard alive until the process ends: dropping
/// it flushes the lines still queued.
pub fn init(format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colour);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}
