//! Resource identifiers in Clerk's shape: a prefix, an underscore and 27
//! base62 characters of randomness.

use serde::{Deserialize, Serialize};

use crate::ports::Random;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ID_CHARS: usize = 27;

/// The resource prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdPrefix {
    User,
    Client,
    Session,
    SignIn,
    SignUp,
    EmailAddress,
    PhoneNumber,
    ExternalAccount,
    Delivery,
    /// An event: the `svix-id` its webhook messages carry.
    Event,
    WebhookEndpoint,
    WebhookAttempt,
    AuditEntry,
    AllowlistEntry,
    BlocklistEntry,
}

impl IdPrefix {
    /// Whether `id` has this prefix (and its underscore).
    pub fn names(self, id: &str) -> bool {
        id.strip_prefix(self.as_str())
            .is_some_and(|rest| rest.starts_with('_'))
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
            Self::Session => "sess",
            Self::SignIn => "sia",
            Self::SignUp => "sua",
            Self::EmailAddress => "idn",
            Self::PhoneNumber => "idn",
            Self::ExternalAccount => "eac",
            Self::Delivery => "dlv",
            Self::Event => "msg",
            Self::WebhookEndpoint => "ep",
            Self::WebhookAttempt => "atmpt",
            Self::AuditEntry => "aud",
            Self::AllowlistEntry => "alid",
            Self::BlocklistEntry => "blid",
        }
    }
}

/// A fresh random identifier with the given prefix.
pub fn new_id(prefix: IdPrefix, random: &dyn Random) -> String {
    let mut out = String::with_capacity(prefix.as_str().len() + 1 + ID_CHARS);
    out.push_str(prefix.as_str());
    out.push('_');
    out.push_str(&random_base62(ID_CHARS, random));
    out
}

/// `len` characters drawn uniformly from `[0-9A-Za-z]`.
pub fn random_base62(len: usize, random: &dyn Random) -> String {
    // Bytes at or above 248 (= 4 * 62) are dropped so every character is
    // equally likely.
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 32];
    while out.len() < len {
        random.fill(&mut bytes);
        for b in bytes.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
        }
    }
    out
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Identifies a user (`user_...`).
    UserId
);
impl UserId {
    /// The longest id kept from another instance (Clerk's have 27 characters
    /// after the prefix, as Latch's own).
    pub const MAX_KEPT_CHARS: usize = 64;

    /// An id given by another Clerk-compatible instance, kept as it is:
    /// `user_` and 1 to [`Self::MAX_KEPT_CHARS`] ASCII letters and digits.
    pub fn parse_kept(raw: &str) -> Result<Self, crate::error::Error> {
        let rest = raw.trim().strip_prefix("user_").unwrap_or_default();
        if rest.is_empty()
            || rest.len() > Self::MAX_KEPT_CHARS
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(crate::error::Error::invalid(
                "id",
                crate::error::Problem::NotUserId,
            ));
        }
        Ok(Self(raw.trim().to_owned()))
    }
}

id_type!(
    /// Identifies a client, one browser or device (`client_...`).
    ClientId
);
id_type!(
    /// Identifies a session (`sess_...`).
    SessionId
);
id_type!(
    /// Identifies a sign-in attempt (`sia_...`).
    SignInId
);
id_type!(
    /// Identifies a sign-up attempt (`sua_...`).
    SignUpId
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::FreshRandom;

    #[test]
    fn ids_have_the_prefix_and_27_base62_characters() {
        let id = new_id(IdPrefix::User, &FreshRandom);
        let (prefix, rest) = id.split_once('_').unwrap();
        assert_eq!(prefix, "user");
        assert_eq!(rest.len(), 27);
        assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(new_id(IdPrefix::User, &FreshRandom), id);
    }

    #[test]
    fn base62_draws_cover_the_alphabet_evenly() {
        let sample = random_base62(62_000, &FreshRandom);
        let mut counts = std::collections::HashMap::new();
        for c in sample.chars() {
            *counts.entry(c).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 62);
        // Expected 1000 each; a biased mapping would skew the first 8 letters by ~25 %.
        assert!(
            counts.values().all(|n| (800..1200).contains(n)),
            "{counts:?}"
        );
    }
}
