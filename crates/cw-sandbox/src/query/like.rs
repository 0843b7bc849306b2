//! `like` patterns in the SQL Server style that ConnectWise passes through.
//!
//! `%` and `*` match any run of characters (ConnectWise accepts both) and `_` matches exactly one
//! character, as in SQL Server, to which ConnectWise most likely hands the pattern. Square
//! brackets hold a set that matches exactly one character: `[%]`, `[*]`, `[_]` and `[[]` are the
//! literal `%`, `*`, `_` and `[`, `[a-c]` is a range and `[^a]` matches anything but `a`. Every
//! other character matches itself ignoring case.

use super::collation::fold_char;

/// A compiled `like` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LikePattern {
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// Any run of characters, the empty run included.
    AnyRun,
    /// Exactly one character, whatever it is (`_`).
    AnyOne,
    /// One character, already folded.
    Char(char),
    /// One character from a bracketed set; ranges are folded at both ends.
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Piece {
    /// Tells whether this single-character piece accepts the folded character `c`.
    fn accepts(&self, c: char) -> bool {
        match self {
            Piece::AnyRun | Piece::AnyOne => true,
            Piece::Char(expected) => *expected == c,
            Piece::Set { negated, ranges } => {
                ranges.iter().any(|&(low, high)| low <= c && c <= high) != *negated
            }
        }
    }
}

impl LikePattern {
    /// Compiles a pattern; the error says what is wrong with it, for the caller to place.
    pub(crate) fn parse(pattern: &str) -> Result<LikePattern, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pieces = Vec::new();
        let mut at = 0;

        while let Some(&c) = chars.get(at) {
            at += 1;
            match c {
                '%' | '*' => {
                    // Consecutive wildcards mean the same as one and would only slow matching.
                    if pieces.last() != Some(&Piece::AnyRun) {
                        pieces.push(Piece::AnyRun);
                    }
                }
                '_' => pieces.push(Piece::AnyOne),
                '[' => {
                    let (set, next) = parse_set(&chars, at)?;
                    pieces.push(set);
                    at = next;
                }
                other => pieces.push(Piece::Char(fold_char(other))),
            }
        }

        Ok(Self { pieces })
    }

    /// Tells whether the whole of `text` matches the pattern, ignoring case.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().map(fold_char).collect();

        // Greedy matching that, on a mismatch, lets the latest `%` swallow one more character.
        // Every piece but `%` matches exactly one character, so this never needs to back up
        // further than the latest `%` and runs in O(pattern × text).
        let (mut p, mut t) = (0, 0);
        let mut resume: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.pieces.get(p) {
                Some(Piece::AnyRun) => {
                    resume = Some((p, t));
                    p += 1;
                }
                Some(piece) if piece.accepts(text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match resume {
                    Some((star, star_t)) => {
                        p = star + 1;
                        t = star_t + 1;
                        resume = Some((star, star_t + 1));
                    }
                    None => return false,
                },
            }
        }

        self.pieces[p..].iter().all(|piece| *piece == Piece::AnyRun)
    }
}

/// Reads a bracketed set whose `[` ends just before `at`; returns it and where reading resumes.
fn parse_set(chars: &[char], mut at: usize) -> Result<(Piece, usize), String> {
    let unclosed =
        || "a [ in the like pattern is never closed by ]; write [[] for a literal [".to_owned();

    // `^` negates only when something follows it inside the brackets, so `[^]` is a literal `^`.
    let negated = chars.get(at) == Some(&'^') && chars.get(at + 1).is_some_and(|&c| c != ']');
    if negated {
        at += 1;
    }

    // The first character is always a member, so `[]]` is a literal `]` and `[[]` a literal `[`.
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let &c = chars.get(at).ok_or_else(unclosed)?;
        if c == ']' && !first {
            return Ok((Piece::Set { negated, ranges }, at + 1));
        }
        first = false;
        at += 1;

        let is_range = chars.get(at) == Some(&'-') && chars.get(at + 1).is_some_and(|&e| e != ']');
        if is_range {
            let end = chars[at + 1];
            at += 2;
            ranges.push((fold_char(c), fold_char(end)));
        } else {
            let folded = fold_char(c);
            ranges.push((folded, folded));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(pattern: &str, text: &str) -> bool {
        LikePattern::parse(pattern).unwrap().matches(text)
    }

    #[test]
    fn percent_and_star_match_any_run() {
        assert!(like("Acme%", "Acme Corp"));
        assert!(like("%corp", "Acme Corp"));
        assert!(like("%me c%", "Acme Corp"));
        assert!(like("a*p", "Acme Corp"));
        assert!(like("%", ""));
        assert!(!like("Acme%", "The Acme Corp"));
    }

    #[test]
    fn matching_ignores_case() {
        assert!(like("société%", "SOCIÉTÉ GÉNÉRALE"));
        assert!(like("%MÜLLER", "Bäckerei Müller"));
    }

    #[test]
    fn a_pattern_without_wildcards_must_match_whole() {
        assert!(like("acme", "ACME"));
        assert!(!like("acme", "acme2"));
        assert!(!like("acme2", "acme"));
    }

    #[test]
    fn bracketed_characters_are_literal() {
        assert!(like("100[%]", "100%"));
        assert!(!like("100[%]", "1000"));
        assert!(like("a[*]b", "a*b"));
        assert!(!like("a[*]b", "axb"));
        assert!(like("[[]x]", "[x]"));
        assert!(like("[]]", "]"));
        assert!(like("[^]", "^"));
    }

    #[test]
    fn underscore_matches_exactly_one_character() {
        assert!(like("a_c", "a_c"));
        assert!(like("a_c", "abc"));
        assert!(like("a_c", "AÜC"));
        assert!(!like("a_c", "ac"));
        assert!(!like("a_c", "abbc"));
        assert!(like("%_x", "yx"));
        assert!(!like("%_x", "x"));
    }

    #[test]
    fn a_bracketed_underscore_is_a_literal_underscore() {
        assert!(like("a[_]c", "a_c"));
        assert!(!like("a[_]c", "abc"));
        assert!(like("vm[_]%", "VM_web01"));
        assert!(!like("vm[_]%", "VMXweb01"));
    }

    #[test]
    fn sets_and_ranges_match_one_character() {
        assert!(like("v[0-9]", "v7"));
        assert!(!like("v[0-9]", "vx"));
        assert!(like("[^a]bc", "xbc"));
        assert!(!like("[^a]bc", "Abc"));
        assert!(like("[ab-]", "-"));
    }

    #[test]
    fn backtracking_finds_a_later_match() {
        assert!(like("%ab%abc", "ababxabc"));
        assert!(!like("%ab%abd", "ababxabc"));
    }

    #[test]
    fn an_unclosed_bracket_is_an_error() {
        assert!(LikePattern::parse("abc[").is_err());
        assert!(LikePattern::parse("abc[de").is_err());
    }
}
