//! Storage endpoints (spec 7.13): storage list, content listing, volume delete, and the strict
//! multipart ISO upload (the file is hashed and counted while it streams in, not kept).

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use sha2::digest::DynDigest;

use crate::api::{Ctx, wait_for_task};
use crate::params::{NODE, RawParams, STORAGE_ID, STR, Ty, checked};
use crate::reply::ApiError;
use crate::state::{IsoFile, KEPT_UPLOAD_BYTES, Outcome, effect};
use crate::vmconfig;

pub(crate) fn list_storages(ctx: &Ctx<'_>, node: &str) -> Result<Value, ApiError> {
    const LIST: &[(&str, Ty)] = &[
        ("node", NODE),
        ("content", STR),
        ("enabled", Ty::Bool),
        ("storage", STORAGE_ID),
        ("target", NODE),
        ("format", Ty::Bool),
    ];
    let params = checked(ctx.raw, &[("node", node)], LIST, &[])?;
    let state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let Some(n) = state.node(&node) else {
        return Ok(json!([]));
    };
    let items: Vec<Value> = n
        .storages
        .iter()
        .filter(|(name, s)| {
            params
                .str("content")
                .is_none_or(|c| c.split(',').all(|c| s.supports(c)))
                && params.str("storage").is_none_or(|w| w == name.as_str())
        })
        .map(|(name, s)| {
            let used: u64 = s.isos.values().map(|i| i.size).sum();
            json!({
                "storage": name, "type": s.plugin, "content": s.content.join(","),
                "enabled": 1, "active": 1, "shared": 0, "total": s.total, "used": used,
                "avail": s.total - used, "used_fraction": used as f64 / s.total as f64
            })
        })
        .collect();
    Ok(json!(items))
}

/// Owner of an image volume name (`vm-101-disk-0`, `base-100-disk-0/vm-101-disk-0`).
fn volume_owner(volname: &str) -> Option<u32> {
    let last = volname.rsplit('/').next()?;
    let rest = last
        .strip_prefix("vm-")
        .or_else(|| last.strip_prefix("base-"))?;
    rest.split('-').next()?.parse().ok()
}

pub(crate) fn content(ctx: &Ctx<'_>, node: &str, storage: &str) -> Result<Value, ApiError> {
    const LIST: &[(&str, Ty)] = &[
        ("node", NODE),
        ("storage", STORAGE_ID),
        (
            "content",
            Ty::Enum(&[
                "iso", "images", "rootdir", "vztmpl", "backup", "snippets", "import",
            ]),
        ),
        ("vmid", Ty::Vmid),
    ];
    let params = checked(ctx.raw, &[("node", node), ("storage", storage)], LIST, &[])?;
    let state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let store = state.storage(&node, storage)?;
    let want = |c: &str| params.str("content").is_none_or(|w| w == c);
    let owner = params.int("vmid").map(|v| v as u32);
    let mut items = Vec::new();
    if want("iso") && owner.is_none() {
        for (name, file) in &store.isos {
            items.push(json!({
                "volid": format!("{storage}:iso/{name}"), "content": "iso", "format": "iso",
                "size": file.size, "ctime": file.ctime
            }));
        }
    }
    if want("images") && store.supports("images") {
        for vm in state.vms.values().filter(|vm| vm.node == node) {
            for (key, value) in &vm.config {
                if !vmconfig::is_drive_key(key) || vmconfig::is_cdrom(value) {
                    continue;
                }
                let volume = vmconfig::drive_volume(value);
                let Some((s, volname)) = volume.split_once(':') else {
                    continue;
                };
                let vmid = volume_owner(volname);
                if s != storage || owner.is_some_and(|o| Some(o) != vmid) {
                    continue;
                }
                items.push(json!({
                    "volid": volume, "content": "images", "format": "raw",
                    "size": vmconfig::drive_size(value).unwrap_or(0), "vmid": vmid
                }));
            }
        }
    }
    Ok(json!(items))
}

