//! Raw captures: gzip-compressed JSON lines, one object per response or report, fsynced.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::{Error, Result};

/// Writes `lines` to `path` as gzip JSON lines; returns how many were written.
pub fn write_gz<'a>(
    path: &Path,
    lines: impl IntoIterator<Item = &'a serde_json::Value>,
) -> Result<u64> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::default());
    let mut n = 0;
    for line in lines {
        // a write error (a full disk) is local I/O; anything else is a bug
        serde_json::to_writer(&mut gz, line).map_err(|e| {
            if e.is_io() {
                Error::io(path, e.into())
            } else {
                Error::internal(path.display().to_string(), e)
            }
        })?;
        gz.write_all(b"\n").map_err(|e| Error::io(path, e))?;
        n += 1;
    }
    gz.finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))?;
    Ok(n)
}

/// Reads gzip JSON lines back.
pub fn read_gz(path: &Path) -> Result<Vec<serde_json::Value>> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file));
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line.map_err(|e| Error::io(path, e))?;
        out.push(
            serde_json::from_str(&line).map_err(|e| Error::data(path.display().to_string(), e))?,
        );
    }
    Ok(out)
}
