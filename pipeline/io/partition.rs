//! Atomic partition writes.
//!
//! A partition is written into a fresh folder under `DATASETS/.tmp/`, every file is fsynced,
//! `_manifest.json` is written last, and the folder is renamed into place. When a partition
//! for the same snapshot already exists, the two folders are exchanged in one step
//! (`renameat2(RENAME_EXCHANGE)` on Linux) and the old one is deleted, so readers see either
//! the old partition or the new one, never a mix and never a partial folder. A run killed
//! mid-write leaves only a folder under `.tmp/`, which no reader looks at and the next write
//! of any partition removes.
//!
//! **Parts.** A sharded stage (`scan --shard I/N`) writes one *part* of a partition instead:
//! `part-I-of-N.parquet` (`reports.part-I-of-N.jsonl.gz`) and `_manifest.part-I-of-N.json` inside the snapshot's folder, each
//! renamed into place on its own, the manifest last ([`write_part`]). Other shards' parts are
//! left alone, so a shard that is re-run replaces only its own. A parted partition is complete
//! only when all N parts are there; readers ([`verified_files`]) refuse an incomplete one
//! with an error naming the missing shards, and a whole partition and parts of another count
//! never mix (a write of one layout removes the other).

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
    /// The shard that wrote this part (absent for a whole partition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

/// One shard of a sharded stage: `index` of `count`, counting from 0 as a Kubernetes
/// Indexed Job's completion index does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` (`0/4` … `3/4`).
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = |why: &str| {
            Error::Input(format!(
                "--shard {text:?}: {why}; write I/N with 0 <= I < N, e.g. --shard 0/4 (I counts from 0, as JOB_COMPLETION_INDEX does)"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let index: u32 = i.trim().parse().map_err(|_| bad("I is not a number"))?;
        let count: u32 = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        Shard::new(index, count).map_err(|why| bad(&why))
    }

    /// A checked shard.
    pub fn new(index: u32, count: u32) -> std::result::Result<Shard, String> {
        if count == 0 {
            return Err("N must be at least 1".into());
        }
        if index >= count {
            return Err(format!("I must be below N ({index} >= {count})"));
        }
        Ok(Shard { index, count })
    }

    /// The shard a Kubernetes Indexed Job gives a pod: `JOB_COMPLETION_INDEX` (set by
    /// Kubernetes) of `JOB_COMPLETIONS` (set in the Job's env to its `completions`). None when
    /// neither is set; an error when only one is, or either is not a number.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        match (get("JOB_COMPLETION_INDEX"), get("JOB_COMPLETIONS")) {
            (None, None) => Ok(None),
            (Some(i), Some(n)) => {
                let bad = |why: String| {
                    Error::Input(format!(
                        "JOB_COMPLETION_INDEX={i:?} JOB_COMPLETIONS={n:?}: {why}; set JOB_COMPLETIONS to the Job's completions (deploy/scan-job.yaml does)"
                    ))
                };
                let index = i.trim().parse().map_err(|_| bad("not numbers".into()))?;
                let count = n.trim().parse().map_err(|_| bad("not numbers".into()))?;
                Shard::new(index, count).map(Some).map_err(bad)
            }
            (Some(i), None) => Err(Error::Input(format!(
                "JOB_COMPLETION_INDEX={i:?} is set but JOB_COMPLETIONS is not: Kubernetes sets only the index; set JOB_COMPLETIONS to the Job's completions in its env (as deploy/scan-job.yaml does), or pass --shard I/N"
            ))),
            (None, Some(n)) => Err(Error::Input(format!(
                "JOB_COMPLETIONS={n:?} is set without JOB_COMPLETION_INDEX: run as an Indexed Job (completionMode: Indexed), or pass --shard I/N"
            ))),
        }
    }

    /// Whether this shard owns `reference` (`NAMESPACE/NAME:TAG`): the first 8 bytes of its
    /// sha256, as a big-endian number, modulo the count. Stable across runs, machines and
    /// versions, and independent of the order of the image list.
    pub fn owns(&self, reference: &str) -> bool {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(reference.as_bytes());
        let head = u64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
        head % u64::from(self.count) == u64::from(self.index)
    }

    /// `part-I-of-N`.
    pub fn label(&self) -> String {
        format!("part-{}-of-{}", self.index, self.count)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The data file of `shard`'s part for a partition whose whole data file is `file`:
/// `part-I-of-N.parquet` for `part-0.parquet`, `reports.part-I-of-N.jsonl.gz` for
/// `reports.jsonl.gz`.
pub fn part_file(file: &str, shard: Shard) -> String {
    let (stem, ext) = file.split_once('.').unwrap_or((file, ""));
    if stem.starts_with("part-") {
        format!("{}.{ext}", shard.label())
    } else {
        format!("{stem}.{}.{ext}", shard.label())
    }
}

/// `_manifest.part-I-of-N.json`.
pub fn part_manifest(shard: Shard) -> String {
    format!("_manifest.{}.json", shard.label())
}

/// The shard of a part manifest's file name, if it is one.
pub fn parse_part_manifest(name: &str) -> Option<Shard> {
    let label = name
        .strip_prefix("_manifest.part-")?
        .strip_suffix(".json")?;
    let (i, n) = label.split_once("-of-")?;
    Shard::new(i.parse().ok()?, n.parse().ok()?).ok()
}

/// Whether `dir` holds a manifest of either layout (a whole one or any part's).
pub fn has_manifest(dir: &Path) -> bool {
    dir.join(MANIFEST).exists()
        || std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| parse_part_manifest(&e.file_name().to_string_lossy()).is_some())
        })
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
        let manifest = describe(ds, snapshot, &data, ds.file, rows, source, None)?;
        let mpath = tmp.join(MANIFEST);
        std::fs::write(&mpath, manifest_text(&manifest)).map_err(|e| Error::io(&mpath, e))?;
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

