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
