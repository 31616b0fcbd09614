//! The dataset catalog: every dataset the pipeline reads or writes, with its layer, folder and
//! Arrow schema. No other module builds a dataset path.
//!
//! Words: a *dataset* is a table (or a raw capture) that grows one *partition* per *snapshot*
//! date; a partition is the folder `LAYER/NAME/snapshot=YYYY-MM-DD/` holding the data file(s)
//! and `_manifest.json`. These folders read as hive partitions in polars, DuckDB and pyarrow
//! (the `snapshot` column comes from the folder name, so it is not stored in the files).
//! The report layer is the exception: `4_report/YYYY-MM-DD/` is a folder of files to publish.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;

use crate::error::{Error, Result};

/// The numbered layers, so that `ls datasets/` shows the pipeline's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Responses and outputs exactly as received, compressed. Never rewritten.
    Raw,
    /// One-to-one with raw: renamed, typed, parsed; never joined.
    Staged,
    /// Joined tables at an entity's grain, for analysts.
    Marts,
    /// Published report files.
    Report,
}

impl Layer {
    /// The layer's folder name.
    pub fn dir(self) -> &'static str {
        match self {
            Layer::Raw => "1_raw",
            Layer::Staged => "2_staged",
            Layer::Marts => "3_marts",
            Layer::Report => "4_report",
        }
    }
}

/// A dataset of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// Stable id, used in manifests and messages.
    pub id: &'static str,
    /// Its layer.
    pub layer: Layer,
    /// Folder below the layer.
    pub name: &'static str,
    /// The data file inside each partition.
    pub file: &'static str,
    /// Its Arrow schema (None for raw captures, which are JSON lines).
    pub schema: Option<fn() -> SchemaRef>,
    /// One line for humans.
    pub description: &'static str,
}

impl Dataset {
    /// `LAYER/NAME`, as the docs write it (`2_staged/repositories`).
    pub fn path(&self) -> String {
        format!("{}/{}", self.layer.dir(), self.name)
    }
}

/// Raw Hub API responses of one extract run: `responses.jsonl.gz`, one JSON object per
/// response (`url`, `status`, `received_at`, selected `headers`, `body`).
pub const HUB_RAW: Dataset = Dataset {
    id: "raw.hub",
    layer: Layer::Raw,
    name: "hub",
    file: "responses.jsonl.gz",
    schema: None,
    description: "Hub API responses as received (gzip JSON lines)",
};

/// One row per repository of the namespace.
pub const REPOSITORIES: Dataset = Dataset {
    id: "staged.repositories",
    layer: Layer::Staged,
    name: "repositories",
    file: "part-0.parquet",
    schema: Some(repositories_schema),
    description: "one row per Hub repository: list fields, description, deprecation notice",
};

/// One row per tag × platform image.
pub const TAGS: Dataset = Dataset {
    id: "staged.tags",
    layer: Layer::Staged,
    name: "tags",
    file: "part-0.parquet",
    schema: Some(tags_schema),
    description: "one row per tag and platform image: digest, os, architecture, size, dates",
};

/// Raw Trivy output of one scan run: `reports.jsonl.gz`, one JSON object per image (`name`,
/// `tag`, `analysis`, `exit_code`, `report` as Trivy printed it or null, `stderr`).
pub const SCAN_RAW: Dataset = Dataset {
    id: "raw.scan",
    layer: Layer::Raw,
    name: "scan",
    file: "reports.jsonl.gz",
    schema: None,
    description: "Trivy JSON reports as printed (gzip JSON lines)",
};

/// One row per image scanned (or that failed to scan).
pub const SCANS: Dataset = Dataset {
    id: "staged.scans",
    layer: Layer::Staged,
    name: "scans",
    file: "part-0.parquet",
    schema: Some(scans_schema),
    description:
        "one row per image: tag choice, digest, OS, EOL, counts by severity, status, provenance",
};

/// One row per vulnerability × package of every scan.
pub const FINDINGS: Dataset = Dataset {
    id: "staged.findings",
    layer: Layer::Staged,
    name: "findings",
    file: "part-0.parquet",
    schema: Some(findings_schema),
    description: "one row per vulnerability and installed package: ids, versions, status, severity",
};

