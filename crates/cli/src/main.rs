//! `tincan-cli`: a headless Tincan peer. It joins a room or rings a contact, sends a test pattern and a
//! tone (or nothing), can chat and send a file, and prints every event as a JSON line on stdout, ending with
//! a summary of what it received (frames, gaps, latency, tone frequency) that tests and benchmarks read.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tincan_devices::Notices;
use tincan_devices::audio::{
    Direction, Microphone, MicrophoneMonitor, MicrophoneOptions, Processing, Speaker, SpeakerMonitor, SpeakerOptions,
    SystemSound, VoiceProcessor,
};
use tincan_devices::camera::{CameraOptions, CameraSource, Nokhwa, Wanted};
use tincan_devices::screen::{ScreenSource, Target as ScreenTarget};
use tincan_engine::peer::PeerSettings;
use tincan_engine::phone::{Phone, PhoneConfig, PhoneEvent};
use tincan_engine::{Call, CallConfig, CallState, EngineEvent, FilePolicy, Target};
use tincan_media::codec::VideoCodec;
use tincan_media::source::AudioSink;
use tincan_media::synthetic::{TestPattern, ToneSource, Waveform};
use tincan_signal::code::{PersonalCode, RoomCode};
use tincan_signal::identity::Identity;
use tokio::sync::mpsc;

use received::{People, PeopleSinks, Received};

mod received;
mod snapshot;

#[derive(Parser)]
#[command(name = "tincan-cli", version, about = "A headless Tincan peer (events as JSON lines on stdout)")]
struct Cli {
    /// Signaling server
    #[arg(long, env = "TINCAN_SERVER", default_value = "ws://127.0.0.1:7878/ws", global = true)]
    server: String,
    /// Display name shown to the other side
    #[arg(long, default_value = "tincan-cli", global = true)]
    name: String,
    /// Identity key file (created if missing) [default: ~/.local/share/tincan/identity.key]
    #[arg(long, global = true)]
    identity: Option<PathBuf>,
    /// Also trust the certificates in this PEM file for every TLS connection (the signaling server over
    /// wss://, TURN over turns:), e.g. a server with a private CA
    #[arg(long, env = "TINCAN_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum AcceptFiles {
    Yes,
    No,
    Ask,
}

#[derive(Subcommand)]
enum Command {
    /// Join a room by code (created if nobody is there)
    Join {
        code: String,
        /// Refuse a room nobody is in instead of creating it
        #[arg(long)]
        existing: bool,
        /// How many people the room holds, if this creates it (2: a call for two; more: a group call)
        #[arg(long)]
        capacity: Option<usize>,
        /// A group call with the default capacity (6), if this creates the room
        #[arg(long, conflicts_with = "capacity")]
        group: bool,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Ring a contact's personal code
    Call {
        code: String,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Register this identity's personal code and answer the next incoming call (later rings: busy)
    Listen {
        /// Decline instead of answering
        #[arg(long)]
        decline: bool,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Print this identity's personal code
    Whoami,
    /// Print a fresh room code
    NewRoom,
    /// List cameras, microphones and speakers (JSON lines)
    Devices,
}

/// `--video`: `test` (the stamped pattern), `none`, or `camera` / `camera:NAME` (index, name or part of one).
#[derive(Clone, PartialEq)]
enum VideoChoice {
    Test,
    None,
    Camera(Option<String>),
}

impl std::str::FromStr for VideoChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "test" => Ok(VideoChoice::Test),
            "none" => Ok(VideoChoice::None),
            "camera" => Ok(VideoChoice::Camera(None)),
            _ => match s.strip_prefix("camera:") {
                Some(name) if !name.is_empty() => Ok(VideoChoice::Camera(Some(name.to_owned()))),
                _ => Err(format!("\"{s}\" is not test, none, camera or camera:NAME")),
            },
        }
    }
}

