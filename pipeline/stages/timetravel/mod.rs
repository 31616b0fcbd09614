//! `timetravel`: a past date's vulnerability counts recomputed from public history. Trivy
//! keeps no dated DBs (its issue #3123) and registries no longer serve old images, but public
//! history holds both halves: what was inside each image (docker-library/repo-info's package
//! lists) and what was known and fixed on each day (the Debian security tracker).
//!
//! For every image of the catalog at D (the latest `2_staged/repositories`/`tags` snapshot on
//! or before D) with its chosen tag (the scan's rule: `latest`, else the newest):
//! 1. **inventory**: `repos/NAME/local/TAG.md` of repo-info as of D; else the file of another
//!    tag of the same image (same digest in the catalog, or the same library entry with
//!    `--official-images`); else `--inventory NAME=PATH`, a documented stand-in ("proxy").
//!    Without one the row says so (`no_inventory`), never a zero.
//! 2. **advisories as of D** ([`tracker::as_of`], mirroring trivy-db's Debian rules).
//!    Families without an advisory source here (Red Hat/CentOS, Alpine) get `no_source` rows.
//! 3. a **Trivy DB as of D**, written with the project's DB writer and kept in
//!    `1_raw/trivy-db/` like any other; each inventory becomes a root filesystem holding
//!    `var/lib/dpkg/status` and the release files, scanned offline by the real Trivy
//!    (`trivy rootfs`, measured against a CycloneDX SBOM in bench/RESULTS.md).
//! 4. writes `1_raw/timetravel`, `2_staged/timetravel_scans` and
//!    `2_staged/timetravel_findings` with `source = "timetravel"` and provenance on every row
//!    (repo-info file, commit and sha256; tracker commit or file sha256; DB digest; proxy).
//!
//! The inputs are the histories (`--repo-info`, `--security-tracker`: clones, or folders in
//! their layout) or their compact fact tables ([`facts`]; the embedded copy for the study's
//! date is what `run` and `sample run` use).

pub mod debver;
pub mod facts;
pub mod repo_info;
pub mod tracker;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::json;

use crate::catalog::{self, REPOSITORIES, TIMETRAVEL_FINDINGS, TIMETRAVEL_RAW, TIMETRAVEL_SCANS};
use crate::dag::Stage;
use crate::error::{Error, Result};
use crate::io::{command, jsonl, parquet as pq, partition};
use crate::sample::trivydb::{self, AdvisoryDb, DataSource, Vulnerability};
use crate::tables::{self, TagRow};
use crate::trivy::{self, db, Finding};
use facts::{Facts, InventoryRow, TrackerRow};
use repo_info::{Inventory, Kind, Os};
use tracker::{Known, List};
use tree::Tree;

/// Where the inputs come from.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// The histories: repo-info and the security tracker (clones or folders), and optionally
    /// official-images for the tags of one library entry.
    History {
        repo_info: PathBuf,
        tracker: PathBuf,
        official_images: Option<PathBuf>,
        /// `--inventory NAME=PATH`: a stand-in list (PATH inside repo-info).
        proxies: Vec<(String, String)>,
    },
    /// Fact tables exported from an earlier run (`--facts DIR`); None: the embedded ones.
    Facts(Option<PathBuf>),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub datasets: PathBuf,
    pub date: NaiveDate,
    pub inputs: Inputs,
    /// Trivy binary (already located).
    pub trivy: PathBuf,
    /// Per-scan timeout.
    pub timeout: Duration,
    /// Also write the fact tables of the inputs used here.
    pub export_facts: Option<PathBuf>,
    /// With embedded or exported facts for another date: skip (true, as `run` does) or refuse.
    pub skip_other_dates: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub date: Option<NaiveDate>,
    /// Why nothing was written (facts for another date, in `run`).
    pub skipped: Option<String>,
    pub images: usize,
    pub scanned: usize,
    pub no_inventory: usize,
    pub no_source: usize,
    pub failed: usize,
    pub db_digest: Option<String>,
    /// (name, fixable) of every image scanned.
    pub counts: Vec<(String, i64)>,
}

