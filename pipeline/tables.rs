//! Rows of the staged tables and their conversion to and from Arrow batches with the
//! catalog's schemas. Stages build these rows with pure functions; `io::parquet` writes them.

use chrono::{DateTime, NaiveDate, Utc};

use crate::trivy::Finding;

use crate::catalog;
use crate::error::Result;
use crate::io::parquet::{self as pq, Columns};
use arrow_array::RecordBatch;

/// A row of `2_staged/repositories`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepoRow {
    pub name: String,
    pub namespace: String,
    pub description: Option<String>,
    pub full_description: Option<String>,
    pub star_count: Option<i64>,
    pub pull_count: Option<i64>,
    pub last_updated: Option<DateTime<Utc>>,
    pub date_registered: Option<DateTime<Utc>>,
    pub status: Option<String>,
    /// The README carries a deprecation notice.
    pub deprecated: bool,
    /// When the notice appeared, where the source knows it (backfill: the commit that added
    /// `deprecated.md`); the Hub API does not say, so extract-hub leaves it empty.
    pub deprecated_since: Option<NaiveDate>,
    /// Replacements the notice recommends.
    pub deprecation_targets: Vec<String>,
    /// Alternatives the notice lists when it names no single replacement.
    pub deprecation_alternatives: Vec<String>,
    /// A recommended destination that is not an image (a URL).
    pub deprecation_link: Option<String>,
    /// The notice's Markdown text.
    pub notice_text: Option<String>,
    /// `hub` for the real Docker Hub, `sample` for the sample world, `backfill`.
    pub source: String,
    /// When the list response was produced.
    pub captured_at: DateTime<Utc>,
    /// When the detail (README) was fetched; earlier than `captured_at` when carried forward.
    pub detail_captured_at: Option<DateTime<Utc>>,
    /// Detail fields come from the previous snapshot because `last_updated` did not change.
    pub carried_forward: bool,
}

impl RepoRow {
    /// This row with the deprecation fields of `notice` (None: not deprecated).
    pub fn with_notice(self, notice: Option<crate::notice::Notice>) -> RepoRow {
        RepoRow {
            deprecated: notice.is_some(),
            deprecation_targets: notice
                .as_ref()
                .map(|n| n.targets.clone())
                .unwrap_or_default(),
            deprecation_alternatives: notice
                .as_ref()
                .map(|n| n.alternatives.clone())
                .unwrap_or_default(),
            deprecation_link: notice.as_ref().and_then(|n| n.recommended_link.clone()),
            notice_text: notice.map(|n| n.text),
            ..self
        }
    }
}

/// A row of `2_staged/tags`: one tag × platform image (a tag without images gives one row
/// with empty image fields).
#[derive(Debug, Clone, PartialEq)]
pub struct TagRow {
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub variant: Option<String>,
    pub size: Option<i64>,
    pub full_size: Option<i64>,
    pub last_updated: Option<DateTime<Utc>>,
    pub last_pulled: Option<DateTime<Utc>>,
    pub last_pushed: Option<DateTime<Utc>>,
    pub tag_status: Option<String>,
    pub source: String,
    pub captured_at: DateTime<Utc>,
    pub carried_forward: bool,
}

