//! timetravel on small git histories generated in the real layouts (repo-info's
//! `repos/NAME/local/TAG.md`, the tracker's `data/{CVE,DSA,DLA}/list`), with dated commits
//! before and after the date, scanned by the real Trivy; and every real file of
//! `../shared/data/time-travel` (skipped with the reason when absent).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use hubaudit::catalog::{self, REPOSITORIES, TAGS, TIMETRAVEL_FINDINGS, TIMETRAVEL_SCANS};
use hubaudit::dag::Stage;
use hubaudit::io::{parquet as pq, partition};
use hubaudit::stages::timetravel::{self, facts::Facts, repo_info, tracker, Inputs, Options};
use hubaudit::tables::{self, RepoRow, TagRow};

use crate::util::{date, git, repo, text, trivy};

fn commit(dir: &Path, when: &str, files: &[(&str, &str)]) {
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    git(dir, when, &["add", "-A"]);
    git(dir, when, &["commit", "-q", "-m", when]);
}

fn init(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, "2021-01-01T00:00:00Z", &["init", "-q", "-b", "master"]);
}

/// A repo-info package list in its Markdown layout: dpkg (source, version, binary) triples.
fn dpkg_list(title: &str, created: &str, pkgs: &[(&str, &str, &str)]) -> String {
    let mut s = format!("# `{title}`\n\n## Docker Metadata\n\n- Image ID: `sha256:{}`\n- Created: `{created}`\n\n## `dpkg` (`.deb`-based packages)\n\n", "ab".repeat(32));
    for (src, ver, bin) in pkgs {
        s.push_str(&format!("### `dpkg` source package: `{src}={ver}`\n\nBinary Packages:\n\n- `{bin}:amd64={ver}`\n\nLicenses: (parsed from: `/usr/share/doc/{bin}/copyright`)\n\n- `GPL-2`\n\nSource:\n\n```console\n$ apt-get source -qq --print-uris {src}={ver}\n```\n\n"));
    }
    s
}

const BASE: (&str, &str, &str) = ("base-files", "10.3+deb10u9", "base-files");

/// repo-info: `app:latest` (openssl deb10u5, curl deb10u1) on 2021-06-01, rebuilt with
/// openssl deb10u7 on 2021-09-01; `multi` has only `1.0.md` (its `latest` is the same
/// image); `rh` is CentOS; `gone` has no list.
fn repo_info(root: &Path) -> PathBuf {
    let dir = root.join("repo-info");
    init(&dir);
    let app = |openssl: &str| {
        dpkg_list(
            "app:latest",
            "2021-05-30T10:00:00Z",
            &[
                BASE,
                ("openssl", openssl, "libssl1.1"),
                ("curl", "7.64.0-4+deb10u1", "libcurl4"),
            ],
        )
    };
    let rh = "# `rh:latest`\n\n## `rpm` (`.rpm`-based packages)\n\n### `rpm` package: `centos-linux-release-8.3-1.2011.el8.noarch`\n\n### `rpm` package: `openssl-libs-1.1.1g-11.el8.x86_64`\n";
    commit(
        &dir,
        "2021-06-01T12:00:00Z",
        &[
            ("repos/app/local/latest.md", &app("1.1.1d-0+deb10u5")),
            (
                "repos/multi/local/1.0.md",
                &dpkg_list(
                    "multi:1.0",
                    "2021-08-20T00:00:00Z",
                    &[BASE, ("curl", "7.64.0-4+deb10u1", "libcurl4")],
                ),
            ),
            ("repos/rh/local/latest.md", rh),
        ],
    );
    commit(
        &dir,
        "2021-09-01T12:00:00Z",
        &[("repos/app/local/latest.md", &app("1.1.1d-0+deb10u7"))],
    );
    dir
}

