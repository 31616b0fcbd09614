//! `scan`: scans each repository's chosen tag with the real Trivy and stores every finding.
//!
//! Reads: `2_staged/repositories` and `2_staged/tags` of `--snapshot`, the previous snapshot
//! of `2_staged/scans` (for incremental runs), `reference/eol.csv`. Writes: `1_raw/scan`
//! (Trivy's JSON as printed), `2_staged/scans`, `2_staged/findings`, and CycloneDX SBOMs in
//! `1_raw/sbom/` (content-addressed by digest).
//!
//! Words: the *tag choice* is `latest`, else the most recently updated tag (the study's rule);
//! an *analysis* is Trivy reading an image; an *SBOM rescan* is Trivy matching an SBOM written
//! at an earlier analysis against this run's DB (used when the digest did not change). Scans
//! run WITHOUT `--ignore-unfixed`: every finding is kept with its status, and `fixable` (has a
//! fixed version) reproduces the study's `--ignore-unfixed` count.
//!
//! A failed image is a row (`failed`, `timeout`) with a stderr excerpt; the run goes on and the
//! exit code says "partial".

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDate;

use crate::catalog::{self, FINDINGS, REPOSITORIES, SCANS, SCAN_RAW};
use crate::error::{Error, Result};
use crate::io::parquet as pq;
use crate::io::{command, jsonl, partition, progress};
use crate::reference::{self, EolTable};
use crate::tables::{self, findings_batch, scans_batch, ScanRow, TagRow};
use crate::trivy::{self, Finding, Provenance, Report};

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dataset root.
    pub datasets: PathBuf,
    /// Snapshot whose catalog is scanned, and under which the scans are written.
    pub snapshot: NaiveDate,
    /// Trivy binary (already located).
    pub trivy: PathBuf,
    /// An existing Trivy cache with a DB; None = download the DB once into the datasets.
    pub cache_dir: Option<PathBuf>,
    /// Resolve `library/NAME:TAG` to `DIR/NAME/TAG.tar` instead of pulling from a registry.
    pub archive_dir: Option<PathBuf>,
    /// Ingest existing Trivy JSON reports from this folder instead of scanning.
    pub from_reports: Option<PathBuf>,
    /// Registry prefix for live scans (`docker.io`).
    pub registry: String,
    /// Hub namespace (`library`).
    pub namespace: String,
    /// Scans in parallel.
    pub parallel: usize,
    /// Per-scan timeout (the whole process group is killed).
    pub timeout: Duration,
    /// Extra attempts for transient failures.
    pub retries: u32,
    /// Only these images (empty = all).
    pub images: Vec<String>,
    /// Reference folder (`eol.csv`).
    pub reference: PathBuf,
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
    pub findings: usize,
    pub fixable: usize,
    pub provenance: Provenance,
}

impl Summary {
    /// Some images failed or timed out.
    pub fn partial(&self) -> bool {
        self.failed + self.timed_out > 0
    }
}

