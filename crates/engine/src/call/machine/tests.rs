//! Scenarios of the call core with fake time and no sockets: several cores in one process, a fake room
//! that relays their signals in order, and fake peer connections that answer at once.

use std::collections::{BTreeMap, VecDeque};

use super::*;

const SETTINGS: MachineSettings = MachineSettings { reconnect_timeout: Duration::from_secs(10), relay_only: false };

fn id(name: &str) -> PeerId {
    PeerId::from(name.to_owned())
}

/// One participant: its core and what its fake peer connections did.
struct Node {
    core: CallMachine,
    /// Per link: the offers made (restarts included) and the descriptions applied.
    offers_made: BTreeMap<PeerId, u32>,
    applied: Vec<(PeerId, String)>,
    open: BTreeMap<PeerId, bool>,
    media: Vec<PeerId>,
    said: Vec<Output>,
}

/// A fake room: joins in order, signals relayed in the order sent.
struct Net {
    now: Instant,
    nodes: BTreeMap<PeerId, Node>,
    room: Vec<PeerId>,
    capacity: usize,
    /// Inputs on their way, in order.
    wire: VecDeque<(PeerId, Input)>,
}

impl Net {
    fn new(capacity: usize) -> Net {
        Net { now: Instant::now(), nodes: BTreeMap::new(), room: Vec::new(), capacity, wire: VecDeque::new() }
    }

    fn add(&mut self, name: &str) -> PeerId {
        let me = id(name);
        let node = Node {
            core: CallMachine::new(Start::Room, SETTINGS),
            offers_made: BTreeMap::new(),
            applied: Vec::new(),
            open: BTreeMap::new(),
            media: Vec::new(),
            said: Vec::new(),
        };
        self.nodes.insert(me.clone(), node);
        self.wire.push_back((me.clone(), Input::SignalingUp { reconnected: false, relay_possible: false }));
        me
    }

    /// People arriving one after another, each in the room before the next comes.
    fn arrive<const N: usize>(&mut self, names: [&str; N]) -> [PeerId; N] {
        names.map(|name| {
            let who = self.add(name);
            self.settle();
            who
        })
    }

    fn node(&self, who: &PeerId) -> &Node {
        &self.nodes[who]
    }

    fn state(&self, who: &PeerId) -> CallState {
        self.node(who).core.state().clone()
    }

    /// Deliver everything on the wire (and what it causes) until nothing moves.
    fn settle(&mut self) {
        while let Some((to, input)) = self.wire.pop_front() {
            let now = self.now;
            let Some(node) = self.nodes.get_mut(&to) else { continue };
            node.core.handle_input(now, input);
            self.perform(&to);
        }
    }

    fn perform(&mut self, me: &PeerId) {
        while let Some(output) = self.nodes.get_mut(me).and_then(|n| n.core.poll_output()) {
            let node = self.nodes.get_mut(me).unwrap();
            node.said.push(output.clone());
            match output {
                Output::JoinRoom => {
                    let peers = self.room.clone();
                    self.room.push(me.clone());
                    self.wire.push_back((me.clone(), Input::Joined { peers: peers.clone(), capacity: self.capacity }));
                    for p in peers {
                        self.wire.push_back((p, Input::PeerJoined { peer: me.clone(), replaces: None }));
                    }
                }
                Output::LeaveRoom => {
                    self.room.retain(|p| p != me);
                    for p in self.room.clone() {
                        self.wire.push_back((p, Input::PeerLeft(me.clone())));
                    }
                }
                Output::OpenLink { peer, .. } => {
                    node.open.insert(peer, true);
                }
                Output::CloseLink { peer, say_bye } => {
                    node.open.remove(&peer);
                    if say_bye {
                        self.wire.push_back((peer, Input::RemoteBye(me.clone())));
                    }
                }
                Output::CreateOffer { peer, .. } => {
                    let n = node.offers_made.entry(peer.clone()).or_default();
                    *n += 1;
                    let sdp = format!("offer {me}->{peer} #{n}");
                    self.wire.push_front((me.clone(), Input::LocalOffer { peer, sdp }));
                }
                Output::AcceptOffer { peer, sdp } => {
                    node.applied.push((peer.clone(), sdp.clone()));
                    let answer = sdp.replace("offer", "answer");
                    self.wire.push_front((me.clone(), Input::LocalAnswer { peer, sdp: answer }));
                }
                Output::ApplyAnswer { peer, sdp } => {
                    node.applied.push((peer.clone(), sdp));
                    self.wire.push_front((me.clone(), Input::AnswerApplied { peer }));
                }
                Output::Signal { to, signal } => {
                    self.wire.push_back((to, Input::Signal { from: me.clone(), signal }));
                }
                Output::StartMedia { peer } => node.media.push(peer),
                // Over the control channel, in order with the signals.
                Output::AskForOffer { peer } => {
                    self.wire.push_back((peer, Input::OfferWanted { peer: me.clone(), receive_video: 1 }));
                }
                _ => {}
            }
        }
    }

