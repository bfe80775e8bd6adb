//! The call machine (the call core): everything a call decides, with no I/O and no clock of its own
//! (sans-IO, after str0m's `handle_input` / `poll_output` / `poll_timeout`). The driver (`call/driver.rs`)
//! feeds it what happened, each input with the time it happened, performs the [`Output`]s it returns, and
//! wakes it at [`CallMachine::poll_timeout`].
//!
//! A call is a room with one [`Link`] per other participant (a peer connection each: a mesh). Who offers is
//! decided by a rule, so nobody's offers cross: whoever enters the room offers to everyone already there.
//! In a room for two the call is the one link: when it ends (the other side hangs up, vanishes, or never
//! connects) the call ends. In a group room links come and go and the call ends only when we leave.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use tincan_signal::protocol::PeerId;
use webrtc::peer_connection::RTCIceCandidateInit;

use super::signal::PeerSignal;
use super::state::{CallState, EndReason};

/// While reconnecting, an ICE-restart offer with no answer is sent again this often: the path that carried
/// it may have been the one that broke (the other side's signaling connection reconnects meanwhile).
pub const RESTART_RESEND: Duration = Duration::from_millis(1000);

/// Still not connected this long after the offer, with a TURN server at hand: the offerer starts over with
/// a relay-only connection. A safety net: earlier builds did not complete the relayed path between two
/// symmetric NATs when every candidate type was gathered (coturn refused the TURN client after a stale
/// nonce); today it connects in under 0.6 s in the NAT lab, relay-only in under 0.3 s. Direct paths connect well
/// within this.
pub const RELAY_FALLBACK_AFTER: Duration = Duration::from_secs(5);

/// Inbound media silent this long on a connected link: check the signaling connection. After a network
/// change the path may still answer ICE consent checks for a while (the other side answers our new address)
/// while media goes to the old one; finding a dead signaling connection early lets the ICE restart through.
pub const MEDIA_SILENCE: Duration = Duration::from_millis(500);

/// A link still not connected this long after it opened is given up (an offer lost on the way, a peer that
/// answers but never completes ICE): in a call for two the call ends, in a group that participant is dropped.
/// Longer than the relay start-over takes (5 s, then a relayed path in well under a second).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Remote candidates taken per description (offer or answer): a real peer sends a handful per interface and
/// server; a hostile one that streams them would grow the ICE agent's memory without end.
pub const MAX_REMOTE_CANDIDATES: u32 = 64;
/// Video sections added at once when a participant asks for an offer to send on (a share).
pub const MAX_RECEIVE_VIDEO: u8 = 2;
/// Remote candidates taken over a link's life, however many descriptions it goes through.
pub const MAX_LINK_CANDIDATES: u32 = 256;

/// How a call begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Enter a room by code.
    Room,
    /// Ring a contact first; the call happens in the room it accepts.
    Ring,
}

/// A link's transport, as the peer connection reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// ICE and DTLS are up.
    Connected,
    /// The path broke (ICE disconnected).
    Interrupted,
    /// ICE failed.
    Failed,
}

