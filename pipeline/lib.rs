//! hubaudit: a repeatable security review of Docker Official Images.
//!
//! The pipeline (each stage is a module under `stages/` and a CLI subcommand of the same name;
//! `dag::STAGES` lists what each reads and writes, `hubaudit dag` prints it, and
//! `tests/dag.rs` checks this diagram against it):
//!
//! ```text
//! Docker Hub API ─────extract-hub──▶ 1_raw/hub ──────────────────▶ 2_staged/{repositories,tags} ─┐
//! images ─────────────scan (Trivy)─▶ 1_raw/{scan,sbom,trivy-db} ─▶ 2_staged/{scans,findings} ────┼─join─▶ 3_marts/{images,findings,pulls,rejects} ─report─▶ 4_report/DATE/
//! Docker Hub list ────pull-counts──▶ 1_raw/pull_counts ──────────▶ 2_staged/pull_counts ─────────┤
//! docker-library git ─backfill─────▶ 1_raw/backfill ─────────────▶ 2_staged/{repositories,tags} ─┘  (past dates)
//! repo-info + security tracker ─timetravel (Trivy)─▶ 1_raw/{timetravel,trivy-db} ─▶ 2_staged/{timetravel_scans,timetravel_findings} ─report─▶ 4_report/DATE/
//! ```
//!
//! `run` (and `sample run`, per capture date) runs extract-hub, pull-counts, timetravel, scan, join and
//! report in the order the DAG gives; `backfill` writes past dates, then joins them
//! (`orchestrate`).
//!
//! | layer | folder | holds |
//! |---|---|---|
//! | raw | `1_raw/` | responses as received, compressed; never rewritten |
//! | staged | `2_staged/` | one-to-one with raw, typed; never joined |
//! | marts | `3_marts/` | joins at an entity's grain |
//! | report | `4_report/` | published files |
//!
//! Shared code sits below the stages: `catalog` (every dataset), `dag` (every stage: what it
//! reads and writes), `config`, `hub` (API client), `names` (Docker's reference grammar,
//! checked before a Hub-supplied name, tag or digest reaches a path, URL or command line),
//! `notice` (deprecation notices), `io` (atomic writes, Parquet, HTTP, progress), `sample`
//! (the offline sample world and the replay Hub).
//! Above them, `orchestrate` chains stages into the plans of the DAG (a stage never runs
//! another).

pub mod catalog;
pub mod config;
pub mod dag;
pub mod dates;
pub mod downloads;
pub mod error;
pub mod hub;
pub mod io;
pub mod library_file;
pub mod names;
pub mod notice;
pub mod orchestrate;
pub mod public_data;
pub mod reference;
pub mod reliability;
pub mod sample;
pub mod stages;
pub mod svg;
pub mod tables;
pub mod trivy;
pub mod verify;

pub use error::{Error, Result};
