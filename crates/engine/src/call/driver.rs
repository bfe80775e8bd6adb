//! The I/O loop of one call: it feeds the [`CallMachine`] what happens — signaling events, peer connection
//! events, control messages, the front end's commands, time — and performs what the core asks for with the
//! signaling client, the peer connections and the media.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tincan_media::codec::VideoCodec;
use tincan_media::mix::Mixer;
use tincan_media::source::{AudioFeed, AudioSource, VideoSink, VideoSource};
use tincan_media::voice::VoiceMonitor;
use tincan_signal::client::{ClientConfig, ClientEvent, SignalClient};
use tincan_signal::code::{PersonalCode, RoomCode};
use tincan_signal::protocol::{ErrorCode, IceServer, PeerId, ServerMessage};
use tokio::sync::mpsc;
use tracing::Instrument;
use webrtc::data_channel::RTCDataChannelState;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState};

use super::machine::{CallMachine, Input, MachineSettings, Output, Start, Transport};
use super::session::{ControlEvent, LinkSerial, Session, Tagged};
use super::signal::PeerSignal;
use super::sinks::ParticipantAudio;
use super::{CallConfig, CallState, Command, EndReason, Participant, ParticipantSinks, SHARE_FPS, Shared, Target};
use crate::data::control::{ControlMessage, MAX_CHAT_CHARS};
use crate::data::files::{Files, Receiving};
use crate::events::EngineEvent;
use crate::media::MediaCounters;
use crate::media::receive::{describe, run_audio, run_video};
use crate::media::send::{SendSwitches, Sender};
use crate::media::sync::LipSync;
use crate::peer::{PeerEvent, SCREEN_TRACK_PREFIX};
use crate::sas::{sdp_fingerprint, short_authentication_string};
use crate::stats::{ParticipantFigures, StatsSampler};
use crate::{EngineError, Result};

/// How long a goodbye may take to leave before the connection is closed anyway.
const BYE_GRACE: Duration = Duration::from_millis(300);
/// How long a hang-up waits for a data channel that is still opening, to say goodbye on it.
const BYE_WAIT_FOR_CHANNEL: Duration = Duration::from_secs(2);
/// How often decoded-media counts go to the core (its silence probe) and sources are looked at.
const MEDIA_TICK: Duration = Duration::from_millis(250);
/// Remote tracks taken from one participant at once: audio, camera, and room for a screen share and one
/// more (a share stopped and started again is a new track; the old one's ended).
const MAX_TRACKS_PER_LINK: usize = 4;
/// While a share runs, its part of the video budget (the camera gets the rest): text needs the bits.
const SHARE_BUDGET: f64 = 0.75;

/// Our screen share: its own capture thread and encoder, written to every link that negotiated its track.
struct Share {
    sender: Sender,
    codec: VideoCodec,
    /// What is shared (the picture's source), as the user is told.
    what: String,
}

