//! Configuration: the committed `hubaudit.toml`, environment overrides, then CLI flags.
//!
//! Precedence, lowest first: built-in defaults, the TOML file (strict: an unknown key is an
//! error naming it), `HUBAUDIT_*` environment variables, command-line flags (applied by
//! `main.rs`). The file is `--config FILE`, else `$HUBAUDIT_CONFIG`, else `hubaudit.toml` in the
//! working folder, else none: an installed binary needs no file. Secrets never live here: the Hub token is read from the environment by
//! [`hub_token`] only, and is neither logged nor written anywhere.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// Environment variable naming the configuration file (after `--config`, before
/// `./hubaudit.toml`).
pub const CONFIG_ENV: &str = "HUBAUDIT_CONFIG";

/// Environment variable holding a Docker Hub access token (personal access token or JWT).
pub const HUB_TOKEN_ENV: &str = "HUBAUDIT_HUB_TOKEN";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Root folder of the dataset layers (`1_raw`, `2_staged`, `3_marts`, `4_report`).
    pub datasets: PathBuf,
    /// The Docker Hub API client.
    pub hub: HubConfig,
    /// The scan stage.
    pub scan: ScanConfig,
    /// The report stage.
    pub report: ReportConfig,
}

/// Settings of the scan stage.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Trivy binary; unset = `.tools/venv/bin/trivy` (from `just tools`), else `trivy` on PATH.
    pub trivy: Option<PathBuf>,
    /// Trivy cache holding the vulnerability DB; unset = the run downloads the DB once into
    /// `DATASETS/.trivy-cache` and scans every image with it.
    pub cache_dir: Option<PathBuf>,
    /// Scans in parallel; 0 = the number of cores + 1.
    pub parallel: usize,
    /// Seconds before one scan's process group is killed.
    pub timeout_secs: u64,
    /// Extra attempts for transient failures (rate limits, registry or network errors).
    pub retries: u32,
    /// Longest time one image may spend in retries and waits, in seconds.
    pub retry_budget_secs: u64,
    /// First wait before a retry, in milliseconds; doubles per attempt, with jitter.
    pub backoff_base_ms: u64,
    /// Registry of live scans, `HOST[:PORT]`; images are pulled as `HOST/NAMESPACE/NAME@DIGEST`
    /// (plain HTTP for loopback hosts only).
    pub registry: String,
    /// OCI repository of the Trivy DB, `HOST/REPO[:TAG]`, resolved to a digest per run.
    pub db_repository: String,
    /// Memory limit (`GOMEMLIMIT`) of each Trivy client, in MiB.
    pub client_memory_mib: u64,
    /// Tags of each repository: `latest` (the study's choice), `all`, or `N-newest`.
    pub tags: String,
    /// Platform images of each tag: `amd64` (the study's choice) or `all`.
    pub platforms: String,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            trivy: None,
            cache_dir: None,
            parallel: 0,
            timeout_secs: 300,
            retries: 3,
            retry_budget_secs: 300,
            backoff_base_ms: 1000,
            registry: "docker.io".into(),
            db_repository: "mirror.gcr.io/aquasec/trivy-db:2".into(),
            client_memory_mib: 1024,
            tags: "latest".into(),
            platforms: "amd64".into(),
        }
    }
}

/// Settings of the Hub API client (used by `extract-hub`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// Base URL of the Hub API; may carry a path prefix (a replay server's capture date).
    pub url: String,
    /// Namespace whose repositories are listed (`library` = Docker Official Images).
    pub namespace: String,
    /// Page size for list and tag requests (the Hub allows at most 100).
    pub page_size: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Timeout of one HTTP request, in seconds.
    pub timeout_secs: u64,
    /// Attempts per request (first try included) before giving up.
    pub max_attempts: u32,
    /// Longest total time spent on one request, retries and waits included, in seconds.
    pub retry_budget_secs: u64,
    /// First backoff delay in milliseconds; doubles per attempt, with jitter.
    pub backoff_base_ms: u64,
    /// Longest single backoff delay, in seconds.
    pub backoff_max_secs: u64,
}

