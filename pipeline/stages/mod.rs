//! The stages, in run order. A stage reads datasets through the catalog and writes its own;
//! it never imports another stage.
//!
//! 1. `extract_hub`: Hub API → `1_raw/hub`, `2_staged/repositories`, `2_staged/tags`
//! 2. `scan`: images → Trivy → `1_raw/scan`, `2_staged/scans`, `2_staged/findings`
//! 3. `pull_counts`: light list snapshots → `2_staged/pull_counts`
//! 4. `join`: staged → `3_marts/{images,findings,pulls,rejects}`
//! 0. `backfill` (past dates): docker-library git history → staged catalog + marts
//! 5. `report`: staged/marts → `4_report/DATE/`

pub mod backfill;
pub mod extract_hub;
pub mod join;
pub mod pull_counts;
pub mod report;
pub mod scan;
