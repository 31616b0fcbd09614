//! Builds the sample world's container images byte for byte: layers, image configs, OCI
//! manifests and indexes (what a registry serves), and docker-save tarballs (what `--input`
//! reads), all reproducible and with correct digests.
//!
//! Words: a *layer* is a tar of files; its *DiffID* is the sha256 of the uncompressed tar
//! (what an image config lists and what Trivy keys its layer cache by) and its *digest* the
//! sha256 of the gzip blob a registry stores. The *image ID* is the sha256 of the config; the
//! *manifest digest* is the sha256 of the manifest JSON and is what a registry and the Hub call
//! the image's digest (`docker pull NAME@sha256:…`). A multi-platform tag points at an *index*
//! listing one manifest per platform. Sample images have two layers, like official images: a
//! base layer shared by every image of an OS release and platform, and the application layer.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::io::partition::write_file_atomic;

/// A root filesystem: path (relative, `/`-separated) → contents.
pub type Rootfs = BTreeMap<String, Vec<u8>>;

/// OCI media types used by the sample images.
pub mod media {
    /// An OCI image index (one manifest per platform).
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// An OCI image manifest.
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// An OCI image config.
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// A gzip-compressed layer.
    pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
}

/// A package of a rootfs.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// Binary package name (`libssl1.1`).
    pub name: String,
    /// Source package name (`openssl`).
    pub source: String,
    /// Installed version.
    pub version: String,
}

/// A platform of a multi-platform image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    /// `amd64`, `arm64`.
    pub architecture: &'static str,
    /// `v8` for arm64.
    pub variant: Option<&'static str>,
}

impl Platform {
    /// linux/amd64.
    pub const AMD64: Platform = Platform {
        architecture: "amd64",
        variant: None,
    };
    /// linux/arm64/v8.
    pub const ARM64: Platform = Platform {
        architecture: "arm64",
        variant: Some("v8"),
    };

    /// The platform of an architecture name used in the sample spec.
    pub fn parse(arch: &str) -> Option<Platform> {
        match arch {
            "amd64" => Some(Platform::AMD64),
            "arm64" => Some(Platform::ARM64),
            _ => None,
        }
    }

    /// The architecture as dpkg (`amd64`, `arm64`) and apk (`x86_64`, `aarch64`) write it.
    fn package_arch(self, apk: bool) -> &'static str {
        match (self.architecture, apk) {
            ("amd64", true) => "x86_64",
            ("arm64", true) => "aarch64",
            (a, _) => a,
        }
    }
}

/// The package database files of a Debian rootfs (`var/lib/dpkg/status`), and with `release`
/// the release file the OS is detected by (`etc/debian_version`).
pub fn debian_files(release: Option<&str>, platform: Platform, packages: &[Package]) -> Rootfs {
    let mut status = String::new();
    for p in packages {
        status.push_str(&format!(
            "Package: {}\nStatus: install ok installed\nArchitecture: {}\nSource: {}\nVersion: {}\nDescription: sample package\n\n",
            p.name, platform.package_arch(false), p.source, p.version
        ));
    }
    let mut fs = Rootfs::new();
    if let Some(release) = release {
        fs.insert(
            "etc/debian_version".into(),
            format!("{release}\n").into_bytes(),
        );
    }
    fs.insert("var/lib/dpkg/status".into(), status.into_bytes());
    fs
}

/// The package database of an Alpine rootfs (`lib/apk/db/installed`), and with `release` the
/// files the OS is detected by (`etc/alpine-release`, `etc/os-release`).
pub fn alpine_files(release: Option<&str>, platform: Platform, packages: &[Package]) -> Rootfs {
    let mut installed = String::new();
    for p in packages {
        installed.push_str(&format!(
            "P:{}\nV:{}\nA:{}\no:{}\n\n",
            p.name,
            p.version,
            platform.package_arch(true),
            p.source
        ));
    }
    let mut fs = Rootfs::new();
    if let Some(release) = release {
        fs.insert(
            "etc/alpine-release".into(),
            format!("{release}\n").into_bytes(),
        );
        fs.insert(
            "etc/os-release".into(),
            format!("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID={release}\n").into_bytes(),
        );
    }
    fs.insert("lib/apk/db/installed".into(), installed.into_bytes());
    fs
}

