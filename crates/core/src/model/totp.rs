//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA1, six
//! digits, 30-second steps, one step of drift either way.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::Timestamp;
use crate::error::{Error, Problem};

/// Seconds per time step.
pub const TOTP_PERIOD_SECS: i64 = 30;
/// Digits in a code.
pub const TOTP_DIGITS: u32 = 6;
/// Steps accepted before and after the current one.
const DRIFT_STEPS: i64 = 1;
/// RFC 4226 asks for shared secrets of at least 128 bits.
const MIN_SECRET_BYTES: usize = 16;
const MAX_SECRET_BYTES: usize = 128;

/// A TOTP shared secret (the raw key bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// Reads a secret written in base32 (RFC 4648; case, spaces and padding
    /// ignored), as authenticator apps show it.
    pub fn parse_base32(input: &str) -> Result<Self, Error> {
        let invalid = |problem: Problem| Error::invalid("totp_secret", problem);
        let mut bytes = Vec::with_capacity(input.len() * 5 / 8);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in input.chars().filter(|c| !c.is_whitespace() && *c != '=') {
            let value = match c.to_ascii_uppercase() {
                u @ 'A'..='Z' => u as u32 - 'A' as u32,
                d @ '2'..='7' => d as u32 - '2' as u32 + 26,
                _ => {
                    return Err(invalid(Problem::NotBase32));
                }
            };
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(invalid(Problem::TotpSecretSize));
        }
        Ok(Self(bytes))
    }

    /// Wraps raw key bytes, e.g. after unsealing a stored secret.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// A fresh 160-bit secret (the length RFC 4226 recommends).
    pub fn generate(random: &dyn crate::ports::Random) -> Self {
        let mut bytes = vec![0u8; 20];
        random.fill(&mut bytes);
        Self(bytes)
    }

    /// The secret in base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::with_capacity(self.0.len().div_ceil(5) * 8);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for byte in &self.0 {
            buffer = (buffer << 8) | u32::from(*byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
            }
            buffer &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The six-digit code of time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        format!(
            "{:0width$}",
            hotp(&self.0, step as u64, TOTP_DIGITS),
            width = TOTP_DIGITS as usize
        )
    }

    /// The step within the drift window whose code `code` is, if any. Every
    /// step in the window is compared, in constant time, whatever matches.
    pub fn matching_step(&self, code: &str, now: Timestamp) -> Option<i64> {
        let code = code.trim();
        if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = step_at(now);
        let mut found = None;
        for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
            let matches = self.code_at_step(step).as_bytes().ct_eq(code.as_bytes());
            if bool::from(matches) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// The time step `now` falls in.
pub fn step_at(now: Timestamp) -> i64 {
    now.millis().div_euclid(TOTP_PERIOD_SECS * 1000)
}

/// RFC 4226 HOTP: HMAC-SHA1 of the counter, dynamically truncated.
fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        // HMAC takes keys of any length; this branch cannot be reached.
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 secret of RFC 6238's test vectors: "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret(b"12345678901234567890".to_vec())
    }

    #[test]
    fn rfc_6238_sha1_vectors() {
        // (time in seconds, the eight-digit value from RFC 6238 appendix B)
        let vectors = [
            (59_i64, 94287082_u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (secs, expected) in vectors {
            let step = step_at(Timestamp(secs * 1000));
            assert_eq!(hotp(&rfc_secret().0, step as u64, 8), expected, "t={secs}");
            // Six digits are the last six of the same truncation.
            assert_eq!(
                rfc_secret().code_at_step(step),
                format!("{:06}", expected % 1_000_000),
                "t={secs}"
            );
        }
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let expected = [755224, 287082, 359152, 969429, 338314];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn one_step_of_drift_either_way() {
        let s = rfc_secret();
        let now = Timestamp(1_111_111_111_000);
        let step = step_at(now);
        assert_eq!(s.matching_step(&s.code_at_step(step), now), Some(step));
        assert_eq!(
            s.matching_step(&s.code_at_step(step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            s.matching_step(&s.code_at_step(step + 1), now),
            Some(step + 1)
        );
        assert_eq!(s.matching_step(&s.code_at_step(step - 2), now), None);
        assert_eq!(s.matching_step(&s.code_at_step(step + 2), now), None);
        assert_eq!(s.matching_step(" 050471 ", now), Some(step));
        assert_eq!(s.matching_step("12345", now), None);
        assert_eq!(s.matching_step("abcdef", now), None);
        assert_eq!(s.matching_step("", now), None);
    }

    #[test]
    fn base32_secrets() {
        // "12345678901234567890" in base32.
        let s = TotpSecret::parse_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(s, rfc_secret());
        let spaced = TotpSecret::parse_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(spaced, rfc_secret());
        // 80 bits is below the minimum.
        assert!(TotpSecret::parse_base32("JBSWY3DPEHPK3PXP").is_err());
        assert!(TotpSecret::parse_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1").is_err());
        assert!(TotpSecret::parse_base32("").is_err());
        assert_eq!(format!("{s:?}"), "TotpSecret(..)");
        assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let fresh = TotpSecret::generate(&crate::ports::FreshRandom);
        assert_eq!(fresh.as_bytes().len(), 20);
        assert_eq!(TotpSecret::parse_base32(&fresh.to_base32()).unwrap(), fresh);
        // Lengths that leave a partial group round trip too.
        let odd = TotpSecret(vec![0xff; 17]);
        assert_eq!(TotpSecret::parse_base32(&odd.to_base32()).unwrap(), odd);
    }
}
