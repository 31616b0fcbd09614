//! pull-counts, join (marts and rejects) and the report's window tables on the sample world.

use hubaudit::catalog::{self, IMAGES, REJECTS};
use hubaudit::io::parquet::{read_batch, Columns};
use hubaudit::sample::replay::Knobs;
use hubaudit::stages::{extract_hub, join, pull_counts, report};

use crate::util::{csv_rows, date, report_options, Workdir};

fn join_opts(w: &Workdir, d: &str) -> join::Options {
    join::Options {
        datasets: w.datasets(),
        snapshot: date(d),
        reference: None,
    }
}

fn pulls_opts(w: &Workdir, url: &str, d: &str) -> pull_counts::Options {
    let e = w.extract_options(url, d);
    pull_counts::Options {
        datasets: e.datasets,
        snapshot: e.snapshot,
        hub: e.hub,
        token: None,
    }
}

#[test]
fn pull_counts_is_one_list_crawl_and_rows_that_do_not_join_are_rejects_with_a_reason() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    // the catalog of 2021-07-29 (167 names) with pull counts read on 2021-08-24 (168 names)
    extract_hub::run(&w.extract_options(&hub.url_for(date("2021-07-29")), "2021-07-29")).unwrap();
    let before = hub.requests().len();
    let s = pull_counts::run(&pulls_opts(
        &w,
        &hub.url_for(date("2021-08-24")),
        "2021-07-29",
    ))
    .unwrap();
    assert_eq!(
        (s.repositories, s.requests, s.source.as_str()),
        (168, 2, "sample")
    );
    assert_eq!(
        hub.requests().len() - before,
        2,
        "list pages only, no detail or tag requests"
    );
    let j = join::run(&join_opts(&w, "2021-07-29")).unwrap();
    assert_eq!(j.images, 167);
    let path = catalog::partition_file(&w.datasets(), &REJECTS, date("2021-07-29"));
    let batch = read_batch(&path, &catalog::rejects_schema()).unwrap();
    let c = Columns::new(&batch, "rejects");
    let (t, n, r) = (
        c.strings("table").unwrap(),
        c.strings("name").unwrap(),
        c.strings("reason").unwrap(),
    );
    let i = (0..batch.num_rows())
        .find(|i| n[*i].as_deref() == Some("eclipse-temurin"))
        .expect("eclipse-temurin rejected");
    assert_eq!(t[i].as_deref(), Some("pull_counts"));
    assert!(r[i]
        .as_deref()
        .unwrap()
        .contains("not in the repositories snapshot"));
}

#[test]
fn images_mart_carries_deprecation_dates_and_changes_between_snapshots() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    for d in ["2021-07-29", "2021-08-10"] {
        extract_hub::run(&w.extract_options(&hub.url_for(date(d)), d)).unwrap();
        join::run(&join_opts(&w, d)).unwrap();
    }
    let path = catalog::partition_file(&w.datasets(), &IMAGES, date("2021-08-10"));
    let batch = read_batch(&path, &catalog::images_schema()).unwrap();
    let c = Columns::new(&batch, "images");
    let (names, since, how, changed, prev, dl) = (
        c.strings("name").unwrap(),
        c.dates("deprecated_since").unwrap(),
        c.strings("deprecated_since_source").unwrap(),
        c.opt_bools("last_updated_changed").unwrap(),
        c.dates("previous_snapshot").unwrap(),
        c.ints("downloads_since_previous").unwrap(),
    );
    let at = |n: &str| {
        (0..batch.num_rows())
            .find(|i| names[*i].as_deref() == Some(n))
            .unwrap()
    };
    let java = at("java");
    assert_eq!(
        (since[java], how[java].as_deref()),
        (Some(date("2016-08-11")), Some("docs-history"))
    );
    assert_eq!(
        changed[java],
        Some(true),
        "java is deprecated but its last_updated moved"
    );
    assert_eq!(prev[java], Some(date("2021-07-29")));
    assert!(dl[java].unwrap() > 0);
    assert_eq!(changed[at("scratch")], Some(false));
}

