//! `join`: builds the marts of a snapshot from the staged tables, as polars lazy plans.
//!
//! Reads: `2_staged/repositories` (the snapshot and the one before), the latest
//! `2_staged/scans` and `2_staged/findings` on or before the snapshot, `2_staged/pull_counts`
//! captured after the previous images snapshot and up to this one, the previous
//! `3_marts/images` (to carry "deprecated since" forward), `reference/deprecations.csv`.
//! Writes `3_marts/images` (one row per image), `3_marts/findings`, `3_marts/pulls` and
//! `3_marts/rejects` (rows that did not join, with the reason). Joins are by image name; the
//! catalog (repositories) decides which images exist.
//!
//! The images mart is small (one row per image) and is collected; the findings mart is one
//! streaming plan from the staged findings to the mart file, so memory does not grow with the
//! number of findings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use polars::prelude::*;

use crate::catalog::{
    self, FINDINGS, FINDINGS_MART, IMAGES, PULLS_MART, PULL_COUNTS, REJECTS, REPOSITORIES, SCANS,
};
use crate::dag::Stage;
use crate::downloads::PULL_CAP;
use crate::error::{Error, Result};
use crate::io::frame::{self, date_lit, opt_date_lit};
use crate::io::partition;

/// What to join.
#[derive(Debug, Clone)]
pub struct Options {
    pub datasets: PathBuf,
    pub snapshot: NaiveDate,
    /// Reference folder (`deprecations.csv`).
    pub reference: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub snapshot: Option<NaiveDate>,
    pub images: usize,
    pub with_scan: usize,
    pub scans_snapshot: Option<NaiveDate>,
    pub previous: Option<NaiveDate>,
    pub findings: usize,
    pub pull_points: usize,
    pub rejects: usize,
}

/// The snapshots a join of `snapshot` reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    pub snapshot: NaiveDate,
    /// The repositories snapshot before it.
    pub previous: Option<NaiveDate>,
    /// The latest scans snapshot on or before it.
    pub scans: Option<NaiveDate>,
    /// The images mart before it (carried deprecation dates).
    pub previous_images: Option<NaiveDate>,
}