/// One row of `2_staged/timetravel_scans`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub name: String,
    pub tag: Option<String>,
    /// `ok`, `no_tag`, `no_inventory`, `no_os`, `no_source`, `failed`.
    pub status: String,
    /// Why the row has no count, or the caveats of its count.
    pub reason: Option<String>,
    pub inventory: Option<InventoryRow>,
    pub inventory_created: Option<DateTime<Utc>>,
    pub packages: Option<i64>,
    pub os: Option<Os>,
    /// The advisory source (`debian-security-tracker: DSA+DLA`).
    pub advisories: Option<String>,
    /// The tracker files read, with their commit or sha256.
    pub tracker: Option<String>,
    pub counts: Option<[i64; 6]>,
    pub fixable_counts: Option<[i64; 6]>,
    pub trivy_version: Option<String>,
    pub db_digest: Option<String>,
    pub db_updated_at: Option<DateTime<Utc>>,
    pub catalog_snapshot: Option<NaiveDate>,
}

/// The advisory sources there are: only Debian's tracker. Other families are a source
/// plug-in each (Alpine secdb, Red Hat errata / OVAL for CentOS and RHEL).
pub fn advisory_source(family: &str) -> Option<&'static str> {
    (family == "debian").then_some("debian-security-tracker")
}

/// The other tags naming the same image as `tag`: the same digest in the catalog (the same
/// library entry is added from `--official-images` when the inputs are read).
fn same_image(tags: &[TagRow], tag: &str) -> Vec<String> {
    let digest = tags
        .iter()
        .find(|t| t.tag == tag && t.digest.is_some())
        .and_then(|t| t.digest.clone());
    let mut out: BTreeSet<String> = BTreeSet::new();
    if let Some(d) = digest {
        out.extend(
            tags.iter()
                .filter(|t| t.digest.as_deref() == Some(d.as_str()))
                .map(|t| t.tag.clone()),
        );
    }
    out.remove(tag);
    out.into_iter().collect()
}

/// The path of the package list of `name:tag` in repo-info.
pub fn repo_info_path(name: &str, tag: &str) -> String {
    format!("repos/{name}/local/{tag}.md")
}

fn read_text(file: &tree::File) -> Result<String> {
    String::from_utf8(file.bytes.clone())
        .map_err(|e| Error::data(&file.path, format!("not UTF-8 text: {e}")))
}

