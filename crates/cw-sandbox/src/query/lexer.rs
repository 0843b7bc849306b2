//! Splits a `conditions` string into tokens, one at a time, for the parser.
//!
//! The lexer is pulled by the parser rather than run ahead of it, so that the first error in the
//! text is the one reported even when a later part is also malformed.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;

use super::path::{is_name_char, is_name_start};
use super::{LITERAL_FORMS, QueryError};

/// The parameter name used in error messages.
pub(crate) const PARAMETER: &str = "conditions";

/// A comparison operator written with symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TokenKind {
    /// A field name or a keyword; the parser decides which from where it stands.
    Word(String),
    Slash,
    Op(CmpOp),
    OpenParen,
    CloseParen,
    Comma,
    /// A quoted string with its escapes already resolved.
    Str(String),
    Number(Decimal),
    DateTime(DateTime<Utc>),
    End,
}

/// A token, where it starts (1-based character position) and how it was written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) position: usize,
    pub(crate) source: String,
}

impl Token {
    /// Describes the token for "but found …" in error messages.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            TokenKind::End => "the end of the conditions".to_owned(),
            TokenKind::Str(_) => format!("the string {}", self.source),
            _ => format!("`{}`", self.source),
        }
    }

    /// Tells whether the token is the given keyword, ignoring case.
    pub(crate) fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

/// The lexer's cursor over the conditions text.
pub(crate) struct Lexer {
    chars: Vec<char>,
    at: usize,
}

impl Lexer {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            at: 0,
        }
    }

    /// Reads the next token, or [`TokenKind::End`] once the text is used up.
    pub(crate) fn next_token(&mut self) -> Result<Token, QueryError> {
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.at += 1;
        }

        let start = self.at;
        let Some(c) = self.peek_char() else {
            return Ok(self.token(TokenKind::End, start));
        };

        let kind = match c {
            '(' => self.single(TokenKind::OpenParen),
            ')' => self.single(TokenKind::CloseParen),
            ',' => self.single(TokenKind::Comma),
            '/' => self.single(TokenKind::Slash),
            '=' => self.single(TokenKind::Op(CmpOp::Eq)),
            '!' => {
                self.at += 1;
                if self.peek_char() != Some('=') {
                    return Err(QueryError::at(
                        PARAMETER,
                        start + 1,
                        "expected `!=` but found `!` alone",
                    ));
                }
                self.single(TokenKind::Op(CmpOp::Ne))
            }
            '<' => self.with_optional_equals(CmpOp::Lt, CmpOp::Le),
            '>' => self.with_optional_equals(CmpOp::Gt, CmpOp::Ge),
            '"' | '\'' => self.string(c)?,
            '[' => self.datetime()?,
            '-' | '0'..='9' => self.number()?,
            c if is_name_start(c) => {
                while self.peek_char().is_some_and(is_name_char) {
                    self.at += 1;
                }
                TokenKind::Word(self.chars[start..self.at].iter().collect())
            }
            other => {
                return Err(QueryError::at(
                    PARAMETER,
                    start + 1,
                    format!("unexpected character `{other}`"),
                ));
            }
        };

        Ok(self.token(kind, start))
    }

    fn peek_char(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn token(&self, kind: TokenKind, start: usize) -> Token {
        Token {
            kind,
            position: start + 1,
            source: self.chars[start..self.at].iter().collect(),
        }
    }

    fn single(&mut self, kind: TokenKind) -> TokenKind {
        self.at += 1;
        kind
    }

    fn with_optional_equals(&mut self, bare: CmpOp, with_equals: CmpOp) -> TokenKind {
        self.at += 1;
        if self.peek_char() == Some('=') {
            self.at += 1;
            TokenKind::Op(with_equals)
        } else {
            TokenKind::Op(bare)
        }
    }

    /// Reads a quoted string; a backslash takes the next character literally.
    fn string(&mut self, quote: char) -> Result<TokenKind, QueryError> {
        let start = self.at;
        self.at += 1;

        let mut value = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(QueryError::at(
                    PARAMETER,
                    start + 1,
                    format!(
                        "the string starting here has no closing {quote}; a quote inside a \
                         string is written with a backslash before it"
                    ),
                ));
            };
            self.at += 1;

            if c == quote {
                return Ok(TokenKind::Str(value));
            }
            if c == '\\' {
                // An escape at the very end leaves the string open; the next turn reports it.
                if let Some(escaped) = self.peek_char() {
                    value.push(escaped);
                    self.at += 1;
                }
                continue;
            }
            value.push(c);
        }
    }

    /// Reads `[yyyy-MM-ddTHH:mm:ssZ]`.
    fn datetime(&mut self) -> Result<TokenKind, QueryError> {
        let start = self.at;
        let Some(length) = self.chars[start..].iter().position(|&c| c == ']') else {
            return Err(bad_value(start, "a datetime whose [ is never closed by ]"));
        };
        self.at = start + length + 1;

        let inside: String = self.chars[start + 1..start + length].iter().collect();
        match parse_datetime(&inside) {
            Some(instant) => Ok(TokenKind::DateTime(instant)),
            None => Err(bad_value(
                start,
                format!("the malformed datetime `[{inside}]`"),
            )),
        }
    }

    /// Reads `-digits.digits`, refusing anything glued to it that would make it a different word.
    fn number(&mut self) -> Result<TokenKind, QueryError> {
        let start = self.at;
        if self.peek_char() == Some('-') {
            self.at += 1;
        }

        let whole = self.digits();
        let mut well_formed = whole > 0;
        if self.peek_char() == Some('.') {
            self.at += 1;
            well_formed &= self.digits() > 0;
        }

        // A number glued to letters (`12abc`) or to more dots (`1.2.3`) is not a number at all.
        while self
            .peek_char()
            .is_some_and(|c| is_name_char(c) || c == '.' || c == '-')
        {
            self.at += 1;
            well_formed = false;
        }

        let text: String = self.chars[start..self.at].iter().collect();
        if !well_formed {
            return Err(bad_value(start, format!("the malformed number `{text}`")));
        }
        match Decimal::from_str(&text) {
            Ok(number) => Ok(TokenKind::Number(number)),
            Err(_) => Err(bad_value(
                start,
                format!("the number `{text}`, which has too many digits"),
            )),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - start
    }
}

