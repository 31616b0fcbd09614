//! The stages, in run order. A stage reads datasets through the catalog and writes its own;
//! it never imports another stage.
//!
//! 1. `extract_hub`: Hub API → `1_raw/hub`, `2_staged/repositories`, `2_staged/tags`
//! 2. `scan`: images → Trivy → `1_raw/scan`, `2_staged/scans`, `2_staged/findings`
//! 3. `pull_counts` (not available yet): light list snapshots → downloads per window
//! 4. `join` (not available yet): staged → marts
//! 5. `report`: staged/marts → `4_report/DATE/`

pub mod extract_hub;
pub mod report;
pub mod scan;

use crate::error::Error;

/// Stages that later versions implement: running them says so and does nothing.
pub fn not_available(stage: &'static str) -> Error {
    let why = match stage {
        "pull-counts" => "the pull-count history stage is planned (issue #4)",
        "join" => "the marts are planned (issue #4)",
        _ => "planned",
    };
    Error::NotAvailable { stage, why }
}
