//! extract-hub against the replay Hub: retries, rate limits, paging, fallback, incremental.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use hubaudit::catalog::{self, REPOSITORIES, TAGS};
use hubaudit::hub::HubClient;
use hubaudit::io::http::{JsonClient, RetryPolicy};
use hubaudit::sample::replay::{Fault, Knobs};
use hubaudit::stages::extract_hub;
use hubaudit::tables;

use crate::util::{date, fast_hub, Workdir};

fn list_client(url: &str, page_size: u32) -> HubClient {
    let hub = fast_hub(url);
    let http = JsonClient::new(RetryPolicy::from(&hub), 2, None).unwrap();
    HubClient::new(http, url, "library", page_size)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn full_extract_writes_every_repository_with_true_deprecation_state() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    let s = extract_hub::run(&w.extract_options(&hub.url_for(date("2021-08-24")), "2021-08-24"))
        .unwrap();
    assert_eq!(s.repositories, 168);
    assert_eq!(s.source, "sample");
    let rows = tables::read_repositories(&w.datasets(), date("2021-08-24")).unwrap();
    assert_eq!(rows.len(), 168);
    let java = rows.iter().find(|r| r.name == "java").unwrap();
    assert!(java.deprecated);
    assert_eq!(java.deprecation_targets, vec!["openjdk"]);
    assert_eq!(java.source, "sample");
    // nuxeo's notice starts 2021-09-03, after this capture.
    assert!(!rows.iter().find(|r| r.name == "nuxeo").unwrap().deprecated);
    // captured_at is the replay's capture time (its Date header), not the local clock.
    assert_eq!(java.captured_at.to_rfc3339(), "2021-08-24T06:00:00+00:00");
    let tags = tables::read_tags(&w.datasets(), date("2021-08-24")).unwrap();
    assert!(tags.iter().any(|t| t.repository == "nginx"
        && t.tag == "latest"
        && t.architecture.as_deref() == Some("arm64")));
    assert!(!tags
        .iter()
        .any(|t| t.repository == "elasticsearch" && t.tag == "latest"));
    // the raw layer holds every response
    let manifest = hubaudit::io::partition::read_manifest(
        &w.datasets(),
        &catalog::HUB_RAW,
        date("2021-08-24"),
    )
    .unwrap();
    assert_eq!(manifest["rows"].as_u64().unwrap(), s.requests);
}

#[test]
fn retry_after_seconds_is_honoured_with_a_measured_delay() {
    let w = Workdir::new();
    let hub = w.replay(Knobs {
        queue: vec![Fault::TooMany {
            secs: 2,
            unix: false,
        }],
        ..Knobs::default()
    });
    let client = list_client(&hub.url_for(date("2021-08-24")), 100);
    let start = Instant::now();
    let listing = block_on(client.repositories()).unwrap();
    let took = start.elapsed();
    assert_eq!(listing.items.len(), 168);
    assert!(took >= Duration::from_secs(2), "waited only {took:?}");
    assert!(took < Duration::from_secs(6), "waited {took:?}");
    hubaudit::reliability::record(
        "Hub API faults",
        "429 with Retry-After: 2 (seconds), then 429 with X-Retry-After (unix time)",
        2,
        "both waited the time asked (at least 2 s and at least 1 s) and the listing completed",
    );
}

#[test]
fn x_retry_after_unix_time_is_honoured() {
    let w = Workdir::new();
    let hub = w.replay(Knobs {
        queue: vec![Fault::TooMany {
            secs: 2,
            unix: true,
        }],
        ..Knobs::default()
    });
    let client = list_client(&hub.url_for(date("2021-08-24")), 100);
    let start = Instant::now();
    block_on(client.repositories()).unwrap();
    // unix-second granularity: at least one full second must have passed
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn server_errors_resets_and_truncated_bodies_are_retried_then_succeed() {
    let w = Workdir::new();
    let queue = vec![
        Fault::Status(503),
        Fault::Reset,
        Fault::Truncate,
        Fault::Status(502),
        Fault::Slow(Duration::from_millis(100)),
    ];
    let hub = w.replay(Knobs {
        queue,
        ..Knobs::default()
    });
    let mut opts = w.extract_options(&hub.url_for(date("2021-08-24")), "2021-08-24");
    opts.hub.max_attempts = 6; // the first request meets four faults in a row
    let s = extract_hub::run(&opts).unwrap();
    assert_eq!(s.repositories, 168);
    assert_eq!(
        s.attempts,
        s.requests + 4,
        "four faults cost four extra attempts"
    );
    hubaudit::reliability::record(
        "Hub API faults",
        "503, a TCP reset, a truncated JSON body, 502, a slow body, in a row",
        5,
        "retried with backoff: exactly 4 extra attempts, all 168 repositories extracted",
    );
}

#[test]
fn exhausted_budget_fails_naming_the_url_and_writes_nothing() {
    let w = Workdir::new();
    let hub = w.replay(Knobs {
        always: Some(Fault::Status(503)),
        ..Knobs::default()
    });
    let err = extract_hub::run(&w.extract_options(&hub.url_for(date("2021-08-24")), "2021-08-24"))
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(
        msg.contains("/v2/namespaces/library/repositories") && msg.contains("503"),
        "{msg}"
    );
    assert!(catalog::snapshots(&w.datasets(), &REPOSITORIES)
        .unwrap()
        .is_empty());
    assert!(!catalog::dataset_dir(&w.datasets(), &REPOSITORIES).exists());
    hubaudit::reliability::record(
        "Hub API faults",
        "503 on every request until the retry budget runs out",
        1,
        "exit 2 naming the URL and the status; no partition written, not even the dataset folder",
    );
}

#[test]
fn rate_limit_window_pauses_instead_of_failing() {
    let w = Workdir::new();
    // 3 requests per 2 s: listing 168 names at page size 40 takes 5 requests.
    let hub = w.replay(Knobs {
        rate_limit: Some((3, Duration::from_secs(2))),
        ..Knobs::default()
    });
    let client = list_client(&hub.url_for(date("2021-08-24")), 40);
    let start = Instant::now();
    let listing = block_on(client.repositories()).unwrap();
    assert_eq!(listing.items.len(), 168);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // The client waited for X-RateLimit-Reset before sending: no request met a 429.
    let stats = &client.http().stats;
    assert_eq!(stats.attempts.load(Relaxed), 5);
    assert_eq!(stats.retries.load(Relaxed), 0);
    hubaudit::reliability::record(
        "Hub API faults",
        "a rate limit of 3 requests per 2 s (X-RateLimit-Remaining/Reset)",
        5,
        "the client waited for the reset before sending: 5 requests, 0 of them answered 429",
    );
}

#[test]
fn a_response_slower_than_the_timeout_is_retried() {
    let w = Workdir::new();
    let hub = w.replay(Knobs {
        queue: vec![Fault::Slow(Duration::from_millis(2500))],
        ..Knobs::default()
    });
    let mut hub_config = fast_hub(&hub.url_for(date("2021-08-24")));
    hub_config.timeout_secs = 1;
    let http = JsonClient::new(RetryPolicy::from(&hub_config), 2, None).unwrap();
    let client = HubClient::new(http, &hub_config.url, "library", 100);
    let start = Instant::now();
    let listing = block_on(client.repositories()).unwrap();
    assert_eq!(listing.items.len(), 168);
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "the slow answer was awaited: {:?}",
        start.elapsed()
    );
    assert_eq!(client.http().stats.retries.load(Relaxed), 1);
    hubaudit::reliability::record(
        "Hub API faults",
        "an answer slower than the request timeout (2.5 s against 1 s)",
        1,
        "the request was abandoned at the timeout and retried once; the listing completed",
    );
}