/// The tag to scan and why: `latest`, else the most recently updated tag. Returns the tag,
/// the reason and the amd64 (else first) platform digest.
pub fn choose_tag(tags: &[TagRow]) -> Option<(String, String, Option<String>)> {
    let digest_of = |tag: &str| {
        let rows: Vec<&TagRow> = tags.iter().filter(|t| t.tag == tag).collect();
        rows.iter()
            .find(|t| t.architecture.as_deref() == Some("amd64"))
            .or(rows.first())
            .and_then(|t| t.digest.clone())
    };
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

/// One unit of work.
#[derive(Debug, Clone)]
struct Job {
    name: String,
    tag: String,
    tag_reason: String,
    digest: Option<String>,
    /// `--input PATH` or an image reference.
    target: Target,
    note: Option<String>,
}

#[derive(Debug, Clone)]
enum Target {
    Archive(PathBuf),
    Registry(String),
    Sbom(PathBuf),
}

/// What one job produced.
struct Outcome {
    row: ScanRow,
    findings: Vec<Finding>,
    raw: serde_json::Value,
}

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let root = &opts.datasets;
    if let Some(dir) = &opts.from_reports {
        return ingest_reports(opts, dir);
    }
    if !catalog::snapshots(root, &REPOSITORIES)?.contains(&opts.snapshot) {
        let available = catalog::snapshots(root, &REPOSITORIES)?;
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
    let eol = reference::load_eol(&opts.reference)?;

    // One DB per run.
    let cache = match &opts.cache_dir {
        Some(c) => c.clone(),
        None => download_db(opts)?,
    };
    if !cache.join("db").join("metadata.json").exists() {
        return Err(Error::Input(format!(
            "{} holds no Trivy DB (db/metadata.json); point --trivy-cache at a Trivy cache, or leave it unset for a live download",
            cache.display()
        )));
    }
    let provenance = trivy::provenance(&opts.trivy, &cache)?;

    let previous = previous_digests(root, opts.snapshot)?;
    let mut rows = Vec::new();
    let mut jobs = Vec::new();
    for repo in repos
        .iter()
        .filter(|r| opts.images.is_empty() || opts.images.contains(&r.name))
    {
        let tags = tags_by_repo
            .get(&repo.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some((tag, reason, digest)) = choose_tag(tags) else {
            rows.push(ScanRow {
                name: repo.name.clone(),
                tag_reason: "no tags".into(),
                analysis: "none".into(),
                status: "no_tag".into(),
                error: Some("the repository has no tags to scan".into()),
                source: source.clone(),
                ..ScanRow::default()
            });
            continue;
        };
        let sbom = digest.as_deref().map(|d| catalog::sbom_path(root, d));
        let unchanged = digest.is_some() && previous.get(&repo.name) == digest.as_ref();
        let (target, note) = match (&sbom, &opts.archive_dir) {
            (Some(s), _) if unchanged && s.exists() => (Target::Sbom(s.clone()), None),
            (_, Some(dir)) => {
                let tar = dir.join(&repo.name).join(format!("{tag}.tar"));
                let note = std::fs::read_to_string(tar.with_extension("note")).ok();
                (Target::Archive(tar), note)
            }
            (_, None) => (
                Target::Registry(format!(
                    "{}/{}/{}:{tag}",
                    opts.registry, opts.namespace, repo.name
                )),
                None,
            ),
        };
        jobs.push(Job {
            name: repo.name.clone(),
            tag,
            tag_reason: reason,
            digest,
            target,
            note,
        });
    }

    let outcomes = run_jobs(opts, &cache, &jobs, &provenance, &eol, &source);
    let mut findings_rows: Vec<(ScanRow, Vec<Finding>)> = Vec::new();
    let mut raw = Vec::new();
    for o in outcomes {
        raw.push(o.raw);
        findings_rows.push((o.row.clone(), o.findings));
        rows.push(o.row);
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    findings_rows.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    write_outputs(root, opts.snapshot, &source, &rows, &findings_rows, &raw)?;
    Ok(summarise(opts.snapshot, &rows, &findings_rows, provenance))
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
        ok: count(&|r| r.status == "ok"),
        failed: count(&|r| r.status == "failed"),
        timed_out: count(&|r| r.status == "timeout"),
        no_tag: count(&|r| r.status == "no_tag"),
        analyses: count(&|r| r.analysis == "image"),
        sbom_rescans: count(&|r| r.analysis == "sbom_rescan"),
        from_reports: count(&|r| r.analysis == "report"),
        findings: findings.iter().map(|(_, f)| f.len()).sum(),
        fixable: findings
            .iter()
            .map(|(_, f)| f.iter().filter(|x| x.fixable()).count())
            .sum(),
        provenance,
    }
}

/// Digest scanned per image in the previous snapshot (successful scans only).
fn previous_digests(root: &Path, snapshot: NaiveDate) -> Result<HashMap<String, String>> {
    let Some(prev) = catalog::snapshot_before(root, &SCANS, snapshot)? else {
        return Ok(HashMap::new());
    };
    Ok(tables::read_scans(root, prev)?
        .into_iter()
        .filter(|r| r.status == "ok")
        .filter_map(|r| Some((r.name, r.digest?)))
        .collect())
}

/// Live runs: downloads the DB once into `DATASETS/.trivy-cache`.
fn download_db(opts: &Options) -> Result<PathBuf> {
    let cache = opts.datasets.join(".trivy-cache");
    let mut cmd = Command::new(&opts.trivy);
    cmd.args([
        "image",
        "--download-db-only",
        "--no-progress",
        "--quiet",
        "--cache-dir",
    ])
    .arg(&cache);
    let f = command::run(&mut cmd, opts.timeout)
        .map_err(|e| Error::Input(format!("cannot run {}: {e}", opts.trivy.display())))?;
    if !f.success() {
        return Err(Error::Upstream {
            url: "the Trivy DB download".into(),
            reason: format!(
                "{}; offline, point --trivy-cache at an existing cache",
                if f.timed_out {
                    "timed out".to_string()
                } else {
                    command::stderr_excerpt(&f.stderr, 400)
                }
            ),
        });
    }
    Ok(cache)
}

fn run_jobs(
    opts: &Options,
    cache: &Path,
    jobs: &[Job],
    prov: &Provenance,
    eol: &EolTable,
    source: &str,
) -> Vec<Outcome> {
    let bar = progress::bar(jobs.len() as u64, "scan");
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::with_capacity(jobs.len()));
    let workers = opts.parallel.max(1).min(jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let o = run_job(opts, cache, job, prov, eol, source);
                bar.set_message(job.name.clone());
                bar.inc(1);
                out.lock().expect("lock").push(o);
            });
        }
    });
    bar.finish_and_clear();
    out.into_inner().expect("lock")
}