/// `--audio`: `tone`, `chirp`, `none`, or `mic` / `mic:NAME` (a microphone; `tincan-cli devices` lists them).
#[derive(Clone, PartialEq)]
enum AudioChoice {
    Tone,
    Chirp,
    None,
    Mic(Option<String>),
}

impl std::str::FromStr for AudioChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tone" => Ok(AudioChoice::Tone),
            "chirp" => Ok(AudioChoice::Chirp),
            "none" => Ok(AudioChoice::None),
            "mic" => Ok(AudioChoice::Mic(None)),
            _ => match s.strip_prefix("mic:") {
                Some(name) if !name.is_empty() => Ok(AudioChoice::Mic(Some(name.to_owned()))),
                _ => Err(format!("\"{s}\" is not tone, chirp, none, mic or mic:NAME")),
            },
        }
    }
}

#[derive(Args, Clone)]
struct CallArgs {
    /// test | none | camera | camera:NAME
    #[arg(long, default_value = "test")]
    video: VideoChoice,
    /// Test pattern size, or the camera size wanted, WIDTHxHEIGHT
    #[arg(long, default_value = "640x480")]
    size: String,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// tone | chirp | none | mic | mic:NAME
    #[arg(long, default_value = "tone")]
    audio: AudioChoice,
    /// Play what is received on a speaker (the default one, or NAME)
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    speaker: Option<String>,
    /// Turn off echo cancellation, noise suppression and gain control (for comparisons)
    #[arg(long)]
    no_voice_processing: bool,
    /// Frequency of the test tone
    #[arg(long, default_value_t = 440.0)]
    tone_hz: f64,
    /// Preferred video codec (the other is offered second)
    #[arg(long, default_value = "vp8")]
    codec: VideoCodec,
    /// Send this file once the call is up (to everyone, or to --file-to)
    #[arg(long)]
    send_file: Option<PathBuf>,
    /// Send --send-file only to the participant with this display name
    #[arg(long, value_name = "NAME", requires = "send_file")]
    file_to: Option<String>,
    /// Send this chat message once the call is up (to everyone)
    #[arg(long)]
    chat: Option<String>,
    /// "Up" means: data channels open with this many participants (group calls)
    #[arg(long, default_value_t = 1, value_name = "N")]
    after: usize,
    /// Once the call is up, ring this personal code into it (add someone to a group call)
    #[arg(long, value_name = "CODE")]
    ring_in: Option<String>,
    /// Once the call is up, share this: screen, screen:N (a monitor) or window:TITLE (X11)
    #[arg(long, value_name = "WHAT")]
    share: Option<ScreenTarget>,
    /// Stop sharing this many seconds after the share started (the call goes on)
    #[arg(long, value_name = "SECS", requires = "share")]
    share_for: Option<f64>,
    /// Send the computer's sound with the share (the default output's monitor, mixed into our audio; what
    /// this call plays is cancelled from it when voice processing is on)
    #[arg(long, requires = "share")]
    share_audio: bool,
    /// When the call ends, save the last picture of every received video track as a PNG here
    #[arg(long, value_name = "DIR")]
    snapshot: Option<PathBuf>,
    /// Hang up this many seconds after connecting
    #[arg(long)]
    duration: Option<f64>,
    /// Print stats once a second
    #[arg(long)]
    stats: bool,
    /// Where received files go
    #[arg(long, default_value = ".")]
    download_dir: PathBuf,
    /// Take files others offer: yes, no, or ask (print the offer and read `accept PEER ID` or `decline PEER ID`
    /// lines on stdin)
    #[arg(long, value_enum, default_value = "no")]
    accept_files: AcceptFiles,
    /// Gather ICE candidates on 127.0.0.1 only and skip mDNS (tests, one machine)
    #[arg(long)]
    loopback: bool,
    /// Use only relayed (TURN) candidates: the other side never learns this machine's addresses
    #[arg(long)]
    relay_only: bool,
    /// Local UDP address to gather from, e.g. 192.168.1.20:0 (repeat) [default: every interface]
    #[arg(long = "bind")]
    bind: Vec<String>,
    /// Extra STUN/TURN server URL (repeat)
    #[arg(long = "ice-server")]
    ice_servers: Vec<String>,
}

