//! `--datasets s3://BUCKET/PREFIX`: the same layout on object storage, through `object_store`.
//!
//! A stage never reads or writes the bucket directly. [`with_mirror`] copies what the stage
//! reads (the datasets and stores `dag::STAGES` lists for it) into a private working folder,
//! runs the stage there with every local rule unchanged (manifests, sha256 checks, parts),
//! and then publishes what the stage changed in its outputs (also when it failed: local
//! writes are atomic, so the copy holds only whole partitions). The working folder is removed
//! afterwards; each process has its own, so two shards on one machine never share one.
//!
//! **Commit rule without rename.** Object stores have no rename, so publication is ordered:
//! 1. manifests the stage removed (a whole partition replaced by parts) are deleted first;
//! 2. every new data object is written under a name that carries its content hash
//!    (`part-0.3fa9c1e2b4d5a6f7.parquet`), so it never overwrites an object a manifest names;
//! 3. then its manifest (`_manifest.json`, `_manifest.part-I-of-N.json`), whose `file` names
//!    that object: one PUT, atomic on S3;
//! 4. then the object the previous manifest named, if any, is deleted.
//!
//! Readers (this module's pull, and so every stage, `verify` and `snapshots`) trust only
//! manifests: they fetch a manifest, then exactly the object it names, and check its sha256.
//! A writer that crashes before step 3 leaves at most an object no manifest names: invisible
//! to them, and listed by `hubaudit verify` as an orphan. In stores (inventories, DBs,
//! reports) the file that marks a folder complete (`db.json`, `index.html`) is written last.
//!
//! Credentials and endpoint come from the standard AWS environment only (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` / `AWS_DEFAULT_REGION`,
//! `AWS_ENDPOINT_URL`); plain HTTP is allowed only for a loopback endpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

use crate::catalog::{self, Dataset, Store, MANIFEST};
use crate::dag::{Node, Stage};
use crate::error::{Error, Result};
use crate::io::partition;

/// Where a dataset root lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// A local folder (a plain path or `file://PATH`).
    Local(PathBuf),
    /// `s3://BUCKET/PREFIX`.
    S3(S3Location),
}

/// A bucket and a key prefix (no leading or trailing `/`; may be empty).
#[derive(Debug, Clone, PartialEq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl Location {
    /// Parses `--datasets`: `s3://BUCKET[/PREFIX]`, `file://PATH`, or a path. Any other
    /// `SCHEME://` is bad input naming the schemes hubaudit knows.
    pub fn parse(text: &Path) -> Result<Location> {
        let s = text.to_string_lossy();
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_matches('/').to_string();
            let valid = !bucket.is_empty()
                && bucket.len() <= 63
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !valid {
                return Err(Error::Input(format!(
                    "--datasets {s}: {bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, '-' or '.'); write s3://BUCKET/PREFIX"
                )));
            }
            if prefix.split('/').any(|p| p == ".." || p == ".") {
                return Err(Error::Input(format!(
                    "--datasets {s}: the prefix may not contain '.' or '..' segments"
                )));
            }
            return Ok(Location::S3(S3Location {
                bucket: bucket.to_string(),
                prefix,
            }));
        }
        if let Some(path) = s.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(Error::Input(format!(
                "--datasets {s}: unknown scheme {scheme}://; use a folder, file://PATH or s3://BUCKET/PREFIX"
            )));
        }
        Ok(Location::Local(text.to_path_buf()))
    }
}

/// What a mirror moved.
#[derive(Debug, Clone, Default)]
pub struct Transfer {
    /// Objects read and their bytes.
    pub read: usize,
    pub read_bytes: u64,
    /// Objects written and deleted.
    pub written: usize,
    pub written_bytes: u64,
    pub deleted: usize,
    /// Data objects in partition folders that no manifest names (a crashed writer's).
    pub orphans: Vec<String>,
    /// Seconds spent reading and writing the bucket.
    pub seconds: f64,
}