/// Repository rows as a batch.
pub fn repositories_batch(rows: &[RepoRow]) -> Result<RecordBatch> {
    pq::named(
        catalog::repositories_schema(),
        vec![
            (
                "name",
                pq::strings(rows.iter().map(|r| Some(r.name.as_str()))),
            ),
            (
                "namespace",
                pq::strings(rows.iter().map(|r| Some(r.namespace.as_str()))),
            ),
            (
                "description",
                pq::strings(rows.iter().map(|r| r.description.as_deref())),
            ),
            (
                "full_description",
                pq::strings(rows.iter().map(|r| r.full_description.as_deref())),
            ),
            ("star_count", pq::ints(rows.iter().map(|r| r.star_count))),
            ("pull_count", pq::ints(rows.iter().map(|r| r.pull_count))),
            (
                "last_updated",
                pq::timestamps(rows.iter().map(|r| r.last_updated)),
            ),
            (
                "date_registered",
                pq::timestamps(rows.iter().map(|r| r.date_registered)),
            ),
            (
                "status",
                pq::strings(rows.iter().map(|r| r.status.as_deref())),
            ),
            ("deprecated", pq::bools(rows.iter().map(|r| r.deprecated))),
            (
                "deprecated_since",
                pq::dates(rows.iter().map(|r| r.deprecated_since)),
            ),
            (
                "deprecation_targets",
                pq::string_lists(rows.iter().map(|r| r.deprecation_targets.as_slice())),
            ),
            (
                "deprecation_alternatives",
                pq::string_lists(rows.iter().map(|r| r.deprecation_alternatives.as_slice())),
            ),
            (
                "deprecation_link",
                pq::strings(rows.iter().map(|r| r.deprecation_link.as_deref())),
            ),
            (
                "notice_text",
                pq::strings(rows.iter().map(|r| r.notice_text.as_deref())),
            ),
            (
                "source",
                pq::strings(rows.iter().map(|r| Some(r.source.as_str()))),
            ),
            (
                "captured_at",
                pq::timestamps(rows.iter().map(|r| Some(r.captured_at))),
            ),
            (
                "detail_captured_at",
                pq::timestamps(rows.iter().map(|r| r.detail_captured_at)),
            ),
            (
                "carried_forward",
                pq::bools(rows.iter().map(|r| r.carried_forward)),
            ),
        ],
    )
}

/// Tag rows as a batch.
pub fn tags_batch(rows: &[TagRow]) -> Result<RecordBatch> {
    pq::named(
        catalog::tags_schema(),
        vec![
            (
                "repository",
                pq::strings(rows.iter().map(|r| Some(r.repository.as_str()))),
            ),
            (
                "tag",
                pq::strings(rows.iter().map(|r| Some(r.tag.as_str()))),
            ),
            (
                "digest",
                pq::strings(rows.iter().map(|r| r.digest.as_deref())),
            ),
            ("os", pq::strings(rows.iter().map(|r| r.os.as_deref()))),
            (
                "architecture",
                pq::strings(rows.iter().map(|r| r.architecture.as_deref())),
            ),
            (
                "variant",
                pq::strings(rows.iter().map(|r| r.variant.as_deref())),
            ),
            ("size", pq::ints(rows.iter().map(|r| r.size))),
            ("full_size", pq::ints(rows.iter().map(|r| r.full_size))),
            (
                "last_updated",
                pq::timestamps(rows.iter().map(|r| r.last_updated)),
            ),
            (
                "last_pulled",
                pq::timestamps(rows.iter().map(|r| r.last_pulled)),
            ),
            (
                "last_pushed",
                pq::timestamps(rows.iter().map(|r| r.last_pushed)),
            ),
            (
                "tag_status",
                pq::strings(rows.iter().map(|r| r.tag_status.as_deref())),
            ),
            (
                "source",
                pq::strings(rows.iter().map(|r| Some(r.source.as_str()))),
            ),
            (
                "captured_at",
                pq::timestamps(rows.iter().map(|r| Some(r.captured_at))),
            ),
            (
                "carried_forward",
                pq::bools(rows.iter().map(|r| r.carried_forward)),
            ),
        ],
    )
}