/// What happened. Every input comes with the time it happened (see [`CallMachine::handle_input`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The signaling connection is up: the first time, the call begins; later, it came back.
    /// `relay_possible`: a TURN server is at hand (for the relay start-over).
    SignalingUp {
        reconnected: bool,
        relay_possible: bool,
    },
    /// The signaling server could not be reached (ends the call only before it began: later losses are
    /// retried by the client).
    SignalingUnreachable,
    RingAccepted,
    RingDeclined,
    RingMissed,
    RingUnavailable,
    /// We are in the room; `peers` were there before us. `capacity`: how many people the room holds.
    Joined {
        peers: Vec<PeerId>,
        capacity: usize,
    },
    JoinRefused(EndReason),
    /// Someone entered the room; `replaces`: the connection it took over (a participant back after a
    /// network change).
    PeerJoined {
        peer: PeerId,
        replaces: Option<PeerId>,
    },
    PeerLeft(PeerId),
    /// A participant's negotiation message.
    Signal {
        from: PeerId,
        signal: PeerSignal,
    },
    /// The offer asked for by [`Output::CreateOffer`] is made and applied locally.
    LocalOffer {
        peer: PeerId,
        sdp: String,
    },
    /// The answer to an [`Output::AcceptOffer`] is made and applied.
    LocalAnswer {
        peer: PeerId,
        sdp: String,
    },
    /// The answer of an [`Output::ApplyAnswer`] is applied.
    AnswerApplied {
        peer: PeerId,
    },
    /// A local ICE candidate of a link, for the other side.
    LocalCandidate {
        peer: PeerId,
        candidate: RTCIceCandidateInit,
    },
    Transport {
        peer: PeerId,
        state: Transport,
    },
    /// How many audio and video frames have been decoded from this participant so far.
    MediaDecoded {
        peer: PeerId,
        frames: u64,
    },
    /// The participant said goodbye on the data channel.
    RemoteBye(PeerId),
    /// Our tracks changed (a share started or stopped): the link to `peer` (`None`: every link) needs a
    /// new offer and answer.
    TracksChanged {
        peer: Option<PeerId>,
    },
    /// The participant's tracks changed and it asks us, the offerer, for a new offer with `receive_video`
    /// more video sections to receive on (on the control channel: an answerer cannot add sections).
    OfferWanted {
        peer: PeerId,
        receive_video: u8,
    },
    /// Something the driver did for a link failed (building its connection, making an offer).
    LinkError {
        peer: PeerId,
        error: String,
    },
    HangUp,
    /// A local failure: the call ends.
    Fail(String),
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Ring the contact.
    Ring,
    /// Cancel our ring.
    CancelRing,
    JoinRoom,
    LeaveRoom,
    /// Build a peer connection to this participant.
    OpenLink {
        peer: PeerId,
        relay_only: bool,
    },
    /// Close it, saying goodbye first if asked.
    CloseLink {
        peer: PeerId,
        say_bye: bool,
    },
    /// The participant known as `old` is back on a new signaling connection, `new`: the same link, now
    /// named by the new id.
    Rebind {
        old: PeerId,
        new: PeerId,
    },
    /// Make an offer (an ICE restart if `restart`) with `receive_video` more video sections to receive on,
    /// apply it, and report it as [`Input::LocalOffer`].
    CreateOffer {
        peer: PeerId,
        restart: bool,
        receive_video: u8,
    },
    /// Ask the participant (the link's offerer) for a new offer: our tracks changed.
    AskForOffer {
        peer: PeerId,
    },
    /// Apply the participant's offer, answer it, and report the answer as [`Input::LocalAnswer`].
    AcceptOffer {
        peer: PeerId,
        sdp: String,
    },
    /// Apply the participant's answer; report [`Input::AnswerApplied`] if it took.
    ApplyAnswer {
        peer: PeerId,
        sdp: String,
    },
    AddCandidate {
        peer: PeerId,
        candidate: RTCIceCandidateInit,
    },
    /// Send a negotiation message through the signaling server.
    Signal {
        to: PeerId,
        signal: PeerSignal,
    },
    /// An offer and its answer are both applied on this link (the first time, or a renegotiation): tracks
    /// added since can be sent on.
    Negotiated {
        peer: PeerId,
    },
    /// Negotiated and connected: start sending media on this link.
    StartMedia {
        peer: PeerId,
    },
    /// The sending encoders should make a keyframe (a link came back: its decoder may have lost the thread).
    RequestKeyframe,
    /// Check that the signaling connection still answers (it may have died with a network change).
    ProbeSignaling,
    /// Someone is in the call with us (their link opened).
    ParticipantJoined {
        peer: PeerId,
    },
    /// Someone left a group call, which goes on.
    ParticipantLeft {
        peer: PeerId,
        reason: EndReason,
    },
    /// The call's state changed.
    State(CallState),
    /// Something the user should know that does not end the call.
    Notice(String),
}

/// Who made the offer on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Offerer,
    Answerer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkState {
    Connecting,
    Connected,
    Reconnecting,
}