/// Sources and sinks wait here until the call needs them. A mutex makes the driver `Sync` (they are only
/// `Send`); it is never contended.
struct Slots {
    video_source: Mutex<Option<Box<dyn VideoSource>>>,
    audio_source: Mutex<Option<Box<dyn AudioSource>>>,
    video_sink: Mutex<Option<Box<dyn VideoSink>>>,
    /// Everyone's audio goes into the mix for the call's audio sink.
    mixer: Option<Mixer>,
    participant_sinks: Mutex<Option<Box<dyn ParticipantSinks>>>,
    sends_video: bool,
    sends_audio: bool,
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The plain settings of the call (the config less its sources and sinks).
struct Settings {
    display_name: String,
    room_capacity: Option<usize>,
    peer: crate::peer::PeerSettings,
    extra_ice_servers: Vec<IceServer>,
    receiving: Receiving,
    voice_monitor: Option<Arc<dyn VoiceMonitor>>,
}

struct Driver {
    config: Settings,
    slots: Slots,
    target: Target,
    core: CallMachine,
    client: SignalClient,
    events: mpsc::UnboundedSender<EngineEvent>,
    room: Option<RoomCode>,
    ring: Option<String>,
    /// Contacts rung into this call: sent and not yet answered by the server, then by ring id.
    inviting: Vec<PersonalCode>,
    invites: BTreeMap<String, PersonalCode>,
    /// The welcome's (STUN) and the room's (TURN, credentials minted with `joined`).
    ice_servers: Vec<IceServer>,
    relay_servers: Vec<IceServer>,
    /// One connection per participant.
    links: BTreeMap<PeerId, Session>,
    next_serial: LinkSerial,
    peer_tx: mpsc::UnboundedSender<Tagged<PeerEvent>>,
    control_tx: mpsc::UnboundedSender<Tagged<ControlEvent>>,
    counters: Arc<MediaCounters>,
    /// Display names, by peer id (from the room's notices).
    names: BTreeMap<PeerId, Option<String>>,
    /// The send delays the peers were last told (µs).
    delays_told: Option<(u32, u32)>,
    switches: Arc<SendSwitches>,
    /// Whether the camera and microphone delivered at the last look (the peer is told when that changes).
    sources_live: (bool, bool),
    /// The media we send: encoded once, written to every link.
    sender: Option<Sender>,
    share: Option<Share>,
    stats: StatsSampler,
    /// Whose link `stats` samples (its rates are differences between samples of one connection).
    stats_link: Option<PeerId>,
    video_codec: Option<VideoCodec>,
    started: bool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

async fn deadline(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

pub async fn run(
    config: CallConfig,
    target: Target,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<EngineEvent>,
) {
    let CallConfig {
        server_url,
        client_name,
        display_name,
        identity,
        peer,
        extra_ice_servers,
        video_source,
        audio_source,
        video_sink,
        audio_sink,
        voice_monitor,
        participant_sinks,
        room_capacity,
        download_dir,
        file_policy,
        max_file_size,
        stats_interval,
        reconnect_timeout,
    } = config;
    let mut client_config = ClientConfig::new(server_url, client_name);
    // Roots the user added are trusted for the signaling server too (a private CA).
    if !peer.extra_roots.is_empty() {
        match crate::tls::client_config(&peer.extra_roots, &[]) {
            Ok(tls) => client_config.tls = Some(tls),
            Err(e) => tracing::warn!("the added roots are not used for signaling: {e}"),
        }
    }
    if let Some(identity) = identity {
        // The identity proves who rings; the code stays registered with the front end's presence connection.
        client_config = client_config.with_caller_identity(identity);
    }
    let (client, mut signal_events) = SignalClient::connect(client_config);
    let (peer_tx, mut peer_rx) = mpsc::unbounded_channel();
    let (control_tx, mut control_rx) = mpsc::unbounded_channel();
    let slots = Slots {
        sends_video: video_source.is_some(),
        sends_audio: audio_source.is_some(),
        video_source: Mutex::new(video_source),
        audio_source: Mutex::new(audio_source),
        video_sink: Mutex::new(video_sink),
        mixer: audio_sink.map(Mixer::new),
        participant_sinks: Mutex::new(participant_sinks),
    };
    let start = match target {
        Target::Room { .. } => Start::Room,
        Target::Contact(_) => Start::Ring,
    };
    let core = CallMachine::new(start, MachineSettings { reconnect_timeout, relay_only: peer.relay_only });
    let mut d = Driver {
        config: Settings {
            display_name,
            room_capacity,
            peer,
            extra_ice_servers,
            receiving: Receiving {
                dir: download_dir,
                policy: file_policy,
                max_size: max_file_size,
                reserved: Default::default(),
                from: String::new(),
            },
            voice_monitor,
        },
        slots,
        target,
        core,
        client,
        events,
        room: None,
        ring: None,
        inviting: Vec::new(),
        invites: BTreeMap::new(),
        ice_servers: Vec::new(),
        relay_servers: Vec::new(),
        links: BTreeMap::new(),
        next_serial: 0,
        peer_tx,
        control_tx,
        counters: Arc::default(),
        names: BTreeMap::new(),
        delays_told: None,
        switches: Arc::default(),
        sources_live: (true, true),
        sender: None,
        share: None,
        stats: StatsSampler::default(),
        stats_link: None,
        video_codec: None,
        started: false,
    };
    let mut stats_tick = tokio::time::interval(stats_interval);
    let mut media_tick = tokio::time::interval(MEDIA_TICK);
    d.emit(EngineEvent::state(CallState::Idle));
    loop {
        d.perform().await;
        if d.core.is_ended() {
            break;
        }
        let wake = d.core.poll_timeout();
        tokio::select! {
            event = signal_events.recv() => match event {
                Some(e) => d.on_signal(e).await,
                None => d.input(Input::Fail("the signaling client stopped".into())),
            },
            Some(Tagged { serial, event }) = peer_rx.recv() => d.on_peer(serial, event).await,
            Some(Tagged { serial, event }) = control_rx.recv() => d.on_control(serial, event).await,
            command = commands.recv() => match command {
                Some(c) => d.on_command(c).await,
                None => d.input(Input::HangUp),
            },
            _ = stats_tick.tick() => d.emit_stats().await,
            _ = media_tick.tick() => {
                d.report_media();
                d.watch_sources().await;
                d.watch_share().await;
                d.share_send_delays().await;
            }
            _ = deadline(wake) => d.core.handle_timeout(Instant::now()),
        }
    }
    d.client.close();
}

impl Driver {
    fn emit(&self, event: EngineEvent) {
        let _ = self.events.send(event);
    }

    fn notice(&self, message: impl Into<String>) {
        self.emit(EngineEvent::Notice { message: message.into() });
    }

    fn input(&mut self, input: Input) {
        self.core.handle_input(Instant::now(), input);
    }

    /// The participant a session belongs to, if it is still the current one.
    fn peer_of(&self, serial: LinkSerial) -> Option<PeerId> {
        self.links.iter().find(|(_, s)| s.serial == serial).map(|(p, _)| p.clone())
    }

    /// Perform what the core asks for, until it asks for nothing more.
    async fn perform(&mut self) {
        while let Some(output) = self.core.poll_output() {
            if let Err(e) = self.act(output).await {
                tracing::warn!("call action failed: {e}");
                self.input(Input::Fail(e.to_string()));
            }
        }
    }

    async fn act(&mut self, output: Output) -> Result<()> {
        match output {
            Output::Ring => {
                let Target::Contact(code) = &self.target else { return Ok(()) };
                let room = RoomCode::generate();
                self.room = Some(room.clone());
                self.client.ring(code, &self.config.display_name, &room).await?;
            }
            Output::CancelRing => {
                if let Some(call) = self.ring.clone() {
                    self.client.cancel_ring(call).await?;
                }
            }
            Output::JoinRoom => {
                let room = self.room.clone().ok_or_else(|| EngineError::Invalid("no room to join".into()))?;
                let create = match &self.target {
                    Target::Room { create, .. } => *create,
                    Target::Contact(_) => true,
                };
                self.client.join(&room, create, self.config.room_capacity, Some(self.config.display_name.clone()))?;
            }
            Output::LeaveRoom => {
                let _ = self.client.leave();
            }
            Output::OpenLink { peer, relay_only } => {
                if let Err(e) = self.open_link(peer.clone(), relay_only).await {
                    self.input(Input::LinkError { peer, error: format!("cannot set up a connection: {e}") });
                }
            }
            Output::CloseLink { peer, say_bye } => self.close_link(&peer, say_bye).await,
            Output::Rebind { old, new } => {
                if let Some(session) = self.links.remove(&old) {
                    self.links.insert(new.clone(), session);
                }
                // The same connection: its stats go on.
                if self.stats_link.as_ref() == Some(&old) {
                    self.stats_link = Some(new.clone());
                }
                // The front end knows them by the old id: the same person, now under the new one.
                let name = self.names.get(&new).cloned().flatten();
                self.emit(EngineEvent::ParticipantJoined { peer: new, name, replaces: Some(old) });
            }
            Output::ParticipantJoined { peer } => {
                let name = self.names.get(&peer).cloned().flatten();
                self.emit(EngineEvent::ParticipantJoined { peer, name, replaces: None });
            }
            Output::ParticipantLeft { peer, reason } => {
                let name = self.names.get(&peer).cloned().flatten();
                self.notice(format!("{} left: {reason}", name.as_deref().unwrap_or("someone")));
                self.emit(EngineEvent::ParticipantLeft { peer, name, reason: reason.code().into() });
            }
            Output::CreateOffer { peer, restart, receive_video } => {
                let Some(session) = self.links.get_mut(&peer) else { return Ok(()) };
                match session.offer(restart, receive_video).await {
                    Ok(sdp) => self.input(Input::LocalOffer { peer, sdp }),
                    Err(e) => self.input(Input::LinkError { peer, error: format!("cannot make an offer: {e}") }),
                }
            }
            Output::AcceptOffer { peer, sdp } => {
                let Some(session) = self.links.get_mut(&peer) else { return Ok(()) };
                match session.answer(sdp).await {
                    Ok(sdp) => {
                        self.show_verification(&peer).await;
                        self.input(Input::LocalAnswer { peer, sdp });
                    }
                    Err(e) => self.refused(&peer, "offer", e),
                }
            }
            Output::ApplyAnswer { peer, sdp } => {
                let Some(session) = self.links.get_mut(&peer) else { return Ok(()) };
                // An answer to an earlier offer (a renegotiation's, arriving after the ICE restart offer that
                // replaced it) would leave both sides with different ICE credentials: the restart offer stays
                // unanswered in the core and is sent again.
                if session.stale_answer(&sdp).await {
                    tracing::info!(%peer, "an answer to an offer our ICE restart replaced: ignored");
                    return Ok(());
                }
                // A refused answer leaves the offer unanswered in the core, so it is sent again.
                match session.accept_answer(sdp).await {
                    Ok(()) => {
                        self.show_verification(&peer).await;
                        self.input(Input::AnswerApplied { peer });
                    }
                    Err(e) => self.refused(&peer, "answer", e),
                }
            }
            Output::AddCandidate { peer, candidate } => {
                if let Some(session) = self.links.get_mut(&peer) {
                    session.add_candidate(candidate).await;
                }
            }
            Output::Signal { to, signal } => {
                let (kind, data) = signal.to_wire()?;
                if let Err(e) = self.client.signal(Some(to), kind, data).await {
                    tracing::debug!("signal not sent: {e}");
                }
            }
            Output::StartMedia { peer } => {
                if let Err(e) = self.start_media(&peer).await {
                    self.notice(format!("cannot start sending media: {e}"));
                }
            }
            Output::Negotiated { peer } => self.attach_share(&peer).await,
            Output::AskForOffer { peer } => self.ask_for_offer(&peer).await,
            Output::RequestKeyframe => {
                if let Some(sender) = &self.sender {
                    sender.request_keyframe();
                }
            }
            Output::ProbeSignaling => self.client.probe(),
            Output::State(state) => self.emit(EngineEvent::state(state)),
            Output::Notice(message) => self.notice(message),
        }
        Ok(())
    }

    fn refused(&self, peer: &PeerId, what: &str, e: EngineError) {
        tracing::warn!(%peer, "remote {what} refused: {e}");
        self.notice(format!("the other side sent an unusable {what}: {e}"));
    }

    async fn open_link(&mut self, peer: PeerId, relay_only: bool) -> Result<()> {
        let mut settings = self.config.peer.clone();
        settings.relay_only = relay_only;
        settings.ice_servers = self.all_ice_servers().cloned().collect();
        self.next_serial += 1;
        let session = Session::open(
            self.next_serial,
            &settings,
            self.slots.sends_video,
            self.slots.sends_audio,
            Receiving { from: peer.clone(), ..self.config.receiving.clone() },
            self.peer_tx.clone(),
            self.control_tx.clone(),
            self.events.clone(),
        )
        .await?;
        let mut session = session;
        if let Some(share) = &self.share {
            // Someone new while we share: the track goes into this link's first negotiation, or (if they
            // offer) the one we ask for after it.
            session.add_screen(share.codec).await?;
            self.core.handle_input(Instant::now(), Input::TracksChanged { peer: Some(peer.clone()) });
        }
        tracing::debug!(%peer, serial = session.serial, relay_only, "link opened");
        self.delays_told = None;
        if let Some(old) = self.links.insert(peer, session)
            && let Err(e) = old.pc.close().await
        {
            tracing::debug!("close: {e}");
        }
        Ok(())
    }

    /// Say goodbye if asked, stop the media that went there and close the connection.
    async fn close_link(&mut self, peer: &PeerId, say_bye: bool) {
        let Some(s) = self.links.remove(peer) else { return };
        // Hanging up right after connecting: the channel may still be opening; the goodbye is worth a wait.
        let open_by = Instant::now() + BYE_WAIT_FOR_CHANNEL;
        while say_bye
            && Instant::now() < open_by
            && !matches!(s.control.ready_state().await, Ok(RTCDataChannelState::Open))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if say_bye && s.send_control(&ControlMessage::Bye).await.is_ok() {
            let until = Instant::now() + BYE_GRACE;
            while Instant::now() < until && s.control.outstanding_bytes().await.unwrap_or(0) > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // The SCTP packet left the buffer; give the network a moment to carry it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(sender) = &self.sender {
            sender.remove_link(s.serial);
        }
        if let Some(share) = &self.share {
            share.sender.remove_link(s.serial);
        }
        if let Err(e) = s.pc.close().await {
            tracing::debug!("close: {e}");
        }
    }

    /// Negotiation finished on a link: show the verification digits (once per connection).
    async fn show_verification(&mut self, peer: &PeerId) {
        let Some(session) = self.links.get_mut(peer) else { return };
        if session.verified {
            return;
        }
        let local = session.pc.local_description().await.and_then(|d| sdp_fingerprint(&d.sdp));
        let remote = session.pc.remote_description().await.and_then(|d| sdp_fingerprint(&d.sdp));
        if let (Some(l), Some(r)) = (local, remote) {
            session.verified = true;
            let sas = short_authentication_string(&l, &r);
            self.emit(EngineEvent::Verification { sas, peer: peer.clone() });
        }
    }

    /// Start sending on a negotiated, connected link: the sources start with the first link; later links get
    /// the same encoded media (a link that negotiated another video codec than the encoder's gets no video).
    async fn start_media(&mut self, peer: &PeerId) -> Result<()> {
        let Some(session) = self.links.get_mut(peer) else { return Ok(()) };
        let (serial, bandwidth) = (session.serial, session.bandwidth.clone());
        let (video, audio) = session.outlets().await?;
        let sender = self.sender.get_or_insert_with(|| Sender::new(self.switches.clone(), self.counters.clone()));
        if let Some((outlet, codec)) = video {
            if sender.video_codec().is_none()
                && let Some(source) = take(&self.slots.video_source)
            {
                sender.start_video(source, codec);
                self.video_codec = Some(codec);
            }
            match sender.video_codec() {
                Some(running) if running == codec => sender.add_video_link(serial, outlet, bandwidth),
                Some(running) => {
                    let name = self.names.get(peer).cloned().flatten().unwrap_or_else(|| "someone".into());
                    let message = format!("{name} can only take {codec} video; ours is {running}: no video for them");
                    let _ = self.events.send(EngineEvent::Notice { message });
                }
                None => {}
            }
        }
        if let Some(outlet) = audio {
            if let Some(source) = take(&self.slots.audio_source) {
                sender.start_audio(source);
            }
            sender.add_audio_link(serial, outlet);
        }
        if let Some(s) = self.links.get_mut(peer) {
            s.sending = true;
        }
        self.attach_share(peer).await;
        Ok(())
    }

    /// A link's negotiation carried our share's track: the share's encoder writes into it from now on.
    async fn attach_share(&mut self, peer: &PeerId) {
        let (Some(share), Some(session)) = (&self.share, self.links.get_mut(peer)) else { return };
        if !session.sending || session.screen.as_ref().is_none_or(|(_, attached)| *attached) {
            return;
        }
        match session.screen_outlet(share.codec).await {
            Ok(Some(outlet)) => {
                share.sender.add_video_link(session.serial, outlet, session.bandwidth.clone());
                if let Some((_, attached)) = &mut session.screen {
                    *attached = true;
                }
            }
            Ok(None) => tracing::debug!(%peer, "the share's track is not negotiated (yet)"),
            Err(e) => tracing::warn!(%peer, "share not sent: {e}"),
        }
    }

    /// Ask the link's offerer for an offer (on the control channel; once it is open, if it is not yet).
    async fn ask_for_offer(&mut self, peer: &PeerId) {
        let Some(s) = self.links.get_mut(peer) else { return };
        if !s.control_open {
            s.ask_when_open = true;
            return;
        }
        let receive_video = s.unplaced_video().await;
        if let Err(e) = s.send_control(&ControlMessage::OfferWanted { receive_video }).await {
            tracing::warn!(%peer, "offer not asked for: {e}");
        }
    }

    /// A share whose source ended by itself (the shared window was closed, the desktop ended it) stops, and the user is told; a
    /// share's sound that failed goes, and the share goes on without it.
    async fn watch_share(&mut self) {
        if self.sender.as_ref().is_some_and(Sender::extra_audio_ended)
            && let Some(what) = self.share.as_ref().map(|s| s.what.clone())
        {
            self.notice("The computer's sound stopped: the share goes on without it.");
            self.emit(EngineEvent::Share { sharing: true, peer: String::new(), what: Some(what) });
        }
        if self.share.as_ref().is_some_and(|s| s.sender.video_ended()) {
            self.notice(
                "What you shared is gone (its window was closed, or the desktop ended the share): sharing stopped.",
            );
            self.share(None).await;
        }
    }

    /// Share `shared` (replacing a running share), or stop sharing.
    async fn share(&mut self, shared: Option<Shared>) {
        let was = self.share.take();
        if let Some(sender) = &self.sender {
            sender.set_extra_audio(None);
        }
        for s in self.links.values_mut() {
            if let Err(e) = s.remove_screen().await {
                tracing::debug!("share track not removed: {e}");
            }
        }
        drop(was); // its capture thread and encoder end at their next frame
        if let Some(Shared { video: source, sound }) = shared {
            let codec = self.video_codec.unwrap_or(*self.config.peer.video_codecs.first().unwrap_or(&VideoCodec::Vp8));
            let picture = source.describe();
            let mut what = picture.clone();
            match sound {
                // Our links negotiated no sending audio (a call without a microphone source).
                Some(_) if !self.slots.sends_audio => {
                    self.notice("The computer's sound is not shared: this call sends no audio.")
                }
                Some(sound) => {
                    tracing::info!("sharing {what} with {}", sound.describe());
                    what = format!("{what} with sound");
                    self.share_sound(sound);
                }
                None => {}
            }
            let mut sender = Sender::for_screen(Arc::default(), Arc::default(), SHARE_FPS);
            sender.start_video(source, codec);
            let mut failed = None;
            for (peer, s) in self.links.iter_mut() {
                if let Err(e) = s.add_screen(codec).await {
                    tracing::warn!(%peer, "share track not added: {e}");
                    failed = Some(e);
                }
            }
            if let Some(e) = failed {
                self.notice(format!("cannot share with everyone: {e}"));
            }
            self.share = Some(Share { sender, codec, what: picture });
            self.emit(EngineEvent::Share { sharing: true, peer: String::new(), what: Some(what) });
        } else {
            self.emit(EngineEvent::Share { sharing: false, peer: String::new(), what: None });
        }
        if let Some(camera) = &self.sender {
            camera.set_budget(if self.share.is_some() { 1.0 - SHARE_BUDGET } else { 1.0 });
        }
        if let Some(share) = &self.share {
            share.sender.set_budget(SHARE_BUDGET);
        }
        self.send_media_state().await;
        self.input(Input::TracksChanged { peer: None });
    }

    /// Mix a share's sound into the audio we send (into the microphone's frames; a microphone that has not
    /// started yet starts now; muted, the sound goes alone).
    fn share_sound(&mut self, sound: Box<dyn AudioFeed>) {
        let sender = self.sender.get_or_insert_with(|| Sender::new(self.switches.clone(), self.counters.clone()));
        sender.set_extra_audio(Some(sound));
        if !sender.audio_running()
            && let Some(microphone) = take(&self.slots.audio_source)
        {
            sender.start_audio(microphone);
        }
    }

    /// Where a participant's received track goes.
    fn sinks_for(&self, peer: &PeerId, video: bool) -> (Option<Box<dyn VideoSink>>, Option<ParticipantAudio>) {
        let level = self.links.get(peer).map(|s| s.level.clone()).unwrap_or_default();
        let participant = Participant { peer: peer.clone(), name: self.names.get(peer).cloned().flatten() };
        let mut own = self.slots.participant_sinks.lock().unwrap_or_else(|p| p.into_inner());
        if video {
            let sink = own.as_mut().and_then(|s| s.video(&participant)).or_else(|| take(&self.slots.video_sink));
            (sink, None)
        } else {
            let tap = own.as_mut().and_then(|s| s.audio(&participant));
            (None, Some(ParticipantAudio { tap, mix: self.slots.mixer.as_ref().map(Mixer::input), level }))
        }
    }

    /// Where a participant's screen share goes (nowhere for a front end that shows no shares).
    fn share_sink_for(&self, peer: &PeerId) -> Option<Box<dyn VideoSink>> {
        let participant = Participant { peer: peer.clone(), name: self.names.get(peer).cloned().flatten() };
        let mut own = self.slots.participant_sinks.lock().unwrap_or_else(|p| p.into_inner());
        own.as_mut().and_then(|s| s.screen(&participant))
    }

    async fn on_signal(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected { ice_servers, reconnected, .. } => {
                self.ice_servers = ice_servers;
                if reconnected {
                    self.notice("reconnected to the signaling server");
                }
                if !self.started {
                    self.started = true;
                    if let Target::Room { code, .. } = &self.target {
                        self.room = Some(code.clone());
                    }
                }
                let relay_possible = self.relay_possible();
                self.input(Input::SignalingUp { reconnected, relay_possible });
            }
            ClientEvent::Disconnected { reason, .. } => {
                if self.started {
                    self.notice(format!("signaling connection lost ({reason}); retrying"));
                } else {
                    // Never reached: say so now rather than spin (presence keeps retrying in the background),
                    // and why (a refused certificate is not a network problem).
                    tracing::info!("signaling server unreachable: {reason}");
                    self.notice(format!("the signaling server cannot be reached: {reason}"));
                    self.input(Input::SignalingUnreachable);
                }
            }
            ClientEvent::Message(ServerMessage::Relay { ice_servers }) => self.renew_relay(ice_servers),
            ClientEvent::Message(m) => {
                self.learn_from_room(&m);
                self.on_server(m)
            }
        }
    }

    /// Display names travel with the room's notices, and TURN credentials with `joined`.
    fn learn_from_room(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Joined { peers, ice_servers, .. } => {
                self.names.extend(peers.iter().map(|p| (p.id.clone(), p.name.clone())));
                self.relay_servers = ice_servers.clone();
            }
            ServerMessage::PeerJoined { peer, .. } => {
                self.names.insert(peer.id.clone(), peer.name.clone());
            }
            _ => {}
        }
    }

