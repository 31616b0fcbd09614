//! The report: the study's deprecated list reproduced from snapshots, compared, escaped.

use hubaudit::sample::replay::Knobs;
use hubaudit::stages::{extract_hub, join, report};

use crate::util::{csv_rows, date, report_options, Workdir};

fn options(w: &Workdir, d: &str) -> report::Options {
    report_options(w, d)
}

/// extract-hub then join for each date (no scans).
fn catalog_and_marts(w: &Workdir, dates: &[&str]) {
    let hub = w.replay(Knobs::default());
    for d in dates {
        extract_hub::run(&w.extract_options(&hub.url_for(date(d)), d)).unwrap();
        join::run(&join::Options {
            datasets: w.datasets(),
            snapshot: date(d),
            reference: None,
        })
        .unwrap();
    }
}

/// The study's 14 images and the targets their notices give (FACTS.md), except sentry whose
/// 2021 notice recommends the self-hosting docs rather than getsentry/docker-sentry.
const STUDY: &[(&str, &str)] = &[
    ("java", "openjdk"),
    ("django", "python"),
    ("iojs", "node"),
    ("opensuse", "opensuse/leap;opensuse/tumbleweed"),
    ("ubuntu-debootstrap", "ubuntu"),
    ("rails", "ruby"),
    ("celery", "python"),
    ("glassfish", "glassfish/server"),
    ("hipache", ""),
    ("owncloud", "owncloud/server"),
    ("piwik", "matomo"),
    ("known", ""),
    ("sentry", ""),
    ("jenkins", "jenkins/jenkins:lts"),
];

#[test]
fn deprecated_csv_lists_the_study_images_with_their_targets_and_the_differences() {
    let w = Workdir::new();
    catalog_and_marts(&w, &["2021-07-29", "2021-08-10", "2021-08-24"]);
    let s = report::run(&options(&w, "2021-08-24")).unwrap();
    assert!(s.sample);
    let rows = csv_rows(&s.dir.join("deprecated.csv"));
    for (name, targets) in STUDY {
        let row = rows
            .iter()
            .find(|r| r["name"] == *name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(row["targets"], *targets, "{name}");
        assert_eq!(row["in_study"], "true", "{name}");
        assert_eq!(row["source"], "sample");
    }
    let hipache = rows.iter().find(|r| r["name"] == "hipache").unwrap();
    assert_eq!(
        hipache["alternatives"],
        "mailgun/vulcand;traefik;nginx;haproxy;httpd"
    );
    let java = rows.iter().find(|r| r["name"] == "java").unwrap();
    assert_eq!(java["deprecated_since"], "2016-08-11");
    assert_eq!(java["deprecated_since_source"], "docs-history");
    // deprecated after the study's list: present with in_study=false
    let adopt = rows.iter().find(|r| r["name"] == "adoptopenjdk").unwrap();
    assert_eq!(adopt["in_study"], "false");
    assert_eq!(rows.len(), 23);

    let cmp = csv_rows(&s.dir.join("deprecated_vs_study.csv"));
    let sentry = cmp.iter().find(|r| r["name"] == "sentry").unwrap();
    assert_eq!(sentry["presence"], "both");
    assert_eq!(sentry["verdict"], "differs");
    assert!(
        sentry["reason"].contains("self-hosted"),
        "{:?}",
        sentry["reason"]
    );
    assert_eq!(cmp.iter().filter(|r| r["presence"] == "both").count(), 14);
    assert_eq!(
        cmp.iter()
            .filter(|r| r["presence"] == "both" && r["verdict"] == "match")
            .count(),
        13
    );
    let fsharp = cmp.iter().find(|r| r["name"] == "fsharp").unwrap();
    assert_eq!(fsharp["presence"], "only_ours");
    assert!(fsharp["reason"].contains("2021-07-30"));

    let html = std::fs::read_to_string(s.dir.join("index.html")).unwrap();
    assert!(html.contains("id=\"sample-banner\""));
    assert!(html.contains("Content-Security-Policy"));
    assert!(!html.contains("<script"));
    assert!(html.contains("<td>jenkins/jenkins:lts</td>"));
    // list separators get a space on screen without breaking escaped entities
    assert!(
        html.contains("study&#39;s appendix"),
        "an apostrophe entity was broken"
    );
    assert!(!html.contains("&#39; s"));
    let md = std::fs::read_to_string(s.dir.join("report.md")).unwrap();
    assert!(md.contains("SAMPLE DATA"));
}

#[test]
fn an_earlier_date_uses_the_snapshot_on_or_before_it() {
    let w = Workdir::new();
    catalog_and_marts(&w, &["2021-07-29", "2021-08-10"]);
    let s = report::run(&options(&w, "2021-08-09")).unwrap();
    assert_eq!(s.snapshot, date("2021-07-29"));
    let rows = csv_rows(&s.dir.join("deprecated.csv"));
    // fsharp was deprecated on 2021-07-30: not yet in the 2021-07-29 snapshot
    assert!(!rows.iter().any(|r| r["name"] == "fsharp"));
    assert_eq!(rows.len(), 21);
}

#[test]
fn no_snapshot_on_or_before_the_date_lists_the_available_dates() {
    let w = Workdir::new();
    catalog_and_marts(&w, &["2021-08-10"]);
    let err = report::run(&options(&w, "2020-01-01")).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains("available dates: 2021-08-10"),
        "{err}"
    );
}

#[test]
fn untrusted_text_is_escaped_in_html() {
    assert_eq!(
        report::escape_html("<img src=x onerror=alert(1)>"),
        "&lt;img src=x onerror=alert(1)&gt;"
    );
}