    /// The path between two participants comes up (both sides hear of it).
    fn connect(&mut self, a: &PeerId, b: &PeerId) {
        self.wire.push_back((a.clone(), Input::Transport { peer: b.clone(), state: Transport::Connected }));
        self.wire.push_back((b.clone(), Input::Transport { peer: a.clone(), state: Transport::Connected }));
        self.settle();
    }

    fn input(&mut self, to: &PeerId, input: Input) {
        self.wire.push_back((to.clone(), input));
        self.settle();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        let names: Vec<PeerId> = self.nodes.keys().cloned().collect();
        for n in names {
            let node = self.nodes.get_mut(&n).unwrap();
            if node.core.poll_timeout().is_some_and(|t| t <= now) {
                node.core.handle_timeout(now);
                self.perform(&n);
            }
        }
        self.settle();
    }

    fn offers_to(&self, who: &PeerId) -> Vec<(PeerId, String)> {
        self.node(who).applied.iter().filter(|(_, sdp)| sdp.starts_with("offer")).cloned().collect()
    }
}

/// A machine that entered a room where `peer` was (capacity `capacity`), offered and had its answer applied;
/// what it said on the way is drained.
fn negotiated_offerer(
    now: Instant,
    peer: &PeerId,
    capacity: usize,
    relay_possible: bool,
    follows: bool,
) -> CallMachine {
    let mut core = CallMachine::new(Start::Room, SETTINGS);
    core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible });
    core.handle_input(now, Input::Joined { peers: vec![peer.clone()], capacity });
    core.handle_input(now, Input::LocalOffer { peer: peer.clone(), sdp: "o1".into() });
    let answer = PeerSignal::Answer { sdp: "a1".into(), follows_relay: follows };
    core.handle_input(now, Input::Signal { from: peer.clone(), signal: answer });
    core.handle_input(now, Input::AnswerApplied { peer: peer.clone() });
    std::iter::from_fn(|| core.poll_output()).for_each(drop);
    core
}

#[test]
fn two_people_the_second_offers_and_media_starts_once_connected() {
    let mut net = Net::new(2);
    let a = net.add("a");
    net.settle();
    assert_eq!(net.state(&a), CallState::Waiting);
    let b = net.add("b");
    net.settle();
    assert_eq!((net.state(&a), net.state(&b)), (CallState::Connecting, CallState::Connecting));
    assert_eq!(net.offers_to(&a), vec![(b.clone(), "offer b->a #1".into())], "the newcomer offers");
    assert!(net.offers_to(&b).is_empty());
    assert!(net.node(&a).media.is_empty(), "no media before the path is up");
    net.connect(&a, &b);
    assert_eq!((net.state(&a), net.state(&b)), (CallState::Connected, CallState::Connected));
    assert_eq!((net.node(&a).media.clone(), net.node(&b).media.clone()), (vec![b.clone()], vec![a.clone()]));

    net.input(&a, Input::HangUp);
    assert_eq!(net.state(&a), CallState::Ended(EndReason::HungUp));
    assert_eq!(net.state(&b), CallState::Ended(EndReason::RemoteHungUp), "the goodbye ends it for the other");
    assert!(net.node(&a).open.is_empty() && net.node(&b).open.is_empty(), "every link closed");
}

