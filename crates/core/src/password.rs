//! The rules of stored password digests: argon2id cost parameters, what a PHC
//! string says, which digests may be imported and which need rehashing.
//!
//! Pure: the hashing itself (threads, memory arenas, the argon2 computation)
//! is an adapter behind the [`PasswordHasher`](crate::ports::PasswordHasher)
//! port. PHC strings are read and written with the `argon2` crate's
//! `password-hash` types, so digests are the standard encoding both ways.

pub mod imported;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Params, Version};

use crate::error::Error;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    /// OWASP's first recommended argon2id setting.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Settings {
    /// These settings as argon2 parameters with a `output_len`-byte hash.
    pub fn params(&self, output_len: usize) -> Result<Params, Error> {
        Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(output_len),
        )
        .map_err(|_| Error::internal("argon2 parameters"))
    }

    /// Whether `digest` is an argon2id v1.3 PHC string at exactly this cost,
    /// with a hash of [`HASH_LEN`] bytes: exactly what the instance makes,
    /// so that checking a password against it costs what checking one
    /// against a stand-in's does. A valid digest that is not (cheaper,
    /// costlier, another variant or hash length) is rehashed at the next
    /// sign-in.
    pub fn is_current(&self, digest: &PasswordHash<'_>) -> bool {
        let Ok(params) = Params::try_from(digest) else {
            return false;
        };
        digest.algorithm == Algorithm::Argon2id.ident()
            && digest.version == Some(Version::V0x13.into())
            && params.m_cost() == self.memory_kib
            && params.t_cost() == self.iterations
            && params.p_cost() == self.parallelism
            && digest.hash.is_some_and(|hash| hash.len() == HASH_LEN)
    }

    /// Whether `digest` is a PHC string made at another cost, algorithm or
    /// hash length, or an imported digest of another kind.
    pub fn needs_rehash(&self, digest: &str) -> bool {
        imported::parse_stored(digest).is_some()
            || PasswordHash::new(digest).is_ok_and(|hash| !self.is_current(&hash))
    }
}

/// The length in bytes of the hashes the instance makes.
pub const HASH_LEN: usize = 32;

/// The largest memory cost of a digest the hasher verifies at all, and of the
/// instance's own (256 MiB): verifying one costs a temporary buffer of that
/// size. Imports are bounded lower, by [`IMPORT_CEILING`].
pub const MAX_VERIFIED_MEMORY_KIB: u32 = 262_144;

/// The most memory x iterations (KiB) of a digest the hasher verifies at all,
/// unless the instance's own cost is higher: about 13 times the default
/// cost. Digests stored before imports were bounded lower still verify.
pub const MAX_VERIFIED_WORK: u64 = 524_288;

/// The costliest argon2 digest accepted in an import. Until its first
/// sign-in rehashes it, an imported account refuses a wrong password in the
/// time its digest takes, not the stand-in's: the ceiling keeps that within
/// what common libraries make by default (RFC 9106's second recommendation
/// and node-argon2, argon2-cffi: 64 MiB, 3 passes, 4 lanes; PHP: 64 MiB,
/// 4 passes), at most 6.7 times today's cost, and refuses the rest.
pub const IMPORT_CEILING: ImportCeiling = ImportCeiling {
    memory_kib: 65_536,
    iterations: 10,
    parallelism: 8,
    work: 262_144,
    hash_len: 16..=64,
};

/// The bounds of [`IMPORT_CEILING`]: each parameter, and memory x iterations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportCeiling {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub work: u64,
    pub hash_len: std::ops::RangeInclusive<usize>,
}

impl ImportCeiling {
    fn admits(&self, stored: &StoredDigest) -> bool {
        stored.params.m_cost() <= self.memory_kib
            && stored.params.t_cost() <= self.iterations
            && stored.params.p_cost() <= self.parallelism
            && work_of(&stored.params) <= self.work
            && self.hash_len.contains(&stored.expected.len())
    }
}

/// What a stored digest says: algorithm, parameters (with the hash's length),
/// salt and expected hash.
#[derive(Debug, Clone)]
pub struct StoredDigest {
    pub algorithm: Algorithm,
    pub params: Params,
    pub salt: Vec<u8>,
    pub expected: Vec<u8>,
}

