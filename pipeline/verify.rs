//! `hubaudit verify`: checks that every partition of every dataset, and every entry of the
//! content-addressed stores, is intact, and names each one that is not.
//!
//! Words: a partition is *intact* when its manifest parses, its data file has the size and
//! sha256 the manifest records, and the file reads as its dataset's format with the
//! manifest's row count (Parquet with the catalog's columns; gzip JSON lines). A partition
//! folder without a manifest is *incomplete* (a writer that was killed never renames one into
//! place, so this means someone copied or deleted files by hand). An *inventory* is intact when
//! it is JSON naming its own digest; a stored DB when its `trivy.db.gz` decompresses to the
//! digest `db.json` names. Unfinished writes under `.tmp/` are reported, not counted as damage.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::catalog::{self, Dataset};
use crate::error::Result;
use crate::io::partition;

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Partitions checked, intact or not.
    pub partitions: usize,
    /// Inventories checked.
    pub inventories: usize,
    /// Stored DBs checked.
    pub dbs: usize,
    /// One line per damaged partition or store entry, naming it and what is wrong.
    pub damaged: Vec<String>,
    /// Folders of unfinished writes under `.tmp/`.
    pub unfinished: Vec<PathBuf>,
}

impl Report {
    /// Nothing is damaged.
    pub fn intact(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// Checks everything under `root`.
pub fn run(root: &Path) -> Result<Report> {
    let mut report = Report::default();
    for ds in catalog::ALL {
        for dir in partition_dirs(root, ds) {
            report.partitions += 1;
            if let Err(why) = check_partition(root, ds, &dir) {
                report.damaged.push(format!("{}: {why}", dir.display()));
            }
        }
    }
    check_inventories(root, &mut report);
    check_dbs(root, &mut report);
    if let Ok(entries) = std::fs::read_dir(catalog::staging_area(root)) {
        report.unfinished = entries.flatten().map(|e| e.path()).collect();
        report.unfinished.sort();
    }
    report.damaged.sort();
    Ok(report)
}

/// Every `snapshot=…` folder of a dataset, with a manifest or not.
fn partition_dirs(root: &Path, ds: &Dataset) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(catalog::dataset_dir(root, ds)) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("snapshot="))
        })
        .collect();
    dirs.sort();
    dirs
}

fn check_partition(root: &Path, ds: &Dataset, dir: &Path) -> std::result::Result<(), String> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let snapshot = name
        .strip_prefix("snapshot=")
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| format!("{name:?} is not a snapshot=YYYY-MM-DD folder"))?;
    if !partition::has_manifest(dir) {
        return Err(format!(
            "incomplete: no {} (a writer renames a partition into place only with its manifest)",
            catalog::MANIFEST
        ));
    }
    // a sharded partition: every part, after the check that all of them are there
    for (file, manifest) in partition::manifests(root, ds, snapshot).map_err(|e| e.to_string())? {
        partition::check_file(&file, &manifest)?;
        let rows = manifest["rows"].as_u64();
        let read = match ds.schema {
            Some(schema) => crate::io::parquet::read_batch(&file, &schema())
                .map(|b| b.num_rows() as u64)
                .map_err(|e| e.to_string())?,
            None => count_gzip_lines(&file)?,
        };
        if rows != Some(read) {
            return Err(format!(
                "{} holds {read} rows, its manifest says {}",
                file.display(),
                rows.map_or("nothing".into(), |r| r.to_string())
            ));
        }
    }
    Ok(())
}

fn count_gzip_lines(path: &Path) -> std::result::Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file));
    let mut n = 0;
    for line in reader.lines() {
        let line = line.map_err(|e| format!("{}: not gzip JSON lines ({e})", path.display()))?;
        serde_json::from_str::<serde::de::IgnoredAny>(&line)
            .map_err(|e| format!("{}: line {} is not JSON ({e})", path.display(), n + 1))?;
        n += 1;
    }
    Ok(n)
}

fn check_inventories(root: &Path, report: &mut Report) {
    let dir = root.join(catalog::Layer::Raw.dir()).join("sbom");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        report.inventories += 1;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let digest = name
            .strip_suffix(".trivy.json")
            .map(|d| d.replacen('-', ":", 1));
        let check = || -> std::result::Result<(), String> {
            let digest = digest.ok_or("not a sha256-HEX.trivy.json inventory")?;
            let text = std::fs::read(&path).map_err(|e| e.to_string())?;
            let inv: serde_json::Value =
                serde_json::from_slice(&text).map_err(|e| format!("not JSON ({e})"))?;
            match inv["ArtifactName"].as_str() {
                Some(a) if a.ends_with(&format!("@{digest}")) => Ok(()),
                other => Err(format!(
                    "names {other:?}, not the digest {digest} of its file name"
                )),
            }
        };
        if let Err(why) = check() {
            report.damaged.push(format!("{}: {why}", path.display()));
        }
    }
}

fn check_dbs(root: &Path, report: &mut Report) {
    let Ok(entries) = std::fs::read_dir(catalog::trivy_db_store(root)) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    dirs.sort();
    for dir in dirs {
        report.dbs += 1;
        let check = || -> std::result::Result<(), String> {
            let info: crate::trivy::db::DbInfo = serde_json::from_slice(
                &std::fs::read(dir.join("db.json")).map_err(|e| format!("db.json: {e}"))?,
            )
            .map_err(|e| format!("db.json is not a DB record ({e})"))?;
            let gz = std::fs::File::open(dir.join("trivy.db.gz"))
                .map_err(|e| format!("trivy.db.gz: {e}"))?;
            use sha2::{Digest, Sha256};
            let mut hasher = Sha256::new();
            std::io::copy(&mut flate2::read::GzDecoder::new(gz), &mut hasher)
                .map_err(|e| format!("trivy.db.gz does not decompress ({e})"))?;
            let got = format!("sha256:{:x}", hasher.finalize());
            if got != info.digest {
                return Err(format!(
                    "trivy.db.gz holds {got}, db.json says {}",
                    info.digest
                ));
            }
            Ok(())
        };
        if let Err(why) = check() {
            report.damaged.push(format!("{}: {why}", dir.display()));
        }
    }
}
