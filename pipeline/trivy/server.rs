//! One `trivy server` per scan run: it opens the run's DB once and holds the layer cache, so
//! every image is analysed by a short client process that sends only the layers the server
//! has not seen (a base layer shared by many images is analysed once per run), and stored
//! inventories are rescanned by RPC without any process.
//!
//! The layer cache is the server's memory (`--cache-backend memory`): it lasts one run, as
//! the DB does. The server listens on a free loopback port with a random token (passed by environment,
//! never argv) and runs in its own process group, which is killed when the value is dropped,
//! so a failing run leaves no server behind. Its output goes to `CACHE/server.log`, quoted in
//! errors.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{inventory, Report};
use crate::error::{Error, Result};

/// A running `trivy server`.
#[derive(Debug)]
pub struct TrivyServer {
    url: String,
    token: String,
    /// The process this run started; None for a shared server ([`TrivyServer::connect`]).
    child: Option<Child>,
    log: PathBuf,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

/// How long one RPC may take (a rescan of a large image matches thousands of packages).
const RPC_TIMEOUT: Duration = Duration::from_secs(120);

/// The runtime and HTTP client a server's RPCs go through.
fn rpc_client() -> Result<(tokio::runtime::Runtime, reqwest::Client)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::Input(format!("cannot start an async runtime: {e}")))?;
    let http = reqwest::Client::builder()
        .timeout(RPC_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| Error::Input(format!("cannot build an HTTP client: {e}")))?;
    Ok((runtime, http))
}

impl TrivyServer {
    /// Starts `trivy server` on a free loopback port over `cache_dir` (which holds `db/`),
    /// and waits until it answers `/healthz`.
    pub fn start(trivy: &Path, cache_dir: &Path, ready_within: Duration) -> Result<TrivyServer> {
        let (runtime, http) = rpc_client()?;
        let log = cache_dir.join("server.log");
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let mut last = String::new();
        // a port found free can be taken before the server binds it: try a few
        for _ in 0..3 {
            let port = free_port().map_err(|e| Error::io("127.0.0.1:0", e))?;
            let url = format!("http://127.0.0.1:{port}");
            let mut child = spawn(trivy, cache_dir, port, &token, &log)?;
            match wait_ready(&runtime, &http, &url, &mut child, &log, ready_within) {
                Ok(()) => {
                    return Ok(TrivyServer {
                        url,
                        token,
                        child: Some(child),
                        log,
                        runtime,
                        http,
                    })
                }
                Err(why) => {
                    kill_group(&mut child);
                    last = why;
                }
            }
        }
        Err(Error::Upstream {
            url: "trivy server".into(),
            reason: last,
        })
    }

