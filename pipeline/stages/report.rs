//! `report`: rebuilds the study's tables for a date as static files.
//!
//! Reads: `2_staged/repositories` (the latest snapshot on or before `--date`, and the earlier
//! ones for "first seen deprecated"), `datasets/reference/` (the study's figures, deprecation
//! dates). Writes `4_report/DATE/`: `index.html` (self-contained, every value escaped, strict
//! Content-Security-Policy), `report.md`, `deprecated.csv`, `deprecated_vs_study.csv`,
//! `vulnerable.csv` (from the latest `2_staged/scans` on or before the date).
//! The folder is replaced atomically. Sample-world data carries a banner on every page.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use polars::prelude::*;
use serde::Deserialize;

use crate::catalog::{self, REPOSITORIES, SCANS};
use crate::error::{Error, Result};
use crate::io::partition;

/// What to report.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dataset root.
    pub datasets: PathBuf,
    /// Report date: tables use the latest snapshot on or before it.
    pub date: NaiveDate,
    /// Reference folder (study figures, deprecation dates).
    pub reference: PathBuf,
    /// Images with more fixable vulnerabilities than this go to `vulnerable.csv`.
    pub threshold: u32,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The report folder.
    pub dir: PathBuf,
    /// The repositories snapshot used.
    pub snapshot: NaiveDate,
    /// Deprecated images in it.
    pub deprecated: usize,
    /// In both lists / only ours / only the study's.
    pub both: usize,
    pub only_ours: usize,
    pub only_study: usize,
    /// The data came from the sample world.
    pub sample: bool,
    /// The scans snapshot used (None: no scan on or before the date).
    pub scans_snapshot: Option<NaiveDate>,
    /// Images over the threshold.
    pub vulnerable: usize,
}

/// The study's figures (`study-2021.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Study {
    pub study: StudyMeta,
    pub deprecated: Vec<StudyDeprecated>,
    #[serde(default)]
    pub vulnerable: Vec<StudyVulnerable>,
}

/// An image of the study's finding 3 (over the threshold with `--ignore-unfixed`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyVulnerable {
    pub name: String,
    pub tag: String,
    pub fixable: i64,
}

/// A row of `vulnerable.csv`: an image over the threshold. `critical`…`low` count the
/// fixable findings by severity; `total` counts all findings, fixed or not.
#[derive(Debug, Clone, PartialEq)]
pub struct VulnerableRow {
    pub name: String,
    pub tag: String,
    pub fixable: i64,
    pub total: i64,
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub os: String,
    pub eol_at_snapshot: Option<bool>,
    pub trivy_eosl: Option<bool>,
    pub study_fixable: Option<i64>,
    pub note: String,
    pub source: String,
}

/// The study's method facts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyMeta {
    pub title: String,
    pub published: NaiveDate,
    pub images_listed: u32,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub scanner: String,
    pub vulnerable_threshold: u32,
}

/// A deprecated image of the study's appendix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyDeprecated {
    pub name: String,
    pub targets: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A deprecated repository as read from the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Deprecated {
    pub name: String,
    pub targets: Vec<String>,
    pub alternatives: Vec<String>,
    pub link: Option<String>,
    pub last_updated: Option<DateTime<Utc>>,
    pub pull_count: Option<i64>,
    pub source: String,
}

/// A row of `deprecated.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeprecatedRow {
    pub name: String,
    pub deprecated_since: String,
    pub deprecated_since_source: String,
    pub targets: String,
    pub alternatives: String,
    pub recommended_link: String,
    pub last_updated: String,
    pub pull_count: String,
    pub in_study: bool,
    pub source: String,
}

