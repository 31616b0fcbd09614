//! A small client of the OCI / Docker registry HTTP API v2 (the "distribution" API): check that
//! credentials work, resolve a tag to a digest, fetch and push manifests and blobs, delete a
//! manifest.
//!
//! Words: a *registry host* is `HOST[:PORT]` as written in an image name (`docker.io`,
//! `ghcr.io`, `127.0.0.1:5000`); its *API base* is the URL the API answers at (plain `http://`
//! only for loopback hosts; `docker.io` is served by `registry-1.docker.io`). A *repository*
//! is a path such as `library/nginx`; a *reference* is a tag or a digest (`sha256:…`). A
//! *descriptor* is what identifies stored content: media type, digest, size. A *challenge* is
//! the `WWW-Authenticate` header of a 401: `Basic` (send the credentials) or `Bearer` (ask the
//! token service at `realm` for a token covering a *scope* `repository:REPO:ACTIONS`, with
//! actions `pull`, `pull,push` or `delete`, then send it as `Authorization: Bearer`). Tokens
//! are cached per scope.
//!
//! The API is blocking: the client owns a one-worker Tokio runtime and each method runs its
//! request to completion, so stages and tests can call it from plain threads (it is `Send +
//! Sync`). It must not be called or dropped from inside async code. Nothing is retried here
//! except the one authentication round a challenge asks for: a 429 comes back as
//! [`RegistryError::TooManyRequests`] with the server's `Retry-After`, for the caller to pace.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Timeout of one HTTP request (connect, send, read the whole body).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Manifest media types this client asks for and pushes.
pub mod media_type {
    /// OCI image index (a multi-platform list of manifests).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image manifest (one platform: config + layers).
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Docker manifest list v2 (Docker's name for an index).
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image manifest v2 schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI gzip-compressed tar layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
}

/// The `Accept` header of manifest requests: every manifest kind we understand, so that a
/// registry never falls back to converting to the legacy schema 1.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A registry login.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (on Docker Hub: the account name).
    pub username: String,
    /// Password or access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Debug output ends up in logs and panic messages; the password must never be in them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Identifies stored content: what `HEAD` on a manifest answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type (`Content-Type` without parameters).
    pub media_type: String,
    /// `sha256:…` (`Docker-Content-Digest`).
    pub digest: String,
    /// Size in bytes (`Content-Length`).
    pub size: u64,
}

/// What went wrong talking to a registry. Every variant names the registry host.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryError {
    /// 401 or 403 after authenticating (or with nothing to authenticate with); `detail` is the
    /// registry's error code and message, e.g. `UNAUTHORIZED: authentication required`.
    Unauthorized { registry: String, detail: String },
    /// A manifest, blob or repository that does not exist.
    NotFound { registry: String, what: String },
    /// 429: the registry's rate limit (Docker Hub's pull limit); wait `retry_after` if given.
    TooManyRequests {
        registry: String,
        retry_after: Option<Duration>,
        detail: String,
    },
    /// Any other unexpected HTTP status.
    Status {
        registry: String,
        code: u16,
        detail: String,
    },
    /// No answer: connection refused, DNS failure, timeout.
    Unreachable { registry: String, detail: String },
    /// An answer we cannot use: missing headers, a digest that does not match, bad JSON.
    BadResponse { registry: String, detail: String },
}

impl RegistryError {
    /// The registry host the error is about.
    pub fn registry(&self) -> &str {
        match self {
            RegistryError::Unauthorized { registry, .. }
            | RegistryError::NotFound { registry, .. }
            | RegistryError::TooManyRequests { registry, .. }
            | RegistryError::Status { registry, .. }
            | RegistryError::Unreachable { registry, .. }
            | RegistryError::BadResponse { registry, .. } => registry,
        }
    }