/// The tracker: openssl CVE-2021-0001 fixed by a DSA in May; a DSA of 2021-09-10 fixes
/// CVE-2021-0001 again and CVE-2021-0002 (after D); curl CVE-2021-0003 fixed in CVE/list,
/// CVE-2021-0004 `<no-dsa>`, CVE-2021-0006 `<no-dsa>` until a fix is listed in September,
/// CVE-2021-0005 first published in September.
fn security_tracker(root: &Path) -> PathBuf {
    let dir = root.join("security-tracker");
    init(&dir);
    let dsa_may = "[01 May 2021] DSA-4800-1 openssl - security update\n\t{CVE-2021-0001}\n\t[buster] - openssl 1.1.1d-0+deb10u6\n";
    let cve_may = "CVE-2021-0006 (curl flaw)\n\t- curl 7.78.0-1 (low)\n\t[buster] - curl <no-dsa> (Minor issue)\nCVE-2021-0004 (curl flaw)\n\t- curl 7.78.0-1\n\t[buster] - curl <no-dsa> (Minor issue)\nCVE-2021-0003 (curl flaw)\n\t- curl 7.78.0-1 (medium)\n\t[buster] - curl 7.64.0-4+deb10u2\nCVE-2021-0001 (openssl flaw)\n\t{DSA-4800-1}\n\t- openssl 1.1.1k-1\n\t[buster] - openssl 1.1.1d-0+deb10u6\n";
    commit(&dir, "2021-05-02T12:00:00Z", &[
        ("data/DSA/list", dsa_may),
        ("data/DLA/list", "[01 May 2021] DLA-2600-1 curl - security update\n\t[stretch] - curl 7.52.1-5+deb9u14\n"),
        ("data/CVE/list", cve_may),
    ]);
    let dsa_sep = format!("[10 Sep 2021] DSA-4970-1 openssl - security update\n\t{{CVE-2021-0001 CVE-2021-0002}}\n\t[buster] - openssl 1.1.1d-0+deb10u7\n{dsa_may}");
    let cve_sep = format!(
        "CVE-2021-0005 (new curl flaw)\n\t- curl 7.79.0-1\n\t[buster] - curl 7.64.0-4+deb10u3\n{}",
        cve_may.replace(
            "\t[buster] - curl <no-dsa> (Minor issue)\nCVE-2021-0004",
            "\t[buster] - curl 7.64.0-4+deb10u3\nCVE-2021-0004"
        )
    );
    commit(
        &dir,
        "2021-09-10T12:00:00Z",
        &[("data/DSA/list", &dsa_sep), ("data/CVE/list", &cve_sep)],
    );
    dir
}

fn catalog_at(root: &Path, day: &str, images: &[(&str, &[&str], &str)]) {
    let at = Utc.with_ymd_and_hms(2021, 8, 24, 12, 0, 0).unwrap();
    let repos: Vec<RepoRow> = images
        .iter()
        .map(|(n, _, _)| RepoRow {
            name: n.to_string(),
            namespace: "library".into(),
            source: "test".into(),
            captured_at: at,
            ..RepoRow::default()
        })
        .collect();
    let tags: Vec<TagRow> = images
        .iter()
        .flat_map(|(n, tags, digest)| {
            tags.iter().map(move |t| TagRow {
                repository: n.to_string(),
                tag: t.to_string(),
                digest: Some(format!("sha256:{}", digest.repeat(64 / digest.len()))),
                os: Some("linux".into()),
                architecture: Some("amd64".into()),
                variant: None,
                size: Some(1),
                full_size: Some(1),
                last_updated: Some(at),
                last_pulled: None,
                last_pushed: None,
                tag_status: Some("active".into()),
                source: "test".into(),
                captured_at: at,
                carried_forward: false,
            })
        })
        .collect();
    partition::write_partition(
        root,
        Stage::ExtractHub,
        &REPOSITORIES,
        date(day),
        "test",
        |p| pq::write_batch(p, &tables::repositories_batch(&repos)?),
    )
    .unwrap();
    partition::write_partition(root, Stage::ExtractHub, &TAGS, date(day), "test", |p| {
        pq::write_batch(p, &tables::tags_batch(&tags)?)
    })
    .unwrap();
}

fn options(root: &Path, day: &str, inputs: Inputs) -> Options {
    Options {
        datasets: root.to_path_buf(),
        date: date(day),
        inputs,
        trivy: trivy(),
        timeout: std::time::Duration::from_secs(120),
        export_facts: None,
        skip_other_dates: false,
    }
}

