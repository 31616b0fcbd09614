//! Downloads in a window from pull-count history: `pull_count` at the window's end minus
//! `pull_count` at its start, each read from the latest capture on or before the date.
//!
//! Never a silent zero: a result carries *flags* — `missing` (no capture on or before a
//! date, or no count), `capped` (2147483647 seen: the Hub capped pull_count at int32 max until
//! 2021-01), `reset` (the count went down), `approximate` (the capture used is more than the
//! tolerance away from the date). `downloads` is None when missing, capped or reset.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// The value the Hub capped pull_count at.
pub const PULL_CAP: i64 = 2_147_483_647;

/// Downloads of one image in a window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Window {
    pub start_capture: Option<NaiveDate>,
    pub end_capture: Option<NaiveDate>,
    pub start_pulls: Option<i64>,
    pub end_pulls: Option<i64>,
    pub downloads: Option<i64>,
    pub flags: Vec<&'static str>,
}

impl Window {
    /// Flags joined by `;` (empty when clean).
    pub fn flags_text(&self) -> String {
        self.flags.join(";")
    }
}

/// The latest point on or before `date`.
fn at(
    history: &BTreeMap<NaiveDate, Option<i64>>,
    date: NaiveDate,
) -> Option<(NaiveDate, Option<i64>)> {
    history.range(..=date).next_back().map(|(d, v)| (*d, *v))
}

/// Downloads between `start` and `end` from one image's history (capture date → pull_count).
pub fn window(
    history: &BTreeMap<NaiveDate, Option<i64>>,
    start: NaiveDate,
    end: NaiveDate,
    tolerance_days: i64,
) -> Window {
    let mut w = Window::default();
    let (a, b) = (at(history, start), at(history, end));
    w.start_capture = a.map(|x| x.0);
    w.end_capture = b.map(|x| x.0);
    w.start_pulls = a.and_then(|x| x.1);
    w.end_pulls = b.and_then(|x| x.1);
    let far = |captured: Option<NaiveDate>, date: NaiveDate| {
        captured.is_some_and(|c| (date - c).num_days() > tolerance_days)
    };
    if far(w.start_capture, start) || far(w.end_capture, end) {
        w.flags.push("approximate");
    }
    if w.start_capture.is_some() && w.start_capture == w.end_capture && start != end {
        // the same capture at both ends measures nothing
        w.flags.push("missing");
        return w;
    }
    let (Some(s), Some(e)) = (w.start_pulls, w.end_pulls) else {
        w.flags.push("missing");
        return w;
    };
    if s >= PULL_CAP || e >= PULL_CAP {
        w.flags.push("capped");
        return w;
    }
    if e < s {
        w.flags.push("reset");
        return w;
    }
    w.downloads = Some(e - s);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn hist(points: &[(&str, Option<i64>)]) -> BTreeMap<NaiveDate, Option<i64>> {
        points.iter().map(|(k, v)| (d(k), *v)).collect()
    }

    #[test]
    fn difference_of_the_captures_on_or_before_each_date() {
        let h = hist(&[
            ("2021-07-28", Some(100)),
            ("2021-07-29", Some(110)),
            ("2021-08-10", Some(250)),
        ]);
        let w = window(&h, d("2021-07-29"), d("2021-08-10"), 1);
        assert_eq!(w.downloads, Some(140));
        assert!(w.flags.is_empty());
        assert_eq!(w.start_capture, Some(d("2021-07-29")));
    }

    #[test]
    fn far_captures_are_approximate_but_counted() {
        let h = hist(&[("2021-07-20", Some(100)), ("2021-08-10", Some(250))]);
        let w = window(&h, d("2021-07-29"), d("2021-08-10"), 2);
        assert_eq!(w.downloads, Some(150));
        assert_eq!(w.flags, vec!["approximate"]);
    }

    #[test]
    fn missing_capped_and_reset_are_flagged_never_zero() {
        let none = window(
            &hist(&[("2021-08-10", Some(5))]),
            d("2021-07-29"),
            d("2021-08-10"),
            1,
        );
        assert_eq!(
            (none.downloads, none.flags.clone()),
            (None, vec!["missing"])
        );
        let capped = window(
            &hist(&[
                ("2021-07-29", Some(PULL_CAP)),
                ("2021-08-10", Some(PULL_CAP)),
            ]),
            d("2021-07-29"),
            d("2021-08-10"),
            1,
        );
        assert_eq!(
            (capped.downloads, capped.flags.clone()),
            (None, vec!["capped"])
        );
        let reset = window(
            &hist(&[("2021-07-29", Some(500)), ("2021-08-10", Some(20))]),
            d("2021-07-29"),
            d("2021-08-10"),
            1,
        );
        assert_eq!(
            (reset.downloads, reset.flags.clone()),
            (None, vec!["reset"])
        );
        let null = window(
            &hist(&[("2021-07-29", None), ("2021-08-10", Some(20))]),
            d("2021-07-29"),
            d("2021-08-10"),
            1,
        );
        assert_eq!(null.flags, vec!["missing"]);
        let same = window(
            &hist(&[("2021-07-01", Some(7))]),
            d("2021-07-29"),
            d("2021-08-10"),
            100,
        );
        assert_eq!(
            (same.downloads, same.flags.clone()),
            (None, vec!["missing"])
        );
    }
}
