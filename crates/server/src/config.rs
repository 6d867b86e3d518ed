//! Server configuration: one typed struct, filled from flags, environment variables and an
//! optional TOML file, in that order of precedence, then from built-in defaults.
//!
//! Every option has the same name in all three places: `--public-url` is
//! `BOTMOX_PUBLIC_URL` in the environment and `public_url` in the TOML file.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Deserialize;
use url::Url;

/// Log output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Options shared by every subcommand that touches the data (serve, migrate, user).
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// TOML file with any of these options (keys are the option names in snake_case).
    #[arg(long, env = "BOTMOX_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Folder for the SQLite database, blobs and the generated secret key [default: ./data].
    #[arg(long, env = "BOTMOX_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Database: `sqlite://PATH` or `postgres://USER@HOST/DB` [default: sqlite in the data dir].
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Largest number of pooled database connections [default: 16].
    #[arg(long, env = "BOTMOX_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,

    /// Log style: text or json [default: text].
    #[arg(long, env = "BOTMOX_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BOTMOX_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// URL under which users and agents reach this server; used in links it prints or sends
    /// [default: http://<listen>].
    #[arg(long, env = "BOTMOX_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// Key that signs access tokens and CSRF tokens (at least 32 characters). Give every
    /// replica the same one. [default: generated once into <data-dir>/secret.key]
    #[arg(long, env = "BOTMOX_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Browser origins allowed to call the API cross-origin, comma separated [default: none].
    #[arg(long, env = "BOTMOX_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,

    /// Proxy addresses whose X-Forwarded-For header is believed, comma separated [default: none].
    #[arg(long, env = "BOTMOX_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<IpAddr>>,

    /// Lifetime of an access token in seconds [default: 900].
    #[arg(long, env = "BOTMOX_ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<u64>,

    /// Lifetime of a refresh token family (an API session) in seconds [default: 2592000].
    #[arg(long, env = "BOTMOX_REFRESH_TOKEN_TTL")]
    pub refresh_token_ttl: Option<u64>,

    /// Lifetime of a web UI session in seconds [default: 43200].
    #[arg(long, env = "BOTMOX_UI_SESSION_TTL")]
    pub ui_session_ttl: Option<u64>,

    /// Lifetime of the first-run setup link in seconds [default: 3600].
    #[arg(long, env = "BOTMOX_SETUP_LINK_TTL")]
    pub setup_link_ttl: Option<u64>,

    /// Log one line per request (method, path, status, duration, request id) at `info`
    /// [default: false; errors are logged either way, with their request id].
    #[arg(long, env = "BOTMOX_ACCESS_LOG", num_args = 0..=1, default_missing_value = "true")]
    pub access_log: Option<bool>,

    /// Largest accepted request body in bytes [default: 102400].
    #[arg(long, env = "BOTMOX_BODY_LIMIT")]
    pub body_limit: Option<usize>,

    /// Requests per minute one client address may make to the API [default: 1200].
    #[arg(long, env = "BOTMOX_RATE_LIMIT_PER_ADDRESS")]
    pub rate_limit_per_address: Option<u32>,

    /// Requests per minute one authenticated principal may make [default: 1200].
    #[arg(long, env = "BOTMOX_RATE_LIMIT_PER_PRINCIPAL")]
    pub rate_limit_per_principal: Option<u32>,

    /// Requests per minute one client address may make to public endpoints (login, refresh,
    /// health, setup) [default: 60].
    #[arg(long, env = "BOTMOX_RATE_LIMIT_PUBLIC")]
    pub rate_limit_public: Option<u32>,

    /// Sign-in attempts per minute for one account from one client address; one address
    /// gets 4 times this over all accounts, one account 10 times this over all addresses
    /// [default: 5].
    #[arg(long, env = "BOTMOX_LOGIN_ATTEMPTS_PER_ACCOUNT")]
    pub login_attempts_per_account: Option<u32>,

    /// Accept HS256 JWTs signed with this secret from an external identity provider.
    #[arg(long, env = "BOTMOX_EXTERNAL_JWT_HS256_SECRET", hide_env_values = true)]
    pub external_jwt_hs256_secret: Option<String>,

    /// Accept RS256 JWTs verified by these PEM public key files, comma separated.
    #[arg(long, env = "BOTMOX_EXTERNAL_JWT_RS256_KEYS", value_delimiter = ',')]
    pub external_jwt_rs256_keys: Option<Vec<PathBuf>>,

    /// Required `iss` of external JWTs (not checked when unset).
    #[arg(long, env = "BOTMOX_EXTERNAL_JWT_ISSUER")]
    pub external_jwt_issuer: Option<String>,

    /// Required `aud` of external JWTs [default: authenticated].
    #[arg(long, env = "BOTMOX_EXTERNAL_JWT_AUDIENCE")]
    pub external_jwt_audience: Option<String>,

    /// Let agents pair with an account's e-mail and password (`POST /agents/quick-pair`),
    /// throttled like sign-in [default: false; pairing codes are the safer way].
    #[arg(long, env = "BOTMOX_AGENT_QUICK_PAIR", num_args = 0..=1, default_missing_value = "true")]
    pub agent_quick_pair: Option<bool>,

    /// Blob store for artifacts: `file://PATH` (a local directory) or `s3://BUCKET` (any
    /// S3-compatible store, set up by the `s3_*` options) [default: file://<data-dir>/blobs].
    #[arg(long, env = "BOTMOX_BLOB_STORE", global = true)]
    pub blob_store: Option<String>,

    /// S3 endpoint URL, for stores other than AWS (MinIO, Garage, ...) [default: AWS's].
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    pub s3_endpoint: Option<String>,

    /// S3 endpoint URL that download links (presigned GETs) name, when clients reach the store
    /// at another address than this server does (e.g. through a TLS proxy) [default: the
    /// endpoint].
    #[arg(long, env = "BOTMOX_S3_PUBLIC_ENDPOINT", global = true)]
    pub s3_public_endpoint: Option<String>,

    /// S3 region [default: us-east-1].
    #[arg(long, env = "AWS_REGION", global = true)]
    pub s3_region: Option<String>,

    /// S3 access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", global = true, hide_env_values = true)]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        global = true,
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,

    /// Address buckets by path (`ENDPOINT/BUCKET/KEY`, MinIO-style) instead of by host name
    /// (`BUCKET.ENDPOINT/KEY`) [default: false].
    #[arg(long, env = "BOTMOX_S3_PATH_STYLE", global = true, num_args = 0..=1, default_missing_value = "true")]
    pub s3_path_style: Option<bool>,

    /// Largest artifact file an upload may send, in bytes [default: 2147483648 (2 GiB)].
    #[arg(long, env = "BOTMOX_ARTIFACT_UPLOAD_LIMIT")]
    pub artifact_upload_limit: Option<u64>,

    /// Lifetime of an artifact download URL in seconds, 1 to 604800 [default: 300].
    #[arg(long, env = "BOTMOX_DOWNLOAD_URL_TTL")]
    pub download_url_ttl: Option<u64>,

    /// Lifetime of an execution lease in seconds; each heartbeat extends it by this much
    /// again [default: 300, at least 60].
    #[arg(long, env = "BOTMOX_LEASE_TTL")]
    pub lease_ttl: Option<u64>,

    /// Longest a lease can be kept alive by heartbeats, in seconds; then the runner asks for
    /// a new one [default: 86400].
    #[arg(long, env = "BOTMOX_LEASE_MAX_LIFETIME")]
    pub lease_max_lifetime: Option<u64>,

    /// Id (`kid`) of the key that signs new lease tokens; change it to rotate the key
    /// [default: lease-1].
    #[arg(long, env = "BOTMOX_LEASE_KEY_ID")]
    pub lease_key_id: Option<String>,

    /// Key ids whose lease tokens are refused from now on, comma separated [default: none].
    #[arg(long, env = "BOTMOX_LEASE_RETIRED_KEY_IDS", value_delimiter = ',')]
    pub lease_retired_key_ids: Option<Vec<String>>,

    /// Lifetime of a provisioning token in seconds, from its issue to the VM's last report
    /// [default: 2592000 (30 days), at least 60].
    #[arg(long, env = "BOTMOX_PROVISION_TOKEN_TTL")]
    pub provision_token_ttl: Option<u64>,
    /// VM pipeline jobs this replica runs at once in their Proxmox steps, 0 to 256; 0: this
    /// replica runs none (others do) [default: 16].
    #[arg(long, env = "BOTMOX_VM_JOB_WORKERS")]
    pub vm_job_workers: Option<u32>,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub db_max_connections: u32,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    pub public_url: Url,
    pub secret_key: Option<String>,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpAddr>,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
    pub ui_session_ttl: u64,
    pub setup_link_ttl: u64,
    pub body_limit: usize,
    pub rate_limit_per_address: u32,
    pub rate_limit_per_principal: u32,
    pub rate_limit_public: u32,
    pub login_attempts_per_account: u32,
    pub external_jwt: Option<ExternalJwtConfig>,
    pub agent_quick_pair: bool,
    pub access_log: bool,
    pub blob_store: BlobConfig,
    pub artifact_upload_limit: u64,
    pub download_url_ttl: u64,
    pub lease: LeaseConfig,
    /// Whether `public_url` was configured (not derived from `listen`): provisioned VMs
    /// reach the server only through a configured one.
    pub public_url_configured: bool,
    pub provision_token_ttl: u64,
    /// VM pipeline jobs this replica runs at once (0: none).
    pub vm_job_workers: usize,
}

