//! Testing a JSON record against parsed [`Conditions`].
//!
//! The conditions language has no negation above a single comparison, so SQL's three-valued
//! logic collapses safely: a comparison that SQL would call *unknown* (a null field, or values
//! that cannot be compared) is simply false, and `and`/`or` then give the same answers as SQL.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde_json::Value;

use super::collation::{
    fold_cmp, fold_string, json_decimal, text_bool, text_decimal, text_instant,
};
use super::conditions::{Comparison, Conditions, Literal, Node, Test};
use super::lexer::CmpOp;

impl Conditions {
    /// Tells whether `record` satisfies the conditions.
    ///
    /// See the [module documentation](crate::query) for how nulls, types, letter case and arrays
    /// are treated.
    pub fn matches(&self, record: &Value) -> bool {
        self.root.holds(record)
    }
}

impl Node {
    fn holds(&self, record: &Value) -> bool {
        match self {
            Node::Any(children) => children.iter().any(|child| child.holds(record)),
            Node::All(children) => children.iter().all(|child| child.holds(record)),
            Node::Test(comparison) => comparison.holds(record),
        }
    }
}

impl Comparison {
    /// A path through an array holds when any element holds; an empty array reads as null.
    fn holds(&self, record: &Value) -> bool {
        let values = self.path.values(record);
        if values.is_empty() {
            return self.holds_for(&Value::Null);
        }
        values.into_iter().any(|value| self.holds_for(value))
    }

    fn holds_for(&self, value: &Value) -> bool {
        match &self.test {
            Test::Compare(CmpOp::Eq, Literal::Null) => value.is_null(),
            Test::Compare(CmpOp::Ne, Literal::Null) => !value.is_null(),
            Test::Compare(op, literal) => {
                compare(value, literal).is_some_and(|ordering| op_holds(*op, ordering))
            }
            Test::Like { negated, pattern } => {
                text_of(value).is_some_and(|text| pattern.matches(&text) != *negated)
            }
            Test::Contains { negated, needle } => text_of(value)
                .is_some_and(|text| fold_string(&text).contains(needle.as_str()) != *negated),
            Test::In { negated, values } => {
                // For a null field `in` is true only through a listed null, and `not in` is
                // unknown, as `NULL NOT IN (…)` is in SQL.
                if value.is_null() {
                    return !negated && values.contains(&Literal::Null);
                }
                let listed = values
                    .iter()
                    .any(|literal| compare(value, literal) == Some(Ordering::Equal));
                listed != *negated
            }
        }
    }
}

fn op_holds(op: CmpOp, ordering: Ordering) -> bool {
    match op {
        CmpOp::Eq => ordering.is_eq(),
        CmpOp::Ne => ordering.is_ne(),
        CmpOp::Lt => ordering.is_lt(),
        CmpOp::Le => ordering.is_le(),
        CmpOp::Gt => ordering.is_gt(),
        CmpOp::Ge => ordering.is_ge(),
    }
}

/// Orders a record's value against a literal, or `None` when SQL would call it unknown.
fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Value::Null, _) | (_, Literal::Null) => None,

        (Value::String(text), Literal::Str(expected)) => Some(fold_cmp(text, expected)),
        (Value::String(text), Literal::Number(expected)) => {
            text_decimal(text).map(|number| number.cmp(expected))
        }
        (Value::String(text), Literal::DateTime(expected)) => {
            text_instant(text).map(|instant| instant.cmp(expected))
        }
        (Value::String(text), Literal::Bool(expected)) => {
            text_bool(text).map(|flag| flag.cmp(expected))
        }

        (Value::Number(number), Literal::Number(expected)) => {
            json_decimal(number).map(|number| number.cmp(expected))
        }
        (Value::Number(number), Literal::Str(expected)) => {
            let expected = text_decimal(expected)?;
            json_decimal(number).map(|number| number.cmp(&expected))
        }
        (Value::Number(number), Literal::Bool(expected)) => {
            json_decimal(number).map(|number| number.cmp(&Decimal::from(u8::from(*expected))))
        }

        (Value::Bool(flag), Literal::Bool(expected)) => Some(flag.cmp(expected)),
        (Value::Bool(flag), Literal::Number(expected)) => {
            Some(Decimal::from(u8::from(*flag)).cmp(expected))
        }
        (Value::Bool(flag), Literal::Str(expected)) => {
            text_bool(expected).map(|expected| flag.cmp(&expected))
        }

        _ => None,
    }
}

