//! Figures of the reliability tests (crashes, hostile input, property tests, faults), recorded
//! by the tests themselves so that `docs/RELIABILITY.md` is generated from them and cannot
//! drift from what was tried.
//!
//! Words: a *record* is one class of faults or inputs a test tried: its `area` (`crash`,
//! `determinism`, `full disk`, `hostile input`, `property`, …), the `subject` (what was
//! exercised, e.g. `trivy::parse_report`), how many `cases`, and the `outcome` in words,
//! with the counts the test observed. With `HUBAUDIT_RELIABILITY_LOG` set (as `just test`
//! does) each record is appended to that file as one JSON line; without it nothing is written.
//! Tests only.

use std::io::Write;

/// Environment variable naming the file that collects the records.
pub const LOG_ENV: &str = "HUBAUDIT_RELIABILITY_LOG";

/// Appends one record (see the module docs).
pub fn record(area: &str, subject: &str, cases: u64, outcome: &str) {
    let Some(path) = std::env::var_os(LOG_ENV).filter(|v| !v.is_empty()) else {
        return;
    };
    let line =
        serde_json::json!({"area": area, "subject": subject, "cases": cases, "outcome": outcome});
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}
