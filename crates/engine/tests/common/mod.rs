//! Two engines in a call through the real signaling server on loopback.
#![allow(dead_code)]

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tincan_engine::peer::PeerSettings;
use tincan_engine::{Call, CallConfig, EngineEvent, Target};
use tincan_media::codec::VideoCodec;
use tincan_media::source::AudioSink;
use tincan_media::synthetic::{Stamp, TestPattern, ToneSource, Waveform, read_stamp, wall_clock_us};
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer};
use tokio::sync::mpsc::UnboundedReceiver;

pub const WAIT: Duration = Duration::from_secs(15);

/// Logs to the test output when `TINCAN_LOG` is set (e.g. `TINCAN_LOG=tincan_engine=debug`).
pub fn init_logs() {
    tincan_log::init_for_tests();
}

pub async fn server() -> SignalServer {
    init_logs();
    SignalServer::start(ServerConfig::loopback_unlimited()).await.expect("server")
}

/// What a peer's sinks saw.
pub struct Received {
    /// Stamps of decoded frames, with their age (capture → decoded) in microseconds.
    pub stamps: std_mpsc::Receiver<(Option<Stamp>, u32)>,
    pub audio: std_mpsc::Receiver<Vec<i16>>,
}

pub struct PeerOptions {
    pub codec: VideoCodec,
    pub size: (u32, u32),
    pub tone_hz: f64,
    pub video: bool,
    pub audio: bool,
    pub download_dir: std::path::PathBuf,
    /// Offered files are taken unless a test says otherwise.
    pub file_policy: tincan_engine::FilePolicy,
    /// The audio sink says what it gets is heard this long after (as a speaker with its buffer would).
    pub speaker_latency: Option<Duration>,
    /// A voice processor whose figures the call's stats report.
    pub voice_monitor: Option<std::sync::Arc<dyn tincan_media::voice::VoiceMonitor>>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            codec: VideoCodec::Vp8,
            size: (320, 240),
            tone_hz: 440.0,
            video: true,
            audio: true,
            download_dir: std::env::temp_dir(),
            file_policy: tincan_engine::FilePolicy::Accept,
            speaker_latency: None,
            voice_monitor: None,
        }
    }
}

pub fn config(url: &str, name: &str, o: &PeerOptions) -> (CallConfig, Received) {
    let mut c = CallConfig::new(url);
    c.display_name = name.into();
    c.peer = PeerSettings { video_codecs: vec![o.codec], ..PeerSettings::loopback() };
    c.download_dir = o.download_dir.clone();
    c.file_policy = o.file_policy;
    c.stats_interval = Duration::from_millis(500);
    c.voice_monitor = o.voice_monitor.clone();
    if o.video {
        c.video_source = Some(Box::new(TestPattern::new(o.size.0, o.size.1, 30, true).unwrap()));
    }
    if o.audio {
        c.audio_source = Some(Box::new(ToneSource::new(Waveform::Sine { hz: o.tone_hz }, 0.5, true)));
    }
    let (stamp_tx, stamps) = std_mpsc::channel();
    let (audio_tx, audio) = std_mpsc::channel();
    c.video_sink = Some(Box::new(move |f| {
        let _ = stamp_tx.send((read_stamp(&f), wall_clock_us()));
    }));
    c.audio_sink = Some(Box::new(Speaker { frames: audio_tx, latency: o.speaker_latency }));
    (c, Received { stamps, audio })
}

/// The audio sink of a test peer: passes samples on, and claims a latency if asked to.
struct Speaker {
    frames: std_mpsc::Sender<Vec<i16>>,
    latency: Option<Duration>,
}

impl AudioSink for Speaker {
    fn on_frame(&mut self, frame: tincan_media::AudioFrame) {
        let _ = self.frames.send(frame.samples);
    }

    fn latency(&self) -> Option<Duration> {
        self.latency
    }
}

/// Wait for an event `pick` accepts (others skipped); panics after `WAIT`.
pub async fn until<T>(
    events: &mut UnboundedReceiver<EngineEvent>,
    what: &str,
    mut pick: impl FnMut(&EngineEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = events.recv().await.unwrap_or_else(|| panic!("events ended while waiting for {what}"));
            if let Some(t) = pick(&e) {
                return t;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
}

pub async fn state(events: &mut UnboundedReceiver<EngineEvent>, wanted: &str) -> Option<String> {
    until(events, wanted, |e| match e {
        EngineEvent::State { state, reason, .. } if state == wanted => Some(reason.clone()),
        EngineEvent::State { state, reason, .. } if state == "ended" => {
            panic!("ended ({reason:?}) while waiting for {wanted}")
        }
        _ => None,
    })
    .await
}

/// Wait for `connected`, returning the verification digits seen on the way.
pub async fn connected(events: &mut UnboundedReceiver<EngineEvent>) -> String {
    let mut sas = None;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let e = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => panic!("events ended before connecting; states seen: {seen:?}"),
            Err(_) => panic!("not connected within {WAIT:?}; states seen: {seen:?}"),
        };
        match e {
            EngineEvent::Verification { sas: s, .. } => sas = Some(s),
            EngineEvent::State { state, reason, .. } => {
                seen.push(state.clone());
                match state.as_str() {
                    "connected" => break,
                    "ended" => panic!("ended ({reason:?}) before connecting"),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    sas.expect("verification digits before connected")
}

pub struct Pair {
    pub a: Call,
    pub a_events: UnboundedReceiver<EngineEvent>,
    pub a_got: Received,
    pub b: Call,
    pub b_events: UnboundedReceiver<EngineEvent>,
    pub b_got: Received,
    pub a_sas: String,
    pub b_sas: String,
}

/// A and B meet in a fresh room and connect.
pub async fn connected_pair(url: &str, a: PeerOptions, b: PeerOptions) -> Pair {
    let room = RoomCode::generate();
    let (ca, a_got) = config(url, "Ada", &a);
    let (cb, b_got) = config(url, "Bo", &b);
    let (a, mut a_events) = Call::start(ca, Target::Room { code: room.clone(), create: true });
    // In the room for real (not just asked to be), so B finds A there.
    state(&mut a_events, "waiting").await;
    let (b, mut b_events) = Call::start(cb, Target::Room { code: room, create: false });
    let a_sas = connected(&mut a_events).await;
    let b_sas = connected(&mut b_events).await;
    Pair { a, a_events, a_got, b, b_events, b_got, a_sas, b_sas }
}

/// Everything `rx` yields during `duration`.
fn drain_for<T>(rx: &std_mpsc::Receiver<T>, duration: Duration) -> Vec<T> {
    let end = std::time::Instant::now() + duration;
    let mut out = Vec::new();
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(item) => out.push(item),
            Err(_) => break,
        }
    }
    out
}

/// Decoded stamps during `duration`.
pub fn stamps_for(rx: &std_mpsc::Receiver<(Option<Stamp>, u32)>, duration: Duration) -> Vec<(Option<Stamp>, u32)> {
    drain_for(rx, duration)
}

/// Decoded audio samples during `duration`.
pub fn audio_for(rx: &std_mpsc::Receiver<Vec<i16>>, duration: Duration) -> Vec<i16> {
    drain_for(rx, duration).into_iter().flatten().collect()
}