/// Stderr patterns of failures worth another attempt (registry and network trouble).
const TRANSIENT: &[&str] = &[
    "TOOMANYREQUESTS",
    "429",
    "503",
    "connection reset",
    "i/o timeout",
    "TLS handshake timeout",
    "unexpected EOF while",
];

fn trivy_cmd(opts: &Options, cache: &Path, target: &Target, format: &str) -> Command {
    let mut cmd = Command::new(&opts.trivy);
    match target {
        Target::Archive(p) => {
            cmd.args(["image", "--input"]).arg(p);
        }
        Target::Registry(r) => {
            cmd.args(["image", "--image-src", "remote", r]);
            // credentials by environment only, never argv
            if let (Ok(u), Ok(p)) = (
                std::env::var("HUBAUDIT_REGISTRY_USERNAME"),
                std::env::var("HUBAUDIT_REGISTRY_PASSWORD"),
            ) {
                cmd.env("TRIVY_USERNAME", u).env("TRIVY_PASSWORD", p);
            }
        }
        Target::Sbom(p) => {
            cmd.arg("sbom").arg(p);
        }
    }
    cmd.args(trivy::offline_flags(cache))
        .args(["--format", format]);
    cmd
}

fn run_job(
    opts: &Options,
    cache: &Path,
    job: &Job,
    prov: &Provenance,
    eol: &EolTable,
    source: &str,
) -> Outcome {
    let analysis = if matches!(job.target, Target::Sbom(_)) {
        "sbom_rescan"
    } else {
        "image"
    };
    let image_ref = Some(match &job.target {
        Target::Archive(p) | Target::Sbom(p) => p.display().to_string(),
        Target::Registry(r) => r.clone(),
    });
    let mut row = ScanRow {
        name: job.name.clone(),
        tag: Some(job.tag.clone()),
        tag_reason: job.tag_reason.clone(),
        digest: job.digest.clone(),
        image_ref,
        analysis: analysis.into(),
        trivy_version: Some(prov.trivy_version.clone()),
        db_updated_at: prov
            .db_updated_at
            .as_deref()
            .and_then(crate::dates::parse_timestamp),
        note: job.note.clone(),
        source: source.to_string(),
        ..ScanRow::default()
    };
    let mut attempt = 0;
    let (finished, report) = loop {
        attempt += 1;
        let finished = command::run(
            &mut trivy_cmd(opts, cache, &job.target, "json"),
            opts.timeout,
        );
        let retry = |f: &command::Finished| {
            let err = String::from_utf8_lossy(&f.stderr);
            !f.success()
                && !f.timed_out
                && TRANSIENT.iter().any(|p| err.contains(p))
                && attempt <= opts.retries
        };
        match finished {
            Ok(f) if retry(&f) => continue,
            other => {
                let report = other
                    .as_ref()
                    .ok()
                    .filter(|f| f.success())
                    .map(|f| trivy::parse_report(&f.stdout));
                break (other, report);
            }
        }
    };
    let mut raw = serde_json::json!({"name": job.name, "tag": job.tag, "analysis": analysis, "attempts": attempt});
    let mut findings = Vec::new();
    match (&finished, report) {
        (Err(e), _) => {
            row.status = "failed".into();
            row.error = Some(format!("cannot run {}: {e}", opts.trivy.display()));
        }
        (Ok(f), _) if f.timed_out => {
            row.status = "timeout".into();
            row.error = Some(format!(
                "no answer within {}s; the scan's process group was killed",
                opts.timeout.as_secs()
            ));
        }
        (Ok(f), None) => {
            row.status = "failed".into();
            row.error = Some(format!(
                "trivy exited {:?}: {}",
                f.code,
                command::stderr_excerpt(&f.stderr, 400)
            ));
        }
        (Ok(_), Some(Err(why))) => {
            row.status = "failed".into();
            row.error = Some(format!("trivy printed no usable report: {why}"));
        }
        (Ok(f), Some(Ok(report))) => {
            raw["report"] = serde_json::from_slice(&f.stdout).unwrap_or_default();
            fill_from_report(&mut row, &report, eol, opts.snapshot);
            row.status = "ok".into();
            findings = report.findings;
            if analysis == "image" {
                if let Some(warning) = write_sbom(opts, cache, job) {
                    row.note = Some(
                        [row.note.take().unwrap_or_default(), warning]
                            .join(" ")
                            .trim()
                            .to_string(),
                    );
                }
            }
        }
    }
    if let Ok(f) = &finished {
        row.duration_ms = Some(f.elapsed.as_millis() as i64);
        raw["exit_code"] = serde_json::json!(f.code);
        raw["stderr"] = serde_json::json!(command::stderr_excerpt(&f.stderr, 400));
    }
    Outcome { row, findings, raw }
}

