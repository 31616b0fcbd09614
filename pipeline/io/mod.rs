//! Input and output at the edges: atomic partition writes, Parquet, HTTP, progress, the
//! container registry API.

pub mod command;
pub mod git;
pub mod http;
pub mod jsonl;
pub mod parquet;
pub mod partition;
pub mod progress;
pub mod registry;
