//! A loopback token service for a test registry's bearer-token auth: the flow Docker Hub
//! uses, with a real `docker-registry` verifying the tokens.
//!
//! Words: the *realm* is this service's URL (`http://127.0.0.1:PORT/token`), which a
//! registry names in its 401 challenge; a *scope* is what a client asks for,
//! `repository:NAME:ACTIONS` (actions `pull`, `push`, `delete`, comma-separated); an *access
//! entry* is a granted scope inside the token. The token is a JWT signed ES256 with a P-256
//! key whose self-signed certificate travels in the JWT header (`x5c`); the registry trusts it
//! because the same certificate is its `rootcertbundle` ([`TokenServer::cert_path`]). The
//! *issuer* (`iss`) and *service* (`aud`) must equal the registry's `auth.token.issuer` and
//! `auth.token.service`.
//!
//! The key and certificate are made fresh at start with the `openssl` CLI in a scratch folder.
//! A request must carry basic auth matching the configured login (else 401 with a JSON error)
//! and name the configured service (else 400); every scope asked is granted. Every request is
//! logged for tests ([`TokenServer::requests`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{SecondsFormat, TimeZone, Utc};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use super::loopback::{HttpServer, Request, Response, Scratch};
use crate::error::{Error, Result};
use crate::io::command;

/// How long an issued token is valid.
pub const TOKEN_LIFETIME_SECS: i64 = 300;

/// What the token service accepts and what it writes into tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// The one login accepted (basic auth).
    pub username: String,
    /// Its password.
    pub password: String,
    /// `iss` of every token; the registry's `auth.token.issuer`.
    pub issuer: String,
    /// The service tokens are for (`aud`); the registry's `auth.token.service`.
    pub service: String,
}

impl std::fmt::Debug for TokenConfig {
    // Never print the password (see registry::Credentials).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("service", &self.service)
            .finish()
    }
}

/// One access entry: a parsed scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `repository` (or `registry` for `registry:catalog:*`).
    pub kind: String,
    /// Repository name, e.g. `library/nginx`.
    pub name: String,
    /// `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

