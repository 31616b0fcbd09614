//! The stages. A stage reads datasets through the catalog and writes only its own (the ones
//! `dag::STAGES` lists for it: `io::partition` refuses any other); it never imports another
//! stage, and only `orchestrate` chains them.
//!
//! What each stage reads and writes, and the order `run` and `backfill` run them in, is the
//! table in `dag` (`hubaudit dag` prints it): `extract_hub` (the Hub catalog), `scan` (Trivy),
//! `pull_counts` (light pull-count snapshots), `join` (the marts), `report` (the published
//! files) and, for past dates, `backfill` (docker-library git history).

pub mod backfill;
pub mod extract_hub;
pub mod join;
pub mod pull_counts;
pub mod report;
pub mod scan;
pub mod timetravel;
