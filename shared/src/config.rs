//! Typed configuration, read once at start from the environment.
//!
//! Every variable, its default and its meaning is listed in [`VARIABLES`]; the README's
//! configuration table is checked against that list by a test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::secret::Secret;
use crate::tokens::{Key, KeyRing};
use crate::upstream::HealthPolicy;

/// Each variable the tiers read, with its default and meaning, in one place.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "MATCHLOG_ENV",
        "local",
        "`local` or `production`; production refuses to start without keys",
    ),
    ("MATCHLOG_WEB_ADDR", "127.0.0.1:8080", "where `web` listens"),
    ("MATCHLOG_APP_ADDR", "127.0.0.1:8081", "where `app` listens"),
    (
        "MATCHLOG_CRUD_ADDR",
        "127.0.0.1:8082",
        "where `crud` listens",
    ),
    (
        "MATCHLOG_GATEWAY_ADDR",
        "127.0.0.1:8083",
        "where the failover gateway listens",
    ),
    (
        "MATCHLOG_APP_URL",
        "http:// + MATCHLOG_APP_ADDR",
        "where `web` finds `app`",
    ),
    (
        "MATCHLOG_CRUD_URL",
        "http:// + MATCHLOG_CRUD_ADDR",
        "where `web` and `app` find `crud`",
    ),
    (
        "MATCHLOG_GATEWAY_URL",
        "http:// + MATCHLOG_GATEWAY_ADDR",
        "where `web` finds the gateway",
    ),
    (
        "MATCHLOG_DATA_DIR",
        "./data",
        "where the embedded stores and local keys live",
    ),
    (
        "MATCHLOG_CREDENTIALS_DB",
        "sqlite file in the data dir",
        "or a `postgres://` URL",
    ),
    (
        "MATCHLOG_RESULTS_DB",
        "sqlite file in the data dir",
        "or `dynamodb` (standard AWS settings)",
    ),
    (
        "MATCHLOG_DYNAMODB_TABLE_PREFIX",
        "matchlog-",
        "table name = prefix + game slug",
    ),
    (
        "MATCHLOG_SESSION_KEY",
        "generated into the data dir locally",
        "base64, 32 bytes or more; signs session cookies",
    ),
    (
        "MATCHLOG_SESSION_KEY_PREVIOUS",
        "none",
        "the key before a rotation; still verifies",
    ),
    (
        "MATCHLOG_INTERNAL_KEY",
        "generated into the data dir locally",
        "base64, 32 bytes or more; signs credentials between tiers",
    ),
    (
        "MATCHLOG_INTERNAL_KEY_PREVIOUS",
        "none",
        "the key before a rotation; still verifies",
    ),
    (
        "MATCHLOG_BCRYPT_COST",
        "12",
        "bcrypt work factor, 4 to 31; lower only in tests",
    ),
    (
        "MATCHLOG_HASH_CONCURRENCY",
        "number of cores",
        "password hashes computed at once",
    ),
    (
        "MATCHLOG_DB_POOL_SIZE",
        "10",
        "most connections a tier opens to its store",
    ),
    (
        "MATCHLOG_DB_ACQUIRE_TIMEOUT_MS",
        "2000",
        "wait for a pooled connection before answering 503",
    ),
    (
        "MATCHLOG_UPSTREAM_TIMEOUT_MS",
        "5000",
        "total time `web` gives one call to another tier",
    ),
    (
        "MATCHLOG_HEALTH_INTERVAL_MS",
        "1000",
        "how often `web` probes each upstream's readiness",
    ),
    (
        "MATCHLOG_HEALTH_TIMEOUT_MS",
        "1000",
        "how long a readiness probe may take",
    ),
    (
        "MATCHLOG_HEALTH_LEAVE_AFTER",
        "2",
        "failed probes in a row that take an upstream out of use",
    ),
    (
        "MATCHLOG_HEALTH_RETURN_AFTER",
        "3",
        "good probes in a row that bring it back",
    ),
    (
        "MATCHLOG_SESSION_TTL_SECONDS",
        "86400",
        "how long a session lives after sign-in, enforced by `app`",
    ),
    (
        "MATCHLOG_SIGNIN_ACCOUNT_BURST",
        "10",
        "password attempts per account before `app` answers 429; one more every 30 s",
    ),
    (
        "MATCHLOG_SIGNIN_CLIENT_BURST",
        "50",
        "sign-in attempts per client address before `app` answers 429; one more every 2 s",
    ),
    (
        "MATCHLOG_TRUST_FORWARDED_FOR",
        "false",
        "`web` takes the client address from the last X-Forwarded-For hop (behind a balancer)",
    ),
    (
        "MATCHLOG_SECURE_COOKIES",
        "false",
        "mark cookies Secure (set when served over HTTPS)",
    ),
    ("MATCHLOG_LOG_FORMAT", "text", "`text` or `json`"),
    ("RUST_LOG", "info", "log filter"),
];

