//! Digests made by another system, imported with a user (`password_digest`
//! with `password_hasher`, in Clerk's formats), and how they are stored until
//! the first sign-in replaces them with the instance's argon2id.
//!
//! Stored form: bcrypt strings (`$2a$`, `$2b$`, `$2y$`) and Django's PBKDF2
//! strings (`pbkdf2_sha256$<iterations>$<salt>$<hash>`) name their algorithm
//! and encodings themselves and are kept as given. Every other kind is kept as
//! given behind `$latch-import$<hasher>$`, since the same text means different
//! things under different hashers (Clerk's `pbkdf2_sha256` and
//! `pbkdf2_sha256_django` share a prefix but not the salt's encoding). argon2
//! digests are PHC strings and are read by the parent module.
//!
//! Every digest here is bounded in cost at import and again when read for a
//! check. Each bound admits the defaults of the systems these digests come
//! from (Django, Firebase, the common bcrypt libraries) and keeps one check
//! within about 0.3 s of one hashing worker (release build): far more than the
//! instance's own argon2id check, for as long as the account has not signed
//! in once (the first success replaces the digest), and with wrong passwords
//! bounded by the per-account lockout.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

use crate::error::Problem;

/// A `password_hasher` that an import accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ImportHasher {
    Argon2i,
    Argon2id,
    Bcrypt,
    /// `pbkdf2_sha256$<iterations>$<base64 salt>$<base64 hash>`.
    Pbkdf2Sha256,
    /// Django's: `pbkdf2_sha256$<iterations>$<salt as text>$<base64 hash>`.
    Pbkdf2Sha256Django,
    /// `pbkdf2_sha512$<iterations>$<salt as text>$<hex hash>`.
    Pbkdf2Sha512,
    /// `pbkdf2_sha512_hex$<iterations>$<hex salt>$<hex hash>`.
    Pbkdf2Sha512Hex,
    /// `<hash>$<salt>$<signer key>$<salt separator>$<rounds>$<memory cost>`,
    /// the first four in base64.
    ScryptFirebase,
    /// The bare SHA-256 of the password, 64 hex digits.
    Sha256,
}

impl ImportHasher {
    /// Every accepted hasher, in the order the API lists them.
    pub const ALL: [ImportHasher; 9] = [
        ImportHasher::Argon2id,
        ImportHasher::Argon2i,
        ImportHasher::Bcrypt,
        ImportHasher::Pbkdf2Sha256,
        ImportHasher::Pbkdf2Sha256Django,
        ImportHasher::Pbkdf2Sha512,
        ImportHasher::Pbkdf2Sha512Hex,
        ImportHasher::ScryptFirebase,
        ImportHasher::Sha256,
    ];

    /// The hasher Clerk calls `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }

    /// Clerk's name for it.
    pub fn name(self) -> &'static str {
        match self {
            ImportHasher::Argon2i => "argon2i",
            ImportHasher::Argon2id => "argon2id",
            ImportHasher::Bcrypt => "bcrypt",
            ImportHasher::Pbkdf2Sha256 => "pbkdf2_sha256",
            ImportHasher::Pbkdf2Sha256Django => "pbkdf2_sha256_django",
            ImportHasher::Pbkdf2Sha512 => "pbkdf2_sha512",
            ImportHasher::Pbkdf2Sha512Hex => "pbkdf2_sha512_hex",
            ImportHasher::ScryptFirebase => "scrypt_firebase",
            ImportHasher::Sha256 => "sha256",
        }
    }
}