/// A row of `deprecated_vs_study.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    pub name: String,
    /// `both`, `only_ours`, `only_study`.
    pub presence: &'static str,
    pub our_targets: String,
    pub study_targets: String,
    /// `match` or `differs`.
    pub verdict: &'static str,
    pub reason: String,
}

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let root = &opts.datasets;
    let snapshot = catalog::snapshot_on_or_before(root, &REPOSITORIES, opts.date)?;
    let study = load_study(&opts.reference.join("study-2021.toml"))?;
    let since = load_deprecations(&opts.reference.join("deprecations.csv"))?;
    let deprecated = read_deprecated(root, snapshot)?;
    let names = read_names(root, snapshot)?;
    let mut first_seen = BTreeMap::new();
    for d in catalog::snapshots(root, &REPOSITORIES)?
        .into_iter()
        .filter(|d| *d <= snapshot)
    {
        for dep in read_deprecated(root, d)? {
            first_seen.entry(dep.name).or_insert(d);
        }
    }
    let rows = deprecated_rows(&deprecated, &since, &first_seen, &study);
    let comparison = compare(&deprecated, &names, &since, &study, snapshot);
    let sample = deprecated.iter().any(|d| d.source == "sample")
        || read_sources(root, snapshot)?.contains("sample");
    let scans_snapshot = catalog::snapshots(root, &SCANS)?
        .into_iter()
        .rev()
        .find(|d| *d <= opts.date);
    let vulnerable = match scans_snapshot {
        Some(d) => read_vulnerable(root, d, opts.threshold, &study)?,
        None => Vec::new(),
    };

    let page = Page {
        date: opts.date,
        snapshot,
        sample,
        study: &study,
        rows: &rows,
        comparison: &comparison,
        listed: names.len(),
        vulnerable: &vulnerable,
        threshold: opts.threshold,
        scans_snapshot,
    };
    let dir = catalog::report_dir(root, opts.date);
    let area = catalog::staging_area(root);
    let tmp = area.join(format!("report-{}-{}", opts.date, std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = (|| {
        write_csv(&tmp.join("deprecated.csv"), &deprecated_csv(&rows))?;
        write_csv(&tmp.join("vulnerable.csv"), &vulnerable_csv(&vulnerable))?;
        write_csv(
            &tmp.join("deprecated_vs_study.csv"),
            &comparison_csv(&comparison),
        )?;
        write_text(&tmp.join("report.md"), &page.markdown())?;
        write_text(&tmp.join("index.html"), &page.html())?;
        partition::fsync_dir(&tmp)?;
        std::fs::create_dir_all(dir.parent().expect("report dir has a parent"))
            .map_err(|e| Error::io(&dir, e))?;
        partition::publish(&tmp, &dir)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    written?;
    Ok(Summary {
        dir,
        snapshot,
        deprecated: rows.len(),
        both: comparison.iter().filter(|c| c.presence == "both").count(),
        only_ours: comparison
            .iter()
            .filter(|c| c.presence == "only_ours")
            .count(),
        only_study: comparison
            .iter()
            .filter(|c| c.presence == "only_study")
            .count(),
        sample,
        scans_snapshot,
        vulnerable: vulnerable.len(),
    })
}

/// Loads the study's figures.
pub fn load_study(path: &Path) -> Result<Study> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| Error::data(path.display().to_string(), e.message()))
}

/// Loads `deprecations.csv`: name → deprecated_since.
pub fn load_deprecations(path: &Path) -> Result<BTreeMap<String, NaiveDate>> {
    let ctx = || path.display().to_string();
    let mut reader = csv::Reader::from_path(path).map_err(|e| Error::data(ctx(), e))?;
    let mut out = BTreeMap::new();
    for record in reader.records() {
        let r = record.map_err(|e| Error::data(ctx(), e))?;
        let date = crate::dates::parse_date("deprecated_since", r.get(1).unwrap_or_default())
            .map_err(|e| Error::data(ctx(), e))?;
        out.insert(r.get(0).unwrap_or_default().to_string(), date);
    }
    Ok(out)
}

fn scan(root: &Path, snapshot: NaiveDate) -> Result<LazyFrame> {
    let path = catalog::partition_file(root, &REPOSITORIES, snapshot);
    let ctx = path.display().to_string();
    let pl_path = PlRefPath::try_from_path(&path).map_err(|e| Error::data(&ctx, e))?;
    LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default()).map_err(|e| Error::data(ctx, e))
}

fn polars_err(root: &Path, snapshot: NaiveDate) -> impl Fn(PolarsError) -> Error {
    let ctx = catalog::partition_file(root, &REPOSITORIES, snapshot)
        .display()
        .to_string();
    move |e| Error::data(&ctx, e)
}

