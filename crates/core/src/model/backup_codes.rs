//! Backup codes: single-use second factors, handed to the user once and kept
//! only as keyed digests.

use crate::error::{Error, Problem};
use crate::ports::Random;

/// How many codes a fresh set holds.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Characters per generated code: 8 of 36 symbols, about 41 bits each.
const GENERATED_LEN: usize = 8;
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Bounds for codes an administrator imports.
const MIN_LEN: usize = 6;
const MAX_LEN: usize = 64;
const MAX_IMPORTED: usize = 100;

/// A fresh set of codes from the CSPRNG, each character uniform.
pub fn generate_backup_codes(random: &dyn Random) -> Vec<String> {
    let mut codes = Vec::with_capacity(BACKUP_CODE_COUNT);
    let mut bytes = [0u8; 64];
    let mut code = String::with_capacity(GENERATED_LEN);
    while codes.len() < BACKUP_CODE_COUNT {
        random.fill(&mut bytes);
        // 252 = 7 * 36: higher bytes are dropped so no symbol is favoured.
        for b in bytes.iter().filter(|b| **b < 252) {
            code.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
            if code.len() == GENERATED_LEN {
                if !codes.contains(&code) {
                    codes.push(std::mem::take(&mut code));
                } else {
                    code.clear();
                }
                if codes.len() == BACKUP_CODE_COUNT {
                    break;
                }
            }
        }
    }
    codes
}

/// The form a code is compared in: lower case, without spaces or dashes.
/// `None` when what is left cannot be a backup code.
pub fn normalize_backup_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid =
        (MIN_LEN..=MAX_LEN).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_graphic());
    valid.then_some(code)
}

/// Checks codes an administrator gives and returns them normalised and
/// without repeats.
pub fn parse_backup_codes(codes: &[String]) -> Result<Vec<String>, Error> {
    const PARAM: &str = "backup_codes";
    if codes.len() > MAX_IMPORTED {
        return Err(Error::invalid(
            PARAM,
            Problem::TooManyBackupCodes { max: MAX_IMPORTED },
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(codes.len());
    for raw in codes {
        if raw.starts_with("$2") {
            return Err(Error::invalid(PARAM, Problem::HashedBackupCodes));
        }
        let code = normalize_backup_code(raw).ok_or_else(|| {
            Error::invalid(
                PARAM,
                Problem::BackupCodeLength {
                    min: MIN_LEN,
                    max: MAX_LEN,
                },
            )
        })?;
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::FreshRandom;

    #[test]
    fn generated_sets_are_ten_distinct_codes_of_eight_symbols() {
        let codes = generate_backup_codes(&FreshRandom);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize_backup_code(code).as_deref(), Some(code.as_str()));
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn generated_symbols_are_uniform() {
        let mut counts = [0u32; 36];
        for _ in 0..200 {
            for code in generate_backup_codes(&FreshRandom) {
                for b in code.bytes() {
                    counts[ALPHABET.iter().position(|a| *a == b).unwrap()] += 1;
                }
            }
        }
        // 16000 symbols: about 444 each.
        assert!(counts.iter().all(|n| (330..560).contains(n)), "{counts:?}");
    }

    #[test]
    fn codes_are_compared_without_case_spaces_or_dashes() {
        assert_eq!(
            normalize_backup_code(" AB12-cd34 ").as_deref(),
            Some("ab12cd34")
        );
        assert_eq!(
            normalize_backup_code("ab 12 cd 34").as_deref(),
            Some("ab12cd34")
        );
        assert_eq!(normalize_backup_code("abc"), None);
        assert_eq!(normalize_backup_code(&"a".repeat(65)), None);
        assert_eq!(normalize_backup_code("abcdéfgh"), None);
    }

    #[test]
    fn imported_codes() {
        let codes = parse_backup_codes(&["AAAA-1111".into(), "aaaa1111".into(), "bbbb2222".into()])
            .unwrap();
        assert_eq!(codes, vec!["aaaa1111", "bbbb2222"]);
        let bcrypt = parse_backup_codes(&["$2a$10$abcdefghijklmnopqrstuv".into()]).unwrap_err();
        assert_eq!(bcrypt.param(), Some("backup_codes"));
        assert!(parse_backup_codes(&["abc".into()]).is_err());
        assert!(parse_backup_codes(&vec!["abcdefgh".to_owned(); 101]).is_err());
        assert_eq!(parse_backup_codes(&[]).unwrap(), Vec::<String>::new());
    }
}