/// The rows of the study's method (`study_choice`): other tags and platforms a scan stored
/// (`--tags`, `--platforms`) stay in the staged tables. Partitions written before the column
/// existed hold only the study's rows.
fn study_rows(mut lf: LazyFrame) -> Result<LazyFrame> {
    let schema = lf.collect_schema().map_err(|e| Error::data("scans", e))?;
    Ok(if schema.contains("study_choice") {
        lf.filter(col("study_choice"))
    } else {
        lf
    })
}

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let root = &opts.datasets;
    let d = opts.snapshot;
    if !catalog::snapshots(root, &REPOSITORIES)?.contains(&d) {
        return Err(Error::Input(format!(
            "no repositories snapshot for {d}; run `hubaudit extract-hub --snapshot {d}` first"
        )));
    }
    let inputs = Inputs {
        snapshot: d,
        previous: catalog::snapshot_before(root, &REPOSITORIES, d)?,
        scans: catalog::snapshots(root, &SCANS)?
            .into_iter()
            .rev()
            .find(|s| *s <= d),
        previous_images: catalog::snapshot_before(root, &IMAGES, d)?,
    };
    let ctx = |ds: &catalog::Dataset, s: NaiveDate| {
        catalog::partition_file(root, ds, s).display().to_string()
    };
    let repos = frame::scan(root, &REPOSITORIES, d)?;
    let prev = inputs
        .previous
        .map(|p| frame::scan(root, &REPOSITORIES, p))
        .transpose()?;
    let scans = inputs
        .scans
        .map(|s| frame::scan(root, &SCANS, s).and_then(study_rows))
        .transpose()?;
    let carried = inputs
        .previous_images
        .map(|p| frame::scan(root, &IMAGES, p))
        .transpose()?;
    let since = crate::reference::load_deprecations(opts.reference.as_deref())?;

    let images = frame::collect(
        images_plan(
            repos.clone(),
            prev,
            scans.clone(),
            deprecations_frame(&since),
            carried,
            &inputs,
        ),
        &ctx(&REPOSITORIES, d),
    )?;
    let names = images.clone().lazy().select([col("name")]);
    let mut rejects = Vec::new();
    if let (Some(s), Some(scans)) = (inputs.scans, scans) {
        let unknown = frame::collect(
            unknown_names(scans.select([col("name")]), names.clone()),
            &ctx(&SCANS, s),
        )?;
        for name in name_list(&unknown)? {
            let why = format!("scanned on {s} but not in the repositories snapshot of {d}");
            rejects.push(("scans", name, why));
        }
        let unscanned = images
            .clone()
            .lazy()
            .filter(col("scans_snapshot").is_null())
            .select([col("name")]);
        let unscanned = frame::collect(unscanned, &ctx(&REPOSITORIES, d))?;
        for name in name_list(&unscanned)? {
            let why = format!("no scan of this image in the scans of {s}; it stays in the images mart without scan columns");
            rejects.push(("repositories", name, why));
        }
    }

    let findings = inputs
        .scans
        .map(|s| {
            frame::scan(root, &FINDINGS, s)
                .and_then(study_rows)
                .map(|f| (s, f))
        })
        .transpose()?;
    let pull_dates: Vec<NaiveDate> = catalog::snapshots(root, &PULL_COUNTS)?
        .into_iter()
        .filter(|p| *p <= d && inputs.previous_images.is_none_or(|prev| *p > prev))
        .collect();
    let pull_counts = pull_dates
        .iter()
        .map(|p| frame::scan(root, &PULL_COUNTS, *p))
        .collect::<Result<Vec<_>>>()?;
    let pull_counts = if pull_counts.is_empty() {
        None
    } else {
        Some(
            concat(pull_counts, UnionArgs::default())
                .map_err(|e| Error::internal("join", e))?
                .select([col("name"), col("pull_count"), col("captured_at")]),
        )
    };
    let pulls = pulls_plan(repos, pull_counts.clone(), names.clone());
    let images_schema = catalog::images_schema();
    partition::write_partition(root, Stage::Join, &IMAGES, d, "join", |p| {
        frame::write_frame(p, &images, &images_schema)
    })?;
    let mut findings_rows = 0;
    // findings of images outside the catalog, by name: counted while the mart streams
    let outside = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    partition::write_partition(root, Stage::Join, &FINDINGS_MART, d, "join", |p| {
        let schema = catalog::findings_mart_schema();
        let counts = outside.clone();
        findings_rows = match &findings {
            Some((s, f)) => frame::sink_map(
                p,
                findings_plan(f.clone(), images.clone().lazy(), *s),
                &schema,
                &ctx(&FINDINGS, *s),
                move |df| catalogued_only(df, &counts),
            )?,
            None => frame::write_frame(p, &DataFrame::empty(), &schema)?,
        };
        Ok(findings_rows)
    })?;
    let outside = std::mem::take(&mut *outside.lock().expect("the writer has finished"));
    for (name, n) in outside {
        let why = format!("{n} finding(s) of an image not in the repositories snapshot of {d}");
        rejects.push(("findings", name, why));
    }
    if let Some(pc) = &pull_counts {
        let unknown = frame::collect(
            unknown_names(pc.clone().select([col("name")]), names.clone()),
            &catalog::dataset_dir(root, &PULL_COUNTS)
                .display()
                .to_string(),
        )?;
        for name in name_list(&unknown)? {
            let why = format!("not in the repositories snapshot of {d}");
            rejects.push(("pull_counts", name, why));
        }
    }
    let rejects = rejects_frame(&rejects)?;

    let mut pull_points = 0;
    partition::write_partition(root, Stage::Join, &PULLS_MART, d, "join", |p| {
        // a year of daily captures of thousands of images: streamed like the findings
        pull_points = frame::sink(
            p,
            pulls,
            &catalog::pulls_mart_schema(),
            &catalog::dataset_dir(root, &PULL_COUNTS)
                .display()
                .to_string(),
        )?;
        Ok(pull_points)
    })?;
    partition::write_partition(root, Stage::Join, &REJECTS, d, "join", |p| {
        frame::write_frame(p, &rejects, &catalog::rejects_schema())
    })?;
    let with_scan = images.height()
        - images
            .column("scans_snapshot")
            .map(|c| c.null_count())
            .unwrap_or(images.height());
    Ok(Summary {
        snapshot: Some(d),
        images: images.height(),
        with_scan,
        scans_snapshot: inputs.scans,
        previous: inputs.previous,
        findings: findings_rows as usize,
        pull_points: pull_points as usize,
        rejects: rejects.height(),
    })
}

