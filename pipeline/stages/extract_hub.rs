//! `extract-hub`: crawls the Hub API for one namespace and writes a dated snapshot.
//!
//! Reads: the Hub API (list, detail, tags) and, for incremental runs, the previous snapshot of
//! `2_staged/repositories` and `2_staged/tags`. Writes: `1_raw/hub` (every response),
//! `2_staged/repositories` and `2_staged/tags` for `--snapshot`.
//!
//! Incremental: a repository whose `last_updated` equals the previous snapshot's keeps that
//! snapshot's detail and tags (no requests); its row says `carried_forward = true` and keeps
//! the old `detail_captured_at`. List fields (pulls, stars, dates) are always current.
//! Failure: if any request fails beyond its retry budget, nothing is written.
//!
//! Untrusted names: every repository name, tag and digest the Hub sends is checked against
//! Docker's reference grammar (`names`) before it is used in a URL or written to a staged
//! table that later stages turn into paths and command lines. A *reject* is a value that
//! fails: a repository with a bad name is dropped from the snapshot (no detail or tag
//! request is made for it); a tag with a bad name is dropped from its repository; a bad
//! platform digest is removed from its tag row (the tag stays, without a digest to pin, so a
//! live scan reports it as unscannable). Each reject is a warning naming the value escaped
//! (`names::quote`) and is listed in [`Summary::rejected`]; the run goes on. The raw layer
//! keeps the responses as received, so a reject can always be traced to what the Hub sent.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::task::JoinSet;

use crate::catalog::{self, HUB_RAW, REPOSITORIES, TAGS};
use crate::config::HubConfig;
use crate::dag::Stage;
use crate::dates::parse_timestamp;
use crate::error::{Error, Result};
use crate::hub::{HubClient, RepoDetail, RepoItem, Tag};
use crate::io::http::{Fetched, JsonClient, RetryPolicy};
use crate::io::{jsonl, parquet as pq, partition, progress};
use crate::names::{self, Refused};
use crate::notice;
use crate::tables::{self, RepoRow, TagRow};

/// What to extract and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dataset root.
    pub datasets: PathBuf,
    /// Snapshot date to write.
    pub snapshot: NaiveDate,
    /// Hub client settings (URL, namespace, limits).
    pub hub: HubConfig,
    /// Bearer token, from the environment.
    pub token: Option<String>,
    /// Ignore the previous snapshot and fetch every detail.
    pub full: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Snapshot written.
    pub snapshot: Option<NaiveDate>,
    /// Snapshot used for carrying details forward.
    pub previous: Option<NaiveDate>,
    /// `hub` or what a replay server declares (`sample`).
    pub source: String,
    /// Rows written.
    pub repositories: usize,
    /// Tag rows written.
    pub tags: usize,
    /// Deprecated repositories found.
    pub deprecated: usize,
    /// Repositories whose detail and tags were fetched.
    pub fetched: usize,
    /// Repositories carried forward.
    pub carried_forward: usize,
    /// HTTP requests (URLs) completed.
    pub requests: u64,
    /// HTTP exchanges, retries included.
    pub attempts: u64,
    /// Paging loops, count mismatches, and one line per reject.
    pub warnings: Vec<String>,
    /// Names, tags and digests refused by `names` (see the module docs), in the order seen.
    pub rejected: Vec<Reject>,
}

/// A Hub value refused before it reached a URL or a path (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The repository as the Hub listed it (for a refused repository name, the name itself).
    pub repository: String,
    /// What was refused and why; its `Display` names the value escaped.
    pub refused: Refused,
}

impl Reject {
    /// The warning line: what happened to the value, and why.
    pub fn warning(&self) -> String {
        match self.refused.kind {
            names::Kind::Repository => format!("dropped from the snapshot: {}", self.refused),
            names::Kind::Tag => format!(
                "repository {}: tag dropped: {}",
                names::quote(&self.repository),
                self.refused
            ),
            names::Kind::Digest => format!(
                "repository {}: platform digest removed from its tag row: {}",
                names::quote(&self.repository),
                self.refused
            ),
        }
    }
}

