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
