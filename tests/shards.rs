//! Sharded scans (`scan --shard I/N`): the shards' parts together equal an unsharded run, a
//! partition with a missing part is refused naming the missing shards, a re-run shard
//! replaces only its part, and the two layouts never mix.

use std::path::Path;

use arrow_array::{Array, RecordBatch};
use hubaudit::catalog::{self, FINDINGS, IMAGES, SCANS, SCAN_RAW};
use hubaudit::io::partition::{self, Shard};
use hubaudit::stages::{join, scan};

use crate::util::{date, scan_options, Workdir};

const SNAPSHOT: &str = "2021-08-24";

/// Sample images of several families, plus one without tags when the world has one.
const IMAGES_SCANNED: [&str; 8] = [
    "alpine", "nginx", "centos", "nuxeo", "backdrop", "redis", "ubuntu", "busybox",
];

fn options(w: &Workdir, shard: Option<Shard>) -> scan::Options {
    scan::Options {
        images_from: scan::ImageSource::Archive(
            w.path().join("capture").join(SNAPSHOT).join("images"),
        ),
        images: IMAGES_SCANNED.iter().map(|s| s.to_string()).collect(),
        shard,
        ..scan_options(w, SNAPSHOT)
    }
}

fn shard(i: u32, n: u32) -> Option<Shard> {
    Some(Shard::new(i, n).unwrap())
}

fn join_options(w: &Workdir) -> join::Options {
    join::Options {
        datasets: w.datasets(),
        snapshot: date(SNAPSHOT),
        reference: None,
    }
}

