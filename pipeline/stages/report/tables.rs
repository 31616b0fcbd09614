//! The report's tables as pure functions of mart rows. A table is a header and string rows;
//! the same table becomes a CSV file, a Markdown table and an HTML table.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, SecondsFormat};

use super::read::ImageView;
use super::ComparisonRow;
use crate::downloads::Window;
use crate::reference::Study;

/// Header and rows.
pub type Table = (Vec<&'static str>, Vec<Vec<String>>);

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The image scanned fine and has more fixable vulnerabilities than `threshold`.
pub fn over(i: &ImageView, threshold: u32) -> bool {
    i.scan_status.as_deref() == Some("ok") && i.fixable.unwrap_or(0) > threshold as i64
}

/// Table 1: what the report covers.
#[allow(clippy::too_many_arguments)]
pub fn summary(
    date: NaiveDate,
    images_snapshot: NaiveDate,
    images: &[ImageView],
    threshold: u32,
    window: Option<(NaiveDate, NaiveDate)>,
    windows: &BTreeMap<String, Window>,
    snapshots_used: &[NaiveDate],
) -> Table {
    let count = |f: &dyn Fn(&ImageView) -> bool| images.iter().filter(|i| f(i)).count().to_string();
    let scans: Vec<String> = {
        let mut v: Vec<String> = images
            .iter()
            .filter_map(|i| i.scans_snapshot.map(|d| d.to_string()))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let sources: Vec<String> = {
        let mut v: Vec<String> = images.iter().map(|i| i.source.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let mut rows = vec![
        vec!["report date".into(), date.to_string()],
        vec!["images snapshot used".into(), images_snapshot.to_string()],
        vec![
            "scans snapshot used".into(),
            if scans.is_empty() {
                "none".into()
            } else {
                scans.join(", ")
            },
        ],
        vec!["data source".into(), sources.join(", ")],
        vec![
            "Trivy DB of the scans (sha256 of trivy.db, kept in 1_raw/trivy-db)".into(),
            {
                let mut v: Vec<&str> = images
                    .iter()
                    .filter_map(|i| i.db_digest.as_deref())
                    .collect();
                v.sort();
                v.dedup();
                if v.is_empty() {
                    "none".into()
                } else {
                    v.join(", ")
                }
            },
        ],
        vec!["images listed".into(), images.len().to_string()],
        vec![
            "images scanned".into(),
            count(&|i| i.scan_status.as_deref() == Some("ok")),
        ],
        vec![
            "scans failed or timed out".into(),
            count(&|i| matches!(i.scan_status.as_deref(), Some("failed" | "timeout"))),
        ],
        vec![
            "images without a scan".into(),
            count(&|i| i.scan_status.is_none()),
        ],
        vec!["deprecated".into(), count(&|i| i.deprecated)],
        vec![
            "on an end-of-life OS at the report date".into(),
            count(&|i| i.eol_at_snapshot == Some(true)),
        ],
        vec![
            format!("over {threshold} fixable vulnerabilities"),
            count(&|i| over(i, threshold)),
        ],
        vec![
            "snapshot dates used for trends".into(),
            snapshots_used
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ],
    ];
    if let Some((a, b)) = window {
        let flagged = windows.values().filter(|w| !w.flags.is_empty()).count();
        rows.push(vec![
            "download window".into(),
            format!("{a}..{b} ({flagged} image(s) flagged)"),
        ]);
    }
    (vec!["metric", "value"], rows)
}

/// Table 2: deprecated images with targets and window downloads.
pub fn deprecated(
    images: &[ImageView],
    windows: &BTreeMap<String, Window>,
    study: &Study,
) -> Table {
    let in_study = |n: &str| study.deprecated.iter().any(|d| d.name == n);
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
            "window_downloads",
            "window_flags",
            "in_study",
            "source",
        ],
        images
            .iter()
            .filter(|i| i.deprecated)
            .map(|i| {
                let w = windows.get(&i.name);
                vec![
                    i.name.clone(),
                    opt(i.deprecated_since),
                    i.deprecated_since_source.clone().unwrap_or_default(),
                    i.targets.join(";"),
                    i.alternatives.join(";"),
                    i.link.clone().unwrap_or_default(),
                    opt(i
                        .last_updated
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))),
                    opt(i.pull_count),
                    opt(w.and_then(|w| w.downloads)),
                    w.map(|w| w.flags_text()).unwrap_or_default(),
                    in_study(&i.name).to_string(),
                    i.source.clone(),
                ]
            })
            .collect(),
    )
}

