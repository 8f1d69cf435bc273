//! Character classes as llama.cpp's Unicode tables define them, and GPT-2's byte<->char map.

use unicode_general_category::{get_general_category, GeneralCategory as G};

/// `\p{L}`.
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
    )
}

/// `\p{N}`.
pub fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    matches!(
        get_general_category(c),
        G::DecimalNumber | G::LetterNumber | G::OtherNumber
    )
}

/// `\p{P}`.
pub fn is_punctuation(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::ConnectorPunctuation
            | G::DashPunctuation
            | G::OpenPunctuation
            | G::ClosePunctuation
            | G::InitialPunctuation
            | G::FinalPunctuation
            | G::OtherPunctuation
    )
}

/// `\s`: llama.cpp's whitespace table is Python `regex`'s `\s`, i.e. the Unicode White_Space
/// property, which is exactly what Rust's `char::is_whitespace` tests.
pub fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// GPT-2's reversible byte -> char map: printable Latin-1 bytes stand for themselves, the other
/// 68 bytes (controls, space, DEL.., soft hyphen) are moved to U+0100.. in byte order.
pub fn byte_to_char(b: u8) -> char {
    let cp = match b {
        0..=32 => 256 + b as u32,
        127..=160 => 289 + (b as u32 - 127),
        173 => 323,
        _ => b as u32,
    };
    // Every value above is a valid scalar (< 0x180).
    char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The inverse of [`byte_to_char`]; `None` for chars outside the map.
pub fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    match cp {
        33..=126 | 161..=172 | 174..=255 => Some(cp as u8),
        256..=288 => Some((cp - 256) as u8),
        289..=322 => Some((cp - 289 + 127) as u8),
        323 => Some(173),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection() {
        let mut seen = std::collections::HashSet::new();
        for b in 0..=255u8 {
            let c = byte_to_char(b);
            assert!(seen.insert(c));
            assert_eq!(char_to_byte(c), Some(b));
        }
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(char_to_byte('€'), None);
    }

    #[test]
    fn whitespace_matches_llama_cpp_table() {
        let expected: Vec<u32> = [0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680]
            .into_iter()
            .chain(0x2000..=0x200A)
            .chain([0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
            .collect();
        let got: Vec<u32> = (0..0x11000u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_whitespace(c))
            .map(|c| c as u32)
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn classes() {
        assert!(is_letter('é') && is_letter('中') && !is_letter('1'));
        assert!(is_number('٣') && is_number('²') && !is_number('a'));
        assert!(is_punctuation('¿') && !is_punctuation('$'));
    }
}
