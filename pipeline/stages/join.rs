//! `join`: builds the marts of a snapshot from the staged tables.
//!
//! Reads: `2_staged/repositories` (the snapshot and the one before), the latest
//! `2_staged/scans` and `2_staged/findings` on or before the snapshot, `2_staged/pull_counts`
//! of the snapshot, the previous `3_marts/images` (to carry "deprecated since" forward),
//! `reference/deprecations.csv`. Writes `3_marts/images` (one row per image),
//! `3_marts/findings`, `3_marts/pulls` and `3_marts/rejects` (rows that did not join, with the
//! reason). Joins are by image name; the catalog (repositories) decides which images exist.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use chrono::NaiveDate;

use crate::catalog::{
    self, FINDINGS_MART, IMAGES, PULLS_MART, PULL_COUNTS, REJECTS, REPOSITORIES, SCANS,
};
use crate::dag::Stage;
use crate::downloads;
use crate::error::{Error, Result};
use crate::io::parquet::{self as pq, Columns};
use crate::io::partition;
use crate::tables::{self, FindingRow, RepoRow, ScanRow};

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

/// A row of `3_marts/images`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    pub repo: RepoRow,
    pub last_updated_changed: Option<bool>,
    pub deprecated_since: Option<NaiveDate>,
    pub deprecated_since_source: Option<String>,
    pub scans_snapshot: Option<NaiveDate>,
    pub scan: Option<ScanRow>,
    pub previous_snapshot: Option<NaiveDate>,
    pub downloads_since_previous: Option<i64>,
    pub downloads_flags: Option<String>,
}

/// A row of `3_marts/rejects`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub table: &'static str,
    pub name: String,
    pub reason: String,
}

/// A pull count read at a capture time: (name, pull_count, captured_at).
type PullPoint = (String, Option<i64>, chrono::DateTime<chrono::Utc>);