/// The text `like` and `contains` look at: strings, and numbers as their JSON text.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::collation::fold_eq;
    use super::*;

    fn matches(conditions: &str, record: &Value) -> bool {
        Conditions::parse(conditions)
            .unwrap_or_else(|error| panic!("{conditions}: {error}"))
            .matches(record)
    }

    /// Quotes text with the sandbox's escaping rule, as hyalto's conditions builder does.
    fn quote(text: &str, quote: char) -> String {
        let mut out = String::from(quote);
        for c in text.chars() {
            if c == quote || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push(quote);
        out
    }

    /// Escapes every `like` wildcard and bracket so the text matches only itself.
    fn like_literal(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                '%' | '*' | '[' | '_' => format!("[{c}]"),
                other => other.to_string(),
            })
            .collect()
    }

    fn acme() -> Value {
        json!({
            "id": 12,
            "name": "Acme Corp",
            "identifier": "ACME",
            "company": {"id": 7, "identifier": "Acme", "name": "Acme Holdings"},
            "cancelledFlag": false,
            "startDate": "2025-02-01T00:00:00Z",
            "endDate": null,
            "billAmount": 1250.50,
            "quantity": "3",
            "types": [{"id": 1}, {"id": 4}],
            "tags": [],
        })
    }

    #[test]
    fn strings_compare_ignoring_case() {
        let record = acme();

        assert!(matches(r#"identifier = "acme""#, &record));
        assert!(matches(r#"name != "Acme Inc""#, &record));
        assert!(!matches(r#"name != "ACME CORP""#, &record));
        assert!(matches(r#"name > "acme a" and name < "ACME D""#, &record));
    }

    #[test]
    fn numbers_compare_as_decimals() {
        let record = acme();

        assert!(matches("billAmount = 1250.5", &record));
        assert!(matches("billAmount = 1250.500", &record));
        assert!(matches(
            "billAmount > 1250.49 and billAmount <= 1250.50",
            &record
        ));
        assert!(matches("id >= -3 and id < 13", &record));
        assert!(!matches("id > 12", &record));
    }

    #[test]
    fn numbers_beyond_a_decimal_compare_as_unknown() {
        let record: Value = serde_json::from_str(r#"{"amount": 1e400}"#).unwrap();

        assert!(!matches("amount = 1", &record));
        assert!(!matches("amount != 1", &record));
        assert!(matches("amount != null", &record));
    }

    #[test]
    fn numbers_compare_with_numeric_text() {
        let record = acme();

        assert!(matches("quantity = 3.0", &record));
        assert!(matches(r#"id = "12""#, &record));
        assert!(!matches("name = 3", &record));
        assert!(!matches("name != 3", &record));
    }

    #[test]
    fn datetimes_compare_as_instants() {
        let record = acme();

        assert!(matches("startDate >= [2025-01-01T00:00:00Z]", &record));
        assert!(matches("startDate = [2025-02-01T00:00:00Z]", &record));
        assert!(!matches("startDate < [2025-02-01T00:00:00Z]", &record));
        assert!(matches(
            "startDate = [2025-02-01T00:00:00Z]",
            &json!({"startDate": "2025-02-01T01:00:00+01:00"})
        ));
        assert!(!matches("name < [2025-02-01T00:00:00Z]", &record));
    }

    #[test]
    fn booleans_compare_with_boolean_fields() {
        let record = acme();

        assert!(matches("cancelledFlag = false", &record));
        assert!(matches("cancelledFlag != TRUE", &record));
        assert!(!matches("cancelledFlag = true", &record));
        assert!(matches("cancelledFlag = 0", &record));
    }

    #[test]
    fn null_tests_see_missing_and_null_fields() {
        let record = acme();

        assert!(matches("endDate = null", &record));
        assert!(matches("parentAgreement/id = null", &record));
        assert!(matches("tags = null", &record));
        assert!(!matches("endDate != null", &record));
        assert!(matches("company/id != null", &record));
        assert!(!matches("company = null", &record));
    }

    #[test]
    fn comparisons_with_a_null_field_never_match() {
        let record = acme();

        assert!(!matches("endDate != [2025-01-01T00:00:00Z]", &record));
        assert!(!matches(r#"endDate not like "x%""#, &record));
        assert!(!matches(r#"endDate not contains "x""#, &record));
        assert!(!matches("endDate not in (1, 2)", &record));
        assert!(!matches("endDate in (1, 2)", &record));
        assert!(matches("endDate in (1, null)", &record));
    }

    #[test]
    fn paths_reach_into_references_ignoring_case() {
        let record = acme();

        assert!(matches("COMPANY/ID = 7", &record));
        assert!(matches(r#"company/identifier = "ACME""#, &record));
        assert!(!matches("company/id = 8", &record));
    }

    #[test]
    fn a_path_through_an_array_matches_any_element() {
        let record = acme();

        assert!(matches("types/id = 4", &record));
        assert!(matches("types/id in (3, 4)", &record));
        assert!(!matches("types/id = 5", &record));
    }

    #[test]
    fn like_uses_wildcards_and_ignores_case() {
        let record = acme();

        assert!(matches(r#"name like "acme%""#, &record));
        assert!(matches(r#"name like "*CORP""#, &record));
        assert!(!matches(r#"name like "corp%""#, &record));
        assert!(matches(r#"name not like "corp%""#, &record));
        assert!(matches(r#"id like "1%""#, &record));
    }

    #[test]
    fn contains_is_a_literal_substring_test() {
        let record = json!({"name": "100% Uptime * Co [EU]"});

        assert!(matches(r#"name contains "0% up""#, &record));
        assert!(matches(r#"name contains "* co [""#, &record));
        assert!(!matches(r#"name contains "1%0""#, &record));
        assert!(matches(r#"name not contains "down""#, &record));
    }

    #[test]
    fn in_lists_match_any_listed_value() {
        let record = acme();

        assert!(matches(r#"identifier in ("GLOBEX", "acme")"#, &record));
        assert!(!matches(r#"identifier not in ("GLOBEX", "acme")"#, &record));
        assert!(matches("id not in (7, 9)", &record));
    }

    #[test]
    fn precedence_decides_the_outcome() {
        let record = acme();

        // Read as `id = 1 or (id = 12 and name = "x")`, which is false; left-to-right would be true.
        assert!(!matches(r#"id = 1 or id = 12 and name = "x""#, &record));
        assert!(matches(
            r#"(id = 1 or id = 12) and name like "acme%""#,
            &record
        ));
        assert!(matches(r#"id = 12 and name = "x" or id = 12"#, &record));
    }

    #[test]
    fn the_documented_example_matches_as_written() {
        let text = r#"(company/name like "Acme%" and cancelledFlag = false) and startDate >= [2025-01-01T00:00:00Z] or name contains "VMware" AND name != "Legacy""#;

        assert!(matches(text, &acme()));
        assert!(matches(text, &json!({"name": "VMware pool"})));
        assert!(!matches(text, &json!({"name": "Legacy"})));
        let cancelled = json!({
            "name": "Acme Corp",
            "company": {"name": "Acme"},
            "cancelledFlag": true,
            "startDate": "2025-06-01T00:00:00Z",
        });
        assert!(!matches(text, &cancelled));
    }

    #[test]
    fn hostile_names_are_found_exactly() {
        let names = [
            r#"O'Brien & Sons"#,
            r#"The "Best" Co"#,
            r#"Back\slash Ltd"#,
            "A+B Networks",
            "100% Cloud",
            "Société Générale",
            "Müller GmbH",
            "Star * [Brackets]",
            "",
        ];
        let records: Vec<Value> = names.iter().map(|name| json!({"name": name})).collect();

        for name in names {
            for quote_char in ['"', '\''] {
                let conditions = format!("name = {}", quote(name, quote_char));
                let found: Vec<&Value> = records
                    .iter()
                    .filter(|record| matches(&conditions, record))
                    .collect();
                assert_eq!(found, vec![&json!({"name": name})], "{conditions}");
            }

            let like = format!("name like {}", quote(&like_literal(name), '"'));
            assert_eq!(
                records
                    .iter()
                    .filter(|record| matches(&like, record))
                    .count(),
                1,
                "{like}"
            );
        }
    }

    #[test]
    fn non_ascii_names_match_in_any_case() {
        let record = json!({"name": "Société Générale"});

        assert!(matches(r#"name = "SOCIÉTÉ GÉNÉRALE""#, &record));
        assert!(matches(r#"name like "%générale""#, &record));
        assert!(!matches(r#"name = "Societe Generale""#, &record));
    }

    fn named(name: &str) -> Value {
        json!({ "name": name })
    }

    proptest! {
        #[test]
        fn any_quoted_string_finds_exactly_its_record(
            name in any::<String>(),
            other in any::<String>(),
            suffix in any::<char>(),
        ) {
            let same = named(&name);
            let shouted = named(&name.to_ascii_uppercase());
            let near_miss = named(&format!("{name}{suffix}"));
            let different = named(&other);

            for quote_char in ['"', '\''] {
                let text = format!("name = {}", quote(&name, quote_char));
                let conditions = Conditions::parse(&text);
                prop_assert!(conditions.is_ok(), "{} did not parse: {:?}", text, conditions);
                let conditions = conditions.expect("checked just above");

                prop_assert!(conditions.matches(&same));
                prop_assert!(conditions.matches(&shouted));
                prop_assert!(!conditions.matches(&near_miss));
                prop_assert_eq!(conditions.matches(&different), fold_eq(&name, &other));
            }
        }

        #[test]
        fn any_escaped_like_pattern_finds_exactly_its_record(
            name in any::<String>(),
            suffix in any::<char>(),
        ) {
            let exact = Conditions::parse(&format!("name like {}", quote(&like_literal(&name), '"')));
            let contains = Conditions::parse(&format!("name contains {}", quote(&name, '\'')));
            prop_assert!(exact.is_ok() && contains.is_ok());
            let (exact, contains) = (exact.expect("checked"), contains.expect("checked"));

            let same = named(&name);
            let longer = named(&format!("{name}{suffix}"));
            let surrounded = named(&format!("{suffix}{name}{suffix}"));

            prop_assert!(exact.matches(&same));
            prop_assert!(!exact.matches(&longer));
            prop_assert!(contains.matches(&surrounded));
        }
    }
}
