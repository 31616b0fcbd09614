//! The one HTTP client: JSON GETs with retries, backoff with jitter, rate-limit pacing and
//! bounded concurrency.
//!
//! Words: an *attempt* is one HTTP exchange; a *request* is all attempts for one URL. A request
//! is bounded by `max_attempts` and by a time *budget* that includes every wait. The *gate* is
//! shared by all requests: when the server says `X-RateLimit-Remaining: 0`, nobody sends before
//! `X-RateLimit-Reset`. Retried: 429 (waiting `Retry-After` seconds or an HTTP date, or until the
//! unix time in `X-Retry-After`), 408, 5xx, timeouts, connection errors and bodies that are not
//! JSON. 404 and 410 are answers, returned to the caller; other 4xx fail at once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::config::HubConfig;
use crate::error::{Error, Result};

/// Response headers kept with every raw response (rate limits, dates, replay marker).
pub const KEPT_HEADERS: &[&str] = &[
    "date",
    "retry-after",
    "x-retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-hubaudit-replay",
];

/// Limits of one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts, the first included.
    pub max_attempts: u32,
    /// First backoff delay.
    pub base: Duration,
    /// Longest backoff delay.
    pub max_backoff: Duration,
    /// Longest total time for one request, waits included.
    pub budget: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

impl From<&HubConfig> for RetryPolicy {
    fn from(c: &HubConfig) -> Self {
        RetryPolicy {
            max_attempts: c.max_attempts,
            base: Duration::from_millis(c.backoff_base_ms),
            max_backoff: Duration::from_secs(c.backoff_max_secs),
            budget: Duration::from_secs(c.retry_budget_secs),
            timeout: Duration::from_secs(c.timeout_secs),
        }
    }
}

/// The exponential backoff before attempt `attempt + 1` (`attempt` counts from 1), with
/// `jitter` in [0, 1) picking a delay between half and all of the nominal one.
pub fn backoff(policy: &RetryPolicy, attempt: u32, jitter: f64) -> Duration {
    let exp = policy
        .base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let nominal = exp.min(policy.max_backoff);
    nominal.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// How long a 429 asks us to wait: `Retry-After` (seconds or an HTTP date) or
/// `X-Retry-After` (unix time). `now` is the current unix time in seconds.
pub fn retry_after(header: impl Fn(&str) -> Option<String>, now: i64) -> Option<Duration> {
    if let Some(v) = header("retry-after") {
        let v = v.trim();
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(t) = DateTime::parse_from_rfc2822(v) {
            return Some(Duration::from_secs((t.timestamp() - now).max(0) as u64));
        }
    }
    if let Some(v) = header("x-retry-after") {
        if let Ok(t) = v.trim().parse::<i64>() {
            return Some(Duration::from_secs((t - now).max(0) as u64));
        }
    }
    None
}

/// When the rate-limit headers say the window is spent, how long until it resets.
pub fn rate_limit_pause(header: impl Fn(&str) -> Option<String>, now: i64) -> Option<Duration> {
    let remaining = header("x-ratelimit-remaining")?
        .trim()
        .parse::<i64>()
        .ok()?;
    if remaining > 0 {
        return None;
    }
    let reset = header("x-ratelimit-reset")?.trim().parse::<i64>().ok()?;
    Some(Duration::from_secs((reset - now).max(0) as u64))
}

/// What to do with one attempt's HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Use the response (2xx, 404, 410).
    Accept,
    /// Try again after waiting.
    Retry { wait: Duration, why: String },
    /// Give up now.
    Fail(String),
}

/// Decides about an HTTP status. Pure: the caller supplies the headers, the clock and jitter.
pub fn verdict(
    status: u16,
    header: impl Fn(&str) -> Option<String>,
    now: i64,
    policy: &RetryPolicy,
    attempt: u32,
    jitter: f64,
) -> Verdict {
    match status {
        200..=299 | 404 | 410 => Verdict::Accept,
        429 => Verdict::Retry {
            wait: retry_after(&header, now).unwrap_or_else(|| backoff(policy, attempt, jitter)),
            why: "HTTP 429 Too Many Requests".into(),
        },
        408 | 500..=599 => Verdict::Retry {
            wait: backoff(policy, attempt, jitter),
            why: format!("HTTP {status}"),
        },
        401 | 403 => Verdict::Fail(format!(
            "HTTP {status}: access denied; check the token in {} (or unset it for anonymous access)",
            crate::config::HUB_TOKEN_ENV
        )),
        _ => Verdict::Fail(format!("HTTP {status}")),
    }
}