/// The bcrypt costs accepted: common libraries default to 10 to 12, and cost
/// 12 takes about 0.3 s.
pub const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=12;
/// The most PBKDF2-HMAC-SHA256 iterations accepted: Django 6.0's default
/// (about 0.15 s with SHA extensions).
pub const PBKDF2_SHA256_MAX_ITERATIONS: u32 = 1_200_000;
/// The most PBKDF2-HMAC-SHA512 iterations accepted (each one costs about
/// three of SHA-256's): over 1.5 times OWASP's recommendation (210,000),
/// about 0.2 s.
pub const PBKDF2_SHA512_MAX_ITERATIONS: u32 = 350_000;
/// The largest scrypt N x r accepted for Firebase digests: 64 MiB of memory
/// (128 x N x r bytes), four times Firebase's usual setting (2^14 x 8),
/// about 0.16 s.
pub const SCRYPT_MAX_N_TIMES_R: u64 = 1 << 19;
/// The largest Firebase `rounds` (scrypt's r) accepted.
pub const SCRYPT_MAX_ROUNDS: u32 = 32;
/// The lengths of a PBKDF2 or Firebase hash accepted, in bytes.
pub const HASH_LENGTHS: std::ops::RangeInclusive<usize> = 16..=128;
/// The longest salt accepted, in bytes.
pub const MAX_SALT_LEN: usize = 128;

/// The PRF of a PBKDF2 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pbkdf2Prf {
    Sha256,
    Sha512,
}

/// An imported digest of another kind than argon2, read and within bounds:
/// what the hasher adapter needs to check a password against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyDigest {
    /// bcrypt: the 16-byte salt and the first 23 bytes of the output.
    Bcrypt {
        cost: u32,
        salt: [u8; 16],
        expected: [u8; 23],
    },
    Pbkdf2 {
        prf: Pbkdf2Prf,
        iterations: u32,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    /// Firebase's scrypt: the signer key encrypted with AES-256-CTR (zero
    /// IV) under the first 32 bytes of scrypt(password, salt, N = 2^log_n,
    /// r = rounds, p = 1); `salt` is the user's salt then the separator.
    ScryptFirebase {
        log_n: u8,
        rounds: u32,
        salt: Vec<u8>,
        signer_key: Vec<u8>,
        expected: Vec<u8>,
    },
    /// Unsalted SHA-256.
    Sha256 { expected: [u8; 32] },
}

/// Why a digest is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Malformed,
    TooCostly,
}

impl Refusal {
    fn problem(self, hasher: ImportHasher) -> Problem {
        match self {
            Refusal::Malformed => Problem::MalformedDigest(hasher),
            Refusal::TooCostly => Problem::DigestTooCostly(hasher),
        }
    }
}

const IMPORT_PREFIX: &str = "$latch-import$";
const DJANGO_PREFIX: &str = "pbkdf2_sha256$";

/// The stored form of `digest` imported under `hasher` (not an argon2 one),
/// or the problem with it.
pub fn stored_form(hasher: ImportHasher, digest: &str) -> Result<String, Problem> {
    parse(hasher, digest).map_err(|refusal| refusal.problem(hasher))?;
    Ok(match hasher {
        ImportHasher::Bcrypt | ImportHasher::Pbkdf2Sha256Django => digest.to_owned(),
        _ => format!("{IMPORT_PREFIX}{}${digest}", hasher.name()),
    })
}

/// Reads a stored digest of a kind this module handles, within bounds; None
/// for anything else (argon2 PHC strings included).
pub fn parse_stored(stored: &str) -> Option<LegacyDigest> {
    let (hasher, digest) = if stored.starts_with("$2") {
        (ImportHasher::Bcrypt, stored)
    } else if stored.starts_with(DJANGO_PREFIX) {
        (ImportHasher::Pbkdf2Sha256Django, stored)
    } else {
        let (name, digest) = stored.strip_prefix(IMPORT_PREFIX)?.split_once('$')?;
        (ImportHasher::parse(name)?, digest)
    };
    parse(hasher, digest).ok()
}

