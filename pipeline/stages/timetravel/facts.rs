//! Compact fact tables of a time-travel run's real inputs, small enough to commit
//! (`datasets/reference/timetravel-DATE/`), so that a clone without the public histories can
//! recompute the same counts: `hubaudit timetravel --export-facts DIR` writes them from the
//! histories, `--facts DIR` reads them instead of the histories, and `sample run` reads the
//! embedded copy for the study's date.
//!
//! - `inventories.csv`: per catalogued image, the package list used: how it was chosen
//!   (`exact`, `sibling`, `proxy`), repo-info path, commit (empty for a folder copy), sha256 of
//!   the file, title, image id and build time.
//! - `packages.csv`: per file, every binary package: kind, name, version, arch, source package
//!   and source version.
//! - `advisories.csv`: per DSA/DLA annotation: list, id, date, release, source package, fixed
//!   version or `<state>`, CVE ids (space-separated). Only releases the inventories use.
//! - `tracker.csv`: the tracker files read: path, commit, sha256, and the date they were read
//!   for (the tables are bound to it).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::repo_info::{Inventory, Kind, Package};
use super::tracker::{Advisory, Annotation, Fix, List};
use crate::error::{Error, Result};

/// How an image's package list was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryRow {
    pub name: String,
    pub tag: String,
    /// `exact` (the chosen tag's file), `sibling` (another tag of the same image), `proxy`
    /// (`--inventory`: a stand-in).
    pub how: String,
    pub file: String,
    pub commit: String,
    pub sha256: String,
    pub title: String,
    pub image_id: String,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PackageRow {
    file: String,
    kind: String,
    package: String,
    version: String,
    arch: String,
    source: String,
    source_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AdvisoryRow {
    list: String,
    id: String,
    date: NaiveDate,
    release: String,
    package: String,
    fix: String,
    cves: String,
}

/// A tracker file read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerRow {
    pub file: String,
    pub commit: String,
    pub sha256: String,
    /// The date the file was read for.
    pub as_of: NaiveDate,
}

/// Everything a run needs, from the histories or from the fact tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// name → (how it was chosen, the list).
    pub inventories: BTreeMap<String, (InventoryRow, Inventory)>,
    pub dsa: Vec<Advisory>,
    pub dla: Vec<Advisory>,
    pub tracker: Vec<TrackerRow>,
}

fn to_csv<T: Serialize>(rows: impl IntoIterator<Item = T>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)
            .map_err(|e| Error::internal("writing a fact table", e))?;
    }
    w.into_inner()
        .map_err(|e| Error::internal("writing a fact table", e))
}

fn from_csv<T: for<'de> Deserialize<'de>>(text: &str, context: &str) -> Result<Vec<T>> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .enumerate()
        .map(|(n, r)| r.map_err(|e| Error::data(format!("{context} row {}", n + 1), e)))
        .collect()
}

