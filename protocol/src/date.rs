//! A calendar date (`YYYY-MM-DD`, no time zone): respond-by dates, preservation ends,
//! dates of orders. Serialized as its ISO 8601 text in every format.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A date such as `2026-11-23`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date(time::Date);

/// Text that is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a date of the form YYYY-MM-DD")]
pub struct DateError(pub String);

const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Self, DateError> {
        time::Date::parse(s, FORMAT)
            .map(Date)
            .map_err(|_| DateError(s.to_owned()))
    }
    /// The UTC date of an instant given in milliseconds since the epoch.
    pub fn from_utc_ms(ms: u64) -> Self {
        let days = i64::try_from(ms / 86_400_000).unwrap_or(0);
        Date::from_days_since_epoch(days)
    }
    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        i64::from(self.0.to_julian_day()) - i64::from(EPOCH_JULIAN_DAY)
    }
    /// The date `days` after 1970-01-01 (clamped to the supported range).
    pub fn from_days_since_epoch(days: i64) -> Self {
        let jd = (days + i64::from(EPOCH_JULIAN_DAY)).clamp(
            i64::from(time::Date::MIN.to_julian_day()),
            i64::from(time::Date::MAX.to_julian_day()),
        );
        let jd = i32::try_from(jd).unwrap_or(EPOCH_JULIAN_DAY);
        Date(time::Date::from_julian_day(jd).unwrap_or(time::Date::MIN))
    }
    /// The date `days` later.
    pub fn plus_days(self, days: i64) -> Self {
        Date::from_days_since_epoch(self.days_since_epoch() + days)
    }
    /// The first millisecond (UTC) of this date.
    pub fn start_utc_ms(self) -> u64 {
        u64::try_from(self.days_since_epoch()).unwrap_or(0) * 86_400_000
    }
    /// The year.
    pub fn year(self) -> i32 {
        self.0.year()
    }
}

const EPOCH_JULIAN_DAY: i32 = 2_440_588;

impl TryFrom<String> for Date {
    type Error = DateError;
    fn try_from(s: String) -> Result<Self, DateError> {
        Date::parse(&s)
    }
}
impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}
impl FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, DateError> {
        Date::parse(s)
    }
}
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}
impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_print_and_count_days() {
        let d = Date::parse("2026-11-23").unwrap();
        assert_eq!(d.to_string(), "2026-11-23");
        assert_eq!(d.plus_days(60).to_string(), "2027-01-22");
        assert_eq!(Date::from_utc_ms(d.start_utc_ms()), d);
        assert_eq!(Date::parse("1970-01-01").unwrap().days_since_epoch(), 0);
        for bad in ["2026-13-01", "2026-02-30", "23/11/2026", ""] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }
}