fn print(value: serde_json::Value) {
    println!("{value}");
}

fn identity_path(cli: &Cli) -> PathBuf {
    cli.identity.clone().unwrap_or_else(|| {
        let base = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".local/share")
        });
        base.join("tincan/identity.key")
    })
}

/// Load the identity, or make one and keep it (hex of the 32 secret bytes, readable by the owner only).
fn load_identity(path: &PathBuf) -> anyhow::Result<Identity> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Identity::from_hex(&text).with_context(|| format!("{} is not an identity key", path.display()));
    }
    let identity = Identity::generate();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, identity.to_hex())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(identity)
}

/// What the call brought, for the summary.
#[derive(Default)]
struct Outcome {
    /// Everyone's audio as mixed for the speaker.
    mix: Mutex<Received>,
    /// Each participant's video and audio.
    people: People,
    /// Lip sync's latest figures (from the stats).
    lip_sync: Mutex<Option<serde_json::Value>>,
}

fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s.split_once('x').context("size is WIDTHxHEIGHT, e.g. 640x480")?;
    Ok((w.parse()?, h.parse()?))
}

/// Milliseconds since the call started, on every line (benchmarks take differences).
fn stamp_line(mut value: serde_json::Value, started: std::time::Instant) -> serde_json::Value {
    if let Some(object) = value.as_object_mut() {
        object.insert("t_ms".into(), json!(started.elapsed().as_secs_f64() * 1000.0));
    }
    value
}

/// What the summary reports about the devices in use.
#[derive(Default)]
struct DeviceMonitors {
    speaker: Option<SpeakerMonitor>,
    microphone: Option<MicrophoneMonitor>,
    processor: Option<VoiceProcessor>,
}