/// The deprecated repositories of a snapshot (polars lazy scan), sorted by name.
pub fn read_deprecated(root: &Path, snapshot: NaiveDate) -> Result<Vec<Deprecated>> {
    let err = polars_err(root, snapshot);
    let df = scan(root, snapshot)?
        .filter(col("deprecated"))
        .select([
            col("name"),
            col("deprecation_targets")
                .list()
                .join(lit(";"), true)
                .alias("targets"),
            col("deprecation_alternatives")
                .list()
                .join(lit(";"), true)
                .alias("alternatives"),
            col("deprecation_link"),
            col("last_updated")
                .dt()
                .timestamp(TimeUnit::Microseconds)
                .alias("last_updated_us"),
            col("pull_count"),
            col("source"),
        ])
        .sort(["name"], SortMultipleOptions::default())
        .collect()
        .map_err(&err)?;
    let s = |name: &str| str_column(&df, name).map_err(&err);
    let split = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .unwrap_or_default()
            .split(';')
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    let (names, targets, alts, links, sources) = (
        s("name")?,
        s("targets")?,
        s("alternatives")?,
        s("deprecation_link")?,
        s("source")?,
    );
    let updated = i64_column(&df, "last_updated_us").map_err(&err)?;
    let pulls = i64_column(&df, "pull_count").map_err(&err)?;
    Ok((0..df.height())
        .map(|i| Deprecated {
            name: names[i].clone().unwrap_or_default(),
            targets: split(&targets[i]),
            alternatives: split(&alts[i]),
            link: links[i].clone(),
            last_updated: updated[i].and_then(DateTime::from_timestamp_micros),
            pull_count: pulls[i],
            source: sources[i].clone().unwrap_or_default(),
        })
        .collect())
}

fn str_column(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(String::from))
        .collect())
}

fn i64_column(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    Ok(df.column(name)?.i64()?.iter().collect())
}

fn bool_column(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<bool>>> {
    Ok(df.column(name)?.bool()?.iter().collect())
}

/// Successful scans over the threshold, most fixable first (polars lazy scan).
pub fn read_vulnerable(
    root: &Path,
    snapshot: NaiveDate,
    threshold: u32,
    study: &Study,
) -> Result<Vec<VulnerableRow>> {
    let path = catalog::partition_file(root, &SCANS, snapshot);
    let ctx = path.display().to_string();
    let err = |e: PolarsError| Error::data(&ctx, e);
    let pl_path = PlRefPath::try_from_path(&path).map_err(err)?;
    let df = LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default())
        .map_err(err)?
        .filter(
            col("status")
                .eq(lit("ok"))
                .and(col("fixable").gt(lit(threshold as i64))),
        )
        .sort_by_exprs(
            [col("fixable"), col("name")],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .collect()
        .map_err(err)?;
    let text = |n: &str| str_column(&df, n).map_err(err);
    let num = |n: &str| i64_column(&df, n).map_err(err);
    let (names, tags, fam, osn, note, source) = (
        text("name")?,
        text("tag")?,
        text("os_family")?,
        text("os_name")?,
        text("note")?,
        text("source")?,
    );
    let (fixable, total, c, h, m, l) = (
        num("fixable")?,
        num("total")?,
        num("fixable_critical")?,
        num("fixable_high")?,
        num("fixable_medium")?,
        num("fixable_low")?,
    );
    let eol = bool_column(&df, "eol_at_snapshot").map_err(err)?;
    let eosl = bool_column(&df, "trivy_eosl").map_err(err)?;
    Ok((0..df.height())
        .map(|i| {
            let name = names[i].clone().unwrap_or_default();
            VulnerableRow {
                study_fixable: study
                    .vulnerable
                    .iter()
                    .find(|v| v.name == name)
                    .map(|v| v.fixable),
                name,
                tag: tags[i].clone().unwrap_or_default(),
                fixable: fixable[i].unwrap_or_default(),
                total: total[i].unwrap_or_default(),
                critical: c[i].unwrap_or_default(),
                high: h[i].unwrap_or_default(),
                medium: m[i].unwrap_or_default(),
                low: l[i].unwrap_or_default(),
                os: [
                    fam[i].clone().unwrap_or_default(),
                    osn[i].clone().unwrap_or_default(),
                ]
                .join(" ")
                .trim()
                .to_string(),
                eol_at_snapshot: eol[i],
                trivy_eosl: eosl[i],
                note: note[i].clone().unwrap_or_default(),
                source: source[i].clone().unwrap_or_default(),
            }
        })
        .collect())
}

fn vulnerable_csv(rows: &[VulnerableRow]) -> Table {
    let opt = |b: Option<bool>| b.map(|b| b.to_string()).unwrap_or_default();
    (
        vec![
            "name",
            "tag",
            "fixable",
            "total",
            "critical",
            "high",
            "medium",
            "low",
            "os",
            "eol_at_snapshot",
            "trivy_eosl_today",
            "study_fixable",
            "note",
            "source",
        ],
        rows.iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.tag.clone(),
                    r.fixable.to_string(),
                    r.total.to_string(),
                    r.critical.to_string(),
                    r.high.to_string(),
                    r.medium.to_string(),
                    r.low.to_string(),
                    r.os.clone(),
                    opt(r.eol_at_snapshot),
                    opt(r.trivy_eosl),
                    r.study_fixable.map(|f| f.to_string()).unwrap_or_default(),
                    r.note.clone(),
                    r.source.clone(),
                ]
            })
            .collect(),
    )
}

