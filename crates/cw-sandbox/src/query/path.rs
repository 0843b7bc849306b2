//! Field paths such as `company/identifier`, and how they are looked up in a JSON record.

use std::fmt;

use serde_json::{Map, Value};

use super::QueryError;
use super::collation::fold_eq;

/// A `/`-separated path of field names, kept as the caller spelled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldPath {
    segments: Vec<String>,
}

/// The null that a missing field reads as.
static NULL: Value = Value::Null;

/// Tells whether `c` may start a field name.
pub(crate) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Tells whether `c` may continue a field name.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl FieldPath {
    /// Wraps segments that a parser has already checked.
    pub(crate) fn new(segments: Vec<String>) -> Self {
        Self { segments }
    }

    /// Parses a path written without spaces, as in `orderBy` and `fields`.
    ///
    /// `position` is the 1-based character position of `text` in the parameter, so that errors
    /// point into the caller's whole string.
    pub(crate) fn parse(
        text: &str,
        parameter: &str,
        position: usize,
    ) -> Result<FieldPath, QueryError> {
        let mut segments = Vec::new();
        let mut segment_start = position;

        for segment in text.split('/') {
            let mut chars = segment.chars();
            let valid = chars.next().is_some_and(is_name_start) && chars.all(is_name_char);
            if !valid {
                let found = match segment.chars().next() {
                    None => "nothing".to_owned(),
                    Some(_) => format!("`{segment}`"),
                };
                return Err(QueryError::at(
                    parameter,
                    segment_start,
                    format!(
                        "expected a field name (letters, digits and underscores, with / between \
                         names) but found {found}"
                    ),
                ));
            }

            segments.push(segment.to_owned());
            segment_start += segment.chars().count() + 1;
        }

        Ok(Self { segments })
    }

    /// The names along the path.
    pub(crate) fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Every value the path reaches in `record`.
    ///
    /// A path through an array reaches into each element, and an array at the end of the path
    /// yields its elements. A missing field, or a path through a null or a scalar, reads as null;
    /// an empty array yields nothing.
    pub(crate) fn values<'a>(&self, record: &'a Value) -> Vec<&'a Value> {
        let mut found = Vec::new();
        collect(record, &self.segments, &mut found);
        found
    }

    /// The first value the path reaches, or null; what sorting looks at.
    pub(crate) fn first_value<'a>(&self, record: &'a Value) -> &'a Value {
        self.values(record).into_iter().next().unwrap_or(&NULL)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("/"))
    }
}

/// Finds a key case-insensitively, preferring an exact match.
pub(crate) fn find_key<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| fold_eq(key, name))
            .map(|(_, value)| value)
    })
}

fn collect<'a>(value: &'a Value, segments: &[String], found: &mut Vec<&'a Value>) {
    match (value, segments.split_first()) {
        (Value::Array(items), _) => {
            for item in items {
                collect(item, segments, found);
            }
        }
        (_, None) => found.push(value),
        (Value::Object(map), Some((name, rest))) => match find_key(map, name) {
            Some(child) => collect(child, rest, found),
            None => found.push(&NULL),
        },
        (_, Some(_)) => found.push(&NULL),
    }
}

/// Joins paths for `paths()`, dropping repeats but keeping the first spelling and order.
pub(crate) fn distinct_paths<'a>(paths: impl IntoIterator<Item = &'a FieldPath>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for path in paths {
        let text = path.to_string();
        if !out.contains(&text) {
            out.push(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text, "fields", 1).unwrap()
    }

    #[test]
    fn a_path_reaches_into_references_ignoring_case() {
        let record = json!({"Company": {"Identifier": "ACME"}});

        assert_eq!(
            path("company/identifier").values(&record),
            vec![&json!("ACME")]
        );
    }

    #[test]
    fn a_path_through_an_array_reaches_every_element() {
        let record = json!({"types": [{"id": 1}, {"id": 2}, {"name": "x"}]});

        assert_eq!(
            path("types/id").values(&record),
            vec![&json!(1), &json!(2), &Value::Null]
        );
    }

    #[test]
    fn a_missing_field_reads_as_null() {
        let record = json!({"company": null});

        assert_eq!(path("company/id").values(&record), vec![&Value::Null]);
        assert_eq!(path("nothing").values(&record), vec![&Value::Null]);
    }

    #[test]
    fn an_exact_key_wins_over_a_case_variant() {
        let record = json!({"NAME": 1, "name": 2});

        assert_eq!(path("name").first_value(&record), &json!(2));
    }

    #[test]
    fn a_malformed_path_is_reported_at_its_segment() {
        let error = FieldPath::parse("company//id", "orderBy", 5).unwrap_err();

        assert_eq!(
            error.message,
            "Invalid orderBy at position 13: expected a field name (letters, digits and \
             underscores, with / between names) but found nothing"
        );
    }

    #[test]
    fn repeated_paths_are_listed_once() {
        let paths = [path("id"), path("name"), path("id")];

        assert_eq!(distinct_paths(&paths), vec!["id", "name"]);
    }
}
