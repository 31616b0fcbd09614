//! A real `docker-registry` (CNCF distribution 2.8, Debian's `docker-registry` package) on
//! loopback, for tests and the sample world: push the sample images and the Trivy DB into it,
//! scan from it, check credentials against it.
//!
//! Words: the *data folder* is the registry's filesystem storage (a scratch folder removed
//! with the server); the *auth mode* is what the registry demands ([`RegistryAuth`]): nothing,
//! HTTP basic auth against a committed htpasswd line for the sample login, or bearer tokens
//! from a [`TokenServer`] (Docker Hub's flow). Deletes are enabled, so tests can delete
//! manifests. The registry runs in its own process group, killed when the handle drops.
//!
//! The binary is `$HUBAUDIT_DOCKER_REGISTRY` when set, else `docker-registry` on PATH.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::loopback::{free_port, Scratch};
use super::token::TokenServer;
use crate::error::{Error, Result};
use crate::io::command::stderr_excerpt;
use crate::io::registry::{Credentials, Registry};

/// Environment variable naming the `docker-registry` binary.
pub const REGISTRY_BINARY_ENV: &str = "HUBAUDIT_DOCKER_REGISTRY";

/// User name of the sample login. Sample credentials for loopback test registries only:
/// they are public (committed here) and protect nothing.
pub const SAMPLE_USERNAME: &str = "hubaudit";

/// Password of the sample login (sample credentials for loopback test registries only).
pub const SAMPLE_PASSWORD: &str = "sample-secret";

/// The htpasswd line for the sample login: bcrypt (cost 5, the only hash docker-registry
/// accepts) of [`SAMPLE_PASSWORD`], computed once with Python's `bcrypt` so the crate needs
/// no bcrypt dependency. Sample credentials for loopback test registries only.
pub const SAMPLE_HTPASSWD: &str =
    "hubaudit:$2b$05$UBOQ5FwYpLzi.Y27wMTSz.moDSRxydOCpAF594Xfp7Y7XABqm4qum";

/// How long the registry may take to answer `GET /v2/` after it is spawned.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// The sample login ([`SAMPLE_USERNAME`], [`SAMPLE_PASSWORD`]).
pub fn sample_credentials() -> Credentials {
    Credentials {
        username: SAMPLE_USERNAME.into(),
        password: SAMPLE_PASSWORD.into(),
    }
}

/// Bearer-token settings of a registry: its `auth.token` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAuth {
    /// Token service URL the registry sends clients to.
    pub realm: String,
    /// The registry's service name (the tokens' audience).
    pub service: String,
    /// The issuer whose tokens it accepts.
    pub issuer: String,
    /// PEM certificate(s) whose keys sign the tokens.
    pub root_cert: PathBuf,
    /// The login the token service accepts. The registry never sees it; it is kept so that
    /// [`RegistryServer::credentials`] can say how to log in.
    pub credentials: Credentials,
}

impl From<&TokenServer> for TokenAuth {
    fn from(t: &TokenServer) -> TokenAuth {
        TokenAuth {
            realm: t.url(),
            service: t.service().to_string(),
            issuer: t.issuer().to_string(),
            root_cert: t.cert_path().to_path_buf(),
            credentials: t.credentials(),
        }
    }
}

/// What the registry demands of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Anyone may pull, push and delete.
    None,
    /// HTTP basic auth with the sample login ([`SAMPLE_HTPASSWD`]).
    Htpasswd,
    /// Bearer tokens from a token service.
    Token(TokenAuth),
}

/// The registry's `config.yml`. Strings are written as JSON strings, which YAML reads as
/// double-quoted scalars, so any path is safe. Pure.
pub fn config_yaml(data_dir: &Path, port: u16, auth: &RegistryAuth, htpasswd: &Path) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let p = |p: &Path| q(&p.display().to_string());
    let mut yaml = format!(
        "version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  secret: {secret}
health:
  storagedriver:
    enabled: false
",
        data = p(data_dir),
        addr = q(&format!("127.0.0.1:{port}")),
        // Signs upload state between requests of one process: any fixed value will do here.
        secret = q("hubaudit-sample-registry"),
    );
    match auth {
        RegistryAuth::None => {}
        RegistryAuth::Htpasswd => yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
            q("hubaudit sample registry"),
            p(htpasswd)
        )),
        RegistryAuth::Token(t) => yaml.push_str(&format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            q(&t.realm),
            q(&t.service),
            q(&t.issuer),
            p(&t.root_cert)
        )),
    }
    yaml
}

