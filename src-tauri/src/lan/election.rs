//! Which signaling server the Tincan apps on a LAN share. Every app with no server configured runs one
//! and announces it; each picks the announced server with the smallest id (its own included). All apps see
//! the same set, so they agree without talking, and when the chosen one leaves they move to the next.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Random, fixed for the app's run; the tie-breaker.
    pub id: String,
    pub url: String,
}

#[derive(Debug, Default)]
pub struct Election {
    own: Option<Candidate>,
    /// Other apps' servers by their mDNS full name.
    found: BTreeMap<String, Candidate>,
}

impl Election {
    pub fn new(own: Option<Candidate>) -> Self {
        Election { own, found: BTreeMap::new() }
    }

    /// The server to use now.
    pub fn chosen(&self) -> Option<&Candidate> {
        self.own.iter().chain(self.found.values()).min_by(|a, b| a.id.cmp(&b.id))
    }

    /// A server was announced (or re-announced); returns the new choice if it changed.
    pub fn found(&mut self, name: &str, candidate: Candidate) -> Option<String> {
        if self.own.as_ref().is_some_and(|o| o.id == candidate.id) {
            return None;
        }
        self.update(|e| {
            e.found.insert(name.to_owned(), candidate);
        })
    }

    /// A server went away; returns the new choice if it changed.
    pub fn removed(&mut self, name: &str) -> Option<String> {
        self.update(|e| {
            e.found.remove(name);
        })
    }

    fn update(&mut self, f: impl FnOnce(&mut Self)) -> Option<String> {
        let before = self.chosen().map(|c| c.url.clone());
        f(self);
        let after = self.chosen().map(|c| c.url.clone());
        if after != before { after } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str) -> Candidate {
        Candidate { id: id.into(), url: format!("ws://{id}/ws") }
    }

    #[test]
    fn the_smallest_id_wins_and_its_departure_moves_everyone_on() {
        let mut e = Election::new(Some(c("m")));
        assert_eq!(e.chosen().unwrap().id, "m");
        assert_eq!(e.found("z._tincan", c("z")), None); // a larger id changes nothing
        assert_eq!(e.found("a._tincan", c("a")).as_deref(), Some("ws://a/ws"));
        assert_eq!(e.found("a._tincan", c("a")), None); // re-announcement
        assert_eq!(e.found("m-echo", c("m")), None); // our own announcement echoed back
        assert_eq!(e.removed("a._tincan").as_deref(), Some("ws://m/ws"));
        assert_eq!(e.removed("z._tincan"), None);
    }

    #[test]
    fn an_app_without_its_own_server_follows_the_lan() {
        let mut e = Election::new(None);
        assert!(e.chosen().is_none());
        assert_eq!(e.found("b", c("b")).as_deref(), Some("ws://b/ws"));
        assert_eq!(e.removed("b"), None); // nothing left to choose
        assert!(e.chosen().is_none());
    }
}
