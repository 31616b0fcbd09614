//! Input and output at the edges: atomic partition writes, Parquet (arrow-rs) and polars
//! frames, HTTP, progress, the container registry API.

pub mod command;
pub mod frame;
pub mod git;
pub mod http;
pub mod jsonl;
pub mod parquet;
pub mod partition;
pub mod progress;
pub mod registry;
pub mod remote;