impl Facts {
    /// The four tables as (file name, bytes), keeping only advisories of `releases` (code
    /// names).
    pub fn tables(&self, releases: &[&str]) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let inventories = to_csv(self.inventories.values().map(|(row, _)| row))?;
        let mut files: BTreeMap<&str, &Inventory> = BTreeMap::new();
        for (row, inv) in self.inventories.values() {
            files.insert(&row.file, inv);
        }
        let packages = to_csv(files.iter().flat_map(|(file, inv)| {
            inv.packages.iter().map(move |p| PackageRow {
                file: file.to_string(),
                kind: p.kind.as_str().into(),
                package: p.name.clone(),
                version: p.version.clone(),
                arch: p.arch.clone().unwrap_or_default(),
                source: p.source.clone(),
                source_version: p.source_version.clone(),
            })
        }))?;
        let advisories = to_csv(self.dsa.iter().chain(&self.dla).flat_map(|a| {
            a.annotations
                .iter()
                .filter(|n| n.release.as_deref().is_some_and(|r| releases.contains(&r)))
                .map(move |n| AdvisoryRow {
                    list: a.list.as_str().into(),
                    id: a.id.clone(),
                    date: a.date,
                    release: n.release.clone().unwrap_or_default(),
                    package: n.package.clone(),
                    fix: n.fix.text(),
                    cves: a.cves.join(" "),
                })
        }))?;
        let tracker = to_csv(&self.tracker)?;
        Ok(vec![
            ("inventories.csv", inventories),
            ("packages.csv", packages),
            ("advisories.csv", advisories),
            ("tracker.csv", tracker),
        ])
    }

    /// Reads the tables `read(FILE)` gives (`context` names the folder in errors).
    pub fn parse(read: &dyn Fn(&str) -> Result<String>, context: &str) -> Result<Facts> {
        let ctx = |f: &str| format!("{context}/{f}");
        let rows: Vec<InventoryRow> = from_csv(&read("inventories.csv")?, &ctx("inventories.csv"))?;
        let packages: Vec<PackageRow> = from_csv(&read("packages.csv")?, &ctx("packages.csv"))?;
        let mut by_file: BTreeMap<String, Vec<Package>> = BTreeMap::new();
        for p in packages {
            let kind = Kind::parse(&p.kind).ok_or_else(|| {
                Error::data(ctx("packages.csv"), format!("unknown kind {:?}", p.kind))
            })?;
            by_file.entry(p.file).or_default().push(Package {
                kind,
                name: p.package,
                version: p.version,
                arch: (!p.arch.is_empty()).then_some(p.arch),
                source: p.source,
                source_version: p.source_version,
            });
        }
        let mut inventories = BTreeMap::new();
        for row in rows {
            let mut packages = by_file.get(&row.file).cloned().unwrap_or_default();
            packages.sort();
            let inv = Inventory {
                title: row.title.clone(),
                image_id: (!row.image_id.is_empty()).then(|| row.image_id.clone()),
                created: crate::dates::parse_timestamp(&row.created),
                packages,
            };
            inventories.insert(row.name.clone(), (row, inv));
        }
        let mut dsa: Vec<Advisory> = Vec::new();
        let mut dla: Vec<Advisory> = Vec::new();
        let adv: Vec<AdvisoryRow> = from_csv(&read("advisories.csv")?, &ctx("advisories.csv"))?;
        for r in adv {
            let (list, out) = match r.list.as_str() {
                "DSA" => (List::Dsa, &mut dsa),
                "DLA" => (List::Dla, &mut dla),
                other => {
                    return Err(Error::data(
                        ctx("advisories.csv"),
                        format!("list {other:?} is neither DSA nor DLA"),
                    ))
                }
            };
            let fix = Fix::parse(&r.fix).ok_or_else(|| {
                Error::data(ctx("advisories.csv"), format!("{}: fix {:?}", r.id, r.fix))
            })?;
            let annotation = Annotation {
                release: Some(r.release),
                package: r.package,
                fix,
                urgency: None,
            };
            match out.last_mut().filter(|a| a.id == r.id) {
                Some(a) => a.annotations.push(annotation),
                None => out.push(Advisory {
                    list,
                    id: r.id,
                    date: r.date,
                    cves: r.cves.split_whitespace().map(String::from).collect(),
                    annotations: vec![annotation],
                }),
            }
        }
        let tracker = from_csv(&read("tracker.csv")?, &ctx("tracker.csv"))?;
        Ok(Facts {
            inventories,
            dsa,
            dla,
            tracker,
        })
    }

    /// Reads the tables of `dir`.
    pub fn load(dir: &Path) -> Result<Facts> {
        Facts::parse(
            &|f| {
                let p = dir.join(f);
                std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
            },
            &dir.display().to_string(),
        )
    }

    /// The copy compiled into the binary (the study's date, from the real inputs).
    pub fn embedded() -> Result<Facts> {
        Facts::parse(
            &|f| {
                EMBEDDED
                    .iter()
                    .find(|(n, _)| *n == f)
                    .map(|(_, t)| t.to_string())
                    .ok_or_else(|| Error::internal("embedded facts", format!("no {f}")))
            },
            &format!("embedded datasets/reference/{EMBEDDED_DIR}"),
        )
    }
}

/// The folder of the embedded fact tables, below `datasets/reference/`.
pub const EMBEDDED_DIR: &str = "timetravel-2021-08-24";
/// The date the embedded fact tables are for.
pub const EMBEDDED_DATE: &str = "2021-08-24";

const EMBEDDED: &[(&str, &str)] = &[
    (
        "inventories.csv",
        include_str!("../../../datasets/reference/timetravel-2021-08-24/inventories.csv"),
    ),
    (
        "packages.csv",
        include_str!("../../../datasets/reference/timetravel-2021-08-24/packages.csv"),
    ),
    (
        "advisories.csv",
        include_str!("../../../datasets/reference/timetravel-2021-08-24/advisories.csv"),
    ),
    (
        "tracker.csv",
        include_str!("../../../datasets/reference/timetravel-2021-08-24/tracker.csv"),
    ),
];
