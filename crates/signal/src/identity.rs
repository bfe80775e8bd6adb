//! The personal identity of an installation: an Ed25519 key pair whose public key names its personal code.
//!
//! To register its code, a client signs the nonce the server sent in `welcome`. The signed bytes are
//! domain-separated (`REGISTRATION_CONTEXT` + nonce) so a registration signature can never be replayed as a
//! signature over anything else, and the nonce is fresh per connection so it cannot be replayed at all.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::Error;
use crate::code::PersonalCode;

const REGISTRATION_CONTEXT: &[u8] = b"tincan register v1\0";

/// A key pair. Keep the secret bytes private (the desktop app stores them in its data dir).
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("code", &self.personal_code()).finish_non_exhaustive()
    }
}

impl Identity {
    pub fn generate() -> Self {
        Identity { key: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Identity { key: SigningKey::from_bytes(secret) }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The secret as it is kept on disk: 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        self.secret_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Read a key kept with [`Identity::to_hex`] (surrounding whitespace allowed).
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let hex = text.trim().as_bytes();
        if hex.len() != 64 {
            return Err(Error::BadSecretKey);
        }
        let mut secret = [0u8; 32];
        for (byte, pair) in secret.iter_mut().zip(hex.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| Error::BadSecretKey)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| Error::BadSecretKey)?;
        }
        Ok(Identity::from_secret_bytes(&secret))
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key as the protocol carries it (standard base64).
    pub fn public_key_b64(&self) -> String {
        B64.encode(self.public_key())
    }

    pub fn personal_code(&self) -> PersonalCode {
        PersonalCode::from_public_key(&self.public_key())
    }

    /// The `signature` field of a `register` message for this server nonce.
    pub fn sign_registration(&self, nonce: &str) -> String {
        B64.encode(self.key.sign(&registration_bytes(nonce)).to_bytes())
    }
}

fn registration_bytes(nonce: &str) -> Vec<u8> {
    [REGISTRATION_CONTEXT, nonce.as_bytes()].concat()
}

/// Check a registration proof; on success, the personal code the key owns.
pub fn verify_registration(public_key_b64: &str, signature_b64: &str, nonce: &str) -> Result<PersonalCode, Error> {
    let key: [u8; 32] = B64.decode(public_key_b64)?.try_into().map_err(|_| Error::BadPublicKey)?;
    let verifying = VerifyingKey::from_bytes(&key).map_err(|_| Error::BadPublicKey)?;
    let sig: [u8; 64] = B64.decode(signature_b64)?.try_into().map_err(|_| Error::BadSignature)?;
    verifying.verify(&registration_bytes(nonce), &Signature::from_bytes(&sig)).map_err(|_| Error::BadSignature)?;
    Ok(PersonalCode::from_public_key(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_nonce_proves_the_code() {
        let id = Identity::generate();
        let sig = id.sign_registration("nonce-1");
        let code = verify_registration(&id.public_key_b64(), &sig, "nonce-1").unwrap();
        assert_eq!(code, id.personal_code());
    }

    #[test]
    fn wrong_nonce_wrong_key_or_garbage_is_refused() {
        let id = Identity::generate();
        let other = Identity::generate();
        let sig = id.sign_registration("nonce-1");
        assert!(matches!(verify_registration(&id.public_key_b64(), &sig, "nonce-2"), Err(Error::BadSignature)));
        assert!(matches!(verify_registration(&other.public_key_b64(), &sig, "nonce-1"), Err(Error::BadSignature)));
        assert!(matches!(verify_registration("not base64!", &sig, "nonce-1"), Err(Error::Base64(_))));
        assert!(matches!(verify_registration(&B64.encode([0u8; 5]), &sig, "nonce-1"), Err(Error::BadPublicKey)));
        assert!(matches!(
            verify_registration(&id.public_key_b64(), &B64.encode([0u8; 3]), "nonce-1"),
            Err(Error::BadSignature)
        ));
    }

    #[test]
    fn identity_survives_a_round_trip_through_its_secret() {
        let id = Identity::generate();
        let again = Identity::from_secret_bytes(&id.secret_bytes());
        assert_eq!(id.personal_code(), again.personal_code());
        let from_text = Identity::from_hex(&format!("{}\n", id.to_hex())).unwrap();
        assert_eq!(id.personal_code(), from_text.personal_code());
        assert!(matches!(Identity::from_hex("abc"), Err(Error::BadSecretKey)));
        assert!(matches!(Identity::from_hex(&"zz".repeat(32)), Err(Error::BadSecretKey)));
        assert!(matches!(Identity::from_hex(&"é".repeat(32)), Err(Error::BadSecretKey)));
    }
}
