//! Where tests find the real public data they check the code against (docker-library history,
//! Hub API captures, Trivy reports, time-travel inputs), and how a test that cannot run says so.
//!
//! Words: the *public data folder* is `HUBAUDIT_PUBLIC_DATA`, else `../shared/data` beside the
//! checkout when it exists. A user's clone has none of it; there a test that needs it is
//! *skipped*: it prints `skipped: TEST: …` with the reason and where the data comes from, and
//! appends the same line to the file named by `HUBAUDIT_SKIP_LOG` (so `just test` can count
//! skips although cargo hides the output of passing tests). With `HUBAUDIT_REQUIRE_PUBLIC_DATA`
//! set (as `.ci/run` does) a missing folder fails the test instead: CI never skips silently.
//! Nothing here is used outside tests.

use std::io::Write;
use std::path::PathBuf;

/// Environment variable naming the public data folder.
pub const DIR_ENV: &str = "HUBAUDIT_PUBLIC_DATA";
/// Environment variable that makes a missing public data folder a test failure.
pub const REQUIRE_ENV: &str = "HUBAUDIT_REQUIRE_PUBLIC_DATA";
/// Environment variable naming a file that collects the skip lines.
pub const SKIP_LOG_ENV: &str = "HUBAUDIT_SKIP_LOG";

/// The public data folder, if one is configured or sits beside the checkout.
pub fn root() -> Option<PathBuf> {
    match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => {
            let beside = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"));
            beside.is_dir().then_some(beside)
        }
    }
}

/// The public data file or folder `part` (e.g. `trivy-reports`) for the test `test`, or
/// `None` after saying that `test` is skipped and why; panics instead when the public data is
/// required.
pub fn require(test: &str, part: &str) -> Option<PathBuf> {
    if let Some(path) = root().map(|r| r.join(part)).filter(|p| p.exists()) {
        return Some(path);
    }
    let why = format!(
        "skipped: {test}: needs the public data {part:?}, from ${DIR_ENV} or ../shared/data beside the checkout (real docker-library history, Hub API captures and Trivy reports that a clone does not carry)"
    );
    if std::env::var_os(REQUIRE_ENV).is_some_and(|v| !v.is_empty()) {
        panic!("{why}; {REQUIRE_ENV} is set, so missing public data is a failure");
    }
    log_skip(&why);
    None
}

/// Says that `test` is skipped for a reason other than public data (e.g. a mount needs root),
/// the same way: printed, and logged for `just test`'s count.
pub fn skip(test: &str, reason: &str) {
    log_skip(&format!("skipped: {test}: {reason}"));
}

fn log_skip(line: &str) {
    eprintln!("{line}");
    if let Some(log) = std::env::var_os(SKIP_LOG_ENV).filter(|v| !v.is_empty()) {
        // appends are atomic for short lines, so parallel tests do not interleave
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
