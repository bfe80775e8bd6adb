//! Display names as everyone shows them: what a peer typed, without the characters that make text lie —
//! controls, bidirectional overrides and isolates (`Mom\u{202E}gnp.exe`), zero-width and other invisible format
//! characters — with whitespace runs made one space, at most [`MAX_NAME_CHARS`].

/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Unicode's format characters (general category Cf) that occur in text: bidi marks, embeddings, overrides
/// and isolates, the zero-width space, the word joiner and invisible operators, the BOM, interlinear
/// annotation marks, and the tag characters. The zero-width joiner and non-joiner stay: emoji sequences and
/// Persian or Indic spelling need them.
pub fn is_format(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
        | 0x200B | 0x200E..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
        | 0xE0020..=0xE007F)
        // Not Cf, but drawn as nothing: Hangul fillers, the blank Braille pattern, Khmer inherent vowels.
        || matches!(c as u32, 0x115F | 0x1160 | 0x3164 | 0xFFA0 | 0x2800 | 0x17B4 | 0x17B5)
}

/// The name to show, or `None` if nothing visible is left. Longer names are cut at [`MAX_NAME_CHARS`].
pub fn clean_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len().min(4 * MAX_NAME_CHARS));
    let mut space = false;
    for c in name.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if !c.is_control() && !is_format(c) {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    let cut: String = out.chars().take(MAX_NAME_CHARS).collect();
    let cut = cut.trim_end().to_owned();
    (!cut.is_empty()).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tricks_are_taken_out() {
        assert_eq!(clean_name("Mom\u{202E}gnp.exe").as_deref(), Some("Momgnp.exe"));
        assert_eq!(clean_name("\u{2067}Ada\u{2069}").as_deref(), Some("Ada"));
        assert_eq!(clean_name("B\u{200B}o\u{FEFF}b").as_deref(), Some("Bob"));
        assert_eq!(clean_name("  Ann \t\n  Lee  ").as_deref(), Some("Ann Lee"));
        assert_eq!(clean_name("Zoë 👩\u{200D}👩\u{200D}👧").as_deref(), Some("Zoë 👩\u{200D}👩\u{200D}👧"));
        assert_eq!(clean_name("bell\u{7}"), Some("bell".into()));
    }

    #[test]
    fn nothing_visible_is_no_name() {
        assert_eq!(clean_name(""), None);
        assert_eq!(clean_name("   "), None);
        assert_eq!(clean_name("\u{200B}\u{202E}\u{2066}"), None);
        assert_eq!(clean_name("\u{1}\u{1b}"), None);
        assert_eq!(clean_name("\u{3164}\u{2800}\u{FFA0}"), None);
    }

    #[test]
    fn long_names_are_cut() {
        let long = "é".repeat(200);
        assert_eq!(clean_name(&long).map(|n| n.chars().count()), Some(MAX_NAME_CHARS));
    }
}
