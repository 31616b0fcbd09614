//! The live scan path on real servers started on loopback: Debian's docker-registry (bearer
//! tokens from the sample token service, as Docker Hub does, or htpasswd), the sample images
//! pushed and pulled by digest, the Trivy DB downloaded from the same registry as an OCI
//! artifact, one `trivy server` per run, and the faults a registry answers with (a wrong
//! password, a digest deleted since the crawl, 429 rate limits through a fault proxy).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hubaudit::catalog::{self, FINDINGS};
use hubaudit::io::parquet::{read_batch, Columns};
use hubaudit::io::registry::Credentials;
use hubaudit::sample::proxy::{FaultProxy, ProxyFault, ProxyRule};
use hubaudit::sample::registry::{
    RegistryAuth, RegistryServer, TokenAuth, SAMPLE_PASSWORD, SAMPLE_USERNAME,
};
use hubaudit::sample::token::{TokenConfig, TokenServer};
use hubaudit::sample::World;
use hubaudit::stages::scan::{self, DbSource, ImageSource};
use hubaudit::tables::{self, ScanRow};

use crate::util::{date, repo, report_options, scan_options, text, trivy, write_config, Workdir};

const DAY: &str = "2021-08-24";

/// A work folder with the 2021-08-24 snapshot extracted and a registry holding the tag each
/// image's scan chooses, and the sample DB as `aquasec/trivy-db:2`.
struct Live {
    w: Workdir,
    registry: RegistryServer,
    _token: Option<TokenServer>,
}

fn live(token_auth: bool) -> Live {
    let w = Workdir::new();
    w.extract(DAY, DAY);
    let token = token_auth.then(|| {
        TokenServer::start(TokenConfig {
            username: SAMPLE_USERNAME.into(),
            password: SAMPLE_PASSWORD.into(),
            issuer: "hubaudit-sample-token".into(),
            service: "hubaudit-sample-registry".into(),
        })
        .unwrap()
    });
    let auth = match &token {
        Some(t) => RegistryAuth::Token(TokenAuth::from(t)),
        None => RegistryAuth::Htpasswd,
    };
    let registry = RegistryServer::start(auth).unwrap();
    let client = registry.client().unwrap();
    let chosen = chosen_tags(&w);
    let world = World::load(&repo().join("datasets/sample")).unwrap();
    let capture = w.path().join("capture");
    let pushed =
        hubaudit::sample::push::push_images(&world, &capture, date(DAY), &client, &|n, t| {
            chosen.contains(&(n.to_string(), t.to_string()))
        })
        .unwrap();
    assert_eq!(pushed.tags, chosen.len());
    hubaudit::sample::push::push_db(
        &capture.join("trivy-cache"),
        &client,
        "aquasec/trivy-db",
        "2",
    )
    .unwrap();
    Live {
        w,
        registry,
        _token: token,
    }
}

/// (image, tag) the scan chooses for every image of the snapshot.
fn chosen_tags(w: &Workdir) -> BTreeSet<(String, String)> {
    let mut by_repo: BTreeMap<String, Vec<tables::TagRow>> = BTreeMap::new();
    for t in tables::read_tags(&w.datasets(), date(DAY)).unwrap() {
        by_repo.entry(t.repository.clone()).or_default().push(t);
    }
    by_repo
        .into_iter()
        .filter_map(|(name, tags)| scan::choose_tag(&tags).map(|(tag, _, _)| (name, tag)))
        .collect()
}

impl Live {
    /// `hubaudit scan` of the snapshot from this registry, with the DB downloaded from it, run
    /// as a user would (the binary, credentials in the environment) with `extra` arguments.
    fn cli_scan(&self, extra: &[&str], password: &str) -> std::process::Output {
        let host = self.registry.host();
        std::process::Command::new(env!("CARGO_BIN_EXE_hubaudit"))
            .args(["scan", "--snapshot", DAY, "--registry", &host])
            .args(extra)
            .arg("--trivy")
            .arg(trivy())
            .args(["--db-repository", &format!("{host}/aquasec/trivy-db:2")])
            .current_dir(self.w.path())
            .env("HUBAUDIT_DATASETS", self.w.datasets())
            .env("HUBAUDIT_REGISTRY_USERNAME", SAMPLE_USERNAME)
            .env("HUBAUDIT_REGISTRY_PASSWORD", password)
            .output()
            .unwrap()
    }

    /// Scan options pulling from this registry by digest, with the DB downloaded from it.
    fn options(&self) -> scan::Options {
        let host = self.registry.host();
        scan::Options {
            images_from: ImageSource::Registry(host.clone()),
            db: DbSource::Download(format!("{host}/aquasec/trivy-db:2")),
            credentials: self.registry.credentials(),
            ..scan_options(&self.w, DAY)
        }
    }
}