    /// Fresh TURN credentials (the server sends them every half of their life), for links opened from now on.
    /// Open links keep theirs: webrtc-rs would sign the refreshes of their existing allocation with the new
    /// username, which a TURN server must refuse (441, RFC 8656: an allocation keeps the username that made
    /// it), while coturn lets the old credential keep an allocation alive past its expiry.
    fn renew_relay(&mut self, ice_servers: Vec<IceServer>) {
        self.relay_servers = ice_servers;
        tracing::debug!("TURN credentials renewed for new links");
    }

    fn all_ice_servers(&self) -> impl Iterator<Item = &IceServer> {
        self.ice_servers.iter().chain(&self.relay_servers).chain(&self.config.extra_ice_servers)
    }

    /// A TURN server is at hand (for the relay start-over).
    fn relay_possible(&self) -> bool {
        self.all_ice_servers().flat_map(|s| &s.urls).any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
    }

    fn ring_matches(&mut self, call: &str) -> bool {
        match &self.ring {
            Some(ours) => ours == call,
            None => {
                self.ring = Some(call.to_owned());
                true
            }
        }
    }

    /// The server's answers about rings we sent into this call; true if `message` was one.
    fn on_invite(&mut self, message: &ServerMessage) -> bool {
        let (call, outcome) = match message {
            // An invite that was ringing, then answered "not available" (do not disturb).
            ServerMessage::Unavailable { call, .. } if self.invites.contains_key(call) => (call, "unavailable"),
            ServerMessage::Ringing { call, to } | ServerMessage::Unavailable { call, to } => {
                let Some(i) = self.inviting.iter().position(|c| c.as_str() == to) else { return false };
                let code = self.inviting.remove(i);
                let ringing = matches!(message, ServerMessage::Ringing { .. });
                if ringing {
                    self.invites.insert(call.clone(), code);
                } else {
                    self.emit(EngineEvent::Invite { code: code.to_string(), outcome: "unavailable".into() });
                    return true;
                }
                (call, "ringing")
            }
            ServerMessage::Accepted { call, .. } => (call, "accepted"),
            ServerMessage::Declined { call } => (call, "declined"),
            ServerMessage::Missed { call } => (call, "missed"),
            _ => return false,
        };
        let Some(code) = self.invites.get(call).cloned() else { return false };
        if outcome != "ringing" {
            self.invites.remove(call);
        }
        self.emit(EngineEvent::Invite { code: code.to_string(), outcome: outcome.into() });
        true
    }

