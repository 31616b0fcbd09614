//! The replay Hub: an HTTP/1.1 server on loopback that answers the Hub API v2 paths from a
//! capture folder, with the Hub's paging, rate-limit headers and injectable faults.
//!
//! Paths (each also under a `/YYYY-MM-DD` prefix choosing the capture date; without a prefix
//! the default date answers): `/v2/namespaces/{ns}/repositories[/{name}[/tags]]` and the
//! legacy `/v2/repositories/{ns}/[{name}/[tags/]]`. Lists and tags are paged with `page` and
//! `page_size` (at most 100, default 10, as on the Hub); `next`/`previous` point back at this
//! server through the request's `Host`. Every answer carries `Date` (the capture time),
//! `X-RateLimit-*` for a real per-window counter, and `X-Hubaudit-Replay: SOURCE` so rows are
//! labelled with the capture's source.
//!
//! Faults, for tests and demos: a queue consumed one per request (429 with `Retry-After` or
//! `X-Retry-After`, any status, connection reset, truncated JSON, slow body), a fault applied
//! to every request, a paging loop, and "legacy only" (the namespaces paths answer 404).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::CaptureToml;
use crate::error::{Error, Result};

/// One capture date's responses.
#[derive(Debug, Default)]
struct Day {
    list: Vec<Value>,
    detail: HashMap<String, Value>,
    tags: HashMap<String, Vec<Value>>,
}

/// A loaded capture folder.
#[derive(Debug)]
pub struct Capture {
    /// `capture.toml`.
    pub meta: CaptureToml,
    days: HashMap<NaiveDate, Day>,
}

impl Capture {
    /// Loads every date of a capture folder into memory.
    pub fn load(dir: &Path) -> Result<Capture> {
        let meta_path = dir.join("capture.toml");
        let text = std::fs::read_to_string(&meta_path).map_err(|e| {
            Error::Input(format!(
                "{}: {e}; build a capture first with `hubaudit sample build`",
                meta_path.display()
            ))
        })?;
        let meta: CaptureToml = toml::from_str(&text)
            .map_err(|e| Error::data(meta_path.display().to_string(), e.message()))?;
        let mut days = HashMap::new();
        for date in &meta.dates {
            let base = dir.join(date.to_string());
            let read = |p: &Path| -> Result<Value> {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                serde_json::from_str(&text).map_err(|e| Error::data(p.display().to_string(), e))
            };
            let list = match read(&base.join("repositories.json"))? {
                Value::Array(a) => a,
                _ => {
                    return Err(Error::data(
                        base.display().to_string(),
                        "repositories.json is not an array",
                    ))
                }
            };
            let mut day = Day {
                list,
                ..Day::default()
            };
            for item in &day.list {
                let name = item["name"].as_str().unwrap_or_default().to_string();
                let d = base.join("detail").join(format!("{name}.json"));
                if d.exists() {
                    day.detail.insert(name.clone(), read(&d)?);
                }
                let t = base.join("tags").join(format!("{name}.json"));
                if t.exists() {
                    if let Value::Array(a) = read(&t)? {
                        day.tags.insert(name.clone(), a);
                    }
                }
            }
            days.insert(*date, day);
        }
        Ok(Capture { meta, days })
    }
}

/// A fault injected into one response.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with `Retry-After: secs` (or `X-Retry-After: now+secs` when `unix`).
    TooMany { secs: u64, unix: bool },
    /// Answer with this status and a JSON error body.
    Status(u16),
    /// Close the connection without answering (TCP reset).
    Reset,
    /// Send only the first half of the JSON body.
    Truncate,
    /// Send the body slowly: half, then the rest after this long.
    Slow(Duration),
}

impl Fault {
    /// Parses `429`, `429:SECS`, `429x:SECS` (X-Retry-After), `503` (any status), `reset`,
    /// `truncate`, `slow:MS`.
    pub fn parse(text: &str) -> std::result::Result<Fault, String> {
        let (head, arg) = text
            .split_once(':')
            .map_or((text, None), |(h, a)| (h, Some(a)));
        let num = |a: Option<&str>, default: u64| {
            a.map_or(Ok(default), |a| {
                a.parse::<u64>()
                    .map_err(|_| format!("{text:?}: {a:?} is not a number"))
            })
        };
        match head {
            "429" => Ok(Fault::TooMany { secs: num(arg, 1)?, unix: false }),
            "429x" => Ok(Fault::TooMany { secs: num(arg, 1)?, unix: true }),
            "reset" => Ok(Fault::Reset),
            "truncate" => Ok(Fault::Truncate),
            "slow" => Ok(Fault::Slow(Duration::from_millis(num(arg, 500)?))),
            s => match s.parse::<u16>() {
                Ok(code) if (400..600).contains(&code) => Ok(Fault::Status(code)),
                _ => Err(format!(
                    "{text:?} is not a fault; use 429[:SECS], 429x[:SECS], a status 400-599, reset, truncate or slow[:MS]"
                )),
            },
        }
    }
}