/// Splits a repository's tags into those whose names pass `names::tag` and rejects; a
/// platform digest failing `names::digest` is removed from its image (the image stays).
pub fn vet_tags(repository: &str, tags: Vec<Tag>) -> (Vec<Tag>, Vec<Reject>) {
    let reject = |refused| Reject {
        repository: repository.to_string(),
        refused,
    };
    let mut kept = Vec::with_capacity(tags.len());
    let mut rejected = Vec::new();
    for mut tag in tags {
        if let Err(refused) = names::tag(&tag.name) {
            rejected.push(reject(refused));
            continue;
        }
        for image in &mut tag.images {
            if let Some(Err(refused)) = image.digest.as_deref().map(names::digest) {
                rejected.push(reject(refused));
                image.digest = None;
            }
        }
        kept.push(tag);
    }
    (kept, rejected)
}

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let previous = if opts.full {
        None
    } else {
        catalog::snapshot_before(&opts.datasets, &REPOSITORIES, opts.snapshot)?
    };
    let prev = match previous {
        Some(d) => Some(Previous::load(&opts.datasets, d)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::internal("starting the async runtime", e))?;
    let crawl = runtime.block_on(crawl(opts, prev.as_ref()))?;
    drop(runtime);

    let source = crawl.source();
    let (repos, tags) = crawl.rows(&source, prev.as_ref());
    let root = &opts.datasets;
    partition::write_partition(
        root,
        Stage::ExtractHub,
        &HUB_RAW,
        opts.snapshot,
        &source,
        |path| {
            jsonl::write_gz(
                path,
                &crawl
                    .responses
                    .iter()
                    .map(Fetched::raw_record)
                    .collect::<Vec<_>>(),
            )
        },
    )?;
    partition::write_partition(
        root,
        Stage::ExtractHub,
        &REPOSITORIES,
        opts.snapshot,
        &source,
        |path| pq::write_batch(path, &tables::repositories_batch(&repos)?),
    )?;
    partition::write_partition(
        root,
        Stage::ExtractHub,
        &TAGS,
        opts.snapshot,
        &source,
        |path| pq::write_batch(path, &tables::tags_batch(&tags)?),
    )?;
    let stats = &crawl.stats;
    Ok(Summary {
        snapshot: Some(opts.snapshot),
        previous,
        source,
        repositories: repos.len(),
        tags: tags.len(),
        deprecated: repos.iter().filter(|r| r.deprecated).count(),
        fetched: crawl.fetched.len(),
        carried_forward: repos.iter().filter(|r| r.carried_forward).count(),
        requests: stats.0,
        attempts: stats.1,
        warnings: crawl.warnings.clone(),
        rejected: crawl.rejected.clone(),
    })
}

/// The previous snapshot's rows, by repository.
struct Previous {
    repos: HashMap<String, RepoRow>,
    tags: HashMap<String, Vec<TagRow>>,
}

impl Previous {
    fn load(root: &std::path::Path, date: NaiveDate) -> Result<Self> {
        let repos = tables::read_repositories(root, date)?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let mut tags: HashMap<String, Vec<TagRow>> = HashMap::new();
        if catalog::snapshots(root, &TAGS)?.contains(&date) {
            for t in tables::read_tags(root, date)? {
                tags.entry(t.repository.clone()).or_default().push(t);
            }
        }
        Ok(Previous { repos, tags })
    }

    /// Whether `item` can reuse the previous detail and tags.
    fn unchanged(&self, item: &RepoItem) -> bool {
        self.repos.get(&item.name).is_some_and(|r| {
            r.last_updated == item.last_updated.as_deref().and_then(parse_timestamp)
                && self.tags.contains_key(&item.name)
        })
    }
}

/// Everything the crawl received.
struct Crawl {
    list: Vec<RepoItem>,
    list_captured_at: DateTime<Utc>,
    fetched: BTreeMap<String, (RepoDetail, DateTime<Utc>, Vec<Tag>)>,
    responses: Vec<Fetched>,
    warnings: Vec<String>,
    rejected: Vec<Reject>,
    stats: (u64, u64),
}

impl Crawl {
    /// `hub`, unless the server declares itself a replay of another source.
    fn source(&self) -> String {
        crate::hub::source_of(&self.responses)
    }