/// Finds the binary: `$HUBAUDIT_DOCKER_REGISTRY`, else `docker-registry` on PATH.
pub fn locate() -> Result<PathBuf> {
    locate_in(
        std::env::var_os(REGISTRY_BINARY_ENV),
        std::env::var_os("PATH"),
    )
}

/// [`locate`] with the environment passed in (tests must not change the process's).
fn locate_in(
    configured: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
) -> Result<PathBuf> {
    const INSTALL: &str =
        "docker-registry not found; install Debian's docker-registry package (`just registry-tools`)";
    if let Some(p) = configured {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::Input(format!(
                "{REGISTRY_BINARY_ENV}={}: no such file; {INSTALL}",
                p.display()
            )))
        };
    }
    path.and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("docker-registry"))
            .find(|p| p.is_file())
    })
    .ok_or_else(|| Error::Input(INSTALL.into()))
}

/// A running `docker-registry` on `127.0.0.1`; killed (with its process group) on drop.
pub struct RegistryServer {
    child: Child,
    port: u16,
    credentials: Option<Credentials>,
    scratch: Scratch,
}

/// Where a test registry keeps its storage: `/dev/shm` when there is one. The registry writes
/// several files per blob and manifest; on tmpfs a PUT takes about 5 ms instead of 10–50 ms
/// on this project's machines' disks (measured with curl against docker-registry 2.8).
fn storage_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let writable =
        shm.is_dir() && std::fs::metadata(shm).is_ok_and(|m| !m.permissions().readonly());
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