/// Reads an argon2 PHC string (v1.3) whose cost is within `max_work` and
/// [`MAX_VERIFIED_MEMORY_KIB`]; None for anything else.
pub fn parse_digest(digest: &str, max_work: u64) -> Option<StoredDigest> {
    let hash = PasswordHash::new(digest).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    if hash.version.is_some_and(|v| v != u32::from(Version::V0x13)) {
        return None;
    }
    let expected = hash.hash?.as_bytes().to_vec();
    let base = Params::try_from(&hash).ok()?;
    // A digest's cost is set by whoever made it: bound it, so one imported
    // account cannot hold a hashing worker for long.
    if base.m_cost() > MAX_VERIFIED_MEMORY_KIB || work_of(&base) > max_work {
        return None;
    }
    let params = Params::new(
        base.m_cost(),
        base.t_cost(),
        base.p_cost(),
        Some(expected.len()),
    )
    .ok()?;
    let mut salt = [0u8; 64];
    let salt = hash.salt?.decode_b64(&mut salt).ok()?.to_vec();
    if salt.len() < argon2::MIN_SALT_LEN {
        return None;
    }
    Some(StoredDigest {
        algorithm,
        params,
        salt,
        expected,
    })
}

/// Memory x iterations, the cost of one verification.
pub fn work_of(params: &Params) -> u64 {
    u64::from(params.m_cost()) * u64::from(params.t_cost())
}

/// The PHC string `$argon2id$v=19$m=..,t=..,p=..$salt$hash`.
pub fn argon2id_phc(params: &Params, salt: &[u8], hash: &[u8]) -> Result<String, Error> {
    let salt = SaltString::encode_b64(salt).map_err(|_| Error::internal("salt"))?;
    let hash =
        argon2::password_hash::Output::new(hash).map_err(|_| Error::internal("argon2 output"))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        hash
    ))
}