    fn on_server(&mut self, message: ServerMessage) {
        if self.on_invite(&message) {
            return;
        }
        let input = match message {
            ServerMessage::Ringing { call, .. } => {
                self.ring = Some(call);
                return;
            }
            ServerMessage::Accepted { call, room } if self.ring_matches(&call) => {
                if let Ok(room) = RoomCode::parse(&room) {
                    self.room = Some(room);
                }
                Input::RingAccepted
            }
            ServerMessage::Declined { call } if self.ring_matches(&call) => Input::RingDeclined,
            ServerMessage::Unavailable { call, .. } if self.ring_matches(&call) => Input::RingUnavailable,
            ServerMessage::Missed { call } if self.ring_matches(&call) => Input::RingMissed,
            ServerMessage::Joined { peers, capacity, .. } => {
                Input::Joined { peers: peers.into_iter().map(|p| p.id).collect(), capacity }
            }
            ServerMessage::PeerJoined { peer, replaces, .. } => Input::PeerJoined { peer: peer.id, replaces },
            ServerMessage::PeerLeft { peer_id, .. } => Input::PeerLeft(peer_id),
            ServerMessage::Signal { from, kind, data, .. } => match PeerSignal::from_wire(kind, data) {
                Ok(signal) => Input::Signal { from, signal },
                Err(e) => {
                    tracing::warn!(peer = %from, "unusable {kind:?}: {e}");
                    self.notice(format!("the other side sent an unusable {kind:?}: {e}"));
                    return;
                }
            },
            ServerMessage::Error { code, message, request } => {
                let reason = match code {
                    ErrorCode::RoomFull => Some(EndReason::RoomFull),
                    ErrorCode::RoomNotFound => Some(EndReason::RoomNotFound),
                    _ => None,
                };
                let ringing = matches!(self.core.state(), CallState::Ringing);
                match (request.as_deref(), reason) {
                    (Some("join"), Some(reason)) => Input::JoinRefused(reason),
                    (Some("join"), None) => Input::Fail(message),
                    (Some("ring"), None) if ringing => Input::Fail(message),
                    // A ring into this call (`invite`) the server refused: the call goes on.
                    (Some("ring"), None) if !self.inviting.is_empty() => {
                        let code = self.inviting.remove(0);
                        self.notice(format!("cannot ring {code}: {message}"));
                        self.emit(EngineEvent::Invite { code: code.to_string(), outcome: "failed".into() });
                        return;
                    }
                    _ => {
                        self.notice(message);
                        return;
                    }
                }
            }
            _ => return,
        };
        self.input(input);
    }