/// How the replay server misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// Faults for the first requests, one each, in order.
    pub queue: Vec<Fault>,
    /// A fault for every request after the queue is spent.
    pub always: Option<Fault>,
    /// The last page's `next` points back at page 1.
    pub paging_loop: bool,
    /// The `/v2/namespaces/…` paths answer 404 (a server from before 2025).
    pub legacy_only: bool,
    /// Requests allowed per window and the window length; 429 beyond it.
    pub rate_limit: Option<(u32, Duration)>,
    /// Date served at paths without a date prefix (default: the capture's last date).
    pub default_date: Option<NaiveDate>,
}

struct State {
    capture: Capture,
    knobs: Knobs,
    queue: Mutex<std::collections::VecDeque<Fault>>,
    window: Mutex<(std::time::Instant, u32)>,
    log: Mutex<Vec<String>>,
}

/// A running replay server; stops when dropped.
pub struct ReplayHub {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReplayHub {
    /// Starts a server on `127.0.0.1:port` (0 = any free port) in a background thread.
    pub fn start(capture: Capture, knobs: Knobs, port: u16) -> Result<ReplayHub> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            Error::Input(format!(
                "cannot listen on 127.0.0.1:{port}: {e}; choose another --port"
            ))
        })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::data("replay listener", e))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| Error::data("replay listener", e))?;
        let state = Arc::new(State {
            queue: Mutex::new(knobs.queue.iter().cloned().collect()),
            capture,
            knobs,
            window: Mutex::new((std::time::Instant::now(), 0)),
            log: Mutex::new(Vec::new()),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("replay runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("replay listener");
                let mut rx = rx;
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                tokio::spawn(handle(stream, st.clone()));
                            }
                        }
                    }
                }
            });
        });
        Ok(ReplayHub {
            addr,
            state,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL serving one capture date.
    pub fn url_for(&self, date: NaiveDate) -> String {
        format!("http://{}/{date}", self.addr)
    }

    /// Request targets received so far (path and query).
    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().expect("lock").clone()
    }

    /// Blocks until the server is stopped by a signal (for `sample serve`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ReplayHub {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn handle(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 64 * 1024 {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let (method, target) = (
        first.next().unwrap_or_default(),
        first.next().unwrap_or("/"),
    );
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    state.log.lock().expect("lock").push(target.to_string());

    let fault = state
        .queue
        .lock()
        .expect("lock")
        .pop_front()
        .or_else(|| state.knobs.always.clone());
    let (mut status, mut body, mut date) = if method != "GET" {
        (405, json!({"message": "method not allowed"}), None)
    } else {
        route(&state, target, &host)
    };
    let mut extra = Vec::new();
    let (remaining, reset) = count_window(&state);
    if remaining.is_none() {
        status = 429;
        body = json!({"message": "Too Many Requests"});
        extra.push(format!(
            "Retry-After: {}",
            reset.saturating_sub(Utc::now().timestamp()).max(1)
        ));
    }
    let mut truncate = false;
    let mut slow = None;
    match fault {
        Some(Fault::Reset) => {
            #[allow(deprecated)] // an abortive close is the point: the client must see a reset
            let _ = stream.set_linger(Some(Duration::ZERO));
            return;
        }
        Some(Fault::TooMany { secs, unix }) => {
            status = 429;
            body = json!({"message": "Too Many Requests"});
            extra.push(if unix {
                format!("X-Retry-After: {}", Utc::now().timestamp() + secs as i64)
            } else {
                format!("Retry-After: {secs}")
            });
        }
        Some(Fault::Status(code)) => {
            status = code;
            body = json!({"message": format!("injected fault {code}")});
        }
        Some(Fault::Truncate) => truncate = true,
        Some(Fault::Slow(d)) => slow = Some(d),
        None => {}
    }
    if status != 200 {
        date = None;
    }
    let mut payload = serde_json::to_vec(&body).expect("json");
    if truncate {
        payload.truncate(payload.len() / 2);
    }
    let date = date.unwrap_or_else(Utc::now);
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nDate: {}\r\nX-RateLimit-Limit: {}\r\nX-RateLimit-Remaining: {}\r\nX-RateLimit-Reset: {reset}\r\nX-Hubaudit-Replay: {}\r\n",
        reason(status),
        payload.len(),
        date.format("%a, %d %b %Y %H:%M:%S GMT"),
        state.knobs.rate_limit.map_or(1000, |(n, _)| n),
        remaining.unwrap_or(0),
        state.capture.meta.source,
    );
    for h in extra {
        out.push_str(&h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes()).await;
    if let Some(d) = slow {
        let half = payload.len() / 2;
        let _ = stream.write_all(&payload[..half]).await;
        let _ = stream.flush().await;
        tokio::time::sleep(d).await;
        let _ = stream.write_all(&payload[half..]).await;
    } else {
        let _ = stream.write_all(&payload).await;
    }
    let _ = stream.shutdown().await;
}

