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
    let expiry = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() + ttl.as_secs();
    let username = format!("{expiry}:{id}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    (username, B64.encode(mac.finalize().into_bytes()))
}

/// The ICE servers for one `welcome`: STUN URLs as they are, TURN URLs with fresh credentials.
pub fn ice_servers(stun_urls: &[String], turn: Option<&TurnConfig>, peer: &str) -> Vec<IceServer> {
    let mut servers = Vec::new();
    if !stun_urls.is_empty() {
        servers.push(IceServer { urls: stun_urls.to_vec(), username: None, credential: None });
    }
    if let Some(turn) = turn {
        let (username, credential) = rest_credentials(&turn.secret, turn.ttl, peer, SystemTime::now());
        servers.push(IceServer { urls: turn.urls.clone(), username: Some(username), credential: Some(credential) });
    }
    servers
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
        let servers = ice_servers(&["stun:127.0.0.1:3478".into()], Some(&turn), "p1");
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].username, None);
        assert!(servers[1].username.as_deref().unwrap().ends_with(":p1"));
    }
}