/// Repository rows from a batch read back (`context` names the file in errors).
pub fn repositories_from(batch: &RecordBatch, context: &str) -> Result<Vec<RepoRow>> {
    let c = Columns::new(batch, context);
    let name = c.strings("name")?;
    let namespace = c.strings("namespace")?;
    let description = c.strings("description")?;
    let full_description = c.strings("full_description")?;
    let star_count = c.ints("star_count")?;
    let pull_count = c.ints("pull_count")?;
    let last_updated = c.timestamps("last_updated")?;
    let date_registered = c.timestamps("date_registered")?;
    let status = c.strings("status")?;
    let deprecated = c.bools("deprecated")?;
    let deprecated_since = c.dates("deprecated_since")?;
    let targets = c.string_lists("deprecation_targets")?;
    let alternatives = c.string_lists("deprecation_alternatives")?;
    let link = c.strings("deprecation_link")?;
    let notice = c.strings("notice_text")?;
    let source = c.strings("source")?;
    let captured = c.timestamps("captured_at")?;
    let detail_captured = c.timestamps("detail_captured_at")?;
    let carried = c.bools("carried_forward")?;
    Ok((0..batch.num_rows())
        .map(|i| RepoRow {
            name: name[i].clone().unwrap_or_default(),
            namespace: namespace[i].clone().unwrap_or_default(),
            description: description[i].clone(),
            full_description: full_description[i].clone(),
            star_count: star_count[i],
            pull_count: pull_count[i],
            last_updated: last_updated[i],
            date_registered: date_registered[i],
            status: status[i].clone(),
            deprecated: deprecated[i],
            deprecated_since: deprecated_since[i],
            deprecation_targets: targets[i].clone(),
            deprecation_alternatives: alternatives[i].clone(),
            deprecation_link: link[i].clone(),
            notice_text: notice[i].clone(),
            source: source[i].clone().unwrap_or_default(),
            captured_at: captured[i].unwrap_or_default(),
            detail_captured_at: detail_captured[i],
            carried_forward: carried[i],
        })
        .collect())
}

/// Tag rows from a batch read back.
pub fn tags_from(batch: &RecordBatch, context: &str) -> Result<Vec<TagRow>> {
    let c = Columns::new(batch, context);
    let repository = c.strings("repository")?;
    let tag = c.strings("tag")?;
    let digest = c.strings("digest")?;
    let os = c.strings("os")?;
    let architecture = c.strings("architecture")?;
    let variant = c.strings("variant")?;
    let size = c.ints("size")?;
    let full_size = c.ints("full_size")?;
    let last_updated = c.timestamps("last_updated")?;
    let last_pulled = c.timestamps("last_pulled")?;
    let last_pushed = c.timestamps("last_pushed")?;
    let tag_status = c.strings("tag_status")?;
    let source = c.strings("source")?;
    let captured = c.timestamps("captured_at")?;
    let carried = c.bools("carried_forward")?;
    Ok((0..batch.num_rows())
        .map(|i| TagRow {
            repository: repository[i].clone().unwrap_or_default(),
            tag: tag[i].clone().unwrap_or_default(),
            digest: digest[i].clone(),
            os: os[i].clone(),
            architecture: architecture[i].clone(),
            variant: variant[i].clone(),
            size: size[i],
            full_size: full_size[i],
            last_updated: last_updated[i],
            last_pulled: last_pulled[i],
            last_pushed: last_pushed[i],
            tag_status: tag_status[i].clone(),
            source: source[i].clone().unwrap_or_default(),
            captured_at: captured[i].unwrap_or_default(),
            carried_forward: carried[i],
        })
        .collect())
}

/// Reads a staged partition of repositories.
pub fn read_repositories(
    root: &std::path::Path,
    snapshot: chrono::NaiveDate,
) -> Result<Vec<RepoRow>> {
    let path = crate::io::partition::verified_file(root, &catalog::REPOSITORIES, snapshot)?;
    let batch = pq::read_batch(&path, &catalog::repositories_schema())?;
    repositories_from(&batch, &path.display().to_string())
}

/// Reads a staged partition of tags.
pub fn read_tags(root: &std::path::Path, snapshot: chrono::NaiveDate) -> Result<Vec<TagRow>> {
    let path = crate::io::partition::verified_file(root, &catalog::TAGS, snapshot)?;
    let batch = pq::read_batch(&path, &catalog::tags_schema())?;
    tags_from(&batch, &path.display().to_string())
}

