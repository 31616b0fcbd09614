//! Every Trivy vulnerability DB a scan run used, kept content-addressed, so that a snapshot's
//! numbers can be re-derived exactly later: Trivy publishes no dated DBs (its issue #3123),
//! and the DB a registry serves under `:2` changes every few hours.
//!
//! Words: a DB is a Trivy cache's `db/trivy.db` (bbolt) with its `db/metadata.json`; its
//! *digest* is the sha256 of `trivy.db`, written `sha256:HEX` on every scans row. The store is
//! `1_raw/trivy-db/sha256-HEX/` holding `trivy.db.gz`, `metadata.json` as Trivy wrote it, and
//! `db.json` ([`DbInfo`]: digest, `UpdatedAt`, size, and the registry artifact it was downloaded
//! from, when it was). Raw data is never rewritten: a digest already stored is kept as is.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog;
use crate::error::{Error, Result};
use crate::io::partition::{fsync_dir, fsync_file, publish};

/// What is known about a stored or staged DB (`db.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbInfo {
    /// `sha256:` of `trivy.db`.
    pub digest: String,
    /// `UpdatedAt` of `metadata.json` (RFC 3339), when present.
    pub updated_at: Option<String>,
    /// `NextUpdate` of `metadata.json`.
    pub next_update: Option<String>,
    /// Bytes of `trivy.db`.
    pub bytes: u64,
    /// `REGISTRY/REPOSITORY@sha256:…` of the OCI artifact it was downloaded from, if it was.
    #[serde(default)]
    pub artifact: Option<String>,
}

/// Reads the DB in a cache's `db/` folder: hashes `trivy.db` and reads `metadata.json`.
pub fn inspect(db_dir: &Path) -> Result<DbInfo> {
    let db = db_dir.join("trivy.db");
    let mut file = File::open(&db).map_err(|e| {
        Error::Input(format!(
            "{}: {e}; a Trivy cache holds db/trivy.db and db/metadata.json",
            db.display()
        ))
    })?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(&db, e))?;
    let meta_path = db_dir.join("metadata.json");
    let meta: serde_json::Value = std::fs::read(&meta_path)
        .map_err(|e| Error::io(&meta_path, e))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| Error::data(meta_path.display().to_string(), e))
        })?;
    Ok(DbInfo {
        digest: format!("sha256:{:x}", hasher.finalize()),
        updated_at: meta["UpdatedAt"].as_str().map(String::from),
        next_update: meta["NextUpdate"].as_str().map(String::from),
        bytes,
        artifact: None,
    })
}