#[test]
fn an_offer_that_overtakes_the_arrival_notice_is_answered() {
    let now = Instant::now();
    let mut core = CallMachine::new(Start::Room, SETTINGS);
    core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible: false });
    core.handle_input(now, Input::Joined { peers: vec![], capacity: 2 });
    let b = id("b");
    core.handle_input(
        now,
        Input::Signal {
            from: b.clone(),
            signal: PeerSignal::Offer { sdp: "o".into(), restart: false, relay_only: false },
        },
    );
    core.handle_input(now, Input::PeerJoined { peer: b.clone(), replaces: None });
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    let opened = outputs.iter().filter(|o| matches!(o, Output::OpenLink { .. })).count();
    assert_eq!(opened, 1, "one link, however the news arrive: {outputs:?}");
    assert!(outputs.contains(&Output::AcceptOffer { peer: b.clone(), sdp: "o".into() }));
    assert!(!outputs.iter().any(|o| matches!(o, Output::CreateOffer { .. })), "the one already there never offers");
    assert_eq!(core.state(), &CallState::Connecting);
}

#[test]
fn an_unanswered_restart_offer_is_sent_again_until_answered_once() {
    let now = Instant::now();
    let a = id("a");
    let mut core = negotiated_offerer(now, &a, 2, false, true);
    core.handle_input(now, Input::Transport { peer: a.clone(), state: Transport::Connected });
    std::iter::from_fn(|| core.poll_output()).for_each(drop);

    core.handle_input(now, Input::Transport { peer: a.clone(), state: Transport::Interrupted });
    assert!(
        std::iter::from_fn(|| core.poll_output())
            .any(|o| o == Output::CreateOffer { peer: a.clone(), restart: true, receive_video: 0 })
    );
    core.handle_input(now, Input::LocalOffer { peer: a.clone(), sdp: "o2".into() });
    let offers = |core: &mut CallMachine| {
        std::iter::from_fn(|| core.poll_output())
            .filter(|o| matches!(o, Output::Signal { signal: PeerSignal::Offer { restart: true, sdp, .. }, .. } if sdp == "o2"))
            .count()
    };
    assert_eq!(offers(&mut core), 1);
    let mut t = now;
    for _ in 0..3 {
        t += RESTART_RESEND;
        assert_eq!(core.poll_timeout(), Some(t));
        core.handle_timeout(t);
        assert_eq!(offers(&mut core), 1, "re-sent every {RESTART_RESEND:?}");
    }
    // The signaling connection came back: at once.
    core.handle_input(t, Input::SignalingUp { reconnected: true, relay_possible: false });
    assert_eq!(offers(&mut core), 1);
    // Two answers to the repeated offer: the first is applied, the second ignored.
    let answer = PeerSignal::Answer { sdp: "a2".into(), follows_relay: true };
    core.handle_input(t, Input::Signal { from: a.clone(), signal: answer.clone() });
    let applied: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    assert_eq!(applied, vec![Output::ApplyAnswer { peer: a.clone(), sdp: "a2".into() }]);
    core.handle_input(t, Input::AnswerApplied { peer: a.clone() });
    core.handle_input(t, Input::Signal { from: a.clone(), signal: answer });
    assert!(!std::iter::from_fn(|| core.poll_output()).any(|o| matches!(o, Output::ApplyAnswer { .. })));
    assert_eq!(
        core.poll_timeout(),
        Some(t + SETTINGS.reconnect_timeout - (t - now)),
        "only the reconnect deadline is left"
    );
    core.handle_input(t, Input::Transport { peer: a.clone(), state: Transport::Connected });
    assert_eq!(core.poll_timeout(), None);
    assert_eq!(core.state(), &CallState::Connected);
}

#[test]
fn a_path_that_does_not_come_back_ends_a_call_for_two() {
    let mut net = Net::new(2);
    let [a, b] = net.arrive(["a", "b"]);
    net.connect(&a, &b);
    net.input(&a, Input::Transport { peer: b.clone(), state: Transport::Interrupted });
    assert_eq!(net.state(&a), CallState::Reconnecting);
    net.advance(Duration::from_secs(9));
    assert_eq!(net.state(&a), CallState::Reconnecting);
    net.advance(Duration::from_secs(1));
    assert_eq!(net.state(&a), CallState::Ended(EndReason::PeerVanished));
}