fn parse(hasher: ImportHasher, digest: &str) -> Result<LegacyDigest, Refusal> {
    match hasher {
        ImportHasher::Argon2i | ImportHasher::Argon2id => Err(Refusal::Malformed),
        ImportHasher::Bcrypt => bcrypt(digest),
        ImportHasher::Pbkdf2Sha256 => {
            pbkdf2(digest, "pbkdf2_sha256", Pbkdf2Prf::Sha256, base64, base64)
        }
        ImportHasher::Pbkdf2Sha256Django => {
            pbkdf2(digest, "pbkdf2_sha256", Pbkdf2Prf::Sha256, text, base64)
        }
        ImportHasher::Pbkdf2Sha512 => pbkdf2(digest, "pbkdf2_sha512", Pbkdf2Prf::Sha512, text, hex),
        ImportHasher::Pbkdf2Sha512Hex => {
            pbkdf2(digest, "pbkdf2_sha512_hex", Pbkdf2Prf::Sha512, hex, hex)
        }
        ImportHasher::ScryptFirebase => scrypt_firebase(digest),
        ImportHasher::Sha256 => {
            let expected = hex(digest).ok_or(Refusal::Malformed)?;
            let expected = expected.try_into().map_err(|_| Refusal::Malformed)?;
            Ok(LegacyDigest::Sha256 { expected })
        }
    }
}

/// `$2a$`, `$2b$` or `$2y$`, two cost digits, 22 characters of salt and 31
/// of hash in bcrypt's base64.
fn bcrypt(digest: &str) -> Result<LegacyDigest, Refusal> {
    let Some(["", "2a" | "2b" | "2y", cost, rest]) = fields(digest) else {
        return Err(Refusal::Malformed);
    };
    if cost.len() != 2 || rest.len() != 53 || !rest.is_ascii() {
        return Err(Refusal::Malformed);
    }
    let cost: u32 = cost.parse().map_err(|_| Refusal::Malformed)?;
    let (salt, hash) = rest.split_at(22);
    let salt = bcrypt_base64(salt)?
        .try_into()
        .map_err(|_| Refusal::Malformed)?;
    let expected = bcrypt_base64(hash)?
        .try_into()
        .map_err(|_| Refusal::Malformed)?;
    if !BCRYPT_COSTS.contains(&cost) {
        return Err(if cost > *BCRYPT_COSTS.end() {
            Refusal::TooCostly
        } else {
            Refusal::Malformed
        });
    }
    Ok(LegacyDigest::Bcrypt {
        cost,
        salt,
        expected,
    })
}

fn bcrypt_base64(text: &str) -> Result<Vec<u8>, Refusal> {
    // Some implementations leave the last character's unused bits set.
    let engine = GeneralPurpose::new(
        &base64::alphabet::BCRYPT,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    engine.decode(text).map_err(|_| Refusal::Malformed)
}

/// `<name>$<iterations>$<salt>$<hash>`, salt and hash in these encodings.
fn pbkdf2(
    digest: &str,
    name: &str,
    prf: Pbkdf2Prf,
    salt: fn(&str) -> Option<Vec<u8>>,
    hash: fn(&str) -> Option<Vec<u8>>,
) -> Result<LegacyDigest, Refusal> {
    let Some([given, iterations, salt_text, hash_text]) = fields(digest) else {
        return Err(Refusal::Malformed);
    };
    if given != name {
        return Err(Refusal::Malformed);
    }
    let iterations = count(iterations)?;
    let salt = salt(salt_text).ok_or(Refusal::Malformed)?;
    let expected = hash(hash_text).ok_or(Refusal::Malformed)?;
    if salt.is_empty() || salt.len() > MAX_SALT_LEN || !HASH_LENGTHS.contains(&expected.len()) {
        return Err(Refusal::Malformed);
    }
    let max = match prf {
        Pbkdf2Prf::Sha256 => PBKDF2_SHA256_MAX_ITERATIONS,
        Pbkdf2Prf::Sha512 => PBKDF2_SHA512_MAX_ITERATIONS,
    };
    if iterations > max {
        return Err(Refusal::TooCostly);
    }
    Ok(LegacyDigest::Pbkdf2 {
        prf,
        iterations,
        salt,
        expected,
    })
}

/// `<hash>$<salt>$<signer key>$<salt separator>$<rounds>$<memory cost>`.
fn scrypt_firebase(digest: &str) -> Result<LegacyDigest, Refusal> {
    let Some([hash, salt, signer_key, separator, rounds, memory_cost]) = fields(digest) else {
        return Err(Refusal::Malformed);
    };
    let expected = base64(hash).ok_or(Refusal::Malformed)?;
    let mut salt = base64(salt).ok_or(Refusal::Malformed)?;
    let signer_key = base64(signer_key).ok_or(Refusal::Malformed)?;
    salt.extend(base64(separator).ok_or(Refusal::Malformed)?);
    let rounds = count(rounds)?;
    let log_n: u8 = memory_cost.parse().map_err(|_| Refusal::Malformed)?;
    if !HASH_LENGTHS.contains(&expected.len())
        || signer_key.len() != expected.len()
        || salt.is_empty()
        || salt.len() > MAX_SALT_LEN
        || log_n == 0
        // scrypt needs N < 2^(16 r).
        || u64::from(log_n) >= 16 * u64::from(rounds)
    {
        return Err(Refusal::Malformed);
    }
    if rounds > SCRYPT_MAX_ROUNDS
        || log_n > 32
        || (1u64 << log_n) * u64::from(rounds) > SCRYPT_MAX_N_TIMES_R
    {
        return Err(Refusal::TooCostly);
    }
    Ok(LegacyDigest::ScryptFirebase {
        log_n,
        rounds,
        salt,
        signer_key,
        expected,
    })
}

/// Exactly `N` fields separated by `$`.
fn fields<const N: usize>(digest: &str) -> Option<[&str; N]> {
    let parts: Vec<&str> = digest.split('$').collect();
    parts.try_into().ok()
}

/// A positive decimal count without sign or leading zeros.
fn count(text: &str) -> Result<u32, Refusal> {
    match text.parse::<u32>() {
        Ok(n) if n > 0 && !text.starts_with(['0', '+']) => Ok(n),
        // Too many digits to be a u32: a cost, not a format, problem.
        _ if text.len() > 9 && text.bytes().all(|b| b.is_ascii_digit()) => Err(Refusal::TooCostly),
        _ => Err(Refusal::Malformed),
    }
}

/// Standard base64, padded or not.
fn base64(text: &str) -> Option<Vec<u8>> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        general_purpose::PAD.with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(text).ok()
}