    /// The staged rows, sorted.
    fn rows(&self, source: &str, prev: Option<&Previous>) -> (Vec<RepoRow>, Vec<TagRow>) {
        let captured = self.list_captured_at;
        let mut repos = Vec::new();
        let mut tags = Vec::new();
        for item in &self.list {
            if let Some((detail, detail_at, item_tags)) = self.fetched.get(&item.name) {
                repos.push(repo_row(item, detail, source, captured, *detail_at));
                tags.extend(tag_rows(&item.name, item_tags, source, *detail_at));
            } else if let Some(prev) = prev {
                let old = &prev.repos[&item.name];
                repos.push(carry_forward(old, item, source, captured));
                tags.extend(prev.tags[&item.name].iter().map(|t| TagRow {
                    carried_forward: true,
                    ..t.clone()
                }));
            }
        }
        repos.sort_by(|a, b| a.name.cmp(&b.name));
        tags.sort_by(|a, b| {
            (&a.repository, &a.tag, &a.os, &a.architecture, &a.variant).cmp(&(
                &b.repository,
                &b.tag,
                &b.os,
                &b.architecture,
                &b.variant,
            ))
        });
        (repos, tags)
    }
}

async fn crawl(opts: &Options, prev: Option<&Previous>) -> Result<Crawl> {
    let http = JsonClient::new(
        RetryPolicy::from(&opts.hub),
        opts.hub.concurrency,
        opts.token.clone(),
    )?;
    let client = Arc::new(HubClient::new(
        http,
        &opts.hub.url,
        &opts.hub.namespace,
        opts.hub.page_size,
    ));
    let listing = client.repositories().await?;
    let mut warnings = listing.warnings;
    let list_captured_at = listing
        .responses
        .first()
        .map(|r| r.captured_at())
        .unwrap_or_else(Utc::now);
    let mut rejected = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut list = Vec::new();
    for item in listing.items {
        // checked before anything else uses the name: no URL, no row, no path
        if let Err(refused) = names::hub_name(&item.name) {
            rejected.push(Reject {
                repository: item.name,
                refused,
            });
            continue;
        }
        if seen.insert(item.name.clone()) {
            list.push(item);
        } else {
            warnings.push(format!(
                "repository {:?} listed twice; kept the first",
                item.name
            ));
        }
    }
    let todo: Vec<String> = list
        .iter()
        .filter(|i| !prev.is_some_and(|p| p.unchanged(i)))
        .map(|i| i.name.clone())
        .collect();

    let bar = progress::bar(todo.len() as u64, "extract-hub");
    let mut set = JoinSet::new();
    for name in todo {
        let client = client.clone();
        set.spawn(async move {
            let (detail, fetched) = client.detail(&name).await?;
            let tags = client.tags(&name).await?;
            Ok::<_, Error>((name, detail, fetched, tags))
        });
    }
    let mut fetched = BTreeMap::new();
    let mut detail_responses = BTreeMap::new();
    let mut tag_rejects = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        let (name, detail, response, tags) =
            joined.map_err(|e| Error::data("a crawl task", e))??;
        bar.set_message(name.clone());
        bar.inc(1);
        warnings.extend(tags.warnings);
        let at = response.captured_at();
        let mut responses = vec![response];
        responses.extend(tags.responses);
        detail_responses.insert(name.clone(), responses);
        let (kept, refused) = vet_tags(&name, tags.items);
        tag_rejects.insert(name.clone(), refused);
        fetched.insert(name, (detail, at, kept));
    }
    // tasks finish in any order: rejects are listed by repository, so runs compare equal
    rejected.extend(tag_rejects.into_values().flatten());
    warnings.extend(rejected.iter().map(Reject::warning));
    bar.finish_and_clear();
    let mut responses = listing.responses;
    responses.extend(detail_responses.into_values().flatten());
    let stats = &client.http().stats;
    use std::sync::atomic::Ordering::Relaxed;
    Ok(Crawl {
        list,
        list_captured_at,
        fetched,
        responses,
        warnings,
        rejected,
        stats: (stats.requests.load(Relaxed), stats.attempts.load(Relaxed)),
    })
}

/// A staged repository row from a list item and its detail.
pub fn repo_row(
    item: &RepoItem,
    detail: &RepoDetail,
    source: &str,
    captured_at: DateTime<Utc>,
    detail_captured_at: DateTime<Utc>,
) -> RepoRow {
    let notice = detail
        .full_description
        .as_deref()
        .and_then(notice::find_notice);
    let detail_row = RepoRow {
        name: item.name.clone(),
        description: detail.description.clone(),
        full_description: detail.full_description.clone(),
        captured_at,
        detail_captured_at: Some(detail_captured_at),
        ..RepoRow::default()
    }
    .with_notice(notice);
    with_list_fields(detail_row, item, source, captured_at)
}