fn relay_call(b_follows: bool) -> (CallMachine, PeerId, Vec<Output>) {
    let now = Instant::now();
    let a = id("a");
    let mut core = negotiated_offerer(now, &a, 2, true, b_follows);
    let at = now + RELAY_FALLBACK_AFTER;
    assert_eq!(core.poll_timeout(), Some(at));
    core.handle_timeout(at);
    let outputs = std::iter::from_fn(|| core.poll_output()).collect();
    (core, a, outputs)
}

#[test]
fn the_relay_start_over_happens_only_with_a_peer_that_follows_it() {
    let (mut core, a, outputs) = relay_call(true);
    assert!(outputs.contains(&Output::CloseLink { peer: a.clone(), say_bye: false }));
    assert!(outputs.contains(&Output::OpenLink { peer: a.clone(), relay_only: true }));
    assert!(outputs.contains(&Output::CreateOffer { peer: a.clone(), restart: false, receive_video: 0 }));
    core.handle_input(Instant::now(), Input::LocalOffer { peer: a.clone(), sdp: "o2".into() });
    let marked = std::iter::from_fn(|| core.poll_output()).any(|o| {
        matches!(o, Output::Signal { signal: PeerSignal::Offer { relay_only: true, restart: false, .. }, .. })
    });
    assert!(marked, "the new offer says it starts over");

    let (_, _, outputs) = relay_call(false);
    assert!(outputs.is_empty(), "a browser would take it as a renegotiation: {outputs:?}");
}

#[test]
fn the_answerer_follows_a_relay_start_over_unless_media_flows() {
    let now = Instant::now();
    let offer = |relay_only| PeerSignal::Offer { sdp: "o".into(), restart: false, relay_only };
    let mut core = CallMachine::new(Start::Room, SETTINGS);
    let b = id("b");
    core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible: true });
    core.handle_input(now, Input::Joined { peers: vec![], capacity: 2 });
    core.handle_input(now, Input::PeerJoined { peer: b.clone(), replaces: None });
    core.handle_input(now, Input::Signal { from: b.clone(), signal: offer(false) });
    std::iter::from_fn(|| core.poll_output()).for_each(drop);
    core.handle_input(now, Input::Signal { from: b.clone(), signal: offer(true) });
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    assert_eq!(
        outputs,
        vec![
            Output::CloseLink { peer: b.clone(), say_bye: false },
            Output::OpenLink { peer: b.clone(), relay_only: true },
            Output::AcceptOffer { peer: b.clone(), sdp: "o".into() },
        ]
    );
}

/// In a group room, one person leaving (goodbye) and coming back is one link gone and one new link; the call
/// goes on for everyone else.
#[test]
fn a_participant_who_leaves_and_comes_back() {
    let mut net = Net::new(4);
    let [a, b, c] = net.arrive(["a", "b", "c"]);
    for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
        net.connect(x, y);
    }
    assert!([&a, &b, &c].iter().all(|p| net.state(p) == CallState::Connected));
    net.input(&c, Input::HangUp);
    assert_eq!(net.state(&c), CallState::Ended(EndReason::HungUp));
    assert_eq!((net.state(&a), net.state(&b)), (CallState::Connected, CallState::Connected), "the others go on");
    assert_eq!(net.node(&a).core.participants().cloned().collect::<Vec<_>>(), vec![b.clone()]);
    // C comes back (a new core: a new call for C) and offers to both.
    let c_before = c.clone();
    net.nodes.remove(&c);
    let c = net.add("c");
    net.settle();
    assert_eq!(net.node(&a).core.participants().count(), 2);
    net.connect(&a, &c);
    net.connect(&b, &c);
    assert_eq!(net.offers_to(&a).iter().filter(|(p, _)| *p == c).count(), 2, "one offer per visit");
    assert_eq!(net.node(&c).media.len(), 2);
    // A vanished participant is dropped by its link alone.
    net.input(&a, Input::Transport { peer: b.clone(), state: Transport::Interrupted });
    net.advance(SETTINGS.reconnect_timeout);
    assert_eq!(net.node(&a).core.participants().cloned().collect::<Vec<_>>(), vec![c.clone()]);
    assert_eq!(net.state(&a), CallState::Connected);
    let left: Vec<&Output> = net.node(&a).said.iter().filter(|o| matches!(o, Output::ParticipantLeft { .. })).collect();
    assert_eq!(
        left,
        vec![
            &Output::ParticipantLeft { peer: c_before, reason: EndReason::RemoteHungUp },
            &Output::ParticipantLeft { peer: b.clone(), reason: EndReason::PeerVanished },
        ],
        "the front end hears who left and why"
    );
    let joined = net.node(&a).said.iter().filter(|o| matches!(o, Output::ParticipantJoined { .. })).count();
    assert_eq!(joined, 3, "B, C and C again");
}