/// Every repository name of a snapshot.
fn read_names(root: &Path, snapshot: NaiveDate) -> Result<BTreeSet<String>> {
    let err = polars_err(root, snapshot);
    let df = scan(root, snapshot)?
        .select([col("name")])
        .collect()
        .map_err(&err)?;
    Ok(str_column(&df, "name")
        .map_err(&err)?
        .into_iter()
        .flatten()
        .collect())
}

fn read_sources(root: &Path, snapshot: NaiveDate) -> Result<BTreeSet<String>> {
    let err = polars_err(root, snapshot);
    let df = scan(root, snapshot)?
        .select([col("source")])
        .unique(None, UniqueKeepStrategy::Any)
        .collect()
        .map_err(&err)?;
    Ok(str_column(&df, "source")
        .map_err(&err)?
        .into_iter()
        .flatten()
        .collect())
}

/// The rows of `deprecated.csv`.
pub fn deprecated_rows(
    deprecated: &[Deprecated],
    since: &BTreeMap<String, NaiveDate>,
    first_seen: &BTreeMap<String, NaiveDate>,
    study: &Study,
) -> Vec<DeprecatedRow> {
    let in_study: BTreeSet<&str> = study.deprecated.iter().map(|d| d.name.as_str()).collect();
    deprecated
        .iter()
        .map(|d| {
            let (date, how) = match (since.get(&d.name), first_seen.get(&d.name)) {
                (Some(s), _) => (s.to_string(), "docs-history"),
                (None, Some(f)) => (f.to_string(), "first-seen-in-snapshot"),
                (None, None) => (String::new(), "unknown"),
            };
            DeprecatedRow {
                name: d.name.clone(),
                deprecated_since: date,
                deprecated_since_source: how.into(),
                targets: d.targets.join(";"),
                alternatives: d.alternatives.join(";"),
                recommended_link: d.link.clone().unwrap_or_default(),
                last_updated: d
                    .last_updated
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                pull_count: d.pull_count.map(|p| p.to_string()).unwrap_or_default(),
                in_study: in_study.contains(d.name.as_str()),
                source: d.source.clone(),
            }
        })
        .collect()
}