    async fn on_peer(&mut self, serial: LinkSerial, event: PeerEvent) {
        let Some(peer) = self.peer_of(serial) else { return };
        match event {
            PeerEvent::Candidate(json) => match serde_json::from_value::<RTCIceCandidateInit>(json) {
                Ok(candidate) => self.input(Input::LocalCandidate { peer, candidate }),
                Err(e) => tracing::debug!("local candidate not sendable: {e}"),
            },
            PeerEvent::State(state) => {
                let state = match state {
                    RTCPeerConnectionState::Connected => Transport::Connected,
                    RTCPeerConnectionState::Disconnected => Transport::Interrupted,
                    RTCPeerConnectionState::Failed => Transport::Failed,
                    _ => return,
                };
                self.input(Input::Transport { peer, state });
            }
            PeerEvent::Track(track) => {
                let counters = self.counters.clone();
                let Some((ssrc, mime)) = describe(&track).await else {
                    return;
                };
                let track_id = track.track_id().await;
                let video = mime.to_ascii_lowercase().starts_with("video/");
                let Some(session) = self.links.get_mut(&peer) else { return };
                // A share: a Tincan engine names its track `screen-…`; a browser cannot name its tracks, but
                // it sends its share on a later video section than its camera's (so does Tincan).
                let screen =
                    video && (track_id.starts_with(SCREEN_TRACK_PREFIX) || session.on_share_section(&track_id).await);
                // A peer's renegotiations cannot make us start threads without end: a track's threads count
                // until it ends.
                let live = session.tracks.fetch_add(1, Ordering::Relaxed) + 1;
                if live > MAX_TRACKS_PER_LINK {
                    session.tracks.fetch_sub(1, Ordering::Relaxed);
                    tracing::warn!(%peer, "more than {MAX_TRACKS_PER_LINK} tracks from one participant: ignored");
                    if !std::mem::replace(&mut session.told_too_many, true) {
                        let name = self.names.get(&peer).cloned().flatten().unwrap_or_else(|| "Someone".into());
                        self.notice(format!(
                            "{name} sent more than {MAX_TRACKS_PER_LINK} media tracks; only the first {MAX_TRACKS_PER_LINK} are played"
                        ));
                    }
                    return;
                }
                let (sync, decoded, live) = (session.lip_sync.clone(), session.decoded.clone(), session.tracks.clone());
                let span = tracing::info_span!("participant", %peer);
                let ended = move || {
                    live.fetch_sub(1, Ordering::Relaxed);
                };
                if screen {
                    // A share plays as it comes (a lip-sync state of its own, so the camera's is left alone):
                    // its sound, if it has any, rides in the person's audio, behind its picture by the
                    // monitor's latency and the feed's 40 ms queue: not synced.
                    session.remote_sharing = true;
                    // webrtc-rs ends a remote track only with its connection: the share before this one is
                    // stopped here (its threads, and its place among the tracks).
                    if let Some(old) = session.share_task.take() {
                        old.abort();
                        session.tracks.fetch_sub(1, Ordering::Relaxed);
                    }
                    let sync = Arc::new(Mutex::new(LipSync::new(Instant::now())));
                    let sink = self.share_sink_for(&peer).unwrap_or_else(|| Box::new(|_| {}));
                    self.emit(EngineEvent::Share { sharing: true, peer: peer.clone(), what: None });
                    let task = run_video(track, ssrc, mime, sink, Arc::default(), sync, decoded);
                    let handle = tokio::spawn(
                        async move {
                            task.await;
                            ended()
                        }
                        .instrument(span),
                    );
                    if let Some(s) = self.links.get_mut(&peer) {
                        s.share_task = Some(handle.abort_handle());
                    }
                } else if video {
                    let sink = self.sinks_for(&peer, true).0.unwrap_or_else(|| Box::new(|_| {}));
                    let task = run_video(track, ssrc, mime, sink, counters, sync, decoded);
                    tokio::spawn(
                        async move {
                            task.await;
                            ended()
                        }
                        .instrument(span),
                    );
                } else if let (_, Some(sink)) = self.sinks_for(&peer, false) {
                    let task = run_audio(track, ssrc, Box::new(sink), counters, sync, decoded);
                    tokio::spawn(
                        async move {
                            task.await;
                            ended()
                        }
                        .instrument(span),
                    );
                }
            }
            PeerEvent::DataChannel(_) => {}
        }
    }