/// Everything a tier needs to know about its surroundings.
#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub web_addr: SocketAddr,
    pub app_addr: SocketAddr,
    pub crud_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    pub app_url: String,
    pub crud_url: String,
    pub gateway_url: String,
    pub data_dir: PathBuf,
    pub credentials_db: Secret<String>,
    pub results_db: ResultsDb,
    pub table_prefix: String,
    pub session_keys: KeyRing,
    pub internal_keys: KeyRing,
    pub bcrypt_cost: u32,
    pub hash_concurrency: usize,
    pub db_pool_size: u32,
    pub db_acquire_timeout: Duration,
    pub upstream_timeout: Duration,
    pub health: HealthPolicy,
    pub secure_cookies: bool,
    /// Seconds a session lives after sign-in.
    pub session_ttl_seconds: i64,
    /// Password attempts allowed at once per account and per client address.
    pub signin_account_burst: u32,
    pub signin_client_burst: u32,
    /// Whether `web` sits behind a balancer that appends the client to X-Forwarded-For.
    pub trust_forwarded_for: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Local,
    Production,
}

/// Where results live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultsDb {
    /// A `sqlite:` URL.
    Sqlite(String),
    /// DynamoDB through the standard AWS settings.
    DynamoDb,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{name} must be set when MATCHLOG_ENV=production")]
    Missing { name: &'static str },
    #[error("could not prepare the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let environment = match env.get("MATCHLOG_ENV").as_deref() {
            None | Some("local") => Environment::Local,
            Some("production") => Environment::Production,
            Some(other) => return Err(invalid("MATCHLOG_ENV", format!("unknown value {other:?}"))),
        };
        let web_addr = env.addr("MATCHLOG_WEB_ADDR", "127.0.0.1:8080")?;
        let app_addr = env.addr("MATCHLOG_APP_ADDR", "127.0.0.1:8081")?;
        let crud_addr = env.addr("MATCHLOG_CRUD_ADDR", "127.0.0.1:8082")?;
        let gateway_addr = env.addr("MATCHLOG_GATEWAY_ADDR", "127.0.0.1:8083")?;
        let data_dir = PathBuf::from(
            env.get("MATCHLOG_DATA_DIR")
                .unwrap_or_else(|| "./data".into()),
        );
        let credentials_db = env
            .get("MATCHLOG_CREDENTIALS_DB")
            .unwrap_or_else(|| sqlite_url(&data_dir, "credentials.db"));
        let results_db = match env.get("MATCHLOG_RESULTS_DB") {
            None => ResultsDb::Sqlite(sqlite_url(&data_dir, "results.db")),
            Some(value) if value == "dynamodb" => ResultsDb::DynamoDb,
            Some(value) if value.starts_with("sqlite:") => ResultsDb::Sqlite(value),
            Some(_) => {
                return Err(invalid(
                    "MATCHLOG_RESULTS_DB",
                    "expected `dynamodb` or a sqlite: URL".into(),
                ));
            }
        };
        if !(credentials_db.starts_with("sqlite:")
            || credentials_db.starts_with("postgres://")
            || credentials_db.starts_with("postgresql://"))
        {
            return Err(invalid(
                "MATCHLOG_CREDENTIALS_DB",
                "expected a sqlite: or postgres:// URL".into(),
            ));
        }
        let bcrypt_cost = env.number("MATCHLOG_BCRYPT_COST", 12)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(invalid(
                "MATCHLOG_BCRYPT_COST",
                "must be between 4 and 31".into(),
            ));
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());

        Ok(Self {
            environment,
            web_addr,
            app_addr,
            crud_addr,
            gateway_addr,
            app_url: env.url("MATCHLOG_APP_URL", app_addr),
            crud_url: env.url("MATCHLOG_CRUD_URL", crud_addr),
            gateway_url: env.url("MATCHLOG_GATEWAY_URL", gateway_addr),
            session_keys: env.keys(
                "MATCHLOG_SESSION_KEY",
                environment,
                &data_dir,
                "session.key",
            )?,
            internal_keys: env.keys(
                "MATCHLOG_INTERNAL_KEY",
                environment,
                &data_dir,
                "internal.key",
            )?,
            credentials_db: Secret::new(credentials_db),
            results_db,
            table_prefix: env
                .get("MATCHLOG_DYNAMODB_TABLE_PREFIX")
                .unwrap_or_else(|| "matchlog-".into()),
            bcrypt_cost,
            hash_concurrency: env
                .number("MATCHLOG_HASH_CONCURRENCY", cores as u32)?
                .max(1) as usize,
            db_pool_size: env.number("MATCHLOG_DB_POOL_SIZE", 10)?.max(1),
            db_acquire_timeout: Duration::from_millis(
                env.number("MATCHLOG_DB_ACQUIRE_TIMEOUT_MS", 2000)?.into(),
            ),
            upstream_timeout: Duration::from_millis(
                env.number("MATCHLOG_UPSTREAM_TIMEOUT_MS", 5000)?.into(),
            ),
            health: HealthPolicy {
                probe_interval: env.millis("MATCHLOG_HEALTH_INTERVAL_MS", 1000)?,
                probe_timeout: env.millis("MATCHLOG_HEALTH_TIMEOUT_MS", 1000)?,
                leave_after: env.number("MATCHLOG_HEALTH_LEAVE_AFTER", 2)?.max(1),
                return_after: env.number("MATCHLOG_HEALTH_RETURN_AFTER", 3)?.max(1),
            },
            secure_cookies: env.flag("MATCHLOG_SECURE_COOKIES")?,
            session_ttl_seconds: env
                .number("MATCHLOG_SESSION_TTL_SECONDS", 86_400)?
                .max(1)
                .into(),
            signin_account_burst: env.number("MATCHLOG_SIGNIN_ACCOUNT_BURST", 10)?.max(1),
            signin_client_burst: env.number("MATCHLOG_SIGNIN_CLIENT_BURST", 50)?.max(1),
            trust_forwarded_for: env.flag("MATCHLOG_TRUST_FORWARDED_FOR")?,
            data_dir,
        })
    }

    /// Creates the data directory when an embedded store or a local key needs it.
    pub fn ensure_data_dir(&self) -> Result<(), ConfigError> {
        ensure_dir(&self.data_dir)
    }
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }

    fn addr(&self, name: &'static str, default: &str) -> Result<SocketAddr, ConfigError> {
        let value = self.get(name).unwrap_or_else(|| default.to_string());
        value
            .parse()
            .map_err(|_| invalid(name, format!("{value:?} is not an ip:port address")))
    }

    fn url(&self, name: &str, addr: SocketAddr) -> String {
        let url = self.get(name).unwrap_or_else(|| format!("http://{addr}"));
        url.trim_end_matches('/').to_string()
    }

    fn number(&self, name: &'static str, default: u32) -> Result<u32, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value
                .trim()
                .parse()
                .map_err(|_| invalid(name, format!("{value:?} is not a whole number"))),
        }
    }

    fn millis(&self, name: &'static str, default: u32) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(
            self.number(name, default)?.max(1).into(),
        ))
    }

    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(invalid(name, format!("{other:?} is not true or false"))),
        }
    }

    /// The current key from `name`, the previous one from `name_PREVIOUS`; locally a missing
    /// current key is generated once into the data dir so that restarts keep sessions.
    fn keys(
        &self,
        name: &'static str,
        environment: Environment,
        data_dir: &Path,
        file: &str,
    ) -> Result<KeyRing, ConfigError> {
        let current = match self.get(name) {
            Some(value) => decode_key(name, &value)?,
            None if environment == Environment::Production => {
                return Err(ConfigError::Missing { name });
            }
            None => local_key(data_dir, file)?,
        };
        let previous_name = match name {
            "MATCHLOG_SESSION_KEY" => "MATCHLOG_SESSION_KEY_PREVIOUS",
            _ => "MATCHLOG_INTERNAL_KEY_PREVIOUS",
        };
        let previous = self
            .get(previous_name)
            .map(|value| decode_key(previous_name, &value))
            .transpose()?;
        Ok(KeyRing::new(current, previous))
    }
}

