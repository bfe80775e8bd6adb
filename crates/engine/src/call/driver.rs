//! The driver task of one call: signaling events, peer connection events, control messages and the front
//! end's commands come in; the [`CallMachine`] decides; the driver performs its actions.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tincan_media::codec::VideoCodec;
use tincan_media::source::{AudioSink, AudioSource, VideoSink, VideoSource};
use tincan_signal::client::{ClientConfig, ClientEvent, SignalClient};
use tincan_signal::code::RoomCode;
use tincan_signal::protocol::{ErrorCode, IceServer, PeerId, ServerMessage, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;
use webrtc::data_channel::RTCDataChannelState;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription};

use super::session::{ControlEvent, Session};
use super::{CallAction, CallConfig, CallInput, CallMachine, CallState, Command, EndReason, Target};
use crate::data::control::{ControlMessage, MAX_CHAT_CHARS};
use crate::events::EngineEvent;
use crate::media::MediaCounters;
use crate::media::receive::{SharedSync, describe, run_audio, run_video};
use crate::media::send::{SendSwitches, Sender};
use crate::media::sync::LipSync;
use crate::peer::PeerEvent;
use crate::sas::{sdp_fingerprint, short_authentication_string};
use crate::stats::StatsSampler;
use crate::{EngineError, Result};

/// How long a goodbye may take to leave before the connection is closed anyway.
const BYE_GRACE: Duration = Duration::from_millis(300);
/// How long a hang-up waits for a data channel that is still opening, to say goodbye on it.
const BYE_WAIT_FOR_CHANNEL: Duration = Duration::from_secs(2);
/// Inbound media silent this long in a connected call: check the signaling connection. After a network
/// change the path may still answer ICE consent checks for a while (the other side answers our new address)
/// while media goes to the old one; finding a dead signaling connection early lets the ICE restart through.
const MEDIA_SILENCE: Duration = Duration::from_millis(500);

/// Still not connected this long after the offer, with a TURN server at hand: the offerer starts over with
/// relay-only peers. Between two symmetric NATs only a relayed path exists, and webrtc-rs 0.21 does not
/// complete it when every candidate type is gathered (its TURN client is refused after a stale nonce);
/// relay-only, the same path connects in a few hundred milliseconds. Direct paths normally connect well
/// within this.
const RELAY_FALLBACK_AFTER: Duration = Duration::from_secs(5);
/// Marks the offer of a relay-only restart (ignored by peers that do not know it, e.g. browsers).
const FALLBACK_KEY: &str = "tincan_fallback";

/// While reconnecting, an ICE-restart offer with no answer is sent again this often: the path that carried
/// it may have been the one that broke (the other side's signaling connection reconnects meanwhile).
const RESTART_RESEND: Duration = Duration::from_millis(1000);