/// Builds the error for a malformed value at 0-based `start`, listing the literal forms.
pub(crate) fn bad_value(start: usize, found: impl std::fmt::Display) -> QueryError {
    QueryError::at(
        PARAMETER,
        start + 1,
        format!("expected a value but found {found}. {LITERAL_FORMS}"),
    )
}

/// Parses exactly `yyyy-MM-ddTHH:mm:ssZ`, the only form the sandbox accepts in brackets.
fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    // chrono's parser tolerates missing zero-padding, so the shape is checked first.
    let shape = "dddd-dd-ddTdd:dd:ddZ";
    let shaped = text.len() == shape.len()
        && text.chars().zip(shape.chars()).all(|(c, s)| match s {
            'd' => c.is_ascii_digit(),
            _ => c == s,
        });
    if !shaped {
        return None;
    }

    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let token = lexer.next_token().unwrap();
            if token.kind == TokenKind::End {
                return out;
            }
            out.push(token.kind);
        }
    }

    fn first_error(text: &str) -> String {
        let mut lexer = Lexer::new(text);
        loop {
            match lexer.next_token() {
                Ok(token) if token.kind == TokenKind::End => panic!("{text} lexed without error"),
                Ok(_) => {}
                Err(error) => return error.message,
            }
        }
    }

    #[test]
    fn operators_are_read_longest_first() {
        assert_eq!(
            kinds("= != < <= > >="),
            vec![
                TokenKind::Op(CmpOp::Eq),
                TokenKind::Op(CmpOp::Ne),
                TokenKind::Op(CmpOp::Lt),
                TokenKind::Op(CmpOp::Le),
                TokenKind::Op(CmpOp::Gt),
                TokenKind::Op(CmpOp::Ge),
            ]
        );
    }

    #[test]
    fn backslash_escapes_the_next_character_in_strings() {
        assert_eq!(
            kinds(r#""O\"Brien" 'it\'s' "C:\\temp" "\x""#),
            vec![
                TokenKind::Str("O\"Brien".into()),
                TokenKind::Str("it's".into()),
                TokenKind::Str("C:\\temp".into()),
                TokenKind::Str("x".into()),
            ]
        );
    }

    #[test]
    fn the_other_quote_needs_no_escape() {
        assert_eq!(
            kinds(r#""it's" 'say "hi"'"#),
            vec![
                TokenKind::Str("it's".into()),
                TokenKind::Str("say \"hi\"".into()),
            ]
        );
    }

    #[test]
    fn numbers_are_exact_decimals() {
        assert_eq!(
            kinds("-12.50 7"),
            vec![
                TokenKind::Number(Decimal::from_str("-12.50").unwrap()),
                TokenKind::Number(Decimal::from(7)),
            ]
        );
    }

    #[test]
    fn datetimes_are_instants() {
        let expected = DateTime::parse_from_rfc3339("2025-01-31T13:45:00Z").unwrap();

        assert_eq!(
            kinds("[2025-01-31T13:45:00Z]"),
            vec![TokenKind::DateTime(expected.with_timezone(&Utc))]
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let mut lexer = Lexer::new("\"Müller\" x");
        lexer.next_token().unwrap();

        assert_eq!(lexer.next_token().unwrap().position, 10);
    }

    #[test]
    fn malformed_numbers_are_refused_with_the_literal_forms() {
        for text in ["12abc", "1.", "-", "-x", "1.2.3", ".5"] {
            let message = first_error(text);
            assert!(
                message.contains("expected a value") || message.contains("unexpected character"),
                "{text}: {message}"
            );
        }
        assert!(first_error("12abc").contains("booleans true or false"));
    }

    #[test]
    fn malformed_datetimes_are_refused() {
        assert_eq!(
            first_error("[2025-1-01T00:00:00Z]"),
            format!(
                "Invalid conditions at position 1: expected a value but found the malformed \
                 datetime `[2025-1-01T00:00:00Z]`. {LITERAL_FORMS}"
            )
        );
        assert!(first_error("[2025-02-30T00:00:00Z]").contains("malformed datetime"));
        assert!(first_error("[2025-01-01T00:00:00Z").contains("never closed"));
    }

    #[test]
    fn an_unclosed_string_points_at_its_opening_quote() {
        assert_eq!(
            first_error(r#"name = "abc\""#),
            "Invalid conditions at position 8: the string starting here has no closing \"; a \
             quote inside a string is written with a backslash before it"
        );
    }

    #[test]
    fn a_lone_bang_is_refused() {
        assert_eq!(
            first_error("a ! b"),
            "Invalid conditions at position 3: expected `!=` but found `!` alone"
        );
    }

    #[test]
    fn stray_characters_are_refused() {
        assert_eq!(
            first_error("name # 1"),
            "Invalid conditions at position 6: unexpected character `#`"
        );
    }
}
