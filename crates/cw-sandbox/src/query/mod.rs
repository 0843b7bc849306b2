//! The query languages of ConnectWise list endpoints: `conditions`, `orderBy` and `fields`.
//!
//! Everything here is pure: text goes in, a parsed value comes out, and the parsed value is then
//! applied to JSON records. The http layer parses the query parameters once per request, checks
//! the returned [`Conditions::paths`](crate::query::Conditions::paths) (and friends) against the
//! collection's known fields, and then filters, sorts and projects the store's records with
//! [`Conditions::matches`](crate::query::Conditions::matches),
//! [`OrderBy::compare`](crate::query::OrderBy::compare) and
//! [`FieldSelection::project`](crate::query::FieldSelection::project).
//!
//! ```
//! use hyalto_cw_sandbox::query::{Conditions, FieldSelection, OrderBy};
//! use serde_json::json;
//!
//! let conditions = Conditions::parse(r#"company/name like "acme%" and cancelledFlag = false"#)?;
//! let record = json!({"id": 1, "company": {"name": "ACME Corp"}, "cancelledFlag": false});
//! assert!(conditions.matches(&record));
//! assert_eq!(conditions.paths(), ["company/name", "cancelledFlag"]);
//!
//! let newer = json!({"id": 2, "company": {"name": "acme corp"}, "cancelledFlag": false});
//! let order_by = OrderBy::parse("company/name asc, id desc")?;
//! assert!(order_by.compare(&record, &newer).is_gt());
//!
//! let fields = FieldSelection::parse("id,company/name")?;
//! assert_eq!(fields.project(&record), json!({"id": 1, "company": {"name": "ACME Corp"}}));
//! # Ok::<(), hyalto_cw_sandbox::query::QueryError>(())
//! ```
//!
//! # The `conditions` grammar
//!
//! ConnectWise publishes no formal grammar; this one is reconstructed in §4.2 of the reference
//! and is the sandbox's own:
//!
//! ```text
//! conditions := or_expr
//! or_expr    := and_expr ( "or" and_expr )*        ; "and" binds tighter than "or"
//! and_expr   := term ( "and" term )*
//! term       := "(" or_expr ")" | comparison
//! comparison := path op value
//!             | path ["not"] "like" string
//!             | path ["not"] "contains" string
//!             | path ["not"] "in" "(" value ( "," value )* ")"
//! op         := "=" | "!=" | "<" | "<=" | ">" | ">="
//! path       := name ( "/" name )*                 ; company/id
//! value      := string | number | datetime | "true" | "false" | "null"
//! string     := '"' chars '"' | "'" chars "'"
//! number     := ["-"] digits ["." digits]
//! datetime   := "[" yyyy-MM-ddTHH:mm:ssZ "]"
//! ```
//!
//! Keywords (`and`, `or`, `not`, `like`, `contains`, `in`, `true`, `false`, `null`) are
//! case-insensitive. Numbers are compared as exact decimals, never as floats. Datetimes are
//! compared as instants against string fields that hold a date-time (`2025-01-01T00:00:00Z`, any
//! RFC 3339 offset, or a bare `2025-01-01` read as midnight UTC).
//!
//! **Escaping inside quoted strings is a sandbox rule.** Real ConnectWise documents no way to put
//! the quote character inside a quoted string. The sandbox states one: a backslash escapes the
//! next character, whatever it is, so `"O\"Brien"`, `'O\'Brien'` and `"C:\\temp"` hold
//! `O"Brien`, `O'Brien` and `C:\temp`. hyalto's conditions builder emits exactly this form.
//!
//! # Comparison semantics
//!
//! - **Case-insensitive strings.** ConnectWise stores its data in SQL Server with a
//!   case-insensitive collation, so `=`, `!=`, `<`…`>=`, `like`, `contains` and `in` all ignore
//!   letter case, also for non-ASCII letters (`MÜLLER` equals `Müller`). Each character is folded
//!   to its simple lower-case form; accents are significant, as in SQL Server's `CI_AS`
//!   collations.
//! - **`like` patterns** follow SQL Server, to which ConnectWise most likely hands them: `%`
//!   (and, as ConnectWise also accepts, `*`) matches any run of characters, `_` matches exactly
//!   one character, and square brackets hold a set of characters matching one character:
//!   `[%]`, `[*]`, `[_]` and `[[]` are the literal `%`, `*`, `_` and `[`; `[a-c]` is a range and
//!   `[^a]` a negated set. `contains` is a plain substring test.
//! - **Nulls.** `field = null` holds when the field is missing or JSON `null`; `field != null` is
//!   its opposite. Any other comparison with a missing or null field is SQL's *unknown*, which
//!   never matches: `cancelledDate != [2025-01-01T00:00:00Z]`, `name not like "a%"` and
//!   `id not in (1, 2)` are all false for a record whose field is null. `null` may appear in an
//!   `in` list, where it matches like `= null`; `<`, `<=`, `>`, `>=` with `null` are parse errors.
//! - **Types.** A number compares with a number field, or with a string field whose text is a
//!   number; a quoted string compares with a string field (or a number or boolean field whose
//!   value it spells); booleans compare with boolean fields (and `0`/`1`). A comparison between
//!   values that cannot be compared, such as `name = 5` against `"Acme"`, is unknown and does not
//!   match. `like` and `contains` read numbers as their JSON text.
//! - **Paths.** Field names are matched case-insensitively against record keys. A path goes
//!   through nested objects (references such as `company/identifier`); a path through an array
//!   (`types/id`) matches when any element matches, and an empty array counts as null. This
//!   holds for the negative forms too: `types/id != 4` matches when some element is not 4.
//!
//! Parse errors are [`QueryError`](crate::query::QueryError)s whose message names the parameter,
//! the 1-based character position, what was expected and what was found; a malformed value also
//! lists the literal forms, in the spirit of the real server's message. The first error in the
//! text is the one reported. Parentheses may nest 64 deep; deeper input is refused so that hostile
//! input cannot exhaust the stack.
//!
//! # `orderBy` and `fields`
//!
//! `orderBy` is a comma-separated list of `path [asc|desc]` keys (ascending by default); nulls
//! sort first when ascending. `fields` is a comma-separated list of paths, and projecting keeps
//! only those paths, with their nesting (`company/name` gives `{"company": {"name": …}}`).