/// Three people arrive one right after another (the server orders the joins): the newcomer offers to everyone
/// there, so every pair has exactly one offerer and no offers cross.
#[test]
fn three_people_joining_at_once_make_one_offer_per_pair() {
    let mut net = Net::new(6);
    let a = net.add("a");
    let b = net.add("b");
    let c = net.add("c");
    let d = net.add("d");
    // All four say hello and join before anyone hears of anyone.
    net.settle();
    let mut offers = Vec::new();
    for who in [&a, &b, &c, &d] {
        for (from, _) in net.offers_to(who) {
            offers.push((from, who.clone()));
        }
    }
    offers.sort();
    let mut expected = vec![(b.clone(), a.clone()), (c.clone(), a.clone()), (c.clone(), b.clone())];
    expected.extend([(d.clone(), a.clone()), (d.clone(), b.clone()), (d.clone(), c.clone())]);
    expected.sort();
    assert_eq!(offers, expected, "each pair once, the later one offering: no offers cross");
    for (x, y) in [(&a, &b), (&a, &c), (&a, &d), (&b, &c), (&b, &d), (&c, &d)] {
        net.connect(x, y);
    }
    for who in [&a, &b, &c, &d] {
        assert_eq!(net.state(who), CallState::Connected);
        assert_eq!(net.node(who).media.len(), 3, "{who} sends to the three others");
    }
}

/// A participant's signaling connection is replaced (network change): the link is found again through the
/// new connection and the restart goes there.
#[test]
fn a_participant_back_on_a_new_connection_keeps_its_link() {
    let mut net = Net::new(4);
    let [a, b, c] = net.arrive(["a", "b", "c"]);
    net.connect(&a, &c);
    net.connect(&a, &b);
    // C offered to A; C's network changes: its path to A breaks and its signaling connection is replaced.
    net.input(&a, Input::Transport { peer: c.clone(), state: Transport::Interrupted });
    net.input(&a, Input::PeerLeft(c.clone()));
    assert_eq!(net.node(&a).core.participants().count(), 2, "a connected link outlives the room");
    let c2 = id("c2");
    net.input(&a, Input::PeerJoined { peer: c2.clone(), replaces: Some(c.clone()) });
    let ids: Vec<PeerId> = net.node(&a).core.participants().cloned().collect();
    assert_eq!(ids, vec![b.clone(), c2.clone()]);
    assert!(
        !net.node(&a).said.iter().any(|o| matches!(o, Output::OpenLink { peer, .. } if *peer == c2)),
        "no new link"
    );
    assert!(net.node(&a).said.contains(&Output::Rebind { old: c.clone(), new: c2.clone() }), "the driver is told");
    net.input(&a, Input::Transport { peer: c2.clone(), state: Transport::Connected });
    assert_eq!(net.state(&a), CallState::Connected);
}

#[test]
fn rings_and_refusals_end_with_their_reason() {
    let now = Instant::now();
    for (input, reason) in [
        (Input::RingDeclined, EndReason::Declined),
        (Input::RingMissed, EndReason::Missed),
        (Input::RingUnavailable, EndReason::Unavailable),
    ] {
        let mut core = CallMachine::new(Start::Ring, SETTINGS);
        core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible: false });
        assert_eq!(core.poll_output(), Some(Output::Ring));
        assert_eq!(core.state(), &CallState::Ringing);
        core.handle_input(now, input);
        assert_eq!(core.state(), &CallState::Ended(reason));
    }
    let mut core = CallMachine::new(Start::Ring, SETTINGS);
    core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible: false });
    core.handle_input(now, Input::HangUp);
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    assert!(outputs.contains(&Output::CancelRing));
    assert_eq!(core.state(), &CallState::Ended(EndReason::HungUp));

    let mut core = CallMachine::new(Start::Room, SETTINGS);
    core.handle_input(now, Input::SignalingUnreachable);
    assert_eq!(core.state(), &CallState::Ended(EndReason::ServerUnreachable));
    let mut core = CallMachine::new(Start::Room, SETTINGS);
    core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible: false });
    core.handle_input(now, Input::JoinRefused(EndReason::RoomFull));
    assert_eq!(core.state(), &CallState::Ended(EndReason::RoomFull));
    // Ended is final.
    core.handle_input(now, Input::Joined { peers: vec![], capacity: 2 });
    assert_eq!(core.state(), &CallState::Ended(EndReason::RoomFull));
}