    /// What failed, without the registry host.
    pub fn reason(&self) -> String {
        match self {
            RegistryError::Unauthorized { detail, .. } => {
                format!("not authorized ({detail}); check the registry username and password")
            }
            RegistryError::NotFound { what, .. } => format!("{what} not found"),
            RegistryError::TooManyRequests {
                retry_after,
                detail,
                ..
            } => {
                let wait = retry_after
                    .map_or(String::new(), |d| format!(", retry after {}s", d.as_secs()));
                format!("too many requests{wait} ({detail})")
            }
            RegistryError::Status { code, detail, .. } => format!("HTTP {code} ({detail})"),
            RegistryError::Unreachable { detail, .. } => format!("unreachable: {detail}"),
            RegistryError::BadResponse { detail, .. } => format!("bad response: {detail}"),
        }
    }
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "registry {}: {}", self.registry(), self.reason())
    }
}

impl std::error::Error for RegistryError {}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Error {
        Error::Upstream {
            url: e.registry().to_string(),
            reason: e.reason(),
        }
    }
}

/// Where a registry host's API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host as the user wrote it (used in messages).
    pub host: String,
    /// The API base URL, e.g. `https://registry-1.docker.io` or `http://127.0.0.1:5000`.
    pub base: String,
}

/// Checks a registry host and derives its API base. Pure.
pub fn endpoint(host: &str) -> Result<Endpoint> {
    let bad = |why: &str| {
        Error::Input(format!(
            "registry host {host:?}: {why}; expected HOST[:PORT] as in an image name, e.g. docker.io, ghcr.io, 127.0.0.1:5000 or [::1]:5000"
        ))
    };
    if host.is_empty() {
        return Err(bad("empty"));
    }
    if host.chars().any(char::is_whitespace) {
        return Err(bad("contains whitespace"));
    }
    if host.contains("://") {
        return Err(bad("has a scheme; leave out http:// or https://"));
    }
    if host.contains('/') {
        return Err(bad("has a path; give only the host"));
    }
    if host.contains(['@', '?', '#']) {
        return Err(bad("has user info, a query or a fragment"));
    }
    let (name, port) = split_host_port(host).map_err(|why| bad(&why))?;
    let loopback = match name {
        HostName::Ip(ip) => ip.is_loopback(),
        HostName::Dns(n) => is_loopback_name(n),
    };
    let api_host = match name {
        HostName::Dns(n)
            if n.eq_ignore_ascii_case("docker.io") || n.eq_ignore_ascii_case("index.docker.io") =>
        {
            "registry-1.docker.io".to_string()
        }
        HostName::Dns(n) => n.to_ascii_lowercase(),
        HostName::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        HostName::Ip(IpAddr::V4(ip)) => ip.to_string(),
    };
    let scheme = if loopback { "http" } else { "https" };
    let port = port.map_or(String::new(), |p| format!(":{p}"));
    Ok(Endpoint {
        host: host.to_string(),
        base: format!("{scheme}://{api_host}{port}"),
    })
}

/// `localhost`, `127.x.y.z`, `::1` or `[::1]`.
fn is_loopback_name(name: &str) -> bool {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum HostName<'a> {
    Ip(IpAddr),
    Dns(&'a str),
}

/// Splits `name[:port]` / `[v6][:port]`.
fn split_host_port(host: &str) -> std::result::Result<(HostName<'_>, Option<u16>), String> {
    let parse_port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("port {p:?} is not a number from 1 to 65535")),
    };
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs a closing bracket")?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("{inside:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(parse_port(
                p.strip_prefix(':').ok_or("only :PORT may follow ]")?,
            )?),
        };
        return Ok((HostName::Ip(IpAddr::V6(ip)), port));
    }
    if host.matches(':').count() > 1 {
        return Err("an IPv6 address needs brackets, e.g. [::1]:5000".into());
    }
    let (name, port) = match host.split_once(':') {
        Some((n, p)) => (n, Some(parse_port(p)?)),
        None => (host, None),
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok((HostName::Ip(ip), port));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || !name.split('.').all(label_ok) {
        return Err(format!("{name:?} is not a host name"));
    }
    Ok((HostName::Dns(name), port))
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Send the credentials with HTTP basic auth.
    Basic {
        /// The protection space (informational).
        realm: Option<String>,
    },
    /// Fetch a token from `realm`.
    Bearer {
        /// Token service URL.
        realm: String,
        /// Service name to ask the token for.
        service: Option<String>,
        /// The scope the registry wants (we ask for our own, which covers it).
        scope: Option<String>,
        /// `error` parameter, e.g. `insufficient_scope`.
        error: Option<String>,
    },
}