/// A decoded response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL requested.
    pub url: String,
    /// HTTP status (2xx, 404 or 410).
    pub status: u16,
    /// Local clock when the body was read.
    pub received_at: DateTime<Utc>,
    /// The kept headers (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`null` for 404/410 bodies that are not JSON).
    pub body: serde_json::Value,
    /// Attempts it took.
    pub attempts: u32,
}

impl Fetched {
    /// When the response was produced: the server's `Date` header when present (a replay
    /// server sets it to the capture time), else the local clock.
    pub fn captured_at(&self) -> DateTime<Utc> {
        self.headers
            .get("date")
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(self.received_at)
    }
}

impl Fetched {
    /// The response as one record of a raw capture (`1_raw/...responses.jsonl.gz`).
    pub fn raw_record(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "status": self.status,
            "received_at": self.received_at.to_rfc3339(),
            "attempts": self.attempts,
            "headers": self.headers,
            "body": self.body,
        })
    }
}

/// Counters of a client's work.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP exchanges sent (retries included).
    pub attempts: AtomicU64,
    /// Requests (URLs) completed.
    pub requests: AtomicU64,
    /// Attempts that were retried.
    pub retries: AtomicU64,
    /// Milliseconds spent waiting for rate limits and backoff.
    pub waited_ms: AtomicU64,
}

/// The JSON client.
#[derive(Clone)]
pub struct JsonClient {
    http: reqwest::Client,
    policy: RetryPolicy,
    token: Option<Arc<str>>,
    gate: Arc<Mutex<Option<Instant>>>,
    slots: Arc<Semaphore>,
    /// Work done so far.
    pub stats: Arc<Stats>,
}

impl JsonClient {
    /// A client with `concurrency` requests in flight and an optional bearer token.
    pub fn new(policy: RetryPolicy, concurrency: usize, token: Option<String>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hubaudit/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::data("building the HTTP client", e))?;
        Ok(JsonClient {
            http,
            policy,
            token: token.map(Into::into),
            gate: Arc::new(Mutex::new(None)),
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            stats: Arc::new(Stats::default()),
        })
    }

    /// GETs `url` and decodes JSON, retrying within the policy. 404/410 come back as answers.
    pub async fn get_json(&self, url: &str) -> Result<Fetched> {
        let start = Instant::now();
        let fail = |reason: String| Error::Upstream {
            url: url.to_string(),
            reason,
        };
        let mut last = String::from("no attempt made");
        for attempt in 1..=self.policy.max_attempts {
            self.wait_for_gate(start).await.map_err(fail)?;
            let outcome = self.attempt(url).await;
            self.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let now = Utc::now().timestamp();
            let (wait, why) = match outcome {
                Ok((status, headers, body)) => {
                    let h = |k: &str| headers.get(k).cloned();
                    if let Some(pause) = rate_limit_pause(h, now) {
                        let mut gate = self.gate.lock().await;
                        let until = Instant::now() + pause;
                        if gate.is_none_or(|g| g < until) {
                            *gate = Some(until);
                        }
                    }
                    match verdict(
                        status,
                        |k| headers.get(k).cloned(),
                        now,
                        &self.policy,
                        attempt,
                        fastrand::f64(),
                    ) {
                        Verdict::Accept => match decode(status, &body) {
                            Ok(json) => {
                                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                                return Ok(Fetched {
                                    url: url.to_string(),
                                    status,
                                    received_at: Utc::now(),
                                    headers,
                                    body: json,
                                    attempts: attempt,
                                });
                            }
                            Err(why) => (backoff(&self.policy, attempt, fastrand::f64()), why),
                        },
                        Verdict::Retry { wait, why } => (wait, why),
                        Verdict::Fail(why) => return Err(fail(why)),
                    }
                }
                Err(why) => (backoff(&self.policy, attempt, fastrand::f64()), why),
            };
            last = why;
            if attempt == self.policy.max_attempts {
                break;
            }
            if start.elapsed() + wait > self.policy.budget {
                return Err(fail(format!(
                    "retry budget of {}s exhausted after {attempt} attempt(s) (next wait {}s); last error: {last}",
                    self.policy.budget.as_secs(),
                    wait.as_secs()
                )));
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            self.stats
                .waited_ms
                .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
        Err(fail(format!(
            "gave up after {} attempt(s); last error: {last}",
            self.policy.max_attempts
        )))
    }

    async fn wait_for_gate(&self, start: Instant) -> Result<(), String> {
        let until = *self.gate.lock().await;
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                if until - start > self.policy.budget {
                    return Err(format!(
                        "rate limit resets in {}s, beyond the retry budget of {}s; try later or raise hub.retry_budget_secs",
                        (until - now).as_secs(),
                        self.policy.budget.as_secs()
                    ));
                }
                self.stats
                    .waited_ms
                    .fetch_add((until - now).as_millis() as u64, Ordering::Relaxed);
                tokio::time::sleep_until(until).await;
            }
        }
        Ok(())
    }

    /// One exchange: status, kept headers and body bytes, or a transport error text.
    async fn attempt(&self, url: &str) -> Result<(u16, BTreeMap<String, String>, Vec<u8>), String> {
        let _slot = self.slots.acquire().await.map_err(|e| e.to_string())?;
        let mut req = self.http.get(url).header("accept", "application/json");
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| describe(&e))?;
        let status = resp.status().as_u16();
        let mut headers = BTreeMap::new();
        for name in KEPT_HEADERS {
            if let Some(v) = resp.headers().get(*name).and_then(|v| v.to_str().ok()) {
                headers.insert(name.to_string(), v.to_string());
            }
        }
        let body = resp.bytes().await.map_err(|e| describe(&e))?;
        Ok((status, headers, body.to_vec()))
    }
}

