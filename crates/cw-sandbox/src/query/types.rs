//! Type checks of parsed conditions against what each field holds.
//!
//! ConnectWise hands conditions to SQL Server, which refuses a comparison between a number
//! column and a word, or between a text column and a bare number, instead of quietly matching
//! nothing. The sandbox answers such conditions with a 400 that says how to write them. It
//! stays permissive where SQL Server converts implicitly: a number field compared with a
//! numeric string (`id = "5"`), a boolean field with `0`/`1` or `"true"`, a date field with a
//! quoted date. `null` compares with anything.

use chrono::{DateTime, NaiveDate};

use super::QueryError;
use super::conditions::{Comparison, Conditions, Literal, Node, Test};
use super::path::FieldPath;

/// What a field path holds, as far as type checks care. The store's schema supplies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// A whole or decimal number (`id`, `quantity`).
    Number,
    /// Text, including enum values.
    Text,
    /// Text that holds a date-time (`_info/lastUpdated`): strings and dates both compare.
    DateText,
    /// A `YYYY-MM-DDTHH:MM:SSZ` date-time.
    DateTime,
    /// `true` or `false`.
    Bool,
    /// A reference object (`company`); only its fields (`company/id`) can be compared.
    Reference,
    /// A JSON array (`types`); only its elements' fields (`types/id`) can be compared.
    List,
    /// Not checked: anything the schema does not describe.
    Any,
}

impl Conditions {
    /// Checks every comparison against the type of its field, as `type_of` reports it for the
    /// path's segments; the first mismatch is the error.
    pub fn check_types(&self, type_of: impl Fn(&[String]) -> FieldType) -> Result<(), QueryError> {
        self.root.check_types(&type_of)
    }
}

impl Node {
    fn check_types(&self, type_of: &impl Fn(&[String]) -> FieldType) -> Result<(), QueryError> {
        match self {
            Node::Any(children) | Node::All(children) => children
                .iter()
                .try_for_each(|child| child.check_types(type_of)),
            Node::Test(comparison) => {
                check_comparison(comparison, type_of(comparison.path.segments()))
            }
        }
    }
}

fn check_comparison(comparison: &Comparison, field_type: FieldType) -> Result<(), QueryError> {
    let path = &comparison.path;

    match &comparison.test {
        Test::Compare(_, literal) => check_literal(path, field_type, literal),
        Test::In { values, .. } => values
            .iter()
            .try_for_each(|literal| check_literal(path, field_type, literal)),
        // Patterns read numbers, booleans and dates as text, as SQL Server's `like` does, so
        // only a whole reference or list is wrong here.
        Test::Like { .. } | Test::Contains { .. } => match field_type {
            FieldType::Reference | FieldType::List => Err(mismatch(path, field_type, None)),
            _ => Ok(()),
        },
    }
}

fn check_literal(
    path: &FieldPath,
    field_type: FieldType,
    literal: &Literal,
) -> Result<(), QueryError> {
    let fits = match (field_type, literal) {
        (_, Literal::Null) | (FieldType::Any, _) => true,
        (FieldType::Number, Literal::Number(_)) => true,
        (FieldType::Number, Literal::Str(text)) => is_number_text(text),
        (FieldType::Text, Literal::Str(_)) => true,
        (FieldType::DateText, Literal::Str(_) | Literal::DateTime(_)) => true,
        (FieldType::DateTime, Literal::DateTime(_)) => true,
        (FieldType::DateTime, Literal::Str(text)) => is_date_text(text),
        (FieldType::Bool, Literal::Bool(_)) => true,
        (FieldType::Bool, Literal::Number(number)) => {
            number.is_zero() || *number == rust_decimal::Decimal::ONE
        }
        (FieldType::Bool, Literal::Str(text)) => {
            ["true", "false", "0", "1"].contains(&text.trim().to_lowercase().as_str())
        }
        _ => false,
    };

    if fits {
        Ok(())
    } else {
        Err(mismatch(path, field_type, Some(literal)))
    }
}

fn is_number_text(text: &str) -> bool {
    text.trim().parse::<rust_decimal::Decimal>().is_ok()
}

fn is_date_text(text: &str) -> bool {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text).is_ok()
        || NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// The 400 message for a comparison that cannot work, with an example of one that does.
