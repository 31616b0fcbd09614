//! Reading the marts for the report: the images of one snapshot, and one plan over every
//! snapshot for what needs history (trends, "stale" images, window downloads).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;

use crate::catalog::{self, IMAGES, PULLS_MART};
use crate::downloads::{self, Window};
use crate::error::{Error, Result};
use crate::io::frame;

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
    Ok(df
        .column(name)?
        .cast(&DataType::Int32)?
        .i32()?
        .iter()
        .map(|v| v.map(crate::dates::from_epoch_days))
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
    let lf = frame::scan(root, &IMAGES, snapshot)?;
    let ctx = catalog::partition_file(root, &IMAGES, snapshot)
        .display()
        .to_string();
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

/// What the report needs from every images-mart snapshot up to its own, read in one plan:
/// the snapshot dates, the snapshots in which each image's `last_updated` changed, and the
/// fixable counts of the images a chart follows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Images-mart snapshots, oldest first.
    pub dates: Vec<NaiveDate>,
    /// Name → snapshots (oldest first) whose row says `last_updated_changed`.
    pub changed_in: HashMap<String, Vec<NaiveDate>>,
    /// Name (of those asked for) → snapshot → fixable count.
    pub fixable: HashMap<String, BTreeMap<NaiveDate, Option<i64>>>,
}

/// Reads the [`History`] of the images mart up to `until`, with fixable counts for `follow`.
pub fn history(root: &Path, until: NaiveDate, follow: &[&str]) -> Result<History> {
    let dates: Vec<NaiveDate> = catalog::snapshots(root, &IMAGES)?
        .into_iter()
        .filter(|d| *d <= until)
        .collect();
    let Some(all) = frame::scan_history(root, &IMAGES, Some(until))? else {
        return Ok(History::default());
    };
    let ctx = catalog::dataset_dir(root, &IMAGES).display().to_string();
    let err = |e: PolarsError| Error::data(&ctx, e);
    let changed = all
        .clone()
        .filter(col("last_updated_changed").eq(lit(true)))
        .select([col("name"), col("snapshot")])
        .unique(None, UniqueKeepStrategy::Any)
        .sort(["name", "snapshot"], SortMultipleOptions::default());
    let followed = df!("name" => follow.to_vec()).map_err(err)?.lazy();
    let fixable = all
        .join_builder()
        .with(followed)
        .how(JoinType::Inner)
        .on([col("name")])
        .finish()
        .select([col("name"), col("snapshot"), col("fixable")]);
    let (changed, fixable) = (
        changed.collect().map_err(err)?,
        fixable.collect().map_err(err)?,
    );
    let mut out = History {
        dates,
        ..History::default()
    };
    let (names, days) = (
        strs(&changed, "name").map_err(err)?,
        self::days(&changed, "snapshot").map_err(err)?,
    );
    for (n, d) in names.into_iter().zip(days) {
        if let (Some(n), Some(d)) = (n, d) {
            out.changed_in.entry(n).or_default().push(d);
        }
    }
    let (names, days, counts) = (
        strs(&fixable, "name").map_err(err)?,
        self::days(&fixable, "snapshot").map_err(err)?,
        ints(&fixable, "fixable").map_err(err)?,
    );
    for ((n, d), c) in names.into_iter().zip(days).zip(counts) {
        if let (Some(n), Some(d)) = (n, d) {
            // one row per image and snapshot; should a partition hold two, the first counts
            out.fixable.entry(n).or_default().entry(d).or_insert(c);
        }
    }
    Ok(out)
}

