//! Recent calls, newest first, at most [`MAX_RECENTS`].

use serde::{Deserialize, Serialize};

pub const MAX_RECENTS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outgoing,
    Incoming,
    Missed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentCall {
    /// Unix time, milliseconds, when the call started (or rang).
    pub at_ms: u64,
    pub direction: Direction,
    /// Who: a contact's name, the caller's name, or the room code.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Seconds connected; 0 when it never connected.
    #[serde(default)]
    pub connected_secs: u64,
    /// How it ended (the engine's end reason, e.g. `hung_up`, `declined`).
    #[serde(default)]
    pub outcome: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Recents {
    pub calls: Vec<RecentCall>,
}

impl Recents {
    pub fn push(&mut self, call: RecentCall) {
        self.calls.insert(0, call);
        self.calls.truncate(MAX_RECENTS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_and_bounded() {
        let mut r = Recents::default();
        for i in 0..(MAX_RECENTS as u64 + 5) {
            r.push(RecentCall {
                at_ms: i,
                direction: Direction::Outgoing,
                name: format!("{i}"),
                code: None,
                room: None,
                connected_secs: 0,
                outcome: String::new(),
            });
        }
        assert_eq!(r.calls.len(), MAX_RECENTS);
        assert_eq!(r.calls[0].at_ms, MAX_RECENTS as u64 + 4);
    }
}
