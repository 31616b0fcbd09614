//! Package inventories: an image's package list as Trivy found it, kept so the image can be
//! matched against another DB later without analysing it again.
//!
//! Words: an *inventory* is a Trivy JSON report (`--format json --list-all-pkgs`) with the
//! vulnerabilities taken out and the run-specific fields (`ReportID`, `CreatedAt`, local paths)
//! replaced: the OS and every package of every result, in Trivy's own field names. It is the
//! image's SBOM in Trivy's format, written once per image digest
//! (`1_raw/sbom/sha256-HEX.trivy.json`); `trivy convert --format cyclonedx FILE` turns it into
//! CycloneDX for other tools. A *rescan* sends it to the run's `trivy server` as the cache
//! entries a client would have uploaded (`PutArtifact`, `PutBlob`) and asks the server to
//! `Scan` them: the same detection code as an image scan, without a process or an analysis.
//!
//! The RPC messages are Trivy's Twirp JSON (proto field names) of `rpc/cache` and
//! `rpc/scanner`, read off the descriptors compiled into Trivy 0.76; the scan tests compare a
//! rescan with an image analysis finding by finding, so a change of protocol fails a test.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{stable_target, status_name, Finding, Report};

/// What an inventory keeps of a printed report (vulnerabilities are skipped while parsing).
#[derive(Deserialize)]
struct Printed {
    #[serde(rename = "SchemaVersion", default)]
    schema_version: Value,
    #[serde(rename = "ArtifactType", default)]
    artifact_type: Value,
    #[serde(rename = "Metadata", default)]
    metadata: Option<PrintedMetadata>,
    #[serde(rename = "Results", default)]
    results: Option<Vec<PrintedResult>>,
}

#[derive(Deserialize, Default)]
struct PrintedMetadata {
    #[serde(rename = "OS", default)]
    os: Value,
    #[serde(rename = "ImageID", default)]
    image_id: Value,
    #[serde(rename = "DiffIDs", default)]
    diff_ids: Value,
}

#[derive(Deserialize)]
struct PrintedResult {
    #[serde(rename = "Target", default)]
    target: String,
    #[serde(rename = "Class", default)]
    class: Option<String>,
    #[serde(rename = "Type", default)]
    kind: Value,
    #[serde(rename = "Packages", default)]
    packages: Option<Vec<Value>>,
}

/// The inventory of a Trivy JSON report as printed: its OS and packages without
/// vulnerabilities. `artifact` replaces `ArtifactName` (a tarball path or pulled reference) so
/// that the file depends only on the image.
pub fn from_printed(printed: &[u8], artifact: &str) -> Result<Value, String> {
    // serde reads a struct from an array too, by position: a pre-0.20 report (a top-level
    // array) would become an inventory whose SchemaVersion is its first result.
    if !starts_with_object(printed) {
        return Err(format!(
            "the report is not a Trivy JSON report (a JSON object was expected; the output starts with {:?})",
            String::from_utf8_lossy(&printed[..printed.len().min(60)])
        ));
    }
    let p: Printed = serde_json::from_slice(printed)
        .map_err(|e| format!("the report is not a Trivy JSON report ({e})"))?;
    let results: Vec<Value> = p
        .results
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            json!({
                "Target": stable_target(&r.target, r.class.as_deref()),
                "Class": r.class,
                "Type": r.kind,
                "Packages": r.packages.unwrap_or_default(),
            })
        })
        .collect();
    let meta = p.metadata.unwrap_or_default();
    Ok(json!({
        "SchemaVersion": p.schema_version,
        "ArtifactName": artifact,
        "ArtifactType": p.artifact_type,
        "Metadata": {"OS": meta.os, "ImageID": meta.image_id, "DiffIDs": meta.diff_ids},
        "Results": results,
    }))
}

