//! The raw layer of a scan run (`1_raw/scan`): one JSON line per job, compressed while the
//! jobs run rather than after the last one.
//!
//! Words: a *record* is hubaudit's note of a job (`head`: name, tag, attempts, exit code, a
//! stderr excerpt) with Trivy's output spliced in as printed or answered (`report`), minified
//! but not parsed and re-serialised (that cost more than the rest of a rescan). The *stream*
//! gzips records in the order of their *rank* (the job's position by image name): a record
//! that finishes early waits until those before it are written, so the file reads in name
//! order whatever order the workers finish in.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use flate2::write::GzEncoder;
use flate2::Compression;

/// One record of `1_raw/scan`.
#[derive(Debug)]
pub(super) struct RawRecord {
    pub head: serde_json::Value,
    pub report: Option<Vec<u8>>,
}

impl RawRecord {
    /// A record without a report.
    pub fn head(head: serde_json::Value) -> RawRecord {
        RawRecord { head, report: None }
    }

    /// The record as one JSON line: the head with `"report": …` spliced in, the report
    /// minified (Trivy prints it indented; whitespace outside strings carries nothing).
    pub fn line(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(&self.head).expect("json serialises");
        if let Some(report) = &self.report {
            out.pop(); // the head's closing brace
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(br#""report":"#);
            minify_into(&mut out, report);
            out.push(b'}');
        }
        out
    }
}

/// Appends `json` without the whitespace between its tokens (strings are copied as they are,
/// escapes included). The input is JSON Trivy printed; the output is the same JSON, compact.
fn minify_into(out: &mut Vec<u8>, json: &[u8]) {
    let (mut in_string, mut escaped) = (false, false);
    out.reserve(json.len());
    for &b in json {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => {}
                b'"' => {
                    in_string = true;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
    }
}

/// Gzip JSON lines written in rank order as records arrive in any order.
///
/// Each record is compressed by the thread that pushes it, as a gzip member of its own (one
/// line each); the members are concatenated in rank order. A file of concatenated members is
/// one gzip file to every reader that follows RFC 1952 (`zcat`, Python's `gzip`, DuckDB,
/// flate2's `MultiGzDecoder`), and compressing in the workers keeps the stream from being the
/// one core everything waits on. Level 1: Trivy's JSON is repetitive, so the fastest level
/// still shrinks it several times over.
#[derive(Debug)]
pub(super) struct RawStream {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    next: usize,
    waiting: BTreeMap<usize, Vec<u8>>,
    out: Vec<u8>,
    lines: u64,
}

/// One line as a gzip member of its own.
fn member(line: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::with_capacity(line.len() / 4 + 64), Compression::fast());
    // writing into a Vec cannot fail
    gz.write_all(line).expect("in-memory gzip");
    gz.write_all(b"\n").expect("in-memory gzip");
    gz.finish().expect("in-memory gzip")
}

impl RawStream {
    pub fn new() -> RawStream {
        RawStream {
            inner: Mutex::new(Inner {
                next: 0,
                waiting: BTreeMap::new(),
                out: Vec::new(),
                lines: 0,
            }),
        }
    }

    /// Adds the record of rank `rank` (every rank from 0 comes exactly once).
    pub fn push(&self, rank: usize, record: &RawRecord) {
        let gz = member(&record.line());
        let mut s = self.inner.lock().expect("raw stream lock");
        s.waiting.insert(rank, gz);
        while let Some(gz) = {
            let next = s.next;
            s.waiting.remove(&next)
        } {
            s.out.extend_from_slice(&gz);
            s.next += 1;
            s.lines += 1;
        }
    }

    /// The gzip bytes and the number of lines. Records still waiting (a rank never pushed)
    /// are written after the others, in rank order.
    pub fn finish(self) -> (Vec<u8>, u64) {
        let mut s = self.inner.into_inner().expect("raw stream lock");
        for gz in std::mem::take(&mut s.waiting).into_values() {
            s.out.extend_from_slice(&gz);
            s.lines += 1;
        }
        (s.out, s.lines)
    }
}

/// The rank of each of `names` in name order (ties keep their order).
pub(super) fn ranks<S: AsRef<str>>(names: &[S]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| names[a].as_ref().cmp(names[b].as_ref()));
    let mut rank = vec![0; names.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn records_splice_the_report_into_one_minified_line() {
        let r = RawRecord {
            head: serde_json::json!({"name": "nuxeo", "attempts": 1}),
            report: Some(
                b"{\n  \"SchemaVersion\": 2,\n  \"Title\": \"a\\nb \\\" {c}\"\n}\n".to_vec(),
            ),
        };
        let line = r.line();
        assert!(!line.contains(&b'\n'));
        assert!(
            line.ends_with(br#""report":{"SchemaVersion":2,"Title":"a\nb \" {c}"}}"#),
            "{}",
            String::from_utf8_lossy(&line)
        );
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v["report"]["Title"], "a\nb \" {c}",
            "strings survive, escapes too"
        );
        assert_eq!(v["name"], "nuxeo");
        let bare = RawRecord::head(serde_json::json!({"name": "x"})).line();
        assert_eq!(bare, br#"{"name":"x"}"#);
    }

    #[test]
    fn records_arriving_out_of_order_are_written_in_rank_order() {
        let names = ["redis", "alpine", "nginx", "alpine"];
        let rank = ranks(&names);
        assert_eq!(rank, vec![3, 0, 2, 1]);
        let stream = RawStream::new();
        for i in [2, 0, 3, 1] {
            stream.push(
                rank[i],
                &RawRecord::head(serde_json::json!({"name": names[i], "i": i})),
            );
        }
        let (gz, lines) = stream.finish();
        assert_eq!(lines, 4);
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(gz.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        let order: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["i"].to_string())
            .collect();
        assert_eq!(order, ["1", "3", "2", "0"]);
    }
}
