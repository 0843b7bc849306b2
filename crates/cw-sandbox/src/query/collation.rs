//! How values are compared: case-insensitive text, exact decimals and date-time instants.
//!
//! ConnectWise runs on SQL Server with a case-insensitive collation, so every text comparison in
//! the sandbox goes through [`fold_char`]. Numbers in records are `serde_json::Number`s built with
//! `arbitrary_precision`, so their text is exact and is read as a [`Decimal`].

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Number;

/// Folds one character to its simple lower-case form.
///
/// Characters whose lower case is several characters (such as `İ`) are kept as they are, so that
/// folding never changes a string's length and `like` patterns still line up character by
/// character.
pub(crate) fn fold_char(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

/// Folds a whole string with [`fold_char`].
pub(crate) fn fold_string(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// Orders two strings as the case-insensitive collation does.
pub(crate) fn fold_cmp(a: &str, b: &str) -> Ordering {
    a.chars().map(fold_char).cmp(b.chars().map(fold_char))
}

/// Tells whether two strings are equal ignoring case.
pub(crate) fn fold_eq(a: &str, b: &str) -> bool {
    fold_cmp(a, b) == Ordering::Equal
}

/// Reads a JSON number as an exact decimal; `None` when it does not fit a [`Decimal`].
pub(crate) fn json_decimal(number: &Number) -> Option<Decimal> {
    let text = number.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// Reads the text of a string field as a decimal, for `identifier = 123` style comparisons.
pub(crate) fn text_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text.trim()).ok()
}

/// Reads the text of a string field as an instant.
///
/// ConnectWise writes date-times as `2025-01-01T00:00:00Z`; RFC 3339 with any offset or fraction is
/// accepted too, and a bare calendar date is read as midnight UTC.
pub(crate) fn text_instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }

    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
}

/// Reads the text of a string field as a boolean (`true`/`false`, any case).
pub(crate) fn text_bool(text: &str) -> Option<bool> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_of_non_ascii_letters() {
        assert!(fold_eq("MÜLLER", "Müller"));
        assert!(fold_eq("SOCIÉTÉ GÉNÉRALE", "Société Générale"));
        assert!(!fold_eq("Societe", "Société"));
    }

    #[test]
    fn folding_keeps_characters_with_multi_character_lower_case() {
        assert_eq!(fold_string("İx"), "İx");
    }

    #[test]
    fn json_numbers_are_read_exactly() {
        let number: Number = serde_json::from_str("0.1000000000000000000000001").unwrap();

        assert_eq!(
            json_decimal(&number),
            Some(Decimal::from_str("0.1000000000000000000000001").unwrap())
        );
    }

    #[test]
    fn json_numbers_in_scientific_notation_are_read() {
        let number: Number = serde_json::from_str("1.5e3").unwrap();

        assert_eq!(json_decimal(&number), Some(Decimal::from(1500)));
    }

    #[test]
    fn date_only_text_is_midnight_utc() {
        let instant = text_instant("2025-03-01").unwrap();

        assert_eq!(instant.to_rfc3339(), "2025-03-01T00:00:00+00:00");
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let instant = text_instant("2025-03-01T02:00:00+02:00").unwrap();

        assert_eq!(instant, text_instant("2025-03-01T00:00:00Z").unwrap());
    }
}
