//! `pull-counts`: a light snapshot of pulls and stars from the repository list only (one
//! request per 100 repositories), cheap enough to run daily or more often.
//!
//! Reads: the Hub list endpoint. Writes: `1_raw/pull_counts` and `2_staged/pull_counts` for
//! `--snapshot`. Downloads in a window are computed later (`downloads.rs`, used by `join` and
//! `report`) from these rows and the pull counts `extract-hub` captured.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;

use chrono::{NaiveDate, Utc};

use crate::catalog::{PULL_COUNTS, PULL_COUNTS_RAW};
use crate::config::HubConfig;
use crate::dag::Stage;
use crate::dates::parse_timestamp;
use crate::error::{Error, Result};
use crate::hub::HubClient;
use crate::io::http::{Fetched, JsonClient, RetryPolicy};
use crate::io::{jsonl, parquet as pq, partition};

/// What to capture and where.
#[derive(Debug, Clone)]
pub struct Options {
    pub datasets: PathBuf,
    pub snapshot: NaiveDate,
    pub hub: HubConfig,
    pub token: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub snapshot: Option<NaiveDate>,
    pub repositories: usize,
    pub capped: usize,
    pub requests: u64,
    pub source: String,
    pub warnings: Vec<String>,
    /// Names outside Docker's reference grammar, dropped (each has a warning).
    pub rejected: usize,
}

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("starting the async runtime", e))?;
    let http = JsonClient::new(
        RetryPolicy::from(&opts.hub),
        opts.hub.concurrency,
        opts.token.clone(),
    )?;
    let client = HubClient::new(http, &opts.hub.url, &opts.hub.namespace, opts.hub.page_size);
    let listing = runtime.block_on(client.repositories())?;
    let source = crate::hub::source_of(&listing.responses);
    let captured = listing
        .responses
        .first()
        .map(|r| r.captured_at())
        .unwrap_or_else(Utc::now);
    let mut items = listing.items;
    let mut warnings = listing.warnings;
    // the same grammar as extract-hub: a name outside it is dropped with a warning naming it
    let before = items.len();
    items.retain(|i| match crate::names::repository(&i.name) {
        Ok(()) => true,
        Err(refused) => {
            warnings.push(format!("dropped from the pull counts: {refused}"));
            false
        }
    });
    let rejected = before - items.len();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    items.dedup_by(|a, b| a.name == b.name);
    let raw: Vec<serde_json::Value> = listing.responses.iter().map(Fetched::raw_record).collect();
    let batch = pq::named(
        crate::catalog::pull_counts_schema(),
        vec![
            (
                "name",
                pq::strings(items.iter().map(|i| Some(i.name.as_str()))),
            ),
            (
                "namespace",
                pq::strings(
                    items
                        .iter()
                        .map(|i| Some(i.namespace.as_deref().unwrap_or(&opts.hub.namespace))),
                ),
            ),
            ("pull_count", pq::ints(items.iter().map(|i| i.pull_count))),
            ("star_count", pq::ints(items.iter().map(|i| i.star_count))),
            (
                "last_updated",
                pq::timestamps(
                    items
                        .iter()
                        .map(|i| i.last_updated.as_deref().and_then(parse_timestamp)),
                ),
            ),
            (
                "captured_at",
                pq::timestamps(items.iter().map(|_| Some(captured))),
            ),
            (
                "source",
                pq::strings(items.iter().map(|_| Some(source.as_str()))),
            ),
        ],
    )?;
    partition::write_partition(
        &opts.datasets,
        Stage::PullCounts,
        &PULL_COUNTS_RAW,
        opts.snapshot,
        &source,
        |p| jsonl::write_gz(p, &raw),
    )?;
    partition::write_partition(
        &opts.datasets,
        Stage::PullCounts,
        &PULL_COUNTS,
        opts.snapshot,
        &source,
        |p| pq::write_batch(p, &batch),
    )?;
    Ok(Summary {
        snapshot: Some(opts.snapshot),
        repositories: items.len(),
        capped: items
            .iter()
            .filter(|i| i.pull_count == Some(crate::downloads::PULL_CAP))
            .count(),
        requests: client.http().stats.requests.load(Relaxed),
        source,
        warnings,
        rejected,
    })
}