/// Images over the threshold, most fixable first.
pub fn vulnerable_images(images: &[ImageView], threshold: u32) -> Vec<&ImageView> {
    let mut v: Vec<&ImageView> = images.iter().filter(|i| over(i, threshold)).collect();
    v.sort_by(|a, b| b.fixable.cmp(&a.fixable).then_with(|| a.name.cmp(&b.name)));
    v
}

/// Table 3: images over the threshold with fixable counts by severity.
pub fn vulnerable(images: &[ImageView], threshold: u32, study: &Study) -> Table {
    let yes = |b: Option<bool>| opt(b);
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
        vulnerable_images(images, threshold)
            .into_iter()
            .map(|i| {
                let [c, h, m, l] = i.fixable_by_severity;
                vec![
                    i.name.clone(),
                    i.tag.clone().unwrap_or_default(),
                    opt(i.fixable),
                    opt(i.total),
                    opt(c),
                    opt(h),
                    opt(m),
                    opt(l),
                    i.os.clone(),
                    yes(i.eol_at_snapshot),
                    yes(i.trivy_eosl),
                    opt(study
                        .vulnerable
                        .iter()
                        .find(|v| v.name == i.name)
                        .map(|v| v.fixable)),
                    i.scan_note.clone().unwrap_or_default(),
                    i.source.clone(),
                ]
            })
            .collect(),
    )
}

/// Table 4: downloads in the window of deprecated or vulnerable images, with flags.
pub fn downloads(
    images: &[ImageView],
    windows: &BTreeMap<String, Window>,
    threshold: u32,
) -> Table {
    let mut rows: Vec<(&ImageView, &Window)> = images
        .iter()
        .filter(|i| i.deprecated || over(i, threshold))
        .filter_map(|i| windows.get(&i.name).map(|w| (i, w)))
        .collect();
    rows.sort_by(|a, b| {
        b.1.downloads
            .cmp(&a.1.downloads)
            .then_with(|| a.0.name.cmp(&b.0.name))
    });
    (
        vec![
            "name",
            "deprecated",
            "fixable",
            "start_capture",
            "end_capture",
            "start_pulls",
            "end_pulls",
            "downloads",
            "flags",
        ],
        rows.into_iter()
            .map(|(i, w)| {
                vec![
                    i.name.clone(),
                    i.deprecated.to_string(),
                    opt(i.fixable),
                    opt(w.start_capture),
                    opt(w.end_capture),
                    opt(w.start_pulls),
                    opt(w.end_pulls),
                    opt(w.downloads),
                    w.flags_text(),
                ]
            })
            .collect(),
    )
}

/// Table 5: images on an end-of-life OS at the report date.
pub fn eol(images: &[ImageView]) -> Table {
    (
        vec![
            "name",
            "tag",
            "os",
            "eol_date",
            "trivy_eosl_today",
            "deprecated",
            "fixable",
        ],
        images
            .iter()
            .filter(|i| i.eol_at_snapshot == Some(true))
            .map(|i| {
                vec![
                    i.name.clone(),
                    i.tag.clone().unwrap_or_default(),
                    i.os.clone(),
                    opt(i.eol_date),
                    opt(i.trivy_eosl),
                    i.deprecated.to_string(),
                    opt(i.fixable),
                ]
            })
            .collect(),
    )
}

/// Table 6: "stale but moving": images deprecated at the report date whose `last_updated`
/// changed between consecutive snapshots.
pub fn stale(now: &[ImageView], changed_in: &HashMap<String, Vec<NaiveDate>>) -> Table {
    let mut rows = Vec::new();
    for i in now.iter().filter(|i| i.deprecated) {
        let Some(changed) = changed_in.get(&i.name).filter(|c| !c.is_empty()) else {
            continue;
        };
        rows.push(vec![
            i.name.clone(),
            opt(i.deprecated_since),
            changed.len().to_string(),
            changed
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(";"),
            opt(i
                .last_updated
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))),
        ]);
    }
    (
        vec![
            "name",
            "deprecated_since",
            "snapshots_with_change",
            "changed_in",
            "last_updated",
        ],
        rows,
    )
}

