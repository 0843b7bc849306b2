//! A typed builder for ConnectWise's `conditions` query language (reference §4).
//!
//! Field paths come from code and are validated; values are always rendered as literals, so
//! user text can never change the structure of a query:
//!
//! ```
//! use hyalto_connectwise::conditions::{Field, LikePattern};
//!
//! let query = Field::new("company/id")
//!     .eq(5)
//!     .and(Field::new("cancelledFlag").eq(false))
//!     .and(
//!         Field::new("name")
//!             .like(LikePattern::starts_with("50% off"))
//!             .or(Field::new("id").is_in([7, 9])),
//!     );
//! assert_eq!(
//!     query.to_string(),
//!     r#"company/id = 5 and cancelledFlag = false and (name like "50[%] off%" or id in (7, 9))"#
//! );
//! ```
//!
//! Strings are double-quoted with a backslash before every `"` and `\`. That is the rule the
//! hyalto sandbox states; real ConnectWise does not document how to escape a quote inside a
//! string (reference §4.5), so matching on ids is preferable whenever one is known.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::models::format_datetime;

/// A field path such as `company/id` was not letters, digits and `_` separated by `/`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a ConnectWise field path: use names of letters, digits and `_` separated by `/`"
)]
pub struct InvalidFieldPath(pub String);

/// A field path, such as `name` or `company/identifier`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field(String);

impl Field {
    /// A field path written in code.
    ///
    /// # Panics
    ///
    /// Panics when `path` is not letters, digits and `_` separated by single `/`; a path is
    /// part of the program, never user input. Use [`Field::try_new`] for computed paths.
    pub fn new(path: &'static str) -> Field {
        match Field::try_new(path) {
            Ok(field) => field,
            Err(error) => panic!("{error}"),
        }
    }