/// Keeps the DB of `db_dir` in the store unless its digest is there already; returns whether
/// it was written now.
pub fn store(root: &Path, db_dir: &Path, info: &DbInfo) -> Result<bool> {
    let target = catalog::trivy_db_dir(root, &info.digest);
    if target.join("db.json").exists() {
        return Ok(false);
    }
    let area = catalog::staging_area(root);
    let tmp = area.join(format!(
        "trivy-db-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = (|| {
        let gz = tmp.join("trivy.db.gz");
        compress(&db_dir.join("trivy.db"), &gz)?;
        let meta = tmp.join("metadata.json");
        std::fs::copy(db_dir.join("metadata.json"), &meta).map_err(|e| Error::io(&meta, e))?;
        let json = tmp.join("db.json");
        let text = serde_json::to_string_pretty(info).expect("db info serialises") + "\n";
        std::fs::write(&json, text).map_err(|e| Error::io(&json, e))?;
        for f in [&gz, &meta, &json] {
            fsync_file(f)?;
        }
        fsync_dir(&tmp)?;
        let parent = target.parent().expect("store has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        publish(&tmp, &target)?;
        fsync_dir(parent)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| true)
}

/// Every stored DB, oldest `UpdatedAt` first.
pub fn stored(root: &Path) -> Result<Vec<DbInfo>> {
    let dir = catalog::trivy_db_store(root);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join("db.json");
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let info: DbInfo = serde_json::from_slice(&text)
            .map_err(|e| Error::data(path.display().to_string(), e))?;
        out.push(info);
    }
    out.sort_by(|a, b| {
        a.updated_at
            .cmp(&b.updated_at)
            .then(a.digest.cmp(&b.digest))
    });
    Ok(out)
}

/// Writes the stored DB `digest` into a cache's `db/` folder (`into`), checking the digest.
pub fn restore(root: &Path, digest: &str, into: &Path) -> Result<DbInfo> {
    let dir = catalog::trivy_db_dir(root, digest);
    let info_path = dir.join("db.json");
    let text = std::fs::read(&info_path).map_err(|_| {
        let known: Vec<String> = stored(root)
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                format!(
                    "{} (updated {})",
                    d.digest,
                    d.updated_at.unwrap_or_default()
                )
            })
            .collect();
        Error::Input(format!(
            "no stored Trivy DB {digest} in {}; stored: {}",
            catalog::trivy_db_store(root).display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })?;
    let info: DbInfo = serde_json::from_slice(&text)
        .map_err(|e| Error::data(info_path.display().to_string(), e))?;
    std::fs::create_dir_all(into).map_err(|e| Error::io(into, e))?;
    decompress(&dir.join("trivy.db.gz"), &into.join("trivy.db"))?;
    std::fs::copy(dir.join("metadata.json"), into.join("metadata.json"))
        .map_err(|e| Error::io(into.join("metadata.json"), e))?;
    let got = inspect(into)?;
    if got.digest != info.digest {
        return Err(Error::data(
            dir.display().to_string(),
            format!(
                "the stored DB is damaged: its trivy.db hashes to {}, not {}",
                got.digest, info.digest
            ),
        ));
    }
    Ok(info)
}

/// Makes `into` (a run's `db/` folder) hold the DB of `from`: hard links when both are on one
/// file system (a DB is hundreds of MB; Trivy opens it read-only), else copies.
pub fn link(from: &Path, into: &Path) -> Result<()> {
    std::fs::create_dir_all(into).map_err(|e| Error::io(into, e))?;
    for name in ["trivy.db", "metadata.json"] {
        let (src, dst) = (from.join(name), into.join(name));
        if std::fs::hard_link(&src, &dst).is_err() {
            // the source was just read: a failure is the copy's side (a full disk)
            std::fs::copy(&src, &dst).map_err(|e| Error::io(&dst, e))?;
        }
    }
    Ok(())
}

fn compress(from: &Path, to: &PathBuf) -> Result<()> {
    let mut input = BufReader::new(File::open(from).map_err(|e| Error::io(from, e))?);
    let out = File::create(to).map_err(|e| Error::io(to, e))?;
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::fast());
    std::io::copy(&mut input, &mut gz).map_err(|e| Error::io(to, e))?;
    gz.finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| Error::io(to, e))
}

fn decompress(from: &Path, to: &Path) -> Result<()> {
    let mut gz = flate2::read::GzDecoder::new(BufReader::new(
        File::open(from).map_err(|e| Error::io(from, e))?,
    ));
    let mut out = BufWriter::new(File::create(to).map_err(|e| Error::io(to, e))?);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = gz
            .read(&mut buf)
            .map_err(|e| Error::data(from.display().to_string(), e))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| Error::io(to, e))?;
    }
    out.flush().map_err(|e| Error::io(to, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, content: &[u8]) -> PathBuf {
        let db = dir.join("db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("trivy.db"), content).unwrap();
        std::fs::write(
            db.join("metadata.json"),
            br#"{"Version":2,"UpdatedAt":"2021-07-28T00:00:00Z","NextUpdate":"2031-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        db
    }

    #[test]
    fn a_db_is_stored_once_by_digest_and_restored_intact() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("datasets");
        let db = cache(t.path(), b"bbolt bytes");
        let info = inspect(&db).unwrap();
        assert_eq!(
            info.digest,
            crate::sample::image::sha256_digest(b"bbolt bytes")
        );
        assert_eq!(info.updated_at.as_deref(), Some("2021-07-28T00:00:00Z"));
        assert!(store(&root, &db, &info).unwrap());
        assert!(
            !store(&root, &db, &info).unwrap(),
            "a stored digest is not rewritten"
        );
        assert_eq!(stored(&root).unwrap(), vec![info.clone()]);
        let back = t.path().join("run/db");
        assert_eq!(restore(&root, &info.digest, &back).unwrap(), info);
        assert_eq!(
            std::fs::read(back.join("trivy.db")).unwrap(),
            b"bbolt bytes"
        );
    }

    #[test]
    fn an_unknown_digest_lists_what_is_stored_and_damage_is_named() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("datasets");
        let db = cache(t.path(), b"one");
        let info = inspect(&db).unwrap();
        store(&root, &db, &info).unwrap();
        let e = restore(&root, "sha256:00", &t.path().join("x")).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains(&info.digest), "{e}");
        // a stored file that was changed after it was written
        let gz = catalog::trivy_db_dir(&root, &info.digest).join("trivy.db.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"two").unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let e = restore(&root, &info.digest, &t.path().join("y")).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
    }
}
