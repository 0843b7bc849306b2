//! The parsed form of a `conditions` string and its recursive-descent parser.
//!
//! The grammar is in the module documentation of [`crate::query`]. The parser keeps one token of
//! look-ahead and decides whether a word is a field name or a keyword from where it stands, so a
//! field may be called `in` or `like` without confusing it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;

use super::QueryError;
use super::collation::{fold_eq, fold_string};
use super::lexer::{CmpOp, Lexer, PARAMETER, Token, TokenKind, bad_value};
use super::like::LikePattern;
use super::path::{FieldPath, distinct_paths};

/// How deeply parentheses may nest; deeper input is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// A parsed `conditions` parameter, ready to test records with [`Conditions::matches`].
#[derive(Clone, Debug, PartialEq)]
pub struct Conditions {
    pub(crate) root: Node,
}

/// A node of the condition tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// Holds when any child holds.
    Any(Vec<Node>),
    /// Holds when every child holds.
    All(Vec<Node>),
    Test(Comparison),
}

/// One `path operator value` test.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Comparison {
    pub(crate) path: FieldPath,
    pub(crate) test: Test,
}

impl Comparison {
    fn required_integers(&self, path: &[&str]) -> Option<BTreeSet<i64>> {
        let segments = self.path.segments();
        let same_path = segments.len() == path.len()
            && segments
                .iter()
                .zip(path)
                .all(|(segment, name)| fold_eq(segment, name));
        if !same_path {
            return None;
        }

        match &self.test {
            Test::Compare(CmpOp::Eq, literal) => Some(BTreeSet::from([integer(literal)?])),
            Test::In {
                negated: false,
                values,
            } => values.iter().map(integer).collect(),
            _ => None,
        }
    }
}

/// The integer a number literal stands for; `None` for fractions and other literals.
fn integer(literal: &Literal) -> Option<i64> {
    match literal {
        Literal::Number(number) if number.fract().is_zero() => number.trunc().to_i64(),
        _ => None,
    }
}

/// What a comparison checks; `negated` is the `not` prefix of the word operators.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Test {
    Compare(CmpOp, Literal),
    Like {
        negated: bool,
        pattern: LikePattern,
    },
    /// The needle is stored folded, ready for a substring search.
    Contains {
        negated: bool,
        needle: String,
    },
    In {
        negated: bool,
        values: Vec<Literal>,
    },
}

/// A value written in the conditions.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Number(Decimal),
    DateTime(DateTime<Utc>),
    Bool(bool),
    Null,
}

impl Conditions {
    /// Parses a `conditions` string.
    ///
    /// Empty or blank text is an error: an absent parameter means "no conditions" and is the
    /// caller's business, but `conditions=` with nothing in it is a malformed request.
    pub fn parse(text: &str) -> Result<Conditions, QueryError> {
        if text.trim().is_empty() {
            return Err(QueryError::at(
                PARAMETER,
                1,
                "the conditions are empty; expected a field name",
            ));
        }

        let mut parser = Parser {
            lexer: Lexer::new(text),
            peeked: None,
            depth: 0,
        };
        let root = parser.or_expr()?;

        let next = parser.bump()?;
        if next.kind != TokenKind::End {
            return Err(unexpected(
                &next,
                "`and`, `or` or the end of the conditions",
            ));
        }
        Ok(Conditions { root })
    }

    /// Every field path the conditions use, as written, each once; for rejecting unknown fields.
    pub fn paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        self.root.collect_paths(&mut paths);
        distinct_paths(paths)
    }

    /// The integers that the field at `path` must equal for a record to match, when the
    /// conditions pin it down (`parentAgreement/id = 7`, possibly inside `and`, or `in (7, 8)`);
    /// `None` when they do not, e.g. under `or` with another field, or for a string literal.
    ///
    /// The answer only narrows which records need testing: a record whose field is one of the
    /// integers may still fail the rest of the conditions, so callers run [`Conditions::matches`]
    /// on the records that pass.
    pub(crate) fn required_integers(&self, path: &[&str]) -> Option<BTreeSet<i64>> {
        self.root.required_integers(path)
    }
}