/// Counts the request in the current window: (remaining after it, or None when over the
/// limit; the window's reset as unix time).
fn count_window(state: &State) -> (Option<u32>, i64) {
    let (limit, len) = state
        .knobs
        .rate_limit
        .unwrap_or((1000, Duration::from_secs(60)));
    let mut w = state.window.lock().expect("lock");
    if w.0.elapsed() >= len {
        *w = (std::time::Instant::now(), 0);
    }
    w.1 += 1;
    // Rounded up to the next whole second, so a client that waits until `reset` is never early.
    let ends_ms =
        Utc::now().timestamp_millis() + len.saturating_sub(w.0.elapsed()).as_millis() as i64;
    let reset = (ends_ms + 999).div_euclid(1000);
    (limit.checked_sub(w.1), reset)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Answers a GET: (status, body, capture time for the `Date` header).
fn route(state: &State, target: &str, host: &str) -> (u16, Value, Option<chrono::DateTime<Utc>>) {
    let not_found = |what: &str| {
        (
            404,
            json!({"message": format!("object not found: {what}")}),
            None,
        )
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let meta = &state.capture.meta;
    let mut prefix = String::new();
    let date = match segs
        .first()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    {
        Some(d) => {
            prefix = format!("/{d}");
            segs.remove(0);
            d
        }
        None => match state
            .knobs
            .default_date
            .or_else(|| meta.dates.last().copied())
        {
            Some(d) => d,
            None => return not_found("no capture date"),
        },
    };
    let Some(day) = state.capture.days.get(&date) else {
        return not_found(&format!("no capture for {date}"));
    };
    let (legacy, ns, name, tags) = match segs.as_slice() {
        ["v2", "namespaces", ns, "repositories"] => (false, *ns, None, false),
        ["v2", "namespaces", ns, "repositories", n] => (false, *ns, Some(*n), false),
        ["v2", "namespaces", ns, "repositories", n, "tags"] => (false, *ns, Some(*n), true),
        ["v2", "repositories", ns] => (true, *ns, None, false),
        ["v2", "repositories", ns, n] => (true, *ns, Some(*n), false),
        ["v2", "repositories", ns, n, "tags"] => (true, *ns, Some(*n), true),
        _ => return not_found(path),
    };
    if (!legacy && state.knobs.legacy_only) || ns != meta.namespace {
        return not_found(path);
    }
    let at = Some(meta.captured_at(date));
    let param = |k: &str| {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(key, _)| *key == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let items: &[Value] = match (name, tags) {
        (None, _) => &day.list,
        (Some(n), false) => {
            return match day.detail.get(n) {
                Some(d) => (200, d.clone(), at),
                None => not_found(n),
            }
        }
        (Some(n), true) => match day.tags.get(n) {
            Some(t) => t,
            None => return not_found(n),
        },
    };
    let size = param("page_size").unwrap_or(10).clamp(1, 100);
    let page = param("page").unwrap_or(1).max(1);
    let pages = items.len().div_ceil(size).max(1);
    if page > pages {
        return (
            404,
            json!({"message": "That page contains no results"}),
            None,
        );
    }
    let link = |p: usize| {
        Value::String(format!(
            "http://{host}{prefix}{path_only}?page_size={size}&page={p}",
            path_only = path.trim_start_matches(&prefix)
        ))
    };
    let next = if page < pages {
        link(page + 1)
    } else if state.knobs.paging_loop && pages > 1 {
        link(1)
    } else {
        Value::Null
    };
    let previous = if page > 1 {
        link(page - 1)
    } else {
        Value::Null
    };
    let results: Vec<Value> = items
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect();
    (
        200,
        json!({"count": items.len(), "next": next, "previous": previous, "results": results}),
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_bad_ones_explain() {
        assert_eq!(
            Fault::parse("429:3"),
            Ok(Fault::TooMany {
                secs: 3,
                unix: false
            })
        );
        assert_eq!(
            Fault::parse("429x:2"),
            Ok(Fault::TooMany {
                secs: 2,
                unix: true
            })
        );
        assert_eq!(Fault::parse("503"), Ok(Fault::Status(503)));
        assert_eq!(
            Fault::parse("slow:20"),
            Ok(Fault::Slow(Duration::from_millis(20)))
        );
        assert_eq!(Fault::parse("reset"), Ok(Fault::Reset));
        assert!(Fault::parse("boom").unwrap_err().contains("reset"));
        assert!(Fault::parse("200").is_err());
    }
}