/// Settings of the report stage.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// A folder overriding the reference facts compiled into hubaudit (the published study's
    /// figures, deprecation dates, EOL dates) file by file; unset: the compiled-in copies.
    pub reference: Option<PathBuf>,
    /// Images with more fixable vulnerabilities than this go to `vulnerable.csv`.
    pub threshold: u32,
    /// Days a pull-count capture may lie before a window date before it is flagged approximate.
    pub tolerance_days: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            datasets: PathBuf::from("datasets"),
            hub: HubConfig::default(),
            scan: ScanConfig::default(),
            report: ReportConfig::default(),
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            url: "https://hub.docker.com".into(),
            namespace: "library".into(),
            page_size: 100,
            concurrency: 4,
            timeout_secs: 30,
            max_attempts: 6,
            retry_budget_secs: 300,
            backoff_base_ms: 500,
            backoff_max_secs: 60,
        }
    }
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            reference: None,
            threshold: 50,
            tolerance_days: 2,
        }
    }
}

impl Config {
    /// Finds the configuration: `path` (`--config`) if given, else `$HUBAUDIT_CONFIG`, else
    /// `hubaudit.toml` in the working folder if it exists, else the defaults (a named file must
    /// exist); then applies the environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let from_env = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty());
        let mut config = match (path, from_env) {
            (Some(p), _) => Config::from_file(p)?,
            (None, Some(p)) => Config::from_file(Path::new(&p)).map_err(|e| match e {
                Error::Io { path, source } => Error::Config {
                    origin: format!("{CONFIG_ENV}={}", path.display()),
                    message: source.to_string(),
                },
                other => other,
            })?,
            (None, None) if Path::new("hubaudit.toml").exists() => {
                Config::from_file(Path::new("hubaudit.toml"))?
            }
            (None, None) => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file strictly.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Config::from_toml(&text, &path.display().to_string())
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| Error::Config {
            origin: origin.to_string(),
            message: e.message().to_string(),
        })
    }

    /// Applies `HUBAUDIT_*` overrides read through `get` (the environment, or a map in tests).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn num<T: std::str::FromStr>(key: &str, value: String) -> Result<T> {
            value.trim().parse().map_err(|_| Error::Config {
                origin: format!("environment variable {key}"),
                message: format!("expected a whole number, got {value:?}"),
            })
        }
        if let Some(v) = get("HUBAUDIT_DATASETS") {
            self.datasets = PathBuf::from(v);
        }
        if let Some(v) = get("HUBAUDIT_HUB_URL") {
            self.hub.url = v;
        }
        if let Some(v) = get("HUBAUDIT_HUB_NAMESPACE") {
            self.hub.namespace = v;
        }
        if let Some(v) = get("HUBAUDIT_HUB_CONCURRENCY") {
            self.hub.concurrency = num("HUBAUDIT_HUB_CONCURRENCY", v)?;
        }
        if let Some(v) = get("HUBAUDIT_HUB_MAX_ATTEMPTS") {
            self.hub.max_attempts = num("HUBAUDIT_HUB_MAX_ATTEMPTS", v)?;
        }
        if let Some(v) = get("HUBAUDIT_HUB_RETRY_BUDGET_SECS") {
            self.hub.retry_budget_secs = num("HUBAUDIT_HUB_RETRY_BUDGET_SECS", v)?;
        }
        Ok(())
    }

    /// Checks value ranges, naming the key and the allowed range.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, message: String| Error::Config {
            origin: format!("key {key}"),
            message,
        };
        let h = &self.hub;
        if !(1..=100).contains(&h.page_size) {
            return Err(bad(
                "hub.page_size",
                format!(
                    "{} is outside 1..=100 (the Hub's maximum is 100)",
                    h.page_size
                ),
            ));
        }
        if h.concurrency == 0 || h.concurrency > 64 {
            return Err(bad(
                "hub.concurrency",
                format!("{} is outside 1..=64", h.concurrency),
            ));
        }
        if h.max_attempts == 0 {
            return Err(bad("hub.max_attempts", "must be at least 1".into()));
        }
        if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
            return Err(bad("hub.url", format!("{:?} is not an http(s) URL", h.url)));
        }
        crate::io::registry::endpoint(&self.scan.registry)
            .map_err(|e| bad("scan.registry", e.to_string()))?;
        if h.namespace.is_empty() || h.namespace.contains('/') {
            return Err(bad(
                "hub.namespace",
                format!("{:?} is not a namespace name", h.namespace),
            ));
        }
        Ok(())
    }
}