fn rows(w: &Workdir) -> BTreeMap<String, ScanRow> {
    tables::read_scans(&w.datasets(), date(DAY))
        .unwrap()
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect()
}

/// Every finding of the snapshot as comparable text, image by image.
fn findings(w: &Workdir) -> BTreeSet<String> {
    let path = catalog::partition_file(&w.datasets(), &FINDINGS, date(DAY));
    let batch = read_batch(&path, &catalog::findings_schema()).unwrap();
    let c = Columns::new(&batch, "findings");
    let cols: Vec<Vec<Option<String>>> = [
        "name",
        "digest",
        "vulnerability_id",
        "pkg_name",
        "installed_version",
        "fixed_version",
        "status",
        "severity",
        "target",
    ]
    .iter()
    .map(|n| c.strings(n).unwrap())
    .collect();
    (0..batch.num_rows())
        .map(|i| {
            cols.iter()
                .map(|col| col[i].clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

#[test]
fn a_live_scan_by_digest_equals_the_archive_scan_and_a_stored_db_rederives_it() {
    let live = live(true);
    let w = &live.w;
    let host = live.registry.host();

    // the archive path first: the reference counts
    let archive_opts = scan::Options {
        images_from: ImageSource::Archive(w.path().join("capture").join(DAY).join("images")),
        ..scan_options(w, DAY)
    };
    let a = scan::run(&archive_opts).unwrap();
    assert_eq!((a.images, a.ok, a.analyses), (168, 168, 168));
    let archive = rows(w);
    let archive_findings = findings(w);
    // one base layer per OS release: each analysed once, every application layer once
    let releases: BTreeSet<(Option<String>, Option<String>)> = archive
        .values()
        .map(|r| (r.os_family.clone(), r.os_name.clone()))
        .collect();
    assert_eq!(a.layer_analyses, 168 + releases.len(), "{releases:?}");

    // the live path: every image pulled by digest, the DB downloaded from the registry
    let s = scan::run(&scan::Options {
        full: true,
        ..live.options()
    })
    .unwrap();
    assert_eq!(
        (s.images, s.ok, s.analyses),
        (168, 168, 168),
        "{:?}",
        rows(w)
    );
    let db = s.db.clone().unwrap();
    let sample_db = hubaudit::trivy::db::inspect(&w.path().join("capture/trivy-cache/db")).unwrap();
    assert_eq!(
        db.digest, sample_db.digest,
        "the downloaded DB is the pushed one"
    );
    assert!(
        db.artifact
            .as_deref()
            .unwrap()
            .starts_with(&format!("{host}/aquasec/trivy-db@sha256:")),
        "{:?}",
        db.artifact
    );
    let live_rows = rows(w);
    for (name, r) in &live_rows {
        let reference = r.image_ref.as_deref().unwrap();
        assert_eq!(
            reference,
            format!("{host}/library/{name}@{}", r.digest.as_deref().unwrap()),
            "pinned to the snapshot's digest"
        );
        assert_eq!(r.db_digest.as_deref(), Some(db.digest.as_str()));
        let theirs = &archive[name];
        assert_eq!(
            (r.counts.map(|c| c[0]), r.fixable_counts.map(|c| c[0])),
            (
                theirs.counts.map(|c| c[0]),
                theirs.fixable_counts.map(|c| c[0])
            ),
            "{name}: total and fixable from the registry equal the archive's"
        );
    }
    assert_eq!(findings(w), archive_findings, "finding by finding");

    // the Hub lists amd64 and arm64; the scan took amd64, whose image differs from arm64's
    let tags = tables::read_tags(&w.datasets(), date(DAY)).unwrap();
    let nuxeo: Vec<&tables::TagRow> = tags
        .iter()
        .filter(|t| t.repository == "nuxeo" && t.tag == "latest")
        .collect();
    let digest_of = |arch: &str| {
        nuxeo
            .iter()
            .find(|t| t.architecture.as_deref() == Some(arch))
            .and_then(|t| t.digest.clone())
            .unwrap()
    };
    assert_eq!(
        live_rows["nuxeo"].digest.as_deref(),
        Some(digest_of("amd64").as_str())
    );
    let arm = std::process::Command::new(trivy())
        .args([
            "image",
            &format!("{host}/library/nuxeo@{}", digest_of("arm64")),
        ])
        .args(hubaudit::trivy::offline_flags(
            &w.path().join("capture/trivy-cache"),
        ))
        .args(["--format", "json"])
        .env("TRIVY_USERNAME", SAMPLE_USERNAME)
        .env("TRIVY_PASSWORD", SAMPLE_PASSWORD)
        .output()
        .unwrap();
    assert!(
        arm.status.success(),
        "{}",
        String::from_utf8_lossy(&arm.stderr)
    );
    let arm = hubaudit::trivy::parse_report(&arm.stdout).unwrap();
    let arm_fixable = arm.findings.iter().filter(|f| f.fixable()).count() as i64;
    assert_ne!(
        Some(arm_fixable),
        live_rows["nuxeo"].fixable_counts.map(|c| c[0]),
        "arm64 is one revision ahead: a wrong platform choice would show"
    );

    // the report names the DB its scans used
    hubaudit::stages::join::run(&hubaudit::stages::join::Options {
        datasets: w.datasets(),
        snapshot: date(DAY),
        reference: None,
    })
    .unwrap();
    let r = hubaudit::stages::report::run(&report_options(w, DAY)).unwrap();
    let summary = std::fs::read_to_string(r.dir.join("summary.csv")).unwrap();
    assert!(summary.contains(&db.digest), "{summary}");
    let html = std::fs::read_to_string(r.dir.join("index.html")).unwrap();
    assert!(html.contains(&db.digest));

    // later: the stored DB by its digest, every image rescanned from its stored inventory
    let again = scan::run(&scan::Options {
        db: DbSource::Stored(db.digest.clone()),
        ..live.options()
    })
    .unwrap();
    assert_eq!(
        (again.analyses, again.sbom_rescans, again.ok),
        (0, 168, 168)
    );
    assert_eq!(again.layer_analyses, 0);
    assert_eq!(findings(w), archive_findings, "re-derived exactly");
    hubaudit::reliability::record(
        "live scan path",
        "168 sample images pulled by digest from docker-registry (bearer tokens), DB downloaded from it",
        168,
        "total and fixable counts of every image, and every finding, equal to the archive path's; a rescan with the stored DB by its digest gave the same findings with 0 image analyses",
    );
}

#[test]
fn a_wrong_password_exits_2_naming_the_registry_before_any_image() {
    let live = live(false);
    let w = &live.w;
    write_config(w, "");
    let host = live.registry.host();
    let started = Instant::now();
    let out = live.cli_scan(&[], "not-the-password");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&host) && err.contains("rejected"), "{err}");
    assert!(err.contains("no image was scanned"), "{err}");
    assert!(
        !out.stderr.windows(15).any(|x| x == b"not-the-passwor"),
        "the password is never printed"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it stops at once"
    );
    assert!(
        catalog::snapshots(&w.datasets(), &catalog::SCANS)
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
    // with the token flow (Docker Hub's), the token service refuses and the run stops too
    let token = live_with_token_refusal();
    assert!(token.contains("rejected"), "{token}");
    hubaudit::reliability::record(
        "registry faults",
        "a wrong registry password (htpasswd, and the bearer-token flow)",
        2,
        "both stopped before any image with exit 2 naming the registry; nothing written; the password never printed",
    );
}

/// The preflight against a bearer-token registry with a wrong password: the error text.
fn live_with_token_refusal() -> String {
    let t = TokenServer::start(TokenConfig {
        username: SAMPLE_USERNAME.into(),
        password: SAMPLE_PASSWORD.into(),
        issuer: "i".into(),
        service: "s".into(),
    })
    .unwrap();
    let registry = RegistryServer::start(RegistryAuth::Token(TokenAuth::from(&t))).unwrap();
    let w = Workdir::new();
    w.extract(DAY, DAY);
    let e = scan::run(&scan::Options {
        images_from: ImageSource::Registry(registry.host()),
        credentials: Some(Credentials {
            username: SAMPLE_USERNAME.into(),
            password: "wrong".into(),
        }),
        images: vec!["nginx".into()],
        ..scan_options(&w, DAY)
    })
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    e.to_string()
}

#[test]
fn a_digest_deleted_since_the_crawl_is_a_failed_row_and_the_run_goes_on() {
    let live = live(false);
    let w = &live.w;
    write_config(w, "");
    let nginx = tables::read_tags(&w.datasets(), date(DAY))
        .unwrap()
        .into_iter()
        .find(|t| {
            t.repository == "nginx"
                && t.tag == "latest"
                && t.architecture.as_deref() == Some("amd64")
        })
        .and_then(|t| t.digest)
        .unwrap();
    live.registry
        .client()
        .unwrap()
        .delete_manifest("library/nginx", &nginx)
        .unwrap();
    let images = ["--image", "nginx", "--image", "redis", "--image", "alpine"];
    let out = live.cli_scan(&images, SAMPLE_PASSWORD);
    assert_eq!(out.status.code(), Some(1), "partial: {}", text(&out));
    let r = rows(w);
    assert_eq!(r["nginx"].status, hubaudit::tables::ScanStatus::Failed);
    let why = r["nginx"].error.as_deref().unwrap();
    assert!(
        why.starts_with("the digest is not in the registry"),
        "{why}"
    );
    assert!(
        why.contains(&nginx),
        "the pulled reference is quoted: {why}"
    );
    assert_eq!(
        (r["redis"].status.as_str(), r["alpine"].status.as_str()),
        ("ok", "ok")
    );
    hubaudit::reliability::record(
        "registry faults",
        "a digest deleted from the registry after the crawl",
        3,
        "its image is a failed row saying the digest is not in the registry; the other 2 images scanned; exit 1",
    );
}

#[test]
fn rate_limits_are_waited_out_then_give_up_as_a_failed_row() {
    let live = live(false);
    let w = &live.w;
    let upstream = format!("http://{}", live.registry.host());
    let proxy = FaultProxy::start(
        &upstream,
        vec![
            // redis: refused for a while, then served
            ProxyRule {
                path_contains: "/library/redis/manifests/".into(),
                fault: ProxyFault::TooManyRequests {
                    retry_after_secs: 1,
                },
                times: Some(4),
            },
            // nginx: refused for ever
            ProxyRule {
                path_contains: "/library/nginx/manifests/".into(),
                fault: ProxyFault::TooManyRequests {
                    retry_after_secs: 1,
                },
                times: None,
            },
        ],
    )
    .unwrap();
    let started = Instant::now();
    let s = scan::run(&scan::Options {
        images_from: ImageSource::Registry(proxy.host()),
        retries: 4,
        retry_budget: Duration::from_secs(25),
        backoff_base: Duration::from_millis(500),
        parallel: 1,
        images: vec!["redis".into(), "nginx".into()],
        // the DB from the sample cache: the proxy stands in front of the images only
        db: DbSource::Cache(w.path().join("capture/trivy-cache")),
        ..live.options()
    })
    .unwrap();
    let took = started.elapsed();
    let r = rows(w);
    eprintln!("proxy saw: {:#?}", proxy.requests());
    assert_eq!(
        r["redis"].status,
        hubaudit::tables::ScanStatus::Ok,
        "{:?}",
        r["redis"].error
    );
    assert_eq!(r["nginx"].status, hubaudit::tables::ScanStatus::Failed);
    let why = r["nginx"].error.as_deref().unwrap();
    assert!(
        why.contains("rate limit") && why.contains("attempts"),
        "{why}"
    );
    assert!(s.partial());
    assert!(proxy.faults_served() > 4, "nginx kept being refused");
    assert!(took >= Duration::from_secs(2), "the scan waited ({took:?})");
    assert!(
        took < Duration::from_secs(90),
        "within the budget ({took:?})"
    );
    hubaudit::reliability::record(
        "registry faults",
        "429 TOOMANYREQUESTS from a fault proxy: 4 times for one image, always for another",
        2,
        "the first was scanned after paced retries; the second became a failed row naming its attempts and waits, within the 25 s budget",
    );
}

#[test]
fn every_platform_of_the_chosen_tag_is_pulled_by_its_own_digest_beside_the_study_row() {
    let live = live(false);
    let s = scan::run(&scan::Options {
        platforms: scan::PlatformScope::All,
        images: vec!["alpine".into(), "nginx".into(), "busybox".into()],
        ..live.options()
    })
    .unwrap();
    assert_eq!(s.failed + s.timed_out, 0);
    let tags = tables::read_tags(&live.w.datasets(), date(DAY)).unwrap();
    let scans = tables::read_scans(&live.w.datasets(), date(DAY)).unwrap();
    for name in ["alpine", "nginx", "busybox"] {
        let rows: Vec<&ScanRow> = scans.iter().filter(|r| r.name == name).collect();
        let chosen = rows.iter().find(|r| !r.beyond_study).expect("a study row");
        let want: BTreeSet<Option<String>> = tags
            .iter()
            .filter(|t| t.repository == name && Some(&t.tag) == chosen.tag.as_ref())
            .map(|t| t.digest.clone())
            .collect();
        let got: BTreeSet<Option<String>> = rows.iter().map(|r| r.digest.clone()).collect();
        assert_eq!(got, want, "{name}: one row per platform image, by digest");
        assert!(want.len() >= 2, "{name}: the sample pushes amd64 and arm64");
        assert_eq!(rows.iter().filter(|r| !r.beyond_study).count(), 1, "{name}");
        assert_eq!(chosen.platform.as_deref(), Some("linux/amd64"), "{name}");
        assert!(
            rows.iter()
                .any(|r| r.beyond_study
                    && r.platform.as_deref().is_some_and(|p| p.contains("arm64"))),
            "{name}: the arm64 image is a row of its own"
        );
        assert!(
            rows.iter().all(|r| r.status == tables::ScanStatus::Ok),
            "{name}"
        );
    }
}
