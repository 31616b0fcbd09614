//! Runs the scan's jobs on a pool of workers: an image analysis is one Trivy client process
//! (against the run's server), a rescan is one RPC; either ends as a scans row with its
//! findings and the raw answer.
//!
//! Clients run with `GOGC=off` and a `GOMEMLIMIT`: a Trivy process spends most of a small
//! scan starting up (about 100 ms of CPU before it reads a byte), and a third of that is the
//! garbage collector; with the limit, the collector still runs before a large image exhausts
//! memory. Transient failures (429 rate limits, 5xx, resets, timeouts talking to the registry)
//! are retried after a backoff within the retry budget; a 429 pauses every worker, since a
//! registry limits the account, not the worker.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::queue::Queue;
use super::raw::{RawRecord, RawStream};
use super::{fill_from_report, retry_policy, Job, Options, Outcome, Target};
use crate::catalog;
use crate::io::{command, http, partition, progress};
use crate::reference::EolTable;
use crate::tables::{Analysis, ScanRow, ScanStatus};
use crate::trivy::db::DbInfo;
use crate::trivy::server::TrivyServer;
use crate::trivy::{self, inventory, Provenance};

/// What every job of a run shares.
pub(super) struct Context<'a> {
    pub opts: &'a Options,
    /// Where each job's raw record goes, at the rank of `rank[job index]`.
    pub raw: &'a RawStream,
    pub rank: Vec<usize>,
    pub server: Option<&'a TrivyServer>,
    /// The registry client of live scans (its credentials passed the preflight).
    pub registry: Option<&'a crate::io::registry::Registry>,
    pub run_dir: &'a Path,
    pub provenance: &'a Provenance,
    pub db: &'a DbInfo,
    pub eol: &'a EolTable,
    pub source: &'a str,
}

/// Runs every job on `parallel` workers; outcomes in completion order.
pub(super) fn run_all(ctx: &Context, jobs: &[Job]) -> Vec<Outcome> {
    let queue = Queue::new(
        jobs.iter()
            .map(|j| match &j.target {
                Target::Archive { base, .. } => base.clone(),
                _ => None,
            })
            .collect(),
    );
    let bar = progress::bar(jobs.len() as u64, "scan");
    let out = Mutex::new(Vec::with_capacity(jobs.len()));
    let workers = ctx.opts.parallel.max(1).min(jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(i) = queue.next() {
                    let (o, record) = run_job(ctx, &queue, &jobs[i]);
                    ctx.raw.push(ctx.rank[i], &record);
                    queue.done(i, o.row.status == ScanStatus::Ok);
                    bar.set_message(jobs[i].name.clone());
                    bar.inc(1);
                    out.lock().expect("outcomes lock").push(o);
                }
            });
        }
    });
    bar.finish_and_clear();
    out.into_inner().expect("outcomes lock")
}

/// The row every outcome of `job` starts from.
fn base_row(ctx: &Context, job: &Job, analysis: Analysis) -> ScanRow {
    let image_ref = match &job.target {
        // relative names: a row never holds a path of the machine it ran on
        Target::Archive { .. } => format!("archive {}/{}.tar", job.name, job.tag),
        Target::Registry(r) => r.clone(),
        Target::Inventory(p) => format!(
            "inventory {}",
            p.file_name().unwrap_or_default().to_string_lossy()
        ),
    };
    ScanRow {
        name: job.name.clone(),
        tag: Some(job.tag.clone()),
        tag_reason: job.tag_reason.clone(),
        digest: job.digest.clone(),
        image_ref: Some(image_ref),
        analysis,
        trivy_version: Some(ctx.provenance.trivy_version.clone()),
        // the run's DB's date, or what a shared server says of its own
        db_updated_at: ctx
            .provenance
            .db_updated_at
            .as_deref()
            .and_then(crate::dates::parse_timestamp),
        // empty for a shared server's DB, which this run never saw
        db_digest: (!ctx.db.digest.is_empty()).then(|| ctx.db.digest.clone()),
        note: job.note.clone(),
        source: ctx.source.to_string(),
        platform: job.platform.clone(),
        beyond_study: job.beyond_study,
        ..ScanRow::default()
    }
}