/// Declares a closed vocabulary stored as text: the enum, its text and its parser.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the tables.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value whose text is `text`.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// How a scan ended (`2_staged/scans.status`).
    ScanStatus {
        /// Trivy answered with a report.
        Ok = "ok",
        /// Trivy or the registry failed; `error` says how. (A row nobody filled in has not
        /// succeeded: the default.)
        #[default]
        Failed = "failed",
        /// The scan's process group was killed at the timeout.
        Timeout = "timeout",
        /// The repository has no tag to scan.
        NoTag = "no_tag",
    }
}

vocabulary! {
    /// How a scan's package list was obtained (`2_staged/scans.analysis`).
    Analysis {
        /// Trivy analysed the image's layers.
        Image = "image",
        /// The image's stored inventory was matched against the DB again.
        SbomRescan = "sbom_rescan",
        /// Read from an existing Trivy report (`--from-reports`).
        Report = "report",
        /// Nothing was analysed (no tag, or refused before any analysis): the default.
        #[default]
        None = "none",
    }
}

/// A row of `2_staged/scans`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanRow {
    pub name: String,
    pub tag: Option<String>,
    pub tag_reason: String,
    pub digest: Option<String>,
    pub image_ref: Option<String>,
    /// How the package list was obtained.
    pub analysis: Analysis,
    pub os_family: Option<String>,
    pub os_name: Option<String>,
    pub eol_date: Option<NaiveDate>,
    pub eol_at_snapshot: Option<bool>,
    pub trivy_eosl: Option<bool>,
    /// total, critical, high, medium, low, unknown — all findings.
    pub counts: Option<[i64; 6]>,
    /// The same for fixable findings.
    pub fixable_counts: Option<[i64; 6]>,
    /// How the scan ended.
    pub status: ScanStatus,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    pub trivy_version: Option<String>,
    pub db_updated_at: Option<DateTime<Utc>>,
    /// `sha256:` of the Trivy DB the scan matched against (stored in `1_raw/trivy-db/`).
    pub db_digest: Option<String>,
    /// Layers the Trivy client analysed (0 for a rescan; layers the run's server had cached
    /// are not analysed again).
    pub layers_analysed: Option<i64>,
    pub note: Option<String>,
    pub source: String,
    /// `os/architecture[/variant]` of the image scanned (None when nothing was chosen).
    pub platform: Option<String>,
    /// The row is beyond the study's method (another tag from `--tags`, another platform
    /// from `--platforms`): stored as `study_choice = false`, and left out of the marts.
    pub beyond_study: bool,
}