/// The salt as given: its UTF-8 bytes.
fn text(text: &str) -> Option<Vec<u8>> {
    Some(text.as_bytes().to_vec())
}

/// Hex digits, either case, in pairs.
fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(pair, 16)
                .ok()
                .filter(|_| !pair.starts_with('+'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From `scripts/hash-vectors.py`.
    const BCRYPT: &str = "$2b$04$HErsAOq9sJzaVZsbMhpvMeScNJlmqEeKSdhyax4wwe8HS5UOzyTle";
    const FIREBASE: &str = "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==$42xEC+ixf3L2lw==$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$Bw==$8$14";

    fn refused(hasher: ImportHasher, digest: &str) -> Option<Problem> {
        stored_form(hasher, digest).err()
    }

    fn malformed(hasher: ImportHasher, digest: &str) -> bool {
        refused(hasher, digest) == Some(Problem::MalformedDigest(hasher))
    }

    fn costly(hasher: ImportHasher, digest: &str) -> bool {
        refused(hasher, digest) == Some(Problem::DigestTooCostly(hasher))
    }

    #[test]
    fn hashers_are_named_as_clerk_names_them() {
        for hasher in ImportHasher::ALL {
            assert_eq!(ImportHasher::parse(hasher.name()), Some(hasher));
        }
        assert_eq!(ImportHasher::parse("md5"), None);
        assert_eq!(ImportHasher::parse("Bcrypt"), None);
    }

    #[test]
    fn bcrypt_strings_are_read_and_kept_as_given() {
        assert_eq!(stored_form(ImportHasher::Bcrypt, BCRYPT).unwrap(), BCRYPT);
        let Some(LegacyDigest::Bcrypt { cost, salt, .. }) = parse_stored(BCRYPT) else {
            panic!("not read");
        };
        assert_eq!(cost, 4);
        assert_eq!(salt.len(), 16);
        for version in ["2a", "2y"] {
            let other = BCRYPT.replacen("2b", version, 1);
            assert!(
                stored_form(ImportHasher::Bcrypt, &other).is_ok(),
                "{version}"
            );
        }
        for bad in [
            BCRYPT.replacen("2b", "2x", 1),
            BCRYPT.replacen("$04$", "$4$", 1),
            BCRYPT.replacen("$04$", "$03$", 1),
            BCRYPT[..BCRYPT.len() - 1].to_owned(),
            format!("{BCRYPT}A"),
            BCRYPT.replacen('E', "!", 1),
            format!("{BCRYPT}$"),
        ] {
            assert!(malformed(ImportHasher::Bcrypt, &bad), "{bad}");
        }
        assert!(stored_form(ImportHasher::Bcrypt, &BCRYPT.replacen("$04$", "$12$", 1)).is_ok());
        assert!(costly(
            ImportHasher::Bcrypt,
            &BCRYPT.replacen("$04$", "$13$", 1)
        ));
        assert!(costly(
            ImportHasher::Bcrypt,
            &BCRYPT.replacen("$04$", "$31$", 1)
        ));
    }

    #[test]
    fn pbkdf2_digests_in_each_of_clerks_encodings() {
        let django = "pbkdf2_sha256$1000$saltsalt$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert_eq!(
            stored_form(ImportHasher::Pbkdf2Sha256Django, django).unwrap(),
            django
        );
        let Some(LegacyDigest::Pbkdf2 {
            prf,
            iterations,
            salt,
            expected,
        }) = parse_stored(django)
        else {
            panic!("not read");
        };
        assert_eq!(
            (prf, iterations, salt.as_slice()),
            (Pbkdf2Prf::Sha256, 1000, &b"saltsalt"[..])
        );
        assert_eq!(expected, (0u8..32).collect::<Vec<_>>());
        // The same text under Clerk's pbkdf2_sha256 decodes the salt.
        let stored = stored_form(ImportHasher::Pbkdf2Sha256, django).unwrap();
        assert_eq!(stored, format!("$latch-import$pbkdf2_sha256${django}"));
        let Some(LegacyDigest::Pbkdf2 { salt, .. }) = parse_stored(&stored) else {
            panic!("not read");
        };
        assert_eq!(salt, [0xb1, 0xa9, 0x6d, 0xb1, 0xa9, 0x6d]);
        let sha512 = format!("pbkdf2_sha512$1000$salt${}", "ab".repeat(64));
        let stored = stored_form(ImportHasher::Pbkdf2Sha512, &sha512).unwrap();
        assert!(matches!(
            parse_stored(&stored),
            Some(LegacyDigest::Pbkdf2 { prf: Pbkdf2Prf::Sha512, ref salt, .. }) if salt == b"salt"
        ));
        let hexed = format!("pbkdf2_sha512_hex$1000$0A0b${}", "CD".repeat(64));
        let stored = stored_form(ImportHasher::Pbkdf2Sha512Hex, &hexed).unwrap();
        assert!(matches!(
            parse_stored(&stored),
            Some(LegacyDigest::Pbkdf2 { ref salt, .. }) if salt == &[10, 11]
        ));
    }

    #[test]
    fn pbkdf2_digests_are_bounded_and_well_formed() {
        let hash = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let d = |iterations: &str| format!("pbkdf2_sha256${iterations}$salt${hash}");
        let django = ImportHasher::Pbkdf2Sha256Django;
        assert!(stored_form(django, &d("1200000")).is_ok());
        assert!(costly(django, &d("1200001")));
        assert!(costly(django, &d("99999999999")));
        for bad in ["0", "-1", "01", "+5", "x", ""] {
            assert!(malformed(django, &d(bad)), "{bad}");
        }
        for bad in [
            format!("pbkdf2_sha512$1000$salt${hash}"),
            format!("pbkdf2_sha256$1000$${hash}"),
            "pbkdf2_sha256$1000$salt$AAEC".to_owned(),
            "pbkdf2_sha256$1000$salt$not base64!".to_owned(),
            format!("pbkdf2_sha256$1000$salt${hash}$extra"),
            format!("pbkdf2_sha256$1000${}${hash}", "s".repeat(129)),
        ] {
            assert!(malformed(django, &bad), "{bad}");
        }
        let sha512 = |i: u32| format!("pbkdf2_sha512${i}$salt${}", "ab".repeat(64));
        assert!(stored_form(ImportHasher::Pbkdf2Sha512, &sha512(350_000)).is_ok());
        assert!(costly(ImportHasher::Pbkdf2Sha512, &sha512(350_001)));
        assert!(malformed(
            ImportHasher::Pbkdf2Sha512,
            &format!("pbkdf2_sha512$1000$salt${}", "zz".repeat(64))
        ));
        assert!(malformed(
            ImportHasher::Pbkdf2Sha512Hex,
            &format!("pbkdf2_sha512_hex$1000$salt${}", "ab".repeat(64))
        ));
    }

    #[test]
    fn firebase_scrypt_digests_carry_the_project_parameters() {
        let stored = stored_form(ImportHasher::ScryptFirebase, FIREBASE).unwrap();
        assert_eq!(stored, format!("$latch-import$scrypt_firebase${FIREBASE}"));
        let Some(LegacyDigest::ScryptFirebase {
            log_n,
            rounds,
            salt,
            signer_key,
            expected,
        }) = parse_stored(&stored)
        else {
            panic!("not read");
        };
        assert_eq!((log_n, rounds), (14, 8));
        // The user's salt (10 bytes), then the separator (0x07).
        assert_eq!(salt.len(), 11);
        assert_eq!(salt.last(), Some(&7));
        assert_eq!((signer_key.len(), expected.len()), (64, 64));
        let with = |rounds: &str, cost: &str| {
            let mut parts: Vec<&str> = FIREBASE.split('$').collect();
            parts[4] = rounds;
            parts[5] = cost;
            parts.join("$")
        };
        let firebase = ImportHasher::ScryptFirebase;
        assert!(stored_form(firebase, &with("8", "16")).is_ok(), "64 MiB");
        assert!(stored_form(firebase, &with("32", "14")).is_ok());
        assert!(costly(firebase, &with("8", "17")));
        assert!(costly(firebase, &with("33", "10")));
        assert!(costly(firebase, &with("16", "16")));
        assert!(costly(firebase, &with("8", "40")));
        for (rounds, cost) in [
            ("0", "14"),
            ("8", "0"),
            ("1", "16"),
            ("8", "x"),
            ("8", "-1"),
        ] {
            assert!(malformed(firebase, &with(rounds, cost)), "{rounds} {cost}");
        }
        let short_key = FIREBASE.replacen("jxspr8Ki", "", 1);
        assert!(malformed(firebase, &short_key));
        assert!(malformed(firebase, &format!("{FIREBASE}$1")));
        assert!(malformed(firebase, "a$b$c$d$8$14"));
    }

    #[test]
    fn sha256_digests_are_64_hex_digits() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let stored = stored_form(ImportHasher::Sha256, hex).unwrap();
        assert_eq!(stored, format!("$latch-import$sha256${hex}"));
        assert!(matches!(
            parse_stored(&stored),
            Some(LegacyDigest::Sha256 { expected }) if expected[0] == 0x9f
        ));
        assert!(stored_form(ImportHasher::Sha256, &hex.to_uppercase()).is_ok());
        for bad in [
            hex[..62].to_owned(),
            format!("{hex}00"),
            hex.replacen('9', "g", 1),
            String::new(),
        ] {
            assert!(malformed(ImportHasher::Sha256, &bad), "{bad}");
        }
    }

    #[test]
    fn stored_forms_are_read_back_only_when_well_formed() {
        assert!(parse_stored("$latch-import$md5$abc").is_none());
        assert!(parse_stored("$latch-import$sha256$xyz").is_none());
        assert!(parse_stored("$latch-import$sha256").is_none());
        assert!(parse_stored("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA").is_none());
        assert!(parse_stored("").is_none());
        // A stored digest past the bounds (written by hand) is not read.
        assert!(parse_stored(&BCRYPT.replacen("$04$", "$20$", 1)).is_none());
        // argon2 is not this module's.
        assert!(malformed(ImportHasher::Argon2id, BCRYPT));
    }
}