/// Raw list responses of a light pull-count run.
pub const PULL_COUNTS_RAW: Dataset = Dataset {
    id: "raw.pull_counts",
    layer: Layer::Raw,
    name: "pull_counts",
    file: "responses.jsonl.gz",
    schema: None,
    description: "Hub list responses of the pull-count stage (gzip JSON lines)",
};

/// One row per repository: pulls and stars at a capture time (list endpoint only).
pub const PULL_COUNTS: Dataset = Dataset {
    id: "staged.pull_counts",
    layer: Layer::Staged,
    name: "pull_counts",
    file: "part-0.parquet",
    schema: Some(pull_counts_schema),
    description: "one row per repository: pull_count, star_count, last_updated at captured_at",
};

/// What a backfill read for a date: `commits.jsonl.gz` (docs and official-images commits).
pub const BACKFILL_RAW: Dataset = Dataset {
    id: "raw.backfill",
    layer: Layer::Raw,
    name: "backfill",
    file: "commits.jsonl.gz",
    schema: None,
    description: "the docker-library commits a backfilled snapshot was read from",
};

/// What a time-travel run matched: `reports.jsonl.gz`, one JSON object per image (`name`,
/// `tag`, the inventory used, the dpkg status file scanned, Trivy's report as printed).
pub const TIMETRAVEL_RAW: Dataset = Dataset {
    id: "raw.timetravel",
    layer: Layer::Raw,
    name: "timetravel",
    file: "reports.jsonl.gz",
    schema: None,
    description: "time travel: the inventory scanned and Trivy's report as printed, per image",
};

/// One row per catalogued image of a time-travel date (`source = "timetravel"`).
pub const TIMETRAVEL_SCANS: Dataset = Dataset {
    id: "staged.timetravel_scans",
    layer: Layer::Staged,
    name: "timetravel_scans",
    file: "part-0.parquet",
    schema: Some(timetravel_scans_schema),
    description: "time travel: per image, counts from public history at the date, with provenance",
};

/// One row per vulnerability × package of a time-travel scan.
pub const TIMETRAVEL_FINDINGS: Dataset = Dataset {
    id: "staged.timetravel_findings",
    layer: Layer::Staged,
    name: "timetravel_findings",
    file: "part-0.parquet",
    schema: Some(timetravel_findings_schema),
    description: "time travel: per finding, the advisory ids and the date its fix was released",
};

/// Mart: one row per image per snapshot.
pub const IMAGES: Dataset = Dataset {
    id: "marts.images",
    layer: Layer::Marts,
    name: "images",
    file: "part-0.parquet",
    schema: Some(images_schema),
    description: "one row per image and snapshot: catalog, deprecation, latest scan, EOL, pulls",
};

/// Mart: one row per finding of the latest scan of each catalogued image.
pub const FINDINGS_MART: Dataset = Dataset {
    id: "marts.findings",
    layer: Layer::Marts,
    name: "findings",
    file: "part-0.parquet",
    schema: Some(findings_mart_schema),
    description: "one row per vulnerability and package, with the image's deprecation, OS and EOL",
};

/// Mart: pull counts per image and capture (from extract-hub and pull-counts).
pub const PULLS_MART: Dataset = Dataset {
    id: "marts.pulls",
    layer: Layer::Marts,
    name: "pulls",
    file: "part-0.parquet",
    schema: Some(pulls_mart_schema),
    description: "one row per image and capture date: pull_count and where it was read",
};

/// Rows that could not be joined, with the reason.
pub const REJECTS: Dataset = Dataset {
    id: "marts.rejects",
    layer: Layer::Marts,
    name: "rejects",
    file: "part-0.parquet",
    schema: Some(rejects_schema),
    description: "rows of staged tables that did not join, with the reason",
};

/// A folder of the dataset root that is not partitioned by snapshot: a content-addressed
/// store, or the report's date folders. Stages read and write them like datasets (the DAG in
/// `dag` lists them), but they have no manifest and no schema.
#[derive(Debug, Clone, Copy)]
pub struct Store {
    /// Stable id, used by `hubaudit dag`.
    pub id: &'static str,
    /// Its layer.
    pub layer: Layer,
    /// Folder below the layer; `DATE` stands for one folder per date.
    pub name: &'static str,
    /// One line for humans.
    pub description: &'static str,
}