/// A one-layer Debian rootfs (release file and package database), for tests.
pub fn debian_rootfs(release: &str, packages: &[Package]) -> Rootfs {
    debian_files(Some(release), Platform::AMD64, packages)
}

/// Bytes with their sha256 digest and media type: a blob as a registry stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    /// `sha256:HEX` of `bytes`.
    pub digest: String,
    /// The OCI media type.
    pub media_type: &'static str,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// A blob of `bytes`.
    pub fn new(media_type: &'static str, bytes: Vec<u8>) -> Blob {
        Blob {
            digest: sha256_digest(&bytes),
            media_type,
            bytes,
        }
    }

    /// The OCI descriptor of this blob.
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// One layer: the uncompressed tar (for docker-save archives) and the gzip blob (for
/// registries).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// The uncompressed tar.
    pub tar: Vec<u8>,
    /// The gzip blob.
    pub blob: Blob,
    /// What the layer is, for the config's history (`created_by`).
    pub created_by: String,
}

impl Layer {
    /// Tars `rootfs` (fixed mtimes, owners and order) and compresses it reproducibly.
    pub fn build(rootfs: &Rootfs, created_by: &str) -> Result<Layer> {
        let tar = tar_of(rootfs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        // gzip with a zero mtime and no file name: equal layers give equal blobs
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar)
            .and_then(|_| gz.try_finish())
            .map_err(|e| Error::internal("gzip of a sample layer", e))?;
        let gz = gz
            .finish()
            .map_err(|e| Error::internal("gzip of a sample layer", e))?;
        Ok(Layer {
            diff_id: sha256_digest(&tar),
            tar,
            blob: Blob::new(media::LAYER, gz),
            created_by: created_by.to_string(),
        })
    }
}

/// A single-platform image: config and manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Its platform.
    pub platform: Platform,
    /// Layers, base first.
    pub layers: Vec<Layer>,
    /// The config blob; its digest is the image ID.
    pub config: Blob,
    /// The manifest blob; its digest is the image's digest in a registry and on the Hub.
    pub manifest: Blob,
}

impl Image {
    /// Builds the config and manifest of `layers` (base first) for `platform`.
    pub fn build(platform: Platform, layers: Vec<Layer>) -> Image {
        let created = "2021-01-01T00:00:00Z";
        let mut config = json!({
            "architecture": platform.architecture,
            "os": "linux",
            "created": created,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            "history": layers.iter().map(|l| json!({"created": created, "created_by": l.created_by})).collect::<Vec<_>>(),
        });
        if let Some(v) = platform.variant {
            config["variant"] = json!(v);
        }
        let config = Blob::new(media::CONFIG, config.to_string().into_bytes());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::MANIFEST,
            "config": config.descriptor(),
            "layers": layers.iter().map(|l| l.blob.descriptor()).collect::<Vec<_>>(),
        });
        Image {
            platform,
            layers,
            config,
            manifest: Blob::new(media::MANIFEST, manifest.to_string().into_bytes()),
        }
    }

    /// Compressed size: config and layer blobs (what the Hub lists as an image's size).
    pub fn size(&self) -> i64 {
        (self.config.bytes.len()
            + self
                .layers
                .iter()
                .map(|l| l.blob.bytes.len())
                .sum::<usize>()) as i64
    }

    /// The blobs a registry needs for this image, manifest last.
    pub fn blobs(&self) -> Vec<&Blob> {
        let mut v: Vec<&Blob> = self.layers.iter().map(|l| &l.blob).collect();
        v.push(&self.config);
        v.push(&self.manifest);
        v
    }
}