    /// Each link's decoded-media count, for the machine's silence probe.
    fn report_media(&mut self) {
        let counts: Vec<(PeerId, u64)> =
            self.links.iter().map(|(p, s)| (p.clone(), s.decoded.load(Ordering::Relaxed))).collect();
        for (peer, frames) in counts {
            self.input(Input::MediaDecoded { peer, frames });
        }
    }

    async fn on_control(&mut self, serial: LinkSerial, event: ControlEvent) {
        let Some(peer) = self.peer_of(serial) else { return };
        match event {
            ControlEvent::Open => {
                let ask = self.links.get_mut(&peer).is_some_and(|s| {
                    s.control_open = true;
                    std::mem::take(&mut s.ask_when_open)
                });
                if ask {
                    self.ask_for_offer(&peer).await;
                }
                self.send_media_state().await;
                self.emit(EngineEvent::DataReady { peer });
            }
            ControlEvent::Message(m) => match m {
                ControlMessage::Chat { id, text, sent_at_ms } => {
                    let text: String = text.chars().take(MAX_CHAT_CHARS).collect();
                    if let Some(s) = self.links.get(&peer) {
                        let _ = s.send_control(&ControlMessage::ChatReceived { id: id.clone() }).await;
                    }
                    self.emit(EngineEvent::Chat { id, text, outgoing: false, sent_at_ms, peer });
                }
                ControlMessage::ChatReceived { id } => self.emit(EngineEvent::ChatDelivered { id }),
                ControlMessage::MediaState { audio, video, screen } => {
                    let stopped = self.links.get_mut(&peer).is_some_and(|s| {
                        let was = s.remote_sharing;
                        s.remote_sharing &= screen;
                        if was
                            && !screen
                            && let Some(task) = s.share_task.take()
                        {
                            // Its threads and its place among the tracks go now (webrtc-rs would keep the
                            // track until the connection closes).
                            task.abort();
                            s.tracks.fetch_sub(1, Ordering::Relaxed);
                        }
                        was && !screen
                    });
                    if stopped {
                        self.emit(EngineEvent::Share { sharing: false, peer: peer.clone(), what: None });
                    }
                    self.emit(EngineEvent::RemoteMedia { audio, video, peer })
                }
                ControlMessage::OfferWanted { receive_video } => self.input(Input::OfferWanted { peer, receive_video }),
                ControlMessage::SyncDelays { audio_us, video_us } => {
                    let (audio, video) =
                        (Duration::from_micros(audio_us.into()), Duration::from_micros(video_us.into()));
                    if let Some(s) = self.links.get(&peer) {
                        s.lip_sync.lock().unwrap_or_else(|p| p.into_inner()).set_sender_delays(audio, video);
                    }
                }
                ControlMessage::Bye => self.input(Input::RemoteBye(peer)),
            },
            ControlEvent::Closed => {}
        }
    }

