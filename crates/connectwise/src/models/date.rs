//! Calendar dates and instants in ConnectWise's wire format.
//!
//! ConnectWise types agreement and addition dates as date-times, but they mean calendar days.
//! [`CwDate`] keeps the day exactly as written and sends it back as midnight UTC, so no time
//! zone can move it to the day before (reference §10.2).

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The wire format of every ConnectWise date-time.
pub(crate) const WIRE_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// A calendar date sent as `YYYY-MM-DDT00:00:00Z`.
///
/// Reading takes the date part as written (`2025-03-01T23:00:00Z` is 1 March) and never
/// converts between time zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CwDate(pub NaiveDate);

impl CwDate {
    /// Builds a date from year, month and day; `None` when the date does not exist.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<CwDate> {
        NaiveDate::from_ymd_opt(year, month, day).map(CwDate)
    }

    /// The calendar date.
    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// The wire text, `YYYY-MM-DDT00:00:00Z`.
    pub fn to_wire(self) -> String {
        self.0.format("%Y-%m-%dT00:00:00Z").to_string()
    }

    /// Reads a wire value, taking the calendar date as written.
    ///
    /// Accepts `YYYY-MM-DD` and `YYYY-MM-DDT…` with any time and offset after the `T`; the time
    /// part is checked for shape but ignored.
    pub fn parse_wire(text: &str) -> Result<CwDate, String> {
        let text = text.trim();
        // `get` rather than slicing: a multi-byte character must give an error, not a panic.
        let date_part = text.get(..10).unwrap_or(text);
        let rest = text.get(date_part.len()..).unwrap_or("");
        let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
            .map_err(|error| format!("`{text}` is not a ConnectWise date: {error}"))?;

        if !rest.is_empty() {
            let time = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '));
            let plausible = time.is_some_and(|time| {
                time.len() >= 5 && time.as_bytes()[..2].iter().all(u8::is_ascii_digit)
            });
            if !plausible {
                return Err(format!("`{text}` is not a ConnectWise date"));
            }
        }
        Ok(CwDate(date))
    }
}

impl From<NaiveDate> for CwDate {
    fn from(date: NaiveDate) -> CwDate {
        CwDate(date)
    }
}

impl fmt::Display for CwDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for CwDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_wire())
    }
}

impl<'de> Deserialize<'de> for CwDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CwDate, D::Error> {
        let text = String::deserialize(deserializer)?;
        CwDate::parse_wire(&text).map_err(serde::de::Error::custom)
    }
}

/// Formats an instant in the wire format (`YYYY-MM-DDTHH:MM:SSZ`, whole seconds, UTC).
pub fn format_datetime(instant: &DateTime<Utc>) -> String {
    instant.format(WIRE_FORMAT).to_string()
}

/// Reads an instant in the wire format, also accepting RFC 3339 with fractions or offsets.
pub(crate) fn parse_datetime(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, WIRE_FORMAT) {
        return Ok(naive.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|error| format!("`{text}` is not a ConnectWise date-time: {error}"))
}

/// Serde helpers for `Option<DateTime<Utc>>` fields in the wire format.
pub(crate) mod option_datetime {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(instant) => serializer.serialize_str(&format_datetime(instant)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => parse_datetime(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_sent_as_midnight_utc() {
        let date = CwDate::from_ymd(2025, 3, 1).unwrap();

        assert_eq!(
            serde_json::to_string(&date).unwrap(),
            "\"2025-03-01T00:00:00Z\""
        );
    }

    #[test]
    fn a_late_evening_time_keeps_its_calendar_day() {
        let date: CwDate = serde_json::from_str("\"2025-02-28T23:30:00Z\"").unwrap();

        assert_eq!(date, CwDate::from_ymd(2025, 2, 28).unwrap());
    }

    #[test]
    fn an_offset_does_not_move_the_day() {
        let date: CwDate = serde_json::from_str("\"2025-03-01T00:00:00+10:00\"").unwrap();

        assert_eq!(date, CwDate::from_ymd(2025, 3, 1).unwrap());
    }

    #[test]
    fn a_bare_date_is_accepted() {
        let date: CwDate = serde_json::from_str("\"2024-02-29\"").unwrap();

        assert_eq!(date.to_wire(), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn nonsense_dates_are_rejected() {
        assert!(serde_json::from_str::<CwDate>("\"2025-02-30T00:00:00Z\"").is_err());
        assert!(serde_json::from_str::<CwDate>("\"01/03/2025\"").is_err());
        assert!(serde_json::from_str::<CwDate>("\"2025-03-01garbage\"").is_err());
    }

    #[test]
    fn instants_use_whole_seconds_and_z() {
        let instant = parse_datetime("2019-09-09T17:37:19.250+02:00").unwrap();

        assert_eq!(format_datetime(&instant), "2019-09-09T15:37:19Z");
    }
}
