//! Where a call stands and why it ended, as the front ends see it (the call machine, `call/machine/`,
//! decides).

use std::fmt;

/// Where a call stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    Idle,
    /// Ringing a contact. (Being rung is the presence connection's business: `presence.rs`.)
    Ringing,
    /// Entering the signaling room.
    Joining,
    /// In the room, alone: waiting for someone.
    Waiting,
    /// Someone is there; offer/answer and ICE/DTLS under way (with everyone, if several).
    Connecting,
    /// Connected with someone (in a group: at least one).
    Connected,
    /// The media path broke (in a group: every path); ICE is restarting.
    Reconnecting,
    Ended(EndReason),
}

impl CallState {
    /// Every state's name, as `state` events say it (the app's UI contract lists them).
    pub const NAMES: [&'static str; 8] =
        ["idle", "ringing_out", "joining", "waiting", "connecting", "connected", "reconnecting", "ended"];

    /// This state's name.
    pub fn name(&self) -> &'static str {
        let i = match self {
            CallState::Idle => 0,
            CallState::Ringing => 1,
            CallState::Joining => 2,
            CallState::Waiting => 3,
            CallState::Connecting => 4,
            CallState::Connected => 5,
            CallState::Reconnecting => 6,
            CallState::Ended(_) => 7,
        };
        Self::NAMES[i]
    }
}

/// Why a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up.
    HungUp,
    /// The other side hung up.
    RemoteHungUp,
    /// The contact declined the ring.
    Declined,
    /// Nobody answered in time.
    Missed,
    /// The personal code is not online.
    Unavailable,
    /// The caller cancelled before we answered.
    Cancelled,
    RoomFull,
    RoomNotFound,
    /// The other peer stopped answering (its media path died and did not come back).
    PeerVanished,
    /// The connection could not be established.
    ConnectionFailed,
    /// The signaling server did not answer when the call began.
    ServerUnreachable,
    /// A local failure, described.
    Failed(String),
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            EndReason::HungUp => "you hung up",
            EndReason::RemoteHungUp => "the other side hung up",
            EndReason::Declined => "declined",
            EndReason::Missed => "no answer",
            EndReason::Unavailable => "not online",
            EndReason::Cancelled => "the caller hung up",
            EndReason::RoomFull => "the room is full",
            EndReason::RoomNotFound => "nobody is in that room",
            EndReason::PeerVanished => "the other side disappeared",
            EndReason::ConnectionFailed => "could not connect",
            EndReason::ServerUnreachable => "the signaling server cannot be reached",
            EndReason::Failed(why) => return write!(f, "failed: {why}"),
        };
        f.write_str(s)
    }
}

impl EndReason {
    /// Every reason's [`code`](Self::code) (the app's UI contract lists them).
    pub const CODES: [&'static str; 12] = [
        "hung_up",
        "remote_hung_up",
        "declined",
        "missed",
        "unavailable",
        "cancelled",
        "room_full",
        "room_not_found",
        "peer_vanished",
        "connection_failed",
        "server_unreachable",
        "failed",
    ];

    /// A stable machine name (for the CLI's JSON and the UI).
    pub fn code(&self) -> &'static str {
        match self {
            EndReason::HungUp => "hung_up",
            EndReason::RemoteHungUp => "remote_hung_up",
            EndReason::Declined => "declined",
            EndReason::Missed => "missed",
            EndReason::Unavailable => "unavailable",
            EndReason::Cancelled => "cancelled",
            EndReason::RoomFull => "room_full",
            EndReason::RoomNotFound => "room_not_found",
            EndReason::PeerVanished => "peer_vanished",
            EndReason::ConnectionFailed => "connection_failed",
            EndReason::ServerUnreachable => "server_unreachable",
            EndReason::Failed(_) => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_name_every_state_and_reason_once() {
        let reasons = [
            EndReason::HungUp,
            EndReason::RemoteHungUp,
            EndReason::Declined,
            EndReason::Missed,
            EndReason::Unavailable,
            EndReason::Cancelled,
            EndReason::RoomFull,
            EndReason::RoomNotFound,
            EndReason::PeerVanished,
            EndReason::ConnectionFailed,
            EndReason::ServerUnreachable,
            EndReason::Failed("x".into()),
        ];
        assert_eq!(reasons.iter().map(EndReason::code).collect::<Vec<_>>(), EndReason::CODES);
        let states = [
            CallState::Idle,
            CallState::Ringing,
            CallState::Joining,
            CallState::Waiting,
            CallState::Connecting,
            CallState::Connected,
            CallState::Reconnecting,
            CallState::Ended(EndReason::HungUp),
        ];
        assert_eq!(states.iter().map(CallState::name).collect::<Vec<_>>(), CallState::NAMES);
    }
}