impl Store {
    /// `LAYER/NAME`, as the docs write it (`1_raw/sbom`, `4_report/DATE`).
    pub fn path(&self) -> String {
        format!("{}/{}", self.layer.dir(), self.name)
    }
}

/// Package inventories by image digest: `1_raw/sbom/sha256-HEX.trivy.json` (see
/// [`inventory_path`]).
pub const SBOM_STORE: Store = Store {
    id: "raw.sbom",
    layer: Layer::Raw,
    name: "sbom",
    description:
        "package inventory of every image digest analysed (Trivy JSON, no vulnerabilities)",
};

/// The Trivy DBs scans used, by the sha256 of `trivy.db`: `1_raw/trivy-db/sha256-HEX/` (see
/// [`trivy_db_dir`]).
pub const TRIVY_DB_STORE: Store = Store {
    id: "raw.trivy_db",
    layer: Layer::Raw,
    name: "trivy-db",
    description: "every Trivy DB a scan used, by the sha256 of its trivy.db",
};

/// The published report of each date: `4_report/DATE/` (see [`report_dir`]).
pub const REPORT: Store = Store {
    id: "report",
    layer: Layer::Report,
    name: "DATE",
    description: "the report for a date: index.html, report.md, one CSV per table",
};

/// Every store.
pub const STORES: &[Store] = &[SBOM_STORE, TRIVY_DB_STORE, REPORT];

/// Every partitioned dataset, in pipeline order.
pub const ALL: &[Dataset] = &[
    HUB_RAW,
    REPOSITORIES,
    TAGS,
    SCAN_RAW,
    SCANS,
    FINDINGS,
    PULL_COUNTS_RAW,
    PULL_COUNTS,
    BACKFILL_RAW,
    TIMETRAVEL_RAW,
    TIMETRAVEL_SCANS,
    TIMETRAVEL_FINDINGS,
    IMAGES,
    FINDINGS_MART,
    PULLS_MART,
    REJECTS,
];

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn utf8_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// Schema of [`REPOSITORIES`].
pub fn repositories_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("namespace", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("full_description", DataType::Utf8, true),
        Field::new("star_count", DataType::Int64, true),
        Field::new("pull_count", DataType::Int64, true),
        Field::new("last_updated", ts(), true),
        Field::new("date_registered", ts(), true),
        Field::new("status", DataType::Utf8, true),
        Field::new("deprecated", DataType::Boolean, false),
        Field::new("deprecated_since", DataType::Date32, true),
        Field::new("deprecation_targets", utf8_list(), false),
        Field::new("deprecation_alternatives", utf8_list(), false),
        Field::new("deprecation_link", DataType::Utf8, true),
        Field::new("notice_text", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("captured_at", ts(), false),
        Field::new("detail_captured_at", ts(), true),
        Field::new("carried_forward", DataType::Boolean, false),
    ]))
}

/// Schema of [`TAGS`].
pub fn tags_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("repository", DataType::Utf8, false),
        Field::new("tag", DataType::Utf8, false),
        Field::new("digest", DataType::Utf8, true),
        Field::new("os", DataType::Utf8, true),
        Field::new("architecture", DataType::Utf8, true),
        Field::new("variant", DataType::Utf8, true),
        Field::new("size", DataType::Int64, true),
        Field::new("full_size", DataType::Int64, true),
        Field::new("last_updated", ts(), true),
        Field::new("last_pulled", ts(), true),
        Field::new("last_pushed", ts(), true),
        Field::new("tag_status", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("captured_at", ts(), false),
        Field::new("carried_forward", DataType::Boolean, false),
    ]))
}

