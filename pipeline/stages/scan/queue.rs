//! The scan's work queue: which job a free worker takes next, and a pause every worker obeys.
//!
//! Words: a job's *base* is its image's first layer (the OS release layer official images
//! share), when known before the scan (archives say it in their manifest). The run's
//! `trivy server` caches a layer once a client has analysed it, so while one job analyses a
//! base that is not cached yet, the queue hands other workers jobs with another (or no known)
//! base instead of a second analysis of the same layer; once that job ends the base is
//! *cached* and its other jobs run freely. The *pause* is a time before which no worker
//! starts a pull: set when the registry answers 429, because its limit is per account, not
//! per worker.

use std::collections::{HashSet, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The queue over job indices `0..bases.len()`.
#[derive(Debug)]
pub struct Queue {
    bases: Vec<Option<String>>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<usize>,
    analysing: HashSet<String>,
    cached: HashSet<String>,
    pause_until: Option<Instant>,
}

impl Queue {
    /// A queue of jobs in order; `bases[i]` is job i's base layer, if known.
    pub fn new(bases: Vec<Option<String>>) -> Queue {
        Queue {
            state: Mutex::new(State {
                pending: (0..bases.len()).collect(),
                ..State::default()
            }),
            bases,
            changed: Condvar::new(),
        }
    }

    /// The next job to run, waiting while every pending job's base is being analysed by
    /// another job; None when no job is left.
    pub fn next(&self) -> Option<usize> {
        let mut s = self.state.lock().expect("queue lock");
        loop {
            if s.pending.is_empty() {
                return None;
            }
            let pick = s.pending.iter().position(|&i| match &self.bases[i] {
                None => true,
                Some(b) => s.cached.contains(b) || !s.analysing.contains(b),
            });
            if let Some(at) = pick {
                let job = s.pending.remove(at).expect("position is in range");
                if let Some(b) = &self.bases[job] {
                    if !s.cached.contains(b) {
                        s.analysing.insert(b.clone());
                    }
                }
                return Some(job);
            }
            s = self.changed.wait(s).expect("queue lock");
        }
    }

    /// Job `job` ended; `analysed` says whether its layers reached the server's cache (a
    /// failed analysis leaves its base to the next job that has it).
    pub fn done(&self, job: usize, analysed: bool) {
        let mut s = self.state.lock().expect("queue lock");
        if let Some(b) = &self.bases[job] {
            if s.analysing.remove(b) && analysed {
                s.cached.insert(b.clone());
            }
        }
        self.changed.notify_all();
    }

    /// Makes every worker wait `wait` from now before its next pull (keeps a later end).
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut s = self.state.lock().expect("queue lock");
        s.pause_until = Some(s.pause_until.map_or(until, |u| u.max(until)));
    }

    /// Sleeps until the pause (if any) is over; returns how long it slept.
    pub fn wait_pause(&self) -> Duration {
        let until = self.state.lock().expect("queue lock").pause_until;
        match until {
            Some(u) if u > Instant::now() => {
                let d = u - Instant::now();
                std::thread::sleep(d);
                d
            }
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn a_base_being_analysed_is_not_handed_out_twice() {
        let q = Queue::new(vec![b("deb10"), b("deb10"), b("alp"), None, b("deb10")]);
        assert_eq!(q.next(), Some(0)); // analyses deb10
        assert_eq!(q.next(), Some(2), "job 1 waits for deb10; alp is free");
        assert_eq!(q.next(), Some(3), "unknown bases are never held back");
        q.done(0, true);
        assert_eq!(q.next(), Some(1), "deb10 is cached now");
        assert_eq!(q.next(), Some(4));
        assert_eq!(q.next(), None);
    }

    #[test]
    fn a_failed_pioneer_hands_its_base_to_the_next_job() {
        let q = Queue::new(vec![b("deb10"), b("deb10"), b("deb10")]);
        assert_eq!(q.next(), Some(0));
        q.done(0, false);
        assert_eq!(q.next(), Some(1));
        // job 2 waits for job 1 on another thread
        std::thread::scope(|s| {
            let h = s.spawn(|| q.next());
            std::thread::sleep(Duration::from_millis(50));
            q.done(1, true);
            assert_eq!(h.join().unwrap(), Some(2));
        });
    }

    #[test]
    fn a_pause_is_shared_and_the_later_end_wins() {
        let q = Queue::new(vec![]);
        q.pause(Duration::from_millis(80));
        q.pause(Duration::from_millis(10));
        let slept = q.wait_pause();
        assert!(slept >= Duration::from_millis(50), "{slept:?}");
        assert_eq!(q.wait_pause(), Duration::ZERO);
    }
}
