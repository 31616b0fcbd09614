//! `hubaudit sample run` killed with SIGKILL at points spread over the whole run: after each
//! kill every visible partition is intact and the next run (a re-run in the same folder)
//! completes; the last one's report is byte-identical to an uninterrupted run's.
//!
//! Words: a kill is aimed by *progress*, not time: run k is killed as soon as it has written
//! its m_k-th partition (counted by the manifests it wrote, which appear only once a partition
//! is complete), m_k spread from 0 (while the capture is built) to the last partition of a run.
//! A kill lands *between* partition writes when it leaves no unfinished partition folder under
//! `.tmp/`, *during* one when it does.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use hubaudit::catalog;

use crate::util::{compare_tables, files, trivy};

const KILLS: usize = 21;

/// `hubaudit sample run --datasets DATASETS`, with the project's Trivy on PATH.
fn sample_run(datasets: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubaudit"));
    let path = format!(
        "{}:{}",
        trivy().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.args(["sample", "run", "--datasets"])
        .arg(datasets)
        .env("PATH", path)
        .env_remove("HUBAUDIT_DATASETS")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Manifests under `root` written at or after `since`: the partitions a run has completed.
fn partitions_since(root: &Path, since: SystemTime) -> usize {
    catalog::ALL
        .iter()
        .flat_map(|ds| {
            std::fs::read_dir(catalog::dataset_dir(root, ds))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter(|e| {
            std::fs::metadata(e.path().join(catalog::MANIFEST))
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .count()
}

/// Unfinished partition folders under `.tmp/` (named after their dataset).
fn unfinished_partitions(root: &Path) -> usize {
    std::fs::read_dir(catalog::staging_area(root))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            catalog::ALL
                .iter()
                .any(|ds| name.starts_with(&format!("{}-", ds.id)))
        })
        .count()
}

#[test]
fn a_sample_run_killed_anywhere_leaves_every_partition_intact_and_reruns_to_the_same_report() {
    let t = tempfile::tempdir().unwrap();
    let reference = t.path().join("reference");
    assert!(sample_run(&reference).status().unwrap().success());
    let total = hubaudit::verify::run(&reference).unwrap().partitions;
    assert!(total > 30, "a run writes {total} partitions");

    let crashed = t.path().join("crashed");
    let (mut between, mut during, mut points) = (0, 0, Vec::new());
    for k in 0..KILLS {
        let target = k * total / KILLS;
        let since = SystemTime::now() - Duration::from_millis(5);
        let mut child = sample_run(&crashed).spawn().unwrap();
        let started = Instant::now();
        let written = loop {
            let n = partitions_since(&crashed, since);
            if n >= target {
                break n;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("run {k} ended ({status}) before its kill point {target}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "run {k} stalled"
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        points.push(written);
        if unfinished_partitions(&crashed) == 0 {
            between += 1;
        } else {
            during += 1;
        }
        if crashed.exists() {
            let v = hubaudit::verify::run(&crashed).unwrap();
            assert!(
                v.intact(),
                "after kill {k} at partition {written}: {:?}",
                v.damaged
            );
        }
    }
    // the last run is not killed: it must finish and give the uninterrupted run's report
    assert!(sample_run(&crashed).status().unwrap().success());
    let v = hubaudit::verify::run(&crashed).unwrap();
    assert!(v.intact() && v.partitions == total, "{v:?}");
    assert!(v.unfinished.iter().all(|p| !p.exists()) || v.unfinished.is_empty());
    let (want, got) = (
        files(&reference.join("4_report")),
        files(&crashed.join("4_report")),
    );
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &want {
        assert!(
            got[name] == *bytes,
            "{name} differs from the uninterrupted run's"
        );
    }
    // the final run rescans from stored inventories what the uninterrupted one analysed: the
    // columns saying how an image was scanned differ, its results may not
    let how = [
        "staged.scans.analysis",
        "staged.scans.image_ref",
        "staged.scans.layers_analysed",
    ];
    let (tables, rows, _) = compare_tables(&reference, &crashed, &[], &how);

    let spread = points.iter().max().unwrap() - points.iter().min().unwrap();
    assert_eq!(points.len(), KILLS);
    assert!(
        points.iter().filter(|&&p| p == 0).count() <= 1,
        "kills spread: {points:?}"
    );
    assert!(
        spread * 10 >= total * 8,
        "kills cover the run: {points:?} of {total}"
    );
    assert!(
        between * 2 > KILLS,
        "most kills land between partition writes: {between} of {KILLS}"
    );
    // where each kill lands varies run to run: the record says what is aimed and asserted,
    // the split of this run goes to the test's output
    eprintln!("kills: {between} between partition writes, {during} during one; at {points:?}");
    hubaudit::reliability::record(
        "crash",
        "hubaudit sample run killed with SIGKILL, then re-run in the same folder",
        KILLS as u64,
        &format!(
            "{KILLS} kills aimed at every {} of the {total} partitions a run writes, from before the first to the last (more than half must land between partition writes, and do); after every kill all visible partitions were intact and the next run completed; the final report ({} files) is byte-identical and the tables ({tables} partitions, {rows} rows) equal to an uninterrupted run's but for how each image was scanned (analysed or rescanned)",
            ordinal(KILLS),
            want.len()
        ),
    );
}

/// `21` → `21st`.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