/// Sources and sinks wait here until the call needs them. A mutex makes the driver `Sync` (they are only
/// `Send`); it is never contended.
struct Slots {
    video_source: Mutex<Option<Box<dyn VideoSource>>>,
    audio_source: Mutex<Option<Box<dyn AudioSource>>>,
    video_sink: Mutex<Option<Box<dyn VideoSink>>>,
    audio_sink: Mutex<Option<Box<dyn AudioSink>>>,
    sends_video: bool,
    sends_audio: bool,
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The plain settings of the call (the config less its sources and sinks).
struct Settings {
    display_name: String,
    peer: crate::peer::PeerSettings,
    extra_ice_servers: Vec<IceServer>,
    download_dir: std::path::PathBuf,
    stats_interval: Duration,
    reconnect_timeout: Duration,
}

struct Driver {
    config: Settings,
    slots: Slots,
    target: Target,
    machine: CallMachine,
    client: SignalClient,
    events: mpsc::UnboundedSender<EngineEvent>,
    room: Option<RoomCode>,
    remote: Option<PeerId>,
    ring: Option<String>,
    ice_servers: Vec<IceServer>,
    session: Option<Session>,
    control_tx: mpsc::UnboundedSender<ControlEvent>,
    counters: Arc<MediaCounters>,
    /// Ties the remote audio and video together (shared by their receive tasks).
    lip_sync: SharedSync,
    /// The send delays the peer was last told (µs).
    delays_told: Option<(u32, u32)>,
    switches: Arc<SendSwitches>,
    /// Whether the camera and microphone delivered at the last look (the peer is told when that changes).
    sources_live: (bool, bool),
    sender: Option<Sender>,
    stats: StatsSampler,
    video_codec: Option<VideoCodec>,
    reconnect_deadline: Option<Instant>,
    restart_resend: Option<Instant>,
    relay_fallback: Option<Instant>,
    /// This call started over relay-only (its offers say so).
    fell_back: bool,
    /// The other side's answers say it follows a relay-only start-over (Tincan engines do, browsers not).
    peer_follows_fallback: bool,
    media_watch: MediaWatch,
    started: bool,
}

/// When inbound media last moved, for [`MEDIA_SILENCE`].
struct MediaWatch {
    count: u64,
    changed: Instant,
    probed: bool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

async fn next_peer_event(session: &mut Option<Session>) -> Option<PeerEvent> {
    match session {
        Some(s) => s.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn deadline(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
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
        download_dir,
        stats_interval,
        reconnect_timeout,
    } = config;
    let mut client_config = ClientConfig::new(server_url, client_name);
    if let Some(identity) = identity {
        // The identity proves who rings; the code stays registered with the front end's presence connection.
        client_config = client_config.with_caller_identity(identity);
    }
    let (client, mut signal_events) = SignalClient::connect(client_config);
    let (control_tx, mut control_rx) = mpsc::unbounded_channel();
    let slots = Slots {
        sends_video: video_source.is_some(),
        sends_audio: audio_source.is_some(),
        video_source: Mutex::new(video_source),
        audio_source: Mutex::new(audio_source),
        video_sink: Mutex::new(video_sink),
        audio_sink: Mutex::new(audio_sink),
    };
    let config = Settings { display_name, peer, extra_ice_servers, download_dir, stats_interval, reconnect_timeout };
    let mut d = Driver {
        config,
        slots,
        target,
        machine: CallMachine::default(),
        client,
        events,
        room: None,
        remote: None,
        ring: None,
        ice_servers: Vec::new(),
        session: None,
        control_tx,
        counters: Arc::default(),
        lip_sync: Arc::new(Mutex::new(LipSync::new(std::time::Instant::now()))),
        delays_told: None,
        switches: Arc::default(),
        sources_live: (true, true),
        sender: None,
        stats: StatsSampler::default(),
        video_codec: None,
        reconnect_deadline: None,
        restart_resend: None,
        relay_fallback: None,
        fell_back: false,
        peer_follows_fallback: false,
        media_watch: MediaWatch { count: 0, changed: Instant::now(), probed: false },
        started: false,
    };
    let mut stats_tick = tokio::time::interval(d.config.stats_interval);
    let mut media_tick = tokio::time::interval(MEDIA_SILENCE / 2);
    d.emit(EngineEvent::state(CallState::Idle));
    while !matches!(d.machine.state(), CallState::Ended(_)) {
        tokio::select! {
            event = signal_events.recv() => match event {
                Some(e) => d.on_signal(e).await,
                None => d.input(CallInput::Fail("the signaling client stopped".into())).await,
            },
            event = next_peer_event(&mut d.session) => if let Some(e) = event { d.on_peer(e).await },
            Some(event) = control_rx.recv() => d.on_control(event).await,
            command = commands.recv() => match command {
                Some(c) => d.on_command(c).await,
                None => d.input(CallInput::HangUp).await,
            },
            _ = stats_tick.tick() => d.emit_stats().await,
            _ = media_tick.tick() => {
                d.watch_media();
                d.watch_sources().await;
                d.share_send_delays().await;
            }
            _ = deadline(d.reconnect_deadline) => {
                d.reconnect_deadline = None;
                d.input(CallInput::TransportFailed).await;
            }
            _ = deadline(d.restart_resend) => d.resend_restart().await,
            _ = deadline(d.relay_fallback) => d.fall_back_to_relay().await,
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

    async fn input(&mut self, input: CallInput) {
        let before = self.machine.state().clone();
        tracing::debug!(?input, state = ?before, "call input");
        let actions = self.machine.handle(input);
        for action in actions {
            if let Err(e) = self.act(action).await {
                tracing::warn!("call action failed: {e}");
                let actions = self.machine.handle(CallInput::Fail(e.to_string()));
                for a in actions {
                    if let CallAction::TearDown { .. } = a {
                        self.tear_down(false).await;
                    }
                }
            }
        }
        let after = self.machine.state().clone();
        if after != before {
            match &after {
                CallState::Reconnecting => {
                    self.reconnect_deadline = Some(Instant::now() + self.config.reconnect_timeout);
                    // The network may have changed under the signaling connection too: check it now, so
                    // that the restart's offer and answer have a way through.
                    self.client.probe();
                }
                CallState::Connecting if self.machine.is_offerer() && self.can_fall_back() => {
                    self.relay_fallback = Some(Instant::now() + RELAY_FALLBACK_AFTER);
                }
                CallState::Connected => {
                    self.reconnect_deadline = None;
                    self.restart_resend = None;
                    self.relay_fallback = None;
                    if let Err(e) = self.start_media().await {
                        self.notice(format!("cannot start sending media: {e}"));
                    }
                    // After a reconnect the peer's decoder may have lost its reference: start afresh.
                    if let Some(c) = self.sender.as_ref().and_then(|s| s.encoder.get()) {
                        c.request_keyframe();
                    }
                }
                CallState::Ended(_) if self.session.is_some() => self.tear_down(false).await,
                _ => {}
            }
            self.emit(EngineEvent::state(after));
        }
    }

    async fn act(&mut self, action: CallAction) -> Result<()> {
        match action {
            CallAction::Ring => {
                let Target::Contact(code) = &self.target else {
                    return Ok(());
                };
                let room = RoomCode::generate();
                self.room = Some(room.clone());
                self.client.ring(code, &self.config.display_name, &room).await?;
            }
            CallAction::JoinRoom => {
                let room = self.room.clone().ok_or_else(|| EngineError::Invalid("no room to join".into()))?;
                let create = match &self.target {
                    Target::Room { create, .. } => *create,
                    Target::Contact(_) => true,
                };
                self.client.join(&room, create, None, Some(self.config.display_name.clone()))?;
            }
            // Answering is done on the registered presence connection that received the ring (the CLI's
            // `listen`, the app's tray connection), not on the call's own connection.
            CallAction::AcceptRing | CallAction::DeclineRing => {}
            CallAction::CancelRing => {
                if let Some(call) = self.ring.clone() {
                    self.client.cancel_ring(call).await?;
                }
            }
            CallAction::StartPeer { offer } => self.start_peer(offer).await?,
            CallAction::RestartIce => {
                if let Some(s) = self.session.as_mut() {
                    let offer = s.offer(true).await?;
                    self.signal(SignalKind::IceRestart, serde_json::to_value(&offer)?).await;
                    self.restart_resend = Some(Instant::now() + RESTART_RESEND);
                }
            }
            CallAction::TearDown { say_bye } => self.tear_down(say_bye).await,
        }
        Ok(())
    }

    /// A camera or microphone that stopped delivering (unplugged, taken by another program) or came back: the
    /// peer sees "camera off" / "muted" meanwhile, the front end gets a notice.
    async fn watch_sources(&mut self) {
        let live =
            (self.switches.camera_live.load(Ordering::Relaxed), self.switches.microphone_live.load(Ordering::Relaxed));
        if live == self.sources_live {
            return;
        }
        let was = std::mem::replace(&mut self.sources_live, live);
        for (what, before, now) in [("camera", was.0, live.0), ("microphone", was.1, live.1)] {
            if before != now {
                self.notice(if now { format!("the {what} is back") } else { format!("the {what} stopped delivering") });
            }
        }
        if live.0
            && !was.0
            && let Some(c) = self.sender.as_ref().and_then(|s| s.encoder.get())
        {
            c.request_keyframe();
        }
        self.send_media_state().await;
    }

    /// Tell the peer how long after capture our audio and video are sent (for its lip sync), when that
    /// changed by more than 5 ms since it was last told.
    async fn share_send_delays(&mut self) {
        let (Some(sender), Some(s)) = (&self.sender, &self.session) else { return };
        if !s.control_open {
            return;
        }
        let (audio_us, video_us) = sender.delays.get();
        let moved = |a: u32, b: u32| a.abs_diff(b) > 5_000;
        if self.delays_told.is_none_or(|(a, v)| moved(a, audio_us) || moved(v, video_us))
            && s.send_control(&ControlMessage::SyncDelays { audio_us, video_us }).await.is_ok()
        {
            self.delays_told = Some((audio_us, video_us));
        }
    }

    /// Probe the signaling connection once per spell of inbound media silence in a connected call.
    fn watch_media(&mut self) {
        let live = matches!(self.machine.state(), CallState::Connected)
            && self.session.as_ref().is_some_and(|s| s.media_started);
        let count = self.counters.audio_frames_decoded.load(Ordering::Relaxed)
            + self.counters.video_frames_decoded.load(Ordering::Relaxed);
        let w = &mut self.media_watch;
        if !live || count != w.count {
            *w = MediaWatch { count, changed: Instant::now(), probed: false };
        } else if !w.probed && w.changed.elapsed() >= MEDIA_SILENCE {
            w.probed = true;
            tracing::debug!("no media for {MEDIA_SILENCE:?}: checking the signaling connection");
            self.client.probe();
        }
    }

    /// A TURN server is at hand and this call is not relay-only yet.
    fn can_fall_back(&self) -> bool {
        !self.config.peer.relay_only
            && self
                .ice_servers
                .iter()
                .chain(&self.config.extra_ice_servers)
                .flat_map(|s| &s.urls)
                .any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
    }

    /// Start over relay-only (see [`RELAY_FALLBACK_AFTER`]): a new peer connection and a marked offer.
    async fn fall_back_to_relay(&mut self) {
        self.relay_fallback = None;
        if !matches!(self.machine.state(), CallState::Connecting) || !self.machine.is_offerer() {
            return;
        }
        if !self.peer_follows_fallback {
            tracing::info!("not connected after {RELAY_FALLBACK_AFTER:?}, and the other side cannot start over");
            return;
        }
        tracing::info!("not connected after {RELAY_FALLBACK_AFTER:?}: starting over relay-only");
        self.notice("no direct path yet: trying through the relay server");
        self.fell_back = true;
        self.replace_session_relay_only().await;
        if let Err(e) = self.start_peer(true).await {
            self.input(CallInput::Fail(format!("the relay attempt could not start: {e}"))).await;
        }
    }

    /// Close the current peer connection (staying in the room) and make later ones relay-only.
    async fn replace_session_relay_only(&mut self) {
        self.config.peer.relay_only = true;
        if let Some(old) = self.session.take()
            && let Err(e) = old.pc.close().await
        {
            tracing::debug!("close: {e}");
        }
    }

    /// Send the unanswered ICE-restart offer again (while reconnecting), and keep doing so.
    async fn resend_restart(&mut self) {
        self.restart_resend = None;
        if !matches!(self.machine.state(), CallState::Reconnecting) {
            return;
        }
        let Some(offer) = self.session.as_ref().and_then(|s| s.unanswered.clone()) else { return };
        if let Ok(data) = serde_json::to_value(&offer) {
            tracing::debug!("re-sending the ICE restart offer");
            self.signal(SignalKind::IceRestart, data).await;
        }
        self.restart_resend = Some(Instant::now() + RESTART_RESEND);
    }

    async fn signal(&self, kind: SignalKind, data: serde_json::Value) {
        if let Err(e) = self.client.signal(self.remote.clone(), kind, data).await {
            tracing::debug!("signal not sent: {e}");
        }
    }

    async fn start_peer(&mut self, offer: bool) -> Result<()> {
        if self.session.is_some() {
            return Ok(());
        }
        let mut settings = self.config.peer.clone();
        settings.ice_servers = self.ice_servers.iter().chain(&self.config.extra_ice_servers).cloned().collect();
        let mut session = Session::open(
            &settings,
            self.slots.sends_video,
            self.slots.sends_audio,
            self.config.download_dir.clone(),
            self.control_tx.clone(),
            self.events.clone(),
        )
        .await?;
        self.delays_told = None;
        if offer {
            let description = session.offer(false).await?;
            self.session = Some(session);
            let mut data = serde_json::to_value(&description)?;
            if self.fell_back {
                data[FALLBACK_KEY] = "relay".into();
            }
            self.signal(SignalKind::Offer, data).await;
        } else {
            self.session = Some(session);
        }
        Ok(())
    }

    /// Negotiation finished (answer applied): compute the verification digits; start sending once the path
    /// is up (RTP written before DTLS finishes is thrown away, keyframe included).
    async fn negotiated(&mut self) -> Result<()> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        if !session.verified {
            let local = session.pc.local_description().await.and_then(|d| sdp_fingerprint(&d.sdp));
            let remote = session.pc.remote_description().await.and_then(|d| sdp_fingerprint(&d.sdp));
            if let (Some(l), Some(r)) = (local, remote) {
                session.verified = true;
                self.events.send(EngineEvent::Verification { sas: short_authentication_string(&l, &r) }).ok();
            }
        }
        session.negotiated = true;
        if matches!(self.machine.state(), CallState::Connected) {
            self.start_media().await?;
        }
        Ok(())
    }

    async fn start_media(&mut self) -> Result<()> {
        let Some(session) = self.session.as_mut() else { return Ok(()) };
        if session.media_started || !session.negotiated {
            return Ok(());
        }
        session.media_started = true;
        let bandwidth = session.bandwidth.clone();
        let (video, audio) = session.outlets().await?;
        let mut sender = Sender::new(self.switches.clone());
        if let (Some((outlet, codec)), Some(source)) = (video, take(&self.slots.video_source)) {
            self.video_codec = Some(codec);
            sender.start_video(source, codec, outlet, bandwidth, self.counters.clone());
        }
        if let (Some(outlet), Some(source)) = (audio, take(&self.slots.audio_source)) {
            sender.start_audio(source, outlet, self.counters.clone());
        }
        self.sender = Some(sender);
        Ok(())
    }

    async fn on_signal(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected { ice_servers, reconnected, .. } => {
                self.ice_servers = ice_servers;
                if reconnected {
                    self.notice("reconnected to the signaling server");
                    self.resend_restart().await;
                }
                if !self.started {
                    self.started = true;
                    match self.target.clone() {
                        Target::Room { code, .. } => {
                            self.room = Some(code);
                            self.input(CallInput::Join).await;
                        }
                        Target::Contact(_) => self.input(CallInput::Dial).await,
                    }
                }
            }
            ClientEvent::Disconnected { reason, .. } => {
                if self.started {
                    self.notice(format!("signaling connection lost ({reason}); retrying"));
                } else {
                    // Never reached: say so now rather than spin (presence keeps retrying in the background).
                    tracing::info!("signaling server unreachable: {reason}");
                    self.input(CallInput::ServerUnreachable).await;
                }
            }
            ClientEvent::Message(m) => self.on_server(m).await,
        }
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

    async fn on_server(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Ringing { call, .. } => self.ring = Some(call),
            ServerMessage::Accepted { call, room } if self.ring_matches(&call) => {
                if let Ok(room) = RoomCode::parse(&room) {
                    self.room = Some(room);
                }
                self.input(CallInput::RingAccepted).await;
            }
            ServerMessage::Declined { call } if self.ring_matches(&call) => self.input(CallInput::RingDeclined).await,
            ServerMessage::Unavailable { call, .. } if self.ring_matches(&call) => {
                self.input(CallInput::RingUnavailable).await
            }
            ServerMessage::Missed { call } if self.ring_matches(&call) => self.input(CallInput::RingMissed).await,
            ServerMessage::Joined { peers, .. } => {
                if let Some(p) = peers.first() {
                    self.remote = Some(p.id.clone());
                }
                self.input(CallInput::Joined { others: peers.len() }).await;
            }
            ServerMessage::PeerJoined { peer, .. } => {
                self.remote = Some(peer.id);
                self.input(CallInput::PeerArrived).await;
                // The other side came back on a new connection (e.g. after a network change).
                self.resend_restart().await;
            }
            ServerMessage::PeerLeft { peer_id, .. } if self.remote.as_ref() == Some(&peer_id) => {
                self.input(CallInput::PeerLeft).await;
            }
            ServerMessage::Signal { from, kind, data, .. } => {
                self.remote = Some(from);
                if let Err(e) = self.on_remote_signal(kind, data).await {
                    tracing::warn!("remote {kind:?} refused: {e}");
                    self.notice(format!("the other side sent an unusable {kind:?}: {e}"));
                }
            }
            ServerMessage::Error { code, message, request } => {
                let reason = match code {
                    ErrorCode::RoomFull => Some(EndReason::RoomFull),
                    ErrorCode::RoomNotFound => Some(EndReason::RoomNotFound),
                    _ => None,
                };
                match (request.as_deref(), reason) {
                    (Some("join"), Some(reason)) => self.input(CallInput::JoinRefused(reason)).await,
                    (Some("join" | "ring"), None) => self.input(CallInput::Fail(message)).await,
                    _ => self.notice(message),
                }
            }
            _ => {}
        }
    }

    async fn on_remote_signal(&mut self, kind: SignalKind, data: serde_json::Value) -> Result<()> {
        match kind {
            SignalKind::Offer | SignalKind::IceRestart => {
                let fallback = data.get(FALLBACK_KEY).and_then(|v| v.as_str()) == Some("relay");
                // Not once media flows: the sources and sinks went to the connection that carries it.
                let replaceable = self.session.as_ref().is_none_or(|s| !s.media_started);
                if fallback && !self.config.peer.relay_only && replaceable {
                    // The offerer started over relay-only: so do we, with a new connection.
                    tracing::info!("the other side starts over relay-only");
                    self.replace_session_relay_only().await;
                    self.start_peer(false).await?;
                }
                if self.session.is_none() {
                    // The offer overtook the arrival notice: we are the answerer.
                    self.input(CallInput::PeerArrived).await;
                }
                let offer: RTCSessionDescription = serde_json::from_value(data)?;
                let Some(session) = self.session.as_mut() else {
                    return Ok(());
                };
                let answer = session.answer(offer).await?;
                let mut data = serde_json::to_value(&answer)?;
                // Tells the offerer this side follows a relay-only start-over (a browser would not).
                data[FALLBACK_KEY] = "supported".into();
                self.signal(SignalKind::Answer, data).await;
                self.negotiated().await?;
            }
            SignalKind::Answer => {
                if data.get(FALLBACK_KEY).and_then(|v| v.as_str()) == Some("supported") {
                    self.peer_follows_fallback = true;
                }
                let answer: RTCSessionDescription = serde_json::from_value(data)?;
                let Some(session) = self.session.as_mut() else {
                    return Ok(());
                };
                if !session.accept_answer(answer).await? {
                    tracing::debug!("an answer to an offer already answered (it was sent twice): ignored");
                    return Ok(());
                }
                self.restart_resend = None;
                self.negotiated().await?;
            }
            SignalKind::Candidate => {
                let candidate: RTCIceCandidateInit = serde_json::from_value(data)?;
                if let Some(session) = self.session.as_mut() {
                    session.add_candidate(candidate).await;
                }
            }
            SignalKind::EndOfCandidates => {}
        }
        Ok(())
    }

    async fn on_peer(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Candidate(json) => self.signal(SignalKind::Candidate, json).await,
            PeerEvent::State(state) => match state {
                RTCPeerConnectionState::Connected => self.input(CallInput::TransportConnected).await,
                RTCPeerConnectionState::Disconnected => self.input(CallInput::TransportInterrupted).await,
                RTCPeerConnectionState::Failed => self.input(CallInput::TransportFailed).await,
                _ => {}
            },
            PeerEvent::Track(track) => {
                let counters = self.counters.clone();
                let Some((ssrc, mime)) = describe(&track).await else {
                    return;
                };
                if mime.to_ascii_lowercase().starts_with("video/") {
                    let sink: Box<dyn VideoSink> = take(&self.slots.video_sink).unwrap_or_else(|| Box::new(|_| {}));
                    tokio::spawn(run_video(track, ssrc, mime, sink, counters, self.lip_sync.clone()));
                } else {
                    let sink: Box<dyn AudioSink> = take(&self.slots.audio_sink).unwrap_or_else(|| Box::new(|_| {}));
                    tokio::spawn(run_audio(track, ssrc, sink, counters, self.lip_sync.clone()));
                }
            }
            PeerEvent::DataChannel(_) => {}
        }
    }

    async fn on_control(&mut self, event: ControlEvent) {
        match event {
            ControlEvent::Open => {
                if let Some(s) = self.session.as_mut() {
                    s.control_open = true;
                }
                self.send_media_state().await;
                self.emit(EngineEvent::DataReady);
            }
            ControlEvent::Message(m) => match m {
                ControlMessage::Chat { id, text, sent_at_ms } => {
                    let text: String = text.chars().take(MAX_CHAT_CHARS).collect();
                    if let Some(s) = &self.session {
                        let _ = s.send_control(&ControlMessage::ChatReceived { id: id.clone() }).await;
                    }
                    self.emit(EngineEvent::Chat { id, text, outgoing: false, sent_at_ms });
                }
                ControlMessage::ChatReceived { id } => self.emit(EngineEvent::ChatDelivered { id }),
                ControlMessage::MediaState { audio, video } => self.emit(EngineEvent::RemoteMedia { audio, video }),
                ControlMessage::SyncDelays { audio_us, video_us } => {
                    let (audio, video) =
                        (Duration::from_micros(audio_us.into()), Duration::from_micros(video_us.into()));
                    self.lip_sync.lock().unwrap_or_else(|p| p.into_inner()).set_sender_delays(audio, video);
                }
                ControlMessage::Bye => self.input(CallInput::RemoteBye).await,
            },
            ControlEvent::Closed => {}
        }
    }

    async fn send_media_state(&self) {
        let Some(s) = &self.session else { return };
        if !s.control_open {
            return;
        }
        let audio = self.slots.sends_audio
            && self.switches.microphone.load(Ordering::Relaxed)
            && self.switches.microphone_live.load(Ordering::Relaxed);
        let video = self.slots.sends_video
            && self.switches.camera.load(Ordering::Relaxed)
            && self.switches.camera_live.load(Ordering::Relaxed);
        let message = ControlMessage::MediaState { audio, video };
        let _ = s.send_control(&message).await;
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::HangUp => self.input(CallInput::HangUp).await,
            Command::Microphone(on) => {
                self.switches.microphone.store(on, Ordering::Relaxed);
                self.send_media_state().await;
            }
            Command::Camera(on) => {
                self.switches.camera.store(on, Ordering::Relaxed);
                if on {
                    // The peer's decoder needs a fresh start after a pause.
                    if let Some(c) = self.sender.as_ref().and_then(|s| s.encoder.get()) {
                        c.request_keyframe();
                    }
                }
                self.send_media_state().await;
            }
            Command::Chat(text, reply) => {
                let result = self.send_chat(text).await;
                let _ = reply.send(result);
            }
            Command::SendFile(path, reply) => {
                let result = match &self.session {
                    Some(s) if s.control_open => s.files.send(path).await,
                    _ => Err(EngineError::NotConnected),
                };
                let _ = reply.send(result);
            }
            Command::CancelFile(id) => {
                if let Some(s) = &self.session
                    && let Err(e) = s.files.cancel(id).await
                {
                    self.notice(format!("cannot cancel: {e}"));
                }
            }
        }
    }