    /// Links whose control channel is open.
    fn open_links(&self) -> impl Iterator<Item = &Session> {
        self.links.values().filter(|s| s.control_open)
    }

    /// Tell everyone whether our microphone and camera are on.
    async fn send_media_state(&self) {
        let audio = self.slots.sends_audio
            && self.switches.microphone.load(Ordering::Relaxed)
            && self.switches.microphone_live.load(Ordering::Relaxed);
        let video = self.slots.sends_video
            && self.switches.camera.load(Ordering::Relaxed)
            && self.switches.camera_live.load(Ordering::Relaxed);
        let message = ControlMessage::MediaState { audio, video, screen: self.share.is_some() };
        for s in self.open_links() {
            let _ = s.send_control(&message).await;
        }
    }

    /// A camera or microphone that stopped delivering (unplugged, taken by another program) or came back: the
    /// peer sees "camera off" / "muted" meanwhile, the front end gets `Sources`.
    async fn watch_sources(&mut self) {
        let live =
            (self.switches.camera_live.load(Ordering::Relaxed), self.switches.microphone_live.load(Ordering::Relaxed));
        if live == self.sources_live {
            return;
        }
        let was = std::mem::replace(&mut self.sources_live, live);
        self.emit(EngineEvent::Sources { camera: live.0, microphone: live.1 });
        if live.0
            && !was.0
            && let Some(sender) = &self.sender
        {
            sender.request_keyframe();
        }
        self.send_media_state().await;
    }

