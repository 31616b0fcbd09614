//! A fault-injecting HTTP proxy in front of a loopback registry: makes a real registry answer
//! like Docker Hub under load (429 with `Retry-After`, 5xx) for chosen paths, a chosen number
//! of times, and passes everything else through unchanged.
//!
//! Words: a *rule* matches requests whose path contains a string and answers them with a
//! *fault* instead of forwarding, `times` times (or always); a request no rule takes is
//! *forwarded*: method, path and query, headers (except hop-by-hop ones) and body go upstream,
//! and status, headers and body come back. An absolute `Location` pointing upstream is
//! rewritten to the proxy, so an upload started through the proxy continues through it.
//! Clients use [`FaultProxy::host`] as the registry host.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::loopback::{HttpServer, Request, Response};
use crate::error::{Error, Result};

/// Docker Hub's body for a pull-rate-limit 429, word for word.
pub const DOCKER_HUB_RATE_LIMIT_BODY: &str = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"}]}"#;

/// What a rule answers instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyFault {
    /// 429 with `Retry-After: SECS` and Docker Hub's rate-limit body.
    TooManyRequests {
        /// Seconds in `Retry-After`.
        retry_after_secs: u64,
    },
    /// This status with a distribution-style JSON error body.
    Status(u16),
}

/// When to inject a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRule {
    /// Matches requests whose path (without the query) contains this, e.g. `/manifests/`.
    pub path_contains: String,
    /// What to answer.
    pub fault: ProxyFault,
    /// How many matching requests get the fault; None: all of them.
    pub times: Option<u32>,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and are never forwarded;
/// `host` and `content-length` are set anew for each side.
fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// `Location` as the client must see it: an absolute URL on `upstream` (`http://H:P`) moves
/// to `proxy` (`http://H:P`); relative and foreign locations stay. Pure.
pub fn rewrite_location(location: &str, upstream: &str, proxy: &str) -> String {
    match location.strip_prefix(upstream) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') => {
            format!("{proxy}{rest}")
        }
        _ => location.to_string(),
    }
}

/// Picks the fault for `path` and counts it against its rule. Pure apart from the counts.
fn take_fault(rules: &mut [(ProxyRule, u32)], path: &str) -> Option<ProxyFault> {
    let (rule, served) = rules.iter_mut().find(|(rule, served)| {
        path.contains(&rule.path_contains) && rule.times.is_none_or(|t| *served < t)
    })?;
    *served += 1;
    Some(rule.fault.clone())
}

fn fault_response(fault: &ProxyFault) -> Response {
    match fault {
        ProxyFault::TooManyRequests { retry_after_secs } => Response {
            status: 429,
            headers: vec![
                ("Content-Type".into(), b"application/json".to_vec()),
                (
                    "Retry-After".into(),
                    retry_after_secs.to_string().into_bytes(),
                ),
            ],
            body: DOCKER_HUB_RATE_LIMIT_BODY.as_bytes().to_vec(),
            content_length: None,
        },
        ProxyFault::Status(code) => Response::json(
            *code,
            &json!({"errors": [{"code": "UNKNOWN", "message": format!("injected fault: HTTP {code}")}]}),
        ),
    }
}

struct State {
    upstream: String,
    http: reqwest::Client,
    rules: Mutex<Vec<(ProxyRule, u32)>>,
    log: Mutex<Vec<String>>,
}