/// The nodes `stages` read and write that live in the dataset root.
pub fn nodes(stages: &[Stage]) -> (Vec<Node>, Vec<Node>) {
    let mut reads: Vec<Node> = Vec::new();
    let mut writes: Vec<Node> = Vec::new();
    for stage in stages {
        let spec = stage.spec();
        for n in spec.reads.iter().filter(|n| n.is_local()) {
            if !reads.iter().any(|r| r.id() == n.id()) {
                reads.push(*n);
            }
        }
        for n in spec.writes.iter().filter(|n| n.is_local()) {
            if !writes.iter().any(|w| w.id() == n.id()) {
                writes.push(*n);
            }
        }
    }
    (reads, writes)
}

/// Every dataset and store of the root (what `verify` and `snapshots` read), without the
/// published reports, which no stage reads.
pub fn every_node() -> Vec<Node> {
    catalog::ALL
        .iter()
        .map(Node::Dataset)
        .chain(
            catalog::STORES
                .iter()
                .filter(|s| s.id != catalog::REPORT.id)
                .map(Node::Store),
        )
        .collect()
}

/// Runs `f` on a local working copy of the `reads` of `loc`, then publishes what `f` changed
/// in `writes`, also when `f` fails (a failed stage leaves no partial partition in the copy,
/// and the stages of a plan that finished before it keep their output). Errors that name the
/// working folder name the bucket instead.
pub fn with_mirror<T>(
    loc: &S3Location,
    reads: &[Node],
    writes: &[Node],
    report: &mut dyn FnMut(&str, &Transfer),
    f: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let bucket = Bucket::open(loc)?;
    let work = WorkDir::create()?;
    let rename = |e: Error| rename_paths(e, &work.0, &loc.to_string());
    let pulled = bucket.pull(&work.0, reads).map_err(rename)?;
    report("read", &pulled);
    let before = local_state(&work.0, writes);
    let value = f(&work.0);
    // Published even when `f` failed: every partition in the copy is whole (local writes are
    // atomic), so what earlier stages of a plan finished is kept, as it would be in a folder.
    let pushed = bucket.push(&work.0, writes, &before);
    match (value, pushed) {
        (Ok(v), Ok(t)) => {
            report("wrote", &t);
            Ok(v)
        }
        (Err(e), Ok(t)) => {
            report("wrote", &t);
            Err(rename(e))
        }
        (Ok(_), Err(p)) => Err(rename(p)),
        (Err(e), Err(p)) => {
            eprintln!(
                "{loc}: publishing what was finished failed too: {}",
                rename(p)
            );
            Err(rename(e))
        }
    }
}

/// Reads every node of `loc` into a fresh working folder and runs `f` on it (for `verify`
/// and `snapshots`); orphans found while reading are passed to `f`.
pub fn with_copy<T>(
    loc: &S3Location,
    report: &mut dyn FnMut(&str, &Transfer),
    f: impl FnOnce(&Path, &[String]) -> Result<T>,
) -> Result<T> {
    let bucket = Bucket::open(loc)?;
    let work = WorkDir::create()?;
    let rename = |e: Error| rename_paths(e, &work.0, &loc.to_string());
    let pulled = bucket.pull(&work.0, &every_node()).map_err(rename)?;
    report("read", &pulled);
    f(&work.0, &pulled.orphans).map_err(rename)
}