/// Reads the inputs of the histories for the images `wanted` (name → tag, other tags).
fn facts_from_history(
    date: NaiveDate,
    repo_info: &Path,
    tracker_dir: &Path,
    official_images: Option<&Path>,
    proxies: &[(String, String)],
    wanted: &BTreeMap<String, (String, Vec<String>)>,
) -> Result<(Facts, Option<Vec<tracker::CveEntry>>)> {
    let mut info = Tree::open("--repo-info", repo_info, date)?;
    let mut sec = Tree::open("--security-tracker", tracker_dir, date)?;
    let mut library = official_images
        .map(|p| Tree::open("--official-images", p, date))
        .transpose()?;
    let proxies: BTreeMap<&str, &str> = proxies
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    for name in proxies.keys() {
        if !wanted.contains_key(*name) {
            return Err(Error::Input(format!(
                "--inventory {name}=…: {name} is not in the catalog at {date}"
            )));
        }
    }
    let mut inventories = BTreeMap::new();
    for (name, (tag, others)) in wanted {
        let mut others = others.clone();
        if let Some(lib) = library.as_mut() {
            if let Some(file) = lib.read(&format!("library/{name}"))? {
                let text = read_text(&file)?;
                let parsed = crate::library_file::parse(&text)
                    .map_err(|e| Error::data(format!("official-images library/{name}"), e))?;
                if let Some(entry) = parsed.entries.iter().find(|e| e.tags.contains(tag)) {
                    others.extend(entry.tags.iter().filter(|t| *t != tag).cloned());
                }
            }
        }
        let (how, candidates): (&str, Vec<String>) = match proxies.get(name.as_str()) {
            Some(path) => ("proxy", vec![path.to_string()]),
            None => {
                let mut c = vec![repo_info_path(name, tag)];
                c.extend(others.iter().map(|t| repo_info_path(name, t)));
                ("exact", c)
            }
        };
        let mut found = None;
        for (i, path) in candidates.iter().enumerate() {
            if let Some(file) = info.read(path)? {
                found = Some((
                    if how == "exact" && i > 0 {
                        "sibling"
                    } else {
                        how
                    },
                    file,
                ));
                break;
            }
        }
        let Some((how, file)) = found else {
            if how == "proxy" {
                return Err(Error::Input(format!(
                    "--inventory {name}={}: no such file in {}",
                    candidates[0],
                    info.describe()
                )));
            }
            continue;
        };
        let inv = repo_info::parse(&read_text(&file)?, &file.path)
            .map_err(|e| Error::data(&file.path, e))?;
        let row = InventoryRow {
            name: name.clone(),
            tag: tag.clone(),
            how: how.to_string(),
            file: file.path.clone(),
            commit: info.commit().unwrap_or_default().to_string(),
            sha256: file.sha256.clone(),
            title: inv.title.clone(),
            image_id: inv.image_id.clone().unwrap_or_default(),
            created: inv
                .created
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        };
        inventories.insert(name.clone(), (row, inv));
    }
    let mut lists: BTreeMap<List, Vec<tracker::Advisory>> = BTreeMap::new();
    let mut read_files = Vec::new();
    let commit = sec.commit().unwrap_or_default().to_string();
    let read_row = |file: &tree::File| TrackerRow {
        file: file.path.clone(),
        commit: commit.clone(),
        sha256: file.sha256.clone(),
        as_of: date,
    };
    for list in [List::Dsa, List::Dla] {
        let path = format!("data/{}/list", list.as_str());
        let file = sec.read(&path)?.ok_or_else(|| {
            Error::Input(format!(
                "--security-tracker: no {path} in {}; give a clone of the Debian security tracker (salsa.debian.org/security-tracker-team/security-tracker) or a folder in its layout",
                sec.describe()
            ))
        })?;
        let parsed = tracker::parse_list(list, &read_text(&file)?, &path)
            .map_err(|e| Error::data(&path, e))?;
        lists.insert(list, parsed);
        read_files.push(read_row(&file));
    }
    let cve = match sec.read("data/CVE/list")? {
        Some(file) => {
            read_files.push(read_row(&file));
            Some(
                tracker::parse_cve_list(&read_text(&file)?, &file.path)
                    .map_err(|e| Error::data(&file.path, e))?,
            )
        }
        None => None,
    };
    Ok((
        Facts {
            inventories,
            dsa: lists.remove(&List::Dsa).unwrap_or_default(),
            dla: lists.remove(&List::Dla).unwrap_or_default(),
            tracker: read_files,
        },
        cve,
    ))
}

/// The dpkg status file of an inventory, as Trivy's dpkg analyser reads it (`Source: NAME
/// (VERSION)` when the source version differs from the binary's).
pub fn dpkg_status(inv: &Inventory) -> String {
    let mut out = String::new();
    for p in inv.packages.iter().filter(|p| p.kind == Kind::Dpkg) {
        out.push_str(&format!(
            "Package: {}\nStatus: install ok installed\nArchitecture: {}\n",
            p.name,
            p.arch.as_deref().unwrap_or("all")
        ));
        if p.source != p.name || p.source_version != p.version {
            if p.source_version == p.version {
                out.push_str(&format!("Source: {}\n", p.source));
            } else {
                out.push_str(&format!("Source: {} ({})\n", p.source, p.source_version));
            }
        }
        out.push_str(&format!(
            "Version: {}\nDescription: from repo-info\n\n",
            p.version
        ));
    }
    out
}