/// The manifest of the data file `data` (fsynced here), named `file` in its partition.
fn describe(
    ds: &Dataset,
    snapshot: NaiveDate,
    data: &Path,
    file: &str,
    rows: u64,
    source: &str,
    shard: Option<Shard>,
) -> Result<Manifest> {
    fsync_file(data)?;
    let bytes = std::fs::metadata(data)
        .map_err(|e| Error::io(data, e))?
        .len();
    Ok(Manifest {
        dataset: ds.id.into(),
        snapshot: snapshot.to_string(),
        rows,
        file: file.into(),
        bytes,
        sha256: sha256_file(data)?,
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
        shard,
    })
}

fn manifest_text(manifest: &Manifest) -> String {
    serde_json::to_string_pretty(manifest).expect("manifest serialises") + "\n"
}

/// Writes the part of `shard` of the partition of `ds` for `snapshot`, for `stage`: the data
/// file (`part-I-of-N.parquet`), then `_manifest.part-I-of-N.json`, each written beside its
/// final name (a dot-file no reader globs) and renamed into place. First it removes what
/// belongs to another layout of the same partition (a whole partition's manifest and file,
/// parts of another shard count), manifests before data files, so that a reader meanwhile
/// sees an incomplete partition, never a mix. Parts of other shards of the same count stay.
pub fn write_part(
    root: &Path,
    stage: Stage,
    ds: &Dataset,
    snapshot: NaiveDate,
    shard: Shard,
    source: &str,
    write: impl FnOnce(&Path) -> Result<u64>,
) -> Result<Manifest> {
    dag::check_write(stage, ds)?;
    let dir = catalog::partition_dir(root, ds, snapshot);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    leave_other_layouts(&dir, ds, shard.count)?;
    let name = part_file(ds.file, shard);
    let hidden = |n: &str| dir.join(format!(".{n}.tmp-{}", std::process::id()));
    let tmp = hidden(&name);
    let result = (|| {
        let rows = write(&tmp)?;
        let manifest = describe(ds, snapshot, &tmp, &name, rows, source, Some(shard))?;
        let final_path = dir.join(&name);
        std::fs::rename(&tmp, &final_path).map_err(|e| Error::io(&final_path, e))?;
        let mname = part_manifest(shard);
        let mtmp = hidden(&mname);
        std::fs::write(&mtmp, manifest_text(&manifest)).map_err(|e| Error::io(&mtmp, e))?;
        fsync_file(&mtmp)?;
        let mpath = dir.join(&mname);
        std::fs::rename(&mtmp, &mpath).map_err(|e| Error::io(&mpath, e))?;
        fsync_dir(&dir)?;
        Ok(manifest)
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Removes from `dir` a whole partition and parts of counts other than `count`.
fn leave_other_layouts(dir: &Path, ds: &Dataset, count: u32) -> Result<()> {
    let mut stale = Vec::new();
    if dir.join(MANIFEST).exists() {
        stale.push((MANIFEST.to_string(), ds.file.to_string()));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(other) = parse_part_manifest(&name).filter(|s| s.count != count) {
            stale.push((name, part_file(ds.file, other)));
        }
    }
    for (manifest, _) in &stale {
        let path = dir.join(manifest);
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    fsync_dir(dir)?;
    for (_, data) in &stale {
        let _ = std::fs::remove_file(dir.join(data));
    }
    Ok(())
}

/// Moves the finished folder `tmp` to `target`, exchanging atomically with an existing
/// `target`; afterwards `tmp` holds the replaced folder (if any), for the caller to delete.
pub fn publish(tmp: &Path, target: &Path) -> Result<()> {
    publish_seen(tmp, target, target.exists())
}

/// [`publish`] once `target` was seen to exist or not. Another writer may publish the same
/// target in between (two shards storing the same content-addressed DB): a rename that then
/// finds it there exchanges with it instead of failing.
fn publish_seen(tmp: &Path, target: &Path, existed: bool) -> Result<()> {
    if !existed {
        match std::fs::rename(tmp, target) {
            Ok(()) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {}
            Err(e) => return Err(Error::io(target, e)),
        }
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
/// A private scratch folder name under the staging area for `what` on `date`:
/// `WHAT-DATE-PID-NANOS`, the shape [`remove_abandoned`] reads the pid from, so a folder left
/// by a killed process is removed by the next write.
pub fn scratch(root: &Path, what: &str, date: NaiveDate) -> PathBuf {
    catalog::staging_area(root).join(format!(
        "{what}-{date}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ))
}

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

/// The data file of a whole partition of `ds` for `snapshot`, after checking it against its
/// manifest (the size, then the sha256). A file that differs is bad input naming the
/// partition and the fix; it is never read. For datasets only sharded stages part (scans,
/// findings) use [`verified_files`].
pub fn verified_file(root: &Path, ds: &Dataset, snapshot: NaiveDate) -> Result<PathBuf> {
    let mut files = verified_files(root, ds, snapshot)?;
    if files.len() != 1 {
        return Err(Error::Input(format!(
            "{} partition for {snapshot} in {} has {} parts; only a scan is written in shards, {} is read whole (re-run the stage that writes it without --shard)",
            ds.id,
            root.display(),
            files.len(),
            ds.id
        )));
    }
    Ok(files.remove(0))
}

/// The verified data files of the partition of `ds` for `snapshot`: the one file of a whole
/// partition, or every part of a parted one in shard order. An incomplete parted partition is
/// bad input naming the shards that are missing and the command that writes each.
pub fn verified_files(root: &Path, ds: &Dataset, snapshot: NaiveDate) -> Result<Vec<PathBuf>> {
    let dir = catalog::partition_dir(root, ds, snapshot);
    let manifests = manifests(root, ds, snapshot)?;
    manifests
        .into_iter()
        .map(|(path, manifest)| {
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
        })
        .collect()
}

/// The data files of a partition with their manifests (not yet checked): a whole partition's
/// one, or all N parts of a parted one, in shard order.
pub fn manifests(
    root: &Path,
    ds: &Dataset,
    snapshot: NaiveDate,
) -> Result<Vec<(PathBuf, serde_json::Value)>> {
    let dir = catalog::partition_dir(root, ds, snapshot);
    if dir.join(MANIFEST).exists() {
        let manifest = read_manifest(root, ds, snapshot)?;
        return Ok(vec![(dir.join(ds.file), manifest)]);
    }
    let mut parts: Vec<Shard> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| parse_part_manifest(&e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        // no manifest at all: the whole-partition message says what to run
        return read_manifest(root, ds, snapshot).map(|m| vec![(dir.join(ds.file), m)]);
    }
    parts.sort_by_key(|s| (s.count, s.index));
    let counts: std::collections::BTreeSet<u32> = parts.iter().map(|s| s.count).collect();
    if counts.len() > 1 {
        return Err(Error::Input(format!(
            "{} partition for {snapshot} in {} mixes parts of {} shard counts ({}); re-run every shard of one count",
            ds.id,
            dir.display(),
            counts.len(),
            counts.iter().map(|c| format!("of {c}")).collect::<Vec<_>>().join(", ")
        )));
    }
    let count = parts[0].count;
    let missing = missing_shards(&parts, count);
    if !missing.is_empty() {
        return Err(Error::Input(incomplete_message(
            ds, snapshot, &dir, &missing, count,
        )));
    }
    parts
        .into_iter()
        .map(|shard| {
            let mpath = dir.join(part_manifest(shard));
            let text = std::fs::read_to_string(&mpath).map_err(|e| Error::io(&mpath, e))?;
            let manifest: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::data(mpath.display().to_string(), e))?;
            Ok((dir.join(part_file(ds.file, shard)), manifest))
        })
        .collect()
}

/// The indices below `count` that no part in `parts` has.
pub fn missing_shards(parts: &[Shard], count: u32) -> Vec<u32> {
    (0..count)
        .filter(|i| !parts.iter().any(|s| s.index == *i && s.count == count))
        .collect()
}

/// "incomplete: shards 1/4, 3/4 missing" with the commands that write them.
fn incomplete_message(
    ds: &Dataset,
    snapshot: NaiveDate,
    dir: &Path,
    missing: &[u32],
    count: u32,
) -> String {
    let names = missing
        .iter()
        .map(|i| format!("{i}/{count}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{} partition for {snapshot} in {} is incomplete: {} of {count} shards written, missing shard{} {names}; run `hubaudit scan --snapshot {snapshot} --shard I/{count}` for each missing shard (a sharded partition counts only when every part is there)",
        ds.id,
        dir.display(),
        count as usize - missing.len(),
        if missing.len() == 1 { "" } else { "s" },
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_published_by_another_writer_meanwhile_is_exchanged_not_an_error() {
        let dir = std::env::temp_dir().join(format!("hubaudit-publish-{}", std::process::id()));
        let (tmp, target) = (dir.join("tmp"), dir.join("target"));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(tmp.join("new"), b"new").unwrap();
        std::fs::write(target.join("theirs"), b"theirs").unwrap();
        // as if `target` did not exist when looked at, then appeared (a concurrent writer)
        publish_seen(&tmp, &target, false).unwrap();
        assert!(target.join("new").exists() && !target.join("theirs").exists());
        assert!(
            tmp.join("theirs").exists(),
            "the replaced folder is left for the caller"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
