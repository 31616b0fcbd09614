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
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() >= timeout {
            timed_out = true;
            // SAFETY: kill(2) with a negative pid signals the child's own process group.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
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
/// lines; joined with ` | ` and cut to at most `max` characters.
pub fn stderr_excerpt(stderr: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains("FATAL") || l.contains("panic"))
        .unwrap_or(lines.len().saturating_sub(3));
    let pick = lines[start..].join(" | ");
    if pick.chars().count() > max {
        let head: String = pick.chars().take(max).collect();
        format!("{head}…")
    } else {
        pick
    }
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
        assert!(stderr_excerpt(&[b'x'; 500], 50).ends_with('…'));
    }
}