impl Node {
    fn required_integers(&self, path: &[&str]) -> Option<BTreeSet<i64>> {
        match self {
            // Every child must hold, so any child that pins the field pins it for the whole.
            Node::All(children) => children
                .iter()
                .filter_map(|child| child.required_integers(path))
                .min_by_key(BTreeSet::len),
            // One child must hold, so the field is pinned only if every child pins it.
            Node::Any(children) => {
                let mut union = BTreeSet::new();
                for child in children {
                    union.extend(child.required_integers(path)?);
                }
                Some(union)
            }
            Node::Test(comparison) => comparison.required_integers(path),
        }
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a FieldPath>) {
        match self {
            Node::Any(children) | Node::All(children) => {
                for child in children {
                    child.collect_paths(out);
                }
            }
            Node::Test(comparison) => out.push(&comparison.path),
        }
    }
}

/// The parser's state: the lexer, one token of look-ahead and the parenthesis depth.
struct Parser {
    lexer: Lexer,
    peeked: Option<Token>,
    depth: usize,
}

impl Parser {
    fn peek(&mut self) -> Result<&Token, QueryError> {
        let token = match self.peeked.take() {
            Some(token) => token,
            None => self.lexer.next_token()?,
        };
        Ok(self.peeked.insert(token))
    }