fn decode(status: u16, body: &[u8]) -> Result<serde_json::Value, String> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(_) if status == 404 || status == 410 => Ok(serde_json::Value::Null),
        Err(e) => Err(format!(
            "response is not valid JSON ({e}); body starts with {:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        )),
    }
}

/// A transport error with its causes, e.g. "connection reset by peer".
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "transport error".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            budget: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_between_half_and_full() {
        let p = policy();
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(&p, 3, 1.0), Duration::from_millis(400));
        assert_eq!(backoff(&p, 3, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(&p, 30, 1.0), Duration::from_secs(2));
    }

    #[test]
    fn retry_after_reads_seconds_http_dates_and_unix_times() {
        let now = 1_629_806_400; // 2021-08-24T12:00:00Z
        assert_eq!(
            retry_after(headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                headers(&[("retry-after", "Tue, 24 Aug 2021 12:00:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(headers(&[("x-retry-after", &(now + 12).to_string())]), now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            retry_after(headers(&[("x-retry-after", "1")]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(headers(&[]), now), None);
    }

    #[test]
    fn rate_limit_pause_only_when_the_window_is_spent() {
        let now = 1000;
        assert_eq!(
            rate_limit_pause(
                headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1005")
                ]),
                now
            ),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            rate_limit_pause(
                headers(&[
                    ("x-ratelimit-remaining", "3"),
                    ("x-ratelimit-reset", "1005")
                ]),
                now
            ),
            None
        );
    }

    #[test]
    fn verdicts_per_status() {
        let p = policy();
        let none = headers(&[]);
        assert_eq!(verdict(200, &none, 0, &p, 1, 0.5), Verdict::Accept);
        assert_eq!(verdict(404, &none, 0, &p, 1, 0.5), Verdict::Accept);
        assert!(matches!(
            verdict(503, &none, 0, &p, 1, 0.5),
            Verdict::Retry { .. }
        ));
        match verdict(429, headers(&[("retry-after", "3")]), 0, &p, 1, 0.5) {
            Verdict::Retry { wait, .. } => assert_eq!(wait, Duration::from_secs(3)),
            other => panic!("{other:?}"),
        }
        match verdict(401, &none, 0, &p, 1, 0.5) {
            Verdict::Fail(why) => assert!(why.contains("HUBAUDIT_HUB_TOKEN")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            verdict(400, &none, 0, &p, 1, 0.5),
            Verdict::Fail(_)
        ));
    }
}
