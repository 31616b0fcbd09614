//! Docker Hub API v2 client: the repository list, one repository's detail, its tags.
//!
//! Paths: the client prefers the documented `/v2/namespaces/{ns}/repositories[/{name}[/tags]]`
//! and falls back to the older `/v2/repositories/{ns}/[{name}/[tags/]]` when the new path
//! answers 404 or 410; the first answer decides for the rest of the run. Paging follows `next`
//! (only within the base URL's origin), stops on a repeated page (a *paging loop*) with a
//! warning, and warns when `count` disagrees with the rows received.
//!
//! Repository names come from the Hub's own list, so they are untrusted: the detail and tag
//! URLs are built only from a *Hub name* (`names::hub_name`: one component of Docker's
//! reference grammar, which needs no percent-encoding and cannot carry `..`, `?`, `#`, `%` or
//! `/`). Any other name is refused with an error naming it, before any request.

pub mod types;

use std::collections::HashSet;
use std::sync::Mutex;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::io::http::{Fetched, JsonClient};
pub use types::{Page, RepoDetail, RepoItem, Tag, TagImage};

/// Which family of paths the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paths {
    /// `/v2/namespaces/{ns}/repositories…` (documented since 2025).
    Namespaces,
    /// `/v2/repositories/{ns}/…` (deprecated in 2025, the only one in 2021).
    Legacy,
}

/// Items of a paged endpoint with the responses they came from and any warnings.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    /// All items, in server order, duplicates removed by the caller if needed.
    pub items: Vec<T>,
    /// Every response, for the raw layer.
    pub responses: Vec<Fetched>,
    /// Paging loops, count mismatches.
    pub warnings: Vec<String>,
}

/// The Hub client for one namespace.
pub struct HubClient {
    http: JsonClient,
    base: String,
    namespace: String,
    page_size: u32,
    paths: Mutex<Option<Paths>>,
}

impl HubClient {
    /// A client for `base` (e.g. `https://hub.docker.com`, or a replay server with a prefix).
    pub fn new(http: JsonClient, base: &str, namespace: &str, page_size: u32) -> Self {
        HubClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            namespace: namespace.to_string(),
            page_size,
            paths: Mutex::new(None),
        }
    }

    /// The underlying JSON client (for its counters).
    pub fn http(&self) -> &JsonClient {
        &self.http
    }

    fn url(&self, paths: Paths, name: Option<&str>, tags: bool) -> String {
        let ns = &self.namespace;
        let mut url = match (paths, name) {
            (Paths::Namespaces, None) => format!("{}/v2/namespaces/{ns}/repositories", self.base),
            (Paths::Namespaces, Some(n)) => {
                format!("{}/v2/namespaces/{ns}/repositories/{n}", self.base)
            }
            (Paths::Legacy, None) => format!("{}/v2/repositories/{ns}/", self.base),
            (Paths::Legacy, Some(n)) => format!("{}/v2/repositories/{ns}/{n}/", self.base),
        };
        if tags {
            url.push_str(if paths == Paths::Legacy {
                "tags/"
            } else {
                "/tags"
            });
        }
        url
    }

    /// GETs the path for (`name`, `tags`), choosing the path family on the first call.
    async fn get_first(&self, name: Option<&str>, tags: bool, query: &str) -> Result<Fetched> {
        let known = *self.paths.lock().expect("lock");
        let order = match known {
            Some(p) => vec![p],
            None => vec![Paths::Namespaces, Paths::Legacy],
        };
        let mut last = None;
        for paths in order {
            let url = format!("{}{query}", self.url(paths, name, tags));
            let fetched = self.http.get_json(&url).await?;
            if fetched.status == 404 || fetched.status == 410 {
                last = Some(fetched);
                continue;
            }
            *self.paths.lock().expect("lock") = Some(paths);
            return Ok(fetched);
        }
        Ok(last.expect("at least one attempt"))
    }

    /// Follows a paged endpoint from its first page.
    async fn paged<T: DeserializeOwned>(&self, name: Option<&str>, tags: bool) -> Result<Paged<T>> {
        let query = format!("?page_size={}&page=1", self.page_size);
        let first = self.get_first(name, tags, &query).await?;
        if first.status == 404 || first.status == 410 {
            return Err(Error::Upstream {
                url: first.url,
                reason: format!(
                    "HTTP {}: not found on either API path family (is the namespace {:?} right?)",
                    first.status, self.namespace
                ),
            });
        }
        let mut out = Paged {
            items: Vec::new(),
            responses: Vec::new(),
            warnings: Vec::new(),
        };
        let mut seen = HashSet::new();
        seen.insert(first.url.clone());
        let mut claimed = None;
        let mut current = first;
        loop {
            let page: Page<T> = parse(&current)?;
            claimed = claimed.or(page.count);
            out.items.extend(page.results);
            let next = page.next.filter(|n| !n.is_empty());
            out.responses.push(current);
            let Some(next) = next else { break };
            if !same_origin(&self.base, &next) {
                return Err(Error::Upstream {
                    url: next,
                    reason: format!(
                        "`next` leaves the API origin {}; refusing to follow",
                        self.base
                    ),
                });
            }
            if !seen.insert(next.clone()) {
                out.warnings.push(format!(
                    "paging loop: `next` points back to {next}, already read; stopped after {} page(s)",
                    out.responses.len()
                ));
                break;
            }
            current = self.http.get_json(&next).await?;
            if current.status != 200 {
                return Err(Error::Upstream {
                    url: next,
                    reason: format!("HTTP {} in the middle of paging", current.status),
                });
            }
        }
        if let Some(count) = claimed {
            if count != out.items.len() as i64 {
                out.warnings.push(format!(
                    "{}: the server claims count={count} but {} item(s) were received",
                    out.responses[0].url,
                    out.items.len()
                ));
            }
        }
        Ok(out)
    }

    /// All repositories of the namespace.
    pub async fn repositories(&self) -> Result<Paged<RepoItem>> {
        self.paged(None, false).await
    }

    /// All tags of a repository; a `name` that is not a Hub name is refused (no request).
    pub async fn tags(&self, name: &str) -> Result<Paged<Tag>> {
        refuse_bad_name(name)?;
        self.paged(Some(name), true).await
    }

    /// One repository's detail; a `name` that is not a Hub name is refused (no request).
    pub async fn detail(&self, name: &str) -> Result<(RepoDetail, Fetched)> {
        refuse_bad_name(name)?;
        let fetched = self.get_first(Some(name), false, "").await?;
        if fetched.status != 200 {
            return Err(Error::Upstream {
                url: fetched.url,
                reason: format!("HTTP {}: the repository detail is missing", fetched.status),
            });
        }
        Ok((parse(&fetched)?, fetched))
    }
}