    fn bump(&mut self) -> Result<Token, QueryError> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lexer.next_token(),
        }
    }

    /// `and_expr ( "or" and_expr )*`
    fn or_expr(&mut self) -> Result<Node, QueryError> {
        let mut alternatives = vec![self.and_expr()?];
        while self.peek()?.is_keyword("or") {
            self.bump()?;
            alternatives.push(self.and_expr()?);
        }
        Ok(collapse(alternatives, Node::Any))
    }

    /// `term ( "and" term )*`
    fn and_expr(&mut self) -> Result<Node, QueryError> {
        let mut terms = vec![self.term()?];
        while self.peek()?.is_keyword("and") {
            self.bump()?;
            terms.push(self.term()?);
        }
        Ok(collapse(terms, Node::All))
    }

    /// `"(" or_expr ")" | comparison`
    fn term(&mut self) -> Result<Node, QueryError> {
        if self.peek()?.kind != TokenKind::OpenParen {
            return self.comparison().map(Node::Test);
        }

        let open = self.bump()?;
        if self.depth == MAX_DEPTH {
            return Err(QueryError::at(
                PARAMETER,
                open.position,
                format!("parentheses nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let inner = self.or_expr()?;
        self.depth -= 1;

        let close = self.bump()?;
        if close.kind != TokenKind::CloseParen {
            return Err(unexpected(
                &close,
                &format!(
                    "`and`, `or` or `)` to close the parenthesis opened at position {}",
                    open.position
                ),
            ));
        }
        Ok(inner)
    }

    /// `path op value | path ["not"] ("like" | "contains" | "in") …`
    fn comparison(&mut self) -> Result<Comparison, QueryError> {
        let path = self.path()?;

        let operator = self.bump()?;
        let test = match &operator.kind {
            TokenKind::Op(op) => {
                let value = self.value()?;
                if value == Literal::Null && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(QueryError::at(
                        PARAMETER,
                        operator.position,
                        format!(
                            "`{}` cannot compare with null; only = null and != null test for a \
                             missing value",
                            operator.source
                        ),
                    ));
                }
                Test::Compare(*op, value)
            }
            TokenKind::Word(_) => self.word_operator(operator, &path)?,
            _ => return Err(expected_operator(&operator, &path)),
        };

        Ok(Comparison { path, test })
    }

    /// The word operators, after the optional `not`.
    fn word_operator(&mut self, first: Token, path: &FieldPath) -> Result<Test, QueryError> {
        let negated = first.is_keyword("not");
        let operator = if negated { self.bump()? } else { first };

        if operator.is_keyword("like") {
            let (pattern_text, position) = self.string_after("like")?;
            let pattern = LikePattern::parse(&pattern_text)
                .map_err(|detail| QueryError::at(PARAMETER, position, detail))?;
            Ok(Test::Like { negated, pattern })
        } else if operator.is_keyword("contains") {
            let (needle, _) = self.string_after("contains")?;
            let needle = fold_string(&needle);
            Ok(Test::Contains { negated, needle })
        } else if operator.is_keyword("in") {
            let values = self.value_list()?;
            Ok(Test::In { negated, values })
        } else if negated {
            Err(unexpected(
                &operator,
                "`like`, `contains` or `in` after `not`",
            ))
        } else {
            Err(expected_operator(&operator, path))
        }
    }

    /// `name ( "/" name )*`
    fn path(&mut self) -> Result<FieldPath, QueryError> {
        let mut segments = vec![self.name()?];
        while self.peek()?.kind == TokenKind::Slash {
            self.bump()?;
            segments.push(self.name()?);
        }
        Ok(FieldPath::new(segments))
    }

    fn name(&mut self) -> Result<String, QueryError> {
        let token = self.bump()?;
        match token.kind {
            TokenKind::Word(word) => Ok(word),
            _ => Err(unexpected(&token, "a field name")),
        }
    }

    /// A quoted string after `like` or `contains`, with the position of its opening quote.
    fn string_after(&mut self, operator: &str) -> Result<(String, usize), QueryError> {
        let token = self.bump()?;
        match token.kind {
            TokenKind::Str(text) => Ok((text, token.position)),
            _ => Err(unexpected(
                &token,
                &format!("a string in double or single quotes after `{operator}`"),
            )),
        }
    }

    /// `"(" value ( "," value )* ")"`
    fn value_list(&mut self) -> Result<Vec<Literal>, QueryError> {
        let open = self.bump()?;
        if open.kind != TokenKind::OpenParen {
            return Err(unexpected(&open, "`(` to start the list after `in`"));
        }

        let mut values = vec![self.value()?];
        loop {
            let next = self.bump()?;
            match next.kind {
                TokenKind::Comma => values.push(self.value()?),
                TokenKind::CloseParen => return Ok(values),
                _ => return Err(unexpected(&next, "`,` or `)` in the list after `in`")),
            }
        }
    }

    fn value(&mut self) -> Result<Literal, QueryError> {
        let token = self.bump()?;
        let literal = match token.kind {
            TokenKind::Str(text) => Literal::Str(text),
            TokenKind::Number(number) => Literal::Number(number),
            TokenKind::DateTime(instant) => Literal::DateTime(instant),
            TokenKind::Word(_) if token.is_keyword("true") => Literal::Bool(true),
            TokenKind::Word(_) if token.is_keyword("false") => Literal::Bool(false),
            TokenKind::Word(_) if token.is_keyword("null") => Literal::Null,
            _ => return Err(bad_value(token.position - 1, token.describe())),
        };
        Ok(literal)
    }
}

/// A single child stands for itself; several are joined by `join`.
fn collapse(mut nodes: Vec<Node>, join: fn(Vec<Node>) -> Node) -> Node {
    if nodes.len() == 1 {
        nodes.pop().expect("one node is there")
    } else {
        join(nodes)
    }
}

fn unexpected(token: &Token, expected: &str) -> QueryError {
    QueryError::at(
        PARAMETER,
        token.position,
        format!("expected {expected} but found {}", token.describe()),
    )
}

fn expected_operator(token: &Token, path: &FieldPath) -> QueryError {
    unexpected(
        token,
        &format!(
            "an operator (=, !=, <, <=, >, >=, like, contains, in, not like, not contains or not \
             in) after the field `{path}`"
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn parse(text: &str) -> Node {
        Conditions::parse(text)
            .unwrap_or_else(|error| panic!("{text}: {error}"))
            .root
    }

    fn error(text: &str) -> String {
        match Conditions::parse(text) {
            Ok(conditions) => panic!("{text} parsed as {conditions:?}"),
            Err(error) => error.message,
        }
    }

    fn test(path: &str, test: Test) -> Node {
        Node::Test(Comparison {
            path: FieldPath::new(path.split('/').map(str::to_owned).collect()),
            test,
        })
    }

    fn eq(path: &str, literal: Literal) -> Node {
        test(path, Test::Compare(CmpOp::Eq, literal))
    }

    fn number(n: i64) -> Literal {
        Literal::Number(Decimal::from(n))
    }

    #[test]
    fn a_simple_comparison_parses() {
        assert_eq!(
            parse(r#"identifier="ACME""#),
            eq("identifier", Literal::Str("ACME".into()))
        );
    }

    #[test]
    fn every_symbol_operator_parses() {
        let cases = [
            ("=", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ];
        for (text, op) in cases {
            assert_eq!(
                parse(&format!("id {text} 5")),
                test("id", Test::Compare(op, number(5)))
            );
        }
    }

    #[test]
    fn every_literal_form_parses() {
        assert_eq!(parse("a = 'x'"), eq("a", Literal::Str("x".into())));
        assert_eq!(
            parse("a = -0.25"),
            eq("a", Literal::Number(Decimal::from_str("-0.25").unwrap()))
        );
        assert_eq!(parse("a = TRUE"), eq("a", Literal::Bool(true)));
        assert_eq!(parse("a = False"), eq("a", Literal::Bool(false)));
        assert_eq!(parse("a = NULL"), eq("a", Literal::Null));
        assert!(matches!(
            parse("a >= [2025-01-01T00:00:00Z]"),
            Node::Test(Comparison {
                test: Test::Compare(CmpOp::Ge, Literal::DateTime(_)),
                ..
            })
        ));
    }

    #[test]
    fn paths_traverse_references() {
        assert_eq!(parse("company / id = 7"), eq("company/id", number(7)));
        assert_eq!(parse("company/id = 7"), eq("company/id", number(7)));
    }

    #[test]
    fn word_operators_take_an_optional_not() {
        assert_eq!(
            parse(r#"name NOT contains "x""#),
            test(
                "name",
                Test::Contains {
                    negated: true,
                    needle: "x".into()
                }
            )
        );
        assert_eq!(
            parse("id not in (1, 2)"),
            test(
                "id",
                Test::In {
                    negated: true,
                    values: vec![number(1), number(2)]
                }
            )
        );
        assert!(matches!(
            parse(r#"name Like "a%""#),
            Node::Test(Comparison {
                test: Test::Like { negated: false, .. },
                ..
            })
        ));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            parse("a = 1 or b = 2 and c = 3"),
            Node::Any(vec![
                eq("a", number(1)),
                Node::All(vec![eq("b", number(2)), eq("c", number(3))]),
            ])
        );
        assert_eq!(
            parse("a = 1 AND b = 2 OR c = 3"),
            Node::Any(vec![
                Node::All(vec![eq("a", number(1)), eq("b", number(2))]),
                eq("c", number(3)),
            ])
        );
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(
            parse("(a = 1 or b = 2) and c = 3"),
            Node::All(vec![
                Node::Any(vec![eq("a", number(1)), eq("b", number(2))]),
                eq("c", number(3)),
            ])
        );
    }

    #[test]
    fn the_documented_example_parses() {
        let text = r#"(company/name like "Acme%" and cancelledFlag = false) and startDate >= [2025-01-01T00:00:00Z] or name contains "VMware" AND name != "Legacy""#;

        let conditions = Conditions::parse(text).unwrap();

        assert_eq!(
            conditions.paths(),
            vec!["company/name", "cancelledFlag", "startDate", "name"]
        );
    }

    #[test]
    fn keywords_can_be_field_names() {
        assert_eq!(
            parse("in = 1 and like = 2"),
            Node::All(vec![eq("in", number(1)), eq("like", number(2))])
        );
    }

    #[test]
    fn empty_conditions_are_an_error() {
        assert_eq!(
            error("   "),
            "Invalid conditions at position 1: the conditions are empty; expected a field name"
        );
        assert!(Conditions::parse("").is_err());
    }

    #[test]
    fn a_bare_word_value_explains_the_literal_forms() {
        assert_eq!(
            error("name = Acme"),
            format!(
                "Invalid conditions at position 8: expected a value but found `Acme`. {}",
                super::super::LITERAL_FORMS
            )
        );
    }

    #[test]
    fn a_missing_operator_is_reported() {
        assert_eq!(
            error(r#"name "Acme""#),
            "Invalid conditions at position 6: expected an operator (=, !=, <, <=, >, >=, like, \
             contains, in, not like, not contains or not in) after the field `name` but found \
             the string \"Acme\""
        );
        assert!(error("name equals 1").contains("after the field `name` but found `equals`"));
    }

    #[test]
    fn not_must_precede_a_word_operator() {
        assert_eq!(
            error("name not = 1"),
            "Invalid conditions at position 10: expected `like`, `contains` or `in` after `not` \
             but found `=`"
        );
    }

    #[test]
    fn like_and_contains_need_a_string() {
        assert!(error("name like 5").contains("a string in double or single quotes after `like`"));
        assert!(error("name contains x").contains("after `contains` but found `x`"));
    }

    #[test]
    fn a_bad_like_pattern_is_placed_at_its_string() {
        assert_eq!(
            error(r#"name like "ab[c""#),
            "Invalid conditions at position 11: a [ in the like pattern is never closed by ]; \
             write [[] for a literal ["
        );
    }

    #[test]
    fn in_lists_must_be_well_formed() {
        assert!(error("id in 1, 2").contains("expected `(` to start the list after `in`"));
        assert!(error("id in ()").contains("expected a value but found `)`"));
        assert!(error("id in (1 2)").contains("expected `,` or `)` in the list after `in`"));
    }

    #[test]
    fn ordering_with_null_is_refused() {
        assert!(error("id < null").contains("`<` cannot compare with null"));
    }

    #[test]
    fn dangling_keywords_are_reported() {
        assert_eq!(
            error("id = 1 and"),
            "Invalid conditions at position 11: expected a field name but found the end of the \
             conditions"
        );
        assert_eq!(
            error("id = 1 id = 2"),
            "Invalid conditions at position 8: expected `and`, `or` or the end of the conditions \
             but found `id`"
        );
    }

    #[test]
    fn unbalanced_parentheses_are_reported() {
        assert_eq!(
            error("(id = 1"),
            "Invalid conditions at position 8: expected `and`, `or` or `)` to close the \
             parenthesis opened at position 1 but found the end of the conditions"
        );
        assert!(error("id = 1)").contains("but found `)`"));
    }

    #[test]
    fn the_first_error_in_the_text_is_the_one_reported() {
        assert!(error(r#"name = Acme and x = "unclosed"#).contains("position 8"));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let text = format!("{}id = 1{}", "(".repeat(10_000), ")".repeat(10_000));

        assert!(error(&text).contains("parentheses nest deeper than 64 levels"));
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let text = format!("{}id = 1{}", "(".repeat(64), ")".repeat(64));

        assert_eq!(parse(&text), eq("id", number(1)));
    }

    #[test]
    fn paths_are_listed_once_in_order_of_use() {
        let conditions = Conditions::parse("b = 1 and (a = 2 or B = 3 or b = 4)").unwrap();

        assert_eq!(conditions.paths(), vec!["b", "a", "B"]);
    }

    fn required(text: &str) -> Option<Vec<i64>> {
        Conditions::parse(text)
            .unwrap()
            .required_integers(&["parentAgreement", "id"])
            .map(|ids| ids.into_iter().collect())
    }

    #[test]
    fn an_equal_parent_id_inside_and_pins_the_parent() {
        assert_eq!(
            required("parentAgreement/id = 7 and internalNotes contains \"k\""),
            Some(vec![7])
        );
        assert_eq!(required("ParentAgreement/ID = 7.0"), Some(vec![7]));
        assert_eq!(
            required("parentAgreement/id = 7 and parentAgreement/id in (7, 8, 9)"),
            Some(vec![7])
        );
    }

    #[test]
    fn an_or_pins_the_parent_only_when_every_branch_does() {
        assert_eq!(
            required("parentAgreement/id = 7 or parentAgreement/id in (3, 4)"),
            Some(vec![3, 4, 7])
        );
        assert_eq!(required("parentAgreement/id = 7 or name = \"x\""), None);
    }

    #[test]
    fn tests_that_admit_other_values_do_not_pin_the_parent() {
        assert_eq!(required("parentAgreement/id != 7"), None);
        assert_eq!(required("parentAgreement/id >= 7"), None);
        assert_eq!(required("parentAgreement/id = 7.5"), None);
        assert_eq!(required("parentAgreement/id = \"7\""), None);
        assert_eq!(required("parentAgreement/id = null"), None);
        assert_eq!(required("parentAgreement/id not in (7)"), None);
        assert_eq!(required("parentAgreement/id in (7, null)"), None);
        assert_eq!(required("parentAgreement/name = 7"), None);
        assert_eq!(required("company/id = 7"), None);
    }
}
