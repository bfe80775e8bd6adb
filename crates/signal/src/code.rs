//! Codes people read aloud and type: room codes (`7KQ2-M9XD-4HTB`) and personal codes (four groups).
//!
//! The alphabet is Crockford's base32: digits and capitals without I, L, O and U, so each character carries
//! 5 bits. Input is normalised: case is ignored, spaces, dashes, dots and underscores are dropped, and the
//! confusable letters are read as what they look like (O → 0, I and L → 1, U → V).

use std::fmt;

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::Error;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const GROUP: usize = 4;

fn canonical_char(c: char) -> Option<char> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        'O' => '0',
        'I' | 'L' => '1',
        'U' => 'V',
        other => other,
    };
    ALPHABET.contains(&(c as u8)).then_some(c).filter(|c| c.is_ascii())
}

/// Normalise typed input into `groups` dash-separated groups of four characters.
fn normalise(input: &str, groups: usize) -> Result<String, Error> {
    let expected = groups * GROUP;
    let mut chars = String::with_capacity(expected);
    for c in input.chars() {
        if c.is_whitespace() || matches!(c, '-' | '_' | '.') {
            continue;
        }
        chars.push(canonical_char(c).ok_or(Error::CodeCharacter(c))?);
    }
    if chars.len() != expected {
        return Err(Error::CodeLength { expected, got: chars.len() });
    }
    Ok(group(chars.as_bytes()))
}

fn group(chars: &[u8]) -> String {
    chars.chunks(GROUP).map(|g| std::str::from_utf8(g).expect("alphabet is ASCII")).collect::<Vec<_>>().join("-")
}

fn encode_bits(bytes: &[u8], chars: usize) -> String {
    // Big-endian bit stream, 5 bits per character.
    let mut out = Vec::with_capacity(chars);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut it = bytes.iter();
    while out.len() < chars {
        if bits < 5 {
            acc = (acc << 8) | u32::from(*it.next().expect("enough input bytes"));
            bits += 8;
        }
        bits -= 5;
        out.push(ALPHABET[((acc >> bits) & 31) as usize]);
    }
    group(&out)
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $groups:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Number of characters, without dashes.
            pub const CHARS: usize = $groups * GROUP;
            /// Bits of entropy when the code is random.
            pub const BITS: usize = Self::CHARS * 5;

            /// Read a code as a person typed it. Malformed input is an error that says what is wrong.
            pub fn parse(input: &str) -> Result<Self, Error> {
                normalise(input, $groups).map(Self)
            }

            /// The canonical form, e.g. `7KQ2-M9XD-4HTB`.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }
    };
}

code_type!(
    /// A room code: three groups of four characters, 60 random bits.
    RoomCode,
    3
);
code_type!(
    /// A personal code: four groups of four characters, the first 80 bits of a hash of the public key.
    PersonalCode,
    4
);

impl RoomCode {
    /// A fresh random room code.
    pub fn generate() -> Self {
        let bytes: [u8; 8] = rand::thread_rng().r#gen();
        RoomCode(encode_bits(&bytes, Self::CHARS))
    }
}

impl PersonalCode {
    /// The code that belongs to an Ed25519 public key.
    pub fn from_public_key(key: &[u8; 32]) -> Self {
        let digest = Sha256::new_with_prefix(b"tincan personal code v1\0").chain_update(key).finalize();
        PersonalCode(encode_bits(&digest, Self::CHARS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_room_codes_parse_back_and_differ() {
        let a = RoomCode::generate();
        let b = RoomCode::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 14);
        assert_eq!(RoomCode::parse(a.as_str()).unwrap(), a);
        const { assert!(RoomCode::BITS >= 60) };
    }

    #[test]
    fn typed_input_is_normalised() {
        let c = RoomCode::parse(" 7kq2 m9xd-4htb ").unwrap();
        assert_eq!(c.as_str(), "7KQ2-M9XD-4HTB");
        // Confusables: O→0, I/L→1, U→V.
        assert_eq!(RoomCode::parse("OILU-oilu-ABCD").unwrap().as_str(), "011V-011V-ABCD");
    }

    #[test]
    fn malformed_codes_say_what_is_wrong() {
        assert!(matches!(RoomCode::parse("7KQ2-M9XD-4HT!"), Err(Error::CodeCharacter('!'))));
        assert!(matches!(RoomCode::parse("7KQ2-M9XD"), Err(Error::CodeLength { expected: 12, got: 8 })));
        assert!(matches!(RoomCode::parse("7KQ2-M9XD-4HTB-A"), Err(Error::CodeLength { expected: 12, .. })));
        assert!(matches!(RoomCode::parse(""), Err(Error::CodeLength { got: 0, .. })));
        assert!(matches!(RoomCode::parse("7KQ2-M9XD-4HTé"), Err(Error::CodeCharacter('é'))));
    }

    #[test]
    fn personal_code_is_stable_per_key() {
        let a = PersonalCode::from_public_key(&[1; 32]);
        assert_eq!(a, PersonalCode::from_public_key(&[1; 32]));
        assert_ne!(a, PersonalCode::from_public_key(&[2; 32]));
        assert_eq!(a.as_str().len(), 19);
        assert_eq!(PersonalCode::parse(&a.as_str().to_lowercase()).unwrap(), a);
    }

    #[test]
    fn bit_encoding_is_big_endian_base32() {
        // 0x08 0x42 0x10 = 00001 00001 00001 00001 0000...: four 1s, then zeros.
        assert_eq!(encode_bits(&[0xff; 8], 12), "ZZZZ-ZZZZ-ZZZZ");
        assert_eq!(encode_bits(&[0x00; 8], 12), "0000-0000-0000");
        assert_eq!(encode_bits(&[0x08, 0x42, 0x10, 0, 0, 0, 0, 0], 12), "1111-0000-0000");
    }
}
