//! Uploads the sample world to a registry, so the live scan path runs offline against a real
//! one: every tag of a capture date as `NAMESPACE/NAME:TAG` (an OCI index over amd64 and arm64,
//! or one manifest), and the sample Trivy DB as an OCI artifact in the layout Trivy downloads
//! (`--db-repository HOST/aquasec/trivy-db:2`).
//!
//! The images are rebuilt from the spec rather than read from disk: building is deterministic,
//! and each rebuilt tag is checked against the digest the capture's `DATE/registry.json` (and
//! so its Hub tags) names, so a spec changed since `sample build` fails loudly instead of
//! pushing images the crawl does not describe.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use chrono::NaiveDate;

use super::image::{media, Blob};
use super::{RegistryEntry, World};
use crate::error::{Error, Result};
use crate::io::registry::Registry;

/// Media types of Trivy's DB artifact (`pkg/db` in Trivy).
pub mod trivy_media {
    /// The artifact's config.
    pub const CONFIG: &str = "application/vnd.aquasec.trivy.config.v1+json";
    /// The DB layer: a gzip tar of `trivy.db` and `metadata.json`.
    pub const DB_LAYER: &str = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip";
}

/// What a push uploaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pushed {
    /// Tags pushed.
    pub tags: usize,
    /// Blobs uploaded (blobs the registry had are skipped).
    pub blobs: usize,
    /// Manifests and indexes uploaded.
    pub manifests: usize,
    /// Digest of the DB artifact's manifest, if the DB was pushed.
    pub db_manifest: Option<String>,
}

/// Pushes the tags of `date` of the capture at `capture` (built from `world`) for which
/// `wanted_tag(name, tag)` holds. A docker-registry spends several ms of CPU per upload, so
/// tests push only the tags a scan chooses (a third of them).
pub fn push_images(
    world: &World,
    capture: &Path,
    date: NaiveDate,
    registry: &Registry,
    wanted_tag: &(dyn Fn(&str, &str) -> bool + Sync),
) -> Result<Pushed> {
    let listed = capture.join(date.to_string()).join("registry.json");
    let text = std::fs::read(&listed).map_err(|e| {
        Error::Input(format!(
            "{}: {e}; build the capture first with `hubaudit sample build`",
            listed.display()
        ))
    })?;
    let entries: Vec<RegistryEntry> =
        serde_json::from_slice(&text).map_err(|e| Error::data(listed.display().to_string(), e))?;
    let wanted: BTreeMap<(String, String), &RegistryEntry> = entries
        .iter()
        .map(|e| ((e.repository.clone(), e.tag.clone()), e))
        .collect();
    let images: Vec<&super::SampleImage> = world
        .images
        .iter()
        .filter(|i| i.at.contains_key(&date))
        .collect();
    // a registry answers uploads one file write at a time: several in flight keep it busy
    let threads = 8.min(images.len().max(1));
    let parts: Vec<Result<Pushed>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<&super::SampleImage> =
                    images.iter().skip(t).step_by(threads).copied().collect();
                let (wanted, listed) = (&wanted, &listed);
                s.spawn(move || push_some(world, &mine, date, registry, wanted, listed, wanted_tag))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("push thread"))
            .collect()
    });
    let mut pushed = Pushed::default();
    for part in parts {
        let p = part?;
        pushed.tags += p.tags;
        pushed.blobs += p.blobs;
        pushed.manifests += p.manifests;
    }
    Ok(pushed)
}

/// Pushes every tag of `images` (one thread's share; a repository is never split).
fn push_some(
    world: &World,
    images: &[&super::SampleImage],
    date: NaiveDate,
    registry: &Registry,
    wanted: &BTreeMap<(String, String), &RegistryEntry>,
    listed: &Path,
    wanted_tag: &(dyn Fn(&str, &str) -> bool + Sync),
) -> Result<Pushed> {
    let mut pushed = Pushed::default();
    let mut bases = BTreeMap::new();
    let mut have: BTreeSet<(String, String)> = BTreeSet::new();
    for img in images {
        for tag in img.tags.iter().filter(|t| wanted_tag(&img.name, t)) {
            let built = world.build_tag(img, tag, date, &mut bases)?;
            let key = (built.entry.repository.clone(), built.entry.tag.clone());
            match wanted.get(&key) {
                Some(e) if **e == built.entry => {}
                _ => {
                    return Err(Error::Input(format!(
                        "{}:{} rebuilds as {}, which {} does not list; rebuild the capture with `hubaudit sample build`",
                        key.0, key.1, built.entry.digest, listed.display()
                    )))
                }
            }
            let repo = &built.entry.repository;
            for image in &built.images {
                let blobs = image.layers.iter().map(|l| &l.blob).chain([&image.config]);
                for blob in blobs {
                    if have.insert((repo.clone(), blob.digest.clone()))
                        && !registry.has_blob(repo, &blob.digest)?
                    {
                        registry.push_blob(repo, &blob.digest, &blob.bytes)?;
                        pushed.blobs += 1;
                    }
                }
                put(registry, repo, &image.manifest.digest, &image.manifest)?;
                pushed.manifests += 1;
            }
            let top = built.index.as_ref().unwrap_or(&built.images[0].manifest);
            put(registry, repo, tag, top)?;
            pushed.manifests += 1;
            pushed.tags += 1;
        }
    }
    Ok(pushed)
}

/// Pushes the Trivy DB of the cache folder `cache` (`cache/db/trivy.db`, `metadata.json`) as
/// `repository:tag`; returns the artifact's manifest digest.
pub fn push_db(cache: &Path, registry: &Registry, repository: &str, tag: &str) -> Result<String> {
    let db = cache.join("db");
    let layer = Blob::new(trivy_media::DB_LAYER, db_archive(&db)?);
    let config = Blob::new(trivy_media::CONFIG, b"{}".to_vec());
    for blob in [&layer, &config] {
        if !registry.has_blob(repository, &blob.digest)? {
            registry.push_blob(repository, &blob.digest, &blob.bytes)?;
        }
    }
    let mut layer_descriptor = layer.descriptor();
    layer_descriptor["annotations"] =
        serde_json::json!({"org.opencontainers.image.title": "db.tar.gz"});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": trivy_media::CONFIG,
        "config": config.descriptor(),
        "layers": [layer_descriptor],
    });
    let manifest = Blob::new(media::MANIFEST, manifest.to_string().into_bytes());
    put(registry, repository, tag, &manifest)?;
    Ok(manifest.digest)
}

fn put(registry: &Registry, repo: &str, reference: &str, blob: &Blob) -> Result<()> {
    let digest = registry.put_manifest(repo, reference, blob.media_type, &blob.bytes)?;
    if digest != blob.digest {
        return Err(Error::Upstream {
            url: registry.host().to_string(),
            reason: format!(
                "{repo}:{reference} was stored as {digest}, not {}: the registry rewrote the manifest",
                blob.digest
            ),
        });
    }
    Ok(())
}

/// A reproducible gzip tar of a DB folder's `trivy.db` and `metadata.json`.
fn db_archive(db: &Path) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for name in ["trivy.db", "metadata.json"] {
        let path = db.join(name);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Input(format!(
                "{}: {e}; build the capture first with `hubaudit sample build`",
                path.display()
            ))
        })?;
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, bytes.as_slice())
            .map_err(|e| Error::internal(db.display().to_string(), e))?;
    }
    let tar = tar
        .into_inner()
        .map_err(|e| Error::internal(db.display().to_string(), e))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)
        .map_err(|e| Error::internal(db.display().to_string(), e))?;
    gz.finish()
        .map_err(|e| Error::internal(db.display().to_string(), e))
}
