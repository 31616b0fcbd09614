//! `report`: rebuilds the study's tables for a date, and more, as static files.
//!
//! Reads the marts: `3_marts/images` (the latest snapshot on or before `--date`, and every
//! earlier one for trends), `3_marts/pulls` (window downloads), and `datasets/reference/`
//! (the study's figures). Writes `4_report/DATE/`: `index.html` (self-contained: inline SVG
//! charts, no JavaScript, strict Content-Security-Policy, every value escaped), `report.md`
//! and one CSV per table: `summary.csv`, `deprecated.csv`, `deprecated_vs_study.csv`,
//! `vulnerable.csv`, `downloads.csv`, `eol.csv`, `stale.csv`, `study_comparison.csv`. Every
//! table says which snapshot it used. The folder is replaced atomically. Sample-world data
//! carries a banner on every page.

pub mod read;
pub mod render;
pub mod tables;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::catalog::{self, IMAGES};
use crate::downloads::Window;
use crate::error::{Error, Result};
use crate::io::partition;
use crate::reference::{self, Study};
use crate::svg;
pub use read::ImageView;
pub use render::{csv_field, escape_html, escape_md};
use render::{Page, Section};

/// Images followed by the trend chart (the top ones by fixable vulnerabilities).
const TREND_IMAGES: usize = 5;

/// What to report.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dataset root.
    pub datasets: PathBuf,
    /// Report date: tables use the latest snapshot on or before it.
    pub date: NaiveDate,
    /// Reference folder (study figures, deprecation dates).
    pub reference: Option<PathBuf>,
    /// Images with more fixable vulnerabilities than this go to `vulnerable.csv`.
    pub threshold: u32,
    /// Download window [A, B]; None = no window tables.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// Days a capture may be away from a window date before it is flagged `approximate`.
    pub tolerance_days: i64,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The report folder.
    pub dir: PathBuf,
    /// The images-mart snapshot used.
    pub snapshot: NaiveDate,
    /// The scans snapshot the mart joined (None: no scans).
    pub scans_snapshot: Option<NaiveDate>,
    /// Deprecated images.
    pub deprecated: usize,
    /// In both lists / only ours / only the study's.
    pub both: usize,
    pub only_ours: usize,
    pub only_study: usize,
    /// Images over the threshold.
    pub vulnerable: usize,
    /// Images with window downloads computed (flags or not).
    pub windowed: usize,
    /// The data came from the sample world.
    pub sample: bool,
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