/// Scan rows as a batch with the catalog's schema.
pub fn scans_batch(rows: &[ScanRow]) -> Result<RecordBatch> {
    let s = |f: fn(&ScanRow) -> Option<&str>| pq::strings(rows.iter().map(f));
    let mut cols = vec![
        ("name", s(|r| Some(r.name.as_str()))),
        ("tag", s(|r| r.tag.as_deref())),
        ("tag_reason", s(|r| Some(r.tag_reason.as_str()))),
        ("digest", s(|r| r.digest.as_deref())),
        ("image_ref", s(|r| r.image_ref.as_deref())),
        ("analysis", s(|r| Some(r.analysis.as_str()))),
        ("os_family", s(|r| r.os_family.as_deref())),
        ("os_name", s(|r| r.os_name.as_deref())),
        ("eol_date", pq::dates(rows.iter().map(|r| r.eol_date))),
        (
            "eol_at_snapshot",
            pq::opt_bools(rows.iter().map(|r| r.eol_at_snapshot)),
        ),
        (
            "trivy_eosl",
            pq::opt_bools(rows.iter().map(|r| r.trivy_eosl)),
        ),
    ];
    for (i, name) in SEVERITY_COLUMNS.iter().enumerate() {
        cols.push((name, pq::ints(rows.iter().map(|r| r.counts.map(|c| c[i])))));
    }
    for (i, name) in FIXABLE_COLUMNS.iter().enumerate() {
        cols.push((
            name,
            pq::ints(rows.iter().map(|r| r.fixable_counts.map(|c| c[i]))),
        ));
    }
    cols.extend([
        ("status", s(|r| Some(r.status.as_str()))),
        ("error", s(|r| r.error.as_deref())),
        ("duration_ms", pq::ints(rows.iter().map(|r| r.duration_ms))),
        ("trivy_version", s(|r| r.trivy_version.as_deref())),
        (
            "db_updated_at",
            pq::timestamps(rows.iter().map(|r| r.db_updated_at)),
        ),
        ("db_digest", s(|r| r.db_digest.as_deref())),
        (
            "layers_analysed",
            pq::ints(rows.iter().map(|r| r.layers_analysed)),
        ),
        ("note", s(|r| r.note.as_deref())),
        ("source", s(|r| Some(r.source.as_str()))),
        ("platform", s(|r| r.platform.as_deref())),
        (
            "study_choice",
            pq::bools(rows.iter().map(|r| !r.beyond_study)),
        ),
    ]);
    pq::named(catalog::scans_schema(), cols)
}

/// The columns of [`ScanRow::counts`], in its order.
pub const SEVERITY_COLUMNS: [&str; 6] = ["total", "critical", "high", "medium", "low", "unknown"];
/// The columns of [`ScanRow::fixable_counts`], in its order.
pub const FIXABLE_COLUMNS: [&str; 6] = [
    "fixable",
    "fixable_critical",
    "fixable_high",
    "fixable_medium",
    "fixable_low",
    "fixable_unknown",
];

/// Finding rows (each with its scan row) as a batch with the catalog's schema.
pub fn findings_batch(rows: &[(ScanRow, Vec<Finding>)]) -> Result<RecordBatch> {
    let flat: Vec<(&ScanRow, &Finding)> = rows
        .iter()
        .flat_map(|(r, fs)| fs.iter().map(move |f| (r, f)))
        .collect();
    pq::named(
        catalog::findings_schema(),
        vec![
            (
                "name",
                pq::strings(flat.iter().map(|(r, _)| Some(r.name.as_str()))),
            ),
            (
                "tag",
                pq::strings(flat.iter().map(|(r, _)| r.tag.as_deref())),
            ),
            (
                "digest",
                pq::strings(flat.iter().map(|(r, _)| r.digest.as_deref())),
            ),
            (
                "vulnerability_id",
                pq::strings(flat.iter().map(|(_, f)| Some(f.vulnerability_id.as_str()))),
            ),
            (
                "pkg_name",
                pq::strings(flat.iter().map(|(_, f)| Some(f.pkg_name.as_str()))),
            ),
            (
                "installed_version",
                pq::strings(flat.iter().map(|(_, f)| Some(f.installed_version.as_str()))),
            ),
            (
                "fixed_version",
                pq::strings(flat.iter().map(|(_, f)| f.fixed_version.as_deref())),
            ),
            (
                "status",
                pq::strings(flat.iter().map(|(_, f)| Some(f.status.as_str()))),
            ),
            ("fixable", pq::bools(flat.iter().map(|(_, f)| f.fixable()))),
            (
                "severity",
                pq::strings(flat.iter().map(|(_, f)| Some(f.severity.as_str()))),
            ),
            (
                "title",
                pq::strings(flat.iter().map(|(_, f)| f.title.as_deref())),
            ),
            (
                "target",
                pq::strings(flat.iter().map(|(_, f)| Some(f.target.as_str()))),
            ),
            (
                "class",
                pq::strings(flat.iter().map(|(_, f)| f.class.as_deref())),
            ),
            (
                "platform",
                pq::strings(flat.iter().map(|(r, _)| r.platform.as_deref())),
            ),
            (
                "study_choice",
                pq::bools(flat.iter().map(|(r, _)| !r.beyond_study)),
            ),
        ],
    )
}

