//! hubaudit: a repeatable security review of Docker Official Images.
//!
//! The pipeline, in run order (each stage is a module under `stages/`, a CLI subcommand and a
//! just recipe of the same name):
//!
//! ```text
//! Hub API ──extract-hub──▶ 1_raw/hub ─▶ 2_staged/{repositories,tags} ─┐
//! images  ──scan (planned)──▶ 1_raw/scan ─▶ 2_staged/{scans,findings} ├─join (planned)─▶ 3_marts ─report─▶ 4_report/DATE
//! Hub API ──pull-counts (planned)──▶ 2_staged/pulls ──────────────────┘
//! ```
//!
//! | layer | folder | holds |
//! |---|---|---|
//! | raw | `1_raw/` | responses as received, compressed; never rewritten |
//! | staged | `2_staged/` | one-to-one with raw, typed; never joined |
//! | marts | `3_marts/` | joins at an entity's grain |
//! | report | `4_report/` | published files |
//!
//! Shared code sits below the stages: `catalog` (every dataset), `config`, `hub` (API
//! client), `names` (Docker's reference grammar, checked before a Hub-supplied name, tag or
//! digest reaches a path, URL or command line), `notice` (deprecation notices), `io` (atomic
//! writes, Parquet, HTTP, progress), `sample` (the offline sample world and the replay Hub).

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