/// How execution leases are signed and how long they live.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub ttl_secs: u64,
    pub max_lifetime_secs: u64,
    pub key_id: String,
    pub retired_key_ids: Vec<String>,
}

/// Where blobs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobConfig {
    /// A local directory.
    Local(PathBuf),
    /// An S3-compatible store.
    S3(S3Config),
}

/// An S3-compatible store: the bucket, and what the `s3_*` options say (unset ones are left
/// to the defaults of AWS).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    pub endpoint: Option<String>,
    /// The endpoint presigned URLs name, when it differs from `endpoint`.
    pub public_endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub path_style: bool,
}

impl S3Config {
    /// The endpoint clients outside the server use (download links, `provision.json`).
    pub fn public_endpoint(&self) -> Option<&str> {
        self.public_endpoint.as_deref().or(self.endpoint.as_deref())
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("public_endpoint", &self.public_endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

/// Acceptance of JWTs issued by another identity provider (off unless a key is configured).
#[derive(Debug, Clone)]
pub struct ExternalJwtConfig {
    pub hs256_secret: Option<String>,
    pub rs256_key_files: Vec<PathBuf>,
    pub issuer: Option<String>,
    pub audience: String,
}

/// A configuration that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid option {option}: {reason}")]
    Invalid {
        option: &'static str,
        reason: String,
    },
}

macro_rules! prefer_first {
    ($a:ident, $b:ident; $($field:ident),* $(,)?) => {
        Settings { config: $a.config, $($field: $a.$field.or($b.$field)),* }
    };
}

impl Settings {
    /// Combine flags/environment (`self`) with the TOML file they name, flags winning.
    pub fn with_file(self) -> Result<Settings, ConfigError> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let file = Settings::from_toml_file(&path)?;
        Ok(prefer_first!(self, file;
            data_dir, database_url, db_max_connections, log_format, listen, public_url,
            secret_key, cors_origins, trusted_proxies, access_token_ttl, refresh_token_ttl,
            ui_session_ttl, setup_link_ttl, access_log, body_limit, rate_limit_per_address,
            rate_limit_per_principal, rate_limit_public, login_attempts_per_account,
            external_jwt_hs256_secret, external_jwt_rs256_keys, external_jwt_issuer,
            external_jwt_audience, agent_quick_pair, blob_store, s3_endpoint, s3_public_endpoint,
            s3_region,
            s3_access_key_id, s3_secret_access_key, s3_path_style, artifact_upload_limit,
            download_url_ttl,
            lease_ttl, lease_max_lifetime, lease_key_id, lease_retired_key_ids,
            provision_token_ttl,
            vm_job_workers,
        ))
    }

    fn from_toml_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Apply the defaults and check the values.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let settings = self.with_file()?;
        let data_dir = settings
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("data"));
        let blob_store = blob_config(&settings, &data_dir)?;
        let database_url = settings
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("botmox.db").display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                option: "database_url",
                reason: "must start with sqlite:// or postgres://".into(),
            });
        }
        // The server opens the file from several connections (see `db::sqlite_direct`).
        if database_url.starts_with("sqlite:")
            && (database_url.contains(":memory:") || database_url.contains("mode=memory"))
        {
            return Err(ConfigError::Invalid {
                option: "database_url",
                reason: "an in-memory SQLite database is not supported; give a file".into(),
            });
        }
        let listen = settings
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public_url_configured = settings.public_url.is_some();
        let public_url = match settings.public_url {
            Some(url) => url,
            None => Url::parse(&format!("http://{listen}")).map_err(|e| ConfigError::Invalid {
                option: "public_url",
                reason: e.to_string(),
            })?,
        };
        if let Some(key) = &settings.secret_key
            && key.len() < 32
        {
            return Err(ConfigError::Invalid {
                option: "secret_key",
                reason: "must be at least 32 characters".into(),
            });
        }
        let external_jwt = if settings.external_jwt_hs256_secret.is_some()
            || settings
                .external_jwt_rs256_keys
                .as_ref()
                .is_some_and(|k| !k.is_empty())
        {
            Some(ExternalJwtConfig {
                hs256_secret: settings.external_jwt_hs256_secret,
                rs256_key_files: settings.external_jwt_rs256_keys.unwrap_or_default(),
                issuer: settings.external_jwt_issuer,
                audience: settings
                    .external_jwt_audience
                    .unwrap_or_else(|| "authenticated".into()),
            })
        } else {
            None
        };
        let positive = |option: &'static str, value: u64| {
            if value == 0 {
                Err(ConfigError::Invalid {
                    option,
                    reason: "must be greater than 0".into(),
                })
            } else {
                Ok(value)
            }
        };
        let download_url_ttl = settings.download_url_ttl.unwrap_or(300);
        if !(1..=604_800).contains(&download_url_ttl) {
            return Err(ConfigError::Invalid {
                option: "download_url_ttl",
                reason: "must be between 1 and 604800 seconds".into(),
            });
        }
        let provision_token_ttl = settings.provision_token_ttl.unwrap_or(30 * 86_400);
        if provision_token_ttl < 60 {
            return Err(ConfigError::Invalid {
                option: "provision_token_ttl",
                reason: "must be at least 60 seconds".into(),
            });
        }
        let vm_job_workers = settings.vm_job_workers.unwrap_or(16);
        if vm_job_workers > 256 {
            return Err(ConfigError::Invalid {
                option: "vm_job_workers",
                reason: "must be between 0 and 256".into(),
            });
        }
        Ok(Config {
            public_url_configured,
            provision_token_ttl,
            vm_job_workers: vm_job_workers as usize,
            blob_store,
            download_url_ttl,
            artifact_upload_limit: positive(
                "artifact_upload_limit",
                settings.artifact_upload_limit.unwrap_or(2 << 30),
            )?,
            data_dir,
            database_url,
            db_max_connections: positive(
                "db_max_connections",
                settings.db_max_connections.unwrap_or(16).into(),
            )? as u32,
            log_format: settings.log_format.unwrap_or_default(),
            listen,
            public_url,
            secret_key: settings.secret_key,
            cors_origins: settings.cors_origins.unwrap_or_default(),
            trusted_proxies: settings.trusted_proxies.unwrap_or_default(),
            access_token_ttl: positive(
                "access_token_ttl",
                settings.access_token_ttl.unwrap_or(900),
            )?,
            refresh_token_ttl: positive(
                "refresh_token_ttl",
                settings.refresh_token_ttl.unwrap_or(30 * 86_400),
            )?,
            ui_session_ttl: positive(
                "ui_session_ttl",
                settings.ui_session_ttl.unwrap_or(12 * 3600),
            )?,
            setup_link_ttl: positive("setup_link_ttl", settings.setup_link_ttl.unwrap_or(3600))?,
            body_limit: positive(
                "body_limit",
                settings.body_limit.unwrap_or(100 * 1024) as u64,
            )? as usize,
            rate_limit_per_address: positive(
                "rate_limit_per_address",
                settings.rate_limit_per_address.unwrap_or(1200).into(),
            )? as u32,
            rate_limit_per_principal: positive(
                "rate_limit_per_principal",
                settings.rate_limit_per_principal.unwrap_or(1200).into(),
            )? as u32,
            rate_limit_public: positive(
                "rate_limit_public",
                settings.rate_limit_public.unwrap_or(60).into(),
            )? as u32,
            login_attempts_per_account: positive(
                "login_attempts_per_account",
                settings.login_attempts_per_account.unwrap_or(5).into(),
            )? as u32,
            external_jwt,
            agent_quick_pair: settings.agent_quick_pair.unwrap_or(false),
            access_log: settings.access_log.unwrap_or(false),
            lease: lease_config(
                settings.lease_ttl,
                settings.lease_max_lifetime,
                settings.lease_key_id,
                settings.lease_retired_key_ids,
            )?,
        })
    }
}

