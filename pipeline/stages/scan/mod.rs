//! `scan`: scans each repository's chosen tag with the real Trivy and stores every finding.
//!
//! Reads: `2_staged/repositories` and `2_staged/tags` of `--snapshot`, `reference/eol.csv`, the
//! stores of inventories (`1_raw/sbom/`) and DBs (`1_raw/trivy-db/`). Writes: `1_raw/scan`
//! (Trivy's JSON as printed), `2_staged/scans`, `2_staged/findings`, an inventory per newly
//! analysed image digest and the run's DB when it is new.
//!
//! Words: the *tag choice* is `latest`, else the most recently updated tag (the study's rule);
//! an *analysis* is a Trivy client reading an image (from an archive, or pulled from the
//! registry by digest, never by a moving tag); a *rescan* (`sbom_rescan` in the `analysis`
//! column) matches the stored inventory of a digest analysed before against this run's DB,
//! by RPC, without pulling or analysing the image. One `trivy server` per run holds the DB
//! and the layer cache (see `trivy::server`). Scans run WITHOUT `--ignore-unfixed`: every
//! finding is kept with its status, and `fixable` (has a fixed version) reproduces the
//! study's `--ignore-unfixed` count.
//!
//! Scale: `--tags`/`--platforms` widen the images of a repository beyond the study's choice
//! (each repository keeps exactly one `study_choice` row, which the marts read); `--shard I/N`
//! scans the images whose reference hashes to I and writes part I of each partition (see
//! `io::partition::Shard`); `--trivy-server` scans with a shared server instead of this run's.
//!
//! A failed image is a row (`failed`, `timeout`) with its reason; the run goes on and the exit
//! code says "partial". Credentials the registry rejects stop the run before any image (exit
//! 2); a 429 pauses every worker and is retried within the budget.

mod queue;
mod raw;
mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use crate::catalog::{self, FINDINGS, REPOSITORIES, SCANS, SCAN_RAW};
use crate::dag::Stage;
use crate::error::{Error, Result};
use crate::io::parquet as pq;
use crate::io::partition::Shard;
use crate::io::registry::{Credentials, Registry, RegistryError};
use crate::io::{command, http, partition};
use crate::reference::{self, EolTable};
use rayon::prelude::*;

use crate::tables::{self, findings_batch, scans_batch, Analysis, ScanRow, ScanStatus, TagRow};
use crate::trivy::db::{self as trivy_db, DbInfo};
use crate::trivy::server::TrivyServer;
use crate::trivy::{self, Finding, Provenance, Report};

/// Where a run's images come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// `DIR/NAME/TAG.tar` docker-save archives.
    Archive(PathBuf),
    /// A registry `HOST[:PORT]`; images are pulled as `HOST/NAMESPACE/NAME@DIGEST`.
    Registry(String),
}

/// Where a run's Trivy DB comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum DbSource {
    /// An existing Trivy cache folder holding `db/`.
    Cache(PathBuf),
    /// A DB an earlier run stored, by its digest (`sha256:…`).
    Stored(String),
    /// An OCI repository (`HOST/REPO[:TAG|@DIGEST]`, tag `2` when omitted): resolved to a
    /// digest, then downloaded with Trivy (`--download-db-only`) unless already stored.
    Download(String),
}

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dataset root.
    pub datasets: PathBuf,
    /// Snapshot whose catalog is scanned, and under which the scans are written.
    pub snapshot: NaiveDate,
    /// Trivy binary (already located).
    pub trivy: PathBuf,
    /// Where the DB comes from.
    pub db: DbSource,
    /// Where images come from.
    pub images_from: ImageSource,
    /// Ingest existing Trivy JSON reports from this folder instead of scanning.
    pub from_reports: Option<PathBuf>,
    /// Hub namespace (`library`).
    pub namespace: String,
    /// Scans in parallel.
    pub parallel: usize,
    /// Per-scan timeout (the whole process group is killed).
    pub timeout: Duration,
    /// Extra attempts for transient failures (rate limits, registry or network errors).
    pub retries: u32,
    /// Longest time one image may spend in retries and waits.
    pub retry_budget: Duration,
    /// First wait before a retry (doubling, with jitter).
    pub backoff_base: Duration,
    /// Only these images (empty = all).
    pub images: Vec<String>,
    /// Reference folder (`eol.csv`).
    pub reference: Option<PathBuf>,
    /// Registry credentials (from `HUBAUDIT_REGISTRY_USERNAME`/`_PASSWORD`).
    pub credentials: Option<Credentials>,
    /// Analyse every image, even digests whose inventory is stored.
    pub full: bool,
    /// `GOMEMLIMIT` of each Trivy client, in MiB (see `worker`).
    pub client_memory_mib: u64,
    /// Which tags of each repository (default: the study's one).
    pub tags: TagScope,
    /// Which platform images of each tag (default: amd64, else the first).
    pub platforms: PlatformScope,
    /// A shared `trivy server` (URL and token) to scan with instead of starting one: its DB is
    /// its own, so none is downloaded or stored and `db_digest` stays empty.
    pub trivy_server: Option<(String, String)>,
    /// Scan only the images this shard owns and write its part of each partition (see
    /// `io::partition::Shard`); None scans everything into whole partitions.
    pub shard: Option<Shard>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub snapshot: Option<NaiveDate>,
    pub images: usize,
    pub ok: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub no_tag: usize,
    pub analyses: usize,
    pub sbom_rescans: usize,
    pub from_reports: usize,
    /// Layers the clients analysed (a layer the server had cached is not analysed again).
    pub layer_analyses: usize,
    pub findings: usize,
    pub fixable: usize,
    pub provenance: Provenance,
    /// The run's DB.
    pub db: Option<DbInfo>,
    /// Whether the DB was stored by this run.
    pub db_stored: bool,
    /// The shard this run scanned, if any.
    pub shard: Option<Shard>,
}