    async fn send_chat(&self, text: String) -> Result<String> {
        let Some(s) = self.session.as_ref().filter(|s| s.control_open) else {
            return Err(EngineError::NotConnected);
        };
        if text.trim().is_empty() || text.chars().count() > MAX_CHAT_CHARS {
            return Err(EngineError::Invalid(format!("a chat message has 1 to {MAX_CHAT_CHARS} characters")));
        }
        let id = format!("{:016x}", rand::random::<u64>());
        let sent_at_ms = now_ms();
        s.send_control(&ControlMessage::Chat { id: id.clone(), text: text.clone(), sent_at_ms }).await?;
        self.emit(EngineEvent::Chat { id: id.clone(), text, outgoing: true, sent_at_ms });
        Ok(id)
    }

    async fn emit_stats(&mut self) {
        if !matches!(self.machine.state(), CallState::Connected | CallState::Reconnecting) {
            return;
        }
        let Some(s) = &self.session else { return };
        let codec = self.video_codec.map(|c| c.name().to_owned());
        let snapshot = self.stats.sample(&s.pc, &self.counters, codec).await;
        self.emit(EngineEvent::Stats(Box::new(snapshot)));
    }

    /// Say goodbye if asked, leave the room, stop the media and close the connection.
    async fn tear_down(&mut self, say_bye: bool) {
        if let Some(s) = self.session.take() {
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
            self.sender = None;
            if let Err(e) = s.pc.close().await {
                tracing::debug!("close: {e}");
            }
        }
        self.sender = None;
        let _ = self.client.leave();
    }
}