/// Downloads in the window `a..b` of every image with a pull count in `3_marts/pulls`
/// (every partition up to the report's date `until`: a join carries the captures taken since
/// the previous one, so captures of the window can sit in a later partition), in one plan:
/// for each image the latest capture on or before each end (several reads on one day: the
/// larger count), then [`downloads::window`] for the flags. Images with no capture on or
/// before `b` have no row.
pub fn windows(
    root: &Path,
    (a, b): (NaiveDate, NaiveDate),
    tolerance_days: i64,
    until: NaiveDate,
) -> Result<BTreeMap<String, Window>> {
    let Some(all) = frame::scan_history(root, &PULLS_MART, Some(until.max(b)))? else {
        return Ok(BTreeMap::new());
    };
    let ctx = catalog::dataset_dir(root, &PULLS_MART)
        .display()
        .to_string();
    let err = |e: PolarsError| Error::data(&ctx, e);
    let day = col("day");
    let ends = all
        .select([
            col("name"),
            col("pull_count"),
            col("captured_at").dt().date().alias("day"),
        ])
        // one pass per image, no sort: the latest capture day on or before each end, and the
        // largest count read that day (several reads on one day: extract-hub and pull-counts)
        .group_by([col("name")])
        .agg(
            [("start", a), ("end", b)]
                .into_iter()
                .flat_map(|(end, date)| {
                    let latest = day
                        .clone()
                        .filter(day.clone().lt_eq(frame::date_lit(date)))
                        .max();
                    [
                        latest.clone().alias(format!("{end}_day")),
                        col("pull_count")
                            .filter(day.clone().eq(latest))
                            .max()
                            .alias(format!("{end}_pulls")),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .collect()
        .map_err(err)?;
    let names = strs(&ends, "name").map_err(err)?;
    let (sd, ed) = (
        days(&ends, "start_day").map_err(err)?,
        days(&ends, "end_day").map_err(err)?,
    );
    let (sp, ep) = (
        ints(&ends, "start_pulls").map_err(err)?,
        ints(&ends, "end_pulls").map_err(err)?,
    );
    let mut out = BTreeMap::new();
    for k in 0..ends.height() {
        // an image first counted after the window's end was not there to be downloaded
        let (Some(name), Some(_)) = (names[k].clone(), ed[k]) else {
            continue;
        };
        // the two captures that matter stand for the whole history
        let mut h = BTreeMap::new();
        if let Some(d) = sd[k] {
            h.insert(d, sp[k]);
        }
        if let Some(d) = ed[k] {
            h.insert(d, ep[k]);
        }
        out.insert(name, downloads::window(&h, a, b, tolerance_days));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::Stage;
    use crate::io::parquet as pq;
    use chrono::TimeZone;

    /// The reference: every capture of a name by day (several reads on one day: the larger
    /// count, a missing count below any), then `downloads::window` over the whole history.
    fn reference(
        rows: &[(String, Option<i64>, DateTime<Utc>)],
        (a, b): (NaiveDate, NaiveDate),
        tolerance: i64,
    ) -> BTreeMap<String, Window> {
        let mut h: BTreeMap<String, BTreeMap<NaiveDate, Option<i64>>> = BTreeMap::new();
        for (name, count, at) in rows {
            let slot = h
                .entry(name.clone())
                .or_default()
                .entry(at.date_naive())
                .or_insert(*count);
            if *count > *slot {
                *slot = *count;
            }
        }
        h.into_iter()
            .filter(|(_, days)| days.range(..=b).next().is_some())
            .map(|(name, days)| (name, downloads::window(&days, a, b, tolerance)))
            .collect()
    }

    #[test]
    fn window_downloads_from_one_plan_equal_the_capture_by_capture_reference() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut rng = fastrand::Rng::with_seed(7);
        let day0 = NaiveDate::from_ymd_opt(2021, 7, 20).unwrap();
        let mut all = Vec::new();
        // three pulls-mart partitions, each with the captures since the one before
        for (k, snapshot) in ["2021-07-31", "2021-08-12", "2021-08-30"]
            .iter()
            .enumerate()
        {
            let snapshot: NaiveDate = snapshot.parse().unwrap();
            let mut rows = Vec::new();
            for n in 0..60 {
                for _ in 0..rng.usize(0..6) {
                    let day = day0 + chrono::Duration::days((k * 12 + rng.usize(0..12)) as i64);
                    let at = Utc.from_utc_datetime(&day.and_hms_opt(rng.u32(0..24), 0, 0).unwrap());
                    let count = match rng.u8(0..20) {
                        0 => None,
                        1 => Some(downloads::PULL_CAP),
                        2 => Some(5), // a reset, most of the time
                        _ => Some(1_000 + (day - day0).num_days() * 100 + rng.i64(0..50)),
                    };
                    rows.push((format!("img-{n:02}"), count, at));
                }
            }
            let batch = pq::named(
                catalog::pulls_mart_schema(),
                vec![
                    ("name", pq::strings(rows.iter().map(|r| Some(r.0.as_str())))),
                    ("pull_count", pq::ints(rows.iter().map(|r| r.1))),
                    (
                        "captured_at",
                        pq::timestamps(rows.iter().map(|r| Some(r.2))),
                    ),
                    (
                        "read_from",
                        pq::strings(rows.iter().map(|_| Some("pull-counts"))),
                    ),
                ],
            )
            .unwrap();
            crate::io::partition::write_partition(
                root,
                Stage::Join,
                &PULLS_MART,
                snapshot,
                "test",
                |p| pq::write_batch(p, &batch),
            )
            .unwrap();
            all.extend(rows);
        }
        let until = NaiveDate::from_ymd_opt(2021, 8, 30).unwrap();
        let mut compared = 0;
        for (a, b) in [
            ("2021-07-22", "2021-08-03"),
            ("2021-07-29", "2021-08-10"),
            ("2021-08-01", "2021-08-02"),
            ("2021-07-01", "2021-07-10"),
        ] {
            let w = (a.parse().unwrap(), b.parse().unwrap());
            for tolerance in [0, 2] {
                let got = windows(root, w, tolerance, until).unwrap();
                assert_eq!(
                    got,
                    reference(&all, w, tolerance),
                    "window {w:?}, tolerance {tolerance}"
                );
                compared += got.len();
            }
        }
        assert!(compared > 300, "the windows compared {compared} images");
    }
}

/// One row of `2_staged/timetravel_scans` as the report uses it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeTravelView {
    pub name: String,
    pub tag: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub inventory: Option<String>,
    pub inventory_file: Option<String>,
    pub inventory_commit: Option<String>,
    pub inventory_sha256: Option<String>,
    pub inventory_title: Option<String>,
    pub inventory_created: Option<DateTime<Utc>>,
    pub os: Option<String>,
    pub advisories: Option<String>,
    pub fixable: Option<i64>,
    pub total: Option<i64>,
    pub db_digest: Option<String>,
}

/// The time-travel rows of exactly `date` (None: no timetravel run for it).
pub fn timetravel(root: &Path, date: NaiveDate) -> Result<Option<Vec<TimeTravelView>>> {
    use crate::io::{parquet as pq, partition};
    if !catalog::snapshots(root, &catalog::TIMETRAVEL_SCANS)?.contains(&date) {
        return Ok(None);
    }
    let path = partition::verified_file(root, &catalog::TIMETRAVEL_SCANS, date)?;
    let batch = pq::read_batch(&path, &catalog::timetravel_scans_schema())?;
    let c = pq::Columns::new(&batch, path.display().to_string());
    let s = |n: &str| c.strings(n);
    let (name, tag, status, reason) = (s("name")?, s("tag")?, s("status")?, s("reason")?);
    let (how, file, commit, sha, title) = (
        s("inventory")?,
        s("inventory_file")?,
        s("inventory_commit")?,
        s("inventory_sha256")?,
        s("inventory_title")?,
    );
    let (family, release, adv, digest) = (
        s("os_family")?,
        s("os_name")?,
        s("advisories")?,
        s("db_digest")?,
    );
    let created = c.timestamps("inventory_created")?;
    let (fixable, total) = (c.ints("fixable")?, c.ints("total")?);
    Ok(Some(
        (0..batch.num_rows())
            .map(|i| TimeTravelView {
                name: name[i].clone().unwrap_or_default(),
                tag: tag[i].clone(),
                status: status[i].clone().unwrap_or_default(),
                reason: reason[i].clone(),
                inventory: how[i].clone(),
                inventory_file: file[i].clone(),
                inventory_commit: commit[i].clone(),
                inventory_sha256: sha[i].clone(),
                inventory_title: title[i].clone(),
                inventory_created: created[i],
                os: family[i]
                    .as_ref()
                    .map(|f| format!("{f} {}", release[i].clone().unwrap_or_default())),
                advisories: adv[i].clone(),
                fixable: fixable[i],
                total: total[i],
                db_digest: digest[i].clone(),
            })
            .collect(),
    ))
}