/// Schema of [`SCANS`].
pub fn scans_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("tag", DataType::Utf8, true),
        Field::new("tag_reason", DataType::Utf8, false),
        Field::new("digest", DataType::Utf8, true),
        Field::new("image_ref", DataType::Utf8, true),
        Field::new("analysis", DataType::Utf8, false),
        Field::new("os_family", DataType::Utf8, true),
        Field::new("os_name", DataType::Utf8, true),
        Field::new("eol_date", DataType::Date32, true),
        Field::new("eol_at_snapshot", DataType::Boolean, true),
        Field::new("trivy_eosl", DataType::Boolean, true),
    ];
    for prefix in ["", "fixable_"] {
        for sev in ["total", "critical", "high", "medium", "low", "unknown"] {
            let name = if prefix.is_empty() || sev != "total" {
                format!("{prefix}{sev}")
            } else {
                "fixable".to_string()
            };
            fields.push(Field::new(name, DataType::Int64, true));
        }
    }
    fields.extend([
        Field::new("status", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("duration_ms", DataType::Int64, true),
        Field::new("trivy_version", DataType::Utf8, true),
        Field::new("db_updated_at", ts(), true),
        Field::new("db_digest", DataType::Utf8, true),
        Field::new("layers_analysed", DataType::Int64, true),
        Field::new("note", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("platform", DataType::Utf8, true),
        Field::new("study_choice", DataType::Boolean, false),
    ]);
    Arc::new(Schema::new(fields))
}

/// Schema of [`FINDINGS`].
pub fn findings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("tag", DataType::Utf8, true),
        Field::new("digest", DataType::Utf8, true),
        Field::new("vulnerability_id", DataType::Utf8, false),
        Field::new("pkg_name", DataType::Utf8, false),
        Field::new("installed_version", DataType::Utf8, false),
        Field::new("fixed_version", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("fixable", DataType::Boolean, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("target", DataType::Utf8, false),
        Field::new("class", DataType::Utf8, true),
        Field::new("platform", DataType::Utf8, true),
        Field::new("study_choice", DataType::Boolean, false),
    ]))
}

/// Schema of [`TIMETRAVEL_SCANS`].
pub fn timetravel_scans_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("tag", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, true),
        Field::new("inventory", DataType::Utf8, true),
        Field::new("inventory_file", DataType::Utf8, true),
        Field::new("inventory_commit", DataType::Utf8, true),
        Field::new("inventory_sha256", DataType::Utf8, true),
        Field::new("inventory_title", DataType::Utf8, true),
        Field::new("inventory_image_id", DataType::Utf8, true),
        Field::new("inventory_created", ts(), true),
        Field::new("packages", DataType::Int64, true),
        Field::new("os_family", DataType::Utf8, true),
        Field::new("os_name", DataType::Utf8, true),
        Field::new("advisories", DataType::Utf8, true),
        Field::new("tracker", DataType::Utf8, true),
    ];
    for name in crate::tables::SEVERITY_COLUMNS
        .iter()
        .chain(crate::tables::FIXABLE_COLUMNS.iter())
    {
        fields.push(Field::new(*name, DataType::Int64, true));
    }
    fields.extend([
        Field::new("trivy_version", DataType::Utf8, true),
        Field::new("db_digest", DataType::Utf8, true),
        Field::new("db_updated_at", ts(), true),
        Field::new("catalog_snapshot", DataType::Date32, false),
        Field::new("source", DataType::Utf8, false),
    ]);
    Arc::new(Schema::new(fields))
}

/// Schema of [`TIMETRAVEL_FINDINGS`].
pub fn timetravel_findings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("tag", DataType::Utf8, true),
        Field::new("vulnerability_id", DataType::Utf8, false),
        Field::new("pkg_name", DataType::Utf8, false),
        Field::new("source_package", DataType::Utf8, true),
        Field::new("installed_version", DataType::Utf8, false),
        Field::new("fixed_version", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("fixable", DataType::Boolean, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("advisory_ids", utf8_list(), false),
        Field::new("fix_released", DataType::Date32, true),
        Field::new("source", DataType::Utf8, false),
    ]))
}

/// Schema of [`PULL_COUNTS`].
pub fn pull_counts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("namespace", DataType::Utf8, false),
        Field::new("pull_count", DataType::Int64, true),
        Field::new("star_count", DataType::Int64, true),
        Field::new("last_updated", ts(), true),
        Field::new("captured_at", ts(), false),
        Field::new("source", DataType::Utf8, false),
    ]))
}

