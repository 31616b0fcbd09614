//! Builds tiny docker-save image tarballs from a rootfs spec, with correct DiffIDs.
//!
//! Members: `LAYER/layer.tar` (an uncompressed tar of the rootfs), `CONFIG.json` whose
//! `rootfs.diff_ids` holds the layer's real sha256 (Trivy caches layer analysis by DiffID),
//! and `manifest.json`. Byte-for-byte reproducible: fixed mtimes, owners and order. The
//! config's sha256 is the image ID, used as the sample world's digest.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::io::partition::write_file_atomic;

/// A root filesystem: path (relative, `/`-separated) → contents.
pub type Rootfs = BTreeMap<String, Vec<u8>>;

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

/// A Debian rootfs: `etc/debian_version` and `var/lib/dpkg/status`.
pub fn debian_rootfs(release: &str, packages: &[Package]) -> Rootfs {
    let mut status = String::new();
    for p in packages {
        status.push_str(&format!(
            "Package: {}\nStatus: install ok installed\nArchitecture: amd64\nSource: {}\nVersion: {}\nDescription: sample package\n\n",
            p.name, p.source, p.version
        ));
    }
    let mut fs = Rootfs::new();
    fs.insert(
        "etc/debian_version".into(),
        format!("{release}\n").into_bytes(),
    );
    fs.insert("var/lib/dpkg/status".into(), status.into_bytes());
    fs
}

/// An Alpine rootfs: `etc/alpine-release`, `etc/os-release`, `lib/apk/db/installed`.
pub fn alpine_rootfs(release: &str, packages: &[Package]) -> Rootfs {
    let mut installed = String::new();
    for p in packages {
        installed.push_str(&format!(
            "P:{}\nV:{}\nA:x86_64\no:{}\n\n",
            p.name, p.version, p.source
        ));
    }
    let mut fs = Rootfs::new();
    fs.insert(
        "etc/alpine-release".into(),
        format!("{release}\n").into_bytes(),
    );
    fs.insert(
        "etc/os-release".into(),
        format!("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID={release}\n").into_bytes(),
    );
    fs.insert("lib/apk/db/installed".into(), installed.into_bytes());
    fs
}

fn tar_of(files: &[(String, Vec<u8>)], what: &str) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data.as_slice())
            .map_err(|e| Error::data(what.to_string(), e))?;
    }
    b.into_inner().map_err(|e| Error::data(what.to_string(), e))
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Writes a docker-save tarball of `rootfs` tagged `repo_tag`; returns the image ID
/// (`sha256:` of the config).
pub fn write_image(path: &Path, repo_tag: &str, rootfs: &Rootfs) -> Result<String> {
    let what = path.display().to_string();
    let files: Vec<(String, Vec<u8>)> =
        rootfs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let layer = tar_of(&files, &what)?;
    let diff_id = sha256_hex(&layer);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2021-01-01T00:00:00Z",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created": "2021-01-01T00:00:00Z", "created_by": "hubaudit sample world"}],
    })
    .to_string()
    .into_bytes();
    let config_id = sha256_hex(&config);
    let manifest = json!([{
        "Config": format!("{config_id}.json"),
        "RepoTags": [repo_tag],
        "Layers": [format!("{diff_id}/layer.tar")],
    }])
    .to_string()
    .into_bytes();
    let image = tar_of(
        &[
            (format!("{config_id}.json"), config),
            (format!("{diff_id}/layer.tar"), layer),
            ("manifest.json".to_string(), manifest),
        ],
        &what,
    )?;
    write_file_atomic(path, &image)?;
    Ok(format!("sha256:{config_id}"))
}
