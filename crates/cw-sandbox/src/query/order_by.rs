//! The `orderBy` parameter: `name asc, company/name desc, id`.

use std::cmp::Ordering;

use serde_json::Value;

use super::QueryError;
use super::collation::{fold_cmp, json_decimal};
use super::path::{FieldPath, distinct_paths};

const PARAMETER: &str = "orderBy";

/// A parsed `orderBy`: sort keys, most significant first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    keys: Vec<SortKey>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SortKey {
    path: FieldPath,
    descending: bool,
}

impl OrderBy {
    /// Parses comma-separated `path [asc|desc]` keys; the direction is ascending when left out
    /// and its keyword is case-insensitive.
    pub fn parse(text: &str) -> Result<OrderBy, QueryError> {
        if text.trim().is_empty() {
            return Err(QueryError::at(
                PARAMETER,
                1,
                "the orderBy is empty; expected a field name",
            ));
        }

        let mut keys = Vec::new();
        let mut position = 1;
        for item in text.split(',') {
            keys.push(parse_key(item, position)?);
            position += item.chars().count() + 1;
        }
        Ok(OrderBy { keys })
    }

    /// Orders two records by the keys in turn.
    ///
    /// Nulls and missing fields come first when ascending (last when descending), as SQL Server
    /// sorts them. Numbers compare numerically, strings ignoring case, booleans false before
    /// true. Records equal on every key compare equal, so a stable sort keeps the store's id order
    /// among them.
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for key in &self.keys {
            let ordering = sort_cmp(key.path.first_value(a), key.path.first_value(b));
            let ordering = if key.descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        Ordering::Equal
    }

    /// Every field path the keys use, as written, each once.
    pub fn paths(&self) -> Vec<String> {
        distinct_paths(self.keys.iter().map(|key| &key.path))
    }
}

/// Parses one `path [asc|desc]` item that starts at 1-based `position`.
fn parse_key(item: &str, position: usize) -> Result<SortKey, QueryError> {
    let mut words = Vec::new();
    let mut offset = position;
    for (index, piece) in item.split(char::is_whitespace).enumerate() {
        // Each split swallowed exactly one whitespace character before this piece.
        if index > 0 {
            offset += 1;
        }
        if !piece.is_empty() {
            words.push((piece, offset));
        }
        offset += piece.chars().count();
    }

    let Some(&(path_text, path_position)) = words.first() else {
        return Err(QueryError::at(
            PARAMETER,
            position,
            "expected a field name but found nothing",
        ));
    };
    let path = FieldPath::parse(path_text, PARAMETER, path_position)?;

    let descending = match words.get(1) {
        None => false,
        Some((word, _)) if word.eq_ignore_ascii_case("asc") => false,
        Some((word, _)) if word.eq_ignore_ascii_case("desc") => true,
        Some((word, at)) => {
            return Err(QueryError::at(
                PARAMETER,
                *at,
                format!("expected asc, desc or `,` after the field `{path}` but found `{word}`"),
            ));
        }
    };

    if let Some((word, at)) = words.get(2) {
        return Err(QueryError::at(
            PARAMETER,
            *at,
            format!("expected `,` or the end of the orderBy but found `{word}`"),
        ));
    }

    Ok(SortKey { path, descending })
}

/// Orders two field values; values of different kinds sort by kind.
fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Number(a), Value::Number(b)) => match (json_decimal(a), json_decimal(b)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Numbers too large for a decimal are rare enough that their text order will do.
            _ => a.to_string().cmp(&b.to_string()),
        },
        (Value::String(a), Value::String(b)) => fold_cmp(a, b),
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

fn kind_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sorted(order_by: &str, records: &[Value]) -> Vec<i64> {
        let order_by = OrderBy::parse(order_by).unwrap();
        let mut records = records.to_vec();
        records.sort_by(|a, b| order_by.compare(a, b));
        records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
    }

    fn error(text: &str) -> String {
        OrderBy::parse(text).unwrap_err().message
    }

    #[test]
    fn strings_sort_ignoring_case() {
        let records = [
            json!({"id": 1, "name": "beta"}),
            json!({"id": 2, "name": "Alpha"}),
            json!({"id": 3, "name": "GAMMA"}),
        ];

        assert_eq!(sorted("name", &records), vec![2, 1, 3]);
        assert_eq!(sorted("NAME DESC", &records), vec![3, 1, 2]);
    }

    #[test]
    fn numbers_sort_numerically() {
        let records = [
            json!({"id": 1, "amount": 10}),
            json!({"id": 2, "amount": 9.5}),
            json!({"id": 3, "amount": -1}),
        ];

        assert_eq!(sorted("amount asc", &records), vec![3, 2, 1]);
    }

    #[test]
    fn nulls_come_first_ascending_and_last_descending() {
        let records = [
            json!({"id": 1, "endDate": "2025-01-01T00:00:00Z"}),
            json!({"id": 2, "endDate": null}),
            json!({"id": 3}),
        ];

        assert_eq!(sorted("endDate", &records), vec![2, 3, 1]);
        assert_eq!(sorted("endDate desc", &records), vec![1, 2, 3]);
    }

    #[test]
    fn booleans_sort_false_first() {
        let records = [
            json!({"id": 1, "flag": true}),
            json!({"id": 2, "flag": false}),
        ];

        assert_eq!(sorted("flag", &records), vec![2, 1]);
    }

    #[test]
    fn later_keys_break_ties() {
        let records = [
            json!({"id": 1, "company": {"name": "B"}, "name": "x"}),
            json!({"id": 2, "company": {"name": "a"}, "name": "y"}),
            json!({"id": 3, "company": {"name": "A"}, "name": "z"}),
        ];

        assert_eq!(
            sorted("company/name asc, name desc", &records),
            vec![3, 2, 1]
        );
        assert_eq!(sorted("company/name,id", &records), vec![2, 3, 1]);
    }

    #[test]
    fn paths_are_listed() {
        let order_by = OrderBy::parse(" name asc ,company/name desc, id").unwrap();

        assert_eq!(order_by.paths(), vec!["name", "company/name", "id"]);
    }

    #[test]
    fn bad_input_is_reported_with_a_position() {
        assert_eq!(
            error(""),
            "Invalid orderBy at position 1: the orderBy is empty; expected a field name"
        );
        assert_eq!(
            error("name up"),
            "Invalid orderBy at position 6: expected asc, desc or `,` after the field `name` but \
             found `up`"
        );
        assert_eq!(
            error("name asc id"),
            "Invalid orderBy at position 10: expected `,` or the end of the orderBy but found `id`"
        );
        assert_eq!(
            error("name,,id"),
            "Invalid orderBy at position 6: expected a field name but found nothing"
        );
        assert!(error("name, company.name").contains("position 7"));
    }
}
