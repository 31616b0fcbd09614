//! Writes a Trivy vulnerability DB (`CACHE/db/trivy.db` + `CACHE/db/metadata.json`) from a
//! readable advisory spec. Only the real Trivy verifies it (tests scan with it).
//!
//! Buckets written: one per platform (`debian 10`, `alpine 3.14`) → source package →
//! vulnerability id → advisory; `vulnerability` → id → details; `data-source` → platform →
//! source. Values are compact JSON, empty advisories are written as `{}`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::bolt::{self, Bucket, Node};
use crate::error::{Error, Result};
use crate::io::partition::write_file_atomic;

/// Status codes of Trivy's DB.
pub mod status {
    /// The package is affected and no fix exists.
    pub const AFFECTED: u8 = 2;
    /// A fixed version exists.
    pub const FIXED: u8 = 3;
    /// The distribution will not fix it.
    pub const WILL_NOT_FIX: u8 = 5;
}

/// One advisory: whether and where a source package is fixed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Advisory {
    /// First version with the fix (absent when unfixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// Trivy status code (see [`status`]); absent with a fixed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u8>,
    /// Severity 0 UNKNOWN … 4 CRITICAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<u8>,
    /// Advisory ids of the vendor (`DSA-4963-1`), as trivy-db writes them.
    #[serde(default, rename = "VendorIDs", skip_serializing_if = "Vec::is_empty")]
    pub vendor_ids: Vec<String>,
}

/// Details of a vulnerability id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Vulnerability {
    pub title: String,
    pub description: String,
    /// `LOW`, `MEDIUM`, `HIGH`, `CRITICAL`.
    pub severity: String,
}

/// A data source of a platform bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataSource {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "URL")]
    pub url: String,
}

/// The whole advisory spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AdvisoryDb {
    /// platform → source package → vulnerability id → advisory
    pub platforms: BTreeMap<String, BTreeMap<String, BTreeMap<String, Advisory>>>,
    /// vulnerability id → details
    pub vulnerabilities: BTreeMap<String, Vulnerability>,
    /// platform → data source
    pub data_sources: BTreeMap<String, DataSource>,
}

impl AdvisoryDb {
    /// The bbolt root bucket.
    pub fn to_bucket(&self) -> Bucket {
        let json = |v: &dyn erased::Json| Node::Value(v.json());
        let mut root = Bucket::new();
        for (platform, packages) in &self.platforms {
            let mut pb = Bucket::new();
            for (pkg, advisories) in packages {
                let ab: Bucket = advisories
                    .iter()
                    .map(|(id, a)| (id.as_bytes().to_vec(), json(a)))
                    .collect();
                pb.insert(pkg.as_bytes().to_vec(), Node::Bucket(ab));
            }
            root.insert(platform.as_bytes().to_vec(), Node::Bucket(pb));
        }
        let vulns: Bucket = self
            .vulnerabilities
            .iter()
            .map(|(id, v)| (id.as_bytes().to_vec(), json(v)))
            .collect();
        root.insert(b"vulnerability".to_vec(), Node::Bucket(vulns));
        let sources: Bucket = self
            .data_sources
            .iter()
            .map(|(p, s)| (p.as_bytes().to_vec(), json(s)))
            .collect();
        root.insert(b"data-source".to_vec(), Node::Bucket(sources));
        root
    }

    /// Writes `cache_dir/db/trivy.db` and `metadata.json` (UpdatedAt = `updated_at`).
    pub fn write(&self, cache_dir: &Path, updated_at: DateTime<Utc>) -> Result<()> {
        let db = cache_dir.join("db");
        let bytes = bolt::write(&self.to_bucket())
            .map_err(|e| Error::internal(db.display().to_string(), e))?;
        write_file_atomic(&db.join("trivy.db"), &bytes)?;
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let meta = serde_json::json!({
            "Version": 2,
            "NextUpdate": ts(updated_at + Duration::days(3650)),
            "UpdatedAt": ts(updated_at),
            "DownloadedAt": ts(updated_at),
        });
        write_file_atomic(&db.join("metadata.json"), meta.to_string().as_bytes())
    }
}

mod erased {
    /// Object-safe "serialise to compact JSON".
    pub trait Json {
        fn json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Vec<u8> {
            serde_json::to_vec(self).expect("serialisable")
        }
    }
}