#[test]
fn silent_media_on_a_connected_link_probes_signaling_once_per_spell() {
    let mut net = Net::new(2);
    let [a, b] = net.arrive(["a", "b"]);
    net.connect(&a, &b);
    let probes = |net: &Net| net.node(&a).said.iter().filter(|o| **o == Output::ProbeSignaling).count();
    let mut frames = 0;
    for _ in 0..4 {
        frames += 10;
        net.advance(Duration::from_millis(250));
        net.input(&a, Input::MediaDecoded { peer: b.clone(), frames });
    }
    assert_eq!(probes(&net), 0);
    for _ in 0..6 {
        net.advance(Duration::from_millis(250));
        net.input(&a, Input::MediaDecoded { peer: b.clone(), frames });
    }
    assert_eq!(probes(&net), 1, "once per silent spell");
    net.input(&a, Input::MediaDecoded { peer: b.clone(), frames: frames + 1 });
    for _ in 0..3 {
        net.advance(Duration::from_millis(250));
        net.input(&a, Input::MediaDecoded { peer: b.clone(), frames: frames + 1 });
    }
    assert_eq!(probes(&net), 2, "a new spell after media moved");
}

#[test]
fn a_link_that_never_connects_is_given_up() {
    // For two: the call ends.
    let mut net = Net::new(2);
    let [a, b] = net.arrive(["a", "b"]);
    net.advance(CONNECT_TIMEOUT - Duration::from_secs(1));
    assert_eq!(net.state(&a), CallState::Connecting);
    net.advance(Duration::from_secs(1));
    assert_eq!(net.state(&a), CallState::Ended(EndReason::ConnectionFailed));
    assert_eq!(net.state(&b), CallState::Ended(EndReason::ConnectionFailed));

    // In a group: that participant is dropped, the connected one stays.
    let mut net = Net::new(4);
    let [a, b] = net.arrive(["a", "b"]);
    net.connect(&a, &b);
    let c = net.add("c");
    net.settle();
    net.advance(CONNECT_TIMEOUT);
    assert_eq!(net.node(&a).core.participants().cloned().collect::<Vec<_>>(), vec![b.clone()]);
    assert_eq!(net.state(&a), CallState::Connected);
    assert_eq!(net.state(&c), CallState::Waiting, "C is alone in its call now");
}

/// Back in a group room after the signaling connection came back: someone who arrived meanwhile (and offered
/// to our old connection, which nobody read) gets an offer from us, and so does someone whose link had not
/// got going; negotiated links stay.
#[test]
fn back_in_a_group_room_we_offer_to_whoever_came_meanwhile() {
    let now = Instant::now();
    let mut core = CallMachine::new(Start::Room, SETTINGS);
    let (b, d) = (id("b"), id("d"));
    core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible: false });
    core.handle_input(now, Input::Joined { peers: vec![b.clone()], capacity: 4 });
    std::iter::from_fn(|| core.poll_output()).for_each(drop);
    core.handle_input(now, Input::SignalingUp { reconnected: true, relay_possible: false });
    core.handle_input(now, Input::Joined { peers: vec![b.clone(), d.clone()], capacity: 4 });
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    assert!(
        outputs.contains(&Output::CreateOffer { peer: d.clone(), restart: false, receive_video: 0 }),
        "{outputs:?}"
    );
    assert!(
        outputs.contains(&Output::CreateOffer { peer: b.clone(), restart: false, receive_video: 0 }),
        "B's link never got going"
    );
    assert_eq!(core.participants().count(), 2);
    assert_eq!(
        outputs.iter().filter(|o| matches!(o, Output::ParticipantJoined { .. })).count(),
        1,
        "only D is new to the front end: {outputs:?}"
    );

    // A negotiated link stays as it is (an ICE restart repairs it).
    let mut core = negotiated_offerer(now, &b, 4, false, true);
    core.handle_input(now, Input::Joined { peers: vec![b.clone()], capacity: 4 });
    assert_eq!(core.poll_output(), None);
}