impl RegistryServer {
    /// Writes a config into a scratch folder, spawns `docker-registry serve`, and waits until
    /// `GET /v2/` answers (200 or 401).
    pub fn start(auth: RegistryAuth) -> Result<RegistryServer> {
        let binary = locate()?;
        let credentials = match &auth {
            RegistryAuth::None => None,
            RegistryAuth::Htpasswd => Some(sample_credentials()),
            RegistryAuth::Token(t) => Some(t.credentials.clone()),
        };
        let mut last_error = None;
        // A free port can be taken between our probe and the registry's bind: try a few.
        for _ in 0..3 {
            let scratch = Scratch::new_in(&storage_base(), "registry")?;
            let data = scratch.path().join("data");
            let htpasswd = scratch.path().join("htpasswd");
            let config = scratch.path().join("config.yml");
            let log = scratch.path().join("registry.log");
            std::fs::create_dir(&data).map_err(|e| Error::io(&data, e))?;
            std::fs::write(&htpasswd, format!("{SAMPLE_HTPASSWD}\n"))
                .map_err(|e| Error::io(&htpasswd, e))?;
            let port = free_port()?;
            std::fs::write(&config, config_yaml(&data, port, &auth, &htpasswd))
                .map_err(|e| Error::io(&config, e))?;
            let log_file = std::fs::File::create(&log).map_err(|e| Error::io(&log, e))?;
            let log_err = log_file.try_clone().map_err(|e| Error::io(&log, e))?;
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err)
                // Its own group, so Drop can kill anything it spawned along with it.
                .process_group(0)
                .spawn()
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Error::Input(format!(
                            "{}: docker-registry not found; install Debian's docker-registry package (`just registry-tools`)",
                            binary.display()
                        ))
                    } else {
                        Error::io(&binary, e)
                    }
                })?;
            let mut server = RegistryServer {
                child,
                port,
                credentials: credentials.clone(),
                scratch,
            };
            match server.wait_ready(&binary) {
                Ok(()) => return Ok(server),
                Err((retry, e)) => {
                    last_error = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Input("docker-registry did not start".into())))
    }

    /// Polls `GET /v2/` until it answers; on failure, whether a new port might help.
    fn wait_ready(&mut self, binary: &Path) -> std::result::Result<(), (bool, Error)> {
        let start = Instant::now();
        let failed = |why: String| Error::Upstream {
            url: binary.display().to_string(),
            reason: why,
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log =
                    std::fs::read(self.scratch.path().join("registry.log")).unwrap_or_default();
                let text = String::from_utf8_lossy(&log);
                return Err((
                    text.contains("address already in use"),
                    failed(format!(
                        "exited at start ({status}): {}",
                        stderr_excerpt(&log, 600)
                    )),
                ));
            }
            if let Some(code) = probe(self.port) {
                if code == 200 || code == 401 {
                    return Ok(());
                }
            }
            if start.elapsed() > START_DEADLINE {
                let log =
                    std::fs::read(self.scratch.path().join("registry.log")).unwrap_or_default();
                return Err((
                    false,
                    failed(format!(
                        "GET /v2/ did not answer within {}s: {}",
                        START_DEADLINE.as_secs(),
                        stderr_excerpt(&log, 600)
                    )),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`: the registry host to give a client.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The login this registry accepts (None when it demands none).
    pub fn credentials(&self) -> Option<Credentials> {
        self.credentials.clone()
    }

    /// A client of this registry with its login.
    pub fn client(&self) -> Result<Registry> {
        Registry::new(&self.host(), self.credentials())
    }

    /// The registry's storage folder.
    pub fn data_dir(&self) -> PathBuf {
        self.scratch.path().join("data")
    }

    /// What the registry wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(
            &std::fs::read(self.scratch.path().join("registry.log")).unwrap_or_default(),
        )
        .into_owned()
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals the child's own process group.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The status of a raw `GET /v2/` on `127.0.0.1:port`, None while nothing answers.
fn probe(port: u16) -> Option<u16> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(
            format!("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    // "HTTP/1.1 401 Unauthorized"
    String::from_utf8_lossy(&head[..n])
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_storage_deletes_address_and_the_auth_section() {
        let data = Path::new("/tmp/x y/data");
        let ht = Path::new("/tmp/x y/htpasswd");
        let none = config_yaml(data, 5000, &RegistryAuth::None, ht);
        assert!(none.contains("rootdirectory: \"/tmp/x y/data\""), "{none}");
        assert!(none.contains("  delete:\n    enabled: true"), "{none}");
        assert!(none.contains("addr: \"127.0.0.1:5000\""), "{none}");
        assert!(none.contains("level: warn"), "{none}");
        assert!(!none.contains("auth:"), "{none}");
        let basic = config_yaml(data, 5000, &RegistryAuth::Htpasswd, ht);
        assert!(basic.contains("auth:\n  htpasswd:\n    realm: \"hubaudit sample registry\"\n    path: \"/tmp/x y/htpasswd\"\n"), "{basic}");
        let token = config_yaml(
            data,
            5000,
            &RegistryAuth::Token(TokenAuth {
                realm: "http://127.0.0.1:9/token".into(),
                service: "svc".into(),
                issuer: "iss".into(),
                root_cert: "/c.pem".into(),
                credentials: sample_credentials(),
            }),
            ht,
        );
        assert!(token.contains("auth:\n  token:\n    realm: \"http://127.0.0.1:9/token\"\n    service: \"svc\"\n    issuer: \"iss\"\n    rootcertbundle: \"/c.pem\"\n"), "{token}");
    }

    #[test]
    fn a_missing_binary_says_how_to_install_it() {
        let dir = std::env::temp_dir();
        for e in [
            locate_in(None, Some(dir.clone().into_os_string())).unwrap_err(),
            locate_in(None, None).unwrap_err(),
            locate_in(Some("/nonexistent/docker-registry".into()), None).unwrap_err(),
        ] {
            let m = e.to_string();
            assert!(matches!(e, Error::Input(_)), "{m}");
            assert!(m.contains("docker-registry not found; install Debian's docker-registry package (`just registry-tools`)"), "{m}");
        }
        let fake = Scratch::new("locate").unwrap();
        std::fs::write(fake.path().join("docker-registry"), b"").unwrap();
        assert_eq!(
            locate_in(None, Some(fake.path().as_os_str().to_owned())).unwrap(),
            fake.path().join("docker-registry")
        );
    }

    #[test]
    fn the_committed_htpasswd_line_is_for_the_sample_user() {
        let (user, hash) = SAMPLE_HTPASSWD.split_once(':').unwrap();
        assert_eq!(user, SAMPLE_USERNAME);
        assert!(hash.starts_with("$2b$05$") && hash.len() == 60, "{hash}");
    }
}
