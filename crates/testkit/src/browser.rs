//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// The browser's time zone: UTC+3 all year (no daylight saving time).
pub const BROWSER_TIME_ZONE: &str = "Europe/Moscow";
/// Its offset from UTC, in hours.
pub const BROWSER_UTC_OFFSET_HOURS: i64 = 3;

/// A chromedriver process and a browser session; both end when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Browser {
    pub async fn start() -> Self {
        let port = free_port();
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        // One time zone three hours east of UTC for every browser test, so a page that
        // shows times in the viewer's zone is seen to convert them.
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .env("TZ", BROWSER_TIME_ZONE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_bin} (install chromium-driver): {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// End the browser session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The text of the first element matching `css`, waiting up to 10 s for it; on timeout the
/// panic shows the page. An element that cannot be read because its page is being replaced
/// (a form's answer is loading) is looked up again on the new page.
pub async fn text_of(client: &Client, css: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => match element.text().await {
                Ok(text) => return text,
                // The page is being replaced (a form's answer is loading): look again.
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => panic!("{css}: {e}"),
            },
            Err(e) => {
                let url = client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let source = client.source().await.unwrap_or_default();
                panic!("{css} not found at {url}: {e}\n{source}")
            }
        }
    }
}

/// The text of every element matching `css`, in document order (one script, however many).
pub async fn texts_of(client: &Client, css: &str) -> Vec<String> {
    let texts = client
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0]), (e) => e.innerText);",
            vec![serde_json::json!(css)],
        )
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    serde_json::from_value(texts).unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// Replace the value of the input matching `css`.
pub async fn fill(client: &Client, css: &str, value: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

/// The path of the current page.
pub async fn path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

/// Sign in through the login form and wait for the signed-in page.
pub async fn sign_in(client: &Client, base_url: &str, email: &str, password: &str) {
    client.goto(&format!("{base_url}/login")).await.unwrap();
    fill(client, "input[name=email]", email).await;
    fill(client, "input[name=password]", password).await;
    click(client, "#sign-in").await;
    text_of(client, "#who").await;
}

/// Wait (up to 10 s) until the element matching `css` reads `expected`: the page before a
/// click may hold the same element with other text.
pub async fn wait_for(client: &Client, css: &str, expected: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = text_of(client, css).await;
        if text == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} reads {text:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait (up to 10 s) until the element matching `css` holds every one of `parts` (a live
/// section re-rendering by itself, say).
pub async fn wait_for_parts(client: &Client, css: &str, parts: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = text_of(client, css).await;
        if parts.iter().all(|p| text.contains(p)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} reads {text:?}, not all of {parts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Set an input's value directly (date inputs take typed text in the browser's locale).
pub async fn set_value(client: &Client, css: &str, value: &str) {
    client
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1]",
            vec![serde_json::json!(css), serde_json::json!(value)],
        )
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

/// An attribute of the first element matching `css` (empty when absent), waiting for it.
pub async fn attr(client: &Client, css: &str, name: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .attr(name)
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Choose the option with `value` in the select matching `css`.
pub async fn select(client: &Client, css: &str, value: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("{css} = {value}: {e}"));
}

/// Wait (up to 10 s) until the current URL contains `fragment`: a form's answer has loaded.
pub async fn wait_for_url(client: &Client, fragment: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let url = client.current_url().await.unwrap().to_string();
        if url.contains(fragment) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page stayed at {url}, expected {fragment}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What sticks out past the right edge of the viewport on the current page, as
/// `tag#id.class right=N in #container` (at most 20); empty when the page fits. An element inside a
/// container that scrolls or clips sideways (a wide table in its card) does not count: it
/// stays in its box.
pub async fn overflowing(client: &Client) -> Vec<String> {
    let found = client
        .execute(
            r##"const width = document.documentElement.clientWidth;
               const out = [];
               if (document.documentElement.scrollWidth > width) {
                 out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
               }
               const contained = (e) => {
                 for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
                   if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(p).overflowX)) return true;
                 }
                 return false;
               };
               for (const e of document.querySelectorAll("body *")) {
                 const box = e.getBoundingClientRect();
                 if (box.width === 0 || box.right <= width + 1 || contained(e)) continue;
                 const classes = typeof e.className === "string" && e.className
                   ? "." + e.className.trim().split(/\s+/).join(".") : "";
                 const within = e.parentElement && e.parentElement.closest("[id]");
                 out.push(`${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${classes} right=${Math.round(box.right)}`
                   + (within ? ` in #${within.id}` : ""));
                 if (out.length >= 20) break;
               }
               return out;"##,
            vec![],
        )
        .await
        .expect("overflow check");
    serde_json::from_value(found).unwrap_or_default()
}

/// Resize the browser window (the page's viewport follows in headless mode).
pub async fn resize(client: &Client, width: u32, height: u32) {
    client
        .set_window_size(width, height)
        .await
        .expect("window size");
}