/// A private working folder, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<WorkDir> {
        let dir = std::env::temp_dir().join(format!(
            "hubaudit-s3-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rename_paths(e: Error, work: &Path, url: &str) -> Error {
    let local = work.display().to_string();
    match e {
        Error::Input(m) => Error::Input(m.replace(&local, url)),
        Error::Data { context, message } => Error::Data {
            context: context.replace(&local, url),
            message: message.replace(&local, url),
        },
        other => other,
    }
}

/// The object name of a data file on the bucket: its content hash before the extension.
pub fn object_name(local: &str, sha256: &str) -> String {
    let (stem, ext) = local.split_once('.').unwrap_or((local, ""));
    let short = &sha256[..sha256.len().min(16)];
    format!("{stem}.{short}.{ext}")
}

/// The local data file a manifest of `ds` stands for, from the manifest's own name.
fn local_name(ds: &Dataset, manifest_name: &str) -> Option<String> {
    if manifest_name == MANIFEST {
        return Some(ds.file.to_string());
    }
    partition::parse_part_manifest(manifest_name).map(|s| partition::part_file(ds.file, s))
}

/// `LAYER/NAME` of a store, `LAYER` for the reports (`4_report/DATE/`).
fn store_dir(store: &Store) -> String {
    if store.id == catalog::REPORT.id {
        store.layer.dir().to_string()
    } else {
        store.path()
    }
}

/// Files that mark a store folder complete: written after every other file of the folder.
fn is_marker(name: &str) -> bool {
    name == "db.json" || name == "index.html"
}

/// Every manifest of the written datasets and every file of the written stores, by path under
/// the root, with the sha256 of its bytes.
fn local_state(root: &Path, writes: &[Node]) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    for node in writes {
        let dir = match node {
            Node::Dataset(ds) => ds.path(),
            Node::Store(s) => store_dir(s),
            Node::External(_) => continue,
        };
        for (rel, path) in walk(root, &dir) {
            if matches!(node, Node::Dataset(_)) && !is_manifest_key(&rel) {
                continue;
            }
            // by content: a rewritten file of the same size is a change
            let value = std::fs::read(&path)
                .map(|b| format!("{:x}", Sha256::digest(&b)))
                .unwrap_or_default();
            state.insert(rel, value);
        }
    }
    state
}

/// Files under `root/dir` by path relative to `root` (`/`-separated), skipping hidden ones
/// and unfinished writes.
fn walk(root: &Path, dir: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, p));
            }
        }
    }
    out.sort();
    out
}

/// An open bucket.
struct Bucket {
    store: Arc<dyn ObjectStore>,
    loc: S3Location,
    runtime: tokio::runtime::Runtime,
}

/// Transfers in flight at once.
const CONCURRENCY: usize = 8;

impl Bucket {
    fn open(loc: &S3Location) -> Result<Bucket> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        let loopback = endpoint.as_deref().is_some_and(|e| {
            let host = e
                .strip_prefix("http://")
                .unwrap_or("")
                .split(['/', ':'])
                .next()
                .unwrap_or("");
            matches!(host, "127.0.0.1" | "localhost" | "[::1]")
        });
        if endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
            && !loopback
        {
            return Err(Error::Input(format!(
                "AWS_ENDPOINT_URL={}: plain HTTP is allowed only for a loopback endpoint (credentials would cross the network unencrypted); use https://",
                endpoint.unwrap_or_default()
            )));
        }
        let retry = object_store::RetryConfig {
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
            ..Default::default()
        };
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(&loc.bucket)
            .with_allow_http(loopback)
            .with_retry(retry)
            .build()
            .map_err(|e| {
                Error::Input(format!(
                    "{loc}: cannot use the bucket ({e}); set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION (and AWS_ENDPOINT_URL for a store other than AWS)"
                ))
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Input(format!("cannot start an async runtime: {e}")))?;
        Ok(Bucket {
            store: Arc::new(store),
            loc: loc.clone(),
            runtime,
        })
    }

    fn key(&self, rel: &str) -> Key {
        if self.loc.prefix.is_empty() {
            Key::from(rel)
        } else {
            Key::from(format!("{}/{rel}", self.loc.prefix))
        }
    }

    fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.loc)
    }

    fn upstream(&self, rel: &str, e: object_store::Error) -> Error {
        let hint = match &e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                " (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy)"
            }
            object_store::Error::NotFound { .. } => " (does the bucket exist?)",
            _ => "",
        };
        Error::Upstream {
            url: self.url(rel),
            reason: format!("{e}{hint}"),
        }
    }

    /// Paths (relative to the prefix) and sizes of every object under `dir`.
    fn list(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        let prefix = self.key(dir);
        let strip = if self.loc.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.loc.prefix)
        };
        self.runtime.block_on(async {
            let metas: Vec<object_store::ObjectMeta> = self
                .store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| self.upstream(dir, e))?;
            Ok(metas
                .into_iter()
                .map(|m| {
                    let key = m.location.to_string();
                    (key.strip_prefix(&strip).unwrap_or(&key).to_string(), m.size)
                })
                .collect())
        })
    }

    async fn get(&self, rel: &str) -> Result<Option<bytes::Bytes>> {
        match self.store.get(&self.key(rel)).await {
            Ok(r) => r.bytes().await.map(Some).map_err(|e| self.upstream(rel, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.upstream(rel, e)),
        }
    }

    async fn put_file(&self, rel: &str, path: &Path) -> Result<u64> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        self.put_bytes(rel, bytes).await
    }

    async fn put_bytes(&self, rel: &str, bytes: Vec<u8>) -> Result<u64> {
        let n = bytes.len() as u64;
        self.store
            .put(&self.key(rel), PutPayload::from(bytes))
            .await
            .map_err(|e| self.upstream(rel, e))?;
        Ok(n)
    }

    async fn delete(&self, rel: &str) -> Result<()> {
        match self.store.delete(&self.key(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.upstream(rel, e)),
        }
    }

    /// Copies the datasets and stores of `nodes` into `root`: each manifest, then the object
    /// it names, checked against its sha256; every store file.
    fn pull(&self, root: &Path, nodes: &[Node]) -> Result<Transfer> {
        let started = Instant::now();
        let mut t = Transfer::default();
        for node in nodes {
            match node {
                Node::Dataset(ds) => self.pull_dataset(root, ds, &mut t)?,
                Node::Store(s) => self.pull_store(root, s, &mut t)?,
                Node::External(_) => {}
            }
        }
        t.seconds = started.elapsed().as_secs_f64();
        Ok(t)
    }

    fn pull_dataset(&self, root: &Path, ds: &Dataset, t: &mut Transfer) -> Result<()> {
        let objects = self.list(&ds.path())?;
        let manifests: Vec<&String> = objects
            .iter()
            .map(|(k, _)| k)
            .filter(|k| {
                let name = k.rsplit('/').next().unwrap_or_default();
                local_name(ds, name).is_some() && k.contains("/snapshot=")
            })
            .collect();
        let fetched: Vec<(String, String, u64)> = self.runtime.block_on(async {
            futures::stream::iter(manifests.iter().map(|k| self.pull_partition(root, ds, k)))
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await
        })?;
        for (_, _, bytes) in &fetched {
            t.read += 2;
            t.read_bytes += bytes;
        }
        // objects in partition folders that no manifest names
        for (k, _) in &objects {
            let name = k.rsplit('/').next().unwrap_or_default();
            let named = fetched.iter().any(|(_, data, _)| data == k);
            if !name.starts_with('_') && !named {
                t.orphans.push(self.url(k));
            }
        }
        Ok(())
    }

    /// One manifest and its data object; returns the manifest's and data's keys and bytes.
    async fn pull_partition(
        &self,
        root: &Path,
        ds: &Dataset,
        manifest_key: &str,
    ) -> Result<(String, String, u64)> {
        let (dir, name) = manifest_key.rsplit_once('/').unwrap_or(("", manifest_key));
        let local = local_name(ds, name).expect("filtered to manifests");
        let Some(text) = self.get(manifest_key).await? else {
            // deleted between the listing and the read (a writer replacing the layout)
            return Ok((manifest_key.into(), String::new(), 0));
        };
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| Error::data(self.url(manifest_key), e))?;
        let object = manifest["file"].as_str().unwrap_or_default().to_string();
        let want = manifest["sha256"].as_str().unwrap_or_default().to_string();
        if object.is_empty() || object.contains('/') || want.is_empty() {
            return Err(Error::data(
                self.url(manifest_key),
                "the manifest names no data object and sha256; re-run the stage that writes it",
            ));
        }
        let data_key = format!("{dir}/{object}");
        let bytes = self.get(&data_key).await?.ok_or_else(|| {
            Error::data(
                self.url(manifest_key),
                format!("names {object}, which is not in the bucket; re-run the stage that writes {} for this snapshot", ds.id),
            )
        })?;
        let got = format!("{:x}", Sha256::digest(&bytes));
        if got != want {
            return Err(Error::data(
                self.url(&data_key),
                format!("has sha256 {got}, its manifest says {want}: the object is damaged; re-run the stage that writes {}", ds.id),
            ));
        }
        let local_dir = root.join(dir);
        std::fs::create_dir_all(&local_dir).map_err(|e| Error::io(&local_dir, e))?;
        let data_path = local_dir.join(&local);
        std::fs::write(&data_path, &bytes).map_err(|e| Error::io(&data_path, e))?;
        manifest["file"] = serde_json::Value::String(local);
        let mpath = local_dir.join(name);
        let text = serde_json::to_string_pretty(&manifest).expect("json serialises") + "\n";
        std::fs::write(&mpath, text).map_err(|e| Error::io(&mpath, e))?;
        Ok((manifest_key.into(), data_key, bytes.len() as u64))
    }

    fn pull_store(&self, root: &Path, store: &Store, t: &mut Transfer) -> Result<()> {
        let objects = self.list(&store_dir(store))?;
        let sizes: Vec<u64> = self.runtime.block_on(async {
            futures::stream::iter(objects.iter().map(|(k, _)| async move {
                let bytes = self.get(k).await?.unwrap_or_default();
                let path = root.join(k);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                std::fs::write(&path, &bytes).map_err(|e| Error::io(&path, e))?;
                Ok::<u64, Error>(bytes.len() as u64)
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await
        })?;
        t.read += sizes.len();
        t.read_bytes += sizes.iter().sum::<u64>();
        Ok(())
    }

    /// Publishes what changed in `writes` since `before` (see the module's commit rule).
    fn push(
        &self,
        root: &Path,
        writes: &[Node],
        before: &BTreeMap<String, String>,
    ) -> Result<Transfer> {
        let started = Instant::now();
        let now = local_state(root, writes);
        let mut t = Transfer::default();
        // 1. manifests the stage removed, with the objects they named
        let removed: Vec<&String> = before
            .keys()
            .filter(|k| !now.contains_key(*k) && is_manifest_key(k))
            .collect();
        self.runtime.block_on(async {
            for k in &removed {
                let old = self.get(k).await?;
                self.delete(k).await?;
                if let Some(old) = old.and_then(|b| named_object(k, &b)) {
                    self.delete(&old).await?;
                }
            }
            Ok::<(), Error>(())
        })?;
        t.deleted += removed.len();
        let changed: Vec<(&String, bool)> = now
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, _)| (k, is_manifest_key(k)))
            .collect();
        // 2–4. each changed partition: its data object, its manifest, the replaced object
        let written: Vec<(usize, u64, usize)> = self.runtime.block_on(async {
            futures::stream::iter(
                changed
                    .iter()
                    .filter(|(_, m)| *m)
                    .map(|(k, _)| self.push_partition(root, k)),
            )
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await
        })?;
        for (n, bytes, deleted) in written {
            t.written += n;
            t.written_bytes += bytes;
            t.deleted += deleted;
        }
        // store files: markers after the rest of their folder
        let (markers, files): (Vec<&String>, Vec<&String>) = changed
            .iter()
            .filter(|(k, m)| !*m && !k.contains("/snapshot="))
            .map(|(k, _)| *k)
            .partition(|k| is_marker(k.rsplit('/').next().unwrap_or_default()));
        for batch in [files, markers] {
            let sizes: Vec<u64> = self.runtime.block_on(async {
                futures::stream::iter(
                    batch
                        .iter()
                        .map(|k| async move { self.put_file(k, &root.join(k)).await }),
                )
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await
            })?;
            t.written += sizes.len();
            t.written_bytes += sizes.iter().sum::<u64>();
        }
        t.seconds = started.elapsed().as_secs_f64();
        Ok(t)
    }

    /// Publishes one partition's manifest `rel`: the data object under its content name, then
    /// the manifest naming it, then the object the previous manifest named.
    async fn push_partition(&self, root: &Path, rel: &str) -> Result<(usize, u64, usize)> {
        let mpath = root.join(rel);
        let text = std::fs::read(&mpath).map_err(|e| Error::io(&mpath, e))?;
        let mut manifest: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Error::data(mpath.display().to_string(), e))?;
        let local = manifest["file"].as_str().unwrap_or_default().to_string();
        let sha = manifest["sha256"].as_str().unwrap_or_default().to_string();
        let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
        let object = object_name(&local, &sha);
        let data_key = format!("{dir}/{object}");
        let mut bytes = self
            .put_file(&data_key, &root.join(dir).join(&local))
            .await?;
        let previous = self.get(rel).await?.and_then(|b| named_object(rel, &b));
        manifest["file"] = serde_json::Value::String(object);
        let text = serde_json::to_string_pretty(&manifest).expect("json serialises") + "\n";
        bytes += self.put_bytes(rel, text.into_bytes()).await?;
        let mut deleted = 0;
        if let Some(old) = previous.filter(|o| *o != data_key) {
            self.delete(&old).await?;
            deleted = 1;
        }
        Ok((2, bytes, deleted))
    }
}