impl Summary {
    /// Some images failed or timed out.
    pub fn partial(&self) -> bool {
        self.failed + self.timed_out > 0
    }
}

/// The study's platform image of `tag`: its amd64 row, else its first.
fn study_platform<'a>(tags: &'a [TagRow], tag: &str) -> Option<&'a TagRow> {
    let mut rows = tags.iter().filter(|t| t.tag == tag);
    let first = rows.clone().next();
    rows.find(|t| t.architecture.as_deref() == Some("amd64"))
        .or(first)
}

/// The tag to scan and why: `latest`, else the most recently updated tag. Returns the tag,
/// the reason and the amd64 (else first) platform digest.
pub fn choose_tag(tags: &[TagRow]) -> Option<(String, String, Option<String>)> {
    let digest_of = |tag: &str| study_platform(tags, tag).and_then(|t| t.digest.clone());
    if tags.iter().any(|t| t.tag == "latest") {
        return Some(("latest".into(), "latest".into(), digest_of("latest")));
    }
    let newest = tags.iter().max_by(|a, b| {
        a.last_updated
            .cmp(&b.last_updated)
            .then_with(|| b.tag.cmp(&a.tag))
    })?;
    let when = newest
        .last_updated
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "unknown time".into());
    Some((
        newest.tag.clone(),
        format!("no latest tag; most recently updated ({when})"),
        digest_of(&newest.tag),
    ))
}

/// Which tags of a repository a run scans (`--tags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagScope {
    /// The study's choice: `latest`, else the most recently updated tag.
    #[default]
    Latest,
    /// The N most recently updated tags, and the study's choice when it is not among them.
    Newest(usize),
    /// Every tag.
    All,
}

impl TagScope {
    /// `latest`, `all` or `N-newest`.
    pub fn parse(text: &str) -> Result<TagScope> {
        match text {
            "latest" => Ok(TagScope::Latest),
            "all" => Ok(TagScope::All),
            _ => text
                .strip_suffix("-newest")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .map(TagScope::Newest)
                .ok_or_else(|| {
                    Error::Input(format!(
                        "--tags {text:?}: write latest (the study's choice), all, or N-newest with N >= 1 (e.g. 3-newest)"
                    ))
                }),
        }
    }
}

/// Which platform images of a tag a run scans (`--platforms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlatformScope {
    /// The study's choice: the amd64 image, else the tag's first.
    #[default]
    Amd64,
    /// Every platform image of the tag.
    All,
}

impl PlatformScope {
    /// `amd64` or `all`.
    pub fn parse(text: &str) -> Result<PlatformScope> {
        match text {
            "amd64" => Ok(PlatformScope::Amd64),
            "all" => Ok(PlatformScope::All),
            _ => Err(Error::Input(format!(
                "--platforms {text:?}: write amd64 (the study's choice: amd64, else the first platform) or all"
            ))),
        }
    }
}

/// One image a run scans of a repository: a tag, a platform image of it, and whether it is
/// the study's choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub tag: String,
    pub reason: String,
    pub digest: Option<String>,
    /// `os/architecture[/variant]`.
    pub platform: Option<String>,
    /// Not the study's choice (another tag or platform).
    pub beyond_study: bool,
}

/// The images of a repository within `tags` × `platforms`, the study's choice first (the
/// only one with the defaults); other tags by most recent update, then name.
pub fn picks(tags: &[TagRow], scope: TagScope, platforms: PlatformScope) -> Vec<Pick> {
    let Some((chosen, chosen_reason, _)) = choose_tag(tags) else {
        return Vec::new();
    };
    let mut names: Vec<(&str, Option<chrono::DateTime<chrono::Utc>>)> = Vec::new();
    for t in tags {
        match names.iter_mut().find(|(n, _)| *n == t.tag) {
            Some((_, when)) => *when = (*when).max(t.last_updated),
            None => names.push((&t.tag, t.last_updated)),
        }
    }
    names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut chosen_tags: Vec<&str> = vec![&chosen];
    let others: Vec<&str> = match scope {
        TagScope::Latest => Vec::new(),
        TagScope::Newest(n) => names.iter().take(n).map(|(t, _)| *t).collect(),
        TagScope::All => names.iter().map(|(t, _)| *t).collect(),
    };
    for t in others {
        if !chosen_tags.contains(&t) {
            chosen_tags.push(t);
        }
    }
    let mut out = Vec::new();
    for tag in chosen_tags {
        let rows: Vec<&TagRow> = tags.iter().filter(|t| t.tag == tag).collect();
        let study_row = study_platform(tags, tag);
        let reason = if tag == chosen {
            chosen_reason.clone()
        } else {
            match scope {
                TagScope::Newest(n) => {
                    format!("--tags {n}-newest: one of the {n} most recently updated tags")
                }
                _ => "--tags all".to_string(),
            }
        };
        let selected: Vec<&TagRow> = match platforms {
            PlatformScope::Amd64 => study_row.into_iter().collect(),
            PlatformScope::All => {
                let mut seen: Vec<&Option<String>> = Vec::new();
                let mut v = Vec::new();
                // the study's platform first, then the others as the tag lists them
                for r in study_row.into_iter().chain(rows.iter().copied()) {
                    if !seen.contains(&&r.digest) {
                        seen.push(&r.digest);
                        v.push(r);
                    }
                }
                v
            }
        };
        for row in selected {
            let is_study_row = study_row.is_some_and(|s| std::ptr::eq(s, row));
            out.push(Pick {
                tag: tag.to_string(),
                reason: reason.clone(),
                digest: row.digest.clone(),
                platform: platform_of(row),
                beyond_study: !(tag == chosen && is_study_row),
            });
        }
    }
    out
}

