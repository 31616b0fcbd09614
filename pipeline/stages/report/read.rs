//! Reading the marts for the report (polars lazy scans of one partition at a time).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;

use crate::catalog::{self, Dataset, IMAGES, PULLS_MART};
use crate::error::{Error, Result};

/// One row of `3_marts/images` as the report uses it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageView {
    pub name: String,
    pub source: String,
    pub pull_count: Option<i64>,
    pub last_updated: Option<DateTime<Utc>>,
    pub last_updated_changed: Option<bool>,
    pub deprecated: bool,
    pub deprecated_since: Option<NaiveDate>,
    pub deprecated_since_source: Option<String>,
    pub targets: Vec<String>,
    pub alternatives: Vec<String>,
    pub link: Option<String>,
    pub scans_snapshot: Option<NaiveDate>,
    pub tag: Option<String>,
    pub scan_status: Option<String>,
    pub os: String,
    pub eol_date: Option<NaiveDate>,
    pub eol_at_snapshot: Option<bool>,
    pub trivy_eosl: Option<bool>,
    pub total: Option<i64>,
    pub fixable: Option<i64>,
    /// Fixable findings: critical, high, medium, low.
    pub fixable_by_severity: [Option<i64>; 4],
    pub scan_note: Option<String>,
    /// `sha256:` of the Trivy DB the image's scan used.
    pub db_digest: Option<String>,
}

fn lazy(root: &Path, ds: &Dataset, snapshot: NaiveDate) -> Result<(LazyFrame, String)> {
    let path = crate::io::partition::verified_file(root, ds, snapshot)?;
    let ctx = path.display().to_string();
    let pl_path = PlRefPath::try_from_path(&path).map_err(|e| Error::data(&ctx, e))?;
    let lf = LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default())
        .map_err(|e| Error::data(&ctx, e))?;
    Ok((lf, ctx))
}

fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(String::from))
        .collect())
}

fn ints(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    Ok(df.column(name)?.i64()?.iter().collect())
}

fn bools(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<bool>>> {
    Ok(df.column(name)?.bool()?.iter().collect())
}

fn days(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<NaiveDate>>> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    Ok(df
        .column(name)?
        .cast(&DataType::Int32)?
        .i32()?
        .iter()
        .map(|v| v.map(|d| epoch + chrono::Duration::days(d as i64)))
        .collect())
}

fn split(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .unwrap_or_default()
        .split(';')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

/// Every image of an images-mart partition, sorted by name.
pub fn images(root: &Path, snapshot: NaiveDate) -> Result<Vec<ImageView>> {
    let (lf, ctx) = lazy(root, &IMAGES, snapshot)?;
    let err = |e: PolarsError| Error::data(&ctx, e);
    let df = lf
        .with_columns([
            col("deprecation_targets")
                .list()
                .join(lit(";"), true)
                .alias("targets_text"),
            col("deprecation_alternatives")
                .list()
                .join(lit(";"), true)
                .alias("alternatives_text"),
            col("last_updated")
                .dt()
                .timestamp(TimeUnit::Microseconds)
                .alias("last_updated_us"),
        ])
        .sort(["name"], SortMultipleOptions::default())
        .collect()
        .map_err(err)?;
    let s = |n: &str| strs(&df, n).map_err(err);
    let i = |n: &str| ints(&df, n).map_err(err);
    let b = |n: &str| bools(&df, n).map_err(err);
    let d = |n: &str| days(&df, n).map_err(err);
    let (name, source, targets, alts, link, tag, status, fam, osn, how, note) = (
        s("name")?,
        s("source")?,
        s("targets_text")?,
        s("alternatives_text")?,
        s("deprecation_link")?,
        s("tag")?,
        s("scan_status")?,
        s("os_family")?,
        s("os_name")?,
        s("deprecated_since_source")?,
        s("scan_note")?,
    );
    let db_digest = s("db_digest")?;
    let (pulls, updated, total, fixable, fc, fh, fm, fl) = (
        i("pull_count")?,
        i("last_updated_us")?,
        i("total")?,
        i("fixable")?,
        i("fixable_critical")?,
        i("fixable_high")?,
        i("fixable_medium")?,
        i("fixable_low")?,
    );
    let (changed, deprecated, eol, eosl) = (
        b("last_updated_changed")?,
        b("deprecated")?,
        b("eol_at_snapshot")?,
        b("trivy_eosl")?,
    );
    let (since, scans_snapshot, eol_date) =
        (d("deprecated_since")?, d("scans_snapshot")?, d("eol_date")?);
    Ok((0..df.height())
        .map(|k| ImageView {
            name: name[k].clone().unwrap_or_default(),
            source: source[k].clone().unwrap_or_default(),
            pull_count: pulls[k],
            last_updated: updated[k].and_then(DateTime::from_timestamp_micros),
            last_updated_changed: changed[k],
            deprecated: deprecated[k].unwrap_or(false),
            deprecated_since: since[k],
            deprecated_since_source: how[k].clone(),
            targets: split(&targets[k]),
            alternatives: split(&alts[k]),
            link: link[k].clone(),
            scans_snapshot: scans_snapshot[k],
            tag: tag[k].clone(),
            scan_status: status[k].clone(),
            os: [
                fam[k].clone().unwrap_or_default(),
                osn[k].clone().unwrap_or_default(),
            ]
            .join(" ")
            .trim()
            .to_string(),
            eol_date: eol_date[k],
            eol_at_snapshot: eol[k],
            trivy_eosl: eosl[k],
            total: total[k],
            fixable: fixable[k],
            fixable_by_severity: [fc[k], fh[k], fm[k], fl[k]],
            scan_note: note[k].clone(),
            db_digest: db_digest[k].clone(),
        })
        .collect())
}

/// Pull history from `3_marts/pulls` partitions up to `until`: name → capture date → count.
pub fn pull_history(
    root: &Path,
    until: NaiveDate,
) -> Result<BTreeMap<String, BTreeMap<NaiveDate, Option<i64>>>> {
    let mut out: BTreeMap<String, BTreeMap<NaiveDate, Option<i64>>> = BTreeMap::new();
    for snapshot in catalog::snapshots(root, &PULLS_MART)?
        .into_iter()
        .filter(|d| *d <= until)
    {
        let (lf, ctx) = lazy(root, &PULLS_MART, snapshot)?;
        let err = |e: PolarsError| Error::data(&ctx, e);
        let df = lf
            .with_columns([col("captured_at")
                .dt()
                .timestamp(TimeUnit::Microseconds)
                .alias("at_us")])
            .collect()
            .map_err(err)?;
        let (names, counts, at) = (
            strs(&df, "name").map_err(err)?,
            ints(&df, "pull_count").map_err(err)?,
            ints(&df, "at_us").map_err(err)?,
        );
        for k in 0..df.height() {
            let (Some(name), Some(at)) = (
                names[k].clone(),
                at[k].and_then(DateTime::from_timestamp_micros),
            ) else {
                continue;
            };
            // several reads on one day (extract-hub and pull-counts): keep the larger count
            let slot = out
                .entry(name)
                .or_default()
                .entry(at.date_naive())
                .or_insert(counts[k]);
            if counts[k] > *slot {
                *slot = counts[k];
            }
        }
    }
    Ok(out)
}