/// The OCI index of a multi-platform image.
pub fn index(images: &[&Image]) -> Blob {
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|img| {
            let mut platform = json!({"architecture": img.platform.architecture, "os": "linux"});
            if let Some(v) = img.platform.variant {
                platform["variant"] = json!(v);
            }
            let mut d = img.manifest.descriptor();
            d["platform"] = platform;
            d
        })
        .collect();
    Blob::new(
        media::INDEX,
        json!({"schemaVersion": 2, "mediaType": media::INDEX, "manifests": manifests})
            .to_string()
            .into_bytes(),
    )
}

/// A docker-save tarball of `image` tagged `repo_tag`: the config, one `DIR/layer.tar` per
/// layer and `manifest.json`.
pub fn docker_archive(repo_tag: &str, image: &Image) -> Result<Vec<u8>> {
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let config_name = format!("{}.json", hex(&image.config.digest));
    let layer_names: Vec<String> = image
        .layers
        .iter()
        .map(|l| format!("{}/layer.tar", hex(&l.diff_id)))
        .collect();
    let manifest = json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}])
        .to_string()
        .into_bytes();
    let mut members: Vec<(&str, &[u8])> = vec![(config_name.as_str(), &image.config.bytes)];
    for (name, layer) in layer_names.iter().zip(&image.layers) {
        members.push((name.as_str(), &layer.tar));
    }
    members.push(("manifest.json", &manifest));
    tar_of(members.into_iter())
}

/// Writes a docker-save tarball of `image` (see [`docker_archive`]) atomically.
pub fn write_docker_archive(path: &Path, repo_tag: &str, image: &Image) -> Result<()> {
    write_file_atomic(path, &docker_archive(repo_tag, image)?)
}

/// `sha256:HEX` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A reproducible tar of `(path, bytes)` members.
fn tar_of<'a>(files: impl Iterator<Item = (&'a str, &'a [u8])>) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data)
            .map_err(|e| Error::internal("tar of a sample layer", e))?;
    }
    b.into_inner()
        .map_err(|e| Error::internal("tar of a sample layer", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str) -> Layer {
        let mut fs = Rootfs::new();
        fs.insert("etc/x".into(), text.as_bytes().to_vec());
        Layer::build(&fs, text).unwrap()
    }

    #[test]
    fn equal_content_gives_equal_bytes_and_digests() {
        let (a, b) = (layer("same"), layer("same"));
        assert_eq!(a, b);
        assert_ne!(
            a.diff_id, a.blob.digest,
            "DiffID is of the tar, digest of the gzip"
        );
        let i1 = Image::build(Platform::AMD64, vec![layer("base"), layer("app")]);
        let i2 = Image::build(Platform::AMD64, vec![layer("base"), layer("app")]);
        assert_eq!(i1.manifest.digest, i2.manifest.digest);
        assert_eq!(i1.manifest.digest, sha256_digest(&i1.manifest.bytes));
    }

    #[test]
    fn manifest_lists_config_and_layers_and_the_index_lists_platforms() {
        let amd = Image::build(Platform::AMD64, vec![layer("base"), layer("app")]);
        let arm = Image::build(Platform::ARM64, vec![layer("base-arm"), layer("app")]);
        let m: serde_json::Value = serde_json::from_slice(&amd.manifest.bytes).unwrap();
        assert_eq!(m["config"]["digest"], amd.config.digest.as_str());
        assert_eq!(m["layers"][1]["digest"], amd.layers[1].blob.digest.as_str());
        let c: serde_json::Value = serde_json::from_slice(&amd.config.bytes).unwrap();
        assert_eq!(c["rootfs"]["diff_ids"][0], amd.layers[0].diff_id.as_str());
        let idx = index(&[&amd, &arm]);
        let i: serde_json::Value = serde_json::from_slice(&idx.bytes).unwrap();
        assert_eq!(i["manifests"][1]["platform"]["variant"], "v8");
        assert_eq!(i["manifests"][0]["digest"], amd.manifest.digest.as_str());
    }
}