/// The previous row with this list item's current list fields.
pub fn carry_forward(
    old: &RepoRow,
    item: &RepoItem,
    source: &str,
    captured_at: DateTime<Utc>,
) -> RepoRow {
    RepoRow {
        carried_forward: true,
        ..with_list_fields(old.clone(), item, source, captured_at)
    }
}

/// `row` with the fields the list endpoint gives (always current, even when the detail
/// fields are carried forward).
fn with_list_fields(
    row: RepoRow,
    item: &RepoItem,
    source: &str,
    captured_at: DateTime<Utc>,
) -> RepoRow {
    RepoRow {
        name: item.name.clone(),
        namespace: item.namespace.clone().unwrap_or(row.namespace.clone()),
        description: item.description.clone().or(row.description.clone()),
        star_count: item.star_count,
        pull_count: item.pull_count,
        last_updated: item.last_updated.as_deref().and_then(parse_timestamp),
        date_registered: item.date_registered.as_deref().and_then(parse_timestamp),
        status: item.status_description.clone(),
        source: source.to_string(),
        captured_at,
        ..row
    }
}

/// Staged tag rows: one per tag × platform image.
pub fn tag_rows(
    repository: &str,
    tags: &[Tag],
    source: &str,
    captured_at: DateTime<Utc>,
) -> Vec<TagRow> {
    let mut rows = Vec::new();
    for tag in tags {
        let base = TagRow {
            repository: repository.to_string(),
            tag: tag.name.clone(),
            digest: None,
            os: None,
            architecture: None,
            variant: None,
            size: None,
            full_size: tag.full_size,
            last_updated: tag.last_updated.as_deref().and_then(parse_timestamp),
            last_pulled: None,
            last_pushed: None,
            tag_status: tag.tag_status.clone(),
            source: source.to_string(),
            captured_at,
            carried_forward: false,
        };
        if tag.images.is_empty() {
            rows.push(base);
            continue;
        }
        for image in &tag.images {
            rows.push(TagRow {
                digest: image.digest.clone(),
                os: image.os.clone(),
                architecture: image.architecture.clone(),
                variant: image.variant.clone().filter(|v| !v.is_empty()),
                size: image.size,
                last_pulled: image.last_pulled.as_deref().and_then(parse_timestamp),
                last_pushed: image.last_pushed.as_deref().and_then(parse_timestamp),
                ..base.clone()
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::TagImage;

    fn tag(name: &str, digests: &[&str]) -> Tag {
        Tag {
            name: name.into(),
            full_size: None,
            last_updated: None,
            tag_status: None,
            images: digests
                .iter()
                .map(|d| TagImage {
                    architecture: Some("amd64".into()),
                    os: None,
                    variant: None,
                    digest: Some(d.to_string()),
                    size: None,
                    last_pulled: None,
                    last_pushed: None,
                })
                .collect(),
        }
    }

    #[test]
    fn bad_tags_are_dropped_and_bad_digests_removed_with_a_reject_each() {
        let good = format!("sha256:{}", "ab".repeat(32));
        let (kept, rejected) = vet_tags(
            "nginx",
            vec![
                tag("latest", &[&good, "sha256:../../x"]),
                tag("../../etc/passwd", &[&good]),
                tag("a..b", &[]),
                tag("-x", &[]),
                tag("x\u{202e}", &[]),
            ],
        );
        let names: Vec<&str> = kept.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["latest", "a..b"]);
        assert_eq!(kept[0].images[0].digest.as_deref(), Some(good.as_str()));
        assert_eq!(kept[0].images[1].digest, None, "the image stays, unpinned");
        let kinds: Vec<names::Kind> = rejected.iter().map(|r| r.refused.kind).collect();
        use names::Kind::{Digest, Tag as T};
        assert_eq!(kinds, [Digest, T, T, T]);
        let lines: Vec<String> = rejected.iter().map(Reject::warning).collect();
        assert!(lines[0].starts_with("repository \"nginx\": platform digest removed"));
        assert!(lines[1].contains("tag \"../../etc/passwd\" refused: path traversal"));
        assert!(lines[3].contains("\"x\\u{202e}\""), "{}", lines[3]);
        assert!(lines.iter().all(|l| !l.contains('\u{202e}')));
    }

    #[test]
    fn a_refused_repository_warns_that_it_was_dropped() {
        let r = Reject {
            repository: "<script>".into(),
            refused: names::hub_name("<script>").unwrap_err(),
        };
        assert!(r
            .warning()
            .starts_with("dropped from the snapshot: repository \"<script>\" refused"));
    }
}
