//! Typed errors of the library and the exit codes they map to.
//!
//! Every error names what failed (a file, a URL, an argument) and, where there is one, the fix.
//! `main.rs` turns an [`Error`] into a process exit code with [`Error::exit_code`]; non-fatal
//! problems (a bad record, a failed image) are not errors: they become rows with a status and
//! are counted in a stage's summary.

use std::path::PathBuf;

/// Exit codes of the `hubaudit` binary (also listed in `--help` and the README).
pub mod exit {
    /// Everything worked.
    pub const OK: i32 = 0;
    /// The stage finished but some items failed (they are rows with a status).
    pub const PARTIAL: i32 = 1;
    /// An outside system (the Hub, a registry, Trivy) failed beyond the retry budget.
    pub const UPSTREAM: i32 = 2;
    /// Bad input: arguments, configuration, dates, missing or corrupt input files (a damaged
    /// partition among them).
    pub const INPUT: i32 = 3;
    /// Local I/O or an internal error (disk full, permission denied, a bug).
    pub const INTERNAL: i32 = 5;
}

/// The library's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user gave something we cannot use; the message says what and how to fix it.
    #[error("{0}")]
    Input(String),
    /// The configuration file or an environment override is invalid.
    #[error("configuration {origin}: {message}")]
    Config { origin: String, message: String },
    /// An outside system failed (after retries, where retrying makes sense).
    #[error("{url}: {reason}")]
    Upstream { url: String, reason: String },
    /// A local file could not be read or written.
    #[error("{}: {source}{}", path.display(), io_hint(source))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Input data could not be decoded: a corrupt or truncated file, or one that is not what
    /// it should be (Parquet, Arrow, JSON, CSV, TOML). Bad input: exit 3.
    #[error("{context}: {message}")]
    Data { context: String, message: String },
    /// Something that cannot fail on good code did (encoding a batch we built, compressing in
    /// memory): a bug, exit 5.
    #[error("internal error {context}: {message}")]
    Internal { context: String, message: String },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Config { .. } | Error::Data { .. } => exit::INPUT,
            Error::Upstream { .. } => exit::UPSTREAM,
            Error::Io { .. } | Error::Internal { .. } => exit::INTERNAL,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A decoding error, with what was being read.
    pub fn data(context: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Data {
            context: context.into(),
            message: message.to_string(),
        }
    }

    /// An encoding failure of data this program built, with what was being written.
    pub fn internal(context: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Internal {
            context: context.into(),
            message: message.to_string(),
        }
    }
}

/// What to do about an I/O error, where there is something to say.
fn io_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::StorageFull => {
            "; the disk is full: free space and run the stage again (every partition written before is intact: writes are atomic)"
        }
        std::io::ErrorKind::PermissionDenied => "; check the folder's owner and mode",
        _ => "",
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