fn call_config(
    cli: &Cli,
    args: &CallArgs,
    outcome: &Arc<Outcome>,
    started: std::time::Instant,
    monitors: &mut DeviceMonitors,
) -> anyhow::Result<CallConfig> {
    let mut c = CallConfig::new(cli.server.clone());
    c.client_name = format!("tincan-cli {}", env!("CARGO_PKG_VERSION"));
    c.display_name = cli.name.clone();
    let preferred = args.codec;
    let other = if preferred == VideoCodec::Vp8 { VideoCodec::H264 } else { VideoCodec::Vp8 };
    let base = if args.loopback { PeerSettings::loopback() } else { PeerSettings::default() };
    c.peer = PeerSettings { video_codecs: vec![preferred, other], relay_only: args.relay_only, ..base };
    if !args.bind.is_empty() {
        c.peer.udp_addrs = args.bind.clone();
    }
    if let Some(path) = &cli.ca_file {
        c.peer.extra_roots = tincan_engine::tls::read_roots(path)?;
        tincan_engine::tls::client_config(&c.peer.extra_roots, &[])?; // refused here, not mid-call
    }
    c.extra_ice_servers = args
        .ice_servers
        .iter()
        .map(|u| tincan_signal::protocol::IceServer { urls: vec![u.clone()], username: None, credential: None })
        .collect();
    c.download_dir = args.download_dir.clone();
    c.file_policy = match args.accept_files {
        AcceptFiles::Yes => FilePolicy::Accept,
        AcceptFiles::No => FilePolicy::Decline,
        AcceptFiles::Ask => FilePolicy::Ask,
    };
    let notices = Notices::new(move |notice| {
        let mut line = serde_json::to_value(&notice).unwrap_or_default();
        line["event"] = json!("device");
        print(stamp_line(line, started));
    });
    let (w, h) = parse_size(&args.size)?;
    match &args.video {
        VideoChoice::Test => c.video_source = Some(Box::new(TestPattern::new(w, h, args.fps, true)?)),
        VideoChoice::Camera(name) => {
            // No camera is not an error: the source waits for one and a `device` line says so.
            let options = CameraOptions {
                device: name.clone(),
                wanted: Wanted { width: w, height: h, fps: args.fps },
                notices: notices.clone(),
            };
            c.video_source = Some(Box::new(CameraSource::start(Arc::new(Nokhwa), options)?));
        }
        VideoChoice::None => {}
    }
    c.audio_source = match args.audio {
        AudioChoice::Tone => Some(Box::new(ToneSource::new(Waveform::Sine { hz: args.tone_hz }, 0.5, true))),
        AudioChoice::Chirp => Some(Box::new(ToneSource::new(
            Waveform::Chirp { from_hz: 300.0, to_hz: 3000.0, period: Duration::from_secs(2) },
            0.5,
            true,
        ))),
        AudioChoice::None => None,
        AudioChoice::Mic(_) => None, // below, with the speaker
    };
    let uses_mic = matches!(args.audio, AudioChoice::Mic(_));
    let processor = ((uses_mic || args.speaker.is_some()) && !args.no_voice_processing)
        .then(|| VoiceProcessor::new(Processing::default()));
    monitors.processor = processor.clone();
    c.voice_monitor = processor.clone().map(|p| Arc::new(p) as Arc<dyn tincan_media::voice::VoiceMonitor>);
    if let AudioChoice::Mic(name) = &args.audio {
        let options =
            MicrophoneOptions { device: name.clone(), processor: processor.clone(), notices: notices.clone() };
        match Microphone::open(options) {
            Ok(mic) => {
                monitors.microphone = Some(mic.monitor());
                c.audio_source = Some(Box::new(mic))
            }
            // No microphone is a state, not a failure: the call goes on receive-only for audio.
            Err(e) => print(stamp_line(
                json!({"event": "device", "device": "absent", "kind": "microphone", "message": e.to_string()}),
                started,
            )),
        }
    }
    let speaker = match &args.speaker {
        Some(name) => {
            let device = (!name.is_empty()).then(|| name.clone());
            match Speaker::open(SpeakerOptions { device, processor: processor.clone(), notices }) {
                Ok(s) => {
                    monitors.speaker = Some(s.monitor());
                    Some(s)
                }
                Err(e) => {
                    print(stamp_line(
                        json!({"event": "device", "device": "absent", "kind": "speaker", "message": e.to_string()}),
                        started,
                    ));
                    None
                }
            }
        }
        None => None,
    };
    let on_first_frame = move |p: &tincan_engine::Participant, frame: &tincan_media::VideoFrame| {
        let line = json!({"event": "first_frame", "peer": p.peer, "name": p.name, "width": frame.width, "height": frame.height});
        print(stamp_line(line, started))
    };
    c.participant_sinks =
        Some(Box::new(PeopleSinks { people: outcome.people.clone(), on_first_frame: Arc::new(on_first_frame) }));
    c.audio_sink = Some(Box::new(ReceivedAudio { outcome: outcome.clone(), speaker }));
    Ok(c)
}

/// What the CLI does with everyone's audio, mixed: keeps the last second for the summary's frequency, and
/// plays it if there is a speaker (whose latency lip sync uses).
struct ReceivedAudio {
    outcome: Arc<Outcome>,
    speaker: Option<Speaker>,
}

impl AudioSink for ReceivedAudio {
    fn on_frame(&mut self, frame: tincan_media::AudioFrame) {
        self.outcome.mix.lock().expect("lock").on_audio(&frame);
        if let Some(s) = &mut self.speaker {
            s.on_frame(frame);
        }
    }

    fn latency(&self) -> Option<Duration> {
        self.speaker.as_ref().and_then(|s| s.latency())
    }

    fn set_minimum_delay(&mut self, delay: Duration) {
        if let Some(s) = &mut self.speaker {
            s.set_minimum_delay(delay);
        }
    }
}