/// Parses one `WWW-Authenticate` value: a case-insensitive scheme, then `key=value` or
/// `key="quoted, value"` parameters separated by commas. `None` for other schemes or a Bearer
/// challenge without a realm. Pure.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_auth_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic {
            realm: get("realm"),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
            error: get("error"),
        })
    } else {
        None
    }
}

/// `a=b, c="d, e"` → [(a, b), (c, "d, e")], with `\"` escapes inside quotes.
fn parse_auth_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        let key = key.trim().to_string();
        if key.is_empty() {
            if chars.peek().is_none() {
                return out;
            }
            chars.next();
            continue;
        }
        if chars.next_if_eq(&'=').is_none() {
            // A bare token (token68 or a stray word): not a parameter.
            continue;
        }
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        out.push((key, value));
    }
}

/// The message of a registry or token-service error body: `CODE: message` for each entry of
/// `{"errors":[…]}` (the distribution format), else `details`/`message`/`error` (token
/// services), else the start of the text. Empty for an empty body. Pure.
pub fn error_detail(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(errors) = v["errors"].as_array() {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e["code"].as_str().unwrap_or_default();
                    let message = e["message"].as_str().unwrap_or_default();
                    match (code.is_empty(), message.is_empty()) {
                        (false, false) => format!("{code}: {message}"),
                        (false, true) => code.to_string(),
                        _ => message.to_string(),
                    }
                })
                .filter(|s| !s.is_empty())
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
        for key in ["details", "message", "error_description", "error"] {
            if let Some(s) = v[key].as_str() {
                return s.to_string();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text.to_string()
    }
}

/// `sha256:` + the hex SHA-256 of `bytes`: the digest the registry stores content under.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The token scope of `actions` on a repository.
fn scope(repo: &str, actions: &str) -> String {
    format!("repository:{repo}:{actions}")
}

/// How a request authenticates.
#[derive(Debug, Clone)]
enum Auth {
    Basic,
    Bearer(String),
}

#[derive(Debug, Default)]
struct AuthCache {
    /// The registry challenged with `Basic`: send the credentials on every request.
    basic: bool,
    /// Bearer tokens by scope.
    tokens: HashMap<String, String>,
}

/// One request to the registry, re-sendable for the authentication round.
struct Call<'a> {
    method: Method,
    url: Url,
    scope: &'a str,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