/// name → (status, fixable, total, inventory how, reason) of a written partition.
type Summary = (
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn rows(root: &Path, day: &str) -> BTreeMap<String, Summary> {
    let path = partition::verified_file(root, &TIMETRAVEL_SCANS, date(day)).unwrap();
    let b = pq::read_batch(&path, &catalog::timetravel_scans_schema()).unwrap();
    let c = pq::Columns::new(&b, "t");
    let (n, s, f, t, h, r) = (
        c.strings("name").unwrap(),
        c.strings("status").unwrap(),
        c.ints("fixable").unwrap(),
        c.ints("total").unwrap(),
        c.strings("inventory").unwrap(),
        c.strings("reason").unwrap(),
    );
    (0..b.num_rows())
        .map(|i| {
            (
                n[i].clone().unwrap(),
                (
                    s[i].clone().unwrap(),
                    f[i],
                    t[i],
                    h[i].clone(),
                    r[i].clone(),
                ),
            )
        })
        .collect()
}

/// (name, vulnerability, fixed version, advisory ids) of the findings.
fn findings(root: &Path, day: &str) -> Vec<(String, String, Option<String>, Vec<String>)> {
    let path = partition::verified_file(root, &TIMETRAVEL_FINDINGS, date(day)).unwrap();
    let b = pq::read_batch(&path, &catalog::timetravel_findings_schema()).unwrap();
    let c = pq::Columns::new(&b, "t");
    let (n, v, f, a) = (
        c.strings("name").unwrap(),
        c.strings("vulnerability_id").unwrap(),
        c.strings("fixed_version").unwrap(),
        c.string_lists("advisory_ids").unwrap(),
    );
    let mut out: Vec<_> = (0..b.num_rows())
        .map(|i| {
            (
                n[i].clone().unwrap(),
                v[i].clone().unwrap(),
                f[i].clone(),
                a[i].clone(),
            )
        })
        .collect();
    out.sort();
    out
}

const IMAGES: &[(&str, &[&str], &str)] = &[
    ("app", &["latest"], "a1"),
    ("multi", &["latest", "1.0"], "b2"),
    ("rh", &["latest"], "c3"),
    ("gone", &["latest"], "d4"),
];

#[test]
fn counts_follow_what_was_known_and_built_on_the_date_in_both_directions() {
    let w = tempfile::tempdir().unwrap();
    let root = w.path().join("datasets");
    let (info, sec) = (repo_info(w.path()), security_tracker(w.path()));
    let history = || Inputs::History {
        repo_info: info.clone(),
        tracker: sec.clone(),
        official_images: None,
        proxies: vec![],
    };
    catalog_at(&root, "2021-08-24", IMAGES);
    let s = timetravel::run(&options(&root, "2021-08-24", history())).unwrap();
    assert_eq!(
        (s.images, s.scanned, s.no_inventory, s.no_source, s.failed),
        (4, 2, 1, 1, 0)
    );
    let r = rows(&root, "2021-08-24");
    // app on 2021-08-24: openssl deb10u5 < deb10u6 (CVE-0001 fixable; CVE-0002 not yet
    // published); curl: CVE-0003 fixable, CVE-0004 and CVE-0006 unfixed (no-dsa at D; the
    // fix of CVE-0006 came later), CVE-0005 not yet published
    assert_eq!(
        (r["app"].0.as_str(), r["app"].1, r["app"].2),
        ("ok", Some(2), Some(4))
    );
    assert_eq!(r["app"].3.as_deref(), Some("exact"));
    // multi: another tag's list of the same image (same digest)
    assert_eq!(
        (r["multi"].1, r["multi"].2, r["multi"].3.as_deref()),
        (Some(1), Some(3), Some("sibling"))
    );
    assert_eq!(r["rh"].0, "no_source");
    assert!(
        r["rh"]
            .4
            .as_deref()
            .unwrap()
            .contains("no advisory source for centos 8.3.2011"),
        "{:?}",
        r["rh"]
    );
    assert_eq!(
        (r["gone"].0.as_str(), r["gone"].1),
        ("no_inventory", None),
        "a missing list is a row with a reason, never a zero"
    );
    assert!(r["gone"].4.as_deref().unwrap().contains("gone:latest"));
    let f = findings(&root, "2021-08-24");
    let app: Vec<_> = f
        .iter()
        .filter(|x| x.0 == "app")
        .map(|x| (x.1.as_str(), x.2.as_deref(), x.3.clone()))
        .collect();
    assert_eq!(
        app,
        [
            (
                "CVE-2021-0001",
                Some("1.1.1d-0+deb10u6"),
                vec!["DSA-4800-1".to_string()]
            ),
            ("CVE-2021-0003", Some("7.64.0-4+deb10u2"), vec![]),
            ("CVE-2021-0004", None, vec![]),
            ("CVE-2021-0006", None, vec![]),
        ]
    );

    // a day after both histories moved on: the rebuilt app has openssl deb10u7 (CVE-0001 and
    // CVE-0002 fixed in it), CVE-0005 is published with a fix, CVE-0006 now has one
    catalog_at(&root, "2021-09-11", IMAGES);
    timetravel::run(&options(&root, "2021-09-11", history())).unwrap();
    let later = rows(&root, "2021-09-11");
    assert_eq!((later["app"].1, later["app"].2), (Some(3), Some(4)));
    let f = findings(&root, "2021-09-11");
    assert!(!f.iter().any(|x| x.0 == "app" && x.1 == "CVE-2021-0001"));
    assert!(f.iter().any(|x| x.0 == "app"
        && x.1 == "CVE-2021-0006"
        && x.2.as_deref() == Some("7.64.0-4+deb10u3")));
}

#[test]
fn fact_tables_recount_the_same_and_are_bound_to_their_date() {
    let w = tempfile::tempdir().unwrap();
    let root = w.path().join("datasets");
    let (info, sec) = (repo_info(w.path()), security_tracker(w.path()));
    // a tracker without data/CVE/list: DSA/DLA only (what the real bundle has)
    let dsa_only = w.path().join("dsa-only");
    std::fs::create_dir_all(dsa_only.join("data/DSA")).unwrap();
    std::fs::create_dir_all(dsa_only.join("data/DLA")).unwrap();
    for l in ["DSA", "DLA"] {
        let out = Command::new("git")
            .arg("-C")
            .arg(&sec)
            .args(["show", &format!("HEAD:data/{l}/list")])
            .output()
            .unwrap();
        std::fs::write(dsa_only.join(format!("data/{l}/list")), out.stdout).unwrap();
    }
    catalog_at(&root, "2021-08-24", IMAGES);
    let facts = w.path().join("facts");
    let mut o = options(
        &root,
        "2021-08-24",
        Inputs::History {
            repo_info: info.clone(),
            tracker: dsa_only.clone(),
            official_images: None,
            proxies: vec![("gone".into(), "repos/multi/local/1.0.md".into())],
        },
    );
    o.export_facts = Some(facts.clone());
    let a = timetravel::run(&o).unwrap();
    let first = rows(&root, "2021-08-24");
    // DSA/DLA only: the CVE/list fix of curl is not known, the folder's DSA of September is
    // dated after D and left out: app has CVE-0001 alone
    assert_eq!(first["app"].1, Some(1));
    assert!(first["app"]
        .4
        .as_deref()
        .unwrap()
        .contains("dated only by DSA/DLA"));
    assert_eq!(first["gone"].3.as_deref(), Some("proxy"));
    assert!(first["gone"].4.as_deref().unwrap().contains("stand-in"));
    let b = timetravel::run(&options(
        &root,
        "2021-08-24",
        Inputs::Facts(Some(facts.clone())),
    ))
    .unwrap();
    assert_eq!(
        a.db_digest, b.db_digest,
        "the same DB from the tables as from the histories"
    );
    assert_eq!(rows(&root, "2021-08-24"), first);
    let err = timetravel::run(&options(
        &root,
        "2021-08-25",
        Inputs::Facts(Some(facts.clone())),
    ))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("are for 2021-08-24, not 2021-08-25"),
        "{err}"
    );
    let mut skip = options(&root, "2021-08-25", Inputs::Facts(Some(facts)));
    skip.skip_other_dates = true;
    assert!(timetravel::run(&skip).unwrap().skipped.is_some());
    // exporting from a tracker with data/CVE/list is refused (the tables hold DSA/DLA only)
    let mut o = options(
        &root,
        "2021-08-24",
        Inputs::History {
            repo_info: info,
            tracker: sec,
            official_images: None,
            proxies: vec![],
        },
    );
    o.export_facts = Some(w.path().join("f2"));
    assert!(timetravel::run(&o)
        .unwrap_err()
        .to_string()
        .contains("DSA/DLA advisories only"));
}

