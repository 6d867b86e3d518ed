//! The tenant's theme background images over the API, on SQLite and PostgreSQL: uploaded as
//! a raw body and known by their header (not by the type the client claims), read back
//! byte for byte, bounded in size and number, removed with their object, and never another
//! tenant's.

use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A PNG header of `width` × `height` and some bytes after it.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
    ];
    bytes.extend_from_slice(b"IHDR");
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&[8, 2, 0, 0, 0]);
    bytes.extend((0..200u8).map(|i| i.wrapping_mul(7)));
    bytes
}

async fn upload(
    server: &TestServer,
    token: &str,
    bytes: Vec<u8>,
    claimed: &str,
) -> (StatusCode, Value) {
    let res = server
        .http
        .post(format!("{}/api/v1/theme-assets", server.url))
        .bearer_auth(token)
        .header("content-type", claimed)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn content(server: &TestServer, token: &str, id: &str) -> (StatusCode, String, Vec<u8>) {
    let res = server
        .http
        .get(format!("{}/api/v1/theme-assets/{id}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, res.bytes().await.unwrap().to_vec())
}

both_backends! {
    async fn background_images_are_kept_read_back_and_removed_within_their_tenant(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;

        let image = png(1920, 1080);
        // The kind is read from the bytes, whatever the client says.
        let (status, asset) = upload(&server, t, image.clone(), "application/octet-stream").await;
        assert_eq!(status, StatusCode::CREATED, "{asset}");
        let asset = asset["data"].clone();
        assert_eq!((asset["mime_type"].clone(), asset["width"].clone(), asset["height"].clone()),
            (json!("image/png"), json!(1920), json!(1080)));
        assert_eq!(asset["size_bytes"], image.len());
        let id = asset["id"].as_str().unwrap().to_owned();
        assert_eq!(asset["url"], format!("/theme-assets/{id}"));
        let (status, kind, bytes) = content(&server, t, &id).await;
        assert_eq!((status, kind.as_str()), (StatusCode::OK, "image/png"));
        assert_eq!(bytes, image, "byte for byte");

        let (status, err) = upload(&server, t, b"GIF89a\x01\x00\x01\x00".to_vec(), "image/png").await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, json!("UNSUPPORTED_MEDIA_TYPE")));
        let mut huge = png(10, 10);
        huge.resize(5 * 1024 * 1024 + 1, 0);
        let (status, err) = upload(&server, t, huge, "image/png").await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::PAYLOAD_TOO_LARGE, json!("PAYLOAD_TOO_LARGE")));

        let (_, list) = server.get("/api/v1/theme-assets", t).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1, "refused uploads leave nothing: {list}");

        // Another tenant sees none of it.
        let other = server.user_session("other", "x@other.example", Role::User).await;
        assert_eq!(content(&server, &other.access_token, &id).await.0, StatusCode::NOT_FOUND);
        let (status, _) = server.delete(&format!("/api/v1/theme-assets/{id}"), &other.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, theirs) = server.get("/api/v1/theme-assets", &other.access_token).await;
        assert_eq!(theirs["data"], json!([]));

        // In use as the background, removed: its object and the background go with it.
        let (status, _) = server.put("/api/v1/settings/theme", t, json!({"visual": {"enabled": true,
            "mode": "image", "backgroundAssetId": id}})).await;
        assert!(status.is_success());
        let objects = |root: std::path::PathBuf| {
            walk(&root).into_iter().filter(|p| p.to_string_lossy().contains(&id)).count()
        };
        let root = server.state().config.data_dir.join("blobs");
        assert_eq!(objects(root.clone()), 1, "the object is in the blob folder");
        let (status, deleted) = server.delete(&format!("/api/v1/theme-assets/{id}"), t).await;
        assert_eq!((status, deleted["data"]["deleted"].clone()), (StatusCode::OK, json!(true)));
        assert_eq!(content(&server, t, &id).await.0, StatusCode::NOT_FOUND);
        assert_eq!(objects(root), 0, "the object is gone");
        let (_, visual) = server.get("/api/v1/settings/theme/visual", t).await;
        assert_eq!((visual["data"]["enabled"].clone(), visual["data"]["backgroundAssetId"].clone()),
            (json!(false), Value::Null), "{visual}");
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