/// A registry API client. Blocking; safe to share between threads.
pub struct Registry {
    endpoint: Endpoint,
    base: Url,
    credentials: Option<Credentials>,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    auth: Mutex<AuthCache>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A client of `host` (`HOST[:PORT]`, see [`endpoint`]), anonymous when `credentials` is
    /// None.
    pub fn new(host: &str, credentials: Option<Credentials>) -> Result<Registry> {
        let endpoint = endpoint(host)?;
        let base = Url::parse(&endpoint.base)
            .map_err(|e| Error::Input(format!("registry host {host:?}: {e}")))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("hubaudit/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            // Manifest bytes are hashed: take them exactly as stored, never transcoded.
            .no_gzip()
            .build()
            .map_err(|e| Error::data("building the registry HTTP client", e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hubaudit-registry")
            .enable_all()
            .build()
            .map_err(|e| Error::internal("starting the registry client runtime", e))?;
        Ok(Registry {
            endpoint,
            base,
            credentials,
            http,
            runtime,
            auth: Mutex::new(AuthCache::default()),
        })
    }

    /// The host as given to [`Registry::new`].
    pub fn host(&self) -> &str {
        &self.endpoint.host
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        &self.endpoint.base
    }

    /// Succeeds when the registry accepts us for pulling from `repo`: `GET /v2/`, answering
    /// its challenge (basic auth, or a token for `repository:REPO:pull`). A wrong password
    /// fails here with [`RegistryError::Unauthorized`] rather than halfway through a scan.
    pub fn check_access(&self, repo: &str) -> std::result::Result<(), RegistryError> {
        self.runtime.block_on(async {
            let url = self.url(&[""]);
            let resp = self
                .send(Call::new(Method::GET, url, &scope(repo, "pull")))
                .await?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(self.failure(resp, "the API root /v2/").await)
            }
        })
    }

    /// The descriptor of a manifest (`HEAD`), None when the registry answers 404.
    pub fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> std::result::Result<Option<Descriptor>, RegistryError> {
        self.runtime.block_on(async {
            let url = self.url(&[repo, "manifests", reference]);
            let resp = self
                .send(Call::new(Method::HEAD, url, &scope(repo, "pull")).accept_manifests())
                .await?;
            match resp.status() {
                s if s.is_success() => {
                    let headers = resp.headers();
                    let digest = header(headers, "docker-content-digest")
                        .or_else(|| is_digest(reference).then(|| reference.to_string()))
                        .ok_or_else(|| {
                            self.bad(format!(
                                "HEAD {} has no Docker-Content-Digest",
                                what_manifest(repo, reference)
                            ))
                        })?;
                    let size = header(headers, "content-length")
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| {
                            self.bad(format!(
                                "HEAD {} has no Content-Length",
                                what_manifest(repo, reference)
                            ))
                        })?;
                    Ok(Some(Descriptor {
                        media_type: media_type_of(headers),
                        digest,
                        size,
                    }))
                }
                StatusCode::NOT_FOUND => Ok(None),
                _ => Err(self.failure(resp, &what_manifest(repo, reference)).await),
            }
        })
    }

    /// A manifest's bytes and descriptor. The bytes are checked against the digest the
    /// registry declares and, when `reference` is a digest, against that.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> std::result::Result<(Vec<u8>, Descriptor), RegistryError> {
        self.runtime.block_on(async {
            let what = what_manifest(repo, reference);
            let url = self.url(&[repo, "manifests", reference]);
            let resp = self
                .send(Call::new(Method::GET, url, &scope(repo, "pull")).accept_manifests())
                .await?;
            if !resp.status().is_success() {
                return Err(self.failure(resp, &what).await);
            }
            let media_type = media_type_of(resp.headers());
            let declared = header(resp.headers(), "docker-content-digest");
            let bytes = resp.bytes().await.map_err(|e| self.transport(&e))?.to_vec();
            let digest = sha256_digest(&bytes);
            for expected in declared
                .iter()
                .map(String::as_str)
                .chain(is_digest(reference).then_some(reference))
            {
                if expected.starts_with("sha256:") && expected != digest {
                    return Err(self.bad(format!(
                        "{what}: the bytes received hash to {digest}, not {expected}"
                    )));
                }
            }
            let size = bytes.len() as u64;
            Ok((
                bytes,
                Descriptor {
                    media_type,
                    digest,
                    size,
                },
            ))
        })
    }

    /// Whether the repository holds the blob `digest`.
    pub fn has_blob(&self, repo: &str, digest: &str) -> std::result::Result<bool, RegistryError> {
        self.runtime
            .block_on(self.has_blob_in(repo, digest, &scope(repo, "pull")))
    }