/// What the previous images mart said about deprecation: name → (since, source).
type Carried = HashMap<String, (Option<NaiveDate>, Option<String>)>;

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let root = &opts.datasets;
    let d = opts.snapshot;
    if !catalog::snapshots(root, &REPOSITORIES)?.contains(&d) {
        return Err(Error::Input(format!(
            "no repositories snapshot for {d}; run `hubaudit extract-hub --snapshot {d}` first"
        )));
    }
    let repos = tables::read_repositories(root, d)?;
    let previous = catalog::snapshot_before(root, &REPOSITORIES, d)?;
    let prev_repos: HashMap<String, RepoRow> = match previous {
        Some(p) => tables::read_repositories(root, p)?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect(),
        None => HashMap::new(),
    };
    let scans_snapshot = catalog::snapshots(root, &SCANS)?
        .into_iter()
        .rev()
        .find(|s| *s <= d);
    let (scans, findings) = match scans_snapshot {
        Some(s) => (
            tables::read_scans(root, s)?,
            tables::read_findings(root, s)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let since = crate::reference::load_deprecations(opts.reference.as_deref())?;
    let carried = previous_deprecations(root, d)?;
    let pull_counts = if catalog::snapshots(root, &PULL_COUNTS)?.contains(&d) {
        read_pull_counts(root, d)?
    } else {
        Vec::new()
    };

    let (images, mut rejects) = join_images(
        &repos,
        &prev_repos,
        previous,
        &scans,
        scans_snapshot,
        &since,
        &carried,
        d,
    );
    let names: BTreeSet<&str> = repos.iter().map(|r| r.name.as_str()).collect();
    let mut finding_rejects = BTreeMap::new();
    let kept: Vec<&FindingRow> = findings
        .iter()
        .filter(|f| {
            let known = names.contains(f.name.as_str());
            if !known {
                *finding_rejects.entry(f.name.clone()).or_insert(0) += 1;
            }
            known
        })
        .collect();
    for (name, n) in finding_rejects {
        rejects.push(Reject {
            table: "findings",
            name,
            reason: format!("{n} finding(s) of an image not in the repositories snapshot of {d}"),
        });
    }
    let mut pulls: Vec<(
        String,
        Option<i64>,
        chrono::DateTime<chrono::Utc>,
        &'static str,
    )> = repos
        .iter()
        .map(|r| (r.name.clone(), r.pull_count, r.captured_at, "extract-hub"))
        .collect();
    for (name, count, at) in &pull_counts {
        if names.contains(name.as_str()) {
            pulls.push((name.clone(), *count, *at, "pull-counts"));
        } else {
            rejects.push(Reject {
                table: "pull_counts",
                name: name.clone(),
                reason: format!("not in the repositories snapshot of {d}"),
            });
        }
    }
    let by_name: HashMap<&str, &ImageRow> =
        images.iter().map(|i| (i.repo.name.as_str(), i)).collect();

    partition::write_partition(root, Stage::Join, &IMAGES, d, "join", |p| {
        pq::write_batch(p, &images_batch(&images)?)
    })?;
    partition::write_partition(root, Stage::Join, &FINDINGS_MART, d, "join", |p| {
        pq::write_batch(
            p,
            &findings_mart_batch(&kept, &by_name, scans_snapshot.unwrap_or(d))?,
        )
    })?;
    partition::write_partition(root, Stage::Join, &PULLS_MART, d, "join", |p| {
        pq::write_batch(
            p,
            &pq::batch(
                catalog::pulls_mart_schema(),
                vec![
                    pq::strings(pulls.iter().map(|x| Some(x.0.as_str()))),
                    pq::ints(pulls.iter().map(|x| x.1)),
                    pq::timestamps(pulls.iter().map(|x| Some(x.2))),
                    pq::strings(pulls.iter().map(|x| Some(x.3))),
                ],
            )?,
        )
    })?;
    partition::write_partition(root, Stage::Join, &REJECTS, d, "join", |p| {
        pq::write_batch(
            p,
            &pq::batch(
                catalog::rejects_schema(),
                vec![
                    pq::strings(rejects.iter().map(|r| Some(r.table))),
                    pq::strings(rejects.iter().map(|r| Some(r.name.as_str()))),
                    pq::strings(rejects.iter().map(|r| Some(r.reason.as_str()))),
                ],
            )?,
        )
    })?;
    Ok(Summary {
        snapshot: Some(d),
        images: images.len(),
        with_scan: images.iter().filter(|i| i.scan.is_some()).count(),
        scans_snapshot,
        previous,
        findings: kept.len(),
        pull_points: pulls.len(),
        rejects: rejects.len(),
    })
}

/// Joins the catalog with scans, the previous snapshot and deprecation dates. Pure.
#[allow(clippy::too_many_arguments)]
pub fn join_images(
    repos: &[RepoRow],
    prev: &HashMap<String, RepoRow>,
    previous: Option<NaiveDate>,
    scans: &[ScanRow],
    scans_snapshot: Option<NaiveDate>,
    since: &BTreeMap<String, NaiveDate>,
    carried: &Carried,
    snapshot: NaiveDate,
) -> (Vec<ImageRow>, Vec<Reject>) {
    let scan_by: HashMap<&str, &ScanRow> = scans.iter().map(|s| (s.name.as_str(), s)).collect();
    let names: BTreeSet<&str> = repos.iter().map(|r| r.name.as_str()).collect();
    let mut rejects: Vec<Reject> = scans
        .iter()
        .filter(|s| !names.contains(s.name.as_str()))
        .map(|s| Reject {
            table: "scans",
            name: s.name.clone(),
            reason: format!(
                "scanned on {} but not in the repositories snapshot of {snapshot}",
                scans_snapshot.map(|d| d.to_string()).unwrap_or_default()
            ),
        })
        .collect();
    let mut images = Vec::new();
    for r in repos {
        let scan = scan_by.get(r.name.as_str()).map(|s| (*s).clone());
        if scan.is_none() && scans_snapshot.is_some() {
            rejects.push(Reject {
                table: "repositories",
                name: r.name.clone(),
                reason: format!("no scan of this image in the scans of {}; it stays in the images mart without scan columns", scans_snapshot.map(|d| d.to_string()).unwrap_or_default()),
            });
        }
        let old = prev.get(&r.name);
        let (deprecated_since, how) = if !r.deprecated {
            (None, None)
        } else if let Some(d) = r.deprecated_since {
            (Some(d), Some(format!("{}-history", r.source)))
        } else if let Some(d) = since.get(&r.name) {
            (Some(*d), Some("docs-history".to_string()))
        } else if let Some((Some(d), how)) = carried.get(&r.name) {
            (Some(*d), how.clone())
        } else {
            (Some(snapshot), Some("first-seen-in-snapshot".to_string()))
        };
        let window = old.map(|o| {
            let history: BTreeMap<NaiveDate, Option<i64>> = [
                (
                    previous.expect("a previous row has a previous snapshot"),
                    o.pull_count,
                ),
                (snapshot, r.pull_count),
            ]
            .into();
            downloads::window(
                &history,
                previous.expect("previous"),
                snapshot,
                i64::MAX / 2,
            )
        });
        images.push(ImageRow {
            repo: r.clone(),
            last_updated_changed: old.map(|o| o.last_updated != r.last_updated),
            deprecated_since,
            deprecated_since_source: how,
            scans_snapshot: scan.as_ref().and(scans_snapshot),
            scan,
            previous_snapshot: old.and(previous),
            downloads_since_previous: window.as_ref().and_then(|w| w.downloads),
            downloads_flags: window.map(|w| w.flags_text()).or(Some("missing".into())),
        });
    }
    (images, rejects)
}

fn previous_deprecations(root: &std::path::Path, d: NaiveDate) -> Result<Carried> {
    let Some(p) = catalog::snapshot_before(root, &IMAGES, d)? else {
        return Ok(Carried::new());
    };
    let path = crate::io::partition::verified_file(root, &IMAGES, p)?;
    let batch = pq::read_batch(&path, &catalog::images_schema())?;
    let c = Columns::new(&batch, path.display().to_string());
    let (names, since, how) = (
        c.strings("name")?,
        c.dates("deprecated_since")?,
        c.strings("deprecated_since_source")?,
    );
    Ok((0..batch.num_rows())
        .filter_map(|i| Some((names[i].clone()?, (since[i], how[i].clone()))))
        .collect())
}

fn read_pull_counts(root: &std::path::Path, d: NaiveDate) -> Result<Vec<PullPoint>> {
    let path = crate::io::partition::verified_file(root, &PULL_COUNTS, d)?;
    let batch = pq::read_batch(&path, &catalog::pull_counts_schema())?;
    let c = Columns::new(&batch, path.display().to_string());
    let (n, p, t) = (
        c.strings("name")?,
        c.ints("pull_count")?,
        c.timestamps("captured_at")?,
    );
    Ok((0..batch.num_rows())
        .map(|i| {
            (
                n[i].clone().unwrap_or_default(),
                p[i],
                t[i].unwrap_or_default(),
            )
        })
        .collect())
}

fn images_batch(rows: &[ImageRow]) -> Result<arrow_array::RecordBatch> {
    let scan = |f: fn(&ScanRow) -> Option<&str>| {
        pq::strings(rows.iter().map(move |r| r.scan.as_ref().and_then(f)))
    };
    let count = |k: usize, fixable: bool| {
        pq::ints(rows.iter().map(move |r| {
            r.scan
                .as_ref()
                .and_then(|s| if fixable { s.fixable_counts } else { s.counts })
                .map(|c| c[k])
        }))
    };
    pq::batch(
        catalog::images_schema(),
        vec![
            pq::strings(rows.iter().map(|r| Some(r.repo.name.as_str()))),
            pq::strings(rows.iter().map(|r| Some(r.repo.namespace.as_str()))),
            pq::strings(rows.iter().map(|r| r.repo.description.as_deref())),
            pq::strings(rows.iter().map(|r| Some(r.repo.source.as_str()))),
            pq::ints(rows.iter().map(|r| r.repo.star_count)),
            pq::ints(rows.iter().map(|r| r.repo.pull_count)),
            pq::timestamps(rows.iter().map(|r| r.repo.last_updated)),
            pq::opt_bools(rows.iter().map(|r| r.last_updated_changed)),
            pq::timestamps(rows.iter().map(|r| r.repo.date_registered)),
            pq::bools(rows.iter().map(|r| r.repo.deprecated)),
            pq::dates(rows.iter().map(|r| r.deprecated_since)),
            pq::strings(rows.iter().map(|r| r.deprecated_since_source.as_deref())),
            pq::string_lists(rows.iter().map(|r| r.repo.deprecation_targets.as_slice())),
            pq::string_lists(
                rows.iter()
                    .map(|r| r.repo.deprecation_alternatives.as_slice()),
            ),
            pq::strings(rows.iter().map(|r| r.repo.deprecation_link.as_deref())),
            pq::dates(rows.iter().map(|r| r.scans_snapshot)),
            scan(|s| s.tag.as_deref()),
            scan(|s| s.digest.as_deref()),
            scan(|s| Some(s.status.as_str())),
            scan(|s| s.os_family.as_deref()),
            scan(|s| s.os_name.as_deref()),
            pq::dates(
                rows.iter()
                    .map(|r| r.scan.as_ref().and_then(|s| s.eol_date)),
            ),
            pq::opt_bools(
                rows.iter()
                    .map(|r| r.scan.as_ref().and_then(|s| s.eol_at_snapshot)),
            ),
            pq::opt_bools(
                rows.iter()
                    .map(|r| r.scan.as_ref().and_then(|s| s.trivy_eosl)),
            ),
            count(0, false),
            count(0, true),
            count(1, true),
            count(2, true),
            count(3, true),
            count(4, true),
            scan(|s| s.note.as_deref()),
            scan(|s| s.db_digest.as_deref()),
            pq::dates(rows.iter().map(|r| r.previous_snapshot)),
            pq::ints(rows.iter().map(|r| r.downloads_since_previous)),
            pq::strings(rows.iter().map(|r| r.downloads_flags.as_deref())),
        ],
    )
}

fn findings_mart_batch(
    rows: &[&FindingRow],
    images: &HashMap<&str, &ImageRow>,
    scans_snapshot: NaiveDate,
) -> Result<arrow_array::RecordBatch> {
    let img = |f: &FindingRow| images.get(f.name.as_str()).copied();
    let base = tables::findings_batch(
        &rows
            .iter()
            .map(|f| {
                (
                    ScanRow {
                        name: f.name.clone(),
                        tag: f.tag.clone(),
                        digest: f.digest.clone(),
                        ..ScanRow::default()
                    },
                    vec![f.finding.clone()],
                )
            })
            .collect::<Vec<_>>(),
    )?;
    let mut columns: Vec<arrow_array::ArrayRef> = base.columns().to_vec();
    columns.push(pq::bools(
        rows.iter()
            .map(|f| img(f).is_some_and(|i| i.repo.deprecated)),
    ));
    columns.push(pq::strings(rows.iter().map(|f| {
        img(f)
            .and_then(|i| i.scan.as_ref())
            .and_then(|s| s.os_family.as_deref())
    })));
    columns.push(pq::strings(rows.iter().map(|f| {
        img(f)
            .and_then(|i| i.scan.as_ref())
            .and_then(|s| s.os_name.as_deref())
    })));
    columns.push(pq::opt_bools(rows.iter().map(|f| {
        img(f)
            .and_then(|i| i.scan.as_ref())
            .and_then(|s| s.eol_at_snapshot)
    })));
    columns.push(pq::dates(rows.iter().map(|_| Some(scans_snapshot))));
    pq::batch(catalog::findings_mart_schema(), columns)
}