fn is_manifest_key(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or_default();
    rel.contains("/snapshot=") && name.starts_with("_manifest") && name.ends_with(".json")
}

/// The key of the data object a manifest at `rel` names, from its bytes.
fn named_object(rel: &str, manifest: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    let file = value["file"].as_str()?;
    if file.is_empty() || file.contains('/') {
        return None;
    }
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    Some(format!("{dir}/{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_with_their_errors() {
        let s3 = |b: &str, p: &str| {
            Location::S3(S3Location {
                bucket: b.into(),
                prefix: p.into(),
            })
        };
        assert_eq!(
            Location::parse(Path::new("s3://b-1/x/y/")).unwrap(),
            s3("b-1", "x/y")
        );
        assert_eq!(
            Location::parse(Path::new("s3://bucket")).unwrap(),
            s3("bucket", "")
        );
        assert_eq!(
            Location::parse(Path::new("file:///data/x")).unwrap(),
            Location::Local("/data/x".into())
        );
        assert_eq!(
            Location::parse(Path::new("datasets")).unwrap(),
            Location::Local("datasets".into())
        );
        for bad in ["s3://", "s3://Upper/x", "s3://b/../x", "gs://b/x"] {
            let e = Location::parse(Path::new(bad)).unwrap_err().to_string();
            assert!(e.contains("--datasets"), "{bad}: {e}");
        }
    }

    #[test]
    fn object_names_carry_the_content_hash_before_the_extension() {
        let sha = "3fa9c1e2b4d5a6f7aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(
            object_name("part-0.parquet", sha),
            "part-0.3fa9c1e2b4d5a6f7.parquet"
        );
        assert_eq!(
            object_name("reports.part-1-of-2.jsonl.gz", sha),
            "reports.3fa9c1e2b4d5a6f7.part-1-of-2.jsonl.gz"
        );
        assert_eq!(
            local_name(&catalog::SCANS, "_manifest.part-1-of-2.json").as_deref(),
            Some("part-1-of-2.parquet")
        );
        assert_eq!(
            local_name(&catalog::SCANS, "_manifest.json").as_deref(),
            Some("part-0.parquet")
        );
        assert_eq!(local_name(&catalog::SCANS, "part-0.parquet"), None);
    }
}