    /// A field path computed at run time, validated.
    pub fn try_new(path: &str) -> Result<Field, InvalidFieldPath> {
        let valid = !path.is_empty()
            && path.split('/').all(|segment| {
                !segment.is_empty()
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !valid {
            return Err(InvalidFieldPath(path.to_owned()));
        }
        Ok(Field(path.to_owned()))
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn compare(self, op: &'static str, value: impl Into<Literal>) -> Conditions {
        Conditions::leaf(format!("{} {op} {}", self.0, value.into()))
    }

    /// `field = value`.
    pub fn eq(self, value: impl Into<Literal>) -> Conditions {
        self.compare("=", value)
    }

    /// `field != value`.
    pub fn ne(self, value: impl Into<Literal>) -> Conditions {
        self.compare("!=", value)
    }

    /// `field < value`.
    pub fn lt(self, value: impl Into<Literal>) -> Conditions {
        self.compare("<", value)
    }

    /// `field <= value`.
    pub fn le(self, value: impl Into<Literal>) -> Conditions {
        self.compare("<=", value)
    }

    /// `field > value`.
    pub fn gt(self, value: impl Into<Literal>) -> Conditions {
        self.compare(">", value)
    }

    /// `field >= value`.
    pub fn ge(self, value: impl Into<Literal>) -> Conditions {
        self.compare(">=", value)
    }

    /// `field = null`.
    pub fn is_null(self) -> Conditions {
        self.compare("=", Literal::Null)
    }

    /// `field != null`.
    pub fn is_not_null(self) -> Conditions {
        self.compare("!=", Literal::Null)
    }

    /// `field contains "text"`: the text anywhere in the field, taken literally.
    pub fn contains(self, text: &str) -> Conditions {
        self.compare("contains", Literal::Text(text.to_owned()))
    }

    /// `field not contains "text"`.
    pub fn not_contains(self, text: &str) -> Conditions {
        self.compare("not contains", Literal::Text(text.to_owned()))
    }

    /// `field like "pattern"`.
    pub fn like(self, pattern: LikePattern) -> Conditions {
        self.compare("like", Literal::Text(pattern.0))
    }

    /// `field not like "pattern"`.
    pub fn not_like(self, pattern: LikePattern) -> Conditions {
        self.compare("not like", Literal::Text(pattern.0))
    }

    /// `field in (a, b, …)`. An empty list matches nothing.
    pub fn is_in<I>(self, values: I) -> Conditions
    where
        I: IntoIterator,
        I::Item: Into<Literal>,
    {
        self.membership("in", values)
    }

    /// `field not in (a, b, …)`. An empty list matches everything.
    pub fn not_in<I>(self, values: I) -> Conditions
    where
        I: IntoIterator,
        I::Item: Into<Literal>,
    {
        self.membership("not in", values)
    }

    fn membership<I>(self, op: &'static str, values: I) -> Conditions
    where
        I: IntoIterator,
        I::Item: Into<Literal>,
    {
        let rendered: Vec<String> = values
            .into_iter()
            .map(|value| value.into().to_string())
            .collect();

        // `in ()` is not valid syntax, so an empty list becomes a condition with the same
        // meaning: nothing is both null and not null, everything is one or the other.
        if rendered.is_empty() {
            let never = Field(self.0.clone())
                .is_null()
                .and(Field(self.0.clone()).is_not_null());
            let always = Field(self.0.clone())
                .is_null()
                .or(Field(self.0).is_not_null());
            return if op == "in" { never } else { always };
        }
        Conditions::leaf(format!("{} {op} ({})", self.0, rendered.join(", ")))
    }
}

/// A `like` pattern: literal text with `%` wildcards placed by the constructor.
///
/// The text's own `%`, `*`, `_` and `[` are wrapped in square brackets (`[%]`, `[*]`, `[_]`,
/// `[[]`) so they match themselves: ConnectWise hands `like` to SQL Server, where `_` matches
/// any one character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LikePattern(String);

impl LikePattern {
    /// Matches values that start with `text`.
    pub fn starts_with(text: &str) -> LikePattern {
        LikePattern(format!("{}%", escape_like(text)))
    }

    /// Matches values that end with `text`.
    pub fn ends_with(text: &str) -> LikePattern {
        LikePattern(format!("%{}", escape_like(text)))
    }

    /// Matches values that contain `text`.
    pub fn contains(text: &str) -> LikePattern {
        LikePattern(format!("%{}%", escape_like(text)))
    }

    /// Matches values equal to `text` (wildcard characters in it are literal).
    pub fn exactly(text: &str) -> LikePattern {
        LikePattern(escape_like(text))
    }

    /// A pattern written in code, with its own `%` wildcards.
    pub fn raw(pattern: &'static str) -> LikePattern {
        LikePattern(pattern.to_owned())
    }

    /// The pattern text (before string quoting).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' | '*' | '_' | '[' => {
                escaped.push('[');
                escaped.push(c);
                escaped.push(']');
            }
            other => escaped.push(other),
        }
    }
    escaped
}

/// A literal value in a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A string, rendered double-quoted with `"` and `\` escaped.
    Text(String),
    /// An integer.
    Integer(i64),
    /// A decimal number.
    Decimal(Decimal),
    /// `true` or `false`.
    Bool(bool),
    /// An instant, rendered `[YYYY-MM-DDTHH:MM:SSZ]`.
    DateTime(DateTime<Utc>),
    /// A calendar date, rendered `[YYYY-MM-DDT00:00:00Z]`.
    Date(NaiveDate),
    /// `null`.
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Text(text) => {
                // Real ConnectWise does not document how a quote inside a string is escaped;
                // the backslash rule is the sandbox's and is unverified on a real tenant (see
                // the known differences in docs/cw-sandbox.md).
                f.write_str("\"")?;
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
            Literal::Integer(number) => write!(f, "{number}"),
            Literal::Decimal(number) => write!(f, "{}", number.normalize()),
            Literal::Bool(flag) => write!(f, "{flag}"),
            Literal::DateTime(instant) => write!(f, "[{}]", format_datetime(instant)),
            Literal::Date(date) => write!(f, "[{}T00:00:00Z]", date.format("%Y-%m-%d")),
            Literal::Null => f.write_str("null"),
        }
    }
}

impl From<&str> for Literal {
    fn from(text: &str) -> Literal {
        Literal::Text(text.to_owned())
    }
}

impl From<String> for Literal {
    fn from(text: String) -> Literal {
        Literal::Text(text)
    }
}

impl From<&String> for Literal {
    fn from(text: &String) -> Literal {
        Literal::Text(text.clone())
    }
}