    /// A shared `trivy server` another process runs (one DB and one layer cache for a fleet
    /// of scans, e.g. the Deployment of `deploy/trivy-server.yaml`), after it answers
    /// `/healthz` within `ready_within`. Its DB is its own: this run neither downloads nor
    /// stores one.
    pub fn connect(url: &str, token: &str, ready_within: Duration) -> Result<TrivyServer> {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Input(format!(
                "--trivy-server {url}: not an http:// or https:// URL (e.g. http://trivy-server:4954)"
            )));
        }
        let (runtime, http) = rpc_client()?;
        let health = format!("{url}/healthz");
        let start = Instant::now();
        loop {
            let answer = runtime.block_on(async {
                http.get(&health)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .map(|r| r.status())
            });
            match answer {
                Ok(status) if status.is_success() => break,
                _ if start.elapsed() < ready_within => std::thread::sleep(Duration::from_millis(200)),
                Ok(status) => {
                    return Err(Error::Upstream {
                        url: health,
                        reason: format!("the shared trivy server answered {status}; is it a trivy server?"),
                    })
                }
                Err(e) => {
                    return Err(Error::Upstream {
                        url: health,
                        reason: format!("the shared trivy server did not answer within {} s ({e}); is --trivy-server right and the server running?", ready_within.as_secs()),
                    })
                }
            }
        }
        Ok(TrivyServer {
            url,
            token: token.to_string(),
            child: None,
            log: PathBuf::new(),
            runtime,
            http,
        })
    }

    /// Whether this run started the server (false for a shared one).
    pub fn is_own(&self) -> bool {
        self.child.is_some()
    }

    /// `http://127.0.0.1:PORT`, for clients' `--server`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The token clients pass (as `TRIVY_TOKEN`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Matches a stored inventory against the server's DB: uploads it as the cache entries a
    /// client would have written, then asks for a scan of them. `target` names the image in
    /// the answer. Returns the answer as the server sent it and its findings.
    pub fn rescan(
        &self,
        target: &str,
        inventory: &Value,
    ) -> std::result::Result<(Vec<u8>, Report), String> {
        let blob = inventory::blob_info(inventory)?;
        let blob_bytes = serde_json::to_vec(&blob).expect("json serialises");
        let blob_id = format!("sha256:{:x}", Sha256::digest(&blob_bytes));
        let artifact_id = format!(
            "sha256:{:x}",
            Sha256::digest(format!("hubaudit inventory {blob_id}"))
        );
        self.call(
            "trivy.cache.v1.Cache/PutArtifact",
            &serde_json::json!({"artifact_id": artifact_id, "artifact_info": inventory::artifact_info()}),
        )?;
        // the blob serialised once: hashed for its id and sent as it is
        let mut put_blob = format!(r#"{{"diff_id":"{blob_id}","blob_info":"#).into_bytes();
        put_blob.extend_from_slice(&blob_bytes);
        put_blob.push(b'}');
        self.call_bytes("trivy.cache.v1.Cache/PutBlob", put_blob)?;
        let answer = self.call_bytes(
            "trivy.scanner.v1.Scanner/Scan",
            serde_json::to_vec(&inventory::scan_request(target, &artifact_id, &blob_id))
                .expect("json serialises"),
        )?;
        let report = inventory::report_from_scan(&answer)?;
        Ok((answer, report))
    }

    /// One Twirp call with a JSON body; errors carry Twirp's `code` and `msg`.
    fn call(&self, method: &str, body: &Value) -> std::result::Result<Vec<u8>, String> {
        self.call_bytes(method, serde_json::to_vec(body).expect("json serialises"))
    }

    /// [`Self::call`] with the body already serialised; returns the answer's bytes.
    fn call_bytes(&self, method: &str, body: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        let url = format!("{}/twirp/{method}", self.url);
        let request = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Trivy-Token", &self.token)
            .body(body);
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .map_err(|e| format!("trivy server {method}: {e}"))?;
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| format!("trivy server {method}: {e}"))?;
            if status.is_success() {
                return Ok(bytes.to_vec());
            }
            // a Twirp error: {"code": "...", "msg": "..."}
            let value: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            Err(format!(
                "trivy server {method} answered {status}: {} {}",
                value["code"].as_str().unwrap_or("?"),
                value["msg"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(
                        || String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
                    )
            ))
        })
    }

    /// What the server says of itself (`GET /version`, the JSON of `trivy version -f json`).
    pub fn version(&self) -> Result<super::Provenance> {
        let url = format!("{}/version", self.url);
        let bytes = self
            .runtime
            .block_on(async {
                let r = self.http.get(&url).send().await?.error_for_status()?;
                r.bytes().await
            })
            .map_err(|e| Error::Upstream {
                url: url.clone(),
                reason: format!("trivy server did not say its version: {e}"),
            })?;
        super::parse_version(&bytes).map_err(|reason| Error::Upstream { url, reason })
    }

    /// The end of the server's log, for error messages.
    pub fn log_excerpt(&self) -> String {
        if self.child.is_none() {
            return format!("(a shared server: see its own log at {})", self.url);
        }
        log_excerpt(&self.log)
    }
}

impl Drop for TrivyServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            kill_group(child);
        }
    }
}

fn spawn(trivy: &Path, cache_dir: &Path, port: u16, token: &str, log: &Path) -> Result<Child> {
    let out = std::fs::File::create(log).map_err(|e| Error::io(log, e))?;
    let err = out.try_clone().map_err(|e| Error::io(log, e))?;
    let mut cmd = Command::new(trivy);
    // SAFETY: prctl(2) is async-signal-safe. Its own process group keeps the server out of a
    // terminal's Ctrl-C, so a parent killed outright would leave it running: the kernel kills
    // it when the thread that started it ends, and that is the scan's own, which lives as long
    // as the process does.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--cache-dir")
        .arg(cache_dir)
        // the layer cache lives for one run: in memory it costs no bbolt commit (an fsync)
        // per uploaded layer in every client's path
        .args([
            "--cache-backend",
            "memory",
            "--skip-db-update",
            "--no-progress",
        ])
        .env("TRIVY_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Error::Input(format!(
                "cannot run {} server: {e}; install Trivy with `just tools` or pass --trivy PATH",
                trivy.display()
            ))
        })
}

/// Polls `/healthz` until it answers `ok`, the child exits, or the deadline passes.
fn wait_ready(
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    url: &str,
    child: &mut Child,
    log: &Path,
    within: Duration,
) -> std::result::Result<(), String> {
    let start = Instant::now();
    let health = format!("{url}/healthz");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "trivy server exited ({status}) before answering: {}",
                log_excerpt(log)
            ));
        }
        let ok = runtime.block_on(async {
            match http
                .get(&health)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(r) => r.status().is_success(),
                Err(_) => false,
            }
        });
        if ok {
            return Ok(());
        }
        if start.elapsed() > within {
            return Err(format!(
                "trivy server did not answer {health} within {} s: {}",
                within.as_secs(),
                log_excerpt(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_group(child: &mut Child) {
    // SAFETY: kill(2) with a negative pid signals the server's own process group.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
}

fn log_excerpt(log: &Path) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    crate::io::command::stderr_excerpt(&text, 400)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