/// Our deprecated list against the study's, each row with a verdict and its reason.
pub fn compare(
    ours: &[Deprecated],
    names: &BTreeSet<String>,
    since: &BTreeMap<String, NaiveDate>,
    study: &Study,
    snapshot: NaiveDate,
) -> Vec<ComparisonRow> {
    let mut rows = Vec::new();
    let by_name: BTreeMap<&str, &Deprecated> = ours.iter().map(|d| (d.name.as_str(), d)).collect();
    let meta = &study.study;
    for s in &study.deprecated {
        let study_targets = s.targets.join(";");
        match by_name.get(s.name.as_str()) {
            Some(d) => {
                let same = d.targets == s.targets;
                let reason = if same {
                    String::new()
                } else if let Some(note) = &s.note {
                    note.clone()
                } else {
                    format!(
                        "our notice parser finds {:?}; the study names {:?}",
                        d.targets.join(";"),
                        study_targets
                    )
                };
                rows.push(ComparisonRow {
                    name: s.name.clone(),
                    presence: "both",
                    our_targets: d.targets.join(";"),
                    study_targets,
                    verdict: if same { "match" } else { "differs" },
                    reason,
                });
            }
            None => rows.push(ComparisonRow {
                name: s.name.clone(),
                presence: "only_study",
                our_targets: String::new(),
                study_targets,
                verdict: "differs",
                reason: if names.contains(&s.name) {
                    format!("no deprecation notice in the snapshot of {snapshot}")
                } else {
                    format!("not in the repository list of the snapshot of {snapshot}")
                },
            }),
        }
    }
    let listed: BTreeSet<&str> = study.deprecated.iter().map(|d| d.name.as_str()).collect();
    for d in ours.iter().filter(|d| !listed.contains(d.name.as_str())) {
        let reason = match since.get(&d.name) {
            Some(date) if *date >= meta.window_start => format!(
                "deprecated on {date}, after the start of the study's data window ({}..{})",
                meta.window_start, meta.window_end
            ),
            Some(date) if *date > meta.published => {
                format!("deprecated on {date}, after the study was published")
            }
            Some(date) => format!(
                "notice present since {date}; the study's appendix does not list it and does not say why"
            ),
            None => "no deprecation date on record; the study's appendix does not list it".into(),
        };
        rows.push(ComparisonRow {
            name: d.name.clone(),
            presence: "only_ours",
            our_targets: d.targets.join(";"),
            study_targets: String::new(),
            verdict: "differs",
            reason,
        });
    }
    rows
}

type Table = (Vec<&'static str>, Vec<Vec<String>>);

fn deprecated_csv(rows: &[DeprecatedRow]) -> Table {
    (
        vec![
            "name",
            "deprecated_since",
            "deprecated_since_source",
            "targets",
            "alternatives",
            "recommended_link",
            "last_updated",
            "pull_count",
            "in_study",
            "source",
        ],
        rows.iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.deprecated_since.clone(),
                    r.deprecated_since_source.clone(),
                    r.targets.clone(),
                    r.alternatives.clone(),
                    r.recommended_link.clone(),
                    r.last_updated.clone(),
                    r.pull_count.clone(),
                    r.in_study.to_string(),
                    r.source.clone(),
                ]
            })
            .collect(),
    )
}

fn comparison_csv(rows: &[ComparisonRow]) -> Table {
    (
        vec![
            "name",
            "presence",
            "our_targets",
            "study_targets",
            "verdict",
            "reason",
        ],
        rows.iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.presence.into(),
                    r.our_targets.clone(),
                    r.study_targets.clone(),
                    r.verdict.into(),
                    r.reason.clone(),
                ]
            })
            .collect(),
    )
}