/// Schema of [`IMAGES`].
pub fn images_schema() -> SchemaRef {
    let date = || DataType::Date32;
    let int = || DataType::Int64;
    let text = || DataType::Utf8;
    Arc::new(Schema::new(vec![
        Field::new("name", text(), false),
        Field::new("namespace", text(), false),
        Field::new("description", text(), true),
        Field::new("source", text(), false),
        Field::new("star_count", int(), true),
        Field::new("pull_count", int(), true),
        Field::new("last_updated", ts(), true),
        Field::new("last_updated_changed", DataType::Boolean, true),
        Field::new("date_registered", ts(), true),
        Field::new("deprecated", DataType::Boolean, false),
        Field::new("deprecated_since", date(), true),
        Field::new("deprecated_since_source", text(), true),
        Field::new("deprecation_targets", utf8_list(), false),
        Field::new("deprecation_alternatives", utf8_list(), false),
        Field::new("deprecation_link", text(), true),
        Field::new("scans_snapshot", date(), true),
        Field::new("tag", text(), true),
        Field::new("digest", text(), true),
        Field::new("scan_status", text(), true),
        Field::new("os_family", text(), true),
        Field::new("os_name", text(), true),
        Field::new("eol_date", date(), true),
        Field::new("eol_at_snapshot", DataType::Boolean, true),
        Field::new("trivy_eosl", DataType::Boolean, true),
        Field::new("total", int(), true),
        Field::new("fixable", int(), true),
        Field::new("fixable_critical", int(), true),
        Field::new("fixable_high", int(), true),
        Field::new("fixable_medium", int(), true),
        Field::new("fixable_low", int(), true),
        Field::new("scan_note", text(), true),
        Field::new("db_digest", text(), true),
        Field::new("previous_snapshot", date(), true),
        Field::new("downloads_since_previous", int(), true),
        Field::new("downloads_flags", text(), true),
    ]))
}

/// Schema of [`FINDINGS_MART`].
pub fn findings_mart_schema() -> SchemaRef {
    let mut fields: Vec<Field> = findings_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend([
        Field::new("deprecated", DataType::Boolean, false),
        Field::new("os_family", DataType::Utf8, true),
        Field::new("os_name", DataType::Utf8, true),
        Field::new("eol_at_snapshot", DataType::Boolean, true),
        Field::new("scans_snapshot", DataType::Date32, false),
    ]);
    Arc::new(Schema::new(fields))
}

/// Schema of [`PULLS_MART`].
pub fn pulls_mart_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("pull_count", DataType::Int64, true),
        Field::new("captured_at", ts(), false),
        Field::new("read_from", DataType::Utf8, false),
    ]))
}

/// Schema of [`REJECTS`].
pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
}

/// Content-addressed store of package inventories (an image's SBOM in Trivy's JSON format,
/// see `trivy::inventory`) written at its first analysis: `1_raw/sbom/sha256-HEX.trivy.json`.
/// Not partitioned: the image digest is the key.
///
/// The digest comes from the Hub, so it is checked (`names::digest`) before it becomes a file
/// name: a value that is not `sha256:` and 64 hex digits gets a stand-in name inside the
/// store (`refused-…`, see `names::stand_in`) that no stored inventory has, so it is never
/// found and never reaches outside `1_raw/sbom/`. The scan stage refuses such digests before
/// it gets here; this is the last line.
pub fn inventory_path(root: &Path, digest: &str) -> PathBuf {
    let key = match crate::names::digest(digest) {
        Ok(()) => digest.replace(':', "-"),
        Err(_) => crate::names::stand_in(digest),
    };
    root.join(SBOM_STORE.layer.dir())
        .join(SBOM_STORE.name)
        .join(format!("{key}.trivy.json"))
}

/// Content-addressed store of the Trivy DBs runs used (see `trivy::db`): `1_raw/trivy-db/`.
pub fn trivy_db_store(root: &Path) -> PathBuf {
    root.join(TRIVY_DB_STORE.layer.dir())
        .join(TRIVY_DB_STORE.name)
}

