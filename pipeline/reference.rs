//! Committed reference facts (`datasets/reference/`): the published study's figures, the
//! dates deprecation notices appeared, and release end-of-life dates. Shared by the stages
//! that use them (scan: EOL; join: deprecation dates; report: the study), so that no stage
//! imports another.
//!
//! The files are compiled into the binary, so an installed `hubaudit` works from any folder. A
//! *reference folder* (`report.reference` in the config) overrides them file by file: a file it
//! holds is read from it, the others stay the embedded copies (an updated `eol.csv` alone is
//! enough). Each loader names the file it read, or `embedded FILE`, in its errors.

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

/// The reference files compiled into the binary.
const EMBEDDED: [(&str, &str); 3] = [
    (
        "study-2021.toml",
        include_str!("../datasets/reference/study-2021.toml"),
    ),
    (
        "deprecations.csv",
        include_str!("../datasets/reference/deprecations.csv"),
    ),
    ("eol.csv", include_str!("../datasets/reference/eol.csv")),
];

/// The text of reference file `file` and where it came from: `folder/file` when the folder
/// holds it, else the embedded copy. A folder that does not exist is bad input.
fn read(folder: Option<&Path>, file: &str) -> Result<(String, String)> {
    if let Some(dir) = folder {
        if !dir.is_dir() {
            return Err(Error::Input(format!(
                "reference folder {} does not exist; fix report.reference in the config, or remove it to use the facts compiled into hubaudit",
                dir.display()
            )));
        }
        let path = dir.join(file);
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            return Ok((text, path.display().to_string()));
        }
    }
    let (_, text) = EMBEDDED
        .iter()
        .find(|(name, _)| *name == file)
        .expect("every reference file is embedded");
    Ok((text.to_string(), format!("embedded {file}")))
}

/// Loads the study's figures.
pub fn load_study(folder: Option<&Path>) -> Result<Study> {
    let (text, origin) = read(folder, "study-2021.toml")?;
    toml::from_str(&text).map_err(|e| Error::data(origin, e.message()))
}

/// Loads `deprecations.csv`: name → deprecated_since.
pub fn load_deprecations(folder: Option<&Path>) -> Result<BTreeMap<String, NaiveDate>> {
    let (text, origin) = read(folder, "deprecations.csv")?;
    let ctx = || origin.clone();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
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
pub fn load_eol(folder: Option<&Path>) -> Result<EolTable> {
    let (text, origin) = read(folder, "eol.csv")?;
    let ctx = || origin.clone();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_facts_load_without_any_folder() {
        let study = load_study(None).unwrap();
        assert_eq!(study.study.images_listed, 167);
        assert!(load_deprecations(None).unwrap().contains_key("java"));
        assert!(load_eol(None)
            .unwrap()
            .contains_key(&("debian".to_string(), "10".to_string())));
    }

    #[test]
    fn a_folder_overrides_file_by_file_and_a_missing_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("eol.csv"),
            "family,release,eol,extended_until\ndebian,99,2099-01-01,\n",
        )
        .unwrap();
        let eol = load_eol(Some(dir.path())).unwrap();
        assert_eq!(
            eol.len(),
            1,
            "the folder's eol.csv replaces the embedded one"
        );
        assert_eq!(
            load_study(Some(dir.path())).unwrap().study.images_listed,
            167,
            "files the folder lacks stay embedded"
        );
        std::fs::write(
            dir.path().join("deprecations.csv"),
            "name,deprecated_since\nx,not-a-date\n",
        )
        .unwrap();
        let e = load_deprecations(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("deprecations.csv"), "{e}");
        let e = load_eol(Some(&dir.path().join("nope"))).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
