//! Input and output at the edges: atomic partition writes, Parquet, HTTP, progress.

pub mod command;
pub mod git;
pub mod http;
pub mod jsonl;
pub mod parquet;
pub mod partition;
pub mod progress;