/// Parses `A..B` (a download window).
pub fn parse_window(text: &str) -> Result<(NaiveDate, NaiveDate)> {
    let bad = || {
        Error::Input(format!("--window {text:?}: write it as YYYY-MM-DD..YYYY-MM-DD with the start first, e.g. 2021-07-29..2021-08-10"))
    };
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let (a, b) = (
        crate::dates::parse_date("--window", a)?,
        crate::dates::parse_date("--window", b)?,
    );
    if a >= b {
        return Err(bad());
    }
    Ok((a, b))
}

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let root = &opts.datasets;
    let snapshot = catalog::snapshot_on_or_before(root, &IMAGES, opts.date).map_err(|e| match e {
        Error::Input(m) => Error::Input(format!("{m}; the report reads the marts: run `hubaudit join --snapshot DATE` after extract-hub and scan")),
        other => other,
    })?;
    let study = reference::load_study(opts.reference.as_deref())?;
    let since = reference::load_deprecations(opts.reference.as_deref())?;
    let images = read::images(root, snapshot)?;
    let top: Vec<&str> = tables::vulnerable_images(&images, 0)
        .iter()
        .take(TREND_IMAGES)
        .map(|i| i.name.as_str())
        .collect();
    let history = read::history(root, snapshot, &top)?;
    let windows: BTreeMap<String, Window> = match opts.window {
        Some(w) => read::windows(root, w, opts.tolerance_days, opts.date)?,
        None => BTreeMap::new(),
    };
    let names: BTreeSet<String> = images.iter().map(|i| i.name.clone()).collect();
    let comparison = compare(&images, &names, &since, &study, snapshot);
    let sample = images.iter().any(|i| i.source == "sample");
    let scans_snapshot = images.iter().filter_map(|i| i.scans_snapshot).max();
    let used: Vec<NaiveDate> = history.dates.clone();
    let travel = read::timetravel(root, opts.date)?;

    let page = build_page(
        opts,
        snapshot,
        scans_snapshot,
        &images,
        &history,
        &windows,
        &comparison,
        &study,
        sample,
        &used,
        travel.as_deref(),
    );
    let files: Vec<(&str, tables::Table)> = vec![
        (
            "summary.csv",
            tables::summary(
                opts.date,
                snapshot,
                &images,
                opts.threshold,
                opts.window,
                &windows,
                &used,
            ),
        ),
        (
            "deprecated.csv",
            tables::deprecated(&images, &windows, &study),
        ),
        (
            "deprecated_vs_study.csv",
            tables::comparison_table(&comparison),
        ),
        (
            "vulnerable.csv",
            tables::vulnerable(&images, opts.threshold, &study),
        ),
        (
            "downloads.csv",
            tables::downloads(&images, &windows, opts.threshold),
        ),
        ("eol.csv", tables::eol(&images)),
        ("stale.csv", tables::stale(&images, &history.changed_in)),
        (
            "study_comparison.csv",
            tables::study_comparison(&images, &comparison, &study, opts.threshold),
        ),
        (
            "timetravel.csv",
            tables::timetravel(travel.as_deref().unwrap_or_default(), &study),
        ),
    ];
    let dir = catalog::report_dir(root, opts.date);
    let tmp = partition::scratch(root, "report", opts.date);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = (|| {
        for (file, table) in &files {
            write_csv(&tmp.join(file), table)?;
        }
        write_text(&tmp.join("report.md"), &page.markdown())?;
        write_text(&tmp.join("index.html"), &page.html())?;
        partition::fsync_dir(&tmp)?;
        std::fs::create_dir_all(dir.parent().expect("report dir has a parent"))
            .map_err(|e| Error::io(&dir, e))?;
        partition::publish(&tmp, &dir)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    written?;
    let count = |p: &str| comparison.iter().filter(|c| c.presence == p).count();
    Ok(Summary {
        dir,
        snapshot,
        scans_snapshot,
        deprecated: images.iter().filter(|i| i.deprecated).count(),
        both: count("both"),
        only_ours: count("only_ours"),
        only_study: count("only_study"),
        vulnerable: tables::vulnerable_images(&images, opts.threshold).len(),
        windowed: windows.len(),
        sample,
    })
}

#[allow(clippy::too_many_arguments)]
fn build_page(
    opts: &Options,
    snapshot: NaiveDate,
    scans_snapshot: Option<NaiveDate>,
    images: &[ImageView],
    history: &read::History,
    windows: &BTreeMap<String, Window>,
    comparison: &[ComparisonRow],
    study: &Study,
    sample: bool,
    used: &[NaiveDate],
    travel: Option<&[read::TimeTravelView]>,
) -> Page {
    let t = opts.threshold;
    let scans_note = match scans_snapshot {
        Some(d) => {
            format!("Scans of {d} (the latest on or before the images snapshot {snapshot}).")
        }
        None => "No scan snapshot on or before this date: run `hubaudit scan`.".into(),
    };
    let window_note = match opts.window {
        Some((a, b)) => format!("Window {a}..{b}: pull_count at the latest capture on or before {b} minus the one on or before {a} (tolerance {} days; flags: missing, capped, reset, approximate).", opts.tolerance_days),
        None => "No --window given: no window downloads.".into(),
    };
    let count = |p: &str| comparison.iter().filter(|c| c.presence == p).count();
    let intro = vec![
        format!("Report date {}; images snapshot used: {snapshot}; {} images listed (the study listed {}).", opts.date, images.len(), study.study.images_listed),
        format!("Deprecated: {} in our snapshot; {} in both lists, {} only in ours, {} only in the study's.", images.iter().filter(|i| i.deprecated).count(), count("both"), count("only_ours"), count("only_study")),
        scans_note.clone(),
        window_note.clone(),
        format!("Compared with: {} (published {}).", study.study.title, study.study.published),
    ];
    // charts
    let top = tables::vulnerable_images(images, 0);
    let bars: Vec<svg::Bar> = top
        .iter()
        .take(10)
        .map(|i| svg::Bar {
            label: i.name.clone(),
            value: i.fixable.unwrap_or(0) as f64,
            note: study
                .vulnerable
                .iter()
                .find(|v| v.name == i.name)
                .map(|v| format!("study: {}", v.fixable)),
        })
        .collect();
    let by_name: HashMap<&str, &ImageView> = images.iter().map(|i| (i.name.as_str(), i)).collect();
    let mut moved: Vec<(&String, &Window)> = windows
        .iter()
        .filter(|(n, _)| {
            by_name
                .get(n.as_str())
                .is_some_and(|i| i.deprecated || tables::over(i, t))
        })
        .collect();
    moved.sort_by(|a, b| b.1.downloads.cmp(&a.1.downloads).then_with(|| a.0.cmp(b.0)));
    let download_bars: Vec<svg::Bar> = moved
        .iter()
        .take(10)
        .map(|(n, w)| svg::Bar {
            label: (*n).clone(),
            value: w.downloads.unwrap_or(0) as f64,
            note: (!w.flags.is_empty()).then(|| w.flags_text()),
        })
        .collect();
    let x: Vec<String> = used.iter().map(|d| d.to_string()).collect();
    let series: Vec<svg::Series> = top
        .iter()
        .take(TREND_IMAGES)
        .map(|i| svg::Series {
            name: i.name.clone(),
            values: used
                .iter()
                .map(|d| {
                    history
                        .fixable
                        .get(&i.name)
                        .and_then(|by_date| by_date.get(d).copied().flatten())
                        .map(|v| v as f64)
                })
                .collect(),
        })
        .collect();
    let charts = vec![
        svg::bar_chart(
            "chart-fixable",
            &format!(
                "Top images by fixable vulnerabilities (scans of {})",
                scans_snapshot
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into())
            ),
            &bars,
            "fixable vulnerabilities",
        ),
        svg::bar_chart(
            "chart-downloads",
            &match opts.window {
                Some((a, b)) => format!("Downloads {a}..{b} of deprecated or vulnerable images"),
                None => "Downloads (no window given)".into(),
            },
            &download_bars,
            "downloads",
        ),
        svg::line_chart(
            "chart-trend",
            "Fixable vulnerabilities over time, top 5 images",
            &x,
            &series,
            "fixable",
        ),
    ];
    // the heading names the CSV holding every row
    let section =
        |id: &'static str, csv: &'static str, title: String, note: String, table: tables::Table| {
            Section {
                id,
                csv,
                title: format!("{title} — {csv}"),
                note,
                table,
            }
        };
    Page {
        date: opts.date,
        sample,
        intro,
        charts,
        sections: vec![
            section("summary", "summary.csv", "Summary".into(), format!("Images snapshot {snapshot}; trends over {}.", x.join(", ")), tables::summary(opts.date, snapshot, images, t, opts.window, windows, used)),
            section("deprecated", "deprecated.csv", "Deprecated images".into(), format!("Images snapshot {snapshot}. {window_note}"), tables::deprecated(images, windows, study)),
            section("comparison", "deprecated_vs_study.csv", format!("Deprecated images against the study's appendix ({} listed there)", study.deprecated.len()), format!("Images snapshot {snapshot}."), tables::comparison_table(comparison)),
            section("vulnerable", "vulnerable.csv", format!("Images with more than {t} fixable vulnerabilities"), format!("{scans_note} critical…low count fixable findings; total counts all findings."), tables::vulnerable(images, t, study)),
            section("downloads", "downloads.csv", "Downloads of deprecated or vulnerable images".into(), window_note.clone(), tables::downloads(images, windows, t)),
            section("eol", "eol.csv", "Images on an end-of-life OS at the report date".into(), format!("{scans_note} End of life from reference/eol.csv evaluated at the snapshot date; Trivy's EOSL uses today's clock."), tables::eol(images)),
            section("stale", "stale.csv", "Deprecated but still moving: last_updated changed between snapshots".into(), format!("Consecutive snapshots {}.", x.join(", ")), tables::stale(images, &history.changed_in)),
            section("timetravel", "timetravel.csv", format!("Time travel: fixable vulnerabilities on {} recomputed from public history, beside the study's", opts.date), timetravel_note(opts.date, travel), tables::timetravel(travel.unwrap_or_default(), study)),
            section("study-comparison", "study_comparison.csv", "Side by side with the published study".into(), format!("Images snapshot {snapshot}; {scans_note}"), tables::study_comparison(images, comparison, study, t)),
        ],
    }
}