fn run_job(ctx: &Context, queue: &Queue, job: &Job) -> (Outcome, RawRecord) {
    match &job.target {
        Target::Inventory(path) => rescan(ctx, job, path),
        _ => analyse(ctx, queue, job),
    }
}

/// Matches the stored inventory of the job's digest against the run's DB.
fn rescan(ctx: &Context, job: &Job, path: &Path) -> (Outcome, RawRecord) {
    let mut row = base_row(ctx, job, Analysis::SbomRescan);
    let started = Instant::now();
    let mut raw = RawRecord::head(
        json!({"name": job.name, "tag": job.tag, "analysis": "sbom_rescan", "inventory": row.image_ref}),
    );
    let answer = std::fs::read(path)
        .map_err(|e| format!("cannot read the stored inventory: {e}"))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| format!("the stored inventory is not JSON: {e}"))
        })
        .and_then(|inv| {
            let server = ctx.server.ok_or("no trivy server is running")?;
            let target = format!(
                "{}/{}@{}",
                ctx.opts.namespace,
                job.name,
                job.digest.as_deref().unwrap_or_default()
            );
            server.rescan(&target, &inv)
        });
    let findings = match answer {
        Ok((answer, report)) => {
            raw.report = Some(answer);
            fill_from_report(&mut row, &report, ctx.eol, ctx.opts.snapshot);
            row.status = ScanStatus::Ok;
            row.layers_analysed = Some(0);
            report.findings
        }
        Err(why) => {
            row.status = ScanStatus::Failed;
            row.error = Some(format!("rescan of the stored inventory failed: {why}"));
            Vec::new()
        }
    };
    row.duration_ms = Some(started.elapsed().as_millis() as i64);
    (Outcome { row, findings }, raw)
}

/// What kind of failure a client reported, by its stderr.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Failure {
    /// The registry's rate limit (429 `TOOMANYREQUESTS`): worth waiting for, by every worker.
    RateLimited,
    /// Network or server trouble worth another attempt.
    Transient,
    /// Anything else: retrying gives the same answer.
    Permanent,
}

/// Classifies a failed client's stderr. Patterns are whole phrases, never bare numbers (a
/// digest can contain "429").
pub(super) fn classify(stderr: &str) -> Failure {
    const RATE: &[&str] = &[
        "TOOMANYREQUESTS",
        "429 Too Many Requests",
        "status code 429",
    ];
    const TRANSIENT: &[&str] = &[
        "503 Service Unavailable",
        "502 Bad Gateway",
        "504 Gateway Timeout",
        "status code 503",
        "status code 502",
        "connection reset by peer",
        "i/o timeout",
        "TLS handshake timeout",
        "unexpected EOF while",
    ];
    if RATE.iter().any(|p| stderr.contains(p)) {
        Failure::RateLimited
    } else if TRANSIENT.iter().any(|p| stderr.contains(p)) {
        Failure::Transient
    } else {
        Failure::Permanent
    }
}

/// A plain-words reason for a failed client, where the stderr shows a known cause.
pub(super) fn explain(stderr: &str) -> Option<&'static str> {
    if stderr.contains("MANIFEST_UNKNOWN") || stderr.contains("manifest unknown") {
        Some("the digest is not in the registry (deleted, or never pushed, since the crawl)")
    } else if stderr.contains("UNAUTHORIZED") || stderr.contains("authentication required") {
        Some("the registry refused the credentials for this image")
    } else if classify(stderr) == Failure::RateLimited {
        Some("the registry's rate limit (429) outlasted the retry budget")
    } else {
        None
    }
}

