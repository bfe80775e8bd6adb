//! The call as an explicit state machine: typed inputs in, a new state and typed actions out. No I/O here;
//! the driver (`call/driver.rs`) performs the actions and feeds back what happened.

use std::fmt;

/// Where a call stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    Idle,
    /// Ringing a contact (outgoing) or being rung (incoming).
    Ringing {
        outgoing: bool,
    },
    /// Entering the signaling room.
    Joining,
    /// In the room, alone: waiting for the other peer.
    Waiting,
    /// Both peers present; offer/answer and ICE/DTLS under way.
    Connecting,
    Connected,
    /// The media path broke; ICE is restarting.
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

/// What happened, as the driver reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallInput {
    /// We ring a contact.
    Dial,
    /// We are rung.
    IncomingRing,
    /// We answer an incoming ring.
    Accept,
    /// We enter a room directly (by code).
    Join,
    RingAccepted,
    RingDeclined,
    RingMissed,
    RingUnavailable,
    RingCancelled,
    /// The server put us in the room; `others` peers were already there.
    Joined {
        others: usize,
    },
    JoinRefused(EndReason),
    PeerArrived,
    /// The remote peer left the signaling room.
    PeerLeft,
    /// ICE + DTLS are up.
    TransportConnected,
    /// The media path broke (ICE disconnected).
    TransportInterrupted,
    /// ICE failed, or did not recover in time.
    TransportFailed,
    /// The other side said goodbye on the data channel.
    RemoteBye,
    /// The signaling server could not be reached (before the call began; later losses are retried).
    ServerUnreachable,
    HangUp,
    Fail(String),
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallAction {
    /// Ring the contact.
    Ring,
    /// Tell the server we accept the incoming ring.
    AcceptRing,
    /// Decline an incoming ring (we hung up while it rang).
    DeclineRing,
    /// Cancel our outgoing ring.
    CancelRing,
    /// Enter the call's room.
    JoinRoom,
    /// Build the peer connection; `offer`: we make the offer (we arrived second).
    StartPeer { offer: bool },
    /// Restart ICE (only the offerer does; the answerer follows the new offer).
    RestartIce,
    /// Say goodbye to the peer, leave the room and close the peer connection.
    TearDown { say_bye: bool },
}

#[derive(Debug)]
pub struct CallMachine {
    state: CallState,
    /// We made the offer (and so drive ICE restarts).
    offerer: bool,
}

impl Default for CallMachine {
    fn default() -> Self {
        CallMachine { state: CallState::Idle, offerer: false }
    }
}

impl CallMachine {
    pub fn state(&self) -> &CallState {
        &self.state
    }

    pub fn is_offerer(&self) -> bool {
        self.offerer
    }

    fn end(&mut self, reason: EndReason, actions: Vec<CallAction>) -> Vec<CallAction> {
        self.state = CallState::Ended(reason);
        actions
    }