#[test]
fn paging_loop_is_stopped_with_a_warning() {
    let w = Workdir::new();
    let hub = w.replay(Knobs {
        paging_loop: true,
        ..Knobs::default()
    });
    let client = list_client(&hub.url_for(date("2021-08-24")), 50);
    let listing = block_on(client.repositories()).unwrap();
    assert_eq!(listing.items.len(), 168, "each page read once");
    assert_eq!(listing.responses.len(), 4);
    assert!(
        listing.warnings.iter().any(|w| w.contains("paging loop")),
        "{:?}",
        listing.warnings
    );
    hubaudit::reliability::record(
        "Hub API faults",
        "a paging loop (the last page's next points back to the first)",
        1,
        "each page read once, 168 repositories, and a warning naming the loop",
    );
}

#[test]
fn legacy_paths_are_used_when_the_new_ones_are_missing() {
    let w = Workdir::new();
    let hub = w.replay(Knobs {
        legacy_only: true,
        ..Knobs::default()
    });
    let s = extract_hub::run(&w.extract_options(&hub.url_for(date("2021-07-29")), "2021-07-29"))
        .unwrap();
    assert_eq!(s.repositories, 167);
    let log = hub.requests();
    let new_paths = log.iter().filter(|r| r.contains("/v2/namespaces/")).count();
    assert_eq!(
        new_paths, 1,
        "the new path family is tried once, then the legacy one is kept"
    );
    assert!(log
        .iter()
        .any(|r| r.contains("/v2/repositories/library/nginx/tags/")));
}

#[test]
fn rerun_of_the_same_snapshot_gives_equal_tables() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    let opts = w.extract_options(&hub.url_for(date("2021-08-10")), "2021-08-10");
    extract_hub::run(&opts).unwrap();
    let read = |ds| {
        std::fs::read(catalog::partition_file(
            &w.datasets(),
            ds,
            date("2021-08-10"),
        ))
        .unwrap()
    };
    let (repos, tags) = (read(&REPOSITORIES), read(&TAGS));
    extract_hub::run(&opts).unwrap();
    assert!(
        repos == read(&REPOSITORIES),
        "repositories differ after a re-run"
    );
    assert!(tags == read(&TAGS), "tags differ after a re-run");
}

#[test]
fn incremental_run_fetches_only_changed_repositories() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    extract_hub::run(&w.extract_options(&hub.url_for(date("2021-07-29")), "2021-07-29")).unwrap();
    let before = hub.requests().len();
    let s = extract_hub::run(&w.extract_options(&hub.url_for(date("2021-08-10")), "2021-08-10"))
        .unwrap();
    let prev = tables::read_repositories(&w.datasets(), date("2021-07-29")).unwrap();
    let now = tables::read_repositories(&w.datasets(), date("2021-08-10")).unwrap();
    let unchanged = now
        .iter()
        .filter(|r| {
            prev.iter()
                .any(|p| p.name == r.name && p.last_updated == r.last_updated)
        })
        .count();
    assert!(unchanged > 0);
    assert_eq!(s.carried_forward, unchanged);
    assert_eq!(s.previous, Some(date("2021-07-29")));
    // 2 list pages + detail and one tag page per changed repository
    assert_eq!(hub.requests().len() - before, 2 + 2 * (167 - unchanged));
    let carried = now.iter().find(|r| r.carried_forward).unwrap();
    assert!(carried.detail_captured_at.unwrap() < carried.captured_at);
    // pull counts are current even when details are carried
    let old = prev.iter().find(|p| p.name == carried.name).unwrap();
    assert_ne!(carried.pull_count, old.pull_count);
    // fsharp became deprecated on 2021-07-30 and changed, so it was fetched again
    assert!(now.iter().find(|r| r.name == "fsharp").unwrap().deprecated);
}
