//! backfill from two small git repositories with commits at fixed dates: an image deprecated
//! then deleted from the docs, a renamed image, and the report for a date with no live snapshot;
//! the backfill plan (`orchestrate::backfill`) joins every date it wrote.

use std::path::Path;

use hubaudit::catalog;
use hubaudit::orchestrate::{self, Done, Event, Settings};
use hubaudit::stages::{backfill, report};

use crate::util::{csv_rows, date, git, report_options, Workdir};

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn commit(dir: &Path, when: &str, msg: &str) {
    git(dir, when, &["add", "-A"]);
    git(dir, when, &["commit", "-q", "-m", msg]);
}

const NOTICE: &str =
    "This image is deprecated in favor of [the `alpha` image](https://hub.docker.com/_/alpha/).";

/// docs: alpha, oldimg (deprecated 2021-02-01, deleted 2021-03-01), renamed-old (renamed to
/// renamed-new on 2021-03-15). official-images: the matching library files.
fn repositories(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (docs, oi) = (root.join("docs"), root.join("official-images"));
    for d in [&docs, &oi] {
        std::fs::create_dir_all(d).unwrap();
        git(d, "2021-01-01T00:00:00Z", &["init", "-q", "-b", "master"]);
    }
    for name in ["alpha", "oldimg", "renamed-old"] {
        write(
            &docs,
            &format!("{name}/README-short.txt"),
            &format!("The {name} image.\n"),
        );
        write(
            &docs,
            &format!("{name}/README.md"),
            &format!("# Quick reference\n\nAbout {name}.\n"),
        );
        write(&oi, &format!("library/{name}"), &format!("Maintainers: Someone <a@b.c> (@x)\nGitRepo: https://github.com/example/{name}.git\n\nTags: 1.0, latest\nArchitectures: amd64, arm64v8\nGitCommit: 0123456789abcdef0123456789abcdef01234567\nDirectory: 1.0\n"));
    }
    commit(&docs, "2021-01-10T12:00:00Z", "add images");
    commit(&oi, "2021-01-10T12:00:00Z", "add images");
    write(&docs, "oldimg/deprecated.md", &format!("{NOTICE}\n"));
    write(
        &docs,
        "oldimg/README.md",
        &format!("# **DEPRECATION NOTICE**\n\n{NOTICE}\n\n# Quick reference\n\nAbout oldimg.\n"),
    );
    commit(&docs, "2021-02-01T09:00:00Z", "deprecate oldimg");
    std::fs::remove_dir_all(docs.join("oldimg")).unwrap();
    commit(&docs, "2021-03-01T09:00:00Z", "remove oldimg");
    git(
        &docs,
        "2021-03-15T09:00:00Z",
        &["mv", "renamed-old", "renamed-new"],
    );
    commit(&docs, "2021-03-15T09:00:00Z", "rename");
    git(
        &oi,
        "2021-03-15T09:00:00Z",
        &["mv", "library/renamed-old", "library/renamed-new"],
    );
    std::fs::remove_file(oi.join("library/oldimg")).unwrap();
    commit(&oi, "2021-03-15T09:00:00Z", "rename and remove");
    (docs, oi)
}

fn report_for(w: &Workdir, d: &str) -> report::Summary {
    report::run(&report_options(w, d)).unwrap()
}

#[test]
fn backfill_then_report_gives_the_deprecated_table_without_any_live_snapshot() {
    let w = Workdir::new();
    let (docs, oi) = repositories(w.path());
    // the backfill plan, as `hubaudit backfill` runs it: backfill, then join for every date
    // written, in the DAG's order
    let settings = Settings {
        datasets: w.datasets(),
        reference: None,
        threshold: 50,
        tolerance_days: 2,
        crawl: None,
        scan: None,
        timetravel: None,
    };
    let mut joined = Vec::new();
    let (s, code) = orchestrate::backfill(
        &backfill::Options {
            datasets: w.path().join("replaced by the settings' root"),
            docs_repo: docs,
            official_images_repo: oi,
            from: date("2021-01-05"),
            to: date("2021-03-20"),
            every_days: 7,
            namespace: "library".into(),
        },
        &settings,
        &mut |e| match e {
            Event::Done(Done::Join(j)) => joined.push(j.snapshot.unwrap()),
            other => panic!("the backfill plan reported {other:?}"),
        },
    )
    .unwrap();
    assert_eq!(code, 0);
    assert_eq!(joined, s.written, "one join per date written, in order");
    assert_eq!(
        catalog::snapshots(&w.datasets(), &catalog::IMAGES).unwrap(),
        s.written
    );
    // dates 2021-01-05, -12, … -03-16; 2021-01-05 precedes both first commits: skipped with a
    // reason, not an empty snapshot
    assert_eq!(s.dates, 11);
    assert_eq!(s.written.len(), 10);
    assert!(s.skipped[0].contains("2021-01-05"));
    assert!(
        s.reused > 0,
        "dates with unchanged commits reuse the previous rows"
    );

    // before the deprecation: nothing deprecated
    let early = report_for(&w, "2021-01-30");
    assert!(csv_rows(&early.dir.join("deprecated.csv")).is_empty());

    // after deprecation and deletion: oldimg still listed, deprecated since the commit that
    // added deprecated.md, read from the last commit that had its folder
    let late = report_for(&w, "2021-03-20");
    let dep = csv_rows(&late.dir.join("deprecated.csv"));
    assert_eq!(dep.len(), 1);
    assert_eq!(dep[0]["name"], "oldimg");
    assert_eq!(dep[0]["targets"], "alpha");
    assert_eq!(dep[0]["deprecated_since"], "2021-02-01");
    assert_eq!(dep[0]["deprecated_since_source"], "backfill-history");
    assert_eq!(dep[0]["source"], "backfill");
    let summary = csv_rows(&late.dir.join("summary.csv"));
    let get = |m: &str| summary.iter().find(|r| r["metric"] == m).unwrap()["value"].clone();
    assert_eq!(
        get("data source"),
        "backfill",
        "the report says which source it used"
    );
    // alpha, oldimg (removed from docs), renamed-new and renamed-old (removed by the rename)
    assert_eq!(get("images listed"), "4");
    let tags = hubaudit::tables::read_tags(&w.datasets(), date("2021-03-16")).unwrap();
    assert!(tags
        .iter()
        .any(|t| t.repository == "renamed-new" && t.tag == "latest"));
    assert!(
        !tags.iter().any(|t| t.repository == "oldimg"),
        "oldimg's library file was removed"
    );
}

#[test]
fn not_a_repository_is_bad_input_naming_the_path() {
    let w = Workdir::new();
    let err = backfill::run(&backfill::Options {
        datasets: w.datasets(),
        docs_repo: w.path().join("nope"),
        official_images_repo: w.path().join("nope"),
        from: date("2021-01-01"),
        to: date("2021-01-02"),
        every_days: 1,
        namespace: "library".into(),
    })
    .unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("nope") && err.to_string().contains("not a git repository"));
    assert_eq!(backfill::parse_every("7d").unwrap(), 7);
    assert!(backfill::parse_every("weekly").is_err());
}
