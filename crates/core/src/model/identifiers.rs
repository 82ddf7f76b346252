//! The three identifiers a user signs in with, each built by parsing.

use crate::error::{Error, Problem};

/// Which kind of identifier a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum IdentifierKind {
    EmailAddress,
    PhoneNumber,
    Username,
}

impl IdentifierKind {
    /// The request parameter that carries this identifier.
    pub fn param_name(self) -> &'static str {
        match self {
            Self::EmailAddress => "email_address",
            Self::PhoneNumber => "phone_number",
            Self::Username => "username",
        }
    }

    /// The name Clerk uses in `supported_identifiers`.
    pub fn as_str(self) -> &'static str {
        self.param_name()
    }
}

/// Compatibility-normalised (NFKC), trimmed and lower-cased: the one form
/// under which an identifier is stored and looked up, so that full-width,
/// ligature or other look-alike spellings name the same account.
fn canonical(raw: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    raw.nfkc().collect::<String>().trim().to_lowercase()
}

/// An email address in its canonical form (see `canonical`), so comparisons
/// are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let value = canonical(raw);
        let invalid = || Error::invalid("email_address", Problem::NotEmailAddress);
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(value))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164: `+` then 8 to 15 digits, the first not zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid("phone_number", Problem::NotE164);
        let value = canonical(raw);
        let rest = value.strip_prefix('+').ok_or_else(invalid)?;
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return Err(invalid()),
            }
            if digits.len() > 15 {
                return Err(invalid());
            }
        }
        if digits.len() < 8 || digits.starts_with('0') {
            return Err(invalid());
        }
        Ok(Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username: 4 to 64 characters of letters, digits, `_` and `-`, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 4;
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let value = canonical(raw);
        let n = value.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&n) {
            return Err(Error::invalid(
                "username",
                Problem::UsernameLength {
                    min: Self::MIN_LEN,
                    max: Self::MAX_LEN,
                },
            ));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::invalid("username", Problem::UsernameCharacters));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whatever a user typed to name their account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    Email(EmailAddress),
    Phone(PhoneNumber),
    Username(Username),
}

impl Identifier {
    /// Reads a sign-in identifier: an `@` makes it an email address, a leading `+`
    /// a phone number, anything else a username. Errors name `identifier`.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let canonical = canonical(raw);
        let trimmed = canonical.as_str();
        let parsed = if trimmed.contains('@') {
            EmailAddress::parse(trimmed).map(Self::Email)
        } else if trimmed.starts_with('+') {
            PhoneNumber::parse(trimmed).map(Self::Phone)
        } else {
            Username::parse(trimmed).map(Self::Username)
        };
        parsed.map_err(|e| e.for_param("identifier"))
    }

    pub fn kind(&self) -> IdentifierKind {
        match self {
            Self::Email(_) => IdentifierKind::EmailAddress,
            Self::Phone(_) => IdentifierKind::PhoneNumber,
            Self::Username(_) => IdentifierKind::Username,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(e) => e.as_str(),
            Self::Phone(p) => p.as_str(),
            Self::Username(u) => u.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_lower_cased_and_trimmed() {
        let e = EmailAddress::parse("  Alice.Smith+tag@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "alice.smith+tag@example.com");
    }

    #[test]
    fn look_alike_spellings_are_one_identifier() {
        // Full-width letters and signs, and the Kelvin sign, fold to ASCII.
        let fancy = EmailAddress::parse("\u{FF21}nn\u{FF20}\u{212A}ey.example").unwrap();
        assert_eq!(fancy, EmailAddress::parse("ann@key.example").unwrap());
        assert_eq!(
            Username::parse("\u{FF41}nn_lee").unwrap(),
            Username::parse("ANN_LEE").unwrap()
        );
        assert_eq!(
            Identifier::parse("\u{FF0B}1 415 555 0100").unwrap(),
            Identifier::parse("+14155550100").unwrap()
        );
        // A look-alike that is another letter stays another identifier.
        assert!(EmailAddress::parse("\u{0430}nn@key.example").is_err());
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "a@-b.com",
            "a..b@c.com",
            "a@b..com",
            ".a@b.com",
        ] {
            let err = EmailAddress::parse(bad).unwrap_err();
            assert!(matches!(err, crate::Error::InvalidParam { .. }), "{bad}");
            assert_eq!(err.param(), Some("email_address"));
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(EmailAddress::parse(&long).is_err());
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(
            PhoneNumber::parse("+1 (555) 555-0100").unwrap().as_str(),
            "+15555550100"
        );
        for bad in [
            "15555550100",
            "+",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "+1555abc0100",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_follow_the_rules() {
        assert_eq!(Username::parse("Alice_01").unwrap().as_str(), "alice_01");
        assert!(Username::parse("abc").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("al.ice").is_err());
    }

    #[test]
    fn identifiers_are_classified() {
        assert_eq!(
            Identifier::parse("A@B.co").unwrap().kind(),
            IdentifierKind::EmailAddress
        );
        assert_eq!(
            Identifier::parse("+15555550100").unwrap().kind(),
            IdentifierKind::PhoneNumber
        );
        assert_eq!(
            Identifier::parse("alice").unwrap().kind(),
            IdentifierKind::Username
        );
        assert_eq!(
            Identifier::parse("x").unwrap_err().param(),
            Some("identifier")
        );
    }
}
