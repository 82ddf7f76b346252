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
    EmailAddress,
    PhoneNumber,
    Password,
}

impl IdPrefix {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
            Self::Session => "sess",
            Self::SignIn => "sia",
            Self::EmailAddress => "idn",
            Self::PhoneNumber => "idn",
            Self::Password => "pwd",
        }
    }
}

/// A fresh random identifier with the given prefix.
pub fn new_id(prefix: IdPrefix, random: &dyn Random) -> String {
    let mut bytes = [0u8; ID_CHARS];
    random.fill(&mut bytes);
    let mut out = String::with_capacity(prefix.as_str().len() + 1 + ID_CHARS);
    out.push_str(prefix.as_str());
    out.push('_');
    for b in bytes {
        // Ids name resources, they grant nothing: the slight bias of 256 % 62 is
        // harmless here. Secrets (tokens, codes) are encoded elsewhere.
        out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
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