/// The blob store `blob_store` names, with the `s3_*` options for S3.
fn blob_config(settings: &Settings, data_dir: &Path) -> Result<BlobConfig, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        option: "blob_store",
        reason: reason.into(),
    };
    let Some(spec) = settings.blob_store.as_deref().map(str::trim) else {
        return Ok(BlobConfig::Local(data_dir.join("blobs")));
    };
    if let Some(path) = spec.strip_prefix("file://") {
        if path.is_empty() {
            return Err(invalid("file:// needs a directory"));
        }
        return Ok(BlobConfig::Local(PathBuf::from(path)));
    }
    let Some(bucket) = spec.strip_prefix("s3://") else {
        return Err(invalid("must be file://PATH or s3://BUCKET"));
    };
    let bucket = bucket.trim_end_matches('/');
    if bucket.is_empty() || bucket.contains('/') {
        return Err(invalid("s3:// needs a bucket name (and nothing after it)"));
    }
    for (option, endpoint) in [
        ("s3_endpoint", &settings.s3_endpoint),
        ("s3_public_endpoint", &settings.s3_public_endpoint),
    ] {
        if let Some(endpoint) = endpoint
            && !Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(ConfigError::Invalid {
                option,
                reason: "must be an http:// or https:// URL".into(),
            });
        }
    }
    Ok(BlobConfig::S3(S3Config {
        bucket: bucket.to_owned(),
        endpoint: settings.s3_endpoint.clone(),
        public_endpoint: settings.s3_public_endpoint.clone(),
        region: settings.s3_region.clone(),
        access_key_id: settings.s3_access_key_id.clone(),
        secret_access_key: settings.s3_secret_access_key.clone(),
        path_style: settings.s3_path_style.unwrap_or(false),
    }))
}

