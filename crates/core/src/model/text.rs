//! Rules for echoing a caller's input back in an error or a log line.

/// The most characters of a caller's input an error or log line repeats.
pub const ECHO_MAX_CHARS: usize = 64;

/// The first [`ECHO_MAX_CHARS`] characters of `s`: echoed input stays short.
pub fn truncate(s: &str) -> String {
    s.chars().take(ECHO_MAX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(truncate(&long).chars().count(), ECHO_MAX_CHARS);
        assert_eq!(truncate(&long).len(), 2 * ECHO_MAX_CHARS);
    }
}