fn invalid(name: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { name, reason }
}

fn sqlite_url(data_dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join(file).display())
}

fn ensure_dir(path: &Path) -> Result<(), ConfigError> {
    std::fs::create_dir_all(path).map_err(|source| ConfigError::DataDir {
        path: path.to_path_buf(),
        source,
    })
}

/// Accepts standard or URL-safe base64 of at least 32 bytes.
fn decode_key(name: &'static str, value: &str) -> Result<Key, ConfigError> {
    let value = value.trim();
    let bytes = STANDARD
        .decode(value)
        .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')))
        .map_err(|_| invalid(name, "is not base64".into()))?;
    Key::from_bytes(bytes).ok_or_else(|| invalid(name, "must decode to at least 32 bytes".into()))
}

/// Reads `data_dir/keys/file`, creating it with a fresh random key on first use.
fn local_key(data_dir: &Path, file: &str) -> Result<Key, ConfigError> {
    let dir = data_dir.join("keys");
    ensure_dir(&dir)?;
    let path = dir.join(file);
    let io_error = |source| ConfigError::DataDir {
        path: path.clone(),
        source,
    };
    let created = write_new_key(&path);
    match created {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(io_error(err)),
    }
    // Another process may have created the file a moment ago; wait until it has content.
    for _ in 0..50 {
        let text = std::fs::read_to_string(&path).map_err(io_error)?;
        if !text.trim().is_empty() {
            return decode_key("local key file", &text);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(invalid(
        "local key file",
        format!("{} is empty", path.display()),
    ))
}

fn write_new_key(path: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(STANDARD.encode(Key::generate().bytes()).as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn defaults_suit_a_local_run() {
        let dir = std::env::temp_dir().join(format!("matchlog-config-{}", uuid::Uuid::new_v4()));
        let config = config_from(&[("MATCHLOG_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        assert_eq!(config.web_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.gateway_url, "http://127.0.0.1:8083");
        assert_eq!(config.bcrypt_cost, 12);
        assert!(config.credentials_db.expose().starts_with("sqlite://"));
        assert!(dir.join("keys/session.key").exists());
        let again = config_from(&[("MATCHLOG_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        assert_eq!(
            config.session_keys, again.session_keys,
            "a restart keeps the generated key"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn production_refuses_to_start_without_keys() {
        let err = config_from(&[
            ("MATCHLOG_ENV", "production"),
            ("MATCHLOG_INTERNAL_KEY", KEY),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("MATCHLOG_SESSION_KEY"), "{err}");
        let ok = config_from(&[
            ("MATCHLOG_ENV", "production"),
            ("MATCHLOG_INTERNAL_KEY", KEY),
            ("MATCHLOG_SESSION_KEY", KEY),
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            ("MATCHLOG_WEB_ADDR", "localhost"),
            ("MATCHLOG_BCRYPT_COST", "2"),
            ("MATCHLOG_BCRYPT_COST", "twelve"),
            ("MATCHLOG_RESULTS_DB", "mysql://x"),
            ("MATCHLOG_SESSION_KEY", "c2hvcnQ="),
            ("MATCHLOG_ENV", "staging"),
        ];
        for (name, value) in cases {
            let err = config_from(&[
                ("MATCHLOG_INTERNAL_KEY", KEY),
                ("MATCHLOG_SESSION_KEY", KEY),
                (name, value),
            ])
            .err()
            .unwrap_or_else(|| panic!("{name}={value} was accepted"));
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn the_readme_lists_every_variable() {
        let readme = include_str!("../../README.md");
        for (name, _, _) in VARIABLES {
            assert!(
                readme.contains(&format!("| `{name}` |")),
                "README.md lacks {name}"
            );
        }
    }

    #[test]
    fn every_variable_read_is_documented() {
        let source = include_str!("config.rs");
        let documented: Vec<&str> = VARIABLES.iter().map(|(name, _, _)| *name).collect();
        for name in source
            .split('"')
            .filter(|s| s.len() > 9 && s.starts_with("MATCHLOG_") && !s.contains(' '))
        {
            assert!(
                documented.contains(&name),
                "{name} is read but not in VARIABLES"
            );
        }
    }
}