/// One participant and our connection to them.
#[derive(Debug)]
struct Link {
    role: Role,
    state: LinkState,
    /// This link's connection is relay-only.
    relay_only: bool,
    /// We started this link over relay-only (its offers say so).
    started_over: bool,
    /// Our offer that no answer has come for yet (re-sent while reconnecting), and whether it restarts ICE.
    unanswered: Option<(String, bool)>,
    /// An offer has been made on this link (the relay start-over counts from the first).
    offered: bool,
    /// The offer asked for and not made yet restarts ICE.
    making_restart: Option<bool>,
    /// Offer again once the pending offer is answered (a renegotiation asked for meanwhile), with this many
    /// more video sections to receive on.
    reoffer: Option<u8>,
    /// Ask the offerer for a new offer once this side's answer is made.
    ask_for_offer: bool,
    /// Offer and answer are both applied.
    negotiated: bool,
    media_started: bool,
    /// The other side's answers say it follows a relay-only start-over.
    follows_relay: bool,
    /// Connecting must be done by then.
    connect_by: Option<Instant>,
    reconnect_by: Option<Instant>,
    resend_at: Option<Instant>,
    fall_back_at: Option<Instant>,
    /// Decoded frames at the last look, when that count last moved, and whether this spell was probed.
    media: (u64, Instant, bool),
    /// Remote candidates taken since the last offer or answer from the other side, and in all.
    remote_candidates: u32,
    total_candidates: u32,
    refused_candidates: u32,
}

impl Link {
    fn new(role: Role, relay_only: bool, now: Instant) -> Link {
        Link {
            role,
            state: LinkState::Connecting,
            relay_only,
            started_over: false,
            unanswered: None,
            offered: false,
            making_restart: None,
            reoffer: None,
            ask_for_offer: false,
            negotiated: false,
            media_started: false,
            follows_relay: false,
            connect_by: Some(now + CONNECT_TIMEOUT),
            reconnect_by: None,
            resend_at: None,
            fall_back_at: None,
            media: (0, now, false),
            remote_candidates: 0,
            total_candidates: 0,
            refused_candidates: 0,
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        [self.connect_by, self.reconnect_by, self.resend_at, self.fall_back_at].into_iter().flatten().min()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Ringing,
    Joining,
    InRoom,
    Ended(EndReason),
}

/// Settings of the core (the driver's `CallConfig` carries them).
#[derive(Clone, Debug)]
pub struct MachineSettings {
    /// After a link's path breaks, how long to try to restore it before giving it up.
    pub reconnect_timeout: Duration,
    /// Every connection relay-only from the start.
    pub relay_only: bool,
}

/// The call's decisions. See the module documentation.
#[derive(Debug)]
pub struct CallMachine {
    start: Start,
    settings: MachineSettings,
    phase: Phase,
    /// Whether the call has begun (the first signaling connection came up).
    begun: bool,
    relay_possible: bool,
    /// More than two people fit in the room: links come and go without ending the call.
    group: bool,
    links: BTreeMap<PeerId, Link>,
    reported: CallState,
    outputs: VecDeque<Output>,
}

impl CallMachine {
    pub fn new(start: Start, settings: MachineSettings) -> CallMachine {
        CallMachine {
            start,
            settings,
            phase: Phase::Idle,
            begun: false,
            relay_possible: false,
            group: false,
            links: BTreeMap::new(),
            reported: CallState::Idle,
            outputs: VecDeque::new(),
        }
    }

    /// The call's state as the front end sees it.
    pub fn state(&self) -> &CallState {
        &self.reported
    }

    /// Whether this is a group call (a room for more than two): people come and go, and more can be rung in.
    pub fn is_group(&self) -> bool {
        self.group
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended(_))
    }

    /// The participants we have a link with.
    pub fn participants(&self) -> impl Iterator<Item = &PeerId> {
        self.links.keys()
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the core wants [`CallMachine::handle_timeout`] called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.links.values().filter_map(Link::next_timeout).min()
    }

    fn out(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    /// Ask the driver for an offer on this link.
    fn create_offer(&mut self, peer: &PeerId, restart: bool, receive_video: u8) {
        if let Some(link) = self.links.get_mut(peer) {
            link.making_restart = Some(restart);
        }
        self.out(Output::CreateOffer { peer: peer.clone(), restart, receive_video });
    }

    /// This link must negotiate again (our tracks or theirs changed). Offers never cross: the offerer
    /// offers (after the pending answer, if any); the answerer asks it to.
    fn renegotiate(&mut self, peer: &PeerId, receive_video: u8) {
        let Some(link) = self.links.get_mut(peer) else { return };
        match link.role {
            Role::Offerer if link.unanswered.is_some() || link.making_restart.is_some() || !link.offered => {
                link.reoffer = Some(link.reoffer.unwrap_or(0).max(receive_video));
            }
            Role::Offerer => self.create_offer(peer, false, receive_video),
            Role::Answerer if !link.negotiated => link.ask_for_offer = true,
            Role::Answerer => self.out(Output::AskForOffer { peer: peer.clone() }),
        }
    }

    /// Time passed: run what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_ended() {
            return;
        }
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        let peers: Vec<PeerId> = self.links.keys().cloned().collect();
        for peer in peers {
            let Some(link) = self.links.get_mut(&peer) else { continue };
            if due(link.connect_by) {
                link.connect_by = None;
                tracing::info!(%peer, "not connected within {CONNECT_TIMEOUT:?}");
                self.link_lost(&peer, EndReason::ConnectionFailed);
                continue;
            }
            if due(link.reconnect_by) {
                link.reconnect_by = None;
                tracing::info!(%peer, "the path did not come back in time");
                self.link_lost(&peer, EndReason::PeerVanished);
                continue;
            }
            if due(link.resend_at) {
                link.resend_at = None;
                self.resend_restart(&peer, now);
            }
            let Some(link) = self.links.get_mut(&peer) else { continue };
            if due(link.fall_back_at) {
                link.fall_back_at = None;
                self.fall_back_to_relay(&peer, now);
            }
        }
        self.report();
    }