/// Checks a digest to import: an argon2id or argon2i PHC string within
/// [`IMPORT_CEILING`].
pub fn validate_imported_digest(digest: &str) -> Result<(), crate::error::Problem> {
    match parse_digest(digest, MAX_VERIFIED_WORK) {
        Some(stored) if stored.algorithm == Algorithm::Argon2d => {
            Err(crate::error::Problem::Argon2dDigest)
        }
        Some(stored) if IMPORT_CEILING.admits(&stored) => Ok(()),
        _ => Err(crate::error::Problem::DigestNotAccepted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::Argon2;
    use argon2::password_hash::PasswordHasher as _;

    fn digest(algorithm: Algorithm, m: u32, t: u32, p: u32) -> String {
        Argon2::new(
            algorithm,
            Version::V0x13,
            Params::new(m, t, p, None).unwrap(),
        )
        .hash_password(
            b"some password",
            &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
        )
        .unwrap()
        .to_string()
    }

    #[test]
    fn default_parameters_are_owasp() {
        assert_eq!(
            Argon2Settings::default(),
            Argon2Settings {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }

    #[test]
    fn imports_argon2id_and_argon2i_within_the_cost_bound_only() {
        assert!(validate_imported_digest(&digest(Algorithm::Argon2i, 32, 3, 1)).is_ok());
        assert!(validate_imported_digest(&digest(Algorithm::Argon2id, 64, 1, 1)).is_ok());
        assert!(validate_imported_digest(&digest(Algorithm::Argon2d, 64, 1, 1)).is_err());
        assert!(validate_imported_digest(&digest(Algorithm::Argon2id, 8192, 100, 1)).is_err());
        assert!(validate_imported_digest("$argon2id$v=19$m=64,t=1,p=1$bad").is_err());
        assert!(validate_imported_digest("$2b$10$abcdefghijklmnopqrstuv").is_err());
    }

    /// A digest of `len` bytes at that cost, made by the argon2 crate.
    fn digest_of_len(m: u32, t: u32, p: u32, len: usize) -> String {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(m, t, p, Some(len)).unwrap(),
        )
        .hash_password(
            b"some password",
            &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
        )
        .unwrap()
        .to_string()
    }

    /// A PHC string that claims these parameters (its hash is not of any
    /// password): parsing and bounds only, without paying for the hash.
    fn claimed(algorithm: &str, m: u32, t: u32, p: u32) -> String {
        format!(
            "$argon2{algorithm}$v=19$m={m},t={t},p={p}$MDEyMzQ1Njc4OWFiY2RlZg$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU"
        )
    }

    #[test]
    fn imports_are_bounded_in_memory_iterations_lanes_work_and_hash_length() {
        let ok = |d: &str| validate_imported_digest(d).is_ok();
        // At each ceiling, alone: accepted.
        assert!(
            ok(&claimed("id", 65_536, 4, 8)),
            "64 MiB, 4 passes, 8 lanes"
        );
        assert!(
            ok(&claimed("id", 65_536, 3, 4)),
            "RFC 9106, node-argon2, argon2-cffi"
        );
        assert!(ok(&claimed("i", 19_456, 10, 1)), "argon2i, 10 passes");
        assert!(ok(&claimed("id", 8_192, 10, 1)));
        // One past each: refused.
        assert!(!ok(&claimed("id", 65_537, 1, 1)), "memory");
        assert!(!ok(&claimed("id", 8_192, 11, 1)), "iterations");
        assert!(!ok(&claimed("id", 65_536, 1, 9)), "lanes");
        assert!(!ok(&claimed("id", 65_536, 5, 1)), "memory x iterations");
        assert!(
            !ok(&claimed("id", 262_144, 2, 255)),
            "the review's 256 MiB, 255 lanes"
        );
        assert!(
            !ok(&claimed("id", 65_536, 8, 1)),
            "the review's 64 MiB, 8 passes"
        );
        assert!(!ok(&claimed("i", 65_536, 8, 1)), "argon2i alike");
        assert!(ok(&digest_of_len(64, 1, 1, 16)));
        assert!(ok(&digest_of_len(64, 1, 1, 64)));
        assert!(!ok(&digest_of_len(64, 1, 1, 15)), "hash length");
        assert_eq!(
            validate_imported_digest(&claimed("d", 64, 1, 1)),
            Err(crate::error::Problem::Argon2dDigest)
        );
    }

    #[test]
    fn every_digest_not_made_exactly_as_today_needs_rehashing() {
        let today = Argon2Settings::default();
        assert!(!today.needs_rehash(&digest_of_len(19_456, 2, 1, 32)));
        for (label, digest) in [
            ("costlier memory", claimed("id", 65_536, 2, 1)),
            ("costlier iterations", claimed("id", 19_456, 3, 1)),
            ("more lanes", claimed("id", 19_456, 2, 4)),
            ("cheaper", claimed("id", 4_096, 1, 1)),
            ("argon2i at today's cost", claimed("i", 19_456, 2, 1)),
            ("another hash length", digest_of_len(64, 1, 1, 16)),
        ] {
            assert!(today.needs_rehash(&digest), "{label}");
        }
        let own = Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        assert!(own.needs_rehash(&digest_of_len(64, 1, 1, 64)));
        assert!(!own.needs_rehash(&digest_of_len(64, 1, 1, 32)));
    }

    #[test]
    fn a_parsed_digest_keeps_its_cost_salt_and_hash_length() {
        let stored =
            parse_digest(&digest(Algorithm::Argon2i, 32, 3, 1), MAX_VERIFIED_WORK).unwrap();
        assert_eq!(stored.algorithm, Algorithm::Argon2i);
        assert_eq!(
            (
                stored.params.m_cost(),
                stored.params.t_cost(),
                stored.params.p_cost()
            ),
            (32, 3, 1)
        );
        assert_eq!(stored.params.output_len(), Some(32));
        assert_eq!(stored.salt, b"0123456789abcdef");
        assert_eq!(stored.expected.len(), 32);
        // A higher ceiling admits what the default one refuses.
        let slow = digest(Algorithm::Argon2id, 8192, 100, 1);
        assert!(parse_digest(&slow, MAX_VERIFIED_WORK).is_none());
        assert!(parse_digest(&slow, 819_200).is_some());
    }

    #[test]
    fn only_argon2id_at_the_instance_cost_is_current() {
        let own = Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        assert!(!own.needs_rehash(&digest(Algorithm::Argon2id, 64, 1, 1)));
        assert!(own.needs_rehash(&digest(Algorithm::Argon2id, 64, 2, 1)));
        assert!(own.needs_rehash(&digest(Algorithm::Argon2i, 64, 1, 1)));
        // Not a PHC string at all: nothing to rehash (it never verifies).
        assert!(!own.needs_rehash("not a phc string"));
        // An imported digest of another kind always is rehashed.
        let sha256 =
            imported::stored_form(imported::ImportHasher::Sha256, &"ab".repeat(32)).unwrap();
        assert!(own.needs_rehash(&sha256));
        assert!(!own.needs_rehash("$latch-import$sha256$abc"));
    }

    #[test]
    fn phc_strings_round_trip() {
        let params = Argon2Settings::default().params(32).unwrap();
        let phc = argon2id_phc(&params, b"saltsaltsalt0123", &[7u8; 32]).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let stored = parse_digest(&phc, MAX_VERIFIED_WORK).unwrap();
        assert_eq!(stored.salt, b"saltsaltsalt0123");
        assert_eq!(stored.expected, vec![7u8; 32]);
    }
}
