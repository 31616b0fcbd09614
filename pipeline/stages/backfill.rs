//! `backfill`: catalog snapshots for past dates from docker-library git history, for dates
//! before the first Hub snapshot (the Hub API only answers "now").
//!
//! Reads two clones: docker-library/docs (each image folder holds `README-short.txt`, the
//! generated `README.md` that the Hub shows as the full description, and `deprecated.md`
//! once deprecated) and docker-library/official-images (`library/NAME`: tags and the `latest`
//! mapping). For each date D it uses the last first-parent commit before D 00:00 UTC of each
//! repository. Images whose docs folder was deleted before D stay in the catalog (the Hub keeps
//! them) and are read from the last commit that had them. `deprecated_since` is the date of
//! the first-parent commit that added `NAME/deprecated.md`.
//!
//! Writes, per date: `1_raw/backfill` (which commits were read), `2_staged/repositories` and
//! `2_staged/tags` with `source = "backfill"`. The CLI then runs `join` for the dates written,
//! so the report can use them like any other (a stage never runs another). Dates whose two commits equal the previous date's reuse its rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::{BACKFILL_RAW, REPOSITORIES, TAGS};
use crate::dag::Stage;
use crate::error::{Error, Result};
use crate::io::git::Repo;
use crate::io::{jsonl, parquet as pq, partition, progress};
use crate::library_file;
use crate::notice;
use crate::tables::{self, RepoRow, TagRow};

/// What to backfill.
#[derive(Debug, Clone)]
pub struct Options {
    pub datasets: PathBuf,
    /// Clone of docker-library/docs.
    pub docs_repo: PathBuf,
    /// Clone of docker-library/official-images.
    pub official_images_repo: PathBuf,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Days between snapshots.
    pub every_days: u32,
    pub namespace: String,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub dates: usize,
    /// Dates written (the caller joins their marts).
    pub written: Vec<NaiveDate>,
    pub skipped: Vec<String>,
    pub reused: usize,
    pub last_images: usize,
    pub last_deprecated: usize,
    pub last_removed: usize,
}

/// Parses `--every` (`1d`, `7d`, `30d`).
pub fn parse_every(text: &str) -> Result<u32> {
    text.strip_suffix('d')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::Input(format!(
                "--every {text:?}: write a number of days such as 1d or 7d"
            ))
        })
}

/// History facts read once per run: when each deprecated.md was added, when each folder was
/// deleted.
struct History {
    /// name → commit times that added NAME/deprecated.md.
    deprecation_added: BTreeMap<String, Vec<DateTime<Utc>>>,
    /// name → (deleting commit, time), newest first.
    removed: BTreeMap<String, Vec<(String, DateTime<Utc>)>>,
}

fn folder(path: &str) -> Option<&str> {
    let (dir, _) = path.split_once('/')?;
    Some(dir)
}

impl History {
    fn read(docs: &Repo) -> Result<History> {
        let mut deprecation_added: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
        for c in docs.log_paths("A", "*/deprecated.md")? {
            let when = c.time;
            for p in c
                .paths
                .iter()
                .filter(|p| p.ends_with("/deprecated.md") && p.matches('/').count() == 1)
            {
                deprecation_added
                    .entry(folder(p).unwrap_or_default().to_string())
                    .or_default()
                    .push(when);
            }
        }
        let mut removed: BTreeMap<String, Vec<(String, DateTime<Utc>)>> = BTreeMap::new();
        for c in docs.log_paths("D", "*/README-short.txt")? {
            for p in c.paths.iter().filter(|p| p.matches('/').count() == 1) {
                removed
                    .entry(folder(p).unwrap_or_default().to_string())
                    .or_default()
                    .push((c.sha.clone(), c.time));
            }
        }
        Ok(History {
            deprecation_added,
            removed,
        })
    }

    /// The date the current notice appeared: the latest add of deprecated.md at or before `at`.
    fn deprecated_since(&self, name: &str, at: DateTime<Utc>) -> Option<NaiveDate> {
        self.deprecation_added
            .get(name)?
            .iter()
            .filter(|t| **t <= at)
            .max()
            .map(|t| t.date_naive())
    }
}

/// The rows of the last date written, keyed by its (docs, official-images) commits.
type Previous = ((String, String), Vec<RepoRow>, Vec<TagRow>);

