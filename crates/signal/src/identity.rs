//! The personal identity of an installation: an Ed25519 key pair whose public key names its personal code.
//!
//! To register its code, a client signs the nonce the server sent in `welcome` and the host name it connected
//! to. The signed bytes are domain-separated (`REGISTRATION_CONTEXT` + host + NUL + nonce) so a registration
//! signature can never be replayed as a signature over anything else; the nonce is fresh per connection so it
//! cannot be replayed at all; and the host name keeps a server from passing a client's registration on to
//! another server (it would have to hand out that server's nonce, but the client signed its own host name).
//! Host names are compared without port, in lower case ([`server_host`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::Error;
use crate::code::PersonalCode;

const REGISTRATION_CONTEXT: &[u8] = b"tincan register v2\0";

/// A host as both sides name it: the host part of a URL or of a `Host` header, lower case, without the port or
/// IPv6 brackets.
pub fn server_host(authority: &str) -> String {
    let authority = authority.trim();
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None if authority.matches(':').count() > 1 => authority,
        None => authority.split(':').next().unwrap_or(authority),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

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

    /// The `signature` field of a `register` message (or a proven `ring`) for the server at `host` (see
    /// [`server_host`]) and its nonce.
    pub fn sign_registration(&self, host: &str, nonce: &str) -> String {
        B64.encode(self.key.sign(&registration_bytes(host, nonce)).to_bytes())
    }
}

fn registration_bytes(host: &str, nonce: &str) -> Vec<u8> {
    [REGISTRATION_CONTEXT, server_host(host).as_bytes(), b"\0", nonce.as_bytes()].concat()
}

/// Check a registration proof made for the server at `host`; on success, the personal code the key owns.
pub fn verify_registration(
    public_key_b64: &str,
    signature_b64: &str,
    host: &str,
    nonce: &str,
) -> Result<PersonalCode, Error> {
    let key: [u8; 32] = B64.decode(public_key_b64)?.try_into().map_err(|_| Error::BadPublicKey)?;
    let verifying = VerifyingKey::from_bytes(&key).map_err(|_| Error::BadPublicKey)?;
    let sig: [u8; 64] = B64.decode(signature_b64)?.try_into().map_err(|_| Error::BadSignature)?;
    verifying
        .verify(&registration_bytes(host, nonce), &Signature::from_bytes(&sig))
        .map_err(|_| Error::BadSignature)?;
    Ok(PersonalCode::from_public_key(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_nonce_proves_the_code() {
        let id = Identity::generate();
        let sig = id.sign_registration("h", "nonce-1");
        let code = verify_registration(&id.public_key_b64(), &sig, "h", "nonce-1").unwrap();
        assert_eq!(code, id.personal_code());
    }

    #[test]
    fn wrong_nonce_wrong_key_or_garbage_is_refused() {
        let id = Identity::generate();
        let other = Identity::generate();
        let sig = id.sign_registration("h", "nonce-1");
        assert!(matches!(verify_registration(&id.public_key_b64(), &sig, "h", "nonce-2"), Err(Error::BadSignature)));
        assert!(matches!(verify_registration(&other.public_key_b64(), &sig, "h", "nonce-1"), Err(Error::BadSignature)));
        assert!(matches!(verify_registration("not base64!", &sig, "h", "nonce-1"), Err(Error::Base64(_))));
        assert!(matches!(verify_registration(&B64.encode([0u8; 5]), &sig, "h", "nonce-1"), Err(Error::BadPublicKey)));
        assert!(matches!(
            verify_registration(&id.public_key_b64(), &B64.encode([0u8; 3]), "h", "nonce-1"),
            Err(Error::BadSignature)
        ));
    }

    #[test]
    fn a_signature_is_for_one_server_host() {
        let id = Identity::generate();
        let sig = id.sign_registration("Signal.Example.org:443", "n");
        assert!(verify_registration(&id.public_key_b64(), &sig, "signal.example.org", "n").is_ok());
        assert!(matches!(
            verify_registration(&id.public_key_b64(), &sig, "evil.example.org", "n"),
            Err(Error::BadSignature)
        ));
        assert_eq!(server_host("[2001:db8::1]:7878"), "2001:db8::1");
        assert_eq!(server_host("2001:db8::1"), "2001:db8::1");
        assert_eq!(server_host("127.0.0.1:7878"), "127.0.0.1");
        assert_eq!(server_host("Example.ORG."), "example.org");
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
