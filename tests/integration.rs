//! One integration-test binary; each module tests one part against real components
//! (the replay Hub over real HTTP on loopback, the real binary, real Parquet files).

mod util;

mod backfill;
mod cli;
mod crash;
mod dag;
mod extract_hub;
mod foreign_server;
mod full_disk;
mod hostile;
mod integrity;
mod live_scan;
mod marts;
mod orchestrate;
mod partition;
mod portable;
mod properties;
mod registry;
mod report;
mod sample;
mod scan;
mod shards;
mod timetravel;
mod trivy_db;
