//! Calendar months (`YYYY-MM`), the only time unit of the extracts: dates are coarsened to
//! the month upstream.

use std::fmt;

/// A calendar month, stored as `year * 12 + (month - 1)` so that arithmetic is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(i32);

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        if !(1..=12).contains(&month) || !(1000..=9999).contains(&year) {
            return None;
        }
        Some(Month(year * 12 + month as i32 - 1))
    }

    /// Strict `YYYY-MM` parser: four digits, a dash, two digits, month 01–12.
    pub fn parse(s: &str) -> Option<Month> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' {
            return None;
        }
        if !b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit) {
            return None;
        }
        let year: i32 = s[..4].parse().ok()?;
        let month: u32 = s[5..].parse().ok()?;
        Month::new(year, month)
    }

    pub(crate) fn year(self) -> i32 {
        self.0.div_euclid(12)
    }

    /// 1-based month of the year.
    pub(crate) fn month_of_year(self) -> u32 {
        (self.0.rem_euclid(12) + 1) as u32
    }

    pub fn plus(self, months: i32) -> Month {
        Month(self.0 + months)
    }

    /// `self - other` in months.
    pub fn months_since(self, other: Month) -> i32 {
        self.0 - other.0
    }

    /// Age in whole years reached at the end of month `at` for a person born in `self`.
    pub fn age_at(self, at: Month) -> i32 {
        at.months_since(self).div_euclid(12)
    }

    /// Months `from..=to` relative to `self` (e.g. `-4..=-2` for the RSA reference quarter).
    pub fn window(self, from: i32, to: i32) -> impl Iterator<Item = Month> {
        (from..=to).map(move |k| self.plus(k))
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month_of_year())
    }
}

impl std::str::FromStr for Month {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Month::parse(s).ok_or_else(|| format!("'{s}' is not a month in the form YYYY-MM"))
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_months() {
        let m = Month::parse("2025-09").unwrap();
        assert_eq!(m.to_string(), "2025-09");
        assert_eq!(m.plus(-9).to_string(), "2024-12");
        assert_eq!(m.plus(4).to_string(), "2026-01");
        for bad in [
            "2025-13",
            "2025-00",
            "2025-9",
            "25-09",
            "2025/09",
            "2025-09-01",
            "",
        ] {
            assert!(Month::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn age_counts_whole_years() {
        let born = Month::parse("1960-10").unwrap();
        assert_eq!(born.age_at(Month::parse("2025-09").unwrap()), 64);
        assert_eq!(born.age_at(Month::parse("2025-10").unwrap()), 65);
    }
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian calendar;
/// H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod civil_tests {
    use super::civil_from_days;

    #[test]
    fn days_since_1970_give_the_calendar_date() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_430), (2025, 12, 8));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
