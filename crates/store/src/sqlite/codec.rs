//! How values are written to and read from SQLite columns (see the conventions at the top of
//! `0001_initial.sql`).

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use crate::error::StoreError;

/// An instant as fixed-width RFC 3339 text, so text order is time order.
pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A calendar date as `YYYY-MM-DD`.
pub(crate) fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The text of any value whose `Display` is its stored form.
pub(crate) fn text(value: &impl Display) -> String {
    value.to_string()
}

/// JSON text of a value.
pub(crate) fn json(value: &serde_json::Value) -> String {
    value.to_string()
}

/// Reads a TEXT column.
pub(crate) fn get_text(row: &SqliteRow, column: &str) -> Result<String, StoreError> {
    Ok(row.try_get::<String, _>(column)?)
}

/// Reads a nullable TEXT column.
pub(crate) fn get_opt_text(row: &SqliteRow, column: &str) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

/// Reads an INTEGER column.
pub(crate) fn get_i64(row: &SqliteRow, column: &str) -> Result<i64, StoreError> {
    Ok(row.try_get::<i64, _>(column)?)
}

/// Reads a nullable INTEGER column.
pub(crate) fn get_opt_i64(row: &SqliteRow, column: &str) -> Result<Option<i64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(column)?)
}

/// Reads a 0/1 INTEGER column.
pub(crate) fn get_bool(row: &SqliteRow, column: &str) -> Result<bool, StoreError> {
    Ok(get_i64(row, column)? != 0)
}

/// Reads a TEXT column and parses it with `FromStr`; `what` names the value in errors.
pub(crate) fn get_parsed<T>(
    row: &SqliteRow,
    column: &str,
    what: &'static str,
) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    parse(&get_text(row, column)?, what)
}

/// Reads a nullable TEXT column and parses it with `FromStr`.
pub(crate) fn get_opt_parsed<T>(
    row: &SqliteRow,
    column: &str,
    what: &'static str,
) -> Result<Option<T>, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    get_opt_text(row, column)?
        .map(|value| parse(&value, what))
        .transpose()
}

/// Parses stored text with `FromStr`.
pub(crate) fn parse<T>(value: &str, what: &'static str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|error: T::Err| StoreError::Corrupt {
        what,
        value: value.to_owned(),
        reason: error.to_string(),
    })
}

/// Reads an instant column.
pub(crate) fn get_instant(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_instant(&get_text(row, column)?)
}

/// Reads a nullable instant column.
pub(crate) fn get_opt_instant(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    get_opt_text(row, column)?
        .map(|value| parse_instant(&value))
        .transpose()
}

/// Parses a stored instant.
pub(crate) fn parse_instant(value: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| StoreError::Corrupt {
            what: "instant",
            value: value.to_owned(),
            reason: error.to_string(),
        })
}

/// Reads a date column.
pub(crate) fn get_date(row: &SqliteRow, column: &str) -> Result<NaiveDate, StoreError> {
    get_parsed(row, column, "date")
}

/// Reads a nullable date column.
pub(crate) fn get_opt_date(row: &SqliteRow, column: &str) -> Result<Option<NaiveDate>, StoreError> {
    get_opt_parsed(row, column, "date")
}

/// Reads a decimal column.
pub(crate) fn get_decimal(row: &SqliteRow, column: &str) -> Result<Decimal, StoreError> {
    get_parsed(row, column, "decimal")
}

/// Reads a nullable decimal column.
pub(crate) fn get_opt_decimal(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<Decimal>, StoreError> {
    get_opt_parsed(row, column, "decimal")
}

/// Reads a JSON column.
pub(crate) fn get_json(row: &SqliteRow, column: &str) -> Result<serde_json::Value, StoreError> {
    parse_json(&get_text(row, column)?)
}

/// Reads a nullable JSON column.
pub(crate) fn get_opt_json(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    get_opt_text(row, column)?
        .map(|value| parse_json(&value))
        .transpose()
}

/// Parses stored JSON text.
pub(crate) fn parse_json(value: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(value).map_err(|error| StoreError::Corrupt {
        what: "JSON document",
        value: value.chars().take(200).collect(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn instants_have_a_fixed_width_so_text_order_is_time_order() {
        let early = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let later = early + chrono::TimeDelta::microseconds(1_500_000);

        let early_text = instant(early);
        let later_text = instant(later);

        assert_eq!(early_text, "2026-01-02T03:04:05.000000Z");
        assert_eq!(later_text, "2026-01-02T03:04:06.500000Z");
        assert!(early_text < later_text);
        assert_eq!(parse_instant(&later_text).unwrap(), later);
    }

    #[test]
    fn a_damaged_instant_is_reported_as_corrupt() {
        let error = parse_instant("yesterday").unwrap_err();

        assert!(
            matches!(
                error,
                StoreError::Corrupt {
                    what: "instant",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