/// Parses `TYPE:NAME:ACTIONS`. The name may itself contain `:` (a registry host with a port),
/// so the type is up to the first colon and the actions after the last. Pure.
pub fn parse_scope(scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(Access {
        kind: kind.to_string(),
        name: name.to_string(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// The JWT claims of a token for `config.username` granting `access`, issued at `now` (unix
/// seconds). Pure.
pub fn claims(config: &TokenConfig, access: &[Access], now: i64, jti: &str) -> Value {
    let access: Vec<Value> = access
        .iter()
        .map(|a| json!({"type": a.kind, "name": a.name, "actions": a.actions}))
        .collect();
    json!({
        "iss": config.issuer,
        "sub": config.username,
        // A string, not a list: distribution 2.8 only accepts a single audience.
        "aud": config.service,
        "exp": now + TOKEN_LIFETIME_SECS,
        "nbf": now,
        "iat": now,
        "jti": jti,
        "access": access,
    })
}

/// The JOSE header of a token: ES256, with the signing certificate (base64 DER) in `x5c`.
pub fn jwt_header(cert_der_base64: &str) -> Value {
    json!({"typ": "JWT", "alg": "ES256", "x5c": [cert_der_base64]})
}

/// A compact JWS: `b64url(header).b64url(claims).b64url(signature)`, the signature being
/// ECDSA P-256 SHA-256 in the fixed `r‖s` form JWS wants.
pub fn sign_jwt(key: &EcdsaKeyPair, header: &Value, claims: &Value) -> Result<String> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key
        .sign(&SystemRandom::new(), input.as_bytes())
        .map_err(|_| Error::internal("signing a sample token", "ECDSA signing failed"))?;
    Ok(format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}

/// The base64 body of the first `-----BEGIN LABEL-----` block of a PEM text, decoded. Pure.
pub fn pem_decode(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

/// One request the token service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The basic-auth user name sent, if any.
    pub username: Option<String>,
    /// The `service` parameter.
    pub service: Option<String>,
    /// Every scope asked (`scope` parameters, each split at spaces).
    pub scopes: Vec<String>,
    /// The status answered.
    pub status: u16,
}

struct State {
    config: TokenConfig,
    key: EcdsaKeyPair,
    x5c: String,
    log: Mutex<Vec<TokenRequest>>,
}

/// A running token service on loopback; stops (and deletes its key) when dropped.
pub struct TokenServer {
    http: HttpServer,
    state: Arc<State>,
    cert_path: PathBuf,
    // Dropped after `http` (fields drop in order): the key outlives the server using it.
    _scratch: Scratch,
}

impl TokenServer {
    /// Makes a key and certificate with `openssl` and starts serving `GET /token`.
    pub fn start(config: TokenConfig) -> Result<TokenServer> {
        let scratch = Scratch::new("token")?;
        let (key_path, cert_path) = make_key_and_cert(scratch.path())?;
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| Error::io(p, e));
        let pkcs8 = pem_decode(&read(&key_path)?, "PRIVATE KEY").ok_or_else(|| {
            Error::data(
                key_path.display().to_string(),
                "no PKCS#8 PRIVATE KEY block",
            )
        })?;
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| Error::data(key_path.display().to_string(), e))?;
        let der = pem_decode(&read(&cert_path)?, "CERTIFICATE")
            .ok_or_else(|| Error::data(cert_path.display().to_string(), "no CERTIFICATE block"))?;
        let state = Arc::new(State {
            config,
            key,
            x5c: STANDARD.encode(der),
            log: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let http = HttpServer::start("token service", move |req| {
            let answer = answer(&st, &req);
            async move { answer }
        })?;
        Ok(TokenServer {
            http,
            state,
            cert_path,
            _scratch: scratch,
        })
    }

    /// The realm URL, `http://localhost:PORT/token`. By name, not `127.0.0.1`: Trivy's
    /// registry client (go-containerregistry) refuses a realm that is a loopback or private IP
    /// literal unless it is the registry's own host:port, a guard against a registry sending
    /// clients to internal services (its `validateRealmURL`); a host name passes.
    pub fn url(&self) -> String {
        format!("http://localhost:{}/token", self.http.addr().port())
    }

    /// The certificate (PEM) whose key signs the tokens: the registry's `rootcertbundle`.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// `iss` of the tokens.
    pub fn issuer(&self) -> &str {
        &self.state.config.issuer
    }

    /// The service the tokens are for.
    pub fn service(&self) -> &str {
        &self.state.config.service
    }

    /// The login this service accepts.
    pub fn credentials(&self) -> crate::io::registry::Credentials {
        crate::io::registry::Credentials {
            username: self.state.config.username.clone(),
            password: self.state.config.password.clone(),
        }
    }

    /// The requests answered so far, in order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Runs `openssl req -x509` for a P-256 key (PKCS#8 PEM) and a self-signed certificate valid
/// for two days.
fn make_key_and_cert(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let key = dir.join("token.key");
    let cert = dir.join("token.crt");
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=hubaudit sample token service",
        "-keyout",
    ])
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    let done = command::run(&mut cmd, Duration::from_secs(30)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Input("openssl not found; install Debian's openssl package".into())
        } else {
            Error::data("running openssl req", e)
        }
    })?;
    if !done.success() {
        return Err(Error::data(
            "openssl req -x509 -newkey ec",
            command::stderr_excerpt(&done.stderr, 400),
        ));
    }
    Ok((key, cert))
}

/// Answers one request (pure apart from the clock, the signature and the log).
fn answer(state: &State, req: &Request) -> Response {
    let error = |status: u16, code: &str, message: &str| {
        Response::json(
            status,
            &json!({"errors": [{"code": code, "message": message}]}),
        )
    };
    let url = reqwest::Url::parse(&format!("http://token.invalid{}", req.target)).ok();
    let params: Vec<(String, String)> = url
        .as_ref()
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(String::from).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let login = req.header("authorization").and_then(basic_login);
    let cfg = &state.config;
    let response = if req.method != "GET" || url.as_ref().map(|u| u.path()) != Some("/token") {
        error(
            404,
            "NOT_FOUND",
            "this token service answers GET /token only",
        )
    } else if login.as_ref() != Some(&(cfg.username.clone(), cfg.password.clone())) {
        error(401, "UNAUTHORIZED", "incorrect username or password").with_header(
            "WWW-Authenticate",
            "Basic realm=\"hubaudit sample token service\"",
        )
    } else if service.as_deref() != Some(cfg.service.as_str()) {
        error(
            400,
            "INVALID_REQUEST",
            &format!(
                "service {:?} is not {:?}, the only service this token service issues for",
                service.as_deref().unwrap_or_default(),
                cfg.service
            ),
        )
    } else {
        match scopes
            .iter()
            .map(|s| parse_scope(s).ok_or(s))
            .collect::<std::result::Result<Vec<Access>, _>>()
        {
            Err(bad) => error(
                400,
                "INVALID_REQUEST",
                &format!("scope {bad:?} is not TYPE:NAME:ACTIONS"),
            ),
            Ok(access) => issue(state, &access),
        }
    };
    state
        .log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(TokenRequest {
            username: login.map(|(u, _)| u),
            service,
            scopes,
            status: response.status,
        });
    response
}

fn issue(state: &State, access: &[Access]) -> Response {
    let now = Utc::now().timestamp();
    let jti = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let claims = claims(&state.config, access, now, &jti);
    match sign_jwt(&state.key, &jwt_header(&state.x5c), &claims) {
        Ok(token) => Response::json(
            200,
            &json!({
                "token": token,
                "access_token": token,
                "expires_in": TOKEN_LIFETIME_SECS,
                "issued_at": Utc
                    .timestamp_opt(now, 0)
                    .single()
                    .unwrap_or_else(Utc::now)
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
            }),
        ),
        Err(e) => Response::json(
            500,
            &json!({"errors": [{"code": "UNKNOWN", "message": e.to_string()}]}),
        ),
    }
}

/// `Basic base64(user:password)` → (user, password). Pure.
fn basic_login(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let text = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    fn config() -> TokenConfig {
        TokenConfig {
            username: "hubaudit".into(),
            password: "sample-secret".into(),
            issuer: "hubaudit-sample".into(),
            service: "hubaudit-registry".into(),
        }
    }

    #[test]
    fn scopes_parse_into_access_entries() {
        assert_eq!(
            parse_scope("repository:library/nginx:pull,push"),
            Some(Access {
                kind: "repository".into(),
                name: "library/nginx".into(),
                actions: vec!["pull".into(), "push".into()],
            })
        );
        let a = parse_scope("repository:localhost:5000/a:delete").unwrap();
        assert_eq!(
            (a.name.as_str(), a.actions[0].as_str()),
            ("localhost:5000/a", "delete")
        );
        assert_eq!(
            parse_scope("registry:catalog:*").unwrap().actions,
            vec!["*"]
        );
        assert_eq!(parse_scope("repository"), None);
        assert_eq!(parse_scope("repository:pull"), None);
        assert_eq!(parse_scope(":a:pull"), None);
    }

    #[test]
    fn claims_name_the_issuer_audience_subject_and_each_scope() {
        let access = [
            parse_scope("repository:a/b:pull,push").unwrap(),
            parse_scope("repository:c:delete").unwrap(),
        ];
        let c = claims(&config(), &access, 1_000, "j1");
        assert_eq!(
            c,
            json!({
                "iss": "hubaudit-sample",
                "sub": "hubaudit",
                "aud": "hubaudit-registry",
                "exp": 1_300,
                "nbf": 1_000,
                "iat": 1_000,
                "jti": "j1",
                "access": [
                    {"type": "repository", "name": "a/b", "actions": ["pull", "push"]},
                    {"type": "repository", "name": "c", "actions": ["delete"]},
                ],
            })
        );
        assert_eq!(claims(&config(), &[], 0, "j")["access"], json!([]));
    }

    #[test]
    fn a_signed_jwt_verifies_with_the_public_key() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let claims = claims(&config(), &[], 5, "j");
        let jwt = sign_jwt(&key, &jwt_header("Q0VSVA=="), &claims).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"typ": "JWT", "alg": "ES256", "x5c": ["Q0VSVA=="]})
        );
        let body: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body, claims);
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(sig.len(), 64, "JWS ES256 is r‖s, 32 bytes each");
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key().as_ref());
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn pem_blocks_and_basic_logins_decode() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nQ0VS\nVA==\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_decode(pem, "CERTIFICATE").unwrap(), b"CERT");
        assert_eq!(pem_decode(pem, "PRIVATE KEY"), None);
        assert_eq!(
            basic_login("Basic aHViYXVkaXQ6c2FtcGxlLXNlY3JldA=="),
            Some(("hubaudit".into(), "sample-secret".into()))
        );
        assert_eq!(basic_login("Bearer abc"), None);
        assert_eq!(basic_login("Basic !!!"), None);
    }

    #[test]
    fn debug_never_shows_the_password() {
        assert!(!format!("{:?}", config()).contains("sample-secret"));
    }
}
