//! User names: what people type, and the one canonical form that decides whether two
//! names are the same account.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;

pub const MIN_CHARS: usize = 3;
pub const MAX_CHARS: usize = 32;

/// A valid user name as its owner typed it, with its canonical form beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username {
    display: String,
    canonical: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("Choose a user name.")]
    Empty,
    #[error("A user name has at least {MIN_CHARS} characters.")]
    TooShort,
    #[error("A user name has at most {MAX_CHARS} characters.")]
    TooLong,
    #[error("Use letters, digits, '.', '-' and '_' only.")]
    BadCharacter,
}

impl Username {
    pub fn parse(input: &str) -> Result<Self, UsernameError> {
        let display: String = input.trim().nfc().collect();
        let chars = display.chars().count();
        if chars == 0 {
            return Err(UsernameError::Empty);
        }
        if chars > MAX_CHARS {
            return Err(UsernameError::TooLong);
        }
        if chars < MIN_CHARS {
            return Err(UsernameError::TooShort);
        }
        if !display.chars().all(allowed) {
            return Err(UsernameError::BadCharacter);
        }
        let canonical = canonical_form(&display);
        Ok(Self { display, canonical })
    }

    /// The name as its owner chose to write it.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The form compared for uniqueness and sign-in.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-' | '_') || is_combining_mark(c)
}

fn is_combining_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
}

/// Compatibility normalisation, then lower case, then normalisation again: `Alice`,
/// `ALICE` and `ａｌｉｃｅ` meet, and so do `Å` written as one code point or as `A` plus a
/// combining ring. Done here in Rust so that every database agrees.
pub fn canonical_form(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    folded.nfkc().collect()
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl TryFrom<String> for Username {
    type Error = UsernameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(name: Username) -> Self {
        name.display
    }
}

/// A password as typed; checked only for length, never logged.
#[derive(Clone)]
pub struct Password(String);

pub const PASSWORD_MIN_CHARS: usize = 8;
/// bcrypt reads at most 72 bytes; a longer password would be silently truncated.
pub const PASSWORD_MAX_BYTES: usize = 72;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("A password has at least {PASSWORD_MIN_CHARS} characters.")]
    TooShort,
    #[error("A password has at most {PASSWORD_MAX_BYTES} bytes.")]
    TooLong,
}

impl Password {
    /// A new password, held to the length rules.
    pub fn parse_new(input: &str) -> Result<Self, PasswordError> {
        if input.chars().count() < PASSWORD_MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if input.len() > PASSWORD_MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(input.to_string()))
    }

    /// A password offered at sign-in: any text, checked against the stored hash.
    pub fn offered(input: &str) -> Self {
        Self(input.to_string())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_composition_variants_share_one_canonical_form() {
        let alice = Username::parse("Alice").unwrap();
        for variant in ["alice", "ALICE", "ａｌｉｃｅ", " Alice "] {
            assert_eq!(
                Username::parse(variant).unwrap().canonical(),
                alice.canonical(),
                "{variant}"
            );
        }
        let composed = Username::parse("\u{00C5}sa").unwrap();
        let decomposed = Username::parse("A\u{030A}sa").unwrap();
        assert_eq!(composed.canonical(), decomposed.canonical());
        assert_eq!(composed.canonical(), "\u{00E5}sa");
        assert_eq!(
            alice.as_str(),
            "Alice",
            "the display form keeps the owner's case"
        );
    }

    #[test]
    fn bad_names_get_a_reason() {
        let cases = [
            ("", UsernameError::Empty),
            ("   ", UsernameError::Empty),
            ("ab", UsernameError::TooShort),
            (&"x".repeat(300), UsernameError::TooLong),
            ("ann lee", UsernameError::BadCharacter),
            ("<script>", UsernameError::BadCharacter),
            ("ann\u{0000}x", UsernameError::BadCharacter),
        ];
        for (input, expected) in cases {
            assert_eq!(Username::parse(input), Err(expected.clone()), "{input:?}");
        }
    }

    #[test]
    fn passwords_have_bounds_and_never_print() {
        assert_eq!(
            Password::parse_new("short").err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            Password::parse_new(&"é".repeat(40)).err(),
            Some(PasswordError::TooLong)
        );
        let password = Password::parse_new("correct horse").unwrap();
        assert_eq!(format!("{password:?}"), "Password([redacted])");
    }
}