    /// Something happened at `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        if self.is_ended() {
            return;
        }
        if !matches!(input, Input::MediaDecoded { .. }) {
            tracing::debug!(?input, phase = ?self.phase, "call input");
        }
        match input {
            Input::SignalingUp { reconnected, relay_possible } => {
                self.relay_possible = relay_possible;
                if !self.begun {
                    self.begun = true;
                    match self.start {
                        Start::Room => self.join(),
                        Start::Ring => {
                            self.phase = Phase::Ringing;
                            self.out(Output::Ring);
                        }
                    }
                } else if reconnected {
                    // The restart offers (and renegotiations) sent while we were away may have gone nowhere.
                    let peers: Vec<PeerId> = self.links.keys().cloned().collect();
                    for peer in peers {
                        self.resend_restart(&peer, now);
                        self.resend_renegotiation(&peer);
                    }
                }
            }
            Input::SignalingUnreachable if !self.begun => self.end(EndReason::ServerUnreachable),
            Input::SignalingUnreachable => {}
            Input::RingAccepted if self.phase == Phase::Ringing => self.join(),
            Input::RingDeclined if self.phase == Phase::Ringing => self.end(EndReason::Declined),
            Input::RingMissed if self.phase == Phase::Ringing => self.end(EndReason::Missed),
            Input::RingUnavailable if self.phase == Phase::Ringing => self.end(EndReason::Unavailable),
            Input::RingAccepted | Input::RingDeclined | Input::RingMissed | Input::RingUnavailable => {}
            Input::Joined { peers, capacity } => self.joined(peers, capacity, now),
            Input::JoinRefused(reason) if self.phase == Phase::Joining => self.end(reason),
            Input::JoinRefused(_) => {}
            Input::PeerJoined { peer, replaces } => self.peer_joined(peer, replaces, now),
            Input::PeerLeft(peer) => {
                // Once a link is up, media is peer-to-peer and the room no longer matters (the server may
                // even be gone): goodbye or ICE decide. Before, leaving ends the attempt.
                if self.links.get(&peer).is_some_and(|l| l.state == LinkState::Connecting) {
                    self.link_lost(&peer, EndReason::RemoteHungUp);
                }
            }
            Input::Signal { from, signal } => self.signal(from, signal, now),
            Input::LocalOffer { peer, sdp } => self.local_offer(peer, sdp, now),
            Input::LocalAnswer { peer, sdp } => {
                if let Some(link) = self.links.get_mut(&peer) {
                    link.negotiated = true;
                    let ask = std::mem::take(&mut link.ask_for_offer);
                    // Tells the offerer this side follows a relay-only start-over (a browser would not).
                    let signal = PeerSignal::Answer { sdp, follows_relay: true };
                    self.out(Output::Signal { to: peer.clone(), signal });
                    self.out(Output::Negotiated { peer: peer.clone() });
                    self.maybe_start_media(&peer);
                    if ask {
                        self.out(Output::AskForOffer { peer: peer.clone() });
                    }
                }
            }
            Input::AnswerApplied { peer } => {
                if let Some(link) = self.links.get_mut(&peer) {
                    link.unanswered = None;
                    link.resend_at = None;
                    link.negotiated = true;
                    let reoffer = link.reoffer.take();
                    self.out(Output::Negotiated { peer: peer.clone() });
                    self.maybe_start_media(&peer);
                    if let Some(receive_video) = reoffer {
                        self.create_offer(&peer, false, receive_video);
                    }
                }
            }
            Input::TracksChanged { peer } => {
                let peers: Vec<PeerId> = match peer {
                    Some(peer) => vec![peer],
                    None => self.links.keys().cloned().collect(),
                };
                for peer in peers {
                    self.renegotiate(&peer, 0);
                }
            }
            Input::OfferWanted { peer, receive_video } => {
                // Their tracks are theirs to change, but not our connection's size: a few sections at most.
                if self.links.get(&peer).is_some_and(|l| l.role == Role::Offerer) {
                    self.renegotiate(&peer, receive_video.min(MAX_RECEIVE_VIDEO));
                }
            }
            Input::LocalCandidate { peer, candidate } => {
                if self.links.contains_key(&peer) {
                    self.out(Output::Signal { to: peer, signal: PeerSignal::Candidate(candidate) });
                }
            }
            Input::Transport { peer, state } => self.transport(peer, state, now),
            Input::MediaDecoded { peer, frames } => {
                let Some(link) = self.links.get_mut(&peer) else { return };
                let live = link.state == LinkState::Connected && link.media_started;
                let (count, since, probed) = &mut link.media;
                if !live || frames != *count {
                    link.media = (frames, now, false);
                } else if !*probed && now.duration_since(*since) >= MEDIA_SILENCE {
                    *probed = true;
                    tracing::debug!(%peer, "no media for {MEDIA_SILENCE:?}: checking the signaling connection");
                    self.out(Output::ProbeSignaling);
                }
            }
            Input::RemoteBye(peer) => {
                if self.links.contains_key(&peer) {
                    self.link_lost(&peer, EndReason::RemoteHungUp);
                }
            }
            Input::LinkError { peer, error } => {
                tracing::warn!(%peer, "link failed: {error}");
                if self.links.contains_key(&peer) {
                    self.link_lost(&peer, EndReason::Failed(error));
                }
            }
            Input::HangUp => match self.phase {
                Phase::Ringing => {
                    self.out(Output::CancelRing);
                    self.end(EndReason::HungUp);
                }
                _ => self.end(EndReason::HungUp),
            },
            Input::Fail(why) => self.end(EndReason::Failed(why)),
        }
        self.report();
    }

    fn join(&mut self) {
        self.phase = Phase::Joining;
        self.out(Output::JoinRoom);
    }

    fn open_link(&mut self, peer: &PeerId, role: Role, now: Instant) {
        self.out(Output::ParticipantJoined { peer: peer.clone() });
        self.reopen_link(peer, role, now);
    }

    /// A (new) connection to someone already announced.
    fn reopen_link(&mut self, peer: &PeerId, role: Role, now: Instant) {
        let relay_only = self.settings.relay_only;
        self.links.insert(peer.clone(), Link::new(role, relay_only, now));
        self.out(Output::OpenLink { peer: peer.clone(), relay_only });
        if role == Role::Offerer {
            self.create_offer(peer, false, 0);
        }
    }

    fn joined(&mut self, peers: Vec<PeerId>, capacity: usize, now: Instant) {
        match self.phase {
            Phase::Joining => {
                self.phase = Phase::InRoom;
                self.group = capacity > 2;
                // The newcomer offers to everyone already there.
                for peer in peers {
                    if !self.links.contains_key(&peer) {
                        self.open_link(&peer, Role::Offerer, now);
                    }
                }
            }
            // Back in the room after the signaling connection came back. In a room for two, whoever is
            // there is the one we are in a call with, on a connection of theirs we may not know yet.
            Phase::InRoom if !self.group => {
                if let ([peer], 1) = (peers.as_slice(), self.links.len()) {
                    let old = self.links.keys().next().cloned();
                    if let Some(old) = old.filter(|old| old != peer) {
                        self.rebind(&old, peer);
                    }
                }
            }
            // In a group, we are the newcomer to everyone now: someone who came while we were away offered to
            // our old connection, and whoever had not finished connecting with us dropped that link when our
            // old connection left. Both get a fresh offer. Links that were negotiated go on (ICE restarts
            // repair them; the others hear that we are back through `replaces`).
            Phase::InRoom => {
                for peer in peers {
                    let negotiated = self.links.get(&peer).is_some_and(|l| l.negotiated);
                    if negotiated {
                        continue;
                    }
                    if self.links.remove(&peer).is_some() {
                        self.out(Output::CloseLink { peer: peer.clone(), say_bye: false });
                        self.reopen_link(&peer, Role::Offerer, now);
                    } else {
                        self.open_link(&peer, Role::Offerer, now);
                    }
                }
            }
            _ => {}
        }
    }

    fn peer_joined(&mut self, peer: PeerId, replaces: Option<PeerId>, now: Instant) {
        if self.phase != Phase::InRoom {
            return;
        }
        // A participant back on a new connection: the same link, reached through the new one. In a room for
        // two, the newcomer can only be the one we are in a call with.
        let old = replaces
            .filter(|old| self.links.contains_key(old))
            .or_else(|| (!self.group && self.links.len() == 1).then(|| self.links.keys().next().cloned()).flatten());
        if let Some(old) = old {
            if old != peer {
                self.rebind(&old, &peer);
            }
            self.resend_restart(&peer, now);
            return;
        }
        if !self.links.contains_key(&peer) {
            // They offer (they are the newcomer).
            self.open_link(&peer, Role::Answerer, now);
        }
    }

    fn rebind(&mut self, old: &PeerId, new: &PeerId) {
        if let Some(link) = self.links.remove(old) {
            tracing::debug!(%old, %new, "participant reached through a new connection");
            self.links.insert(new.clone(), link);
            self.out(Output::Rebind { old: old.clone(), new: new.clone() });
        }
    }

    fn signal(&mut self, from: PeerId, signal: PeerSignal, now: Instant) {
        match signal {
            PeerSignal::Offer { sdp, restart: _, relay_only } => {
                if self.phase != Phase::InRoom && self.phase != Phase::Joining {
                    return;
                }
                if !self.links.contains_key(&from) {
                    // The offer overtook the arrival notice: they are the newcomer. (While we are still joining,
                    // the room's size comes with `joined`.)
                    self.open_link(&from, Role::Answerer, now);
                }
                let Some(link) = self.links.get_mut(&from) else { return };
                if link.role == Role::Offerer && link.unanswered.is_some() {
                    // Both offered (the rule makes this a peer's mistake): ours stands.
                    tracing::warn!(peer = %from, "an offer crossed ours: ignored");
                    return;
                }
                // Not once media flows: the sources and sinks went to the connection that carries it.
                if relay_only && !link.relay_only && !link.media_started {
                    tracing::info!(peer = %from, "the other side starts over relay-only");
                    self.out(Output::CloseLink { peer: from.clone(), say_bye: false });
                    self.links.insert(from.clone(), Link::new(Role::Answerer, true, now));
                    self.out(Output::OpenLink { peer: from.clone(), relay_only: true });
                }
                if let Some(link) = self.links.get_mut(&from) {
                    link.remote_candidates = 0;
                }
                self.out(Output::AcceptOffer { peer: from, sdp });
            }
            PeerSignal::Answer { sdp, follows_relay } => {
                let Some(link) = self.links.get_mut(&from) else { return };
                if link.unanswered.is_none() {
                    tracing::debug!(peer = %from, "an answer to an offer already answered (it was sent twice): ignored");
                    return;
                }
                link.follows_relay |= follows_relay;
                link.remote_candidates = 0;
                self.out(Output::ApplyAnswer { peer: from, sdp });
            }
            PeerSignal::Candidate(candidate) => {
                let Some(link) = self.links.get_mut(&from) else { return };
                if link.remote_candidates >= MAX_REMOTE_CANDIDATES || link.total_candidates >= MAX_LINK_CANDIDATES {
                    link.refused_candidates += 1;
                    if link.refused_candidates == 1 {
                        tracing::warn!(peer = %from, "too many candidates: the rest are ignored");
                    }
                    return;
                }
                link.remote_candidates += 1;
                link.total_candidates += 1;
                self.out(Output::AddCandidate { peer: from, candidate });
            }
            PeerSignal::EndOfCandidates => {}
        }
    }

    fn local_offer(&mut self, peer: PeerId, sdp: String, now: Instant) {
        let relay_possible = self.relay_possible;
        let Some(link) = self.links.get_mut(&peer) else { return };
        let restart = link.making_restart.take().unwrap_or(link.offered && link.state != LinkState::Connecting);
        if !link.offered && relay_possible && !link.relay_only {
            link.fall_back_at = Some(now + RELAY_FALLBACK_AFTER);
        }
        link.offered = true;
        link.unanswered = Some((sdp.clone(), restart));
        if restart {
            link.resend_at = Some(now + RESTART_RESEND);
        }
        let relay_only = link.started_over;
        self.out(Output::Signal { to: peer, signal: PeerSignal::Offer { sdp, restart, relay_only } });
    }

    fn transport(&mut self, peer: PeerId, state: Transport, now: Instant) {
        let timeout = self.settings.reconnect_timeout;
        let Some(link) = self.links.get_mut(&peer) else { return };
        match (link.state, state) {
            (LinkState::Connecting | LinkState::Reconnecting, Transport::Connected) => {
                let was_reconnecting = link.state == LinkState::Reconnecting;
                link.state = LinkState::Connected;
                link.connect_by = None;
                link.reconnect_by = None;
                link.resend_at = None;
                link.fall_back_at = None;
                link.media = (link.media.0, now, false);
                self.maybe_start_media(&peer);
                if was_reconnecting {
                    // The peer's decoder may have lost its reference: start afresh.
                    self.out(Output::RequestKeyframe);
                }
            }
            (LinkState::Connected, Transport::Interrupted) => {
                link.state = LinkState::Reconnecting;
                link.reconnect_by = Some(now + timeout);
                let offerer = link.role == Role::Offerer;
                // The network may have changed under the signaling connection too: check it now, so that
                // the restart's offer and answer have a way through.
                self.out(Output::ProbeSignaling);
                if offerer {
                    // Only the offerer restarts ICE; the answerer follows the new offer.
                    self.create_offer(&peer, true, 0);
                }
            }
            (LinkState::Connecting, Transport::Failed) => self.link_lost(&peer, EndReason::ConnectionFailed),
            (_, Transport::Failed) => self.link_lost(&peer, EndReason::PeerVanished),
            _ => {}
        }
    }

    fn maybe_start_media(&mut self, peer: &PeerId) {
        let Some(link) = self.links.get_mut(peer) else { return };
        if link.negotiated && link.state == LinkState::Connected && !link.media_started {
            link.media_started = true;
            self.out(Output::StartMedia { peer: peer.clone() });
            // A keyframe for the newcomer (in a group the encoder already runs for the others).
            self.out(Output::RequestKeyframe);
        }
    }

    /// Send the unanswered ICE-restart offer again (while reconnecting), and keep doing so.
    fn resend_restart(&mut self, peer: &PeerId, now: Instant) {
        let Some(link) = self.links.get_mut(peer) else { return };
        if link.state != LinkState::Reconnecting {
            return;
        }
        let Some((sdp, true)) = link.unanswered.clone() else { return };
        link.resend_at = Some(now + RESTART_RESEND);
        tracing::debug!(%peer, "re-sending the ICE restart offer");
        let signal = PeerSignal::Offer { sdp, restart: true, relay_only: link.started_over };
        self.out(Output::Signal { to: peer.clone(), signal });
    }

    /// Send an unanswered renegotiation offer again (the signaling connection came back): every later one
    /// waits for its answer.
    fn resend_renegotiation(&mut self, peer: &PeerId) {
        let Some(link) = self.links.get(peer) else { return };
        let Some((sdp, false)) = link.unanswered.clone() else { return };
        if !link.negotiated {
            return;
        }
        tracing::debug!(%peer, "re-sending the renegotiation offer");
        let signal = PeerSignal::Offer { sdp, restart: false, relay_only: link.started_over };
        self.out(Output::Signal { to: peer.clone(), signal });
    }

    /// Start over relay-only (see [`RELAY_FALLBACK_AFTER`]): a new connection and a marked offer.
    fn fall_back_to_relay(&mut self, peer: &PeerId, now: Instant) {
        let Some(link) = self.links.get(peer) else { return };
        if link.state != LinkState::Connecting || link.role != Role::Offerer || link.relay_only {
            return;
        }
        if !link.follows_relay {
            tracing::info!(%peer, "not connected after {RELAY_FALLBACK_AFTER:?}, and the other side cannot start over");
            return;
        }
        tracing::info!(%peer, "not connected after {RELAY_FALLBACK_AFTER:?}: starting over relay-only");
        self.out(Output::Notice("no direct path yet: trying through the relay server".into()));
        self.out(Output::CloseLink { peer: peer.clone(), say_bye: false });
        let mut link = Link::new(Role::Offerer, true, now);
        link.follows_relay = true;
        link.started_over = true;
        self.links.insert(peer.clone(), link);
        self.out(Output::OpenLink { peer: peer.clone(), relay_only: true });
        self.create_offer(peer, false, 0);
    }

    /// A link is over: in a room for two that is the call, with `reason`; in a group, that participant.
    fn link_lost(&mut self, peer: &PeerId, reason: EndReason) {
        if !self.group {
            self.end(reason);
            return;
        }
        if self.links.remove(peer).is_some() {
            self.out(Output::CloseLink { peer: peer.clone(), say_bye: false });
            self.out(Output::ParticipantLeft { peer: peer.clone(), reason });
        }
    }

    fn end(&mut self, reason: EndReason) {
        // Goodbye on every link when we end it (hang up or fail); a link that ended us is past listening.
        let say_bye = matches!(reason, EndReason::HungUp | EndReason::Failed(_));
        for peer in std::mem::take(&mut self.links).into_keys() {
            self.out(Output::CloseLink { peer, say_bye });
        }
        if matches!(self.phase, Phase::Joining | Phase::InRoom) {
            self.out(Output::LeaveRoom);
        }
        self.phase = Phase::Ended(reason);
    }

    /// Report the state if it changed.
    fn report(&mut self) {
        let state = match &self.phase {
            Phase::Idle => CallState::Idle,
            Phase::Ringing => CallState::Ringing,
            Phase::Joining => CallState::Joining,
            Phase::Ended(reason) => CallState::Ended(reason.clone()),
            Phase::InRoom => {
                let states: Vec<LinkState> = self.links.values().map(|l| l.state).collect();
                if states.is_empty() {
                    CallState::Waiting
                } else if states.contains(&LinkState::Connected) {
                    CallState::Connected
                } else if states.contains(&LinkState::Reconnecting) {
                    CallState::Reconnecting
                } else {
                    CallState::Connecting
                }
            }
        };
        if state != self.reported {
            self.reported = state.clone();
            self.out(Output::State(state));
        }
    }
}

#[cfg(test)]
mod tests;