/// A name goes into a URL path only when it is a Hub name (see the module docs).
fn refuse_bad_name(name: &str) -> Result<()> {
    crate::names::hub_name(name).map_err(|refused| {
        Error::Input(format!(
            "not requesting the Hub for {refused}; the client builds URLs only from names in Docker's reference grammar"
        ))
    })
}

fn parse<T: DeserializeOwned>(f: &Fetched) -> Result<T> {
    serde_json::from_value(f.body.clone()).map_err(|e| Error::Upstream {
        url: f.url.clone(),
        reason: format!("unexpected response shape ({e}); is this a Docker Hub API v2 server?"),
    })
}

/// The `source` label of rows built from these responses: `hub`, unless the server declares
/// itself a replay of another source (`X-Hubaudit-Replay: sample`).
pub fn source_of(responses: &[Fetched]) -> String {
    responses
        .iter()
        .find_map(|r| r.headers.get("x-hubaudit-replay").cloned())
        .unwrap_or_else(|| "hub".to_string())
}

/// Whether `url` has the same scheme, host and port as `base`.
pub fn same_origin(base: &str, url: &str) -> bool {
    fn origin(u: &str) -> Option<&str> {
        let rest = u.split_once("://")?.1;
        let end = rest.find('/').unwrap_or(rest.len());
        Some(&u[..u.len() - rest.len() + end])
    }
    matches!((origin(base), origin(url)), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_compares_scheme_host_port() {
        assert!(same_origin(
            "https://hub.docker.com",
            "https://hub.docker.com/v2/x?page=2"
        ));
        assert!(same_origin(
            "http://127.0.0.1:9/2021-08-24",
            "http://127.0.0.1:9/2021-08-24/v2/"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:9",
            "http://127.0.0.1:10/v2/"
        ));
        assert!(!same_origin(
            "https://hub.docker.com",
            "https://evil.example/v2/"
        ));
    }

    #[test]
    fn names_outside_the_grammar_never_become_a_request() {
        let http = JsonClient::new(
            crate::io::http::RetryPolicy::from(&crate::config::HubConfig::default()),
            1,
            None,
        )
        .unwrap();
        // port 9 (discard) on loopback: a request, if one were made, would fail differently
        let client = HubClient::new(http, "http://127.0.0.1:9", "library", 10);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for bad in [
            "../../etc/passwd",
            "a/b",
            "%2e%2e",
            "-rf",
            "a?b",
            "x#y",
            "a b",
        ] {
            let e = rt.block_on(client.detail(bad)).unwrap_err();
            assert_eq!(e.exit_code(), 3, "{e}");
            assert!(
                e.to_string()
                    .starts_with("not requesting the Hub for repository \""),
                "{e}"
            );
            let e = rt.block_on(client.tags(bad)).unwrap_err().to_string();
            assert!(e.contains(&crate::names::quote(bad)), "{e}");
        }
        assert_eq!(
            client
                .http()
                .stats
                .requests
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn real_list_and_tag_captures_deserialize() {
        let Some(dir) =
            crate::public_data::require("hub::real_list_and_tag_captures_deserialize", "hub-api")
        else {
            return;
        };
        let dir = dir.display();
        let list = std::fs::read_to_string(format!(
            "{dir}/list-namespace-repositories.bbot-fixture.json"
        ))
        .unwrap();
        let page: Page<RepoItem> = serde_json::from_str(&list).unwrap();
        assert_eq!(page.count, Some(2));
        assert_eq!(page.results[0].name, "helloworld");
        assert_eq!(
            page.results[1].last_updated.as_deref(),
            Some("2022-01-10T20:16:46.170738Z")
        );
        let both: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/repo-detail-and-tags.xmrig2021-r2021.json"))
                .unwrap(),
        )
        .unwrap();
        let detail: RepoDetail = serde_json::from_value(both["repo_detail"].clone()).unwrap();
        assert_eq!(detail.full_description.as_deref(), Some(""));
        let tags: Page<Tag> = serde_json::from_value(both["tags"].clone()).unwrap();
        assert_eq!(
            tags.results[0].images[0].digest.as_deref().map(|d| &d[..7]),
            Some("sha256:")
        );
        assert_eq!(tags.results[0].images[0].size, Some(8988370));
    }
}