#[test]
fn a_failing_link_ends_a_call_for_two_but_only_drops_a_group_participant() {
    let now = Instant::now();
    for (capacity, ended) in [(2, true), (4, false)] {
        let mut core = CallMachine::new(Start::Room, SETTINGS);
        let b = id("b");
        core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible: false });
        core.handle_input(now, Input::Joined { peers: vec![b.clone()], capacity });
        core.handle_input(now, Input::LinkError { peer: b.clone(), error: "no".into() });
        assert_eq!(core.is_ended(), ended, "capacity {capacity}");
        assert_eq!(core.participants().count(), 0);
    }
}

#[test]
fn a_peer_that_streams_candidates_is_cut_off() {
    let now = Instant::now();
    let b = id("b");
    let mut core = negotiated_offerer(now, &b, 2, false, false);
    let candidate = || PeerSignal::Candidate(Default::default());
    for _ in 0..1000 {
        core.handle_input(now, Input::Signal { from: b.clone(), signal: candidate() });
    }
    let added = std::iter::from_fn(|| core.poll_output()).filter(|o| matches!(o, Output::AddCandidate { .. })).count();
    assert_eq!(added, MAX_REMOTE_CANDIDATES as usize, "the ICE agent got only the first {MAX_REMOTE_CANDIDATES}");
    // A new description (an ICE restart) takes candidates again.
    let answer = PeerSignal::Answer { sdp: "a2".into(), follows_relay: false };
    core.handle_input(now, Input::LocalOffer { peer: b.clone(), sdp: "o2".into() });
    core.handle_input(now, Input::Signal { from: b.clone(), signal: answer });
    core.handle_input(now, Input::AnswerApplied { peer: b.clone() });
    core.handle_input(now, Input::Signal { from: b.clone(), signal: candidate() });
    assert!(std::iter::from_fn(|| core.poll_output()).any(|o| matches!(o, Output::AddCandidate { .. })));
    // Offer after offer, each followed by its 64: the link as a whole takes at most MAX_LINK_CANDIDATES.
    let mut added = 65;
    for n in 0..20 {
        let offer = PeerSignal::Offer { sdp: format!("o{n}"), restart: false, relay_only: false };
        core.handle_input(now, Input::Signal { from: b.clone(), signal: offer });
        for _ in 0..MAX_REMOTE_CANDIDATES {
            core.handle_input(now, Input::Signal { from: b.clone(), signal: candidate() });
        }
        added += std::iter::from_fn(|| core.poll_output()).filter(|o| matches!(o, Output::AddCandidate { .. })).count();
    }
    assert_eq!(added, MAX_LINK_CANDIDATES as usize, "renegotiating does not lift the bound");
}