/// The values of a closed-vocabulary column, or a data error naming the first unknown one.
fn closed<T>(
    values: &[Option<String>],
    column: &str,
    context: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Vec<T>> {
    values
        .iter()
        .map(|v| {
            let text = v.as_deref().unwrap_or_default();
            parse(text).ok_or_else(|| {
                crate::error::Error::data(
                    context,
                    format!("column {column:?} holds {text:?}, which is not one of its values"),
                )
            })
        })
        .collect()
}

/// Scan rows from a batch read back.
pub fn scans_from(batch: &RecordBatch, context: &str) -> Result<Vec<ScanRow>> {
    let c = Columns::new(batch, context);
    let s = |n: &str| c.strings(n);
    let (name, tag, reason, digest, image_ref, analysis) = (
        s("name")?,
        s("tag")?,
        s("tag_reason")?,
        s("digest")?,
        s("image_ref")?,
        s("analysis")?,
    );
    let (fam, osn, status, error, tv, note, source) = (
        s("os_family")?,
        s("os_name")?,
        s("status")?,
        s("error")?,
        s("trivy_version")?,
        s("note")?,
        s("source")?,
    );
    let db_digest = s("db_digest")?;
    let layers = c.ints("layers_analysed")?;
    let eol_date = c.dates("eol_date")?;
    let eol = c.opt_bools("eol_at_snapshot")?;
    let eosl = c.opt_bools("trivy_eosl")?;
    let counts: Vec<Vec<Option<i64>>> = SEVERITY_COLUMNS
        .iter()
        .map(|n| c.ints(n))
        .collect::<Result<_>>()?;
    let fixable: Vec<Vec<Option<i64>>> = FIXABLE_COLUMNS
        .iter()
        .map(|n| c.ints(n))
        .collect::<Result<_>>()?;
    let duration = c.ints("duration_ms")?;
    let db = c.timestamps("db_updated_at")?;
    let platform = s("platform")?;
    let study = c.bools("study_choice")?;
    let six = |cols: &Vec<Vec<Option<i64>>>, i: usize| -> Option<[i64; 6]> {
        cols[0][i].map(|_| std::array::from_fn(|k| cols[k][i].unwrap_or_default()))
    };
    let analysis = closed(&analysis, "analysis", context, Analysis::parse)?;
    let status = closed(&status, "status", context, ScanStatus::parse)?;
    Ok((0..batch.num_rows())
        .map(|i| ScanRow {
            name: name[i].clone().unwrap_or_default(),
            tag: tag[i].clone(),
            tag_reason: reason[i].clone().unwrap_or_default(),
            digest: digest[i].clone(),
            image_ref: image_ref[i].clone(),
            analysis: analysis[i],
            os_family: fam[i].clone(),
            os_name: osn[i].clone(),
            eol_date: eol_date[i],
            eol_at_snapshot: eol[i],
            trivy_eosl: eosl[i],
            counts: six(&counts, i),
            fixable_counts: six(&fixable, i),
            status: status[i],
            error: error[i].clone(),
            duration_ms: duration[i],
            trivy_version: tv[i].clone(),
            db_updated_at: db[i],
            db_digest: db_digest[i].clone(),
            layers_analysed: layers[i],
            note: note[i].clone(),
            source: source[i].clone().unwrap_or_default(),
            platform: platform[i].clone(),
            beyond_study: !study[i],
        })
        .collect())
}

/// Every verified file of a partition (one, or each part of a sharded one) as one batch of
/// `schema`, and what to name it in errors.
fn read_parts(
    root: &std::path::Path,
    ds: &catalog::Dataset,
    snapshot: NaiveDate,
    schema: &arrow_schema::SchemaRef,
) -> Result<(RecordBatch, String)> {
    let files = crate::io::partition::verified_files(root, ds, snapshot)?;
    let context = match files.as_slice() {
        [one] => one.display().to_string(),
        _ => catalog::partition_dir(root, ds, snapshot)
            .display()
            .to_string(),
    };
    let batches = files
        .iter()
        .map(|f| pq::read_batch(f, schema))
        .collect::<Result<Vec<_>>>()?;
    let batch = match batches.as_slice() {
        [one] => one.clone(),
        _ => {
            let first = batches.first().map_or(schema.clone(), |b| b.schema());
            arrow_select::concat::concat_batches(&first, &batches)
                .map_err(|e| crate::error::Error::data(&context, e))?
        }
    };
    Ok((batch, context))
}

/// Reads a staged partition of scans.
pub fn read_scans(root: &std::path::Path, snapshot: chrono::NaiveDate) -> Result<Vec<ScanRow>> {
    let (batch, context) = read_parts(root, &catalog::SCANS, snapshot, &catalog::scans_schema())?;
    scans_from(&batch, &context)
}

/// A finding read back with the image it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub finding: Finding,
}