    /// Uploads a blob unless the repository already has it, in one monolithic upload:
    /// `POST /v2/REPO/blobs/uploads/`, then `PUT` to the returned `Location` with `digest=`.
    /// The registry verifies `digest` against the bytes.
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &str,
        bytes: &[u8],
    ) -> std::result::Result<(), RegistryError> {
        self.runtime.block_on(async {
            // One scope for the whole push, so a token service is asked once.
            let push = scope(repo, "pull,push");
            if self.has_blob_in(repo, digest, &push).await? {
                return Ok(());
            }
            let what = format!("blob upload to {repo}");
            let url = self.url(&[repo, "blobs", "uploads", ""]);
            let resp = self
                .send(Call::new(Method::POST, url.clone(), &push).body(Vec::new()))
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(self.failure(resp, &what).await);
            }
            let location = header(resp.headers(), "location")
                .ok_or_else(|| self.bad(format!("{what}: 202 without a Location header")))?;
            let mut put_url = url
                .join(&location)
                .map_err(|e| self.bad(format!("{what}: Location {location:?}: {e}")))?;
            put_url.query_pairs_mut().append_pair("digest", digest);
            let resp = self
                .send(
                    Call::new(Method::PUT, put_url, &push)
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .body(bytes.to_vec()),
                )
                .await?;
            if resp.status() != StatusCode::CREATED {
                return Err(self
                    .failure(resp, &format!("blob {digest} in {repo}"))
                    .await);
            }
            Ok(())
        })
    }

    /// Stores a manifest under `reference` (a tag, or its digest) and returns its digest, as
    /// the registry reports it (`Docker-Content-Digest`) and checked against the bytes.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> std::result::Result<String, RegistryError> {
        self.runtime.block_on(async {
            let what = what_manifest(repo, reference);
            let url = self.url(&[repo, "manifests", reference]);
            let resp = self
                .send(
                    Call::new(Method::PUT, url, &scope(repo, "pull,push"))
                        .header(CONTENT_TYPE, media_type)
                        .body(bytes.to_vec()),
                )
                .await?;
            if resp.status() != StatusCode::CREATED {
                return Err(self.failure(resp, &what).await);
            }
            let digest = sha256_digest(bytes);
            match header(resp.headers(), "docker-content-digest") {
                Some(d) if d != digest => Err(self.bad(format!(
                    "{what}: the registry stored it as {d}, but the bytes sent hash to {digest}"
                ))),
                _ => Ok(digest),
            }
        })
    }

    /// Deletes the manifest `digest` (registries refuse deletes by tag). On distribution the
    /// tags pointing at it go with it; it answers 405 when deletes are disabled.
    pub fn delete_manifest(
        &self,
        repo: &str,
        digest: &str,
    ) -> std::result::Result<(), RegistryError> {
        self.runtime.block_on(async {
            let url = self.url(&[repo, "manifests", digest]);
            let resp = self
                .send(Call::new(Method::DELETE, url, &scope(repo, "delete")))
                .await?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(self.failure(resp, &what_manifest(repo, digest)).await)
            }
        })
    }

    async fn has_blob_in(
        &self,
        repo: &str,
        digest: &str,
        scope: &str,
    ) -> std::result::Result<bool, RegistryError> {
        let url = self.url(&[repo, "blobs", digest]);
        let resp = self.send(Call::new(Method::HEAD, url, scope)).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self
                .failure(resp, &format!("blob {digest} in {repo}"))
                .await),
        }
    }

    /// `BASE/v2/` + the parts; a repository part is split at `/` so each segment is escaped
    /// on its own (a stray `?` or `#` stays in the path instead of changing the URL).
    fn url(&self, parts: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .expect("an http(s) base URL has a path");
            segments.clear().push("v2");
            for part in parts {
                segments.extend(part.split('/'));
            }
        }
        url
    }

    /// Sends a call, answering one authentication challenge. Returns whatever the registry
    /// answered last, 401 included; callers turn unexpected statuses into errors.
    async fn send(&self, call: Call<'_>) -> std::result::Result<reqwest::Response, RegistryError> {
        let mut challenged = false;
        loop {
            let auth = self.cached_auth(call.scope, &call.url);
            let resp = self.attempt(&call, auth).await?;
            if resp.status() != StatusCode::UNAUTHORIZED || challenged {
                return Ok(resp);
            }
            challenged = true;
            let challenges: Vec<Challenge> = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(parse_challenge)
                .collect();
            // Prefer a token: it is scoped, and a server offering both takes either.
            let challenge = challenges
                .iter()
                .find(|c| matches!(c, Challenge::Bearer { .. }))
                .or(challenges.first());
            match challenge {
                Some(Challenge::Bearer { realm, service, .. }) => {
                    let token = self
                        .fetch_token(realm, service.as_deref(), call.scope)
                        .await?;
                    self.lock_auth()
                        .tokens
                        .insert(call.scope.to_string(), token);
                }
                Some(Challenge::Basic { .. }) if self.credentials.is_some() => {
                    self.lock_auth().basic = true;
                }
                // Nothing we can answer with: the 401 is the answer.
                _ => return Ok(resp),
            }
        }
    }

    fn lock_auth(&self) -> std::sync::MutexGuard<'_, AuthCache> {
        // The cache holds plain strings, always consistent: a panic elsewhere cannot break it.
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What to send on `url` for `scope`: credentials and tokens go to the registry's own
    /// origin only, never to a host a `Location` header points at.
    fn cached_auth(&self, scope: &str, url: &Url) -> Option<Auth> {
        if url.origin() != self.base.origin() {
            return None;
        }
        let cache = self.lock_auth();
        if let Some(token) = cache.tokens.get(scope) {
            Some(Auth::Bearer(token.clone()))
        } else if cache.basic && self.credentials.is_some() {
            Some(Auth::Basic)
        } else {
            None
        }
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        auth: Option<Auth>,
    ) -> std::result::Result<reqwest::Response, RegistryError> {
        let mut req = self
            .http
            .request(call.method.clone(), call.url.clone())
            .headers(call.headers.clone());
        match (auth, &self.credentials) {
            (Some(Auth::Bearer(token)), _) => req = req.bearer_auth(token),
            (Some(Auth::Basic), Some(c)) => req = req.basic_auth(&c.username, Some(&c.password)),
            _ => {}
        }
        if let Some(body) = &call.body {
            req = req.body(body.clone());
        }
        req.send().await.map_err(|e| self.transport(&e))
    }

    /// Asks the token service at `realm` for a token covering `scope`, with the credentials
    /// when there are any (anonymous tokens are how Docker Hub serves public pulls).
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> std::result::Result<String, RegistryError> {
        let realm_url = Url::parse(realm)
            .map_err(|e| self.bad(format!("token realm {realm:?} is not a URL: {e}")))?;
        let realm_loopback = realm_url.host_str().is_some_and(is_loopback_name);
        match realm_url.scheme() {
            "https" => {}
            "http" if realm_loopback || self.credentials.is_none() => {}
            _ => {
                return Err(self.bad(format!(
                    "token realm {realm} is not https; refusing to send credentials there"
                )))
            }
        }
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(s) = service {
            query.insert(0, ("service", s));
        }
        let mut req = self.http.get(realm_url).query(&query);
        if let Some(c) = &self.credentials {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let resp = req.send().await.map_err(|e| RegistryError::Unreachable {
            registry: self.host().to_string(),
            detail: format!("token service {realm}: {}", crate::io::http::describe(&e)),
        })?;
        let status = resp.status();
        let retry = retry_after_of(resp.headers());
        let body = resp.bytes().await.map_err(|e| self.transport(&e))?;
        if !status.is_success() {
            let detail = format!("token service {realm}: {}", detail_or_status(&body, status));
            return Err(status_error(
                self.host(),
                status.as_u16(),
                retry,
                detail,
                "token",
            ));
        }
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            self.bad(format!(
                "token service {realm}: the answer is not JSON: {e}"
            ))
        })?;
        ["token", "access_token"]
            .iter()
            .find_map(|k| json[*k].as_str().filter(|t| !t.is_empty()))
            .map(String::from)
            .ok_or_else(|| self.bad(format!("token service {realm}: no token in the answer")))
    }

    /// Turns an unexpected answer into an error, reading its body for the registry's message.
    async fn failure(&self, resp: reqwest::Response, what: &str) -> RegistryError {
        let status = resp.status();
        let retry = retry_after_of(resp.headers());
        let challenge_error = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| match parse_challenge(v) {
                Some(Challenge::Bearer { error: Some(e), .. }) => Some(e),
                _ => None,
            });
        let body = resp.bytes().await.unwrap_or_default();
        let mut detail = detail_or_status(&body, status);
        if body.is_empty() {
            // HEAD answers carry no body; the challenge's `error` is all the reason there is.
            if let Some(e) = challenge_error {
                detail = format!("{detail}: {e}");
            }
        }
        status_error(self.host(), status.as_u16(), retry, detail, what)
    }

    fn transport(&self, e: &reqwest::Error) -> RegistryError {
        let detail = crate::io::http::describe(e);
        if e.is_body() || e.is_decode() {
            self.bad(detail)
        } else {
            RegistryError::Unreachable {
                registry: self.host().to_string(),
                detail,
            }
        }
    }

    fn bad(&self, detail: String) -> RegistryError {
        RegistryError::BadResponse {
            registry: self.host().to_string(),
            detail,
        }
    }
}

