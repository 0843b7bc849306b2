//! The `fields` parameter: `id,name,company/name` returns partial records.

use serde_json::{Map, Value};

use super::QueryError;
use super::collation::fold_eq;
use super::path::{FieldPath, distinct_paths};

const PARAMETER: &str = "fields";

/// A parsed `fields` selection, ready to cut records down with [`FieldSelection::project`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSelection {
    paths: Vec<FieldPath>,
    tree: Tree,
}

/// The selected paths as a tree of names, so projecting walks each record once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tree {
    entries: Vec<(String, Selected)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Selected {
    /// The whole value under this name.
    Whole,
    /// Only some fields under this name.
    Part(Tree),
}

impl FieldSelection {
    /// Parses comma-separated field paths; spaces around each path are allowed.
    pub fn parse(text: &str) -> Result<FieldSelection, QueryError> {
        if text.trim().is_empty() {
            return Err(QueryError::at(
                PARAMETER,
                1,
                "the fields are empty; expected a field name",
            ));
        }

        let mut paths = Vec::new();
        let mut position = 1;
        for item in text.split(',') {
            let leading = item.chars().take_while(|c| c.is_whitespace()).count();
            paths.push(FieldPath::parse(
                item.trim(),
                PARAMETER,
                position + leading,
            )?);
            position += item.chars().count() + 1;
        }

        let mut tree = Tree::default();
        for path in &paths {
            tree.insert(path.segments());
        }
        Ok(FieldSelection { paths, tree })
    }

    /// Keeps only the selected paths of `record`, with their nesting.
    ///
    /// `company/name` yields `{"company": {"name": …}}`, and a path through an array keeps that
    /// field of every element. Keys keep the record's spelling and order. Fields the record does
    /// not have are left out, and nothing (`_info` included) is added that was not asked for.
    pub fn project(&self, record: &Value) -> Value {
        self.tree.project(record).unwrap_or_else(|| record.clone())
    }

    /// Every selected path, as written, each once.
    pub fn paths(&self) -> Vec<String> {
        distinct_paths(&self.paths)
    }
}

impl Tree {
    fn insert(&mut self, segments: &[String]) {
        let Some((name, rest)) = segments.split_first() else {
            return;
        };

        let index = match self.entries.iter().position(|(key, _)| fold_eq(key, name)) {
            Some(index) => index,
            None => {
                self.entries
                    .push((name.clone(), Selected::Part(Tree::default())));
                self.entries.len() - 1
            }
        };

        // Asking for `company` and for `company/name` means the whole company.
        let entry = &mut self.entries[index].1;
        match entry {
            Selected::Whole => {}
            Selected::Part(_) if rest.is_empty() => *entry = Selected::Whole,
            Selected::Part(subtree) => subtree.insert(rest),
        }
    }

    fn get(&self, key: &str) -> Option<&Selected> {
        self.entries
            .iter()
            .find(|(name, _)| fold_eq(name, key))
            .map(|(_, selected)| selected)
    }

    /// Projects objects and arrays of objects; other values cannot hold sub-fields.
    fn project(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, child) in map {
                    let kept = match self.get(key) {
                        None => None,
                        Some(Selected::Whole) => Some(child.clone()),
                        Some(Selected::Part(subtree)) => subtree.project(child),
                    };
                    if let Some(kept) = kept {
                        out.insert(key.clone(), kept);
                    }
                }
                Some(Value::Object(out))
            }
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|item| self.project(item)).collect(),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn project(fields: &str, record: &Value) -> Value {
        FieldSelection::parse(fields).unwrap().project(record)
    }

    fn agreement() -> Value {
        json!({
            "id": 3,
            "name": "Private Cloud",
            "company": {"id": 7, "identifier": "ACME", "name": "Acme", "_info": {"company_href": "/company/companies/7"}},
            "types": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
            "endDate": null,
            "_info": {"lastUpdated": "2025-01-01T00:00:00Z"},
        })
    }

    #[test]
    fn only_the_listed_fields_are_kept() {
        assert_eq!(
            project("id,name", &agreement()),
            json!({"id": 3, "name": "Private Cloud"})
        );
    }

    #[test]
    fn nested_paths_keep_their_nesting() {
        assert_eq!(
            project("id, company/name", &agreement()),
            json!({"id": 3, "company": {"name": "Acme"}})
        );
    }

    #[test]
    fn a_whole_reference_wins_over_one_of_its_fields() {
        let whole = agreement()["company"].clone();

        assert_eq!(
            project("company/name,company", &agreement()),
            json!({"company": whole})
        );
        assert_eq!(
            project("company,company/name", &agreement()),
            json!({"company": whole})
        );
    }

    #[test]
    fn paths_through_arrays_keep_the_field_of_each_element() {
        assert_eq!(
            project("types/id", &agreement()),
            json!({"types": [{"id": 1}, {"id": 2}]})
        );
    }

    #[test]
    fn names_match_ignoring_case_and_keep_the_records_spelling() {
        assert_eq!(
            project("NAME,Company/ID", &agreement()),
            json!({"name": "Private Cloud", "company": {"id": 7}})
        );
    }

    #[test]
    fn info_is_kept_only_when_asked() {
        assert_eq!(project("id", &agreement()), json!({"id": 3}));
        assert_eq!(
            project("id,_info/lastUpdated", &agreement()),
            json!({"id": 3, "_info": {"lastUpdated": "2025-01-01T00:00:00Z"}})
        );
    }

    #[test]
    fn missing_fields_are_left_out_and_nulls_kept() {
        assert_eq!(
            project("id,endDate,parentAgreement/id", &agreement()),
            json!({"id": 3, "endDate": null})
        );
    }

    #[test]
    fn keys_keep_the_records_order() {
        let projected = project("name,id", &agreement());

        let keys: Vec<&String> = projected.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["id", "name"]);
    }

    #[test]
    fn paths_are_listed_as_written() {
        let selection = FieldSelection::parse("id, company/name ,id").unwrap();

        assert_eq!(selection.paths(), vec!["id", "company/name"]);
    }

    #[test]
    fn bad_input_is_reported_with_a_position() {
        assert_eq!(
            FieldSelection::parse(" ").unwrap_err().message,
            "Invalid fields at position 1: the fields are empty; expected a field name"
        );
        assert_eq!(
            FieldSelection::parse("id, ,name").unwrap_err().message,
            "Invalid fields at position 5: expected a field name (letters, digits and \
             underscores, with / between names) but found nothing"
        );
        assert!(
            FieldSelection::parse("id,company name")
                .unwrap_err()
                .message
                .starts_with("Invalid fields at position 4: expected a field name")
        );
        assert!(FieldSelection::parse("id,").is_err());
    }
}