/// The note of the time-travel section: what it is, and what it does not cover.
fn timetravel_note(date: NaiveDate, travel: Option<&[read::TimeTravelView]>) -> String {
    let Some(rows) = travel else {
        return format!("No time-travel run for {date}: run `hubaudit timetravel --date {date} --repo-info CLONE --security-tracker CLONE` (`run` and `sample run` use the embedded 2021-08-24 fact tables).");
    };
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    let db = rows
        .iter()
        .find_map(|r| r.db_digest.clone())
        .unwrap_or_default();
    format!(
        "REAL PUBLIC DATA, not the sample world: each image's package list from docker-library/repo-info as of {date} scanned by the real Trivy against a DB of the Debian security tracker's advisories known on {date} ({db}). {} images scanned, {} without a package list (not shown), {} of a family without an advisory source here, {} failed. Fixable = findings with a fixed version released by {date}; reasons give each inventory's date and bias.",
        count("ok"),
        count("no_inventory"),
        count("no_source"),
        count("failed")
    )
}

/// Our deprecated list against the study's, each row with a verdict and its reason.
pub fn compare(
    ours: &[ImageView],
    names: &BTreeSet<String>,
    since: &BTreeMap<String, NaiveDate>,
    study: &Study,
    snapshot: NaiveDate,
) -> Vec<ComparisonRow> {
    let mut rows = Vec::new();
    let ours: Vec<&ImageView> = ours.iter().filter(|i| i.deprecated).collect();
    let by_name: BTreeMap<&str, &ImageView> = ours.iter().map(|d| (d.name.as_str(), *d)).collect();
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

/// Writes a table as CSV, every field through [`render::csv_field`] (no spreadsheet formula
/// from the data) and otherwise whole (no shortening: the CSV is where long values live).
fn write_csv(path: &Path, (header, rows): &tables::Table) -> Result<()> {
    let ctx = || path.display().to_string();
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::data(ctx(), e))?;
    w.write_record(header).map_err(|e| Error::data(ctx(), e))?;
    for r in rows {
        let fields = r.iter().map(|f| render::csv_field(f).into_owned());
        w.write_record(fields).map_err(|e| Error::data(ctx(), e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))?;
    partition::fsync_file(path)
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    partition::fsync_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_travel_rows_put_the_study_images_first_and_say_how_they_differ() {
        let study = crate::reference::load_study(None).unwrap();
        let row = |name: &str, status: &str, fixable: Option<i64>, how: Option<&str>| {
            read::TimeTravelView {
                name: name.into(),
                status: status.into(),
                fixable,
                inventory: how.map(String::from),
                ..Default::default()
            }
        };
        let rows = vec![
            row("zzz", "ok", Some(3), Some("exact")),
            row("nobody", "no_inventory", None, None),
            row("backdrop", "ok", Some(107), Some("sibling")),
            row("centos", "no_source", None, Some("sibling")),
            row("nuxeo", "ok", Some(200), Some("sibling")),
        ];
        let (head, body) = tables::timetravel(&rows, &study);
        let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
        let names: Vec<&str> = body.iter().map(|r| r[0].as_str()).collect();
        // study order (nuxeo 186, backdrop 173, centos 86), then the others with a list;
        // an image without a list is left to the note
        assert_eq!(names, ["nuxeo", "backdrop", "centos", "zzz"]);
        assert_eq!(body[0][col("difference")], "14 more than the study");
        assert_eq!(body[1][col("difference")], "66 fewer than the study");
        assert_eq!(body[2][col("difference")], "no count here");
        assert_eq!(body[3][col("difference")], "not in the study's table");
        let note = timetravel_note(NaiveDate::from_ymd_opt(2021, 8, 24).unwrap(), Some(&rows));
        assert!(note.starts_with("REAL PUBLIC DATA"), "{note}");
        assert!(
            note.contains("3 images scanned, 1 without a package list"),
            "{note}"
        );
        assert!(
            timetravel_note(NaiveDate::from_ymd_opt(2021, 8, 25).unwrap(), None)
                .contains("No time-travel run")
        );
    }

    #[test]
    fn escapes_untrusted_text() {
        assert_eq!(
            escape_html("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(escape_md("a|b\nc<d"), "a\\|b c&lt;d");
    }

    #[test]
    fn csv_files_neutralise_formulas_and_keep_their_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let values = [
            "=cmd|' /C calc'!A0",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "a,b\n\"c\"",
            "-7",
            "\u{0}\u{202e}",
        ];
        let rows = values
            .iter()
            .map(|v| vec![v.to_string(), "x".into()])
            .collect();
        write_csv(&path, &(vec!["value", "other"], rows)).unwrap();
        let mut r = csv::ReaderBuilder::new().from_path(&path).unwrap();
        let back: Vec<Vec<String>> = r
            .records()
            .map(|x| x.unwrap().iter().map(String::from).collect())
            .collect();
        assert_eq!(back.len(), values.len());
        for (row, v) in back.iter().zip(values) {
            assert_eq!(row.len(), 2, "{row:?}");
            let expected = if v.starts_with(['=', '+', '@', '\t', '\r']) || v == "-2+3" {
                format!("'{v}")
            } else {
                v.to_string()
            };
            assert_eq!(row[0], expected);
        }
    }

    #[test]
    fn windows_parse_and_bad_ones_explain() {
        let (a, b) = parse_window("2021-07-29..2021-08-10").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2021-07-29".into(), "2021-08-10".into())
        );
        for bad in ["2021-08-10..2021-07-29", "2021-07-29", "x..y"] {
            assert!(
                parse_window(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("--window"),
                "{bad}"
            );
        }
    }
}