/// The Trivy DB of what was known at D: one `debian N` bucket per release.
pub fn advisory_db(known: &BTreeMap<tracker::Key, Known>) -> AdvisoryDb {
    let mut db = AdvisoryDb::default();
    for ((major, pkg, id), k) in known {
        let platform = format!("debian {major}");
        let severity = k.severity.map(|s| match s {
            "LOW" => 1,
            "MEDIUM" => 2,
            _ => 3,
        });
        let advisory = trivydb::Advisory {
            fixed_version: k.fixed_version.clone(),
            status: k
                .state
                .as_deref()
                .map(tracker::status_code)
                .filter(|c| *c != 0),
            severity,
            vendor_ids: k.vendor_ids.clone(),
        };
        db.platforms
            .entry(platform.clone())
            .or_default()
            .entry(pkg.clone())
            .or_default()
            .insert(id.clone(), advisory);
        db.data_sources
            .entry(platform)
            .or_insert_with(|| DataSource {
                id: "debian".into(),
                name: "Debian Security Tracker".into(),
                url: "https://salsa.debian.org/security-tracker-team/security-tracker".into(),
            });
        db.vulnerabilities
            .entry(id.clone())
            .or_insert_with(|| Vulnerability {
                title: k.vendor_ids.join(" "),
                description: String::new(),
                severity: k.severity.unwrap_or("UNKNOWN").to_string(),
            });
    }
    db
}

/// The caveats of a count: what in its inputs makes it differ from a scan made on the day.
pub fn caveats(row: &Row, date: NaiveDate, cve_list: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(inv) = &row.inventory {
        if inv.how == "proxy" {
            out.push(format!(
                "inventory is a stand-in: {} ({}) lists that image, not this one's own packages",
                inv.file, inv.title
            ));
        }
        if inv.how == "sibling" {
            out.push(format!(
                "inventory of another tag of the same image: {}",
                inv.file
            ));
        }
        match row.inventory_created.map(|c| c.date_naive()) {
            Some(c) if c > date => out.push(format!(
                "inventory built {c}, after {date}: fixes released by then may already be in it (undercount)"
            )),
            Some(c) if (date - c).num_days() > 30 => out.push(format!(
                "inventory built {c}, {} days before {date}: an image rebuilt since would have newer packages (overcount)",
                (date - c).num_days()
            )),
            Some(_) => {}
            None => out.push("inventory has no build time".into()),
        }
    }
    if row.inventory.is_some() {
        out.push("OS packages only: repo-info lists no application libraries (jars, npm, PHP or Python packages), which a scan of the image itself also matches".into());
    }
    if !cve_list && row.status == "ok" {
        out.push("advisories dated only by DSA/DLA (no data/CVE/list): fixes shipped in point releases or never announced, and every unfixed state, are not counted; severities are unknown".into());
    }
    out
}

fn counts_of(findings: &[Finding]) -> ([i64; 6], [i64; 6]) {
    let all = crate::stages::scan::severity_counts(findings.iter());
    let fixable = crate::stages::scan::severity_counts(findings.iter().filter(|f| f.fixable()));
    (all, fixable)
}

