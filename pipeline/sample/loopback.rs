//! What the sample world's loopback services share: a scratch folder, a free port and a small
//! HTTP/1.1 server. Used by the token service (`token`), the fault proxy (`proxy`) and the
//! test registry (`registry`).
//!
//! Words: a *loopback service* listens on `127.0.0.1` only and lives as long as its handle; a
//! *scratch folder* is a private temporary folder removed when its handle drops; a *handler*
//! turns one parsed [`Request`] into a [`Response`]. Each connection carries exactly one
//! request and is closed after the answer (`Connection: close`), so the parser only needs a
//! request head plus a `Content-Length` body — enough for the registry API's GET, HEAD, POST,
//! PUT and DELETE. (`replay` predates this module and keeps its own, GET-only loop.)

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{Error, Result};

/// Longest request head accepted; registry requests have a few short headers.
const MAX_HEAD: usize = 64 * 1024;

/// A private temporary folder (mode 0700), removed with everything in it on drop.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Creates `$TMPDIR/hubaudit-WHAT-PID-RANDOM`.
    pub fn new(what: &str) -> Result<Scratch> {
        Scratch::new_in(&std::env::temp_dir(), what)
    }

    /// Creates `BASE/hubaudit-WHAT-PID-RANDOM`.
    pub fn new_in(base: &Path, what: &str) -> Result<Scratch> {
        let path = base.join(format!(
            "hubaudit-{what}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        // 0700: the token service keeps its private key here.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Scratch { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A port on 127.0.0.1 that was free a moment ago, for a child process that must bind it
/// itself (docker-registry). The caller retries on "address already in use".
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::Input(format!("cannot listen on 127.0.0.1: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Input(format!("cannot listen on 127.0.0.1: {e}")))
}

/// One parsed HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// Path and query as sent, e.g. `/token?service=x`.
    pub target: String,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes; empty without one).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// An answer to write back.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines (`Content-Length` and `Connection` are added by the server).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body; not written for HEAD.
    pub body: Vec<u8>,
    /// `Content-Length` to declare instead of the body's length: a HEAD answer declares the
    /// length of the body a GET would have sent.
    pub content_length: Option<u64>,
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), b"application/json".to_vec())],
            body: serde_json::to_vec(body).expect("a JSON value serialises"),
            content_length: None,
        }
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.as_bytes().to_vec()));
        self
    }
}

/// A running loopback HTTP server; stops when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Listens on `127.0.0.1:<free port>` and answers each request with `handler`, on a
    /// background thread with its own current-thread runtime. `what` names the service in
    /// errors.
    pub fn start<H, F>(what: &str, handler: H) -> Result<HttpServer>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Response> + Send + 'static,
    {
        let bind_err = |e: std::io::Error| Error::Input(format!("{what}: cannot listen: {e}"));
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = std_listener.local_addr().map_err(bind_err)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(bind_err)?;
        let listener = {
            // from_std needs the runtime's reactor.
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(bind_err)?
        };
        let handler = Arc::new(handler);
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                let h = handler.clone();
                                tokio::spawn(async move { serve(stream, move |r| h(r)).await });
                            }
                        }
                    }
                }
            });
        });
        Ok(HttpServer {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request, answers it, closes the connection.
async fn serve<H, F>(mut stream: TcpStream, handler: H)
where
    H: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    let request = match read_request(&mut stream).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(why) => {
            let answer = Response::json(400, &serde_json::json!({ "message": why }));
            let _ = write_response(&mut stream, "GET", &answer).await;
            return;
        }
    };
    let method = request.method.clone();
    let answer = handler(request).await;
    let _ = write_response(&mut stream, &method, &answer).await;
}

/// Reads a request head and its `Content-Length` body. `Ok(None)`: the peer closed first.
async fn read_request(stream: &mut TcpStream) -> std::result::Result<Option<Request>, String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too long".into());
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let (method, target, headers) = parse_head(&String::from_utf8_lossy(&buf[..head_end]))?;
    let mut request = Request {
        method,
        target,
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    let length: usize = match request.header("content-length") {
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("bad Content-Length {v:?}"))?,
        None => 0,
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        // curl asks before sending large bodies; reqwest never does.
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
    }
    while request.body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err("body shorter than Content-Length".into()),
            Ok(n) => request.body.extend_from_slice(&chunk[..n]),
        }
    }
    request.body.truncate(length);
    Ok(Some(request))
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

type Head = (String, String, Vec<(String, String)>);

/// Splits a request head into method, target and header lines.
fn parse_head(head: &str) -> std::result::Result<Head, String> {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split_whitespace();
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {first:?}"));
    };
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok((method.to_string(), target.to_string(), headers))
}

async fn write_response(
    stream: &mut TcpStream,
    method: &str,
    answer: &Response,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        answer.status,
        reqwest::StatusCode::from_u16(answer.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Status")
    )
    .into_bytes();
    for (name, value) in &answer.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    let length = answer.content_length.unwrap_or(answer.body.len() as u64);
    out.extend_from_slice(
        format!("Content-Length: {length}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    if method != "HEAD" {
        out.extend_from_slice(&answer.body);
    }
    stream.write_all(&out).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_splits_into_method_target_and_headers() {
        let (m, t, h) = parse_head(
            "PUT /v2/a/blobs/uploads/x?_state=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3",
        )
        .unwrap();
        assert_eq!(
            (m.as_str(), t.as_str()),
            ("PUT", "/v2/a/blobs/uploads/x?_state=1")
        );
        assert_eq!(h[1], ("Content-Length".to_string(), "3".to_string()));
        assert!(parse_head("garbage").unwrap_err().contains("garbage"));
    }

    #[test]
    fn a_scratch_folder_is_private_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let s = Scratch::new("test").unwrap();
        let p = s.path().to_path_buf();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(p.join("f"), b"x").unwrap();
        drop(s);
        assert!(!p.exists());
    }
}
