//! Resource identifiers in Clerk's shape: a prefix, an underscore and 27
//! base62 characters. Records that can stand for an account (users, their
//! addresses and external accounts) get 27 characters of randomness, so
//! that a stand-in's look like a real one's; records made per request
//! (clients, flows, sessions, events, audit entries, deliveries) begin
//! with their creation time, as Clerk's time-ordered ids do, so that a
//! store's indexes take them in order at their end.

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;
use crate::ports::Random;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ID_CHARS: usize = 27;
/// The leading characters of an ordered id that hold its creation time in
/// milliseconds: 62^8 ms is about 6,900 years.
const TIME_CHARS: usize = 8;

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

/// A fresh identifier for a record made per request at `now`: its creation
/// time in milliseconds (8 base62 digits, most significant first), then 19
/// random characters (113 bits). The alphabet is in ASCII order, so ids
/// compare as their times do, and ids made in one millisecond differ by
/// their random part. Never for what a stand-in account mimics: its ids
/// must not say when they were made.
pub fn new_ordered_id(prefix: IdPrefix, now: Timestamp, random: &dyn Random) -> String {
    let mut out = String::with_capacity(prefix.as_str().len() + 1 + ID_CHARS);
    out.push_str(prefix.as_str());
    out.push('_');
    let mut time = [ALPHABET[0]; TIME_CHARS];
    let mut left = u64::try_from(now.0).unwrap_or(0);
    for digit in time.iter_mut().rev() {
        *digit = ALPHABET[(left % 62) as usize];
        left /= 62;
    }
    out.extend(time.iter().map(|b| char::from(*b)));
    out.push_str(&random_base62(ID_CHARS - TIME_CHARS, random));
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

    /// The creation time an ordered id holds, in milliseconds.
    fn time_of(id: &str) -> u64 {
        let rest = id.split_once('_').unwrap().1;
        rest.bytes().take(TIME_CHARS).fold(0, |n, b| {
            n * 62 + ALPHABET.iter().position(|a| *a == b).unwrap() as u64
        })
    }

    #[test]
    fn ordered_ids_have_the_shape_and_sort_by_their_time() {
        let at = |ms: i64| new_ordered_id(IdPrefix::Session, Timestamp(ms), &FreshRandom);
        let now = 1_796_000_000_000;
        let id = at(now);
        let (prefix, rest) = id.split_once('_').unwrap();
        assert_eq!(prefix, "sess");
        assert_eq!(rest.len(), 27);
        assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(time_of(&id), now as u64);
        // Later is greater, as text, at every scale; one millisecond apart
        // compares by the time, not by the random part.
        for later in [
            now + 1,
            now + 61,
            now + 62,
            now + 3_600_000,
            now + 10 * 365 * 86_400_000,
        ] {
            for _ in 0..20 {
                assert!(at(later) > at(now), "{later}");
            }
        }
        // Ids made in one millisecond differ.
        assert_ne!(at(now), at(now));
        // A time before 1970 cannot be stored; it reads as zero.
        assert_eq!(time_of(&at(-5)), 0);
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
