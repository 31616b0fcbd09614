//! Child processes: run with a timeout that kills the whole process group, capture stdout and
//! stderr, and keep a short stderr excerpt for error rows.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a child process ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// It ran past the timeout and its process group was killed.
    pub timed_out: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl Finished {
    /// Exited with status 0 in time.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

/// Runs `cmd` (stdin closed) in its own process group; after `timeout` the group is killed.
pub fn run(cmd: &mut Command, timeout: Duration) -> std::io::Result<Finished> {
    let start = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    // a waiter thread reports the exit at once (polling added up to its interval to every
    // scan); at the timeout the whole group is killed and the waiter then returns
    let (done, exited) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = done.send(());
        status
    });
    let timed_out = exited.recv_timeout(timeout).is_err();
    if timed_out {
        // SAFETY: kill(2) with a negative pid signals the child's own process group.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let status = waiter
        .join()
        .map_err(|_| std::io::Error::other("the waiter thread panicked"))??;
    Ok(Finished {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
        elapsed: start.elapsed(),
    })
}

/// The part of a child's stderr worth keeping in an error row: from the last `FATAL` (or
/// `panic`) line to the end (the cause often follows on the next lines), else the last three
/// lines; Go stack frames (`pkg/path.Func`, `/src/file.go:12`, which Trivy prints under
/// `--debug`) left out; joined with ` | `. Longer than `max` characters, it keeps the start
/// (what failed) and the end (the root cause, which Go errors put last) around a `…`.
pub fn stderr_excerpt(stderr: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_stack_frame(l))
        .collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains("FATAL") || l.contains("panic"))
        .unwrap_or(lines.len().saturating_sub(3));
    let pick = lines[start..].join(" | ");
    let chars: Vec<char> = pick.chars().collect();
    if chars.len() <= max {
        return pick;
    }
    let head = max / 3;
    let tail = max.saturating_sub(head + 1);
    let (h, t): (String, String) = (
        chars[..head].iter().collect(),
        chars[chars.len() - tail..].iter().collect(),
    );
    format!("{h}…{t}")
}

/// A line of a Go stack trace: a function (`github.com/x/y.(*T).F`) or a source position
/// (`/home/runner/work/trivy/pkg/x.go:411`), i.e. one word with a `/` and no message.
fn is_stack_frame(line: &str) -> bool {
    !line.contains(char::is_whitespace)
        && line.contains('/')
        && (line.contains(".go:") || line.contains('.'))
        && !line.contains("://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_exit_code() {
        let f = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(f.code, Some(3));
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr, b"err\n");
        assert!(!f.success());
    }

    #[test]
    fn a_hung_process_group_is_killed_at_the_timeout() {
        // the grandchild `sleep` would keep the pipes open if only the shell were killed
        let f = run(
            Command::new("sh").args(["-c", "sleep 30 & sleep 30; echo never"]),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(f.timed_out);
        assert!(f.elapsed < Duration::from_secs(5), "{:?}", f.elapsed);
        assert!(f.stdout.is_empty());
    }

    #[test]
    fn excerpt_prefers_the_fatal_line() {
        let e = b"2026 INFO loading\n2026 FATAL Fatal error: 2 errors occurred:\n\t* archive/tar: invalid tar header\n";
        assert_eq!(
            stderr_excerpt(e, 200),
            "2026 FATAL Fatal error: 2 errors occurred: | * archive/tar: invalid tar header"
        );
        assert_eq!(stderr_excerpt(b"a\nb\nc\nd\n", 200), "b | c | d");
        let long = stderr_excerpt(&[b'x'; 500], 50);
        assert_eq!(long.chars().count(), 50);
        assert!(long.contains('…'));
    }

    #[test]
    fn go_stack_frames_are_dropped_and_the_root_cause_kept() {
        let debug = "2026 FATAL Fatal error\n- run error:\ngithub.com/aquasecurity/trivy/pkg/commands/artifact.Run\n/home/runner/work/trivy/trivy/pkg/commands/artifact/run.go:411\n- image scan error:\ngithub.com/aquasecurity/trivy/pkg/commands/artifact.(*runner).ScanImage\n- GET http://127.0.0.1:5000/v2/library/nginx/manifests/sha256:ab: MANIFEST_UNKNOWN: manifest unknown\n";
        let e = stderr_excerpt(debug.as_bytes(), 400);
        assert!(!e.contains("run.go") && !e.contains("(*runner)"), "{e}");
        assert!(
            e.starts_with("2026 FATAL") && e.ends_with("manifest unknown"),
            "{e}"
        );
        let short = stderr_excerpt(debug.as_bytes(), 60);
        assert!(
            short.starts_with("2026 FATAL") && short.ends_with("manifest unknown"),
            "{short}"
        );
    }
}