/// Case-insensitive text, exact decimals and instants.
mod collation;
/// The `conditions` syntax tree and its recursive-descent parser.
mod conditions;
/// Tests records against parsed conditions.
mod eval;
/// The `fields` parameter.
mod fields;
/// Turns `conditions` text into tokens for the parser.
mod lexer;
/// SQL Server style `like` patterns.
mod like;
/// The `orderBy` parameter.
mod order_by;
/// Field paths and how they are looked up in records.
mod path;
/// Type checks of conditions against the fields they compare.
mod types;

pub use conditions::Conditions;
pub use fields::FieldSelection;
pub use order_by::OrderBy;
pub use types::FieldType;

/// A `conditions`, `orderBy` or `fields` parameter that could not be parsed.
///
/// The message is meant for the API caller, as the message of a 400 ConnectWise error body: it
/// says which parameter, where (1-based character position) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The caller-facing explanation.
    pub message: String,
}

impl QueryError {
    /// Builds the error for `parameter` at 1-based character `position`.
    pub(crate) fn at(parameter: &str, position: usize, detail: impl std::fmt::Display) -> Self {
        Self {
            message: format!("Invalid {parameter} at position {position}: {detail}"),
        }
    }
}

/// Describes the literal forms a value may take, for errors about a malformed value.
pub(crate) const LITERAL_FORMS: &str = "Strings must be in double or single quotes (a backslash \
     escapes the next character), datetimes in square brackets as [yyyy-MM-ddTHH:mm:ssZ], numbers \
     only digits with an optional decimal point and minus sign, booleans true or false, and null \
     the keyword null.";