impl From<i64> for Literal {
    fn from(number: i64) -> Literal {
        Literal::Integer(number)
    }
}

impl From<i32> for Literal {
    fn from(number: i32) -> Literal {
        Literal::Integer(number.into())
    }
}

impl From<u32> for Literal {
    fn from(number: u32) -> Literal {
        Literal::Integer(number.into())
    }
}

impl From<Decimal> for Literal {
    fn from(number: Decimal) -> Literal {
        Literal::Decimal(number)
    }
}

impl From<bool> for Literal {
    fn from(flag: bool) -> Literal {
        Literal::Bool(flag)
    }
}

impl From<DateTime<Utc>> for Literal {
    fn from(instant: DateTime<Utc>) -> Literal {
        Literal::DateTime(instant)
    }
}

impl From<NaiveDate> for Literal {
    fn from(date: NaiveDate) -> Literal {
        Literal::Date(date)
    }
}

impl From<crate::models::CwDate> for Literal {
    fn from(date: crate::models::CwDate) -> Literal {
        Literal::Date(date.0)
    }
}

/// How the parts of a group are joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Join {
    And,
    Or,
}

/// A complete condition expression, built from [`Field`] comparisons with `and`/`or`.
///
/// `Display` gives the text for the `conditions` query parameter (not yet URL-encoded).
#[derive(Clone, Debug, PartialEq)]
pub struct Conditions(Node);

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Leaf(String),
    Group(Join, Vec<Node>),
}

impl Conditions {
    fn leaf(text: String) -> Conditions {
        Conditions(Node::Leaf(text))
    }

    fn join(self, join: Join, other: Conditions) -> Conditions {
        let mut parts = Vec::new();
        for node in [self.0, other.0] {
            // Same-operator groups are flattened so `a and b and c` needs no parentheses.
            match node {
                Node::Group(inner, children) if inner == join => parts.extend(children),
                node => parts.push(node),
            }
        }
        Conditions(Node::Group(join, parts))
    }

    /// Both this and `other` must hold.
    pub fn and(self, other: Conditions) -> Conditions {
        self.join(Join::And, other)
    }

    /// This or `other` must hold.
    pub fn or(self, other: Conditions) -> Conditions {
        self.join(Join::Or, other)
    }

    /// All of `parts` must hold; `None` when there are none.
    pub fn all(parts: impl IntoIterator<Item = Conditions>) -> Option<Conditions> {
        parts.into_iter().reduce(Conditions::and)
    }

    /// At least one of `parts` must hold; `None` when there are none.
    pub fn any(parts: impl IntoIterator<Item = Conditions>) -> Option<Conditions> {
        parts.into_iter().reduce(Conditions::or)
    }
}

impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(f, &self.0)
    }
}