/// Writes the CycloneDX SBOM of a first analysis; returns a warning when it could not.
fn write_sbom(opts: &Options, cache: &Path, job: &Job) -> Option<String> {
    let path = catalog::sbom_path(&opts.datasets, job.digest.as_deref()?);
    if path.exists() {
        return None;
    }
    let f = match command::run(
        &mut trivy_cmd(opts, cache, &job.target, "cyclonedx"),
        opts.timeout,
    ) {
        Ok(f) if f.success() => f,
        Ok(f) => {
            return Some(format!(
                "(no SBOM stored: {})",
                command::stderr_excerpt(&f.stderr, 200)
            ))
        }
        Err(e) => return Some(format!("(no SBOM stored: {e})")),
    };
    partition::write_file_atomic(&path, &f.stdout)
        .err()
        .map(|e| format!("(no SBOM stored: {e})"))
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

/// `--from-reports DIR`: every `*.json` / `*.json.golden` file is one image's report; the image
/// name is the file name up to its first dot (or before `-ignore-unfixed`).
fn ingest_reports(opts: &Options, dir: &Path) -> Result<Summary> {
    let eol = reference::load_eol(&opts.reference)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.ends_with(".json") || n.ends_with(".json.golden")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Input(format!(
            "--from-reports {}: no *.json or *.json.golden files",
            dir.display()
        )));
    }
    let mut rows = Vec::new();
    let mut with_findings = Vec::new();
    let mut raw = Vec::new();
    for path in files {
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
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let mut row = ScanRow {
            name: name.clone(),
            tag_reason: "from an existing report".into(),
            image_ref: Some(path.display().to_string()),
            analysis: "report".into(),
            source: "report".into(),
            ..ScanRow::default()
        };
        let findings = match trivy::parse_report(&bytes) {
            Ok(report) => {
                fill_from_report(&mut row, &report, &eol, opts.snapshot);
                row.status = "ok".into();
                raw.push(serde_json::json!({"name": name, "analysis": "report", "file": file, "report": serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default()}));
                report.findings
            }
            Err(why) => {
                row.status = "failed".into();
                row.error = Some(format!("{file}: {why}"));
                Vec::new()
            }
        };
        with_findings.push((row.clone(), findings));
        rows.push(row);
    }
    write_outputs(
        &opts.datasets,
        opts.snapshot,
        "report",
        &rows,
        &with_findings,
        &raw,
    )?;
    Ok(summarise(
        opts.snapshot,
        &rows,
        &with_findings,
        Provenance::default(),
    ))
}

fn write_outputs(
    root: &Path,
    snapshot: NaiveDate,
    source: &str,
    rows: &[ScanRow],
    findings: &[(ScanRow, Vec<Finding>)],
    raw: &[serde_json::Value],
) -> Result<()> {
    partition::write_partition(root, &SCAN_RAW, snapshot, source, |path| {
        jsonl::write_gz(path, raw)
    })?;
    partition::write_partition(root, &SCANS, snapshot, source, |path| {
        pq::write_batch(path, &scans_batch(rows)?)
    })?;
    partition::write_partition(root, &FINDINGS, snapshot, source, |path| {
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
    fn release_keys_match_the_eol_table() {
        assert_eq!(release_key("debian", "10.10"), "10");
        assert_eq!(release_key("alpine", "3.14.1"), "3.14");
        assert_eq!(release_key("ubuntu", "20.04"), "20.04");
        assert_eq!(release_key("centos", "8.3.2011"), "8");
    }
}