#[test]
fn bad_input_is_refused_naming_it() {
    let w = tempfile::tempdir().unwrap();
    let root = w.path().join("datasets");
    let (info, sec) = (repo_info(w.path()), security_tracker(w.path()));
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hubaudit"))
            .args(args)
            .output()
            .unwrap()
    };
    let r = root.to_str().unwrap();
    let (i, s) = (info.to_str().unwrap(), sec.to_str().unwrap());
    let on = |tracker: &str| {
        cli(&[
            "timetravel",
            "--datasets",
            r,
            "--date",
            "2021-08-24",
            "--repo-info",
            i,
            "--security-tracker",
            tracker,
        ])
    };
    // no catalog at the date
    let out = on(s);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("backfill"), "{}", text(&out));
    catalog_at(&root, "2021-08-24", IMAGES);
    catalog_at(&root, "2020-01-01", IMAGES);
    for (args, code, says) in [
        (
            vec![
                "--date",
                "2021-02-30",
                "--repo-info",
                i,
                "--security-tracker",
                s,
            ],
            3,
            "2021-02-30",
        ),
        (
            vec![
                "--date",
                "2021-08-24",
                "--repo-info",
                "/nonexistent",
                "--security-tracker",
                s,
            ],
            3,
            "--repo-info /nonexistent",
        ),
        (
            vec![
                "--date",
                "2021-08-24",
                "--repo-info",
                i,
                "--security-tracker",
                i,
            ],
            3,
            "data/DSA/list",
        ),
        (
            vec![
                "--date",
                "2020-01-01",
                "--repo-info",
                i,
                "--security-tracker",
                s,
            ],
            3,
            "no commit before 2020-01-01",
        ),
        (
            vec![
                "--date",
                "2021-08-24",
                "--repo-info",
                i,
                "--security-tracker",
                s,
                "--inventory",
                "app",
            ],
            3,
            "NAME=PATH",
        ),
        (
            vec![
                "--date",
                "2021-08-24",
                "--repo-info",
                i,
                "--security-tracker",
                s,
                "--inventory",
                "app=repos/none.md",
            ],
            3,
            "repos/none.md",
        ),
        (
            vec![
                "--date",
                "2021-08-24",
                "--repo-info",
                i,
                "--security-tracker",
                s,
                "--trivy",
                "/nonexistent/trivy",
            ],
            3,
            "/nonexistent/trivy",
        ),
    ] {
        let mut all = vec!["timetravel", "--datasets", r];
        all.extend(args.iter().copied());
        let out = cli(&all);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    // a damaged list names its line; nothing is written
    let bad = w.path().join("bad");
    std::fs::create_dir_all(bad.join("data/DSA")).unwrap();
    std::fs::create_dir_all(bad.join("data/DLA")).unwrap();
    std::fs::write(
        bad.join("data/DSA/list"),
        "[01 May 2021] DSA-1-1 x\n\tgarbage\n",
    )
    .unwrap();
    std::fs::write(bad.join("data/DLA/list"), "").unwrap();
    let out = on(bad.to_str().unwrap());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("data/DSA/list:2"), "{}", text(&out));
    assert!(catalog::snapshots(&root, &TIMETRAVEL_SCANS)
        .unwrap()
        .is_empty());
}