/// The reference deprecation dates as a frame: `name`, `__ref_since`.
pub fn deprecations_frame(since: &BTreeMap<String, NaiveDate>) -> LazyFrame {
    let names: Vec<&str> = since.keys().map(String::as_str).collect();
    let days: Vec<i32> = since
        .values()
        .map(|d| crate::dates::epoch_days(*d))
        .collect();
    df!("name" => names, "__ref_since" => days)
        .expect("two columns of equal length")
        .lazy()
        .with_column(col("__ref_since").cast(DataType::Date))
}

/// Rows of `names` (a `name` column) whose name is not in `known` (a `name` column), in
/// their order.
fn unknown_names(names: LazyFrame, known: LazyFrame) -> LazyFrame {
    names
        .join_builder()
        .with(
            known
                .unique(None, UniqueKeepStrategy::Any)
                .with_column(lit(true).alias("__known")),
        )
        .how(JoinType::Left)
        .on([col("name")])
        .maintain_order(MaintainOrderJoin::Left)
        .finish()
        .filter(col("__known").is_null())
        .select([col("name")])
}

/// The `name` column of `df`.
fn name_list(df: &DataFrame) -> Result<Vec<String>> {
    let names = df
        .column("name")
        .and_then(|c| c.str().cloned())
        .map_err(|e| Error::internal("join rejects", e))?;
    Ok(names
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

/// The rejects mart from (table, name, reason) rows.
fn rejects_frame(rows: &[(&str, String, String)]) -> Result<DataFrame> {
    df!(
        "table" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "name" => rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        "reason" => rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
    )
    .map_err(|e| Error::internal("join rejects", e))
}

/// The images mart: the catalog `repos` joined with the previous snapshot's repositories
/// (`prev`), the scans, the reference deprecation dates (`since`: `name`, `__ref_since`) and
/// the previous images mart (`carried`), one row per repository in the catalog's order.
/// Pure: frames in, plan out.
pub fn images_plan(
    repos: LazyFrame,
    prev: Option<LazyFrame>,
    scans: Option<LazyFrame>,
    since: LazyFrame,
    carried: Option<LazyFrame>,
    at: &Inputs,
) -> LazyFrame {
    let left = |lf: LazyFrame, other: LazyFrame| {
        lf.join_builder()
            .with(other)
            .how(JoinType::Left)
            .on([col("name")])
            .maintain_order(MaintainOrderJoin::Left)
            .finish()
    };
    // one row per name on the right side: the last one, as a map keyed by name would keep
    let last = |lf: LazyFrame| lf.unique_stable(Some(cols(["name"])), UniqueKeepStrategy::Last);
    let mut lf = repos.select([
        col("name"),
        col("namespace"),
        col("description"),
        col("source"),
        col("star_count"),
        col("pull_count"),
        col("last_updated"),
        col("date_registered"),
        col("deprecated"),
        col("deprecated_since").alias("__repo_since"),
        col("deprecation_targets"),
        col("deprecation_alternatives"),
        col("deprecation_link"),
    ]);
    // a missing partition is a partition without rows: the same plan, nulls after the joins
    let prev = prev.unwrap_or_else(|| frame::empty(&catalog::repositories_schema()));
    let scans = scans.unwrap_or_else(|| frame::empty(&catalog::scans_schema()));
    let carried = carried.unwrap_or_else(|| frame::empty(&catalog::images_schema()));
    let prev_cols = last(prev.select([
        col("name"),
        col("pull_count").alias("__prev_pulls"),
        col("last_updated").alias("__prev_updated"),
        lit(true).alias("__had_prev"),
    ]));
    lf = left(lf, prev_cols);
    let scan_cols = last(scans.select([
        col("name"),
        col("tag"),
        col("digest"),
        col("status").alias("scan_status"),
        col("os_family"),
        col("os_name"),
        col("eol_date"),
        col("eol_at_snapshot"),
        col("trivy_eosl"),
        col("total"),
        col("fixable"),
        col("fixable_critical"),
        col("fixable_high"),
        col("fixable_medium"),
        col("fixable_low"),
        col("note").alias("scan_note"),
        col("db_digest"),
        lit(true).alias("__scanned"),
    ]));
    lf = left(lf, scan_cols);
    lf = left(lf, last(since));
    let carried_cols = last(carried.select([
        col("name"),
        col("deprecated_since").alias("__carried_since"),
        col("deprecated_since_source").alias("__carried_how"),
    ]));
    lf = left(lf, carried_cols);
    let had_prev = col("__had_prev").fill_null(lit(false));
    let deprecated = col("deprecated");
    let (repo_since, ref_since, carried_since) = (
        col("__repo_since"),
        col("__ref_since"),
        col("__carried_since"),
    );
    let null_str = || lit(NULL).cast(DataType::String);
    let (s, e) = (col("__prev_pulls"), col("pull_count"));
    let counted = had_prev
        .clone()
        .and(s.clone().is_not_null())
        .and(e.clone().is_not_null());
    let capped = s
        .clone()
        .gt_eq(lit(PULL_CAP))
        .or(e.clone().gt_eq(lit(PULL_CAP)));
    lf.with_columns([
        when(had_prev.clone())
            .then(col("last_updated").neq_missing(col("__prev_updated")))
            .otherwise(lit(NULL).cast(DataType::Boolean))
            .alias("last_updated_changed"),
        when(deprecated.clone().not())
            .then(opt_date_lit(None))
            .when(repo_since.clone().is_not_null())
            .then(repo_since.clone())
            .when(ref_since.clone().is_not_null())
            .then(ref_since.clone())
            .when(carried_since.clone().is_not_null())
            .then(carried_since.clone())
            .otherwise(date_lit(at.snapshot))
            .alias("deprecated_since"),
        when(deprecated.not())
            .then(null_str())
            .when(repo_since.is_not_null())
            .then(col("source") + lit("-history"))
            .when(ref_since.is_not_null())
            .then(lit("docs-history"))
            .when(carried_since.is_not_null())
            .then(col("__carried_how"))
            .otherwise(lit("first-seen-in-snapshot"))
            .alias("deprecated_since_source"),
        when(col("__scanned").fill_null(lit(false)))
            .then(opt_date_lit(at.scans))
            .otherwise(opt_date_lit(None))
            .alias("scans_snapshot"),
        when(had_prev.clone())
            .then(opt_date_lit(at.previous))
            .otherwise(opt_date_lit(None))
            .alias("previous_snapshot"),
        when(
            counted
                .clone()
                .and(capped.clone().not())
                .and(e.clone().gt_eq(s.clone())),
        )
        .then(e.clone() - s.clone())
        .otherwise(lit(NULL).cast(DataType::Int64))
        .alias("downloads_since_previous"),
        when(counted.not())
            .then(lit("missing"))
            .when(capped)
            .then(lit("capped"))
            .when(e.lt(s))
            .then(lit("reset"))
            .otherwise(lit(""))
            .alias("downloads_flags"),
    ])
}

/// The findings mart: the staged findings of the scans snapshot `s`, in their order, with
/// their image's deprecation, OS and EOL from the catalog (`images`); a finding of an image
/// outside the catalog has a null `deprecated` ([`catalogued_only`] drops it).
pub fn findings_plan(findings: LazyFrame, images: LazyFrame, s: NaiveDate) -> LazyFrame {
    let attrs = images.select([
        col("name"),
        col("deprecated").alias("__deprecated"),
        col("os_family").alias("__os_family"),
        col("os_name").alias("__os_name"),
        col("eol_at_snapshot").alias("__eol"),
    ]);
    findings
        .join_builder()
        .with(attrs.unique_stable(Some(cols(["name"])), UniqueKeepStrategy::Last))
        .how(JoinType::Left)
        .on([col("name")])
        .maintain_order(MaintainOrderJoin::Left)
        .finish()
        .with_columns([
            col("__deprecated").alias("deprecated"),
            col("__os_family").alias("os_family"),
            col("__os_name").alias("os_name"),
            col("__eol").alias("eol_at_snapshot"),
            date_lit(s).alias("scans_snapshot"),
        ])
}

/// The rows of a findings-mart chunk whose image is in the catalog; the others are counted
/// by name in `outside` (they become rejects). A chunk of catalogued images only (every chunk,
/// in a consistent snapshot) passes untouched.
fn catalogued_only(df: DataFrame, outside: &Mutex<BTreeMap<String, u64>>) -> Result<DataFrame> {
    let err = |e: PolarsError| Error::internal("join findings", e);
    let known = df.column("deprecated").map_err(err)?.is_not_null();
    if known.all() {
        return Ok(df);
    }
    let unknown = df.filter(&!&known).map_err(err)?;
    let mut outside = outside.lock().expect("only the writer thread locks it");
    for name in unknown
        .column("name")
        .map_err(err)?
        .str()
        .map_err(err)?
        .iter()
    {
        *outside
            .entry(name.unwrap_or_default().to_string())
            .or_default() += 1;
    }
    df.filter(&known).map_err(err)
}

/// The pulls mart: every pull count read for the catalogued images, from extract-hub
/// (`repos`) then from the pull-counts captures (`counts`), known names only.
pub fn pulls_plan(repos: LazyFrame, counts: Option<LazyFrame>, names: LazyFrame) -> LazyFrame {
    let hub = repos.select([
        col("name"),
        col("pull_count"),
        col("captured_at"),
        lit("extract-hub").alias("read_from"),
    ]);
    let Some(counts) = counts else {
        return hub;
    };
    let known = counts
        .join_builder()
        .with(names.unique(None, UniqueKeepStrategy::Any))
        .how(JoinType::Inner)
        .on([col("name")])
        .maintain_order(MaintainOrderJoin::Left)
        .finish()
        .with_column(lit("pull-counts").alias("read_from"));
    concat([hub, known], UnionArgs::default()).expect("equal columns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn repos(rows: &[(&str, bool, Option<i64>)]) -> LazyFrame {
        let n = rows.len();
        df!(
            "name" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "namespace" => vec!["library"; n],
            "description" => vec![Some("d"); n],
            "source" => vec!["sample"; n],
            "star_count" => vec![Some(1i64); n],
            "pull_count" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "deprecated" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "deprecation_link" => vec![None::<&str>; n],
        )
        .unwrap()
        .lazy()
        .with_columns([
            lit(NULL)
                .cast(DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                ))
                .alias("last_updated"),
            lit(NULL)
                .cast(DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                ))
                .alias("date_registered"),
            opt_date_lit(None).alias("deprecated_since"),
            concat_list([lit("x")])
                .unwrap()
                .alias("deprecation_targets"),
            concat_list([lit("y")])
                .unwrap()
                .alias("deprecation_alternatives"),
        ])
    }

    fn inputs(previous: Option<&str>) -> Inputs {
        Inputs {
            snapshot: date("2021-08-24"),
            previous: previous.map(date),
            scans: None,
            previous_images: None,
        }
    }

    fn column<T>(df: &DataFrame, name: &str, f: impl Fn(&Column) -> Vec<T>) -> Vec<T> {
        f(df.column(name).unwrap())
    }

    #[test]
    fn downloads_since_the_previous_snapshot_carry_flags_not_zeros() {
        let now = repos(&[
            ("a", false, Some(150)),
            ("b", false, Some(90)),
            ("c", false, None),
            ("d", false, Some(PULL_CAP)),
            ("e", false, Some(7)),
        ]);
        let prev = repos(&[
            ("a", false, Some(100)),
            ("b", false, Some(100)),
            ("c", false, Some(1)),
            ("d", false, Some(5)),
        ]);
        let df = images_plan(
            now,
            Some(prev),
            None,
            deprecations_frame(&BTreeMap::new()),
            None,
            &inputs(Some("2021-08-10")),
        )
        .collect()
        .unwrap();
        let flags = column(&df, "downloads_flags", |c| {
            c.str()
                .unwrap()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect()
        });
        assert_eq!(flags, vec!["", "reset", "missing", "capped", "missing"]);
        let dl = column(&df, "downloads_since_previous", |c| {
            c.i64().unwrap().iter().collect()
        });
        assert_eq!(dl, vec![Some(50), None, None, None, None]);
        let no_previous = df.column("previous_snapshot").unwrap().null_count();
        assert_eq!(no_previous, 1, "only e has no previous row");
    }

    #[test]
    fn deprecated_since_prefers_the_row_then_the_reference_then_the_carried_date() {
        let now = repos(&[
            ("a", true, None),
            ("b", true, None),
            ("c", true, None),
            ("d", false, None),
        ]);
        let since = BTreeMap::from([("a".to_string(), date("2020-01-01"))]);
        let carried = df!(
            "name" => ["b", "d"],
            "deprecated_since" => [crate::dates::epoch_days(date("2021-01-01")); 2],
            "deprecated_since_source" => ["docs-history", "docs-history"],
        )
        .unwrap()
        .lazy()
        .with_column(col("deprecated_since").cast(DataType::Date));
        let df = images_plan(
            now,
            None,
            None,
            deprecations_frame(&since),
            Some(carried),
            &inputs(None),
        )
        .collect()
        .unwrap();
        let how = column(&df, "deprecated_since_source", |c| {
            c.str()
                .unwrap()
                .iter()
                .map(|v| v.map(String::from))
                .collect::<Vec<_>>()
        });
        assert_eq!(
            how,
            vec![
                Some("docs-history".into()),
                Some("docs-history".into()),
                Some("first-seen-in-snapshot".into()),
                None
            ]
        );
        let b = frame::to_batch(&df, &catalog::images_schema()).unwrap();
        let since = crate::io::parquet::Columns::new(&b, "t")
            .dates("deprecated_since")
            .unwrap();
        assert_eq!(
            since,
            vec![
                Some(date("2020-01-01")),
                Some(date("2021-01-01")),
                Some(date("2021-08-24")),
                None
            ]
        );
    }

    #[test]
    fn findings_of_images_outside_the_catalog_are_counted_not_written() {
        let findings = df!(
            "name" => ["a", "ghost", "a", "ghost", "b"],
            "vulnerability_id" => ["V1", "V2", "V3", "V4", "V5"],
        )
        .unwrap()
        .lazy();
        let images = df!(
            "name" => ["a", "b"],
            "deprecated" => [false, true],
            "os_family" => ["debian", "alpine"],
            "os_name" => ["10", "3.14"],
            "eol_at_snapshot" => [Some(false), None],
        )
        .unwrap()
        .lazy();
        let chunk = findings_plan(findings, images, date("2021-08-24"))
            .collect()
            .unwrap();
        let outside = Mutex::new(BTreeMap::new());
        let kept = catalogued_only(chunk, &outside).unwrap();
        let ids: Vec<&str> = kept
            .column("vulnerability_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap())
            .collect();
        assert_eq!(ids, ["V1", "V3", "V5"], "catalogued rows, in their order");
        assert_eq!(
            outside.into_inner().unwrap(),
            BTreeMap::from([("ghost".to_string(), 2)])
        );
    }
}
