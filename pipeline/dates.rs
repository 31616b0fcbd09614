//! Snapshot dates: parsing `YYYY-MM-DD` with errors that say what was expected, and "today".

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{Error, Result};

/// Parses a `YYYY-MM-DD` date given for `what` (a flag name), e.g. `--snapshot`.
pub fn parse_date(what: &str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        Error::Input(format!(
            "{what}: {text:?} is not a date; write it as YYYY-MM-DD, e.g. 2021-08-24"
        ))
    })
}

/// Today's date in UTC (the default snapshot).
pub fn today_utc() -> NaiveDate {
    Utc::now().date_naive()
}

/// Days since 1970-01-01 (Arrow's Date32, polars' physical Date).
pub fn epoch_days(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

/// The date `days` after 1970-01-01.
pub fn from_epoch_days(days: i32) -> NaiveDate {
    epoch() + chrono::Duration::days(days as i64)
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

/// Parses an RFC 3339 / ISO-8601 timestamp as the Hub writes it; `None` when empty or invalid.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_explains_bad_ones() {
        assert_eq!(
            parse_date("--date", "2021-08-24").unwrap(),
            NaiveDate::from_ymd_opt(2021, 8, 24).unwrap()
        );
        for bad in ["2021-02-30", "24/08/2021", "", "2021-8-244"] {
            let msg = parse_date("--date", bad).unwrap_err().to_string();
            assert!(
                msg.contains("--date") && msg.contains("YYYY-MM-DD"),
                "{msg}"
            );
        }
    }

    #[test]
    fn parses_hub_timestamps() {
        let t = parse_timestamp("2021-12-20T17:19:58.88296Z").unwrap();
        assert_eq!(t.timestamp(), 1640020798);
        assert!(parse_timestamp("").is_none());
        assert!(parse_timestamp("yesterday").is_none());
    }
}
