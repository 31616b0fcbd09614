//! Committed reference facts (`datasets/reference/`): the published study's figures, the
//! dates deprecation notices appeared, and release end-of-life dates. Shared by the stages
//! that use them (scan: EOL; join: deprecation dates; report: the study), so that no stage
//! imports another. Each loader takes the reference folder and names the file in its errors.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The study's figures (`study-2021.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Study {
    pub study: StudyMeta,
    pub deprecated: Vec<StudyDeprecated>,
    #[serde(default)]
    pub vulnerable: Vec<StudyVulnerable>,
}

/// An image of the study's finding 3 (over the threshold with `--ignore-unfixed`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyVulnerable {
    pub name: String,
    pub tag: String,
    pub fixable: i64,
}

/// The study's method facts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyMeta {
    pub title: String,
    pub published: NaiveDate,
    pub images_listed: u32,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub scanner: String,
    pub vulnerable_threshold: u32,
}

/// A deprecated image of the study's appendix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyDeprecated {
    pub name: String,
    pub targets: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Loads the study's figures.
pub fn load_study(folder: &Path) -> Result<Study> {
    let path = &folder.join("study-2021.toml");
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| Error::data(path.display().to_string(), e.message()))
}

/// Loads `deprecations.csv`: name → deprecated_since.
pub fn load_deprecations(folder: &Path) -> Result<BTreeMap<String, NaiveDate>> {
    let path = &folder.join("deprecations.csv");
    let ctx = || path.display().to_string();
    let mut reader = csv::Reader::from_path(path).map_err(|e| Error::data(ctx(), e))?;
    let mut out = BTreeMap::new();
    for record in reader.records() {
        let r = record.map_err(|e| Error::data(ctx(), e))?;
        let date = crate::dates::parse_date("deprecated_since", r.get(1).unwrap_or_default())
            .map_err(|e| Error::data(ctx(), e))?;
        out.insert(r.get(0).unwrap_or_default().to_string(), date);
    }
    Ok(out)
}

/// End-of-life dates: (family, release) → date.
pub type EolTable = HashMap<(String, String), NaiveDate>;

/// Loads `eol.csv` (`family,release,eol,extended_until`).
pub fn load_eol(folder: &Path) -> Result<EolTable> {
    let path = &folder.join("eol.csv");
    let ctx = || path.display().to_string();
    let mut reader = csv::Reader::from_path(path).map_err(|e| Error::data(ctx(), e))?;
    let mut table = EolTable::new();
    for rec in reader.records() {
        let r = rec.map_err(|e| Error::data(ctx(), e))?;
        let date = crate::dates::parse_date("eol", r.get(2).unwrap_or_default())
            .map_err(|e| Error::data(ctx(), e))?;
        table.insert(
            (
                r.get(0).unwrap_or_default().to_string(),
                r.get(1).unwrap_or_default().to_string(),
            ),
            date,
        );
    }
    Ok(table)
}