impl<'a> Call<'a> {
    fn new(method: Method, url: Url, scope: &'a str) -> Call<'a> {
        Call {
            method,
            url,
            scope,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Self {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    fn accept_manifests(self) -> Self {
        self.header(ACCEPT, MANIFEST_ACCEPT)
    }

    fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }
}

/// The error for an HTTP status that was not the expected one. Pure.
fn status_error(
    registry: &str,
    code: u16,
    retry_after: Option<Duration>,
    detail: String,
    what: &str,
) -> RegistryError {
    let registry = registry.to_string();
    match code {
        401 | 403 => RegistryError::Unauthorized { registry, detail },
        404 => RegistryError::NotFound {
            registry,
            what: what.to_string(),
        },
        429 => RegistryError::TooManyRequests {
            registry,
            retry_after,
            detail,
        },
        code => RegistryError::Status {
            registry,
            code,
            detail,
        },
    }
}

/// The body's error message, or `HTTP 401 Unauthorized` when it has none.
fn detail_or_status(body: &[u8], status: StatusCode) -> String {
    let detail = error_detail(body);
    if detail.is_empty() {
        format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        )
    } else {
        detail
    }
}

fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    crate::io::http::retry_after(|k| header(headers, k), chrono::Utc::now().timestamp())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

fn media_type_of(headers: &HeaderMap) -> String {
    header(headers, "content-type")
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default()
}

fn is_digest(reference: &str) -> bool {
    reference.contains(':')
}

/// `manifest REPO:TAG` or `manifest REPO@DIGEST`, for messages.
fn what_manifest(repo: &str, reference: &str) -> String {
    let sep = if is_digest(reference) { '@' } else { ':' };
    format!("manifest {repo}{sep}{reference}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(host: &str) -> String {
        endpoint(host).unwrap().base
    }

    fn rejected(host: &str) -> String {
        match endpoint(host) {
            Err(Error::Input(m)) => m,
            other => panic!("{host:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn loopback_hosts_use_http_and_the_rest_https() {
        assert_eq!(base("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(base("127.1.2.3:5000"), "http://127.1.2.3:5000");
        assert_eq!(base("localhost:5000"), "http://localhost:5000");
        assert_eq!(base("LOCALHOST"), "http://localhost");
        assert_eq!(base("[::1]:5000"), "http://[::1]:5000");
        assert_eq!(base("ghcr.io"), "https://ghcr.io");
        assert_eq!(base("10.0.0.1:5000"), "https://10.0.0.1:5000");
        assert_eq!(base("[2001:db8::1]"), "https://[2001:db8::1]");
        // a name that merely starts like a loopback address is a DNS name like any other
        assert_eq!(
            base("127.0.0.1.example.com"),
            "https://127.0.0.1.example.com"
        );
        assert_eq!(
            base("localhost.example.com"),
            "https://localhost.example.com"
        );
    }

    #[test]
    fn docker_io_means_registry_1() {
        assert_eq!(base("docker.io"), "https://registry-1.docker.io");
        assert_eq!(base("index.docker.io"), "https://registry-1.docker.io");
        assert_eq!(endpoint("docker.io").unwrap().host, "docker.io");
    }

    #[test]
    fn bad_hosts_are_rejected_naming_the_input_and_the_form() {
        for (host, why) in [
            ("", "empty"),
            ("https://ghcr.io", "scheme"),
            ("ghcr.io/owner", "path"),
            ("ghcr .io", "whitespace"),
            (" ghcr.io", "whitespace"),
            ("user@ghcr.io", "user info"),
            ("ghcr.io:http", "port"),
            ("ghcr.io:0", "port"),
            ("ghcr.io:70000", "port"),
            ("::1:5000", "brackets"),
            ("[::1", "closing bracket"),
            ("[::1]5000", "only :PORT"),
            ("bad..host", "not a host name"),
            ("-bad.host", "not a host name"),
        ] {
            let m = rejected(host);
            assert!(m.contains(&format!("{host:?}")), "{m}");
            assert!(m.contains(why), "{host:?}: {m}");
            assert!(m.contains("HOST[:PORT]"), "{m}");
        }
    }

    #[test]
    fn challenges_parse_with_quoted_commas_and_any_case() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
                error: None,
            })
        );
        assert_eq!(
            parse_challenge(
                r#"bearer  realm="http://127.0.0.1:1/token", error="insufficient_scope""#
            ),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: None,
                scope: None,
                error: Some("insufficient_scope".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"BASIC realm="basic-realm""#),
            Some(Challenge::Basic {
                realm: Some("basic-realm".into())
            })
        );
        assert_eq!(
            parse_challenge("Basic"),
            Some(Challenge::Basic { realm: None })
        );
        // unquoted values and an escaped quote
        assert_eq!(
            parse_auth_params(r#"realm=x, service="a \"b\", c""#),
            vec![
                ("realm".to_string(), "x".to_string()),
                ("service".to_string(), r#"a "b", c"#.to_string())
            ]
        );
        assert_eq!(parse_challenge(r#"Bearer service="no realm""#), None);
        assert_eq!(parse_challenge("Negotiate abc=="), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn error_bodies_become_code_and_message() {
        assert_eq!(
            error_detail(br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository"}]}]}"#),
            "UNAUTHORIZED: authentication required"
        );
        assert_eq!(
            error_detail(br#"{"errors":[{"code":"A","message":"a"},{"code":"B","message":"b"}]}"#),
            "A: a; B: b"
        );
        assert_eq!(
            error_detail(br#"{"details":"incorrect username or password"}"#),
            "incorrect username or password"
        );
        assert_eq!(
            error_detail(b"<html>gateway</html>"),
            "<html>gateway</html>"
        );
        assert_eq!(error_detail(b""), "");
        assert!(error_detail(&[b'x'; 500]).ends_with('…'));
    }

    #[test]
    fn statuses_map_to_typed_errors_that_name_the_registry() {
        let e = status_error("r:1", 401, None, "UNAUTHORIZED: x".into(), "m");
        assert_eq!(
            e,
            RegistryError::Unauthorized {
                registry: "r:1".into(),
                detail: "UNAUTHORIZED: x".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "registry r:1: not authorized (UNAUTHORIZED: x); check the registry username and password"
        );
        assert!(matches!(
            status_error("r", 403, None, String::new(), "m"),
            RegistryError::Unauthorized { .. }
        ));
        let e = status_error(
            "r",
            429,
            Some(Duration::from_secs(7)),
            "TOOMANYREQUESTS: slow down".into(),
            "m",
        );
        assert_eq!(
            e.to_string(),
            "registry r: too many requests, retry after 7s (TOOMANYREQUESTS: slow down)"
        );
        let e = status_error("r", 404, None, String::new(), "manifest a:b");
        assert_eq!(e.to_string(), "registry r: manifest a:b not found");
        let e: Error = status_error("r", 500, None, "boom".into(), "m").into();
        assert_eq!(e.exit_code(), crate::error::exit::UPSTREAM);
        assert_eq!(e.to_string(), "r: HTTP 500 (boom)");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credentials {
            username: "hubaudit".into(),
            password: "sample-secret".into(),
        };
        let text = format!("{c:?} {:?}", Some(&c));
        assert!(!text.contains("sample-secret"), "{text}");
        assert!(
            text.contains("hubaudit") && text.contains("<redacted>"),
            "{text}"
        );
        let r = Registry::new("127.0.0.1:1", Some(c)).unwrap();
        assert!(!format!("{r:?}").contains("sample-secret"));
    }

    #[test]
    fn the_client_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Registry>();
    }

    #[test]
    fn digests_and_urls() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let r = Registry::new("127.0.0.1:5000", None).unwrap();
        assert_eq!(r.url(&[""]).as_str(), "http://127.0.0.1:5000/v2/");
        assert_eq!(
            r.url(&["library/nginx", "manifests", "sha256:ab"]).as_str(),
            "http://127.0.0.1:5000/v2/library/nginx/manifests/sha256:ab"
        );
        assert_eq!(
            r.url(&["a", "blobs", "uploads", ""]).as_str(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/"
        );
        assert_eq!(
            r.url(&["a?b#c", "manifests", "t"]).as_str(),
            "http://127.0.0.1:5000/v2/a%3Fb%23c/manifests/t"
        );
        assert_eq!(what_manifest("a/b", "latest"), "manifest a/b:latest");
        assert_eq!(what_manifest("a/b", "sha256:00"), "manifest a/b@sha256:00");
    }
}