/// `os/architecture[/variant]` of a tag row, None when it names no platform.
fn platform_of(row: &TagRow) -> Option<String> {
    let parts: Vec<&str> = [&row.os, &row.architecture, &row.variant]
        .into_iter()
        .filter_map(|p| p.as_deref().filter(|s| !s.is_empty()))
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The release key of an OS name in the EOL table: Debian and CentOS by major version,
/// Alpine by major.minor, Ubuntu as written.
pub fn release_key(family: &str, name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    match family {
        "alpine" => parts.iter().take(2).copied().collect::<Vec<_>>().join("."),
        "ubuntu" => name.to_string(),
        _ => parts.first().copied().unwrap_or_default().to_string(),
    }
}

/// Counts by severity: [total, critical, high, medium, low, unknown].
pub fn severity_counts<'a>(findings: impl Iterator<Item = &'a Finding>) -> [i64; 6] {
    let mut c = [0i64; 6];
    for f in findings {
        c[0] += 1;
        let i = match f.severity.as_str() {
            "CRITICAL" => 1,
            "HIGH" => 2,
            "MEDIUM" => 3,
            "LOW" => 4,
            _ => 5,
        };
        c[i] += 1;
    }
    c
}

/// What a job scans.
#[derive(Debug, Clone)]
enum Target {
    /// A docker-save archive, with its base layer's DiffID when the manifest names it.
    Archive { path: PathBuf, base: Option<String> },
    /// `HOST/NAMESPACE/NAME@DIGEST`.
    Registry(String),
    /// The stored inventory of the digest.
    Inventory(PathBuf),
}

/// One unit of work.
#[derive(Debug, Clone)]
struct Job {
    name: String,
    tag: String,
    tag_reason: String,
    digest: Option<String>,
    platform: Option<String>,
    beyond_study: bool,
    target: Target,
    note: Option<String>,
}