/// `DELETE .../content/{volume}`. Only ISO volumes are modelled.
pub(crate) async fn delete_volume(
    ctx: &Ctx<'_>,
    node: &str,
    storage: &str,
    volume: &str,
) -> Result<Value, ApiError> {
    const LIST: &[(&str, Ty)] = &[
        ("node", NODE),
        ("storage", STORAGE_ID),
        ("volume", STR),
        ("delay", Ty::Int { min: 1, max: 30 }),
    ];
    let path = [("node", node), ("storage", storage), ("volume", volume)];
    let params = checked(ctx.raw, &path, LIST, &[])?;
    let volname = match volume.split_once(':') {
        Some((s, _)) if s != storage => {
            return Err(ApiError::param(
                "volume",
                format!("storage ID mismatch ({s} != {storage})"),
            ));
        }
        Some((_, name)) => name,
        None => volume,
    };
    let upid = {
        let mut state = ctx.shared.lock();
        let node = state.resolve_node(node)?;
        state.storage(&node, storage)?;
        let Some(file) = volname.strip_prefix("iso/").map(str::to_owned) else {
            return Err(ApiError::status(
                501,
                format!("the fake PVE can delete ISO volumes only, not '{volume}'"),
            ));
        };
        let (target, store_name) = (node.clone(), storage.to_owned());
        let outcome = effect(move |state| {
            if let Some(n) = state.node_mut(&target)
                && let Some(s) = n.storages.get_mut(&store_name)
            {
                // A missing file only logs a warning: deleting is idempotent.
                s.isos.remove(&file);
            }
            Ok(())
        });
        state.start_task(ctx.shared, &node, "imgdel", storage, ctx.caller, outcome)
    };
    match params.int("delay") {
        Some(delay) => {
            match wait_for_task(ctx.shared, &upid, Duration::from_secs(delay as u64)).await {
                Some(status) if status == "OK" => Ok(Value::Null),
                Some(status) => Err(ApiError::fail(status)),
                None => Ok(json!(upid)),
            }
        }
        None => Ok(json!(upid)),
    }
}

fn hasher(algorithm: &str) -> Option<Box<dyn DynDigest + Send>> {
    Some(match algorithm {
        "md5" => Box::new(md5::Md5::default()),
        "sha1" => Box::new(sha1::Sha1::default()),
        "sha224" => Box::new(sha2::Sha224::default()),
        "sha256" => Box::new(sha2::Sha256::default()),
        "sha384" => Box::new(sha2::Sha384::default()),
        "sha512" => Box::new(sha2::Sha512::default()),
        _ => return None,
    })
}

/// The target name: directory part removed, every char outside `[A-Za-z0-9_.-]` -> `_`.
fn normalize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const UPLOAD: &[(&str, Ty)] = &[
    ("node", NODE),
    ("storage", STORAGE_ID),
    ("content", Ty::Enum(&["iso", "vztmpl", "import"])),
    ("filename", Ty::Str { max_len: 255 }),
    ("checksum", STR),
    (
        "checksum-algorithm",
        Ty::Enum(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
    ),
];

/// What the multipart body held.
struct Received {
    params: RawParams,
    size: u64,
    digest: Option<String>,
    sha256: String,
    /// The file, when it is at most [`KEPT_UPLOAD_BYTES`].
    bytes: Option<Vec<u8>>,
}

async fn receive(content_type: &str, body: Body, query: RawParams) -> Result<Received, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::status(
            506,
            format!("upload 'Content-Type '{content_type}' not implemented"),
        )
    })?;
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let broken = |e: multer::Error| ApiError::status(501, format!("upload failed - {e}"));
    let order = ["content", "checksum-algorithm", "checksum"];
    let mut next_text = 0;
    let mut received = Received {
        params: query,
        size: 0,
        digest: None,
        sha256: String::new(),
        bytes: Some(Vec::new()),
    };
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        let Some(name) = field.name().map(str::to_owned) else {
            return Err(ApiError::fail(
                "wrong Content-Disposition in multipart upload",
            ));
        };
        if let Some(file_name) = field.file_name().map(str::to_owned) {
            if name != "filename" {
                return Err(ApiError::fail(format!(
                    "wrong field name '{name}' for file upload, expected 'filename'"
                )));
            }
            let mut digest = received
                .params
                .text("checksum-algorithm")
                .and_then(|a| hasher(&a));
            let mut sha256 = sha2::Sha256::default();
            while let Some(chunk) = field.chunk().await.map_err(broken)? {
                received.size += chunk.len() as u64;
                let small = received.size <= KEPT_UPLOAD_BYTES;
                received.bytes = received.bytes.take().filter(|_| small).map(|mut kept| {
                    kept.extend_from_slice(&chunk);
                    kept
                });
                sha2::Digest::update(&mut sha256, &chunk);
                if let Some(d) = digest.as_mut() {
                    d.update(&chunk);
                }
            }
            received.digest = digest.map(|d| hex::encode(d.finalize()));
            received.sha256 = hex::encode(sha2::Digest::finalize(sha256));
            received.params.insert_text("filename", file_name);
            drop(field);
            if multipart.next_field().await.map_err(broken)?.is_some() {
                return Err(ApiError::fail(
                    "the file must be the last part of the upload",
                ));
            }
            break;
        }
        let position = order[next_text..].iter().position(|n| *n == name);
        let Some(position) = position else {
            return Err(ApiError::fail(format!(
                "unexpected multipart field '{name}' (expected {})",
                order[next_text..].join(", then ")
            )));
        };
        next_text += position + 1;
        let value = field.text().await.map_err(broken)?;
        received.params.insert_text(&name, value);
    }
    Ok(received)
}