/// Every row of a partition (all parts), as sorted text lines without the columns that vary
/// from run to run (durations; layers analysed depend on each process's own layer cache).
fn rows(root: &Path, ds: &catalog::Dataset) -> Vec<String> {
    let schema = ds.schema.unwrap()();
    let files = partition::verified_files(root, ds, date(SNAPSHOT)).unwrap();
    let mut out = Vec::new();
    for f in files {
        let batch: RecordBatch = hubaudit::io::parquet::read_batch(&f, &schema).unwrap();
        for i in 0..batch.num_rows() {
            let cells: Vec<String> = schema
                .fields()
                .iter()
                .filter(|f| !["duration_ms", "layers_analysed"].contains(&f.name().as_str()))
                .map(|f| {
                    let col = batch.column_by_name(f.name()).unwrap();
                    arrow_cast_text(col.as_ref(), i)
                })
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

fn arrow_cast_text(col: &dyn Array, i: usize) -> String {
    if col.is_null(i) {
        return "∅".into();
    }
    let data = col.to_data();
    let one = arrow_array::make_array(data.slice(i, 1));
    format!("{one:?}")
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("")
}

fn part_names(root: &Path, ds: &catalog::Dataset) -> Vec<String> {
    let dir = catalog::partition_dir(root, ds, date(SNAPSHOT));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn two_shards_together_equal_one_unsharded_run_and_join_the_same_marts() {
    let whole = Workdir::new();
    whole.extract(SNAPSHOT, SNAPSHOT);
    let s = scan::run(&options(&whole, None)).unwrap();
    assert_eq!(s.images, IMAGES_SCANNED.len());

    let sharded = Workdir::new();
    sharded.extract(SNAPSHOT, SNAPSHOT);
    let a = scan::run(&options(&sharded, shard(0, 2))).unwrap();
    let b = scan::run(&options(&sharded, shard(1, 2))).unwrap();
    assert_eq!(
        a.images + b.images,
        IMAGES_SCANNED.len(),
        "each image in one shard"
    );
    assert!(
        a.images > 0 && b.images > 0,
        "both shards have work: {} {}",
        a.images,
        b.images
    );
    assert_eq!(
        part_names(&sharded.datasets(), &SCANS),
        [
            "_manifest.part-0-of-2.json",
            "_manifest.part-1-of-2.json",
            "part-0-of-2.parquet",
            "part-1-of-2.parquet"
        ]
    );
    for ds in [&SCANS, &FINDINGS] {
        let (x, y) = (rows(&whole.datasets(), ds), rows(&sharded.datasets(), ds));
        assert!(!x.is_empty(), "{}: rows", ds.id);
        assert_eq!(
            x, y,
            "{}: the shards' rows differ from the unsharded run's",
            ds.id
        );
    }
    // the raw captures: one record per image either way
    let raw = |root: &Path| -> usize {
        partition::manifests(root, &SCAN_RAW, date(SNAPSHOT))
            .unwrap()
            .iter()
            .map(|(_, m)| m["rows"].as_u64().unwrap() as usize)
            .sum()
    };
    assert_eq!(raw(&whole.datasets()), raw(&sharded.datasets()));

    join::run(&join_options(&whole)).unwrap();
    join::run(&join_options(&sharded)).unwrap();
    for ds in [&IMAGES, &catalog::FINDINGS_MART] {
        assert_eq!(
            rows(&whole.datasets(), ds),
            rows(&sharded.datasets(), ds),
            "{}: marts of the sharded run differ",
            ds.id
        );
    }
    let verified = hubaudit::verify::run(&sharded.datasets()).unwrap();
    assert!(verified.intact(), "{:?}", verified.damaged);
}

#[test]
fn a_missing_part_is_refused_naming_the_shard_and_a_rerun_replaces_only_its_part() {
    let w = Workdir::new();
    w.extract(SNAPSHOT, SNAPSHOT);
    scan::run(&options(&w, shard(0, 3))).unwrap();
    scan::run(&options(&w, shard(2, 3))).unwrap();
    let err = join::run(&join_options(&w)).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), hubaudit::error::exit::INPUT, "{text}");
    assert!(
        text.contains("incomplete")
            && text.contains("missing shard 1/3")
            && text.contains("--shard I/3"),
        "{text}"
    );
    let verified = hubaudit::verify::run(&w.datasets()).unwrap();
    assert!(
        verified
            .damaged
            .iter()
            .any(|d| d.contains("missing shard 1/3")),
        "{:?}",
        verified.damaged
    );
    // the CLI says the same and exits 3
    let out = w.cli(&["join", "--snapshot", SNAPSHOT]);
    assert_eq!(out.status.code(), Some(3), "{}", crate::util::text(&out));
    assert!(crate::util::text(&out).contains("missing shard 1/3"));

    // re-running shard 2 rewrites part 2 only; part 0 keeps its bytes and manifest
    let dir = catalog::partition_dir(&w.datasets(), &SCANS, date(SNAPSHOT));
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let (p0, m0, m2) = (
        read("part-0-of-3.parquet"),
        read("_manifest.part-0-of-3.json"),
        read("_manifest.part-2-of-3.json"),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    scan::run(&options(&w, shard(2, 3))).unwrap();
    assert_eq!(read("part-0-of-3.parquet"), p0);
    assert_eq!(read("_manifest.part-0-of-3.json"), m0);
    assert_ne!(read("_manifest.part-2-of-3.json"), m2, "created_at moves");

    scan::run(&options(&w, shard(1, 3))).unwrap();
    join::run(&join_options(&w)).unwrap();
}

#[test]
fn a_whole_write_and_a_sharded_write_replace_each_other_never_mix() {
    let w = Workdir::new();
    w.extract(SNAPSHOT, SNAPSHOT);
    scan::run(&options(&w, None)).unwrap();
    scan::run(&options(&w, shard(1, 2))).unwrap();
    // the whole partition is gone: the snapshot now waits for shard 0/2
    assert_eq!(
        part_names(&w.datasets(), &FINDINGS),
        ["_manifest.part-1-of-2.json", "part-1-of-2.parquet"]
    );
    let err = partition::verified_files(&w.datasets(), &FINDINGS, date(SNAPSHOT)).unwrap_err();
    assert!(err.to_string().contains("missing shard 0/2"), "{err}");
    // another shard count removes the parts of the first
    scan::run(&options(&w, shard(0, 1))).unwrap();
    assert_eq!(
        part_names(&w.datasets(), &FINDINGS),
        ["_manifest.part-0-of-1.json", "part-0-of-1.parquet"]
    );
    partition::verified_files(&w.datasets(), &FINDINGS, date(SNAPSHOT)).unwrap();
    // and a whole write replaces the parts
    scan::run(&options(&w, None)).unwrap();
    assert_eq!(
        part_names(&w.datasets(), &FINDINGS),
        ["_manifest.json", "part-0.parquet"]
    );
}

#[test]
fn every_reference_belongs_to_exactly_one_shard_and_the_hash_is_stable() {
    for n in 1..=7u32 {
        for k in 0..200 {
            let r = format!("library/image{k}:latest");
            let owners = (0..n)
                .filter(|i| Shard::new(*i, n).unwrap().owns(&r))
                .count();
            assert_eq!(owners, 1, "{r} of {n}");
        }
    }
    // the partition is part of the data layout: a changed hash would split old and new runs
    // differently, so its value for a few references is fixed here (sha256, first 8 bytes)
    let of4 = |r: &str| (0..4).find(|i| Shard::new(*i, 4).unwrap().owns(r)).unwrap();
    let got: Vec<u32> = [
        "library/nginx:latest",
        "library/alpine:latest",
        "library/nuxeo:latest",
    ]
    .iter()
    .map(|r| of4(r))
    .collect();
    let want: Vec<u32> = [
        "library/nginx:latest",
        "library/alpine:latest",
        "library/nuxeo:latest",
    ]
    .iter()
    .map(|r| {
        use sha2::Digest;
        let h = sha2::Sha256::digest(r.as_bytes());
        (u64::from_be_bytes(h[..8].try_into().unwrap()) % 4) as u32
    })
    .collect();
    assert_eq!(got, want);
}

#[test]
fn shard_arguments_and_the_indexed_job_environment_are_checked() {
    assert_eq!(Shard::parse("1/4").unwrap(), Shard::new(1, 4).unwrap());
    for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
        let e = Shard::parse(bad).unwrap_err().to_string();
        assert!(e.contains("--shard") && e.contains("I/N"), "{bad}: {e}");
    }
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
    assert_eq!(
        Shard::from_env(env(&[
            ("JOB_COMPLETION_INDEX", "2"),
            ("JOB_COMPLETIONS", "3")
        ]))
        .unwrap(),
        Some(Shard::new(2, 3).unwrap())
    );
    let only_index = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "2")]))
        .unwrap_err()
        .to_string();
    assert!(only_index.contains("JOB_COMPLETIONS"), "{only_index}");
    let beyond = Shard::from_env(env(&[
        ("JOB_COMPLETION_INDEX", "3"),
        ("JOB_COMPLETIONS", "3"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(beyond.contains("below N"), "{beyond}");
}

#[test]
fn the_cli_takes_the_shard_from_the_indexed_job_environment() {
    let w = Workdir::new();
    w.extract(SNAPSHOT, SNAPSHOT);
    let archives = w.path().join("capture").join(SNAPSHOT).join("images");
    let cache = w.path().join("capture/trivy-cache");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubaudit"))
        .args([
            "scan",
            "--snapshot",
            SNAPSHOT,
            "--image",
            "alpine",
            "--image",
            "nginx",
        ])
        .arg("--archive-dir")
        .arg(&archives)
        .arg("--trivy-cache")
        .arg(&cache)
        .arg("--trivy")
        .arg(crate::util::trivy())
        .env("HUBAUDIT_DATASETS", w.datasets())
        .env("JOB_COMPLETION_INDEX", "1")
        .env("JOB_COMPLETIONS", "2")
        .current_dir(w.path())
        .output()
        .unwrap();
    let text = crate::util::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("shard 1/2"), "{text}");
    assert!(
        catalog::partition_dir(&w.datasets(), &SCANS, date(SNAPSHOT))
            .join("_manifest.part-1-of-2.json")
            .exists()
    );
}

/// A `trivy server` this test starts, as deploy/trivy-server.yaml runs one for a fleet.
struct SharedServer {
    child: std::process::Child,
    url: String,
}

impl SharedServer {
    fn start(cache: &Path, token: &str) -> SharedServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(crate::util::trivy())
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--cache-dir")
            .arg(cache)
            .args([
                "--cache-backend",
                "memory",
                "--skip-db-update",
                "--token",
                token,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        SharedServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for SharedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn shards_scan_with_one_shared_trivy_server_and_find_what_their_own_server_finds() {
    let own = Workdir::new();
    own.extract(SNAPSHOT, SNAPSHOT);
    scan::run(&options(&own, None)).unwrap();

    let shared = Workdir::new();
    shared.extract(SNAPSHOT, SNAPSHOT);
    let server = SharedServer::start(&shared.path().join("capture/trivy-cache"), "fleet-token");
    let with_server = |i| scan::Options {
        trivy_server: Some((server.url.clone(), "fleet-token".into())),
        ..options(&shared, shard(i, 2))
    };
    let a = scan::run(&with_server(0)).unwrap();
    let b = scan::run(&with_server(1)).unwrap();
    assert_eq!(a.failed + b.failed, 0);
    assert!(
        a.db.is_none() && !a.db_stored,
        "a shared server's DB is not stored"
    );
    assert_eq!(a.provenance.trivy_version, "0.76.0");
    assert_eq!(
        a.provenance.db_updated_at.as_deref(),
        Some("2021-07-28T00:00:00Z"),
        "the DB date comes from the server"
    );
    assert_eq!(
        rows(&own.datasets(), &FINDINGS),
        rows(&shared.datasets(), &FINDINGS)
    );
    let scans = hubaudit::tables::read_scans(&shared.datasets(), date(SNAPSHOT)).unwrap();
    assert!(
        scans.iter().all(|r| r.db_digest.is_none()),
        "no digest of a DB this run never saw"
    );

    // a server that does not answer stops the run before any image, naming it (exit 2)
    let dead = scan::Options {
        trivy_server: Some(("http://127.0.0.1:9".into(), "t".into())),
        retry_budget: std::time::Duration::from_secs(2),
        ..options(&shared, None)
    };
    let err = scan::run(&dead).unwrap_err();
    assert_eq!(err.exit_code(), hubaudit::error::exit::UPSTREAM, "{err}");
    assert!(
        err.to_string().contains("http://127.0.0.1:9/healthz"),
        "{err}"
    );
}

#[test]
fn every_tag_is_scanned_beside_the_study_row_and_the_marts_keep_the_study_method() {
    let study = Workdir::new();
    study.extract(SNAPSHOT, SNAPSHOT);
    scan::run(&options(&study, None)).unwrap();
    join::run(&join_options(&study)).unwrap();

    let wide = Workdir::new();
    wide.extract(SNAPSHOT, SNAPSHOT);
    let s = scan::run(&scan::Options {
        tags: scan::TagScope::All,
        ..options(&wide, None)
    })
    .unwrap();
    let tags = hubaudit::tables::read_tags(&wide.datasets(), date(SNAPSHOT)).unwrap();
    let distinct: std::collections::BTreeSet<(String, String)> = tags
        .iter()
        .filter(|t| IMAGES_SCANNED.contains(&t.repository.as_str()))
        .map(|t| (t.repository.clone(), t.tag.clone()))
        .collect();
    assert_eq!(s.images, distinct.len(), "one row per tag");
    assert!(
        s.images > IMAGES_SCANNED.len(),
        "the sample images have several tags"
    );

    let read = |w: &Workdir| {
        let mut rows = hubaudit::tables::read_scans(&w.datasets(), date(SNAPSHOT)).unwrap();
        for r in &mut rows {
            r.duration_ms = None;
            r.layers_analysed = None;
        }
        rows
    };
    let wide_rows = read(&wide);
    for name in IMAGES_SCANNED {
        let of = |rows: &[hubaudit::tables::ScanRow]| {
            rows.iter()
                .filter(|r| r.name == name && !r.beyond_study)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(of(&wide_rows), of(&read(&study)), "{name}: the study's row");
        assert_eq!(of(&wide_rows).len(), 1, "{name}: one study row");
    }
    join::run(&join_options(&wide)).unwrap();
    for ds in [&IMAGES, &catalog::FINDINGS_MART] {
        assert_eq!(
            rows(&study.datasets(), ds),
            rows(&wide.datasets(), ds),
            "{}: the marts keep the study's method",
            ds.id
        );
    }
    // findings of the other tags stay in the staged table
    assert!(rows(&wide.datasets(), &FINDINGS).len() > rows(&study.datasets(), &FINDINGS).len());

    let err = scan::run(&scan::Options {
        platforms: scan::PlatformScope::All,
        ..options(&wide, None)
    })
    .unwrap_err();
    assert!(err.to_string().contains("--platforms all needs"), "{err}");
}
