//! Person names as galleries store them. One check for every way a name comes in (the CLI,
//! the HTTP server, the library's own `enroll`): a name is trimmed and NFC-normalised (so the
//! composed and decomposed spellings of "Renée" are one person), may not be empty, may not
//! hold control characters, Unicode format characters (bidi overrides and isolates,
//! zero-width spaces, the BOM ...) or line and paragraph separators, may not be the
//! `unknown` label that identification gives to faces nobody matches, and is at most
//! [`MAX_NAME_BYTES`] bytes long.

use unicode_normalization::UnicodeNormalization;

use crate::error::{FaceError, Result};
use crate::search::UNKNOWN;

/// Longest person name: bytes of its UTF-8 NFC form.
pub const MAX_NAME_BYTES: usize = 200;

/// The name as stored: trimmed and NFC-normalised; an error saying what is wrong with it.
pub fn check_name(name: &str) -> Result<String> {
    let stored = normalize_name(name);
    let refuse = |problem: String| Err(FaceError::Name { problem });
    if stored.is_empty() {
        return refuse("a person's name cannot be empty".into());
    }
    if let Some((at, c)) = stored.char_indices().find(|&(_, c)| c.is_control()) {
        return refuse(format!(
            "a person's name cannot hold control characters (U+{:04X} at byte {at})",
            c as u32
        ));
    }
    if let Some((at, c)) = stored.char_indices().find(|&(_, c)| is_format(c)) {
        return refuse(format!(
            "a person's name cannot hold invisible format characters (U+{:04X} at byte {at})",
            c as u32
        ));
    }
    if let Some((at, c)) = stored.char_indices().find(|&(_, c)| matches!(c, '\u{2028}' | '\u{2029}')) {
        return refuse(format!(
            "a person's name cannot hold line or paragraph separators (U+{:04X} at byte {at})",
            c as u32
        ));
    }
    if stored.to_lowercase() == UNKNOWN {
        return refuse(format!("'{UNKNOWN}' is the label of faces that match nobody; it cannot be a name"));
    }
    if stored.len() > MAX_NAME_BYTES {
        return refuse(format!(
            "a person's name is {} bytes long (UTF-8, NFC); the limit is {MAX_NAME_BYTES} bytes",
            stored.len()
        ));
    }
    Ok(stored)
}

/// The form a name is stored and looked up in: NFC, without surrounding white space.
pub fn normalize_name(name: &str) -> String {
    name.nfc().collect::<String>().trim().to_string()
}

/// Unicode format characters (general category Cf), except the zero-width joiner and
/// non-joiner, which spell words in Persian and Indic scripts and emoji sequences.
fn is_format(c: char) -> bool {
    const CF: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200B),
        (0x200E, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    let c = c as u32;
    CF.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_trimmed_and_composed() {
        assert_eq!(check_name("  Ann Smith ").unwrap(), "Ann Smith");
        assert_eq!(check_name("Rene\u{301}e").unwrap(), "Ren\u{e9}e");
        assert_eq!(check_name("\u{41}\u{30A}ngstr\u{f6}m").unwrap(), "\u{c5}ngstr\u{f6}m");
        // The zero-width non-joiner spells Persian words; it stays.
        assert_eq!(
            check_name("\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}").unwrap().chars().count(),
            8
        );
        assert_eq!(check_name("unknown person").unwrap(), "unknown person");
        // The Kelvin sign composes to K: still the unknown label.
        assert!(check_name("un\u{212A}nown").is_err());
    }

    #[test]
    fn refusals_say_why() {
        for (name, why) in [
            ("", "empty"),
            ("a\u{0}b", "U+0000 at byte 1"),
            ("a\u{85}b", "control"),
            ("a\u{202E}b", "U+202E at byte 1"),
            ("a\u{2066}b", "format"),
            ("a\u{E0041}", "format"),
            ("a\u{2028}b", "separator"),
            ("Unknown", "label"),
        ] {
            let err = check_name(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        let err = check_name(&"x".repeat(201)).unwrap_err().to_string();
        assert!(err.contains("201 bytes") && err.contains("limit is 200 bytes"), "{err}");
        assert!(check_name(&"x".repeat(200)).is_ok());
    }
}