/// `POST .../storage/{storage}/upload`.
pub(crate) async fn upload(
    ctx: &Ctx<'_>,
    node: &str,
    storage: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    let has_length = headers.contains_key("content-length");
    // Without a Content-Length PVE reads no body at all: the parameters are simply missing.
    let received = match headers.get("content-type").and_then(|v| v.to_str().ok()) {
        Some(ct) if has_length => receive(ct, body, ctx.raw.clone()).await?,
        Some(ct) if !ct.starts_with("multipart/form-data") => {
            return Err(ApiError::status(
                506,
                format!("upload 'Content-Type '{ct}' not implemented"),
            ));
        }
        _ => Received {
            params: ctx.raw.clone(),
            size: 0,
            digest: None,
            sha256: String::new(),
            bytes: Some(Vec::new()),
        },
    };
    let path = [("node", node), ("storage", storage)];
    let params = checked(&received.params, &path, UPLOAD, &["content", "filename"])?;
    for (have, need) in [
        ("checksum", "checksum-algorithm"),
        ("checksum-algorithm", "checksum"),
    ] {
        if params.has(have) && !params.has(need) {
            return Err(ApiError::param(
                need,
                format!("missing property required by '{have}'"),
            ));
        }
    }
    let content = params.str("content").unwrap_or("iso").to_owned();
    let file_name = normalize_file_name(params.str("filename").unwrap_or_default());
    let lower = file_name.to_ascii_lowercase();
    if content == "iso" && !(lower.ends_with(".iso") || lower.ends_with(".img")) {
        return Err(ApiError::param("filename", "wrong file extension"));
    }
    let mut state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let store = state.storage(&node, storage)?;
    if store.plugin != "dir" {
        return Err(ApiError::fail(format!(
            "can't upload to storage type '{}'",
            store.plugin
        )));
    }
    if !store.supports(&content) {
        return Err(ApiError::fail(format!(
            "storage '{storage}' does not support '{content}' content"
        )));
    }
    let expected = params.str("checksum").map(str::to_ascii_lowercase);
    let outcome = match (expected, received.digest) {
        (Some(expected), Some(actual)) if expected != actual => Outcome::Fail(format!(
            "checksum mismatch: got '{actual}' != expect '{expected}'"
        )),
        _ => {
            let (target, store_name, size) = (node.clone(), storage.to_owned(), received.size);
            let sha256 = received.sha256;
            let bytes = received.bytes.map(std::sync::Arc::new);
            effect(move |state| {
                let ctime = state.now();
                let store = state
                    .node_mut(&target)
                    .and_then(|n| n.storages.get_mut(&store_name))
                    .ok_or_else(|| format!("storage '{store_name}' does not exist"))?;
                store.isos.insert(
                    file_name,
                    IsoFile {
                        size,
                        ctime,
                        sha256,
                        bytes,
                    },
                );
                Ok(())
            })
        }
    };
    let upid = state.start_task(ctx.shared, &node, "imgcopy", "", ctx.caller, outcome);
    Ok(json!(upid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_normalized() {
        assert_eq!(
            normalize_file_name("C:\\isos\\win 11 (x64).ISO"),
            "win_11__x64_.ISO"
        );
        assert_eq!(normalize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(
            normalize_file_name("provision-101.iso"),
            "provision-101.iso"
        );
    }

    #[test]
    fn image_owners() {
        assert_eq!(volume_owner("vm-101-disk-0"), Some(101));
        assert_eq!(volume_owner("base-100-disk-0/vm-102-disk-1"), Some(102));
        assert_eq!(volume_owner("base-100-disk-0"), Some(100));
        assert_eq!(volume_owner("iso/x.iso"), None);
    }
}
