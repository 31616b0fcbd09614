//! The scan stage with the real Trivy over the sample world's tarballs and DB: parity with
//! `--ignore-unfixed`, incremental SBOM rescans, EOL at the snapshot date, and every failure
//! mode as a row while the other images complete.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hubaudit::catalog::{self, FINDINGS, SCANS};
use hubaudit::io::parquet::{read_batch, Columns};
use hubaudit::stages::scan;

use crate::util::{date, report_options, scan_options, trivy, Workdir};

fn options(w: &Workdir, snapshot: &str, capture_date: &str) -> scan::Options {
    let archives = w.path().join("capture").join(capture_date).join("images");
    scan::Options {
        images_from: scan::ImageSource::Archive(archives),
        ..scan_options(w, snapshot)
    }
}

/// Extracts `capture_date` of the replay as `snapshot`.
fn extract(w: &Workdir, capture_date: &str, snapshot: &str) {
    w.extract(capture_date, snapshot);
}

/// What the tests read back of a scans row.
#[derive(Debug)]
struct Scanned {
    name: String,
    status: String,
    error: Option<String>,
    fixable: Option<i64>,
    eol: Option<bool>,
    eosl: Option<bool>,
}

type ScanView = Vec<Scanned>;

fn scans(w: &Workdir, snapshot: &str) -> ScanView {
    let path = catalog::partition_file(&w.datasets(), &SCANS, date(snapshot));
    let batch = read_batch(&path, &catalog::scans_schema()).unwrap();
    let c = Columns::new(&batch, "scans");
    let (n, s, e, f) = (
        c.strings("name").unwrap(),
        c.strings("status").unwrap(),
        c.strings("error").unwrap(),
        c.ints("fixable").unwrap(),
    );
    let eol = bools(&batch, "eol_at_snapshot");
    let eosl = bools(&batch, "trivy_eosl");
    (0..batch.num_rows())
        .map(|i| Scanned {
            name: n[i].clone().unwrap(),
            status: s[i].clone().unwrap(),
            error: e[i].clone(),
            fixable: f[i],
            eol: eol[i],
            eosl: eosl[i],
        })
        .collect()
}

fn bools(batch: &arrow_array::RecordBatch, name: &str) -> Vec<Option<bool>> {
    use arrow_array::Array;
    let a = batch
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::BooleanArray>()
        .unwrap();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

fn row<'a>(v: &'a ScanView, name: &str) -> &'a Scanned {
    v.iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} not scanned"))
}