/// Whether the first byte that is not whitespace opens a JSON object.
fn starts_with_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The number of packages an inventory holds.
pub fn package_count(inventory: &Value) -> usize {
    inventory["Results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| r["Packages"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

/// The `BlobInfo` (`rpc/cache`) a client would upload for the image: OS packages as one
/// package database, language packages as one application per result.
pub fn blob_info(inventory: &Value) -> Result<Value, String> {
    let results = inventory["Results"]
        .as_array()
        .ok_or("the inventory has no Results array")?;
    let mut package_infos = Vec::new();
    let mut applications = Vec::new();
    for r in results {
        let packages: Vec<Value> = r["Packages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(package)
            .collect();
        match r["Class"].as_str() {
            Some("os-pkgs") => package_infos.push(json!({
                "file_path": os_database(r["Type"].as_str().unwrap_or_default()),
                "packages": packages,
            })),
            Some("lang-pkgs") => applications.push(json!({
                "type": r["Type"],
                "file_path": r["Target"],
                "packages": packages,
            })),
            // secrets, licenses, misconfigurations: not part of a vulnerability scan
            _ => {}
        }
    }
    let os = &inventory["Metadata"]["OS"];
    let mut blob = json!({
        "schema_version": 2,
        "package_infos": package_infos,
        "applications": applications,
    });
    if os.is_object() {
        blob["os"] = json!({
            "family": os["Family"],
            "name": os["Name"],
            "extended": os["Extended"].as_bool().unwrap_or(false),
        });
    }
    Ok(blob)
}

/// Where an OS family keeps its package database; Trivy records the path with the packages.
fn os_database(family: &str) -> &'static str {
    match family {
        "alpine" | "wolfi" | "chainguard" => "lib/apk/db/installed",
        "debian" | "ubuntu" => "var/lib/dpkg/status",
        _ => "var/lib/rpm/Packages",
    }
}

/// One package of a Trivy JSON report as a `common.Package` message.
fn package(p: &Value) -> Value {
    let mut out = Map::new();
    let text = |k: &str| p[k].as_str().map(|s| Value::String(s.to_string()));
    for (from, to) in [
        ("ID", "id"),
        ("Name", "name"),
        ("Version", "version"),
        ("Release", "release"),
        ("Arch", "arch"),
        ("SrcName", "src_name"),
        ("SrcVersion", "src_version"),
        ("SrcRelease", "src_release"),
        ("FilePath", "file_path"),
        ("Digest", "digest"),
        ("Maintainer", "maintainer"),
        ("AnalyzedBy", "analyzed_by"),
        // Red Hat module streams and content sets take part in matching
        ("Modularitylabel", "modularitylabel"),
    ] {
        if let Some(v) = text(from) {
            out.insert(to.into(), v);
        }
    }
    for (from, to) in [("Epoch", "epoch"), ("SrcEpoch", "src_epoch")] {
        if let Some(n) = p[from].as_i64() {
            out.insert(to.into(), json!(n));
        }
    }
    for (from, to) in [("Dev", "dev"), ("Indirect", "indirect")] {
        if let Some(b) = p[from].as_bool() {
            out.insert(to.into(), json!(b));
        }
    }
    if let Some(l) = p["Licenses"].as_array() {
        out.insert("licenses".into(), Value::Array(l.clone()));
    }
    let id = &p["Identifier"];
    if id.is_object() {
        out.insert(
            "identifier".into(),
            json!({"purl": id["PURL"].as_str().unwrap_or_default(), "uid": id["UID"].as_str().unwrap_or_default(), "bom_ref": id["BOMRef"].as_str().unwrap_or_default()}),
        );
    }
    let layer = &p["Layer"];
    if layer.is_object() {
        out.insert(
            "layer".into(),
            json!({"digest": layer["Digest"].as_str().unwrap_or_default(), "diff_id": layer["DiffID"].as_str().unwrap_or_default()}),
        );
    }
    if let Some(class) = p["Repository"]["Class"].as_str() {
        out.insert("repository".into(), json!({ "class": class }));
    }
    let bi = &p["BuildInfo"];
    if bi.is_object() {
        out.insert(
            "build_info".into(),
            json!({"content_sets": bi["ContentSets"].as_array().cloned().unwrap_or_default(), "nvr": bi["Nvr"].as_str().unwrap_or_default(), "arch": bi["Arch"].as_str().unwrap_or_default()}),
        );
    }
    Value::Object(out)
}

/// The `ArtifactInfo` (`rpc/cache`) of an inventory's image.
pub fn artifact_info() -> Value {
    json!({"schema_version": 1, "os": "linux"})
}

/// The `ScanRequest` (`rpc/scanner`) of a vulnerability scan of OS and language packages.
pub fn scan_request(target: &str, artifact_id: &str, blob_id: &str) -> Value {
    json!({
        "target": target,
        "artifact_id": artifact_id,
        "blob_ids": [blob_id],
        "options": {"pkg_types": ["os", "library"], "scanners": ["vuln"]},
    })
}

#[derive(Deserialize)]
struct ScanAnswer {
    #[serde(default)]
    os: Option<AnswerOs>,
    #[serde(default)]
    results: Option<Vec<AnswerResult>>,
}

#[derive(Deserialize)]
struct AnswerOs {
    #[serde(default)]
    family: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    eosl: bool,
}

#[derive(Deserialize)]
struct AnswerResult {
    #[serde(default)]
    target: String,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    vulnerabilities: Option<Vec<AnswerVuln>>,
}

/// A vulnerability of a `ScanResponse`; the rest of the message is skipped while parsing.
#[derive(Deserialize)]
struct AnswerVuln {
    #[serde(default)]
    vulnerability_id: String,
    #[serde(default)]
    pkg_name: String,
    #[serde(default)]
    installed_version: String,
    #[serde(default)]
    fixed_version: String,
    #[serde(default)]
    status: i64,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    title: String,
}

/// The findings of a `ScanResponse` (as the server sent it), as [`super::parse_report`]
/// reads a JSON report.
pub fn report_from_scan(answer: &[u8]) -> Result<Report, String> {
    // serde reads a struct from an array too, by position: `[]` would be an answer with no
    // findings, i.e. a clean image.
    if !starts_with_object(answer) {
        return Err(format!(
            "the scan answer is not a ScanResponse (a JSON object was expected): {}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        ));
    }
    let a: ScanAnswer = serde_json::from_slice(answer).map_err(|e| {
        format!(
            "the scan answer is not a ScanResponse ({e}): {}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        )
    })?;
    let os = a.os;
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut report = Report {
        schema: "rpc".into(),
        os_family: os.as_ref().and_then(|o| some(&o.family)),
        os_name: os.as_ref().and_then(|o| some(&o.name)),
        eosl: os.as_ref().is_some_and(|o| o.eosl),
        image_id: None,
        findings: Vec::new(),
    };
    for r in a.results.unwrap_or_default() {
        let target = stable_target(&r.target, r.class.as_deref());
        for v in r.vulnerabilities.unwrap_or_default() {
            if v.vulnerability_id.is_empty() {
                return Err("the scan answer holds a finding without an id".into());
            }
            report.findings.push(Finding {
                vulnerability_id: v.vulnerability_id,
                pkg_name: v.pkg_name,
                installed_version: v.installed_version,
                fixed_version: some(&v.fixed_version),
                status: status_name(v.status).to_string(),
                severity: v.severity.unwrap_or_else(|| "UNKNOWN".into()),
                title: some(&v.title),
                target: target.clone(),
                class: r.class.clone(),
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        json!({
            "SchemaVersion": 2, "ReportID": "r-1", "CreatedAt": "2026-01-01T00:00:00Z",
            "ArtifactName": "/tmp/work/nuxeo/latest.tar", "ArtifactType": "container_image",
            "Metadata": {"OS": {"Family": "debian", "Name": "10.10", "EOSL": true}, "ImageID": "sha256:c", "DiffIDs": ["sha256:a", "sha256:b"], "RepoTags": ["nuxeo:latest"]},
            "Results": [
                {"Target": "/tmp/work/nuxeo/latest.tar (debian 10.10)", "Class": "os-pkgs", "Type": "debian",
                 "Packages": [{"ID": "libssl1.1@1.1.1d-0+deb10u6", "Name": "libssl1.1", "Version": "1.1.1d", "Release": "0+deb10u6", "Epoch": 1,
                               "SrcName": "openssl", "SrcVersion": "1.1.1d", "SrcRelease": "0+deb10u6", "Arch": "amd64",
                               "Identifier": {"PURL": "pkg:deb/debian/libssl1.1@1.1.1d-0%2Bdeb10u6", "UID": "u1"}, "Layer": {"DiffID": "sha256:b"}}],
                 "Vulnerabilities": [{"VulnerabilityID": "CVE-1"}]},
                {"Target": "Java", "Class": "lang-pkgs", "Type": "jar",
                 "Packages": [{"Name": "log4j:log4j", "Version": "1.2.17", "FilePath": "opt/lib/log4j-1.2.17.jar"}]}
            ]
        })
    }

    #[test]
    fn an_inventory_keeps_os_and_packages_and_drops_what_varies() {
        let inv = from_printed(
            &serde_json::to_vec(&report()).unwrap(),
            "library/nuxeo@sha256:d",
        )
        .unwrap();
        assert_eq!(inv["ArtifactName"], "library/nuxeo@sha256:d");
        assert!(inv.get("ReportID").is_none() && inv.get("CreatedAt").is_none());
        assert_eq!(inv["Results"][0]["Target"], "debian 10.10");
        assert!(inv["Results"][0].get("Vulnerabilities").is_none());
        assert_eq!(inv["Metadata"]["OS"]["Name"], "10.10");
        assert_eq!(package_count(&inv), 2);
        assert!(
            !inv.to_string().contains("/tmp/work"),
            "no local path survives"
        );
    }

    #[test]
    fn blob_info_maps_trivy_field_names_to_the_rpc_messages() {
        let blob = blob_info(&from_printed(&serde_json::to_vec(&report()).unwrap(), "x").unwrap())
            .unwrap();
        assert_eq!(blob["os"]["family"], "debian");
        let p = &blob["package_infos"][0]["packages"][0];
        assert_eq!(blob["package_infos"][0]["file_path"], "var/lib/dpkg/status");
        assert_eq!(
            (
                p["name"].as_str(),
                p["src_name"].as_str(),
                p["release"].as_str(),
                p["epoch"].as_i64()
            ),
            (
                Some("libssl1.1"),
                Some("openssl"),
                Some("0+deb10u6"),
                Some(1)
            )
        );
        assert_eq!(p["identifier"]["uid"], "u1");
        assert_eq!(p["layer"]["diff_id"], "sha256:b");
        let app = &blob["applications"][0];
        assert_eq!(
            (app["type"].as_str(), app["file_path"].as_str()),
            (Some("jar"), Some("Java"))
        );
        assert_eq!(app["packages"][0]["file_path"], "opt/lib/log4j-1.2.17.jar");
    }

    #[test]
    fn scan_answers_become_findings_with_status_names() {
        let resp = json!({"os": {"family": "debian", "name": "10.10", "eosl": true}, "results": [
            {"target": "library/nuxeo@sha256:d (debian 10.10)", "class": "os-pkgs", "type": "debian", "vulnerabilities": [
                {"vulnerability_id": "CVE-1", "pkg_name": "libssl1.1", "installed_version": "1.1.1d-0+deb10u6", "fixed_version": "1.1.1d-0+deb10u7", "status": 3, "severity": "HIGH", "title": "t"},
                {"vulnerability_id": "CVE-2", "pkg_name": "libssl1.1", "installed_version": "1.1.1d-0+deb10u6", "fixed_version": "", "status": 2, "severity": "LOW"}]}]});
        let r = report_from_scan(&serde_json::to_vec(&resp).unwrap()).unwrap();
        assert_eq!((r.os_name.as_deref(), r.eosl), (Some("10.10"), true));
        assert_eq!(r.findings.len(), 2);
        assert_eq!(r.findings[0].target, "debian 10.10");
        assert!(r.findings[0].fixable() && !r.findings[1].fixable());
        assert_eq!(
            (r.findings[0].status.as_str(), r.findings[1].status.as_str()),
            ("fixed", "affected")
        );
        assert!(report_from_scan(b"<html>")
            .unwrap_err()
            .contains("not a ScanResponse"));
    }

    #[test]
    fn a_legacy_array_is_no_inventory() {
        // Found by the property test (tests/properties.rs): the embedded pre-0.20 report with
        // `1e999` inserted into a key became an inventory whose SchemaVersion was its first
        // result and whose ArtifactType was its second (serde reads structs from arrays).
        let input = br#"[{"1e999Target":"alpine:3.9 (alpine 3.9.4)","Type":"alpine","Class":"os-pkgs","Vulnerabilities":[{"VulnerabilityID":"CVE-2019-14697","PkgName":"musl","InstalledVersion":"1.1.20-r4","FixedVersion":"1.1.20-r5","Severity":"CRITICAL","Title":"musl: x87 stack imbalance"},{"VulnerabilityID":"CVE-2019-1549","PkgName":"libcrypto1.1","InstalledVersion":"1.1.1b-r1","Severity":"MEDIUM"}]},{"Target":"node-pkg","Type":"node-pkg","Class":"lang-pkgs","Vulnerabilities":null}]"#;
        let e = from_printed(input, "library/nuxeo@sha256:d").unwrap_err();
        assert!(
            e.contains("a JSON object was expected")
                && e.contains(r#"starts with "[{\"1e999Target"#),
            "{e}"
        );
    }

    #[test]
    fn an_array_is_no_scan_answer() {
        // Found by the property test (tests/properties.rs): a real report re-keyed as a scan
        // answer and wrapped in an array was read as an answer without findings (a clean image).
        let input = br#"[{"os":{"eosl":false,"family":"debian","name":"10.1"}}]"#;
        let e = report_from_scan(input).unwrap_err();
        assert!(
            e.contains("a JSON object was expected") && e.contains(r#"[{"os":"#),
            "{e}"
        );
        assert!(report_from_scan(b"[]").is_err());
    }
}