/// Scans `inv` as a root filesystem with `trivy rootfs` against the DB in `cache`.
fn scan_rootfs(
    opts: &Options,
    cache: &Path,
    work: &Path,
    name: &str,
    inv: &Inventory,
    os: &Os,
) -> std::result::Result<(trivy::Report, serde_json::Value, String), String> {
    let dir = work.join(format!("rootfs-{name}"));
    let status = dpkg_status(inv);
    let write = |rel: &str, text: &str| -> std::result::Result<(), String> {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("etc/debian_version", &format!("{}\n", os.release))?;
    write(
        "etc/os-release",
        &format!(
            "PRETTY_NAME=\"Debian GNU/Linux {major}\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"{major}\"\nID=debian\n",
            major = os.major()
        ),
    )?;
    write("var/lib/dpkg/status", &status)?;
    let mut cmd = Command::new(&opts.trivy);
    cmd.args(["rootfs", "--format", "json"])
        .args(trivy::offline_flags(cache))
        .arg(&dir);
    let f = command::run(&mut cmd, opts.timeout).map_err(|e| format!("cannot run Trivy: {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    if f.timed_out {
        return Err(format!("trivy rootfs timed out after {:?}", opts.timeout));
    }
    if !f.success() {
        return Err(format!(
            "trivy rootfs exited {:?}: {}",
            f.code,
            command::stderr_excerpt(&f.stderr, 400)
        ));
    }
    let report = trivy::parse_report(&f.stdout)?;
    let raw: serde_json::Value =
        serde_json::from_slice(&f.stdout).map_err(|e| format!("Trivy's JSON: {e}"))?;
    Ok((report, raw, status))
}

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    let root = &opts.datasets;
    let snap = catalog::snapshot_on_or_before(root, &REPOSITORIES, opts.date).map_err(|e| match e {
        Error::Input(m) => Error::Input(format!(
            "{m}; for a past date, `hubaudit backfill --from {d} --to {d}` writes the catalog time travel needs",
            d = opts.date
        )),
        other => other,
    })?;
    let repos = tables::read_repositories(root, snap)?;
    let tags = tables::read_tags(root, snap)?;
    let mut by_repo: BTreeMap<&str, Vec<TagRow>> = BTreeMap::new();
    for t in &tags {
        by_repo
            .entry(t.repository.as_str())
            .or_default()
            .push(t.clone());
    }
    let mut chosen: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for r in &repos {
        let rows = by_repo.get(r.name.as_str()).cloned().unwrap_or_default();
        if let Some((tag, _, _)) = crate::stages::scan::choose_tag(&rows) {
            let others = same_image(&rows, &tag);
            chosen.insert(r.name.clone(), (tag, others));
        }
    }
    let (facts, cve) = match &opts.inputs {
        Inputs::History {
            repo_info,
            tracker,
            official_images,
            proxies,
        } => facts_from_history(
            opts.date,
            repo_info,
            tracker,
            official_images.as_deref(),
            proxies,
            &chosen,
        )?,
        Inputs::Facts(dir) => {
            let f = match dir {
                Some(d) => Facts::load(d)?,
                None => Facts::embedded()?,
            };
            let dates: BTreeSet<NaiveDate> = f.tracker.iter().map(|t| t.as_of).collect();
            if dates.iter().any(|d| *d != opts.date) {
                let why = format!(
                    "the fact tables ({}) are for {}, not {}; run `hubaudit timetravel --date {} --repo-info CLONE --security-tracker CLONE` for that date",
                    dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| format!("embedded datasets/reference/{}", facts::EMBEDDED_DIR)),
                    dates.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                    opts.date,
                    opts.date
                );
                if opts.skip_other_dates {
                    return Ok(Summary {
                        skipped: Some(why),
                        ..Summary::default()
                    });
                }
                return Err(Error::Input(why));
            }
            (f, None)
        }
    };
    // the releases the inventories are on: the DB holds those (the same from the histories
    // and from the fact tables, which keep only them)
    let releases: Vec<&str> = facts
        .inventories
        .values()
        .filter_map(|(_, inv)| inv.os())
        .filter(|os| os.family == "debian")
        .filter_map(|os| {
            tracker::RELEASES
                .iter()
                .find(|(_, m)| *m == os.major())
                .map(|(c, _)| *c)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if let Some(dir) = &opts.export_facts {
        if cve.is_some() {
            return Err(Error::Input(format!(
                "--export-facts {}: the fact tables hold DSA/DLA advisories only, and this tracker has data/CVE/list; run from the clone instead",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for (file, bytes) in facts.tables(&releases)? {
            partition::write_file_atomic(&dir.join(file), &bytes)?;
        }
    }
    let mut known = tracker::as_of(opts.date, cve.as_deref(), &facts.dla, &facts.dsa);
    let majors: BTreeSet<&str> = releases
        .iter()
        .filter_map(|c| tracker::major_of(c))
        .collect();
    known.retain(|(major, _, _), _| majors.contains(major.as_str()));
    let tracker_text = facts
        .tracker
        .iter()
        .map(|t| {
            if t.commit.is_empty() {
                format!("{} {}", t.file, t.sha256)
            } else {
                format!("{}@{}", t.file, t.commit)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let advisories_text = if cve.is_some() {
        "debian-security-tracker: CVE+DLA+DSA"
    } else {
        "debian-security-tracker: DLA+DSA"
    };

    // the DB as of D, kept like any other
    let work = partition::scratch(root, "timetravel", opts.date);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let result = (|| {
        let cache = work.join("cache");
        let updated =
            DateTime::<Utc>::from_naive_utc_and_offset(opts.date.and_time(NaiveTime::MIN), Utc);
        advisory_db(&known).write(&cache, updated)?;
        let info = db::inspect(&cache.join("db"))?;
        db::store(root, &cache.join("db"), &info)?;
        let prov = trivy::provenance(&opts.trivy, &cache)?;
        run_images(
            opts,
            &repos,
            &chosen,
            &facts,
            &known,
            &cache,
            &work,
            snap,
            &info,
            &prov,
            cve.is_some(),
            &tracker_text,
            advisories_text,
        )
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

#[allow(clippy::too_many_arguments)]
fn run_images(
    opts: &Options,
    repos: &[tables::RepoRow],
    chosen: &BTreeMap<String, (String, Vec<String>)>,
    facts: &Facts,
    known: &BTreeMap<tracker::Key, Known>,
    cache: &Path,
    work: &Path,
    snap: NaiveDate,
    info: &db::DbInfo,
    prov: &trivy::Provenance,
    cve_list: bool,
    tracker_text: &str,
    advisories_text: &str,
) -> Result<Summary> {
    let mut rows: Vec<Row> = Vec::new();
    let mut findings: Vec<(Row, Vec<Detailed>)> = Vec::new();
    let mut raw: Vec<serde_json::Value> = Vec::new();
    let bar = crate::io::progress::bar(repos.len() as u64, "timetravel");
    for r in repos {
        bar.inc(1);
        let mut row = Row {
            name: r.name.clone(),
            catalog_snapshot: Some(snap),
            db_digest: Some(info.digest.clone()),
            db_updated_at: info
                .updated_at
                .as_deref()
                .and_then(crate::dates::parse_timestamp),
            trivy_version: Some(prov.trivy_version.clone()),
            ..Row::default()
        };
        let Some((tag, _)) = chosen.get(&r.name) else {
            row.status = "no_tag".into();
            row.reason = Some(format!("no tag in the catalog snapshot {snap}"));
            rows.push(row);
            continue;
        };
        row.tag = Some(tag.clone());
        let Some((inv_row, inv)) = facts.inventories.get(&r.name) else {
            row.status = "no_inventory".into();
            row.reason = Some(format!(
                "no package list of {}:{tag} in repo-info as of {} (nor of another tag of the same image)",
                r.name, opts.date
            ));
            rows.push(row);
            continue;
        };
        row.inventory = Some(inv_row.clone());
        row.inventory_created = inv.created;
        row.packages = Some(inv.packages.len() as i64);
        let Some(os) = inv.os() else {
            row.status = "no_os".into();
            row.reason = Some(format!(
                "{}: no package tells the OS release (base-files, centos-release, alpine-baselayout)",
                inv_row.file
            ));
            rows.push(row);
            continue;
        };
        row.os = Some(os.clone());
        if advisory_source(&os.family).is_none() {
            row.status = "no_source".into();
            row.reason = Some(format!(
                "no advisory source for {} {} here: its {} packages are listed, but counting needs that family's advisories as of the date (a source plug-in: Red Hat errata/OVAL for CentOS, Alpine secdb)",
                os.family, os.release, inv.packages.len()
            ));
            rows.push(row);
            continue;
        }
        row.advisories = Some(advisories_text.to_string());
        row.tracker = Some(tracker_text.to_string());
        match scan_rootfs(opts, cache, work, &r.name, inv, &os) {
            Ok((report, report_raw, status)) => {
                let mut fs = report.findings;
                Finding::sort(&mut fs);
                let (all, fixable) = counts_of(&fs);
                row.counts = Some(all);
                row.fixable_counts = Some(fixable);
                row.status = "ok".into();
                let notes = caveats(&row, opts.date, cve_list);
                row.reason = (!notes.is_empty()).then(|| notes.join("; "));
                let source_of: BTreeMap<(&str, &str), &str> = inv
                    .packages
                    .iter()
                    .map(|p| ((p.name.as_str(), p.version.as_str()), p.source.as_str()))
                    .collect();
                let detailed = fs
                    .into_iter()
                    .map(|f| {
                        let src = source_of
                            .get(&(f.pkg_name.as_str(), f.installed_version.as_str()))
                            .map(|s| s.to_string());
                        let k = src.as_ref().and_then(|s| {
                            known.get(&(
                                os.major().to_string(),
                                s.clone(),
                                f.vulnerability_id.clone(),
                            ))
                        });
                        let ids = k.map(|k| k.vendor_ids.clone()).unwrap_or_default();
                        let date = k.and_then(|k| k.fix_date);
                        (f, src, ids, date)
                    })
                    .collect();
                raw.push(json!({"name": r.name, "tag": tag, "inventory": inv_row.file, "commit": inv_row.commit, "dpkg_status": status, "report": report_raw}));
                findings.push((row.clone(), detailed));
            }
            Err(e) => {
                row.status = "failed".into();
                row.reason = Some(e.clone());
                raw.push(
                    json!({"name": r.name, "tag": tag, "inventory": inv_row.file, "error": e}),
                );
            }
        }
        rows.push(row);
    }
    bar.finish_and_clear();
    let source = "timetravel";
    partition::write_partition(
        &opts.datasets,
        Stage::TimeTravel,
        &TIMETRAVEL_RAW,
        opts.date,
        source,
        |p| jsonl::write_gz(p, &raw),
    )?;
    let scans = scans_batch(&rows)?;
    partition::write_partition(
        &opts.datasets,
        Stage::TimeTravel,
        &TIMETRAVEL_SCANS,
        opts.date,
        source,
        |p| pq::write_batch(p, &scans),
    )?;
    let fb = findings_batch(&findings)?;
    partition::write_partition(
        &opts.datasets,
        Stage::TimeTravel,
        &TIMETRAVEL_FINDINGS,
        opts.date,
        source,
        |p| pq::write_batch(p, &fb),
    )?;
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    Ok(Summary {
        date: Some(opts.date),
        skipped: None,
        images: rows.len(),
        scanned: count("ok"),
        no_inventory: count("no_inventory"),
        no_source: count("no_source"),
        failed: count("failed"),
        db_digest: Some(info.digest.clone()),
        counts: rows
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.fixable_counts?[0])))
            .collect(),
    })
}

fn scans_batch(rows: &[Row]) -> Result<arrow_array::RecordBatch> {
    let s = |f: &dyn Fn(&Row) -> Option<String>| pq::strings_owned(rows.iter().map(f));
    let inv = |f: fn(&InventoryRow) -> &str| {
        move |r: &Row| {
            r.inventory
                .as_ref()
                .map(|i| f(i).to_string())
                .filter(|v| !v.is_empty())
        }
    };
    let mut cols: Vec<(&str, arrow_array::ArrayRef)> = vec![
        ("name", s(&|r| Some(r.name.clone()))),
        ("tag", s(&|r| r.tag.clone())),
        ("status", s(&|r| Some(r.status.clone()))),
        ("reason", s(&|r| r.reason.clone())),
        ("inventory", s(&inv(|i| &i.how))),
        ("inventory_file", s(&inv(|i| &i.file))),
        ("inventory_commit", s(&inv(|i| &i.commit))),
        ("inventory_sha256", s(&inv(|i| &i.sha256))),
        ("inventory_title", s(&inv(|i| &i.title))),
        ("inventory_image_id", s(&inv(|i| &i.image_id))),
        (
            "inventory_created",
            pq::timestamps(rows.iter().map(|r| r.inventory_created)),
        ),
        ("packages", pq::ints(rows.iter().map(|r| r.packages))),
        ("os_family", s(&|r| r.os.as_ref().map(|o| o.family.clone()))),
        ("os_name", s(&|r| r.os.as_ref().map(|o| o.release.clone()))),
        ("advisories", s(&|r| r.advisories.clone())),
        ("tracker", s(&|r| r.tracker.clone())),
    ];
    for (i, name) in tables::SEVERITY_COLUMNS.iter().enumerate() {
        cols.push((name, pq::ints(rows.iter().map(|r| r.counts.map(|c| c[i])))));
    }
    for (i, name) in tables::FIXABLE_COLUMNS.iter().enumerate() {
        cols.push((
            name,
            pq::ints(rows.iter().map(|r| r.fixable_counts.map(|c| c[i]))),
        ));
    }
    cols.extend([
        ("trivy_version", s(&|r| r.trivy_version.clone())),
        ("db_digest", s(&|r| r.db_digest.clone())),
        (
            "db_updated_at",
            pq::timestamps(rows.iter().map(|r| r.db_updated_at)),
        ),
        (
            "catalog_snapshot",
            pq::dates(rows.iter().map(|r| r.catalog_snapshot)),
        ),
        ("source", s(&|_| Some("timetravel".to_string()))),
    ]);
    pq::named(catalog::timetravel_scans_schema(), cols)
}

type Detailed = (Finding, Option<String>, Vec<String>, Option<NaiveDate>);

fn findings_batch(rows: &[(Row, Vec<Detailed>)]) -> Result<arrow_array::RecordBatch> {
    let flat: Vec<(&Row, &Detailed)> = rows
        .iter()
        .flat_map(|(r, fs)| fs.iter().map(move |f| (r, f)))
        .collect();
    let s = |f: &dyn Fn(&Row, &Detailed) -> Option<String>| {
        pq::strings_owned(flat.iter().map(|(r, d)| f(r, d)))
    };
    pq::named(
        catalog::timetravel_findings_schema(),
        vec![
            ("name", s(&|r, _| Some(r.name.clone()))),
            ("tag", s(&|r, _| r.tag.clone())),
            (
                "vulnerability_id",
                s(&|_, d| Some(d.0.vulnerability_id.clone())),
            ),
            ("pkg_name", s(&|_, d| Some(d.0.pkg_name.clone()))),
            ("source_package", s(&|_, d| d.1.clone())),
            (
                "installed_version",
                s(&|_, d| Some(d.0.installed_version.clone())),
            ),
            ("fixed_version", s(&|_, d| d.0.fixed_version.clone())),
            ("status", s(&|_, d| Some(d.0.status.clone()))),
            (
                "fixable",
                pq::bools(flat.iter().map(|(_, d)| d.0.fixable())),
            ),
            ("severity", s(&|_, d| Some(d.0.severity.clone()))),
            (
                "advisory_ids",
                pq::string_lists(flat.iter().map(|(_, d)| d.2.as_slice())),
            ),
            ("fix_released", pq::dates(flat.iter().map(|(_, d)| d.3))),
            ("source", s(&|_, _| Some("timetravel".to_string()))),
        ],
    )
}
