//! Atomic partition writes.
//!
//! A partition is written into a fresh folder under `DATASETS/.tmp/`, every file is fsynced,
//! `_manifest.json` is written last, and the folder is renamed into place. When a partition
//! for the same snapshot already exists, the two folders are exchanged in one step
//! (`renameat2(RENAME_EXCHANGE)` on Linux) and the old one is deleted, so readers see either
//! the old partition or the new one, never a mix and never a partial folder. A run killed
//! mid-write leaves only a folder under `.tmp/`, which no reader looks at and the next write
//! of any partition removes.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use crate::catalog::{self, Dataset, MANIFEST};
use crate::dag::{self, Stage};
use crate::error::{Error, Result};

/// What a partition's manifest records.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Dataset id from the catalog.
    pub dataset: String,
    /// Snapshot date of the partition.
    pub snapshot: String,
    /// Rows (or records, for raw captures) in the data file.
    pub rows: u64,
    /// Data file name and size in bytes.
    pub file: String,
    /// Bytes of the data file.
    pub bytes: u64,
    /// `sha256` of the data file (hex): readers check it, so a file truncated or changed after
    /// its manifest was written is named instead of read.
    pub sha256: String,
    /// Column names and Arrow types (empty for raw captures).
    pub schema: Vec<(String, String)>,
    /// Where the rows came from (`hub`, `sample`, `backfill`) and from which URL or path.
    pub source: String,
    /// Versions of the tools that produced it.
    pub tools: Vec<(String, String)>,
    /// When the partition was written (UTC); not part of the data.
    pub created_at: String,
}

/// Versions recorded in every manifest.
pub fn tool_versions() -> Vec<(String, String)> {
    vec![("hubaudit".into(), env!("CARGO_PKG_VERSION").into())]
}

/// Writes the partition of `ds` for `snapshot` atomically, for `stage`. `write` receives the
/// path of the data file to create and returns the number of rows it wrote; `source` goes into
/// the manifest.
///
/// `ds` must be among the outputs `dag::STAGES` lists for `stage`: any other is an internal
/// error before anything is written (a stage writing another stage's dataset is a bug, and
/// the DAG that `run` and the docs rely on would be wrong).
pub fn write_partition(
    root: &Path,
    stage: Stage,
    ds: &Dataset,
    snapshot: NaiveDate,
    source: &str,
    write: impl FnOnce(&Path) -> Result<u64>,
) -> Result<Manifest> {
    dag::check_write(stage, ds)?;
    let area = catalog::staging_area(root);
    std::fs::create_dir_all(&area).map_err(|e| Error::io(&area, e))?;
    remove_abandoned(&area);
    let tmp = area.join(format!(
        "{}-{}-{}-{}",
        ds.id,
        snapshot,
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = (|| {
        let data = tmp.join(ds.file);
        let rows = write(&data)?;
        fsync_file(&data)?;
        let bytes = std::fs::metadata(&data)
            .map_err(|e| Error::io(&data, e))?
            .len();
        let sha256 = sha256_file(&data)?;
        let manifest = Manifest {
            dataset: ds.id.into(),
            snapshot: snapshot.to_string(),
            rows,
            file: ds.file.into(),
            bytes,
            sha256,
            schema: ds
                .schema
                .map(|s| {
                    s().fields()
                        .iter()
                        .map(|f| (f.name().clone(), f.data_type().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            source: source.into(),
            tools: tool_versions(),
            created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        };
        let mpath = tmp.join(MANIFEST);
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        std::fs::write(&mpath, text + "\n").map_err(|e| Error::io(&mpath, e))?;
        fsync_file(&mpath)?;
        fsync_dir(&tmp)?;
        let target = catalog::partition_dir(root, ds, snapshot);
        let parent = target.parent().expect("partition has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        publish(&tmp, &target)?;
        fsync_dir(parent)?;
        Ok(manifest)
    })();
    // On success `tmp` holds the replaced partition (or nothing); on failure the unfinished one.
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Moves the finished folder `tmp` to `target`, exchanging atomically with an existing
/// `target`; afterwards `tmp` holds the replaced folder (if any), for the caller to delete.
pub fn publish(tmp: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return std::fs::rename(tmp, target).map_err(|e| Error::io(target, e));
    }
    if exchange(tmp, target).is_ok() {
        return Ok(());
    }
    // Fallback where RENAME_EXCHANGE is unsupported: a short window without the partition,
    // but never a partial one.
    let old = tmp.with_extension("old");
    std::fs::rename(target, &old).map_err(|e| Error::io(target, e))?;
    std::fs::rename(tmp, target).map_err(|e| Error::io(target, e))?;
    std::fs::rename(&old, tmp).map_err(|e| Error::io(&old, e))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Removes folders left in the staging area by processes that no longer run.
fn remove_abandoned(area: &Path) {
    let Ok(entries) = std::fs::read_dir(area) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Names are `ID-DATE-PID-NANOS`; the pid is the second field from the end.
        let pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive && cfg!(target_os = "linux") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// fsync a file.
pub fn fsync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// fsync a folder, so that renames inside it are durable.
pub fn fsync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Writes a whole file atomically (temp file beside it, fsync, rename).
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp: PathBuf = parent.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    fsync_dir(parent)
}

/// The sha256 (hex) of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The data file of the partition of `ds` for `snapshot`, after checking it against its
/// manifest (the size, then the sha256). A file that differs is bad input naming the
/// partition and the fix; it is never read.
pub fn verified_file(root: &Path, ds: &Dataset, snapshot: NaiveDate) -> Result<PathBuf> {
    let dir = catalog::partition_dir(root, ds, snapshot);
    let path = dir.join(ds.file);
    let manifest = read_manifest(root, ds, snapshot)?;
    check_file(&path, &manifest).map_err(|why| {
        Error::data(
            format!("partition {}", dir.display()),
            format!(
                "{why}: the partition is damaged; re-run the stage that writes {} for {snapshot} (see `hubaudit verify`)",
                ds.id
            ),
        )
    })?;
    Ok(path)
}

/// Whether `path` has the size and sha256 its manifest records; the mismatch in words.
pub fn check_file(path: &Path, manifest: &serde_json::Value) -> std::result::Result<(), String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let bytes = std::fs::metadata(path)
        .map_err(|e| format!("{name}: {e}"))?
        .len();
    let want_bytes = manifest["bytes"].as_u64();
    if want_bytes != Some(bytes) {
        return Err(format!(
            "{name} holds {bytes} bytes, its manifest says {}",
            want_bytes.map_or("nothing".to_string(), |b| b.to_string())
        ));
    }
    let Some(want) = manifest["sha256"].as_str() else {
        return Err(format!(
            "the manifest of {name} records no sha256 (written by an older hubaudit)"
        ));
    };
    let got = sha256_file(path).map_err(|e| e.to_string())?;
    if got != want {
        return Err(format!(
            "{name} has sha256 {got}, its manifest says {want} (changed after it was written)"
        ));
    }
    Ok(())
}

/// Reads a partition's manifest as JSON.
pub fn read_manifest(root: &Path, ds: &Dataset, snapshot: NaiveDate) -> Result<serde_json::Value> {
    let path = catalog::partition_dir(root, ds, snapshot).join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Input(format!(
            "no {} partition for {snapshot} in {} (no {MANIFEST}); run the stage that writes it first",
            ds.id,
            root.display()
        )),
        _ => Error::io(&path, e),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::data(path.display().to_string(), e))
}