/// What one job produced (its raw record went to the run's [`raw::RawStream`]).
struct Outcome {
    row: ScanRow,
    findings: Vec<Finding>,
}

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let root = &opts.datasets;
    if let Some(dir) = &opts.from_reports {
        return ingest_reports(opts, dir);
    }
    let available = catalog::snapshots(root, &REPOSITORIES)?;
    if !available.contains(&opts.snapshot) {
        return Err(Error::Input(format!(
            "no repositories snapshot for {} in {}; run `hubaudit extract-hub --snapshot {}` first (available: {})",
            opts.snapshot,
            root.display(),
            opts.snapshot,
            if available.is_empty() { "none".to_string() } else { available.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ") }
        )));
    }
    let repos = tables::read_repositories(root, opts.snapshot)?;
    let mut tags_by_repo: BTreeMap<String, Vec<TagRow>> = BTreeMap::new();
    for t in tables::read_tags(root, opts.snapshot)? {
        tags_by_repo
            .entry(t.repository.clone())
            .or_default()
            .push(t);
    }
    let known: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
    for wanted in &opts.images {
        if !known.contains(&wanted.as_str()) {
            return Err(Error::Input(format!(
                "--image {wanted}: no such repository in the {} snapshot ({} repositories; e.g. {})",
                opts.snapshot,
                known.len(),
                known.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let source = repos
        .first()
        .map(|r| r.source.clone())
        .unwrap_or_else(|| "hub".into());
    let eol = reference::load_eol(opts.reference.as_deref())?;

    let selected: Vec<&tables::RepoRow> = repos
        .iter()
        .filter(|r| opts.images.is_empty() || opts.images.contains(&r.name))
        .collect();
    if opts.platforms == PlatformScope::All && matches!(opts.images_from, ImageSource::Archive(_)) {
        return Err(Error::Input(
            "--platforms all needs images from a registry (--registry): an archive DIR/NAME/TAG.tar holds one platform".into(),
        ));
    }
    let (mut rows, mut jobs) = plan(opts, &selected, &tags_by_repo, &source);
    if let Some(shard) = opts.shard {
        rows.retain(|r| shard.owns(&reference(&opts.namespace, &r.name, r.tag.as_deref())));
        jobs.retain(|j| shard.owns(&reference(&opts.namespace, &j.name, Some(&j.tag))));
    }
    let registry = preflight(opts, &jobs)?;

    let run_dir = RunDir::create(root)?;
    let (db, db_stored) = match &opts.trivy_server {
        // the shared server's DB: only its UpdatedAt is known (from the server, below)
        Some(_) => (
            DbInfo {
                digest: String::new(),
                updated_at: None,
                next_update: None,
                bytes: 0,
                artifact: None,
            },
            false,
        ),
        None => prepare_db(opts, registry.as_ref(), &run_dir.0)?,
    };
    let server = match (&opts.trivy_server, jobs.is_empty()) {
        (_, true) => None,
        (Some((url, token)), false) => {
            // a pod may start before the fleet's server is ready: wait up to the retry budget
            let within = opts.retry_budget.min(Duration::from_secs(120));
            Some(TrivyServer::connect(url, token, within)?)
        }
        (None, false) => {
            let started = TrivyServer::start(&opts.trivy, &run_dir.0, Duration::from_secs(60));
            Some(started.map_err(|e| unusable_db(e, &opts.db, &db))?)
        }
    };
    // the version of the Trivy that scans: the server's, else the binary's; the DB's date is
    // this run's DB's, or what a shared server says of its own
    let scanned_by = match &server {
        Some(s) => s.version()?,
        None => trivy::provenance(&opts.trivy, &run_dir.0)?,
    };
    let provenance = Provenance {
        db_updated_at: match &opts.trivy_server {
            Some(_) => scanned_by.db_updated_at.clone(),
            None => db.updated_at.clone(),
        },
        ..scanned_by
    };
    let stream = raw::RawStream::new();
    let ctx = worker::Context {
        opts,
        raw: &stream,
        rank: raw::ranks(&jobs.iter().map(|j| j.name.as_str()).collect::<Vec<_>>()),
        server: server.as_ref(),
        registry: registry.as_ref(),
        run_dir: &run_dir.0,
        provenance: &provenance,
        db: &db,
        eol: &eol,
        source: &source,
    };
    let outcomes = worker::run_all(&ctx, &jobs);
    drop(ctx);
    drop(server);

    let mut findings_rows: Vec<(ScanRow, Vec<Finding>)> = Vec::new();
    for mut o in outcomes {
        Finding::sort(&mut o.findings);
        findings_rows.push((o.row.clone(), o.findings));
        rows.push(o.row);
    }
    // the study's row of each repository first, then other tags and platforms
    let key = |r: &ScanRow| {
        (
            r.name.clone(),
            r.beyond_study,
            r.tag.clone(),
            r.platform.clone(),
        )
    };
    rows.sort_by_key(key);
    findings_rows.sort_by_key(|(r, _)| key(r));
    write_outputs(
        root,
        opts.snapshot,
        opts.shard,
        &source,
        &rows,
        &findings_rows,
        stream.finish(),
    )?;
    let mut summary = summarise(opts.snapshot, &rows, &findings_rows, provenance);
    summary.db = (!db.digest.is_empty()).then_some(db);
    summary.db_stored = db_stored;
    summary.shard = opts.shard;
    Ok(summary)
}

/// The jobs of a run, and rows for images that cannot be scanned (no tags; a registry scan
/// without a digest to pin; a name, tag or digest outside Docker's reference grammar).
fn plan(
    opts: &Options,
    repos: &[&tables::RepoRow],
    tags_by_repo: &BTreeMap<String, Vec<TagRow>>,
    source: &str,
) -> (Vec<ScanRow>, Vec<Job>) {
    let mut rows = Vec::new();
    let mut jobs = Vec::new();
    for repo in repos {
        let tags = tags_by_repo
            .get(&repo.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let picks = picks(tags, opts.tags, opts.platforms);
        if picks.is_empty() {
            rows.push(ScanRow {
                name: repo.name.clone(),
                tag_reason: "no tags".into(),
                analysis: Analysis::None,
                status: ScanStatus::NoTag,
                error: Some("the repository has no tags to scan".into()),
                source: source.to_string(),
                ..ScanRow::default()
            });
            continue;
        }
        for pick in picks {
            match plan_pick(opts, &repo.name, pick, source) {
                Ok(job) => jobs.push(job),
                Err(row) => rows.push(*row),
            }
        }
    }
    (rows, jobs)
}

/// The job that scans one pick of repository `name`, or the failed row saying why it cannot
/// be scanned (a name, tag or digest outside Docker's reference grammar; a registry scan
/// without a digest to pin).
fn plan_pick(
    opts: &Options,
    name: &str,
    pick: Pick,
    source: &str,
) -> std::result::Result<Job, Box<ScanRow>> {
    let failed = |pick: Pick, error: String| {
        Box::new(ScanRow {
            name: name.to_string(),
            tag: Some(pick.tag),
            tag_reason: pick.reason,
            analysis: Analysis::None,
            status: ScanStatus::Failed,
            error: Some(error),
            source: source.to_string(),
            platform: pick.platform,
            beyond_study: pick.beyond_study,
            ..ScanRow::default()
        })
    };
    // The staged tables may come from older runs or backfill: the name, tag and digest
    // become a path, a reference and an argv below, so one outside the grammar (`..`, a
    // `/` in a tag, a leading `-`) is a failed row naming it, never a job.
    let checked = crate::names::repository(name)
        .and_then(|()| crate::names::tag(&pick.tag))
        .and_then(|()| pick.digest.as_deref().map_or(Ok(()), crate::names::digest));
    if let Err(refused) = checked {
        return Err(failed(pick, format!("not scanned: {refused}")));
    }
    let inventory = pick
        .digest
        .as_deref()
        .map(|d| catalog::inventory_path(&opts.datasets, d))
        .filter(|p| !opts.full && p.exists());
    // a note beside an archive describes the image (the sample world's stand-ins), so it
    // travels with the image however it is scanned
    let archive = match &opts.images_from {
        ImageSource::Archive(dir) => Some(dir.join(name).join(format!("{}.tar", pick.tag))),
        ImageSource::Registry(_) => None,
    };
    let note = archive
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p.with_extension("note")).ok());
    let target = match (inventory, archive, &opts.images_from, &pick.digest) {
        (Some(inv), _, _, _) => Target::Inventory(inv),
        (None, Some(path), _, _) => {
            let base = archive_base_layer(&path);
            Target::Archive { path, base }
        }
        (None, None, ImageSource::Registry(host), Some(d)) => {
            Target::Registry(format!("{host}/{}/{name}@{d}", opts.namespace))
        }
        (None, None, _, _) => {
            return Err(failed(
                pick,
                "the snapshot lists no digest for this tag; live scans pull by digest only, never a moving tag".into(),
            ))
        }
    };
    Ok(Job {
        name: name.to_string(),
        tag: pick.tag,
        tag_reason: pick.reason,
        digest: pick.digest,
        platform: pick.platform,
        beyond_study: pick.beyond_study,
        target,
        note,
    })
}

/// The DiffID of a docker-save archive's first layer (its `manifest.json` names the layer
/// `HEX/layer.tar`), or None when the archive cannot be read (the scan will say why).
fn archive_base_layer(path: &Path) -> Option<String> {
    // a FIFO or device would block the open: only regular files are read
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries_with_seek().ok()? {
        let mut entry = entry.ok()?;
        if entry.path().ok()?.as_os_str() == "manifest.json" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).ok()?;
            let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
            let first = manifest[0]["Layers"][0].as_str()?;
            return first
                .split('/')
                .next()
                .map(|hex| format!("sha256:{}", hex.trim_start_matches("sha256:")));
        }
    }
    None
}

/// Before any pull: checks that the registry accepts the credentials (a wrong password fails
/// the run here, naming the registry, instead of failing every image). Waits out 429s within
/// the retry budget. Returns the client, which the DB download reuses.
fn preflight(opts: &Options, jobs: &[Job]) -> Result<Option<Registry>> {
    let ImageSource::Registry(host) = &opts.images_from else {
        return Ok(None);
    };
    let registry = Registry::new(host, opts.credentials.clone())?;
    let Some(first) = jobs
        .iter()
        .find(|j| matches!(j.target, Target::Registry(_)))
    else {
        return Ok(Some(registry));
    };
    let repo = format!("{}/{}", opts.namespace, first.name);
    let policy = retry_policy(opts);
    let start = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match registry.check_access(&repo) {
            Ok(()) => return Ok(Some(registry)),
            Err(RegistryError::TooManyRequests { retry_after, .. })
                if attempt < policy.max_attempts =>
            {
                let wait =
                    retry_after.unwrap_or_else(|| http::backoff(&policy, attempt, fastrand::f64()));
                if start.elapsed() + wait > policy.budget {
                    return Err(Error::Upstream {
                        url: host.clone(),
                        reason: format!(
                            "the registry kept answering 429 (rate limited) for {} s; try later or authenticate",
                            start.elapsed().as_secs()
                        ),
                    });
                }
                std::thread::sleep(wait);
            }
            Err(e @ RegistryError::Unauthorized { .. }) => {
                let who = match &opts.credentials {
                    Some(c) => format!(
                        "the credentials of HUBAUDIT_REGISTRY_USERNAME ({}) and HUBAUDIT_REGISTRY_PASSWORD were rejected",
                        c.username
                    ),
                    None => "anonymous pulls are refused; set HUBAUDIT_REGISTRY_USERNAME and HUBAUDIT_REGISTRY_PASSWORD".to_string(),
                };
                return Err(Error::Upstream {
                    url: host.clone(),
                    reason: format!("{who} ({e}); no image was scanned"),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A server that stops at start over its DB means a damaged DB: bad input (exit 3), named.
fn unusable_db(e: Error, source: &DbSource, db: &DbInfo) -> Error {
    match e {
        Error::Upstream { reason, .. } if reason.contains("DB") => {
            let from = match source {
                DbSource::Cache(dir) => format!("from --trivy-cache {}", dir.display()),
                DbSource::Stored(_) => "stored in 1_raw/trivy-db".to_string(),
                DbSource::Download(r) => format!("downloaded from {r}"),
            };
            Error::Input(format!(
                "Trivy cannot open the DB {} ({from}): {reason}; use another DB",
                db.digest
            ))
        }
        other => other,
    }
}

fn retry_policy(opts: &Options) -> http::RetryPolicy {
    http::RetryPolicy {
        max_attempts: opts.retries + 1,
        base: opts.backoff_base,
        max_backoff: Duration::from_secs(60),
        budget: opts.retry_budget,
        timeout: opts.timeout,
    }
}

/// A folder for one run's Trivy cache (the DB the server opens, its layer cache, the
/// clients' cache), removed when the run ends.
struct RunDir(PathBuf);

impl RunDir {
    fn create(root: &Path) -> Result<RunDir> {
        // named like partition temp folders (`…-PID-NANOS`) so an abandoned one is cleaned up
        let dir = catalog::staging_area(root).join(format!(
            "trivy-run-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(dir.join("db")).map_err(|e| Error::io(&dir, e))?;
        Ok(RunDir(dir))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Puts the run's DB into `RUN/db/` and keeps it in the store; returns it and whether it
/// was stored now.
fn prepare_db(opts: &Options, registry: Option<&Registry>, run: &Path) -> Result<(DbInfo, bool)> {
    let root = &opts.datasets;
    let db_dir = run.join("db");
    let info = match &opts.db {
        DbSource::Cache(dir) => {
            let from = dir.join("db");
            if !from.join("metadata.json").exists() {
                return Err(Error::Input(format!(
                    "{} holds no Trivy DB (db/metadata.json); point --trivy-cache at a Trivy cache, or leave it unset for a download",
                    dir.display()
                )));
            }
            trivy_db::link(&from, &db_dir)?;
            trivy_db::inspect(&db_dir)?
        }
        DbSource::Stored(digest) => trivy_db::restore(root, digest, &db_dir)?,
        DbSource::Download(reference) => download_db(opts, registry, reference, run)?,
    };
    let stored = trivy_db::store(root, &db_dir, &info)?;
    Ok((info, stored))
}

/// Resolves `reference` to a digest, and downloads that digest with Trivy unless a DB
/// downloaded from it is stored already.
fn download_db(
    opts: &Options,
    registry: Option<&Registry>,
    reference: &str,
    run: &Path,
) -> Result<DbInfo> {
    let (host, repo, tag) = split_reference(reference)?;
    // the scan registry's credentials apply to a DB kept in the same registry only
    let same = matches!(&opts.images_from, ImageSource::Registry(h) if *h == host);
    let credentials = same.then(|| opts.credentials.clone()).flatten();
    let digest = if tag.starts_with("sha256:") {
        tag.clone()
    } else {
        let own;
        let client = match (same, registry) {
            (true, Some(r)) => r,
            _ => {
                own = Registry::new(&host, credentials.clone())?;
                &own
            }
        };
        client
            .head_manifest(&repo, &tag)?
            .ok_or_else(|| Error::Upstream {
                url: reference.to_string(),
                reason: "no such Trivy DB artifact in the registry (404); check --db-repository"
                    .into(),
            })?
            .digest
    };
    let artifact = format!("{host}/{repo}@{digest}");
    if let Some(known) = trivy_db::stored(&opts.datasets)?
        .into_iter()
        .find(|d| d.artifact.as_deref() == Some(artifact.as_str()))
    {
        return trivy_db::restore(&opts.datasets, &known.digest, &run.join("db"));
    }
    let mut cmd = Command::new(&opts.trivy);
    cmd.args(["image", "--download-db-only", "--no-progress", "--quiet"])
        .args(["--db-repository", &artifact, "--cache-dir"])
        .arg(run);
    if let Some(c) = &credentials {
        // by environment, never argv
        cmd.env("TRIVY_USERNAME", &c.username)
            .env("TRIVY_PASSWORD", &c.password);
    }
    let f = command::run(&mut cmd, opts.timeout)
        .map_err(|e| Error::Input(format!("cannot run {}: {e}", opts.trivy.display())))?;
    if !f.success() {
        return Err(Error::Upstream {
            url: artifact,
            reason: format!(
                "the Trivy DB download failed: {}; offline, point --trivy-cache at an existing cache or --db at a stored DB",
                if f.timed_out {
                    "timed out".to_string()
                } else {
                    command::stderr_excerpt(&f.stderr, 400)
                }
            ),
        });
    }
    Ok(DbInfo {
        artifact: Some(artifact),
        ..trivy_db::inspect(&run.join("db"))?
    })
}

/// Splits `HOST/REPO[:TAG|@DIGEST]` (the form `--db-repository` takes); the tag defaults to
/// `2`, the schema version of Trivy's DB. A first part without `.` or `:` (and not
/// `localhost`) is a Docker Hub repository, as in Docker's reference grammar.
pub fn split_reference(text: &str) -> Result<(String, String, String)> {
    let bad = |why: &str| {
        Error::Input(format!(
            "--db-repository {text:?}: {why}; write it as HOST/REPOSITORY[:TAG|@sha256:DIGEST], e.g. mirror.gcr.io/aquasec/trivy-db:2"
        ))
    };
    if text.is_empty() || text.contains("://") || text.chars().any(char::is_whitespace) {
        return Err(bad("not a repository reference"));
    }
    let (name, reference) = match text.split_once('@') {
        Some((n, d)) if d.starts_with("sha256:") && d.len() == 71 => (n, d.to_string()),
        Some(_) => return Err(bad("the digest is not sha256:<64 hex digits>")),
        None => match text.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, t.to_string()),
            _ => (text, "2".to_string()),
        },
    };
    let (host, repo) = match name.split_once('/') {
        Some((h, r)) if h.contains('.') || h.contains(':') || h == "localhost" => {
            (h.to_string(), r.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    if repo.is_empty() || reference.is_empty() {
        return Err(bad("the repository or tag is empty"));
    }
    Ok((host, repo, reference))
}

fn summarise(
    snapshot: NaiveDate,
    rows: &[ScanRow],
    findings: &[(ScanRow, Vec<Finding>)],
    provenance: Provenance,
) -> Summary {
    let count = |f: &dyn Fn(&ScanRow) -> bool| rows.iter().filter(|r| f(r)).count();
    Summary {
        snapshot: Some(snapshot),
        images: rows.len(),
        ok: count(&|r| r.status == ScanStatus::Ok),
        failed: count(&|r| r.status == ScanStatus::Failed),
        timed_out: count(&|r| r.status == ScanStatus::Timeout),
        no_tag: count(&|r| r.status == ScanStatus::NoTag),
        analyses: count(&|r| r.analysis == Analysis::Image),
        sbom_rescans: count(&|r| r.analysis == Analysis::SbomRescan),
        from_reports: count(&|r| r.analysis == Analysis::Report),
        layer_analyses: rows.iter().filter_map(|r| r.layers_analysed).sum::<i64>() as usize,
        findings: findings.iter().map(|(_, f)| f.len()).sum(),
        fixable: findings
            .iter()
            .map(|(_, f)| f.iter().filter(|x| x.fixable()).count())
            .sum(),
        provenance,
        db: None,
        db_stored: false,
        shard: None,
    }
}

fn fill_from_report(row: &mut ScanRow, report: &Report, eol: &EolTable, snapshot: NaiveDate) {
    row.os_family = report.os_family.clone();
    row.os_name = report.os_name.clone();
    row.trivy_eosl = Some(report.eosl);
    if let (Some(fam), Some(name)) = (&report.os_family, &report.os_name) {
        row.eol_date = eol.get(&(fam.clone(), release_key(fam, name))).copied();
        row.eol_at_snapshot = row.eol_date.map(|d| snapshot >= d);
    }
    row.counts = Some(severity_counts(report.findings.iter()));
    row.fixable_counts = Some(severity_counts(
        report.findings.iter().filter(|f| f.fixable()),
    ));
}

/// `--from-reports DIR`: every `*.json` / `*.json.golden` file not starting with `.` is one
/// image's report; the image name is the file name up to its first dot (or before
/// `-ignore-unfixed`).
fn ingest_reports(opts: &Options, dir: &Path) -> Result<Summary> {
    let eol = reference::load_eol(opts.reference.as_deref())?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            // hidden files (an editor's or a tool's own notes) are not reports
            !n.starts_with('.') && (n.ends_with(".json") || n.ends_with(".json.golden"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Input(format!(
            "--from-reports {}: no *.json or *.json.golden files",
            dir.display()
        )));
    }
    // one report per task: reading and parsing run on every core; the raw stream puts the
    // records back in file order
    let stream = raw::RawStream::new();
    let with_findings: Vec<(ScanRow, Vec<Finding>)> = files
        .par_iter()
        .enumerate()
        .map(|(rank, path)| ingest_report(path, rank, &stream, &eol, opts.snapshot))
        .collect::<Result<_>>()?;
    let rows: Vec<ScanRow> = with_findings.iter().map(|(r, _)| r.clone()).collect();
    write_outputs(
        &opts.datasets,
        opts.snapshot,
        None,
        "report",
        &rows,
        &with_findings,
        stream.finish(),
    )?;
    Ok(summarise(
        opts.snapshot,
        &rows,
        &with_findings,
        Provenance::default(),
    ))
}

/// One report file of `--from-reports`: its scans row and findings; its raw record goes to
/// `stream` at `rank`.
fn ingest_report(
    path: &Path,
    rank: usize,
    stream: &raw::RawStream,
    eol: &EolTable,
    snapshot: NaiveDate,
) -> Result<(ScanRow, Vec<Finding>)> {
    let file = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let name = file
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_end_matches("-ignore-unfixed")
        .to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut row = ScanRow {
        name: name.clone(),
        tag_reason: "from an existing report".into(),
        // the file name, not its path: no table holds a path of the machine it ran on
        image_ref: Some(format!("report {file}")),
        analysis: Analysis::Report,
        source: "report".into(),
        ..ScanRow::default()
    };
    let findings = match trivy::parse_report(&bytes) {
        Ok(mut report) => {
            fill_from_report(&mut row, &report, eol, snapshot);
            row.status = ScanStatus::Ok;
            Finding::sort(&mut report.findings);
            report.findings
        }
        Err(why) => {
            row.status = ScanStatus::Failed;
            row.error = Some(format!("{file}: {why}"));
            Vec::new()
        }
    };
    let ok = row.status == ScanStatus::Ok;
    stream.push(
        rank,
        &raw::RawRecord {
            head: serde_json::json!({"name": name, "analysis": "report", "file": file, "status": row.status.as_str()}),
            report: ok.then_some(bytes),
        },
    );
    Ok((row, findings))
}

/// The reference a shard is chosen by: `NAMESPACE/NAME:TAG`, or `NAMESPACE/NAME` for a
/// repository without a tag to scan.
pub fn reference(namespace: &str, name: &str, tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!("{namespace}/{name}:{t}"),
        None => format!("{namespace}/{name}"),
    }
}

/// Writes the run's three partitions, whole or as `shard`'s parts.
fn write_outputs(
    root: &Path,
    snapshot: NaiveDate,
    shard: Option<Shard>,
    source: &str,
    rows: &[ScanRow],
    findings: &[(ScanRow, Vec<Finding>)],
    (raw, lines): (Vec<u8>, u64),
) -> Result<()> {
    let write = |ds: &catalog::Dataset, f: &dyn Fn(&Path) -> Result<u64>| match shard {
        Some(s) => partition::write_part(root, Stage::Scan, ds, snapshot, s, source, f),
        None => partition::write_partition(root, Stage::Scan, ds, snapshot, source, f),
    };
    write(&SCAN_RAW, &|path| {
        std::fs::write(path, &raw).map_err(|e| Error::io(path, e))?;
        Ok(lines)
    })?;
    write(&SCANS, &|path| pq::write_batch(path, &scans_batch(rows)?))?;
    write(&FINDINGS, &|path| {
        pq::write_batch(path, &findings_batch(findings)?)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn tag(name: &str, arch: &str, digest: &str, updated: &str) -> TagRow {
        TagRow {
            repository: "x".into(),
            tag: name.into(),
            digest: Some(digest.into()),
            os: Some("linux".into()),
            architecture: Some(arch.into()),
            variant: None,
            size: None,
            full_size: None,
            last_updated: crate::dates::parse_timestamp(updated),
            last_pulled: None,
            last_pushed: None,
            tag_status: None,
            source: "sample".into(),
            captured_at: Utc::now(),
            carried_forward: false,
        }
    }

    /// Three tags, two platforms each: `latest` is the oldest update, `2.0` the newest.
    fn three_tags() -> Vec<TagRow> {
        vec![
            tag("latest", "arm64", "sha256:la", "2021-08-01T00:00:00Z"),
            tag("latest", "amd64", "sha256:lx", "2021-08-01T00:00:00Z"),
            tag("1.0", "amd64", "sha256:1x", "2021-08-05T00:00:00Z"),
            tag("1.0", "arm64", "sha256:1a", "2021-08-05T00:00:00Z"),
            tag("2.0", "amd64", "sha256:2x", "2021-08-09T00:00:00Z"),
            tag("2.0", "arm64", "sha256:2a", "2021-08-09T00:00:00Z"),
        ]
    }

    fn summary(picks: &[Pick]) -> Vec<(String, String, bool)> {
        picks
            .iter()
            .map(|p| (p.tag.clone(), p.digest.clone().unwrap(), p.beyond_study))
            .collect()
    }

    #[test]
    fn the_defaults_pick_exactly_the_study_choice() {
        let tags = three_tags();
        let picks = picks(&tags, TagScope::Latest, PlatformScope::Amd64);
        let (t, reason, d) = choose_tag(&tags).unwrap();
        assert_eq!(summary(&picks), [(t, d.unwrap(), false)]);
        assert_eq!(picks[0].reason, reason);
        assert_eq!(picks[0].platform.as_deref(), Some("linux/amd64"));
    }

    #[test]
    fn more_tags_and_platforms_keep_one_study_row_first() {
        let tags = three_tags();
        let s = |scope, platforms| summary(&picks(&tags, scope, platforms));
        let own = |t: &str, d: &str, b| (t.to_string(), d.to_string(), b);
        // the newest tag is 2.0; latest (the study's) is kept first though it is older
        assert_eq!(
            s(TagScope::Newest(1), PlatformScope::Amd64),
            [
                own("latest", "sha256:lx", false),
                own("2.0", "sha256:2x", true)
            ]
        );
        assert_eq!(
            s(TagScope::All, PlatformScope::Amd64),
            [
                own("latest", "sha256:lx", false),
                own("2.0", "sha256:2x", true),
                own("1.0", "sha256:1x", true)
            ]
        );
        let all = s(TagScope::All, PlatformScope::All);
        assert_eq!(all.len(), 6);
        assert_eq!(all.iter().filter(|p| !p.2).count(), 1);
        assert_eq!(all[0], own("latest", "sha256:lx", false));
        assert_eq!(all[1], own("latest", "sha256:la", true));
        let p = picks(&tags, TagScope::Newest(2), PlatformScope::Amd64);
        assert!(
            p[1].reason.contains("2 most recently updated"),
            "{}",
            p[1].reason
        );
    }

    #[test]
    fn scope_words_parse_with_their_errors() {
        assert_eq!(TagScope::parse("latest").unwrap(), TagScope::Latest);
        assert_eq!(TagScope::parse("all").unwrap(), TagScope::All);
        assert_eq!(TagScope::parse("3-newest").unwrap(), TagScope::Newest(3));
        for bad in ["0-newest", "newest", "3", "Latest"] {
            let e = TagScope::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--tags") && e.contains("N-newest"), "{bad}: {e}");
        }
        assert_eq!(PlatformScope::parse("all").unwrap(), PlatformScope::All);
        assert!(PlatformScope::parse("arm64")
            .unwrap_err()
            .to_string()
            .contains("--platforms"));
    }

    #[test]
    fn latest_wins_and_its_amd64_digest_is_used() {
        let tags = [
            tag("latest", "arm64", "sha256:arm", "2021-01-01T00:00:00Z"),
            tag("latest", "amd64", "sha256:amd", "2021-01-01T00:00:00Z"),
            tag("8.0", "amd64", "sha256:new", "2021-06-01T00:00:00Z"),
        ];
        assert_eq!(
            choose_tag(&tags),
            Some(("latest".into(), "latest".into(), Some("sha256:amd".into())))
        );
    }

    #[test]
    fn without_latest_the_most_recently_updated_tag_is_chosen_and_said() {
        let tags = [
            tag("7.1", "amd64", "sha256:a", "2021-01-01T00:00:00Z"),
            tag("7.2", "amd64", "sha256:b", "2021-06-01T00:00:00Z"),
        ];
        let (t, why, d) = choose_tag(&tags).unwrap();
        assert_eq!((t.as_str(), d.as_deref()), ("7.2", Some("sha256:b")));
        assert!(
            why.contains("no latest tag") && why.contains("2021-06-01"),
            "{why}"
        );
        assert_eq!(choose_tag(&[]), None);
    }

    #[test]
    fn db_references_split_into_host_repository_and_tag() {
        let s = |t: &str| split_reference(t).unwrap();
        assert_eq!(
            s("127.0.0.1:5000/aquasec/trivy-db:2"),
            (
                "127.0.0.1:5000".into(),
                "aquasec/trivy-db".into(),
                "2".into()
            )
        );
        assert_eq!(
            s("mirror.gcr.io/aquasec/trivy-db"),
            (
                "mirror.gcr.io".into(),
                "aquasec/trivy-db".into(),
                "2".into()
            )
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(s(&format!("ghcr.io/aquasecurity/trivy-db@{d}")).2, d);
        assert_eq!(s("aquasec/trivy-db:2").0, "docker.io");
        for bad in ["", "https://ghcr.io/x", "ghcr.io/x@sha256:short", "a b/c"] {
            let e = split_reference(bad).unwrap_err();
            assert!(e.to_string().contains("--db-repository"), "{e}");
        }
    }

    #[test]
    fn release_keys_match_the_eol_table() {
        assert_eq!(release_key("debian", "10.10"), "10");
        assert_eq!(release_key("alpine", "3.14.1"), "3.14");
        assert_eq!(release_key("ubuntu", "20.04"), "20.04");
        assert_eq!(release_key("centos", "8.3.2011"), "8");
    }
}