    /// Tell everyone how long after capture our audio and video are sent (for their lip sync), when that
    /// changed by more than 5 ms since they were last told (or someone new came).
    async fn share_send_delays(&mut self) {
        let Some(sender) = &self.sender else { return };
        let (audio_us, video_us) = sender.delays.get();
        let moved = |a: u32, b: u32| a.abs_diff(b) > 5_000;
        if !self.delays_told.is_none_or(|(a, v)| moved(a, audio_us) || moved(v, video_us)) {
            return;
        }
        let mut told = false;
        for s in self.open_links() {
            told |= s.send_control(&ControlMessage::SyncDelays { audio_us, video_us }).await.is_ok();
        }
        if told {
            self.delays_told = Some((audio_us, video_us));
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::HangUp => self.input(Input::HangUp),
            Command::Microphone(on) => {
                self.switches.microphone.store(on, Ordering::Relaxed);
                self.send_media_state().await;
            }
            Command::Camera(on) => {
                self.switches.camera.store(on, Ordering::Relaxed);
                if on && let Some(sender) = &self.sender {
                    // The peers' decoders need a fresh start after a pause.
                    sender.request_keyframe();
                }
                self.send_media_state().await;
            }
            Command::Chat(text, reply) => {
                let result = self.send_chat(text).await;
                let _ = reply.send(result);
            }
            Command::SendFile(path, to, reply) => {
                let _ = reply.send(self.send_file(path, to).await);
            }
            Command::Share(shared) => self.share(shared).await,
            Command::Invite(code, reply) => {
                let result = self.invite(code).await;
                let _ = reply.send(result);
            }
            Command::AcceptFile(peer, id) => {
                // Only the link of the one who offered it: ids are per sender.
                if let Some(s) = self.links.get(&peer) {
                    let _ = s.files.accept(id);
                }
            }
            Command::DeclineFile(peer, id) => {
                if let Some(s) = self.links.get(&peer) {
                    let _ = s.files.decline(id);
                }
            }
            Command::CancelFile(id) => {
                // Each link's file channel cancels what it carries and ignores other ids.
                for s in self.links.values() {
                    if let Err(e) = s.files.cancel(id).await {
                        self.notice(format!("cannot cancel: {e}"));
                    }
                }
            }
        }
    }

    /// Ring `code` into this call's room.
    async fn invite(&mut self, code: PersonalCode) -> Result<()> {
        let in_room = matches!(
            self.core.state(),
            CallState::Waiting | CallState::Connecting | CallState::Connected | CallState::Reconnecting
        );
        let Some(room) = self.room.clone().filter(|_| in_room) else { return Err(EngineError::NotConnected) };
        if !self.core.is_group() {
            return Err(EngineError::Invalid("this call is for two: nobody more fits in its room".into()));
        }
        self.inviting.push(code.clone());
        if let Err(e) = self.client.ring(&code, &self.config.display_name, &room).await {
            self.inviting.retain(|c| *c != code);
            return Err(e.into());
        }
        Ok(())
    }

    /// A file to one participant or to everyone (one transfer id for all).
    async fn send_file(&self, path: std::path::PathBuf, to: Option<String>) -> Result<u64> {
        let recipients: Vec<&Session> = match &to {
            Some(peer) => self.links.get(peer).filter(|s| s.control_open).into_iter().collect(),
            None => self.open_links().collect(),
        };
        if recipients.is_empty() {
            return Err(match to {
                Some(peer) => EngineError::Invalid(format!("{peer} is not in the call")),
                None => EngineError::NotConnected,
            });
        }
        let id = Files::new_id();
        // Started for whoever it could be offered to (a link that is closing cannot take it); an error only
        // if it went to nobody.
        let mut started = false;
        let mut error = None;
        for s in recipients {
            match s.files.send(path.clone(), id).await {
                Ok(_) => started = true,
                Err(e) => error = Some(e),
            }
        }
        match (started, error) {
            (false, Some(e)) => Err(e),
            _ => Ok(id),
        }
    }

    /// A chat message goes to everyone in the call.
    async fn send_chat(&self, text: String) -> Result<String> {
        if self.open_links().next().is_none() {
            return Err(EngineError::NotConnected);
        }
        if text.trim().is_empty() || text.chars().count() > MAX_CHAT_CHARS {
            return Err(EngineError::Invalid(format!("a chat message has 1 to {MAX_CHAT_CHARS} characters")));
        }
        let id = format!("{:016x}", rand::random::<u64>());
        let sent_at_ms = now_ms();
        let message = ControlMessage::Chat { id: id.clone(), text: text.clone(), sent_at_ms };
        for s in self.open_links() {
            s.send_control(&message).await?;
        }
        self.emit(EngineEvent::Chat { id: id.clone(), text, outgoing: true, sent_at_ms, peer: String::new() });
        Ok(id)
    }

    async fn emit_stats(&mut self) {
        if !matches!(self.core.state(), CallState::Connected | CallState::Reconnecting) {
            return;
        }
        // The call's figures: one link's transport (a call for two has one; the same link while it lasts,
        // since rates are differences between its samples) and the media counters.
        let kept = self.stats_link.as_ref().filter(|p| self.links.contains_key(*p)).cloned();
        let Some(link) = kept.or_else(|| self.links.keys().min().cloned()) else { return };
        if self.stats_link.as_ref() != Some(&link) {
            self.stats = StatsSampler::default();
            self.stats_link = Some(link.clone());
        }
        let Some(s) = self.links.get(&link) else { return };
        let codec = self.video_codec.map(|c| c.name().to_owned());
        let mut snapshot = self.stats.sample(&s.pc, &self.counters, codec).await;
        s.name_relay(&mut snapshot.candidate_pair);
        snapshot.voice_processing = self.config.voice_monitor.as_ref().map(|m| m.stats());
        // Each participant's: their link, what was decoded from them, how loud they are.
        for (peer, s) in self.links.iter_mut() {
            let mut figures = ParticipantFigures {
                peer: peer.clone(),
                frames_decoded: s.decoded.load(Ordering::Relaxed),
                audio_level_dbfs: s.level.get(),
                ..Default::default()
            };
            s.stats.sample(&s.pc, &mut figures).await;
            s.name_relay(&mut figures.candidate_pair);
            snapshot.participants.push(figures);
        }
        // With several links the call's transport is all of them: rates summed, the worst round trip and loss.
        if snapshot.participants.len() > 1 {
            let p = &snapshot.participants;
            snapshot.kbps_out = p.iter().map(|f| f.kbps_out).sum();
            snapshot.kbps_in = p.iter().map(|f| f.kbps_in).sum();
            snapshot.rtt_ms = p.iter().filter_map(|f| f.rtt_ms).reduce(f64::max);
            snapshot.loss_percent = p.iter().map(|f| f.loss_percent).fold(0.0, f64::max);
        }
        self.emit(EngineEvent::Stats(Box::new(snapshot)));
    }
}