/// For a failed pull: asks the registry (with the credentials the preflight accepted) whether
/// the digest is there. Trivy cannot say: after an authenticated 404 it retries without
/// credentials and reports that attempt's `UNAUTHORIZED`.
fn missing_digest(ctx: &Context, job: &Job) -> Option<&'static str> {
    let (Target::Registry(_), Some(registry), Some(digest)) =
        (&job.target, ctx.registry, job.digest.as_deref())
    else {
        return None;
    };
    let repo = format!("{}/{}", ctx.opts.namespace, job.name);
    matches!(registry.head_manifest(&repo, digest), Ok(None))
        .then_some("the digest is not in the registry (deleted, or never pushed, since the crawl)")
}

/// The client command of one analysis.
fn client(ctx: &Context, target: &Target, server: &TrivyServer) -> Command {
    let mut cmd = Command::new(&ctx.opts.trivy);
    cmd.arg("image");
    match target {
        Target::Archive { path, .. } => {
            cmd.arg("--input").arg(path);
        }
        Target::Registry(reference) => {
            cmd.arg(reference);
            if let Some(c) = &ctx.opts.credentials {
                // by environment only, never argv
                cmd.env("TRIVY_USERNAME", &c.username)
                    .env("TRIVY_PASSWORD", &c.password);
            }
        }
        Target::Inventory(_) => unreachable!("inventories are rescanned, not analysed"),
    }
    cmd.args(["--server", server.url()])
        .args(["--format", "json", "--list-all-pkgs", "--scanners", "vuln"])
        .args([
            "--skip-version-check",
            "--disable-telemetry",
            "--offline-scan",
        ])
        .args(["--skip-java-db-update", "--no-progress"])
        // the debug log names each layer the client analyses (the server lacked it)
        .arg("--debug")
        .arg("--cache-dir")
        .arg(ctx.run_dir.join("client"))
        .env("TRIVY_TOKEN", server.token())
        .env("GOGC", "off")
        .env("GOMEMLIMIT", format!("{}MiB", ctx.opts.client_memory_mib));
    cmd
}

/// Layers a client analysed: Trivy logs `Missing diff ID in cache` for each (debug level).
pub(super) fn layers_analysed(stderr: &str) -> i64 {
    stderr.matches("Missing diff ID in cache").count() as i64
}

/// Analyses the job's image with a Trivy client, retrying transient failures.
fn analyse(ctx: &Context, queue: &Queue, job: &Job) -> (Outcome, RawRecord) {
    let mut row = base_row(ctx, job, Analysis::Image);
    let Some(server) = ctx.server else {
        row.status = ScanStatus::Failed;
        row.error = Some("no trivy server is running".into());
        return (
            Outcome {
                row,
                findings: Vec::new(),
            },
            RawRecord::head(json!({"name": job.name})),
        );
    };
    let policy = retry_policy(ctx.opts);
    let started = Instant::now();
    let mut attempt = 0;
    let mut waited = Duration::ZERO;
    let finished = loop {
        attempt += 1;
        waited += queue.wait_pause();
        let f = command::run(&mut client(ctx, &job.target, server), ctx.opts.timeout);
        let Ok(done) = &f else { break f };
        if done.success() || done.timed_out {
            break f;
        }
        let failure = classify(&String::from_utf8_lossy(&done.stderr));
        let wait = http::backoff(&policy, attempt, fastrand::f64());
        let in_budget = started.elapsed() + wait <= policy.budget;
        if failure == Failure::Permanent || attempt >= policy.max_attempts || !in_budget {
            break f;
        }
        if failure == Failure::RateLimited {
            queue.pause(wait);
        } else {
            std::thread::sleep(wait);
            waited += wait;
        }
    };
    let retried = if attempt > 1 {
        format!(
            " (after {attempt} attempts over {:.0} s, {:.0} s of it waiting)",
            started.elapsed().as_secs_f64(),
            waited.as_secs_f64()
        )
    } else {
        String::new()
    };
    let mut raw = RawRecord::head(
        json!({"name": job.name, "tag": job.tag, "analysis": "image", "attempts": attempt}),
    );
    let mut findings = Vec::new();
    match &finished {
        Err(e) => {
            row.status = ScanStatus::Failed;
            row.error = Some(format!("cannot run {}: {e}", ctx.opts.trivy.display()));
        }
        Ok(f) if f.timed_out => {
            row.status = ScanStatus::Timeout;
            row.error = Some(format!(
                "no answer within {}s; the scan's process group was killed{retried}",
                ctx.opts.timeout.as_secs()
            ));
        }
        Ok(f) if !f.success() => {
            let stderr = String::from_utf8_lossy(&f.stderr);
            row.status = ScanStatus::Failed;
            let excerpt = command::stderr_excerpt(&f.stderr, 400);
            row.error = Some(
                match missing_digest(ctx, job).or_else(|| explain(&stderr)) {
                    Some(why) => format!("{why}{retried}: trivy exited {:?}: {excerpt}", f.code),
                    None => format!("trivy exited {:?}{retried}: {excerpt}", f.code),
                },
            );
        }
        Ok(f) => match trivy::parse_report(&f.stdout) {
            Err(why) => {
                row.status = ScanStatus::Failed;
                row.error = Some(format!("trivy printed no usable report: {why}"));
            }
            Ok(report) => {
                fill_from_report(&mut row, &report, ctx.eol, ctx.opts.snapshot);
                row.status = ScanStatus::Ok;
                row.layers_analysed = Some(layers_analysed(&String::from_utf8_lossy(&f.stderr)));
                if let Some(warning) = store_inventory(ctx, job, &f.stdout) {
                    row.note = Some(
                        [row.note.take().unwrap_or_default(), warning]
                            .join(" ")
                            .trim()
                            .to_string(),
                    );
                }
                raw.report = Some(f.stdout.clone());
                findings = report.findings;
            }
        },
    }
    if let Ok(f) = &finished {
        row.duration_ms = Some(started.elapsed().as_millis() as i64);
        raw.head["exit_code"] = json!(f.code);
        raw.head["stderr"] = json!(command::stderr_excerpt(&f.stderr, 400));
    }
    (Outcome { row, findings }, raw)
}

