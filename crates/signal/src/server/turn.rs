//! TURN REST credentials as coturn's `use-auth-secret` checks them: the username is `expiry:id` (expiry in
//! Unix seconds) and the password is base64(HMAC-SHA1(secret, username)).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::config::TurnConfig;
use crate::protocol::IceServer;

/// Username and password valid until `now + ttl`.
pub fn rest_credentials(secret: &str, ttl: Duration, id: &str, now: SystemTime) -> (String, String) {
    let expiry = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs().saturating_add(ttl.as_secs());
    let username = format!("{expiry}:{id}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    (username, B64.encode(mac.finalize().into_bytes()))
}

/// The STUN servers, for every `welcome`.
pub fn stun_servers(stun_urls: &[String]) -> Vec<IceServer> {
    if stun_urls.is_empty() {
        return Vec::new();
    }
    vec![IceServer { urls: stun_urls.to_vec(), username: None, credential: None }]
}

/// The TURN servers with fresh credentials, for a connection that joined a room (a relay costs the operator
/// bandwidth: a client that only says hello gets none).
pub fn relay_servers(turn: Option<&TurnConfig>, peer: &str) -> Vec<IceServer> {
    let Some(turn) = turn else { return Vec::new() };
    let (username, credential) = rest_credentials(&turn.secret, turn.ttl, peer, SystemTime::now());
    vec![IceServer { urls: turn.urls.clone(), username: Some(username), credential: Some(credential) }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independently_computed_hmac() {
        // Expected value computed with Python: base64(hmac.new(b"north", b"1700003600:alice", sha1).digest())
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (user, pass) = rest_credentials("north", Duration::from_secs(3600), "alice", now);
        assert_eq!(user, "1700003600:alice");
        assert_eq!(pass, "wjwSXO2ch1B6VaLTLMy2Avn5O9o=");
    }

    #[test]
    fn stun_and_turn_entries() {
        let turn =
            TurnConfig { urls: vec!["turn:127.0.0.1:3478".into()], secret: "s".into(), ttl: Duration::from_secs(60) };
        let stun = stun_servers(&["stun:127.0.0.1:3478".into()]);
        assert_eq!(stun.len(), 1);
        assert_eq!(stun[0].username, None);
        let relays = relay_servers(Some(&turn), "p1");
        assert!(relays[0].username.as_deref().unwrap().ends_with(":p1"));
        assert!(relay_servers(None, "p1").is_empty());
    }
}