#[test]
fn every_sample_image_fixable_count_equals_trivy_with_ignore_unfixed() {
    let w = Workdir::new();
    extract(&w, "2021-08-24", "2021-08-24");
    let s = scan::run(&options(&w, "2021-08-24", "2021-08-24")).unwrap();
    assert_eq!((s.images, s.ok, s.analyses), (168, 168, 168));
    assert_eq!(s.provenance.trivy_version, "0.76.0");
    assert_eq!(
        s.provenance.db_updated_at.as_deref(),
        Some("2021-07-28T00:00:00Z")
    );
    let view = scans(&w, "2021-08-24");
    let images = w.path().join("capture/2021-08-24/images");
    let cache = w.path().join("capture/trivy-cache");
    // Trivy itself, with --ignore-unfixed, on every image (two at a time)
    let jobs: Vec<&Scanned> = view.iter().collect();
    let mismatches: Vec<String> = std::thread::scope(|sc| {
        let halves: Vec<_> = jobs
            .chunks(jobs.len().div_ceil(2))
            .map(|part| {
                let (images, cache) = (&images, &cache);
                sc.spawn(move || {
                    part.iter()
                        .filter_map(|r| {
                            let tar = tar_for(images, &r.name);
                            let theirs = ignore_unfixed_count(&tar, cache);
                            (Some(theirs) != r.fixable).then(|| {
                                format!(
                                    "{}: ours {:?}, trivy --ignore-unfixed {theirs}",
                                    r.name, r.fixable
                                )
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // every finding is kept: affected (unfixed) ones too
    assert!(
        s.findings > s.fixable,
        "unfixed findings are stored as well"
    );

    // the report lists the images over the threshold, the study's four with its figures
    hubaudit::stages::join::run(&hubaudit::stages::join::Options {
        datasets: w.datasets(),
        snapshot: date("2021-08-24"),
        reference: None,
    })
    .unwrap();
    let r = hubaudit::stages::report::run(&report_options(&w, "2021-08-24")).unwrap();
    assert_eq!(r.scans_snapshot, Some(date("2021-08-24")));
    let mut csv = csv::Reader::from_path(r.dir.join("vulnerable.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(|x| x.unwrap()).collect();
    let names: Vec<&str> = rows.iter().map(|x| &x[0]).collect();
    assert_eq!(&names[..3], &["nuxeo", "backdrop", "kaazing-gateway"]);
    assert!(names.contains(&"centos"));
    assert!(rows.iter().all(|x| x[2].parse::<i64>().unwrap() > 50));
    let nuxeo = &rows[0];
    assert_eq!(
        (&nuxeo[2], &nuxeo[11]),
        ("101", "186"),
        "ours (sample) next to the study's figure"
    );
    let html = std::fs::read_to_string(r.dir.join("index.html")).unwrap();
    assert!(html.contains("<table id=\"vulnerable\">"));
}

fn tar_for(images: &Path, name: &str) -> PathBuf {
    let latest = images.join(name).join("latest.tar");
    if latest.exists() {
        return latest;
    }
    // images without latest: the scan chose the most recently updated tag; all tags of an
    // image share one rootfs in the sample world, so any tag gives the same count
    std::fs::read_dir(images.join(name))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tar"))
        .unwrap()
}

fn ignore_unfixed_count(tar: &Path, cache: &Path) -> i64 {
    let out = Command::new(trivy())
        .args(["image", "--input"])
        .arg(tar)
        .args(hubaudit::trivy::offline_flags(cache))
        .args(["--format", "json", "--ignore-unfixed"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = hubaudit::trivy::parse_report(&out.stdout).unwrap();
    r.findings.len() as i64
}

#[test]
fn eol_is_evaluated_at_the_snapshot_date_next_to_trivys_eosl_of_today() {
    let w = Workdir::new();
    extract(&w, "2021-08-24", "2021-08-24");
    let mut o = options(&w, "2021-08-24", "2021-08-24");
    o.images = vec!["nuxeo".into(), "java".into()];
    scan::run(&o).unwrap();
    let v = scans(&w, "2021-08-24");
    // Debian 10 was supported in August 2021, though Trivy (today's clock) calls it EOSL
    assert_eq!(
        (row(&v, "nuxeo").eol, row(&v, "nuxeo").eosl),
        (Some(false), Some(true))
    );
    // Debian 8 had reached its end of life before the snapshot
    assert_eq!(row(&v, "java").eol, Some(true));
}

#[test]
fn unchanged_digests_are_rescanned_from_their_sbom_with_zero_image_analyses() {
    let w = Workdir::new();
    extract(&w, "2021-08-24", "2021-08-24");
    // a subset keeps the test quick; the property holds image by image
    let subset: Vec<String> =
        hubaudit::tables::read_repositories(&w.datasets(), date("2021-08-24"))
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .step_by(4)
            .collect();
    let mut first_opts = options(&w, "2021-08-24", "2021-08-24");
    first_opts.images = subset.clone();
    let first = scan::run(&first_opts).unwrap();
    assert_eq!(first.analyses, subset.len());
    // the same capture a day later: every digest is unchanged
    extract(&w, "2021-08-24", "2021-08-25");
    let mut second_opts = options(&w, "2021-08-25", "2021-08-24");
    second_opts.images = subset.clone();
    let second = scan::run(&second_opts).unwrap();
    assert_eq!(second.analyses, 0, "no image analysed again");
    assert_eq!(second.sbom_rescans, subset.len());
    let (a, b) = (scans(&w, "2021-08-24"), scans(&w, "2021-08-25"));
    for r in &a {
        assert_eq!(
            row(&b, &r.name).fixable,
            r.fixable,
            "{}: an SBOM rescan finds what the analysis found",
            r.name
        );
    }
}

#[test]
fn failures_become_rows_while_the_other_images_complete() {
    let w = Workdir::new();
    extract(&w, "2021-08-24", "2021-08-24");
    let images = w.path().join("capture/2021-08-24/images");
    // corrupt tarball
    std::fs::write(
        images.join("nginx/latest.tar"),
        b"this is not a tar archive",
    )
    .unwrap();
    // a hung scan: the archive is a FIFO nobody writes, so Trivy blocks opening it
    let fifo = images.join("redis/latest.tar");
    std::fs::remove_file(&fifo).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // non-JSON output: a wrapper prints garbage for one image and runs the real Trivy otherwise
    let wrapper = w.path().join("trivy-wrapper.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\ncase \"$*\" in *httpd/latest.tar*) echo 'Usage: not json'; exit 0;; esac\nexec {} \"$@\"\n", trivy().display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    let mut o = options(&w, "2021-08-24", "2021-08-24");
    o.trivy = wrapper;
    o.timeout = Duration::from_secs(4);
    o.images = ["nginx", "redis", "httpd", "alpine", "nuxeo"]
        .map(String::from)
        .to_vec();
    let s = scan::run(&o).unwrap();
    assert!(s.partial());
    assert_eq!((s.ok, s.failed, s.timed_out), (2, 2, 1));
    let v = scans(&w, "2021-08-24");
    let nginx = row(&v, "nginx");
    assert_eq!(nginx.status, "failed");
    assert!(
        nginx.error.as_deref().unwrap().contains("tar"),
        "{:?}",
        nginx.error
    );
    let redis = row(&v, "redis");
    assert_eq!(redis.status, "timeout");
    assert!(
        redis.error.as_deref().unwrap().contains("4s"),
        "{:?}",
        redis.error
    );
    let httpd = row(&v, "httpd");
    assert_eq!(httpd.status, "failed");
    assert!(
        httpd
            .error
            .as_deref()
            .unwrap()
            .contains("not a JSON report"),
        "{:?}",
        httpd.error
    );
    assert_eq!(row(&v, "alpine").status, "ok");
    assert_eq!(row(&v, "nuxeo").fixable, Some(101));
}

#[test]
fn a_corrupt_db_stops_the_run_before_any_image_as_bad_input() {
    let w = Workdir::new();
    extract(&w, "2021-08-24", "2021-08-24");
    let db = w.path().join("capture/trivy-cache/db/trivy.db");
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[4096 + 72] ^= 0xff; // break meta page 1's checksum
    bytes[72] ^= 0xff; // and page 0's
    std::fs::write(&db, bytes).unwrap();
    let mut o = options(&w, "2021-08-24", "2021-08-24");
    o.images = vec!["alpine".into(), "nuxeo".into()];
    let e = scan::run(&o).unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("checksum") && msg.contains("--trivy-cache"),
        "{msg}"
    );
    assert!(
        catalog::snapshots(&w.datasets(), &SCANS)
            .unwrap()
            .is_empty(),
        "no scans partition is written"
    );
}

#[test]
fn a_missing_binary_is_bad_input_naming_the_fix() {
    let err = hubaudit::trivy::locate(Some(Path::new("/nonexistent/trivy")), None).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("just tools"));
}

#[test]
fn unknown_image_is_bad_input() {
    let w = Workdir::new();
    extract(&w, "2021-08-24", "2021-08-24");
    let mut o = options(&w, "2021-08-24", "2021-08-24");
    o.images = vec!["no-such-image".into()];
    let err = scan::run(&o).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("no-such-image"));
}

#[test]
fn reports_of_both_json_schemas_are_ingested() {
    let Some(shared) = hubaudit::public_data::require(
        "scan::reports_of_both_json_schemas_are_ingested",
        "trivy-reports",
    ) else {
        return;
    };
    let w = Workdir::new();
    let dir = w.path().join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to) in [
        ("v0.19.2/alpine-39.json.golden", "alpine.json"),
        ("v0.20.0/centos-7-ignore-unfixed.json.golden", "centos.json"),
    ] {
        std::fs::copy(shared.join(from), dir.join(to)).unwrap();
    }
    std::fs::write(dir.join("broken.json"), b"{not json").unwrap();
    let mut o = options(&w, "2021-08-24", "2021-08-24");
    o.from_reports = Some(dir);
    let s = scan::run(&o).unwrap();
    assert_eq!((s.from_reports, s.ok, s.failed), (3, 2, 1));
    let v = scans(&w, "2021-08-24");
    assert_eq!(row(&v, "alpine").fixable, Some(10));
    assert_eq!(row(&v, "centos").fixable, Some(100));
    // Alpine 3.9 had reached its end of life (2020-11-01) by 2021-08-24
    assert_eq!(row(&v, "alpine").eol, Some(true));
    assert!(row(&v, "broken")
        .error
        .as_deref()
        .unwrap()
        .contains("not a JSON report"));
    let findings = read_batch(
        &catalog::partition_file(&w.datasets(), &FINDINGS, date("2021-08-24")),
        &catalog::findings_schema(),
    )
    .unwrap();
    assert_eq!(findings.num_rows(), 110);
}