#[test]
fn window_downloads_flag_capped_and_reset_counts_instead_of_showing_zero() {
    let w = Workdir::new();
    // doctor the capture: java capped on the first date, piwik's count going down
    let edit = |d: &str, name: &str, count: i64| {
        let p = w.path().join("capture").join(d).join("repositories.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        for item in v.as_array_mut().unwrap() {
            if item["name"] == name {
                item["pull_count"] = count.into();
            }
        }
        std::fs::write(&p, v.to_string()).unwrap();
    };
    edit("2021-07-29", "java", hubaudit::downloads::PULL_CAP);
    edit("2021-08-10", "piwik", 5);
    let hub = w.replay(Knobs::default());
    for d in ["2021-07-29", "2021-08-10", "2021-08-24"] {
        extract_hub::run(&w.extract_options(&hub.url_for(date(d)), d)).unwrap();
        join::run(&join_opts(&w, d)).unwrap();
    }
    let s = report::run(&report::Options {
        window: Some((date("2021-07-29"), date("2021-08-10"))),
        ..report_options(&w, "2021-08-24")
    })
    .unwrap();
    let dep = csv_rows(&s.dir.join("deprecated.csv"));
    let get = |n: &str| dep.iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!(
        (
            get("java")["window_downloads"].as_str(),
            get("java")["window_flags"].as_str()
        ),
        ("", "capped")
    );
    assert_eq!(
        (
            get("piwik")["window_downloads"].as_str(),
            get("piwik")["window_flags"].as_str()
        ),
        ("", "reset")
    );
    let celery = get("celery");
    assert!(
        celery["window_downloads"].parse::<i64>().unwrap() > 0 && celery["window_flags"].is_empty()
    );
    let dl = csv_rows(&s.dir.join("downloads.csv"));
    assert!(dl
        .iter()
        .any(|r| r["name"] == "java" && r["flags"] == "capped" && r["downloads"].is_empty()));
    // every table file exists; the page has every table and chart
    for f in [
        "summary",
        "deprecated",
        "deprecated_vs_study",
        "vulnerable",
        "downloads",
        "eol",
        "stale",
        "study_comparison",
    ] {
        assert!(s.dir.join(format!("{f}.csv")).exists(), "{f}.csv");
    }
    let html = std::fs::read_to_string(s.dir.join("index.html")).unwrap();
    for id in [
        "table id=\"summary\"",
        "table id=\"downloads\"",
        "table id=\"stale\"",
        "svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart-trend\"",
    ] {
        assert!(html.contains(id), "{id} missing");
    }
    assert!(!html.contains("<script"));
    let stale = csv_rows(&s.dir.join("stale.csv"));
    assert!(
        stale.iter().any(|r| r["name"] == "java"),
        "java: deprecated since 2016, last_updated still moves"
    );
    let cmp = csv_rows(&s.dir.join("study_comparison.csv"));
    let listed = cmp.iter().find(|r| r["metric"] == "images listed").unwrap();
    assert_eq!(
        (
            listed["study"].as_str(),
            listed["ours"].as_str(),
            listed["verdict"].as_str()
        ),
        ("167", "168", "differs")
    );
    assert!(listed["reason"].contains("sample data"));
}

#[test]
fn pull_counts_taken_between_two_joins_reach_the_window() {
    let w = Workdir::new();
    let hub = w.replay(Knobs::default());
    // catalogs on the first and last date only; pull counts on the window's end, between them
    extract_hub::run(&w.extract_options(&hub.url_for(date("2021-07-29")), "2021-07-29")).unwrap();
    join::run(&join_opts(&w, "2021-07-29")).unwrap();
    pull_counts::run(&pulls_opts(
        &w,
        &hub.url_for(date("2021-08-10")),
        "2021-08-10",
    ))
    .unwrap();
    extract_hub::run(&w.extract_options(&hub.url_for(date("2021-08-24")), "2021-08-24")).unwrap();
    let j = join::run(&join_opts(&w, "2021-08-24")).unwrap();
    assert_eq!(
        j.pull_points,
        168 + 167,
        "extract-hub's counts of 2021-08-24 (168 names) and the pull-counts capture of 2021-08-10 (167)"
    );
    let s = report::run(&report::Options {
        window: Some((date("2021-07-29"), date("2021-08-10"))),
        ..report_options(&w, "2021-08-24")
    })
    .unwrap();
    let rows = csv_rows(&s.dir.join("downloads.csv"));
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(
            (r["start_capture"].as_str(), r["end_capture"].as_str()),
            ("2021-07-29", "2021-08-10"),
            "{r:?}"
        );
        assert!(!r["flags"].contains("missing"), "{r:?}");
    }
}
