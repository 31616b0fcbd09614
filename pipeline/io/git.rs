//! Read-only access to a git repository through the git CLI.
//!
//! Why the CLI rather than a library (gix, git2): git is on every machine this runs on, it
//! adds nothing to the build, and its `rev-list --first-parent --before` is exactly the
//! selection rule the docker-library history is read with. Many file reads go through one
//! long-lived `git cat-file --batch` process, so reading hundreds of files per date costs one
//! pipe round trip each, not one process each.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{Error, Result};

/// A commit of a log, with the paths it touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub sha: String,
    pub time: DateTime<Utc>,
    pub paths: Vec<String>,
}

/// A repository and an open `cat-file --batch` reader.
pub struct Repo {
    path: PathBuf,
    batch: Option<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

impl Repo {
    /// Opens `path`, checking that it is a git repository.
    pub fn open(path: &Path) -> Result<Repo> {
        let repo = Repo {
            path: path.to_path_buf(),
            batch: None,
        };
        repo.git(&["rev-parse", "--git-dir"]).map_err(|_| {
            Error::Input(format!(
                "{} is not a git repository; clone it first (see the README's backfill section)",
                path.display()
            ))
        })?;
        Ok(repo)
    }

    /// Runs a git command, returning stdout; the error carries git's stderr.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.path)
            .args(args)
            .output()
            .map_err(|e| Error::Input(format!("cannot run git: {e}; install git")))?;
        if !out.status.success() {
            return Err(Error::Upstream {
                url: format!("git -C {} {}", self.path.display(), args.join(" ")),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The last first-parent commit of HEAD committed before `date` 00:00 UTC, with its time.
    pub fn commit_before(&self, date: NaiveDate) -> Result<Option<(String, DateTime<Utc>)>> {
        let before = format!("--before={date}T00:00:00Z");
        let out = self.git(&[
            "rev-list",
            "-1",
            "--first-parent",
            &before,
            "--format=%cI",
            "HEAD",
        ])?;
        // output: "commit <sha>\n<iso date>\n"
        let mut lines = out.lines();
        let Some(sha) = lines.next().and_then(|l| l.strip_prefix("commit ")) else {
            return Ok(None);
        };
        let when = lines
            .next()
            .and_then(crate::dates::parse_timestamp)
            .ok_or_else(|| Error::data("git rev-list", format!("no commit date for {sha}")))?;
        Ok(Some((sha.to_string(), when)))
    }

    /// Paths (files) in the tree of `commit`, optionally below `prefix`.
    pub fn files(&self, commit: &str, prefix: Option<&str>) -> Result<Vec<String>> {
        let mut args = vec!["ls-tree", "-r", "--name-only", commit];
        if let Some(p) = prefix {
            args.push(p);
        }
        Ok(self.git(&args)?.lines().map(String::from).collect())
    }

    /// The content of `path` at `commit` (None when absent), through the batch process.
    pub fn read(&mut self, commit: &str, path: &str) -> Result<Option<Vec<u8>>> {
        if self.batch.is_none() {
            let mut child = Command::new("git")
                .arg("-C")
                .arg(&self.path)
                .args(["cat-file", "--batch"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| Error::Input(format!("cannot run git: {e}")))?;
            let stdin = child.stdin.take().expect("piped");
            let stdout = BufReader::new(child.stdout.take().expect("piped"));
            self.batch = Some((child, stdin, stdout));
        }
        let ctx = || format!("git cat-file {commit}:{path}");
        let (_, stdin, stdout) = self.batch.as_mut().expect("started");
        writeln!(stdin, "{commit}:{path}")
            .and_then(|_| stdin.flush())
            .map_err(|e| Error::data(ctx(), e))?;
        let mut header = String::new();
        stdout
            .read_line(&mut header)
            .map_err(|e| Error::data(ctx(), e))?;
        if header.trim_end().ends_with("missing") {
            return Ok(None);
        }
        let size: usize = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::data(ctx(), format!("unexpected header {header:?}")))?;
        let mut buf = vec![0; size + 1]; // content and its trailing newline
        stdout
            .read_exact(&mut buf)
            .map_err(|e| Error::data(ctx(), e))?;
        buf.truncate(size);
        Ok(Some(buf))
    }

    /// First-parent commits of HEAD touching `pathspec` with the given diff filter (A, D, …),
    /// renames counted as a deletion plus an addition (an image renamed on the Hub is two):
    /// newest first.
    pub fn log_paths(&self, filter: &str, pathspec: &str) -> Result<Vec<Commit>> {
        let filter = format!("--diff-filter={filter}");
        let out = self.git(&[
            "log",
            "--first-parent",
            "-m",
            "--no-renames",
            &filter,
            "--format=>%H %cI",
            "--name-only",
            "HEAD",
            "--",
            pathspec,
        ])?;
        let mut commits: Vec<Commit> = Vec::new();
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix('>') {
                let (sha, when) = rest.split_once(' ').unwrap_or((rest, ""));
                let when = crate::dates::parse_timestamp(when)
                    .ok_or_else(|| Error::data("git log", format!("bad date in {line:?}")))?;
                commits.push(Commit {
                    sha: sha.to_string(),
                    time: when,
                    paths: Vec::new(),
                });
            } else if !line.is_empty() {
                if let Some(c) = commits.last_mut() {
                    c.paths.push(line.to_string());
                }
            }
        }
        Ok(commits)
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        if let Some((mut child, stdin, _)) = self.batch.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}
