//! Validated identifiers: customers, services and inventory sources.
//!
//! Every id is checked once, where it enters hyalto, so the rest of the code can compare and
//! store ids without wondering whether they are blank or carry invisible characters. An id is
//! compared exactly, byte for byte, which is why spaces at either end are refused rather than
//! trimmed: `"acme"` and `"acme "` would otherwise look the same and bill as two customers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest id hyalto accepts, in characters.
pub const MAX_ID_CHARS: usize = 200;

/// Why a text is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty or only whitespace.
    #[error("the id is empty; write the stable id the source system uses")]
    Empty,

    /// The id is longer than [`MAX_ID_CHARS`].
    #[error("the id is {chars} characters long; use at most {MAX_ID_CHARS}")]
    TooLong {
        /// How many characters the id has.
        chars: usize,
    },

    /// The id contains a control character such as a newline or a tab, or an invisible format
    /// character such as a bidi override or a zero-width space (see [`hidden_character`]).
    #[error(
        "the id contains an invisible control or format character (U+{code:04X}) at character \
         {position}; remove it"
    )]
    ControlCharacter {
        /// The code point of the first such character.
        code: u32,
        /// Its position, counted in characters from 1.
        position: usize,
    },

    /// The id starts or ends with whitespace.
    #[error("the id starts or ends with whitespace; remove the spaces at either end")]
    SurroundingWhitespace,
}

/// Unicode's format characters (general category Cf), as ranges of code points (Unicode 15).
///
/// They print as nothing yet change how text reads: U+202E turns the rest of a line around,
/// so an agreement name on an invoice could show another customer's name or a different
/// amount; zero-width characters make two ids that look the same differ.
const FORMAT_CHARACTERS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// The first control (Cc) or format (Cf) character of `text`, with its position counted in
/// characters from 1. Such characters have no place in ids or names, which end up printed on
/// invoices.
pub fn hidden_character(text: &str) -> Option<(usize, char)> {
    let is_format = |c: char| {
        let code = u32::from(c);
        FORMAT_CHARACTERS
            .iter()
            .any(|&(first, last)| (first..=last).contains(&code))
    };
    text.chars()
        .enumerate()
        .find(|&(_, c)| c.is_control() || is_format(c))
        .map(|(index, c)| (index + 1, c))
}

/// The first character of a name that could disguise it, with its position counted in
/// characters from 1: a control or format character as for [`hidden_character`], except the
/// zero-width joiner (U+200D) and non-joiner (U+200C) between two visible characters. Those
/// two are part of ordinary spelling (Persian words, emoji sequences such as a family) and
/// change nothing about which characters a reader sees; at either end of a name or next to a
/// space they only hide, so they are refused there. Variation selectors are not format
/// characters and are always accepted.
pub fn disguising_character(text: &str) -> Option<(usize, char)> {
    let chars: Vec<char> = text.chars().collect();
    let visible = |index: Option<usize>| {
        index
            .and_then(|index| chars.get(index))
            .is_some_and(|c| !c.is_whitespace() && hidden_character(&c.to_string()).is_none())
    };
    chars.iter().enumerate().find_map(|(index, &c)| {
        let joiner = c == '\u{200C}' || c == '\u{200D}';
        if joiner && visible(index.checked_sub(1)) && visible(Some(index + 1)) {
            return None;
        }
        hidden_character(&c.to_string()).map(|_| (index + 1, c))
    })
}

/// Checks the rules every id shares: not blank, at most [`MAX_ID_CHARS`] characters, no
/// control or format characters and no whitespace at either end.
pub fn check_id(text: &str) -> Result<(), IdError> {
    if text.trim().is_empty() {
        return Err(IdError::Empty);
    }

    let chars = text.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(IdError::TooLong { chars });
    }

    if let Some((position, c)) = hidden_character(text) {
        return Err(IdError::ControlCharacter {
            code: u32::from(c),
            position,
        });
    }

    if text.trim() != text {
        return Err(IdError::SurroundingWhitespace);
    }
    Ok(())
}

/// Defines one validated id newtype; the three ids differ only in name and meaning.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `text` and wraps it.
            pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                check_id(&text)?;
                Ok(Self(text))
            }

            /// The id as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::new(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::new(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A customer's stable id in its inventory source (for example a vCloud organisation id).
    CustomerId
);

id_type!(
    /// A service's stable id in its inventory source (for example a VM's instance UUID).
    ServiceId
);

id_type!(
    /// The name of an inventory source; a complete snapshot only retires services of its own
    /// source.
    SourceId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordinary_id_is_accepted_and_displayed_as_written() {
        let id = CustomerId::new("urn:vcloud:org:1f2e-acme").unwrap();

        assert_eq!(id.to_string(), "urn:vcloud:org:1f2e-acme");
        assert_eq!(id.as_str(), "urn:vcloud:org:1f2e-acme");
    }

    #[test]
    fn an_empty_or_blank_id_is_refused() {
        assert_eq!(ServiceId::new(""), Err(IdError::Empty));
        assert_eq!(ServiceId::new("   "), Err(IdError::Empty));
    }

    #[test]
    fn an_id_of_two_hundred_characters_is_accepted_but_one_more_is_not() {
        assert!(SourceId::new("x".repeat(MAX_ID_CHARS)).is_ok());
        assert_eq!(
            SourceId::new("é".repeat(MAX_ID_CHARS + 1)),
            Err(IdError::TooLong { chars: 201 })
        );
    }

    #[test]
    fn an_id_with_a_control_character_is_refused_with_its_position() {
        assert_eq!(
            CustomerId::new("ac\tme"),
            Err(IdError::ControlCharacter {
                code: 9,
                position: 3
            })
        );
    }

    #[test]
    fn an_id_with_a_bidi_override_or_zero_width_space_is_refused_with_its_code_point() {
        let reversed = CustomerId::new("acme\u{202E}gro").unwrap_err();
        let zero_width = ServiceId::new("vm\u{200B}1").unwrap_err();

        assert_eq!(
            reversed,
            IdError::ControlCharacter {
                code: 0x202E,
                position: 5
            }
        );
        assert!(reversed.to_string().contains("U+202E"), "{reversed}");
        assert_eq!(
            zero_width,
            IdError::ControlCharacter {
                code: 0x200B,
                position: 3
            }
        );
        assert!(CustomerId::new("Ødegaard–café").is_ok());
    }

    #[test]
    fn an_id_with_spaces_at_either_end_is_refused() {
        assert_eq!(
            CustomerId::new(" acme"),
            Err(IdError::SurroundingWhitespace)
        );
        assert_eq!(
            CustomerId::new("acme "),
            Err(IdError::SurroundingWhitespace)
        );
    }

    #[test]
    fn ids_parse_from_str_and_travel_through_serde_as_plain_strings() {
        let id: ServiceId = "vm-42".parse().unwrap();

        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"vm-42\"");
        assert_eq!(serde_json::from_str::<ServiceId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ServiceId>("\"\"").is_err());
    }
}
