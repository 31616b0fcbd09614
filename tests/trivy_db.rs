//! Our Trivy DB writer and image builder, verified only by the real Trivy reading them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use chrono::Utc;
use hubaudit::sample::image::{
    debian_rootfs, write_docker_archive, Image, Layer, Package, Platform,
};
use hubaudit::sample::trivydb::{status, Advisory, AdvisoryDb, Vulnerability};

use crate::util::trivy;

fn advisory(fixed: Option<&str>, st: Option<u8>, sev: u8) -> Advisory {
    Advisory {
        fixed_version: fixed.map(String::from),
        status: st,
        severity: Some(sev),
        ..Advisory::default()
    }
}

fn db() -> AdvisoryDb {
    let mut openssl = BTreeMap::new();
    openssl.insert(
        "SAMPLE-2021-0001".to_string(),
        advisory(Some("1.1.1d-0+deb10u7"), None, 3),
    );
    openssl.insert(
        "SAMPLE-2021-0002".to_string(),
        advisory(Some("1.1.1d-0+deb10u5"), None, 4),
    );
    openssl.insert(
        "SAMPLE-2021-0003".to_string(),
        advisory(None, Some(status::AFFECTED), 2),
    );
    let mut pkgs = BTreeMap::new();
    pkgs.insert("openssl".to_string(), openssl);
    let mut db = AdvisoryDb::default();
    db.platforms.insert("debian 10".into(), pkgs);
    for id in ["SAMPLE-2021-0001", "SAMPLE-2021-0002", "SAMPLE-2021-0003"] {
        db.vulnerabilities.insert(
            id.into(),
            Vulnerability {
                title: format!("{id} sample"),
                description: "sample".into(),
                severity: "LOW".into(),
            },
        );
    }
    db
}

pub fn scan(image: &Path, cache: &Path, ignore_unfixed: bool) -> serde_json::Value {
    let mut cmd = Command::new(trivy());
    cmd.args(["image", "--input"])
        .arg(image)
        .args(hubaudit::trivy::offline_flags(cache))
        .args(["--format", "json"]);
    if ignore_unfixed {
        cmd.arg("--ignore-unfixed");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "trivy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(report: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = report["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["Vulnerabilities"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            format!(
                "{} {} {}",
                v["PkgName"].as_str().unwrap(),
                v["VulnerabilityID"].as_str().unwrap(),
                v["Status"].as_str().unwrap_or("")
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn real_trivy_reads_our_db_and_image_by_version_order_and_status() {
    let dir = tempfile::tempdir().unwrap();
    db().write(dir.path(), Utc::now()).unwrap();
    let pkgs = ["openssl", "libssl1.1"].map(|n| Package {
        name: n.into(),
        source: "openssl".into(),
        version: "1.1.1d-0+deb10u6".into(),
    });
    let img = dir.path().join("img.tar");
    let layer = Layer::build(&debian_rootfs("10.10", &pkgs), "test").unwrap();
    write_docker_archive(
        &img,
        "sample:latest",
        &Image::build(Platform::AMD64, vec![layer]),
    )
    .unwrap();
    let all = scan(&img, dir.path(), false);
    assert_eq!(all["Metadata"]["OS"]["Family"], "debian");
    assert_eq!(
        ids(&all),
        vec![
            "libssl1.1 SAMPLE-2021-0001 fixed",
            "libssl1.1 SAMPLE-2021-0003 affected",
            "openssl SAMPLE-2021-0001 fixed",
            "openssl SAMPLE-2021-0003 affected",
        ],
        "0002 is fixed in a lower version than installed, so it is not reported"
    );
    let fixable = scan(&img, dir.path(), true);
    assert_eq!(
        ids(&fixable),
        vec![
            "libssl1.1 SAMPLE-2021-0001 fixed",
            "openssl SAMPLE-2021-0001 fixed"
        ]
    );
}