    /// Apply one input; returns the actions to perform. Inputs that make no sense in the current state change
    /// nothing (they are late echoes of something already handled).
    pub fn handle(&mut self, input: CallInput) -> Vec<CallAction> {
        use CallAction as A;
        use CallInput as I;
        use CallState as S;
        if matches!(self.state, S::Ended(_)) {
            return vec![];
        }
        let in_call = matches!(self.state, S::Connecting | S::Connected | S::Reconnecting);
        match (&self.state, input) {
            (S::Idle, I::Dial) => {
                self.state = S::Ringing { outgoing: true };
                vec![A::Ring]
            }
            (S::Idle, I::IncomingRing) => {
                self.state = S::Ringing { outgoing: false };
                vec![]
            }
            (S::Ringing { outgoing: false }, I::Accept) => {
                self.state = S::Joining;
                vec![A::AcceptRing, A::JoinRoom]
            }
            (S::Idle, I::Join) | (S::Ringing { outgoing: true }, I::RingAccepted) => {
                self.state = S::Joining;
                vec![A::JoinRoom]
            }
            (S::Idle, I::ServerUnreachable) => self.end(EndReason::ServerUnreachable, vec![]),
            (S::Ringing { outgoing: true }, I::RingDeclined) => self.end(EndReason::Declined, vec![]),
            (S::Ringing { outgoing: true }, I::RingMissed) => self.end(EndReason::Missed, vec![]),
            (S::Ringing { outgoing: true }, I::RingUnavailable) => self.end(EndReason::Unavailable, vec![]),
            (S::Ringing { outgoing: false }, I::RingCancelled) => self.end(EndReason::Cancelled, vec![]),
            (S::Ringing { outgoing: false }, I::RingMissed) => self.end(EndReason::Missed, vec![]),
            (S::Ringing { outgoing: true }, I::HangUp) => self.end(EndReason::HungUp, vec![A::CancelRing]),
            (S::Ringing { outgoing: false }, I::HangUp) => self.end(EndReason::HungUp, vec![A::DeclineRing]),
            (S::Joining, I::Joined { others }) if others > 0 => {
                self.state = S::Connecting;
                self.offerer = true;
                vec![A::StartPeer { offer: true }]
            }
            (S::Joining, I::Joined { .. }) => {
                self.state = S::Waiting;
                vec![]
            }
            (S::Joining | S::Waiting, I::PeerArrived) => {
                self.state = S::Connecting;
                self.offerer = false;
                vec![A::StartPeer { offer: false }]
            }
            (S::Joining, I::JoinRefused(reason)) => self.end(reason, vec![]),
            (S::Connecting | S::Reconnecting, I::TransportConnected) => {
                self.state = S::Connected;
                vec![]
            }
            (S::Connected, I::TransportInterrupted) => {
                self.state = S::Reconnecting;
                if self.offerer { vec![A::RestartIce] } else { vec![] }
            }
            (S::Connecting, I::TransportFailed) => {
                self.end(EndReason::ConnectionFailed, vec![A::TearDown { say_bye: false }])
            }
            (S::Connected | S::Reconnecting, I::TransportFailed) => {
                self.end(EndReason::PeerVanished, vec![A::TearDown { say_bye: false }])
            }
            // Before the media path is up, the peer leaving the room ends the attempt; once it is up, media is
            // peer-to-peer and the room no longer matters (the server may even be gone): bye or ICE decide.
            (S::Connecting, I::PeerLeft) => self.end(EndReason::RemoteHungUp, vec![A::TearDown { say_bye: false }]),
            (_, I::RemoteBye) if in_call => self.end(EndReason::RemoteHungUp, vec![A::TearDown { say_bye: false }]),
            (S::Joining | S::Waiting, I::HangUp) => self.end(EndReason::HungUp, vec![A::TearDown { say_bye: false }]),
            (_, I::HangUp) if in_call => self.end(EndReason::HungUp, vec![A::TearDown { say_bye: true }]),
            (_, I::Fail(why)) => self.end(EndReason::Failed(why), vec![A::TearDown { say_bye: in_call }]),
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallAction as A;
    use CallInput as I;

    fn run(inputs: Vec<I>) -> (CallMachine, Vec<Vec<A>>) {
        let mut m = CallMachine::default();
        let actions = inputs.into_iter().map(|i| m.handle(i)).collect();
        (m, actions)
    }

    #[test]
    fn second_to_join_offers() {
        let (m, a) = run(vec![I::Join, I::Joined { others: 1 }, I::TransportConnected]);
        assert_eq!(a[1], vec![A::StartPeer { offer: true }]);
        assert_eq!(m.state(), &CallState::Connected);
        let (m, a) = run(vec![I::Join, I::Joined { others: 0 }]);
        assert_eq!((m.state(), &a[1]), (&CallState::Waiting, &vec![]));
        let (m, a) = run(vec![I::Join, I::Joined { others: 0 }, I::PeerArrived, I::TransportConnected]);
        assert_eq!(a[2], vec![A::StartPeer { offer: false }]);
        assert!(!m.is_offerer());
        assert_eq!(m.state(), &CallState::Connected);
    }

    #[test]
    fn ring_outcomes() {
        let (m, a) = run(vec![I::Dial, I::RingAccepted]);
        assert_eq!(a, vec![vec![A::Ring], vec![A::JoinRoom]]);
        assert_eq!(m.state(), &CallState::Joining);
        for (input, reason) in [
            (I::RingDeclined, EndReason::Declined),
            (I::RingMissed, EndReason::Missed),
            (I::RingUnavailable, EndReason::Unavailable),
        ] {
            let (m, _) = run(vec![I::Dial, input]);
            assert_eq!(m.state(), &CallState::Ended(reason));
        }
        let (m, a) = run(vec![I::Dial, I::HangUp]);
        assert_eq!((m.state(), &a[1]), (&CallState::Ended(EndReason::HungUp), &vec![A::CancelRing]));
        let (m, a) = run(vec![I::IncomingRing, I::Accept]);
        assert_eq!((m.state(), &a[1]), (&CallState::Joining, &vec![A::AcceptRing, A::JoinRoom]));
        let (m, _) = run(vec![I::IncomingRing, I::RingCancelled]);
        assert_eq!(m.state(), &CallState::Ended(EndReason::Cancelled));
    }

    #[test]
    fn an_unreachable_server_ends_a_call_only_before_it_began() {
        let (m, _) = run(vec![I::ServerUnreachable]);
        assert_eq!(m.state(), &CallState::Ended(EndReason::ServerUnreachable));
        let (m, _) = run(vec![I::Join, I::Joined { others: 1 }, I::TransportConnected, I::ServerUnreachable]);
        assert_eq!(m.state(), &CallState::Connected);
    }

    #[test]
    fn hang_up_from_either_side() {
        let connected = || vec![I::Join, I::Joined { others: 1 }, I::TransportConnected];
        let mut inputs = connected();
        inputs.push(I::HangUp);
        let (m, a) = run(inputs);
        assert_eq!(
            (m.state(), a.last().unwrap()),
            (&CallState::Ended(EndReason::HungUp), &vec![A::TearDown { say_bye: true }])
        );
        let mut inputs = connected();
        inputs.push(I::RemoteBye);
        let (m, _) = run(inputs);
        assert_eq!(m.state(), &CallState::Ended(EndReason::RemoteHungUp));
        // Ended is final.
        let mut inputs = connected();
        inputs.extend([I::RemoteBye, I::HangUp, I::TransportConnected]);
        let (m, a) = run(inputs);
        assert_eq!(m.state(), &CallState::Ended(EndReason::RemoteHungUp));
        assert!(a[4].is_empty() && a[5].is_empty());
    }

    #[test]
    fn broken_paths_restart_then_vanish() {
        let (m, a) = run(vec![I::Join, I::Joined { others: 1 }, I::TransportConnected, I::TransportInterrupted]);
        assert_eq!((m.state(), a.last().unwrap()), (&CallState::Reconnecting, &vec![A::RestartIce]));
        let (m, _) = run(vec![
            I::Join,
            I::Joined { others: 1 },
            I::TransportConnected,
            I::TransportInterrupted,
            I::TransportConnected,
        ]);
        assert_eq!(m.state(), &CallState::Connected);
        let (m, _) = run(vec![
            I::Join,
            I::Joined { others: 0 },
            I::PeerArrived,
            I::TransportConnected,
            I::TransportInterrupted,
            I::TransportFailed,
        ]);
        assert_eq!(m.state(), &CallState::Ended(EndReason::PeerVanished));
        // The room emptying while connected does not end the call.
        let (m, _) = run(vec![I::Join, I::Joined { others: 1 }, I::TransportConnected, I::PeerLeft]);
        assert_eq!(m.state(), &CallState::Connected);
        let (m, _) = run(vec![I::Join, I::JoinRefused(EndReason::RoomFull)]);
        assert_eq!(m.state(), &CallState::Ended(EndReason::RoomFull));
    }
}
