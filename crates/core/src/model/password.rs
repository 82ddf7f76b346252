//! A new password, checked against the instance rules before it is hashed.

use crate::error::Error;

/// A password that meets the length rules. Never logged, never stored in clear.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    /// bcrypt-era limit that Clerk keeps: longer inputs are refused, not truncated.
    pub const MAX_BYTES: usize = 72;

    pub fn parse(raw: &str, min_chars: usize) -> Result<Self, Error> {
        if raw.len() > Self::MAX_BYTES {
            return Err(Error::PasswordTooLong {
                max_bytes: Self::MAX_BYTES,
            });
        }
        if raw.chars().count() < min_chars {
            return Err(Error::PasswordTooShort { min_chars });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert!(matches!(
            Password::parse("short", 8).unwrap_err(),
            Error::PasswordTooShort { .. }
        ));
        assert!(matches!(
            Password::parse(&"x".repeat(73), 8).unwrap_err(),
            Error::PasswordTooLong { .. }
        ));
        // 8 characters of 3 bytes each pass; 25 of them exceed 72 bytes.
        assert!(Password::parse(&"€".repeat(8), 8).is_ok());
        assert!(Password::parse(&"€".repeat(25), 8).is_err());
        assert_eq!(
            Password::parse("correct horse", 8).unwrap().expose(),
            "correct horse"
        );
    }
}