/// Environment variables holding the registry credentials of live scans.
pub const REGISTRY_USERNAME_ENV: &str = "HUBAUDIT_REGISTRY_USERNAME";
/// See [`REGISTRY_USERNAME_ENV`].
pub const REGISTRY_PASSWORD_ENV: &str = "HUBAUDIT_REGISTRY_PASSWORD";

/// Registry credentials from the environment: both variables or neither. Never log them.
pub fn registry_credentials(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::io::registry::Credentials>> {
    let value = |k: &str| get(k).filter(|v| !v.is_empty());
    match (value(REGISTRY_USERNAME_ENV), value(REGISTRY_PASSWORD_ENV)) {
        (Some(username), Some(password)) => Ok(Some(crate::io::registry::Credentials {
            username,
            password,
        })),
        (None, None) => Ok(None),
        _ => Err(Error::Config {
            origin: format!(
                "environment variables {REGISTRY_USERNAME_ENV} and {REGISTRY_PASSWORD_ENV}"
            ),
            message: "set both or neither".into(),
        }),
    }
}

/// The Hub token from the environment, if set and not empty. Never log the value.
pub fn hub_token() -> Option<String> {
    std::env::var(HUB_TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_file_parses_and_equals_defaults_where_unset() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/hubaudit.toml")).unwrap();
        let c = Config::from_toml(&text, "hubaudit.toml").unwrap();
        c.validate().unwrap();
        assert_eq!(c.hub.namespace, "library");
        assert_eq!(c.hub.page_size, 100);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Config::from_toml("[hub]\npage_sise = 10\n", "x.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("x.toml") && msg.contains("page_sise"), "{msg}");
    }

    #[test]
    fn env_overrides_file_and_bad_numbers_are_named() {
        let mut c = Config::from_toml("[hub]\nconcurrency = 2\n", "t").unwrap();
        c.apply_env(|k| (k == "HUBAUDIT_HUB_CONCURRENCY").then(|| "7".to_string()))
            .unwrap();
        assert_eq!(c.hub.concurrency, 7);
        let err = c
            .apply_env(|k| (k == "HUBAUDIT_HUB_CONCURRENCY").then(|| "many".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("HUBAUDIT_HUB_CONCURRENCY"));
    }

    #[test]
    fn registry_credentials_come_in_pairs() {
        let env = |u: Option<&str>, p: Option<&str>| {
            let (u, p) = (u.map(String::from), p.map(String::from));
            move |k: &str| match k {
                REGISTRY_USERNAME_ENV => u.clone(),
                REGISTRY_PASSWORD_ENV => p.clone(),
                _ => None,
            }
        };
        let c = registry_credentials(env(Some("me"), Some("pw")))
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("me", "pw"));
        assert!(registry_credentials(env(None, None)).unwrap().is_none());
        let e = registry_credentials(env(Some("me"), None)).unwrap_err();
        assert!(e.to_string().contains(REGISTRY_PASSWORD_ENV), "{e}");
    }

    #[test]
    fn a_registry_with_a_scheme_is_rejected_naming_the_key() {
        let c = Config::from_toml("[scan]\nregistry = \"https://ghcr.io\"\n", "t").unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("scan.registry"));
    }

    #[test]
    fn validate_rejects_page_size_over_100() {
        let c = Config::from_toml("[hub]\npage_size = 500\n", "t").unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("hub.page_size"));
    }
}