/// The closing line: the first participant's video and everyone's audio (a call for two: the other side),
/// then each participant's own figures.
fn summary(outcome: &Outcome, monitors: &DeviceMonitors) -> serde_json::Value {
    let mut line = outcome.people.first().unwrap_or_else(|| Received::default().figures());
    let mix = outcome.mix.lock().expect("lock").figures();
    line["audio_frames"] = mix["audio_frames"].clone();
    line["audio_hz"] = mix["audio_hz"].clone();
    if let Some(object) = line.as_object_mut() {
        object.remove("peer");
        object.remove("name");
    }
    line["event"] = json!("summary");
    line["playout"] = json!(monitors.speaker.as_ref().map(|s| s.stats()));
    line["voice_processing"] = json!(monitors.processor.as_ref().map(|p| p.stats()));
    line["microphone"] = json!(monitors.microphone.as_ref().map(|m| m.stats()));
    line["speaker_callbacks"] = json!(monitors.speaker.as_ref().map(|s| s.callbacks()));
    line["lip_sync"] = json!(*outcome.lip_sync.lock().expect("lock"));
    line["participants"] = json!(outcome.people.figures());
    line
}

/// Run one call to its end; true if it ended the way calls normally end.
async fn run_call(
    cli: &Cli,
    args: &CallArgs,
    target: Target,
    identity: Option<Identity>,
    capacity: Option<usize>,
) -> anyhow::Result<bool> {
    let outcome = Arc::new(Outcome::default());
    let started = std::time::Instant::now();
    let mut monitors = DeviceMonitors::default();
    let mut config = call_config(cli, args, &outcome, started, &mut monitors)?;
    config.identity = identity;
    config.room_capacity = capacity;
    let (call, events) = Call::start(config, target);
    follow(args, call, events, &outcome, &monitors, started).await
}

/// `--accept-files ask`: the person (or program) at the terminal answers offers with `accept PEER ID` or
/// `decline PEER ID` lines (the `offered` line names both).
fn answer_offers_from_stdin(call: Call) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            let mut words = line.split_whitespace();
            let (verb, peer) = (words.next(), words.next());
            let id = words.next().and_then(|w| w.parse::<u64>().ok());
            let answered = match (verb, peer, id) {
                (Some("accept"), Some(peer), Some(id)) => call.accept_file(peer, id),
                (Some("decline"), Some(peer), Some(id)) => call.decline_file(peer, id),
                _ => {
                    print(json!({"event": "error", "message": "say `accept PEER ID` or `decline PEER ID`"}));
                    continue;
                }
            };
            if answered.is_err() {
                break;
            }
        }
    });
}