/// A running proxy on loopback; stops when dropped.
pub struct FaultProxy {
    http: HttpServer,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on a free loopback port.
    pub fn start(upstream: &str, rules: Vec<ProxyRule>) -> Result<FaultProxy> {
        let url = reqwest::Url::parse(upstream)
            .ok()
            .filter(|u| u.scheme() == "http" && u.host_str().is_some() && u.path() == "/")
            .ok_or_else(|| {
                Error::Input(format!(
                    "proxy upstream {upstream:?}: expected http://HOST:PORT"
                ))
            })?;
        let http = reqwest::Client::builder()
            .no_gzip()
            // Redirects are the client's business: pass them through.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::internal("building the proxy's HTTP client", e))?;
        let state = Arc::new(State {
            upstream: url.as_str().trim_end_matches('/').to_string(),
            http,
            rules: Mutex::new(rules.into_iter().map(|r| (r, 0)).collect()),
            log: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let http = HttpServer::start("fault proxy", move |req| {
            let st = st.clone();
            async move { st.handle(req).await }
        })?;
        Ok(FaultProxy { http, state })
    }

    /// `127.0.0.1:PORT`: the registry host for a client going through the proxy.
    pub fn host(&self) -> String {
        self.http.addr().to_string()
    }

    /// Faults answered so far.
    pub fn faults_served(&self) -> u32 {
        lock(&self.state.rules).iter().map(|(_, n)| n).sum()
    }

    /// Every request so far as `METHOD path -> status`, with ` (injected)` after faults.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state.log).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain counters and strings: still consistent after a panic elsewhere.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    async fn handle(&self, req: Request) -> Response {
        let fault = take_fault(&mut lock(&self.rules), req.path());
        let (answer, note) = match fault {
            Some(f) => (fault_response(&f), " (injected)"),
            None => (self.forward(&req).await, ""),
        };
        lock(&self.log).push(format!(
            "{} {} -> {}{note}",
            req.method, req.target, answer.status
        ));
        answer
    }

    async fn forward(&self, req: &Request) -> Response {
        let bad_gateway = |why: String| {
            Response::json(
                502,
                &json!({"errors": [{"code": "UNAVAILABLE", "message": format!("fault proxy: upstream {}: {why}", self.upstream)}]}),
            )
        };
        let Ok(method) = reqwest::Method::from_bytes(req.method.as_bytes()) else {
            return bad_gateway(format!("method {:?} cannot be forwarded", req.method));
        };
        let mut out = self
            .http
            .request(method, format!("{}{}", self.upstream, req.target));
        for (name, value) in &req.headers {
            if !is_hop_by_hop(name) {
                out = out.header(name, value);
            }
        }
        if req.header("content-length").is_some() || !req.body.is_empty() {
            out = out.body(req.body.clone());
        }
        let resp = match out.send().await {
            Ok(r) => r,
            Err(e) => return bad_gateway(crate::io::http::describe(&e)),
        };
        let proxy_base = format!("http://{}", req.header("host").unwrap_or("127.0.0.1"));
        let status = resp.status().as_u16();
        let mut headers = Vec::new();
        let mut declared_length = None;
        for (name, value) in resp.headers() {
            let n = name.as_str();
            if n == "content-length" {
                declared_length = value.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            }
            if is_hop_by_hop(n) {
                continue;
            }
            let value = match (n, value.to_str()) {
                ("location", Ok(v)) => {
                    rewrite_location(v, &self.upstream, &proxy_base).into_bytes()
                }
                _ => value.as_bytes().to_vec(),
            };
            headers.push((n.to_string(), value));
        }
        let body = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => return bad_gateway(crate::io::http::describe(&e)),
        };
        Response {
            status,
            headers,
            body,
            // A HEAD answer declares the size of the body a GET would get (the manifest size).
            content_length: if req.method == "HEAD" {
                declared_length
            } else {
                None
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, times: Option<u32>, code: u16) -> ProxyRule {
        ProxyRule {
            path_contains: path.into(),
            fault: ProxyFault::Status(code),
            times,
        }
    }

    #[test]
    fn rules_fire_their_number_of_times_then_let_requests_through() {
        let mut rules = vec![
            (rule("/manifests/", Some(2), 429), 0),
            (rule("/blobs/", None, 503), 0),
        ];
        let m = "/v2/a/manifests/latest";
        assert_eq!(take_fault(&mut rules, m), Some(ProxyFault::Status(429)));
        assert_eq!(take_fault(&mut rules, m), Some(ProxyFault::Status(429)));
        assert_eq!(take_fault(&mut rules, m), None);
        for _ in 0..5 {
            assert_eq!(
                take_fault(&mut rules, "/v2/a/blobs/sha256:0"),
                Some(ProxyFault::Status(503))
            );
        }
        assert_eq!(take_fault(&mut rules, "/v2/"), None);
        assert_eq!((rules[0].1, rules[1].1), (2, 5));
    }

    #[test]
    fn absolute_upstream_locations_move_to_the_proxy() {
        let up = "http://127.0.0.1:5000";
        let px = "http://127.0.0.1:6000";
        assert_eq!(
            rewrite_location(
                "http://127.0.0.1:5000/v2/a/blobs/uploads/u?_state=x",
                up,
                px
            ),
            "http://127.0.0.1:6000/v2/a/blobs/uploads/u?_state=x"
        );
        assert_eq!(
            rewrite_location("/v2/a/blobs/uploads/u", up, px),
            "/v2/a/blobs/uploads/u"
        );
        assert_eq!(
            rewrite_location("https://cdn.example/x", up, px),
            "https://cdn.example/x"
        );
        // another port that merely starts with the same digits is another server
        assert_eq!(
            rewrite_location("http://127.0.0.1:50001/v2/", up, px),
            "http://127.0.0.1:50001/v2/"
        );
    }

    #[test]
    fn the_rate_limit_fault_looks_like_docker_hub() {
        let r = fault_response(&ProxyFault::TooManyRequests {
            retry_after_secs: 3,
        });
        assert_eq!(r.status, 429);
        assert!(r
            .headers
            .contains(&("Retry-After".to_string(), b"3".to_vec())));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
        assert!(is_hop_by_hop("Transfer-Encoding") && !is_hop_by_hop("Docker-Content-Digest"));
    }
}