/// Table 7: the published study's figures against ours, each `match` or `differs` with why.
pub fn study_comparison(
    images: &[ImageView],
    comparison: &[ComparisonRow],
    study: &Study,
    threshold: u32,
) -> Table {
    let sample = images.iter().any(|i| i.source == "sample");
    let synthetic = if sample {
        "; our figure is sample data (synthetic world)"
    } else {
        ""
    };
    let mut rows = Vec::new();
    let mut push = |metric: String, theirs: String, ours: String, reason: String| {
        let verdict = if theirs == ours { "match" } else { "differs" };
        let reason = if verdict == "match" {
            String::new()
        } else {
            reason
        };
        rows.push(vec![metric, theirs, ours, verdict.to_string(), reason]);
    };
    push(
        "images listed".into(),
        study.study.images_listed.to_string(),
        images.len().to_string(),
        format!("counted from the repository list of our snapshot{synthetic}"),
    );
    let ours_deprecated = images.iter().filter(|i| i.deprecated).count();
    push(
        "deprecated images".into(),
        study.deprecated.len().to_string(),
        ours_deprecated.to_string(),
        "our count includes every image whose README carries a deprecation notice; see deprecated_vs_study.csv for each image".into(),
    );
    for c in comparison.iter().filter(|c| c.presence != "only_ours") {
        push(
            format!("deprecation target: {}", c.name),
            c.study_targets.clone(),
            c.our_targets.clone(),
            c.reason.clone(),
        );
    }
    for v in &study.vulnerable {
        let ours = images.iter().find(|i| i.name == v.name);
        let reason = match ours.and_then(|i| i.scan_status.as_deref()) {
            None => "image not scanned in our snapshot".to_string(),
            Some("ok") if sample => {
                "sample data: synthetic advisories (SAMPLE-2021-NNNN), not the 2021 trivy-db".into()
            }
            Some("ok") => {
                "a different vulnerability DB date and Trivy version than the study's".into()
            }
            Some(other) => format!("our scan status is {other}"),
        };
        push(
            format!("fixable vulnerabilities: {}:{}", v.name, v.tag),
            v.fixable.to_string(),
            opt(ours.and_then(|i| i.fixable)),
            reason,
        );
    }
    let over_study = study
        .vulnerable
        .iter()
        .filter(|v| v.fixable > threshold as i64)
        .count();
    push(
        format!("images over {threshold} fixable"),
        over_study.to_string(),
        vulnerable_images(images, threshold).len().to_string(),
        format!("counted from our scans{synthetic}"),
    );
    (vec!["metric", "study", "ours", "verdict", "reason"], rows)
}

/// `deprecated_vs_study.csv`.
pub fn comparison_table(rows: &[ComparisonRow]) -> Table {
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

/// Why a time-travel count differs from the study's: the row's own caveats, and the sign of
/// the difference.
pub fn timetravel_difference(ours: Option<i64>, study: Option<i64>) -> String {
    match (ours, study) {
        (Some(o), Some(s)) if o == s => "equal".into(),
        (Some(o), Some(s)) if o < s => format!("{} fewer than the study", s - o),
        (Some(o), Some(s)) => format!("{} more than the study", o - s),
        (None, Some(_)) => "no count here".into(),
        (Some(_), None) => "not in the study's table".into(),
        (None, None) => String::new(),
    }
}

/// Time travel: the date's counts recomputed from public history, beside the study's. Rows:
/// the study's images first, then every other image with a package list; images with no list
/// are counted in the section's note.
pub fn timetravel(rows: &[super::read::TimeTravelView], study: &Study) -> Table {
    let study_of = |n: &str| {
        study
            .vulnerable
            .iter()
            .find(|v| v.name == n)
            .map(|v| v.fixable)
    };
    let mut shown: Vec<&super::read::TimeTravelView> = rows
        .iter()
        .filter(|r| study_of(&r.name).is_some() || r.inventory.is_some())
        .collect();
    shown.sort_by_key(|r| {
        (
            study_of(&r.name).map(|f| -f).unwrap_or(i64::MAX),
            r.name.clone(),
        )
    });
    (
        vec![
            "name",
            "tag",
            "status",
            "fixable",
            "total",
            "study_fixable",
            "difference",
            "inventory",
            "inventory_file",
            "inventory_built",
            "inventory_commit",
            "os",
            "advisories",
            "reasons",
            "source",
        ],
        shown
            .into_iter()
            .map(|r| {
                let study = study_of(&r.name);
                vec![
                    r.name.clone(),
                    r.tag.clone().unwrap_or_default(),
                    r.status.clone(),
                    opt(r.fixable),
                    opt(r.total),
                    opt(study),
                    timetravel_difference(r.fixable, study),
                    r.inventory.clone().unwrap_or_default(),
                    r.inventory_file.clone().unwrap_or_default(),
                    r.inventory_created
                        .map(|t| t.date_naive().to_string())
                        .unwrap_or_default(),
                    r.inventory_commit
                        .clone()
                        .or_else(|| r.inventory_sha256.clone())
                        .unwrap_or_default(),
                    r.os.clone().unwrap_or_default(),
                    r.advisories.clone().unwrap_or_default(),
                    r.reason.clone().unwrap_or_default(),
                    "timetravel (real public data)".into(),
                ]
            })
            .collect(),
    )
}