/// Print a call's events until it ends (hanging up after `--duration`), acting on them as the flags say;
/// then the summary. Whether it ended well.
async fn follow(
    args: &CallArgs,
    call: Call,
    mut events: mpsc::UnboundedReceiver<EngineEvent>,
    outcome: &Outcome,
    monitors: &DeviceMonitors,
    started: std::time::Instant,
) -> anyhow::Result<bool> {
    let mut hang_up_at: Option<tokio::time::Instant> = None;
    let mut stop_share_at: Option<tokio::time::Instant> = None;
    // A share being opened (the screen source and the computer's sound, if asked for).
    type Opened = (tincan_devices::Result<ScreenSource>, Option<Box<dyn tincan_media::source::AudioFeed>>);
    let mut opening: Option<tokio::task::JoinHandle<Opened>> = None;
    let mut ok = false;
    // Who is in the call (peer id → name) and whose data channel is open.
    let mut names = std::collections::HashMap::<String, Option<String>>::new();
    let mut ready = std::collections::HashSet::<String>::new();
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    // Ctrl+C hangs up once; the call's end (and the summary) follows. Polled again, the finished future
    // would panic.
    let mut interrupted = false;
    if matches!(args.accept_files, AcceptFiles::Ask) {
        answer_offers_from_stdin(call.clone());
    }
    loop {
        let deadline = async {
            match hang_up_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                if !matches!(event, EngineEvent::Stats(_)) || args.stats {
                    print(stamp_line(serde_json::to_value(&event)?, started));
                }
                if let EngineEvent::Stats(s) = &event
                    && s.sync_video_hold_ms.is_some()
                {
                    *outcome.lip_sync.lock().expect("lock") = Some(json!({
                        "video_hold_ms": s.sync_video_hold_ms,
                        "audio_delay_ms": s.sync_audio_delay_ms,
                        "video_late_ms": s.sync_video_late_ms,
                    }));
                }
                match &event {
                    EngineEvent::State { value: CallState::Connected, .. } if hang_up_at.is_none() => {
                        hang_up_at = args.duration.map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
                    }
                    EngineEvent::ParticipantJoined { peer, name, replaces } => {
                        if let Some(old) = replaces {
                            names.remove(old);
                        }
                        names.insert(peer.clone(), name.clone());
                    }
                    EngineEvent::DataReady { peer } => {
                        ready.insert(peer.clone());
                        if ready.len() == args.after {
                            if let Some(code) = &args.ring_in {
                                call.invite(PersonalCode::parse(code)?).await?;
                            }
                            if let Some(text) = &args.chat {
                                call.send_chat(text.clone()).await?;
                            }
                            if let Some(target) = &args.share {
                                // Opened here, sent by the engine's thread.
                                let sound = if args.share_audio {
                                    if monitors.processor.is_none() && monitors.speaker.is_some() {
                                        let message = "voice processing is off: what this call plays goes back to the others with the computer's sound";
                                        print(json!({"event": "notice", "message": message}));
                                    }
                                    match SystemSound::open(monitors.processor.as_ref()) {
                                        Ok(s) => Some(Box::new(s) as Box<dyn tincan_media::source::AudioFeed>),
                                        Err(e) => {
                                            print(json!({"event": "error", "message": e.to_string()}));
                                            None
                                        }
                                    }
                                } else {
                                    None
                                };
                                // On Wayland this waits for the desktop's dialog: opened off the runtime's
                                // threads while the call goes on, shared when it is ready.
                                let target = target.clone();
                                opening = Some(tokio::task::spawn_blocking(move || {
                                    (ScreenSource::open(&target, tincan_engine::SHARE_FPS), sound)
                                }));
                            }
                            if let Some(path) = &args.send_file {
                                match &args.file_to {
                                    Some(wanted) => {
                                        let peer = names
                                            .iter()
                                            .find(|(_, n)| n.as_deref() == Some(wanted.as_str()))
                                            .map(|(p, _)| p.clone())
                                            .with_context(|| format!("nobody called {wanted} is in the call"))?;
                                        call.send_file_to(peer, path.clone()).await?;
                                    }
                                    None => {
                                        call.send_file(path.clone()).await?;
                                    }
                                }
                            }
                        }
                    }
                    EngineEvent::State { value: CallState::Ended(reason), .. } => {
                        use tincan_engine::EndReason as R;
                        ok = matches!(reason, R::HungUp | R::RemoteHungUp);
                        break;
                    }
                    _ => {}
                }
            }
            _ = deadline => {
                hang_up_at = None;
                call.hang_up();
            }
            opened = async {
                match opening.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            } => {
                opening = None;
                match opened? {
                    (Ok(source), sound) => {
                        call.share(Box::new(source), sound)?;
                        stop_share_at =
                            args.share_for.map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
                    }
                    (Err(e), _) => print(json!({"event": "error", "message": format!("cannot share: {e}")})),
                }
            }
            _ = async {
                match stop_share_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => {
                stop_share_at = None;
                call.stop_share()?;
            }
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                call.hang_up();
            }
        }
    }
    if let Some(dir) = &args.snapshot {
        std::fs::create_dir_all(dir)?;
        print(json!({"event": "snapshots", "written": outcome.people.snapshots(dir)}));
    }
    print(summary(outcome, monitors));
    Ok(ok)
}