fn lease_config(
    ttl: Option<u64>,
    max_lifetime: Option<u64>,
    key_id: Option<String>,
    retired: Option<Vec<String>>,
) -> Result<LeaseConfig, ConfigError> {
    let invalid = |option, reason: &str| ConfigError::Invalid {
        option,
        reason: reason.into(),
    };
    let ttl_secs = ttl.unwrap_or(300);
    if ttl_secs < 60 {
        return Err(invalid("lease_ttl", "must be at least 60 seconds"));
    }
    let max_lifetime_secs = max_lifetime.unwrap_or(86_400);
    if max_lifetime_secs < ttl_secs {
        return Err(invalid("lease_max_lifetime", "must be at least lease_ttl"));
    }
    let key_id = key_id.unwrap_or_else(|| "lease-1".into());
    let well_formed = |k: &str| {
        (1..=64).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !well_formed(&key_id) {
        return Err(invalid(
            "lease_key_id",
            "must be 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    let retired_key_ids = retired.unwrap_or_default();
    if retired_key_ids.contains(&key_id) {
        return Err(invalid(
            "lease_retired_key_ids",
            "must not hold the current lease_key_id",
        ));
    }
    Ok(LeaseConfig {
        ttl_secs,
        max_lifetime_secs,
        key_id,
        retired_key_ids,
    })
}

impl Config {
    /// Whether cookies must carry the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        let config = Settings::default().resolve().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://data/botmox.db");
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
        assert!(config.external_jwt.is_none());
        assert!(config.cors_origins.is_empty());
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("botmox.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\naccess_token_ttl = 60\nbody_limit = 10\n",
        )
        .unwrap();
        let settings = Settings {
            config: Some(path),
            body_limit: Some(20),
            ..Default::default()
        };
        let config = settings.resolve().unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.access_token_ttl, 60);
        assert_eq!(config.body_limit, 20);
    }

    #[test]
    fn the_blob_store_is_a_directory_or_an_s3_bucket() {
        let config = Settings::default().resolve().unwrap();
        assert_eq!(
            config.blob_store,
            BlobConfig::Local(PathBuf::from("data/blobs"))
        );
        assert_eq!(config.download_url_ttl, 300);
        assert_eq!(config.artifact_upload_limit, 2 * 1024 * 1024 * 1024);
        let with = |spec: &str| {
            Settings {
                blob_store: Some(spec.into()),
                s3_endpoint: Some("http://127.0.0.1:9000".into()),
                s3_path_style: Some(true),
                ..Default::default()
            }
            .resolve()
        };
        assert_eq!(
            with("file:///srv/blobs").unwrap().blob_store,
            BlobConfig::Local(PathBuf::from("/srv/blobs"))
        );
        let BlobConfig::S3(s3) = with("s3://artifacts").unwrap().blob_store else {
            panic!("an S3 store");
        };
        assert_eq!(s3.bucket, "artifacts");
        assert!(s3.path_style);
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        for bad in ["s3://", "s3://a/b", "ftp://x", "file://"] {
            assert!(with(bad).is_err(), "{bad}");
        }
        let public = |endpoint: &str| {
            Settings {
                blob_store: Some("s3://artifacts".into()),
                s3_public_endpoint: Some(endpoint.into()),
                ..Default::default()
            }
            .resolve()
        };
        let BlobConfig::S3(s3) = public("https://s3.example.com").unwrap().blob_store else {
            panic!("an S3 store");
        };
        assert_eq!(
            s3.public_endpoint.as_deref(),
            Some("https://s3.example.com")
        );
        assert!(public("s3.example.com").is_err(), "not a URL");
        let ttl = Settings {
            download_url_ttl: Some(0),
            ..Default::default()
        };
        assert!(ttl.resolve().is_err());
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("botmox.toml");
        std::fs::write(&path, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let err = Settings {
            config: Some(path),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        let err = Settings {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("database_url"));
        let err = Settings {
            database_url: Some("sqlite::memory:".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("in-memory"), "{err}");
        let err = Settings {
            secret_key: Some("short".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("secret_key"));
    }
}