#[test]
fn a_share_renegotiates_every_link_and_offers_never_cross() {
    let mut net = Net::new(3);
    let [a, b, c] = net.arrive(["a", "b", "c"]);
    net.connect(&a, &b);
    net.connect(&a, &c);
    net.connect(&b, &c);
    let offers = |net: &Net, who: &PeerId| net.offers_to(who).len();
    let before = (offers(&net, &a), offers(&net, &b), offers(&net, &c));
    // a answered both links (b and c came later): it asks them to offer again, with room for its share.
    net.input(&a, Input::TracksChanged { peer: None });
    let asked: Vec<&Output> = net.node(&a).said.iter().filter(|o| matches!(o, Output::AskForOffer { .. })).collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    let mut made: Vec<(PeerId, u8)> = Vec::new();
    for who in [&b, &c] {
        for o in &net.node(who).said {
            if let Output::CreateOffer { peer, restart: false, receive_video } = o
                && peer == &a
            {
                made.push((who.clone(), *receive_video));
            }
        }
    }
    assert!(made.contains(&(b.clone(), 1)) && made.contains(&(c.clone(), 1)), "{made:?}");
    assert_eq!((offers(&net, &a), offers(&net, &b), offers(&net, &c)), (before.0 + 2, before.1, before.2));
    // The renegotiation is no ICE restart on the wire.
    let restarts = net
        .node(&b)
        .said
        .iter()
        .filter(|o| matches!(o, Output::Signal { signal: PeerSignal::Offer { restart: true, .. }, .. }))
        .count();
    assert_eq!(restarts, 0);

    // c (the offerer to a and b) stops sharing while its offer to a is unanswered: one more offer follows the
    // answer, none crosses it.
    net.input(&c, Input::TracksChanged { peer: None });
    assert_eq!((offers(&net, &a), offers(&net, &b)), (before.0 + 3, before.1 + 1));
    // A peer cannot make us add sections without end.
    net.input(&b, Input::OfferWanted { peer: c.clone(), receive_video: 1 });
    net.input(&c, Input::OfferWanted { peer: b.clone(), receive_video: 200 });
    let last = net.node(&c).said.iter().rev().find_map(|o| match o {
        Output::CreateOffer { receive_video, .. } => Some(*receive_video),
        _ => None,
    });
    assert_eq!(last, Some(MAX_RECEIVE_VIDEO));
    // An answerer is never asked to offer: it ignores a request.
    let said = net.node(&a).said.len();
    net.input(&a, Input::OfferWanted { peer: b.clone(), receive_video: 1 });
    assert!(!net.node(&a).said[said..].iter().any(|o| matches!(o, Output::CreateOffer { .. })));
    for who in [&a, &b, &c] {
        assert_eq!(net.state(who), CallState::Connected);
    }
}

#[test]
fn tracks_changed_while_the_first_offer_is_out_offer_again_after_its_answer() {
    let now = Instant::now();
    let b = id("b");
    let mut core = CallMachine::new(Start::Room, SETTINGS);
    core.handle_input(now, Input::SignalingUp { reconnected: false, relay_possible: false });
    core.handle_input(now, Input::Joined { peers: vec![b.clone()], capacity: 2 });
    core.handle_input(now, Input::TracksChanged { peer: None });
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    let offers = outputs.iter().filter(|o| matches!(o, Output::CreateOffer { .. })).count();
    assert_eq!(offers, 1, "one offer at a time: {outputs:?}");
    core.handle_input(now, Input::LocalOffer { peer: b.clone(), sdp: "o1".into() });
    core.handle_input(
        now,
        Input::Signal { from: b.clone(), signal: PeerSignal::Answer { sdp: "a1".into(), follows_relay: true } },
    );
    core.handle_input(now, Input::AnswerApplied { peer: b.clone() });
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    assert!(outputs.contains(&Output::Negotiated { peer: b.clone() }), "{outputs:?}");
    assert!(
        outputs.contains(&Output::CreateOffer { peer: b.clone(), restart: false, receive_video: 0 }),
        "{outputs:?}"
    );
    core.handle_input(now, Input::LocalOffer { peer: b.clone(), sdp: "o2".into() });
    let sent = std::iter::from_fn(|| core.poll_output()).find_map(|o| match o {
        Output::Signal { signal: PeerSignal::Offer { restart, .. }, .. } => Some(restart),
        _ => None,
    });
    assert_eq!(sent, Some(false), "a renegotiation is not an ICE restart");
}

#[test]
fn a_renegotiation_offer_unanswered_is_sent_again_when_signaling_comes_back() {
    let now = Instant::now();
    let b = id("b");
    let mut core = negotiated_offerer(now, &b, 2, false, true);
    core.handle_input(now, Input::Transport { peer: b.clone(), state: Transport::Connected });
    std::iter::from_fn(|| core.poll_output()).for_each(drop);
    core.handle_input(now, Input::TracksChanged { peer: None });
    core.handle_input(now, Input::LocalOffer { peer: b.clone(), sdp: "o2".into() });
    std::iter::from_fn(|| core.poll_output()).for_each(drop);
    core.handle_input(now, Input::SignalingUp { reconnected: true, relay_possible: false });
    let again: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    assert!(
        again.contains(&Output::Signal {
            to: b.clone(),
            signal: PeerSignal::Offer { sdp: "o2".into(), restart: false, relay_only: false }
        }),
        "{again:?}"
    );
}