/// Reads a staged partition of findings.
pub fn read_findings(root: &std::path::Path, snapshot: NaiveDate) -> Result<Vec<FindingRow>> {
    let (batch, context) = read_parts(
        root,
        &catalog::FINDINGS,
        snapshot,
        &catalog::findings_schema(),
    )?;
    let c = Columns::new(&batch, context);
    let s = |n: &str| c.strings(n);
    let (name, tag, digest, id, pkg, inst, fixed) = (
        s("name")?,
        s("tag")?,
        s("digest")?,
        s("vulnerability_id")?,
        s("pkg_name")?,
        s("installed_version")?,
        s("fixed_version")?,
    );
    let (status, sev, title, target, class) = (
        s("status")?,
        s("severity")?,
        s("title")?,
        s("target")?,
        s("class")?,
    );
    Ok((0..batch.num_rows())
        .map(|i| FindingRow {
            name: name[i].clone().unwrap_or_default(),
            tag: tag[i].clone(),
            digest: digest[i].clone(),
            finding: Finding {
                vulnerability_id: id[i].clone().unwrap_or_default(),
                pkg_name: pkg[i].clone().unwrap_or_default(),
                installed_version: inst[i].clone().unwrap_or_default(),
                fixed_version: fixed[i].clone(),
                status: status[i].clone().unwrap_or_default(),
                severity: sev[i].clone().unwrap_or_default(),
                title: title[i].clone(),
                target: target[i].clone().unwrap_or_default(),
                class: class[i].clone(),
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vocabulary_value_reads_back_and_nothing_else_does() {
        for s in ScanStatus::ALL {
            assert_eq!(ScanStatus::parse(s.as_str()), Some(*s));
        }
        for a in Analysis::ALL {
            assert_eq!(Analysis::parse(a.as_str()), Some(*a));
        }
        assert_eq!(ScanStatus::parse("OK"), None);
        assert_eq!(Analysis::parse(""), None);
    }

    #[test]
    fn a_scans_file_with_an_unknown_status_is_bad_data_naming_the_value() {
        let row = ScanRow {
            name: "nginx".into(),
            status: ScanStatus::Ok,
            ..ScanRow::default()
        };
        let b = scans_batch(&[row]).unwrap();
        let mut cols = b.columns().to_vec();
        let at = b.schema().index_of("status").unwrap();
        cols[at] = pq::strings([Some("done")].into_iter());
        let bad = RecordBatch::try_new(b.schema(), cols).unwrap();
        let e = scans_from(&bad, "scans.parquet").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::INPUT);
        assert!(e.to_string().contains("\"done\""), "{e}");
    }
}
