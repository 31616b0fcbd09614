//! A repository's files as they stood at a date: a git clone read at its last first-parent
//! commit before D 00:00 UTC (the rule backfill uses), or a plain folder in the repository's
//! own layout (a copy of the files, read as they are: it has no history, so the rows say
//! "folder" and give each file's sha256 instead of a commit).

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::io::git::Repo;

/// Files of a repository at a date.
pub enum Tree {
    /// A clone read at `commit`.
    Git {
        path: PathBuf,
        repo: Box<Repo>,
        commit: String,
        time: DateTime<Utc>,
    },
    /// A folder read as it is.
    Folder { path: PathBuf },
}

/// One file read from a tree, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Path inside the repository (`repos/nuxeo/local/10.10.md`).
    pub path: String,
    pub bytes: Vec<u8>,
    /// `sha256:` of the bytes.
    pub sha256: String,
}

fn is_clone_root(path: &Path) -> bool {
    // a folder inside some other clone (a copy of the files) is not itself a clone
    let Ok(out) = std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["rev-parse", "--show-toplevel"])
        .output()
    else {
        return false;
    };
    let top = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success()
        && top.canonicalize().ok().is_some()
        && top.canonicalize().ok() == path.canonicalize().ok()
}

impl Tree {
    /// Opens `path` (flag `flag` in messages) as of `date`.
    pub fn open(flag: &str, path: &Path, date: NaiveDate) -> Result<Tree> {
        if !path.is_dir() {
            return Err(Error::Input(format!(
                "{flag} {}: no such folder; give a clone of the repository or a folder in its layout",
                path.display()
            )));
        }
        if !is_clone_root(path) {
            return Ok(Tree::Folder {
                path: path.to_path_buf(),
            });
        }
        let repo = Repo::open(path)?;
        let (commit, time) = repo.commit_before(date)?.ok_or_else(|| {
            Error::Input(format!(
                "{flag} {}: no commit before {date} 00:00 UTC; the clone's history starts later (fetch more history or pick a later date)",
                path.display()
            ))
        })?;
        Ok(Tree::Git {
            path: path.to_path_buf(),
            repo: Box::new(repo),
            commit,
            time,
        })
    }

    /// The commit read (None for a folder).
    pub fn commit(&self) -> Option<&str> {
        match self {
            Tree::Git { commit, .. } => Some(commit),
            Tree::Folder { .. } => None,
        }
    }

    /// `commit SHA (TIME)` or `folder PATH`, for provenance.
    pub fn describe(&self) -> String {
        match self {
            Tree::Git {
                commit, time, path, ..
            } => format!("{} @ {commit} ({})", path.display(), time.to_rfc3339()),
            Tree::Folder { path } => format!("folder {} (no history)", path.display()),
        }
    }

    /// The file at `rel` (None when absent).
    pub fn read(&mut self, rel: &str) -> Result<Option<File>> {
        let bytes = match self {
            Tree::Git { repo, commit, .. } => repo.read(commit, rel)?,
            Tree::Folder { path } => {
                let p = path.join(rel);
                match std::fs::read(&p) {
                    Ok(b) => Some(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(Error::io(&p, e)),
                }
            }
        };
        Ok(bytes.map(|bytes| File {
            path: rel.to_string(),
            sha256: format!("sha256:{:x}", Sha256::digest(&bytes)),
            bytes,
        }))
    }
}