fn write_csv(path: &Path, (header, rows): &Table) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).map_err(|e| Error::data(path.display().to_string(), e))?;
    let ctx = || path.display().to_string();
    w.write_record(header).map_err(|e| Error::data(ctx(), e))?;
    for r in rows {
        w.write_record(r).map_err(|e| Error::data(ctx(), e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))?;
    partition::fsync_file(path)
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    partition::fsync_file(path)
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell.
pub fn escape_md(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

const SAMPLE_BANNER: &str = "SAMPLE DATA: this report was built from hubaudit's synthetic sample world (offline replay). Names, deprecation dates and notice targets follow public history; descriptions, pull counts and dates are invented. It is not a measurement of Docker Hub.";

struct Page<'a> {
    date: NaiveDate,
    snapshot: NaiveDate,
    sample: bool,
    study: &'a Study,
    rows: &'a [DeprecatedRow],
    comparison: &'a [ComparisonRow],
    listed: usize,
    vulnerable: &'a [VulnerableRow],
    threshold: u32,
    scans_snapshot: Option<NaiveDate>,
}

impl Page<'_> {
    fn tables(&self) -> Vec<(&'static str, String, Table)> {
        vec![
            (
                "deprecated",
                format!(
                    "Deprecated images ({}) in the snapshot of {} — deprecated.csv",
                    self.rows.len(),
                    self.snapshot
                ),
                deprecated_csv(self.rows),
            ),
            (
                "comparison",
                format!(
                    "Deprecated images against the study's appendix ({} listed there) — deprecated_vs_study.csv",
                    self.study.deprecated.len()
                ),
                comparison_csv(self.comparison),
            ),
            (
                "vulnerable",
                match self.scans_snapshot {
                    Some(d) => format!(
                        "Images with more than {} fixable vulnerabilities ({}) in the scans of {d} — vulnerable.csv",
                        self.threshold,
                        self.vulnerable.len()
                    ),
                    None => format!("Images with more than {} fixable vulnerabilities — no scan snapshot on or before {}", self.threshold, self.date),
                },
                vulnerable_csv(self.vulnerable),
            ),
        ]
    }

    fn intro(&self) -> Vec<String> {
        let count = |p: &str| self.comparison.iter().filter(|c| c.presence == p).count();
        vec![
            format!("Report date {}; repositories snapshot used: {} ({} repositories listed; the study listed {}).", self.date, self.snapshot, self.listed, self.study.study.images_listed),
            format!(
                "Deprecated: {} in our snapshot; {} in both lists, {} only in ours, {} only in the study's.",
                self.rows.len(),
                count("both"),
                count("only_ours"),
                count("only_study")
            ),
            format!("Compared with: {} (published {}).", self.study.study.title, self.study.study.published),
        ]
    }

    fn markdown(&self) -> String {
        let mut md = format!("# hubaudit report for {}\n\n", self.date);
        if self.sample {
            md.push_str(&format!("> **{SAMPLE_BANNER}**\n\n"));
        }
        for line in self.intro() {
            md.push_str(&format!("- {}\n", escape_md(&line)));
        }
        for (_, title, (header, rows)) in self.tables() {
            md.push_str(&format!(
                "\n## {}\n\n| {} |\n|{}\n",
                escape_md(&title),
                header.join(" | "),
                "---|".repeat(header.len())
            ));
            for r in rows {
                let cells: Vec<String> = r.iter().map(|c| escape_md(c)).collect();
                md.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
        }
        md
    }

    fn html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
        h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        h.push_str(&format!("<title>hubaudit report {}</title>\n", self.date));
        h.push_str("<style>body{font-family:system-ui,sans-serif;margin:2rem}.scroll{overflow-x:auto}table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}td{max-width:28rem;overflow-wrap:break-word}th{background:#f0f0f0}.banner{background:#fff3cd;border:2px solid #d39e00;padding:1rem;font-weight:bold}</style>\n</head>\n<body>\n");
        if self.sample {
            h.push_str(&format!(
                "<p class=\"banner\" id=\"sample-banner\">{}</p>\n",
                escape_html(SAMPLE_BANNER)
            ));
        }
        h.push_str(&format!(
            "<h1>hubaudit report for {}</h1>\n<ul>\n",
            self.date
        ));
        for line in self.intro() {
            h.push_str(&format!("<li>{}</li>\n", escape_html(&line)));
        }
        h.push_str("</ul>\n");
        for (id, title, (header, rows)) in self.tables() {
            h.push_str(&format!(
                "<h2>{}</h2>\n<div class=\"scroll\"><table id=\"{id}\">\n<thead><tr>",
                escape_html(&title)
            ));
            for c in header {
                h.push_str(&format!("<th>{}</th>", escape_html(c)));
            }
            h.push_str("</tr></thead>\n<tbody>\n");
            for r in rows {
                h.push_str("<tr>");
                for c in r {
                    // lists wrap at their separators on screen; the CSV keeps them compact
                    h.push_str(&format!("<td>{}</td>", escape_html(&c.replace(';', "; "))));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</tbody>\n</table></div>\n");
        }
        h.push_str(&format!(
            "<footer><p>Generated by hubaudit {} from dated Parquet snapshots.</p></footer>\n</body>\n</html>\n",
            env!("CARGO_PKG_VERSION")
        ));
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_untrusted_text() {
        assert_eq!(
            escape_html("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(escape_md("a|b\nc<d"), "a\\|b c&lt;d");
    }
}
