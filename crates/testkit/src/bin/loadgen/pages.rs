//! `pages`: what a person waits for. Each page is loaded in headless Chromium (signed in
//! through the login form) one time after another, and the browser's own navigation timing
//! is read: the server's part (request sent → first byte of the answer) and the time to
//! DOMContentLoaded (navigation start → the document parsed and its deferred script run).
//! One line per page with both as p50 and p99.

use anyhow::Context;
use botmox_testkit::browser::{Browser, sign_in};
use clap::Args;
use reqwest::Url;

#[derive(Debug, Args)]
pub struct PagesArgs {
    /// Base URL of the server (loopback only).
    #[arg(long)]
    url: Url,
    /// Sign in with EMAIL:PASSWORD through the login form.
    #[arg(long, value_name = "EMAIL:PASSWORD")]
    login: String,
    /// LABEL=PATH of a page to time (repeatable), e.g. `overview=/`.
    #[arg(long = "page", value_name = "LABEL=PATH", required = true)]
    pages: Vec<String>,
    /// Timed loads of each page (after two that are not recorded).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    runs: u32,
}

/// The value at percentile `p` (0–100) of `sorted` values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub async fn run(args: PagesArgs) -> anyhow::Result<()> {
    super::check_loopback(&args.url, "--url")?;
    let (email, password) = args
        .login
        .split_once(':')
        .context("--login must be EMAIL:PASSWORD")?;
    let base = args.url.as_str().trim_end_matches('/').to_owned();
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base, email, password).await;
    for page in &args.pages {
        let (label, path) = page
            .split_once('=')
            .with_context(|| format!("--page {page}: expected LABEL=PATH"))?;
        let mut server = Vec::new();
        let mut loaded = Vec::new();
        for i in 0..args.runs + 2 {
            c.goto(&format!("{base}{path}")).await?;
            let timing = c
                .execute(
                    "const n = performance.getEntriesByType('navigation')[0]; \
                     return [n.responseStart - n.requestStart, n.domContentLoadedEventEnd - n.startTime, \
                             document.title];",
                    vec![],
                )
                .await?;
            let read = |i: usize| timing.get(i).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            let title = timing.get(2).and_then(|v| v.as_str()).unwrap_or_default();
            anyhow::ensure!(
                !title.starts_with("Sign in") && !title.contains("Error"),
                "{path} did not open as a page ({title})"
            );
            if i >= 2 {
                server.push(read(0));
                loaded.push(read(1));
            }
        }
        server.sort_by(f64::total_cmp);
        loaded.sort_by(f64::total_cmp);
        println!(
            "page-{label}: runs={} server_p50={:.1}ms server_p99={:.1}ms dcl_p50={:.1}ms dcl_p99={:.1}ms",
            args.runs,
            percentile(&server, 50.0),
            percentile(&server, 99.0),
            percentile(&loaded, 50.0),
            percentile(&loaded, 99.0),
        );
    }
    browser.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_take_the_value_at_their_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((percentile(&v, 50.0), percentile(&v, 99.0)), (50.0, 99.0));
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