/// The stored DB whose `trivy.db` has the sha256 `digest`: `1_raw/trivy-db/sha256-HEX/`.
///
/// `digest` can come from the command line (`--db`): one that is not `sha256:` and 64 hex
/// digits (`../../x`) maps to a stand-in folder inside the store (`refused-…`, see
/// `names::stand_in`) that holds no DB, so restoring it fails with "no stored Trivy DB"
/// naming the value, and nothing outside `1_raw/trivy-db/` is read.
pub fn trivy_db_dir(root: &Path, digest: &str) -> PathBuf {
    match crate::names::digest(digest) {
        Ok(()) => trivy_db_store(root).join(digest.replace(':', "-")),
        Err(_) => trivy_db_store(root).join(crate::names::stand_in(digest)),
    }
}

/// File name of a partition's manifest. It is written last, just before the partition folder
/// is renamed into place, so its presence is what makes a partition complete (see
/// [`snapshots`] and `io::partition`).
pub const MANIFEST: &str = "_manifest.json";

/// The partition name of a snapshot date.
pub fn partition_name(snapshot: NaiveDate) -> String {
    format!("snapshot={snapshot}")
}

/// `ROOT/LAYER/NAME`: the folder holding all partitions of `ds`.
pub fn dataset_dir(root: &Path, ds: &Dataset) -> PathBuf {
    root.join(ds.layer.dir()).join(ds.name)
}

/// `ROOT/LAYER/NAME/snapshot=D`.
pub fn partition_dir(root: &Path, ds: &Dataset, snapshot: NaiveDate) -> PathBuf {
    dataset_dir(root, ds).join(partition_name(snapshot))
}

/// The data file of a partition.
pub fn partition_file(root: &Path, ds: &Dataset, snapshot: NaiveDate) -> PathBuf {
    partition_dir(root, ds, snapshot).join(ds.file)
}

/// `ROOT/4_report/D`: where the report for date D is written.
pub fn report_dir(root: &Path, date: NaiveDate) -> PathBuf {
    root.join(REPORT.layer.dir()).join(date.to_string())
}

/// Where unfinished writes live until they are renamed into place (never read as data).
pub fn staging_area(root: &Path) -> PathBuf {
    root.join(".tmp")
}

/// The snapshot dates that have a partition of `ds`, oldest first. A whole partition is
/// complete when its manifest exists (it is written last, before the rename); a sharded one
/// is listed once any part's manifest exists, and is complete when all its parts are.
pub fn snapshots(root: &Path, ds: &Dataset) -> Result<Vec<NaiveDate>> {
    let dir = dataset_dir(root, ds);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut dates = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name();
        let Some(date) = name
            .to_str()
            .and_then(|n| n.strip_prefix("snapshot="))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        // a whole manifest or any part's: an incomplete sharded partition is listed, and its
        // readers refuse it naming the missing shards (`io::partition::manifests`)
        if crate::io::partition::has_manifest(&entry.path()) {
            dates.push(date);
        }
    }
    dates.sort();
    Ok(dates)
}

/// The latest snapshot of `ds` on or before `date`, or an input error listing what exists.
pub fn snapshot_on_or_before(root: &Path, ds: &Dataset, date: NaiveDate) -> Result<NaiveDate> {
    let all = snapshots(root, ds)?;
    all.iter()
        .rev()
        .find(|d| **d <= date)
        .copied()
        .ok_or_else(|| {
            let available = if all.is_empty() {
                "none; run `hubaudit extract-hub` first (or `just run` for the sample world)"
                    .to_string()
            } else {
                all.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Error::Input(format!(
                "no {} snapshot on or before {date} in {}; available dates: {available}",
                ds.name,
                dataset_dir(root, ds).display()
            ))
        })
}

/// The latest snapshot of `ds` strictly before `date`, if any.
pub fn snapshot_before(root: &Path, ds: &Dataset, date: NaiveDate) -> Result<Option<NaiveDate>> {
    Ok(snapshots(root, ds)?.into_iter().rev().find(|d| *d < date))
}
