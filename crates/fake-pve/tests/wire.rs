//! The fake's wire format, checked with a plain HTTP client: the shapes a tolerant client
//! would hide (reason phrases, empty 401 bodies, string-typed numbers, request rules).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use botmox_fake_pve::{FakeConfig, FakePve};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "root@pam!ci=5ecret-5ecret";
const AUTH: &str = "PVEAPIToken=root@pam!ci=5ecret-5ecret";

async fn fake() -> FakePve {
    FakePve::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        users: vec![("root@pam".into(), "pw".into())],
        task_duration: Some(Duration::from_millis(10)),
        ..FakeConfig::default()
    })
    .await
    .unwrap()
}

fn api(fake: &FakePve, path: &str) -> String {
    format!("{}/api2/json{path}", fake.url())
}

fn reason(response: &Response) -> String {
    response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .unwrap_or_else(|| {
            response
                .status()
                .canonical_reason()
                .unwrap_or("")
                .to_owned()
        })
}

async fn json_of(response: Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// `GET` with the API token.
async fn get(http: &Client, fake: &FakePve, path: &str) -> Response {
    http.get(api(fake, path))
        .header("Authorization", AUTH)
        .send()
        .await
        .unwrap()
}

async fn wait_task(http: &Client, fake: &FakePve, upid: &str) -> Value {
    for _ in 0..3000 {
        let path = format!("/nodes/pve/tasks/{upid}/status");
        let status = json_of(get(http, fake, &path).await).await;
        if status["data"]["status"] == "stopped" {
            return status["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("task {upid} did not stop");
}

#[tokio::test]
async fn envelope_headers_and_error_shapes() {
    let fake = fake().await;
    let http = Client::new();
    let ok = get(&http, &fake, "/version").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["server"], "pve-api-daemon/3.0");
    assert_eq!(ok.headers()["cache-control"], "max-age=0");
    assert_eq!(
        ok.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    assert_eq!(json_of(ok).await["data"]["version"], "9.0.3");

    let missing = get(&http, &fake, "/nodes/pve/qemu/777/status/current").await;
    assert_eq!(missing.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reason(&missing),
        "Configuration file 'nodes/pve/qemu-server/777.conf' does not exist"
    );
    assert_eq!(missing.headers()["connection"], "close");
    assert_eq!(
        json_of(missing).await,
        json!({"data": null, "message": "Configuration file 'nodes/pve/qemu-server/777.conf' does not exist\n"})
    );

    let unknown = get(&http, &fake, "/nodes/pve/foo").await;
    assert_eq!(unknown.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        reason(&unknown),
        "Method 'GET /nodes/pve/foo' not implemented"
    );
    let post_sendkey = http
        .post(api(&fake, "/nodes/pve/qemu/100/sendkey"))
        .header("Authorization", AUTH)
        .form(&[("key", "ret")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        post_sendkey.status(),
        StatusCode::NOT_IMPLEMENTED,
        "sendkey is PUT only"
    );
    let patch = http
        .patch(api(&fake, "/nodes/pve/qemu/100/config"))
        .header("Authorization", AUTH)
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        reason(&patch),
        "Method 'PATCH /nodes/pve/qemu/100/config' not implemented"
    );
}

#[tokio::test]
async fn authentication_rules() {
    let fake = fake().await;
    let http = Client::new();
    let none = http.get(api(&fake, "/version")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(reason(&none), "No ticket");
    assert!(
        none.bytes().await.unwrap().is_empty(),
        "auth 401s have no body"
    );
    let bad = http
        .get(api(&fake, "/version"))
        .header("Authorization", "PVEAPIToken=root@pam!ci=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(reason(&bad), "Authentication failed!");
    let spaced = http
        .get(api(&fake, "/version"))
        .header("Authorization", "PVEAPIToken root@pam!ci=5ecret-5ecret")
        .send()
        .await
        .unwrap();
    assert_eq!(
        spaced.status(),
        StatusCode::OK,
        "a space after PVEAPIToken is accepted"
    );

    let failed = http
        .post(api(&fake, "/access/ticket"))
        .form(&[("username", "root@pam"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(failed).await["message"], "authentication failure\n");

    let login = json_of(
        http.post(api(&fake, "/access/ticket"))
            .form(&[("username", "root"), ("realm", "pam"), ("password", "pw")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let data = &login["data"];
    assert_eq!(data["username"], "root@pam");
    let ticket = data["ticket"].as_str().unwrap();
    assert!(
        ticket.starts_with("PVE:root@pam:") && ticket.contains("::"),
        "{ticket}"
    );
    let csrf = data["CSRFPreventionToken"].as_str().unwrap();
    let (stamp, sig) = csrf.split_once(':').unwrap();
    assert_eq!((stamp.len(), sig.len()), (8, 43));
    let cookie = format!("PVEAuthCookie={ticket}");

    let read = http
        .get(api(&fake, "/nodes"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK, "GET needs no CSRF token");
    let fallback = http
        .get(api(&fake, "/nodes"))
        .header("Authorization", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        fallback.status(),
        StatusCode::OK,
        "ticket in the Authorization header"
    );

    let config = api(&fake, "/nodes/pve/qemu/100/config");
    let no_csrf = http
        .put(&config)
        .header("Cookie", &cookie)
        .form(&[("cores", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(reason(&no_csrf), "Permission denied - invalid csrf token");
    assert!(no_csrf.bytes().await.unwrap().is_empty());
    let with_csrf = http
        .put(&config)
        .header("Cookie", &cookie)
        .header("CSRFPreventionToken", csrf)
        .form(&[("cores", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(with_csrf).await, json!({"data": null}));

    // renewal: a valid ticket works as the password
    let renewed = http
        .post(api(&fake, "/access/ticket"))
        .form(&[("username", "root@pam"), ("password", ticket)])
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), StatusCode::OK);
    // after two hours the ticket is dead
    fake.state().advance_clock(Duration::from_secs(7201));
    let expired = http
        .get(api(&fake, "/nodes"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(reason(&expired), "Authentication failed!");
}

#[tokio::test]
async fn typing_quirks_are_reproduced() {
    let fake = fake().await;
    let http = Client::new();
    assert_eq!(
        json_of(get(&http, &fake, "/cluster/nextid").await).await,
        json!({"data": "101"})
    );
    let config = json_of(get(&http, &fake, "/nodes/pve/qemu/100/config").await).await;
    assert_eq!(config["data"]["memory"], json!("8192"));
    assert_eq!(config["data"]["cores"], json!(4));
    assert_eq!(config["data"]["numa"], json!(0));
    assert_eq!(config["data"]["template"], json!(1));
    assert_eq!(config["data"]["agent"], json!("1"));
    assert_eq!(config["data"]["digest"].as_str().unwrap().len(), 40);

    let clone = json_of(
        http.post(api(&fake, "/nodes/pve/qemu/100/clone"))
            .header("Authorization", AUTH)
            .json(&json!({"newid": 101, "name": "w11-01"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let upid = clone["data"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = upid.split(':').collect();
    assert_eq!(parts.len(), 9, "{upid}");
    assert_eq!(
        (parts[0], parts[1], parts[5], parts[6], parts[7], parts[8]),
        ("UPID", "pve", "qmclone", "100", "root@pam!ci", "")
    );
    assert!(parts[2..5].iter().all(|p| {
        p.len() == 8
            && p.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    }));
    let task = wait_task(&http, &fake, &upid).await;
    assert_eq!(task["exitstatus"], "OK");
    assert_eq!(task["id"], json!("100"));
    assert_eq!(task["user"], "root@pam");
    assert_eq!(task["tokenid"], "ci");
    assert!(task["pid"].is_number() && task["starttime"].is_number());

    let list = json_of(get(&http, &fake, "/nodes/pve/qemu").await).await;
    let items = list["data"].as_array().unwrap();
    let copy = items.iter().find(|v| v["vmid"] == json!(101)).unwrap();
    let template = items.iter().find(|v| v["vmid"] == json!(100)).unwrap();
    assert!(copy.get("template").is_none(), "absent for non-templates");
    assert_eq!(template["template"], json!(1));
    let resources = json_of(get(&http, &fake, "/cluster/resources?type=vm").await).await;
    let copy = resources["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vmid"] == json!(101))
        .unwrap();
    assert_eq!(
        copy["template"],
        json!(0),
        "always present in cluster resources"
    );
    assert_eq!(copy["id"], "qemu/101");

    let bad_upid = get(&http, &fake, "/nodes/pve/tasks/UPID:nonsense/status").await;
    assert_eq!(bad_upid.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(bad_upid).await["errors"]["upid"],
        "unable to parse worker upid"
    );
}

#[tokio::test]
async fn request_encoding_rules() {
    let fake = fake().await;
    let http = Client::new();
    let clone = api(&fake, "/nodes/pve/qemu/100/clone");
    let bool_text = http
        .post(&clone)
        .header("Authorization", AUTH)
        .form(&[("newid", "101"), ("full", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(bool_text.status(), StatusCode::BAD_REQUEST);
    assert_eq!(reason(&bool_text), "Parameter verification failed.");
    assert_eq!(
        json_of(bool_text).await["errors"]["full"],
        "type check ('boolean') failed - got 'true'"
    );

    let other_type = http
        .post(&clone)
        .header("Authorization", AUTH)
        .header("Content-Type", "text/plain")
        .body("newid=101")
        .send()
        .await
        .unwrap();
    assert_eq!(other_type.status().as_u16(), 506);
    assert_eq!(
        reason(&other_type),
        "upload 'Content-Type 'text/plain' not implemented"
    );

    let body_on_get = http
        .get(api(&fake, "/version"))
        .header("Authorization", AUTH)
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(body_on_get.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(reason(&body_on_get), "Unexpected content for method 'GET'");

    let conflicting = http
        .post(&clone)
        .header("Authorization", AUTH)
        .form(&[("newid", "101"), ("vmid", "200")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(conflicting).await["errors"]["vmid"],
        "duplicate parameter (already defined in URI) with conflicting values!"
    );

    // the query wins over the body; `_dc` is ignored
    let merged = http
        .post(format!("{clone}?newid=150&_dc=12345"))
        .header("Authorization", AUTH)
        .form(&[("newid", "151"), ("full", "1")])
        .send()
        .await
        .unwrap();
    let upid = json_of(merged).await["data"].as_str().unwrap().to_owned();
    wait_task(&http, &fake, &upid).await;
    assert!(fake.state().vm(150).is_some());
    assert!(fake.state().vm(151).is_none());

    // a line break would add a line to the config file: refused like qemu-server does, and
    // nothing is written; the description alone is stored as comment lines and may span lines
    let config = api(&fake, "/nodes/pve/qemu/150/config");
    let put = |form: &'static [(&'static str, &'static str)]| {
        http.put(&config)
            .header("Authorization", AUTH)
            .form(form)
            .send()
    };
    let injected = put(&[(
        "net0",
        "virtio,bridge=vmbr0\nhookscript: local:snippets/evil.sh",
    )])
    .await
    .unwrap();
    assert_eq!(injected.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reason(&injected),
        "unable to parse value of 'net0' - property contains a line feed"
    );
    let view = fake.state().vm(150).unwrap();
    assert!(!view.config.contains_key("hookscript"));
    assert!(!view.config["net0"].contains('\n'));
    let notes = put(&[("description", "two\nlines")]).await.unwrap();
    assert_eq!(notes.status(), StatusCode::OK);
    assert_eq!(
        fake.state().vm(150).unwrap().config["description"],
        "two\nlines"
    );
}

/// A multipart body with the given parts: `(name, file name, content)`.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(b"--XBOUNDARYX\r\n");
        let disposition = match file {
            Some(file) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XBOUNDARYX--\r\n");
    body
}

#[tokio::test]
async fn upload_rules() {
    let fake = fake().await;
    let http = Client::new();
    let url = api(&fake, "/nodes/pve/storage/local/upload");
    let send = |body: Vec<u8>| {
        http.post(&url)
            .header("Authorization", AUTH)
            .header("Content-Type", "multipart/form-data; boundary=XBOUNDARYX")
            .body(body)
            .send()
    };
    let wrong_field = send(multipart(&[
        ("content", None, b"iso"),
        ("file", Some("a.iso"), b"x"),
    ]))
    .await
    .unwrap();
    assert_eq!(wrong_field.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reason(&wrong_field),
        "wrong field name 'file' for file upload, expected 'filename'"
    );
    let out_of_order = send(multipart(&[
        ("checksum", None, b"00"),
        ("content", None, b"iso"),
    ]))
    .await
    .unwrap();
    assert_eq!(out_of_order.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let half_checksum = send(multipart(&[
        ("content", None, b"iso"),
        ("checksum", None, b"00"),
        ("filename", Some("a.iso"), b"x"),
    ]))
    .await
    .unwrap();
    assert_eq!(
        json_of(half_checksum).await["errors"]["checksum-algorithm"],
        "missing property required by 'checksum'"
    );

    // a ticket upload needs no CSRF token
    let login = json_of(
        http.post(api(&fake, "/access/ticket"))
            .form(&[("username", "root@pam"), ("password", "pw")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let cookie = format!(
        "PVEAuthCookie={}",
        login["data"]["ticket"].as_str().unwrap()
    );
    let ok = http
        .post(&url)
        .header("Cookie", cookie)
        .header("Content-Type", "multipart/form-data; boundary=XBOUNDARYX")
        .body(multipart(&[
            ("content", None, b"iso"),
            ("checksum-algorithm", None, b"md5"),
            ("checksum", None, b"900150983cd24fb0d6963f7d28e17f72"),
            ("filename", Some("dir/My Image.ISO"), b"abc"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let upid = json_of(ok).await["data"].as_str().unwrap().to_owned();
    assert!(upid.ends_with(":imgcopy::root@pam:"), "{upid}");
    assert_eq!(wait_task(&http, &fake, &upid).await["exitstatus"], "OK");
    assert_eq!(
        fake.state().iso_files("pve", "local"),
        vec!["My_Image.ISO".to_owned()]
    );
}

/// A child process that is killed however the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_the_documented_command_line() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_botmox-fake-pve"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--node",
                "pve1",
                "--node",
                "pve2",
                "--token",
                TOKEN,
            ])
            .args(["--user", "root@pam", "--password", "pw", "--task-ms", "10"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let nodes = json_of(
        Client::new()
            .get(format!("{url}/api2/json/nodes"))
            .header("Authorization", AUTH)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let names: Vec<&str> = nodes["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pve1", "pve2"]);
    drop(child);

    // Without credentials it must exit with an error; a fake that served anyway would run
    // until killed, so that counts as a failure too rather than a hung test.
    let mut refused = Child(
        Command::new(env!("CARGO_BIN_EXE_botmox-fake-pve"))
            .args(["--listen", "127.0.0.1:0", "--node", "pve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut exit = None;
    for _ in 0..500 {
        exit = refused.0.try_wait().unwrap();
        if exit.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let exit = exit.expect("without credentials the fake exits at once");
    assert!(!exit.success(), "some credentials are required");
}