/// Runs the stage.
pub fn run(opts: &Options) -> Result<Summary> {
    if opts.from > opts.to {
        return Err(Error::Input(format!(
            "--from {} is after --to {}",
            opts.from, opts.to
        )));
    }
    let mut docs = Repo::open(&opts.docs_repo)?;
    let mut oi = Repo::open(&opts.official_images_repo)?;
    let history = History::read(&docs)?;
    let dates: Vec<NaiveDate> = opts
        .from
        .iter_days()
        .step_by(opts.every_days as usize)
        .take_while(|d| *d <= opts.to)
        .collect();
    let bar = progress::bar(dates.len() as u64, "backfill");
    let mut summary = Summary {
        dates: dates.len(),
        ..Summary::default()
    };
    let mut previous: Option<Previous> = None;
    for date in dates {
        bar.set_message(date.to_string());
        let (Some((dc, dt)), Some((oc, ot))) = (docs.commit_before(date)?, oi.commit_before(date)?)
        else {
            summary.skipped.push(format!(
                "{date}: no commit before this date in one of the repositories"
            ));
            bar.inc(1);
            continue;
        };
        let key = (dc.clone(), oc.clone());
        let (repos, tags) = match &previous {
            Some((k, r, t)) if *k == key => {
                summary.reused += 1;
                (r.clone(), t.clone())
            }
            _ => {
                let repos = catalog_at(&mut docs, &history, &dc, dt, &opts.namespace)?;
                let names: BTreeSet<&str> = repos.iter().map(|r| r.name.as_str()).collect();
                let tags = tags_at(&mut oi, &oc, ot, &names)?;
                (repos, tags)
            }
        };
        let raw = serde_json::json!({
            "date": date.to_string(),
            "docs_commit": dc, "docs_commit_time": dt.to_rfc3339(),
            "official_images_commit": oc, "official_images_commit_time": ot.to_rfc3339(),
            "images": repos.len(),
            "removed_images": repos.iter().filter(|r| r.status.as_deref() == Some("removed-from-docs")).map(|r| r.name.clone()).collect::<Vec<_>>(),
        });
        let root = &opts.datasets;
        partition::write_partition(
            root,
            Stage::Backfill,
            &BACKFILL_RAW,
            date,
            "backfill",
            |p| jsonl::write_gz(p, [&raw]),
        )?;
        partition::write_partition(
            root,
            Stage::Backfill,
            &REPOSITORIES,
            date,
            "backfill",
            |p| pq::write_batch(p, &tables::repositories_batch(&repos)?),
        )?;
        partition::write_partition(root, Stage::Backfill, &TAGS, date, "backfill", |p| {
            pq::write_batch(p, &tables::tags_batch(&tags)?)
        })?;
        summary.written.push(date);
        summary.last_images = repos.len();
        summary.last_deprecated = repos.iter().filter(|r| r.deprecated).count();
        summary.last_removed = repos
            .iter()
            .filter(|r| r.status.as_deref() == Some("removed-from-docs"))
            .count();
        previous = Some((key, repos, tags));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// The catalog at docs commit `commit`: every folder with README-short.txt, plus folders
/// deleted before it (read from the parent of the deleting commit).
fn catalog_at(
    docs: &mut Repo,
    history: &History,
    commit: &str,
    at: DateTime<Utc>,
    namespace: &str,
) -> Result<Vec<RepoRow>> {
    let present: BTreeSet<String> = docs
        .files(commit, None)?
        .iter()
        .filter(|p| p.ends_with("/README-short.txt") && p.matches('/').count() == 1)
        .filter_map(|p| folder(p).map(String::from))
        .collect();
    let mut rows = Vec::new();
    for name in &present {
        rows.push(read_image(
            docs, history, commit, at, name, namespace, None,
        )?);
    }
    for (name, deletions) in &history.removed {
        if present.contains(name) {
            continue;
        }
        // the newest deletion at or before this commit; read the folder from its parent
        if let Some((sha, when)) = deletions.iter().find(|(_, t)| *t <= at) {
            rows.push(read_image(
                docs,
                history,
                &format!("{sha}^1"),
                at,
                name,
                namespace,
                Some(*when),
            )?);
        }
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

fn read_image(
    docs: &mut Repo,
    history: &History,
    commit: &str,
    at: DateTime<Utc>,
    name: &str,
    namespace: &str,
    removed: Option<DateTime<Utc>>,
) -> Result<RepoRow> {
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).trim().to_string());
    let short = text(docs.read(commit, &format!("{name}/README-short.txt"))?);
    let readme = text(docs.read(commit, &format!("{name}/README.md"))?);
    let deprecated_md = text(docs.read(commit, &format!("{name}/deprecated.md"))?);
    // the notice as the Hub shows it (README), else deprecated.md itself
    let found = readme
        .as_deref()
        .and_then(notice::find_notice)
        .or_else(|| deprecated_md.as_deref().map(notice::parse_notice));
    let deprecated_since = found
        .as_ref()
        .and_then(|_| history.deprecated_since(name, removed.unwrap_or(at)));
    Ok(RepoRow {
        name: name.to_string(),
        namespace: namespace.to_string(),
        description: short,
        full_description: readme
            .or_else(|| deprecated_md.map(|d| format!("# **DEPRECATION NOTICE**\n\n{d}\n"))),
        status: Some(
            if removed.is_some() {
                "removed-from-docs"
            } else {
                "active"
            }
            .into(),
        ),
        deprecated_since,
        source: "backfill".into(),
        captured_at: at,
        detail_captured_at: Some(removed.unwrap_or(at)),
        ..RepoRow::default()
    }
    .with_notice(found))
}

/// Tag rows from official-images `library/NAME` at `commit` (one row per tag; no digests:
/// git knows the source commit of an image, not the digest the registry gave it).
fn tags_at(
    oi: &mut Repo,
    commit: &str,
    at: DateTime<Utc>,
    names: &BTreeSet<&str>,
) -> Result<Vec<TagRow>> {
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for path in oi.files(commit, Some("library/"))? {
        let Some(name) = path.strip_prefix("library/").filter(|n| names.contains(n)) else {
            continue;
        };
        let Some(bytes) = oi.read(commit, &path)? else {
            continue;
        };
        let file = library_file::parse(&String::from_utf8_lossy(&bytes))
            .map_err(|e| Error::data(format!("official-images {commit}:{path}"), e))?;
        for entry in &file.entries {
            for tag in entry.tags.iter().chain(&entry.shared_tags) {
                if !seen.insert((name.to_string(), tag.clone())) {
                    continue;
                }
                rows.push(TagRow {
                    repository: name.to_string(),
                    tag: tag.clone(),
                    digest: None,
                    os: None,
                    architecture: None,
                    variant: None,
                    size: None,
                    full_size: None,
                    last_updated: Some(at),
                    last_pulled: None,
                    last_pushed: None,
                    tag_status: Some(format!("architectures: {}", entry.architectures.join(","))),
                    source: "backfill".into(),
                    captured_at: at,
                    carried_forward: false,
                });
            }
        }
    }
    rows.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    Ok(rows)
}