/// Package counts of SOURCES.md: (path, dpkg sources, binaries or rpm packages).
const REAL: &[(&str, usize, usize)] = &[
    ("repos/backdrop/local/1.17.3.md", 106, 184),
    ("repos/centos/local/8.3.2011.md", 0, 172),
    ("repos/kaazing-gateway/local/latest.md", 93, 144),
    ("repos/nuxeo/local/10.10.md", 332, 526),
    ("repos/openjdk/local/8u302-jdk-buster.md", 109, 178),
    ("repos/openjdk/local/8u302-jre-buster.md", 93, 144),
];

#[test]
fn every_real_time_travel_file_parses_and_the_embedded_facts_are_its_export() {
    let Some(dir) = hubaudit::public_data::require(
        "timetravel::every_real_time_travel_file_parses_and_the_embedded_facts_are_its_export",
        "time-travel",
    ) else {
        return;
    };
    for (path, sources, packages) in REAL {
        let text = std::fs::read_to_string(dir.join("repo-info").join(path)).unwrap();
        let inv = repo_info::parse(&text, path).unwrap();
        assert_eq!(inv.packages.len(), *packages, "{path}");
        let srcs: std::collections::BTreeSet<_> = inv
            .packages
            .iter()
            .filter(|p| p.kind == repo_info::Kind::Dpkg)
            .map(|p| (&p.source, &p.source_version))
            .collect();
        assert_eq!(srcs.len(), *sources, "{path}");
        assert!(inv.created.is_some() && inv.image_id.is_some(), "{path}");
    }
    let read = |l: &str| {
        std::fs::read_to_string(dir.join(format!("security-tracker/data/{l}/list"))).unwrap()
    };
    let dsa = tracker::parse_list(tracker::List::Dsa, &read("DSA"), "DSA/list").unwrap();
    let dla = tracker::parse_list(tracker::List::Dla, &read("DLA"), "DLA/list").unwrap();
    assert_eq!((dsa.len(), dla.len()), (5406, 3534));
    let d = date("2021-08-24");
    assert_eq!(
        (
            dsa.iter().filter(|a| a.date <= d).count(),
            dla.iter().filter(|a| a.date <= d).count()
        ),
        (4982, 2881),
        "SOURCES.md's counts on or before the date"
    );

    // the committed fact tables are exactly what the real inputs export for the study's date
    let w = tempfile::tempdir().unwrap();
    let root = w.path().join("datasets");
    catalog_at(
        &root,
        "2021-08-24",
        &[
            (
                "backdrop",
                &["latest", "1.17.3", "1.17", "1", "apache"],
                "a1",
            ),
            ("centos", &["latest", "8.3.2011", "8", "centos8"], "b2"),
            ("kaazing-gateway", &["latest", "5.6.0", "5.6", "5"], "c3"),
            (
                "nuxeo",
                &["latest", "10.10", "10", "LTS-2019", "LTS", "FT"],
                "d4",
            ),
        ],
    );
    let mut o = options(
        &root,
        "2021-08-24",
        Inputs::History {
            repo_info: dir.join("repo-info"),
            tracker: dir.join("security-tracker"),
            official_images: None,
            proxies: vec![],
        },
    );
    let out = w.path().join("facts");
    o.export_facts = Some(out.clone());
    let s = timetravel::run(&o).unwrap();
    let embedded = repo().join("datasets/reference/timetravel-2021-08-24");
    for f in [
        "inventories.csv",
        "packages.csv",
        "advisories.csv",
        "tracker.csv",
    ] {
        assert!(
            std::fs::read(out.join(f)).unwrap() == std::fs::read(embedded.join(f)).unwrap(),
            "{f}: run `just reproduction` to regenerate the fact tables"
        );
    }
    assert_eq!(Facts::load(&out).unwrap(), Facts::embedded().unwrap());
    let r = rows(&root, "2021-08-24");
    for name in ["backdrop", "kaazing-gateway", "nuxeo"] {
        assert_eq!(r[name].0, "ok", "{name}");
        assert!(r[name].1.unwrap() > 50, "{name}: {:?}", r[name]);
    }
    assert_eq!(r["centos"].0, "no_source");
    assert_eq!(s.scanned, 3);
}