/// Be reachable under the identity's code (the engine's call manager, as the app is) and answer the first
/// ring, or decline it. Rings that come during the call are declined as busy (printed as `missed`).
async fn listen(cli: &Cli, args: &CallArgs, decline: bool) -> anyhow::Result<bool> {
    let identity = load_identity(&identity_path(cli))?;
    print(json!({"event": "listening", "code": identity.personal_code().as_str()}));
    let client_name = format!("tincan-cli {}", env!("CARGO_PKG_VERSION"));
    let tls = match &cli.ca_file {
        Some(path) => Some(tincan_engine::tls::client_config(&tincan_engine::tls::read_roots(path)?, &[])?),
        None => None,
    };
    let (phone, mut events) = Phone::start(PhoneConfig { client_name, identity, tls });
    phone.set_server(&cli.server);
    while let Some(event) = events.recv().await {
        print(serde_json::to_value(&event)?);
        let PhoneEvent::Incoming(ring) = event else { continue };
        if decline {
            phone.decline(&ring.call).await?;
            print(json!({"event": "declined"}));
            return Ok(true);
        }
        let outcome = Arc::new(Outcome::default());
        let started = std::time::Instant::now();
        let mut monitors = DeviceMonitors::default();
        let config = call_config(cli, args, &outcome, started, &mut monitors)?;
        let call = phone.accept(&ring.call, config).await?;
        // The call's own events go to the call loop; the manager's (a busy decline) are printed.
        let (call_events, call_rx) = mpsc::unbounded_channel();
        let others = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    PhoneEvent::Call(e) => {
                        let _ = call_events.send(e);
                    }
                    other => print(serde_json::to_value(&other).unwrap_or_default()),
                }
            }
        });
        let ok = follow(args, call, call_rx, &outcome, &monitors, started).await?;
        drop(phone);
        others.abort();
        return Ok(ok);
    }
    bail!("the call manager stopped")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tincan_log::init(&format!("warn,{}", tincan_log::QUIET_ROUTINE), tincan_log::Format::Text);
    let ok = match &cli.command {
        Command::Join { code, existing, capacity, group, call } => {
            let capacity = if *group { Some(tincan_engine::GROUP_CAPACITY) } else { *capacity };
            let code = RoomCode::parse(code)?;
            run_call(&cli, call, Target::Room { code, create: !existing }, None, capacity).await?
        }
        Command::Call { code, call } => {
            let contact = PersonalCode::parse(code)?;
            let identity = load_identity(&identity_path(&cli))?;
            run_call(&cli, call, Target::Contact(contact), Some(identity), None).await?
        }
        Command::Listen { decline, call } => listen(&cli, call, *decline).await?,
        Command::Whoami => {
            let identity = load_identity(&identity_path(&cli))?;
            print(json!({"code": identity.personal_code().as_str()}));
            true
        }
        Command::NewRoom => {
            print(json!({"room": RoomCode::generate().as_str()}));
            true
        }
        Command::Devices => {
            match tincan_devices::camera::list() {
                Ok(cameras) if cameras.is_empty() => {
                    print(json!({"kind": "camera", "absent": "no camera is connected"}))
                }
                Ok(cameras) => cameras.iter().for_each(|c| {
                    let mut line = serde_json::to_value(c).unwrap_or_default();
                    line["kind"] = json!("camera");
                    print(line)
                }),
                Err(e) => print(json!({"kind": "camera", "error": e.to_string()})),
            }
            for direction in [Direction::Input, Direction::Output] {
                match tincan_devices::audio::list(direction) {
                    Ok(list) => list.iter().for_each(|d| print(serde_json::to_value(d).unwrap_or_default())),
                    Err(e) => print(json!({"direction": direction, "error": e.to_string()})),
                }
            }
            true
        }
    };
    std::process::exit(if ok { 0 } else { 1 })
}