fn write_node(f: &mut fmt::Formatter<'_>, node: &Node) -> fmt::Result {
    match node {
        Node::Leaf(text) => f.write_str(text),
        Node::Group(join, children) => {
            let word = match join {
                Join::And => " and ",
                Join::Or => " or ",
            };
            for (index, child) in children.iter().enumerate() {
                if index > 0 {
                    f.write_str(word)?;
                }
                // ConnectWise documents no precedence between `and` and `or`, so every nested
                // group is parenthesised instead of relying on one.
                if matches!(child, Node::Group(..)) {
                    f.write_str("(")?;
                    write_node(f, child)?;
                    f.write_str(")")?;
                } else {
                    write_node(f, child)?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_render_each_literal_kind() {
        let instant = DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let date = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();

        assert_eq!(Field::new("company/id").eq(5).to_string(), "company/id = 5");
        assert_eq!(Field::new("name").ne("x").to_string(), r#"name != "x""#);
        assert_eq!(
            Field::new("a").lt(Decimal::new(1250, 2)).to_string(),
            "a < 12.5"
        );
        assert_eq!(Field::new("a").le(-3).to_string(), "a <= -3");
        assert_eq!(Field::new("f").gt(true).to_string(), "f > true");
        assert_eq!(
            Field::new("lastUpdated").ge(instant).to_string(),
            "lastUpdated >= [2025-01-02T03:04:05Z]"
        );
        assert_eq!(
            Field::new("startDate").ge(date).to_string(),
            "startDate >= [2025-03-01T00:00:00Z]"
        );
        assert_eq!(
            Field::new("parentAgreement/id").is_null().to_string(),
            "parentAgreement/id = null"
        );
        assert_eq!(
            Field::new("cancelledDate").is_not_null().to_string(),
            "cancelledDate != null"
        );
    }

    #[test]
    fn strings_escape_quotes_and_backslashes_only() {
        let text = r#"Bob's "Best" \ Co & 100% + Société 東京"#;

        assert_eq!(
            Field::new("name").eq(text).to_string(),
            r#"name = "Bob's \"Best\" \\ Co & 100% + Société 東京""#
        );
    }

    #[test]
    fn word_operators_render() {
        assert_eq!(
            Field::new("name").contains("VMware").to_string(),
            r#"name contains "VMware""#
        );
        assert_eq!(
            Field::new("name").not_contains("x").to_string(),
            r#"name not contains "x""#
        );
        assert_eq!(
            Field::new("name")
                .not_like(LikePattern::raw("Legacy%"))
                .to_string(),
            r#"name not like "Legacy%""#
        );
        assert_eq!(
            Field::new("identifier")
                .is_in(["ACME", "GLOBEX"])
                .to_string(),
            r#"identifier in ("ACME", "GLOBEX")"#
        );
        assert_eq!(
            Field::new("id").not_in([7, 9]).to_string(),
            "id not in (7, 9)"
        );
    }

    #[test]
    fn like_patterns_escape_wildcards_in_user_text() {
        assert_eq!(
            LikePattern::starts_with("50%*[x]").as_str(),
            "50[%][*][[]x]%"
        );
        assert_eq!(LikePattern::exactly("vm_01").as_str(), "vm[_]01");
        assert_eq!(LikePattern::ends_with("a").as_str(), "%a");
        assert_eq!(LikePattern::contains("a%").as_str(), "%a[%]%");
        assert_eq!(LikePattern::exactly("*").as_str(), "[*]");
        assert_eq!(
            Field::new("name")
                .like(LikePattern::starts_with("\"q\""))
                .to_string(),
            r#"name like "\"q\"%""#
        );
    }

    #[test]
    fn mixed_groups_are_parenthesised_and_same_groups_flattened() {
        let a = || Field::new("a").eq(1);
        let b = || Field::new("b").eq(2);
        let c = || Field::new("c").eq(3);

        assert_eq!(
            a().and(b()).and(c()).to_string(),
            "a = 1 and b = 2 and c = 3"
        );
        assert_eq!(
            a().or(b()).and(c()).to_string(),
            "(a = 1 or b = 2) and c = 3"
        );
        assert_eq!(
            a().and(b().or(c())).to_string(),
            "a = 1 and (b = 2 or c = 3)"
        );
        assert_eq!(
            a().and(b()).or(c()).to_string(),
            "(a = 1 and b = 2) or c = 3"
        );
        assert_eq!(
            a().or(b()).and(a().or(c())).to_string(),
            "(a = 1 or b = 2) and (a = 1 or c = 3)"
        );
    }

    #[test]
    fn empty_membership_lists_stay_valid_syntax() {
        let none: [i64; 0] = [];

        assert_eq!(
            Field::new("id").is_in(none).to_string(),
            "id = null and id != null"
        );
        assert_eq!(
            Field::new("id").not_in(none).to_string(),
            "id = null or id != null"
        );
    }

    #[test]
    fn all_and_any_combine_lists() {
        assert_eq!(Conditions::all([]), None);
        assert_eq!(
            Conditions::any([Field::new("a").eq(1), Field::new("b").eq(2)])
                .unwrap()
                .to_string(),
            "a = 1 or b = 2"
        );
    }

    #[test]
    fn field_paths_are_validated() {
        assert!(Field::try_new("company/identifier").is_ok());
        assert!(Field::try_new("user_defined_1").is_ok());
        for bad in [
            "",
            "a//b",
            "/a",
            "a/",
            "name = 1 or 1",
            "a b",
            "naïve",
            "a\"b",
        ] {
            assert!(Field::try_new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    #[should_panic(expected = "is not a ConnectWise field path")]
    fn a_bad_literal_path_panics() {
        let _ = Field::new("name = \"x\"");
    }
}