/// Writes the inventory of a first analysis; returns a warning when it could not.
fn store_inventory(ctx: &Context, job: &Job, printed: &[u8]) -> Option<String> {
    let digest = job.digest.as_deref()?;
    let path = catalog::inventory_path(&ctx.opts.datasets, digest);
    if path.exists() {
        return None;
    }
    let artifact = format!("{}/{}@{digest}", ctx.opts.namespace, job.name);
    let inv = match inventory::from_printed(printed, &artifact) {
        Ok(inv) => inv,
        Err(why) => return Some(format!("(no inventory stored: {why})")),
    };
    let text = serde_json::to_vec_pretty(&inv).expect("json serialises");
    partition::write_file_atomic(&path, &text)
        .err()
        .map(|e| format!("(no inventory stored: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_phrases_not_numbers() {
        let hub = "GET https://registry-1.docker.io/v2/library/nginx/manifests/sha256:1: TOOMANYREQUESTS: You have reached your pull rate limit";
        assert_eq!(classify(hub), Failure::RateLimited);
        assert_eq!(
            classify("unexpected status code 503 Service Unavailable"),
            Failure::Transient
        );
        assert_eq!(
            classify("read tcp: connection reset by peer"),
            Failure::Transient
        );
        let digest = "MANIFEST_UNKNOWN: manifest unknown; sha256:4291a503bb";
        assert_eq!(
            classify(digest),
            Failure::Permanent,
            "digits inside a digest are not a status"
        );
        assert!(explain(digest).unwrap().contains("not in the registry"));
        assert!(explain("UNAUTHORIZED: authentication required").is_some());
        assert_eq!(explain("archive/tar: invalid tar header"), None);
    }

    #[test]
    fn analysed_layers_are_counted_from_the_debug_log() {
        let log = "DEBUG [image] Missing image ID in cache\nDEBUG [image] Missing diff ID in cache diff_id=sha256:a\nDEBUG [image] Missing diff ID in cache diff_id=sha256:b\n";
        assert_eq!(layers_analysed(log), 2);
        assert_eq!(layers_analysed("INFO nothing missing"), 0);
    }
}
