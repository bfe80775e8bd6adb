//! Taking over a connection: after a network change a client's old TCP connection can look alive to the
//! server for up to the idle timeout (the client's address is gone, so nothing answers and nothing resets),
//! keeping the client's place in its room. The client's next connection says `hello` with `replaces` — the
//! old peer id and the `resume_token` its `welcome` carried — and the server closes the old one (it leaves
//! its room, releases its code) before answering, so a re-join finds the room as the client left it.
//!
//! Tokens are HMAC-SHA256(server secret, peer id): nothing to store, and useless to anyone who did not see
//! that connection's `welcome`. Both the secret and the live connections are this process's: with several
//! nodes behind one backend, a reconnect that lands on another node replaces nothing (it joins as new, as
//! without `replaces`); such a deployment would keep them in the backend.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::protocol::PeerId;

/// How long a takeover waits for the old connection to finish leaving.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);

/// One live connection, as a takeover sees it.
#[derive(Clone, Default)]
pub struct Live {
    /// Cancelled to make the connection end (`replaced`).
    pub kick: CancellationToken,
    /// Cancelled by the connection once it has left its room and released its code.
    pub left: CancellationToken,
}

pub struct Takeovers {
    secret: [u8; 32],
    live: Mutex<HashMap<PeerId, Live>>,
}

impl Takeovers {
    pub fn new() -> Self {
        Takeovers { secret: rand::random(), live: Mutex::new(HashMap::new()) }
    }

    pub fn token(&self, peer: &PeerId) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(b"tincan resume v1\0");
        mac.update(peer.as_bytes());
        mac.finalize().into_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn verify(&self, peer: &PeerId, token: &str) -> bool {
        let expected = self.token(peer);
        // Constant time: the comparison must not tell how much of a guess was right.
        expected.len() == token.len() && expected.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// A connection started.
    pub fn register(&self, peer: &PeerId) -> Live {
        let live = Live::default();
        self.live.lock().unwrap_or_else(|e| e.into_inner()).insert(peer.clone(), live.clone());
        live
    }

    /// A connection ended (after leaving its room).
    pub fn unregister(&self, peer: &PeerId) {
        if let Some(live) = self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(peer) {
            live.left.cancel();
        }
    }

    /// Whether `token` is the resume token of `peer` (the connection may be gone already).
    pub fn vouches(&self, peer: &PeerId, token: &str) -> bool {
        self.verify(peer, token)
    }

    /// End `peer`'s connection if `token` is its and it is still open; returns once it has left (or after
    /// a short timeout). False if the token is wrong or the connection is already gone.
    pub async fn take_over(&self, peer: &PeerId, token: &str) -> bool {
        if !self.verify(peer, token) {
            return false;
        }
        let Some(live) = self.live.lock().unwrap_or_else(|e| e.into_inner()).get(peer).cloned() else {
            return false;
        };
        live.kick.cancel();
        tokio::time::timeout(LEAVE_TIMEOUT, live.left.cancelled()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_right_token_takes_over() {
        let t = Takeovers::new();
        let peer: PeerId = "abc".into();
        let live = t.register(&peer);
        assert!(!t.take_over(&peer, "00000000000000000000000000000000").await);
        assert!(!live.kick.is_cancelled());
        let token = t.token(&peer);
        let l = live.clone();
        let p = peer.clone();
        let leaving = tokio::spawn(async move {
            l.kick.cancelled().await;
            p
        });
        let unregister = async {
            let p = leaving.await.unwrap();
            t.unregister(&p);
        };
        let (taken, ()) = tokio::join!(t.take_over(&peer, &token), unregister);
        assert!(taken);
        assert!(!t.take_over(&peer, &token).await, "a connection that is gone cannot be taken over again");
        assert_ne!(t.token(&"abd".into()), token);
    }
}