fn mismatch(path: &FieldPath, field_type: FieldType, literal: Option<&Literal>) -> QueryError {
    let advice = match field_type {
        FieldType::Number => {
            format!("{path} is a number; compare it with a number, like {path} = 5")
        }
        FieldType::Text | FieldType::DateText => {
            format!("{path} is a string; compare it with a string in quotes, like {path} = \"5\"")
        }
        FieldType::DateTime => format!(
            "{path} is a date; compare it with a date in square brackets, like {path} > \
             [2025-01-01T00:00:00Z]"
        ),
        FieldType::Bool => {
            format!("{path} is a boolean; compare it with true or false, like {path} = true")
        }
        FieldType::Reference => format!(
            "{path} is a reference to another record; compare one of its fields instead, like \
             {path}/id = 1 or {path}/name = \"...\""
        ),
        FieldType::List => {
            format!("{path} is a list; compare a field of its elements instead, like {path}/id = 1")
        }
        FieldType::Any => format!("{path} cannot be compared this way"),
    };
    let found = match literal {
        Some(literal) => format!(" (got {})", describe(literal)),
        None => String::new(),
    };

    QueryError {
        message: format!("Invalid conditions: {advice}{found}."),
    }
}

fn describe(literal: &Literal) -> String {
    match literal {
        Literal::Str(text) => format!("the string \"{text}\""),
        Literal::Number(number) => format!("the number {number}"),
        Literal::DateTime(instant) => {
            format!("the date [{}]", instant.format("%Y-%m-%dT%H:%M:%SZ"))
        }
        Literal::Bool(flag) => format!("the boolean {flag}"),
        Literal::Null => "null".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy schema: `id` and `quantity` are numbers, `name` text, `startDate` a date,
    /// `cancelledFlag` a boolean, `company` a reference with `company/id` a number, `types` a
    /// list, `_info/lastUpdated` date text; anything else is unchecked.
    fn type_of(segments: &[String]) -> FieldType {
        let path: Vec<&str> = segments.iter().map(String::as_str).collect();
        match path.as_slice() {
            ["id" | "quantity"] | ["company", "id"] => FieldType::Number,
            ["name"] | ["company", "name"] => FieldType::Text,
            ["startDate"] => FieldType::DateTime,
            ["cancelledFlag"] => FieldType::Bool,
            ["company"] => FieldType::Reference,
            ["types"] => FieldType::List,
            ["_info", "lastUpdated"] => FieldType::DateText,
            _ => FieldType::Any,
        }
    }

    fn check(conditions: &str) -> Result<(), String> {
        Conditions::parse(conditions)
            .unwrap()
            .check_types(type_of)
            .map_err(|error| error.message)
    }

    #[test]
    fn a_number_field_compared_with_a_boolean_or_a_date_is_refused() {
        let boolean = check("id = true").unwrap_err();
        let date = check("id = [2025-01-01T00:00:00Z]").unwrap_err();

        assert!(
            boolean.contains("id is a number; compare it with a number"),
            "{boolean}"
        );
        assert!(date.contains("id is a number"), "{date}");
    }

    #[test]
    fn a_number_field_accepts_numbers_and_numeric_strings_only() {
        assert_eq!(check("id = 5 and quantity < 2.5"), Ok(()));
        assert_eq!(check("id = \"5\""), Ok(()));
        assert!(check("id = \"five\"").is_err());
    }

    #[test]
    fn a_text_field_compared_with_a_bare_number_or_boolean_is_refused() {
        let number = check("name = 5").unwrap_err();

        assert!(number.contains("name is a string"), "{number}");
        assert!(check("name = false").is_err());
        assert_eq!(check("name = \"5\""), Ok(()));
    }

    #[test]
    fn comparing_a_reference_itself_says_to_use_its_id() {
        let error = check("company = 1").unwrap_err();

        assert!(error.contains("company/id"), "{error}");
        assert!(check("company like \"A%\"").is_err());
        assert_eq!(check("company/id = 1 and company/name = \"A\""), Ok(()));
        assert_eq!(check("company = null"), Ok(()));
    }

    #[test]
    fn a_list_is_compared_through_its_elements() {
        assert!(check("types = 1").unwrap_err().contains("types/id"));
        assert_eq!(check("types/id = 1"), Ok(()));
    }

    #[test]
    fn dates_booleans_and_in_lists_are_checked_value_by_value() {
        assert_eq!(check("startDate > [2025-01-01T00:00:00Z]"), Ok(()));
        assert_eq!(check("startDate > \"2025-01-01\""), Ok(()));
        assert!(check("startDate > 5").is_err());
        assert_eq!(check("cancelledFlag = false or cancelledFlag = 1"), Ok(()));
        assert!(check("cancelledFlag = 2").is_err());
        assert!(check("id in (1, 2, true)").is_err());
        assert_eq!(check("id not in (1, null)"), Ok(()));
        assert_eq!(check("_info/lastUpdated > [2025-01-01T00:00:00Z]"), Ok(()));
    }

    #[test]
    fn patterns_may_read_numbers_as_text() {
        assert_eq!(check("id like \"1%\" and quantity contains \"5\""), Ok(()));
    }
}
