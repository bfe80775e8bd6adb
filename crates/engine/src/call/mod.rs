//! A call: the front ends' handle ([`Call`]) over a driver task that owns the signaling client, the peer
//! connections and the media, feeds what happens into the [`CallMachine`] (pure: no I/O, time as an input)
//! and performs what it decides.

mod driver;
pub mod machine;
mod session;
pub mod signal;
mod sinks;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tincan_media::source::{AudioFeed, AudioSink, AudioSource, VideoSink, VideoSource};
use tincan_media::voice::VoiceMonitor;
use tincan_signal::code::{PersonalCode, RoomCode};
use tincan_signal::identity::Identity;
use tincan_signal::protocol::IceServer;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

pub use machine::CallMachine;
pub use signal::PeerSignal;
pub use sinks::{Participant, ParticipantSinks};
pub use state::{CallState, EndReason};

use crate::data::files::{DEFAULT_MAX_FILE_SIZE, FilePolicy};
use crate::events::EngineEvent;
use crate::peer::PeerSettings;
use crate::{EngineError, Result};

/// How many people a group call holds when its creator does not say (a mesh: each sends to everyone else,
/// so the uplink sets the limit; the server's `max_room_capacity` caps what a creator may ask for).
pub const GROUP_CAPACITY: usize = 6;
/// A screen share's frame rate at most: motion (a video, scrolling) goes at up to this, text at up to 15 (it
/// wants sharpness more than frames; `tincan_devices::screen::Pace`), a still screen is re-sent 5 times a
/// second.
pub const SHARE_FPS: u32 = 30;

/// Who to reach.
#[derive(Clone, Debug)]
pub enum Target {
    /// A room by code. `create: false` refuses a room nobody is in (a mistyped code).
    Room { code: RoomCode, create: bool },
    /// Ring a contact's personal code; the call happens in a fresh room.
    Contact(PersonalCode),
}

/// Everything a call needs. Sources and sinks are optional: a call without a camera still receives video.
pub struct CallConfig {
    pub server_url: String,
    /// Reported to the server (`tincan-cli 0.1.0`).
    pub client_name: String,
    /// Shown to the other side.
    pub display_name: String,
    /// With an identity, rings show our personal code to the callee.
    pub identity: Option<Identity>,
    pub peer: PeerSettings,
    /// Added to the servers the signaling server hands out.
    pub extra_ice_servers: Vec<IceServer>,
    pub video_source: Option<Box<dyn VideoSource>>,
    pub audio_source: Option<Box<dyn AudioSource>>,
    /// The first participant's video (a front end for two), or anyone's that `participant_sinks` leaves out.
    pub video_sink: Option<Box<dyn VideoSink>>,
    /// Everyone's audio, mixed (the speaker).
    pub audio_sink: Option<Box<dyn AudioSink>>,
    /// The voice processor (echo canceller) between the audio sink and the audio source, if there is one:
    /// what it reports goes into the stats (`voice_processing`).
    pub voice_monitor: Option<Arc<dyn VoiceMonitor>>,
    /// Each participant's video and a copy of their audio, for front ends that show people one by one.
    pub participant_sinks: Option<Box<dyn ParticipantSinks>>,
    /// How many people the room holds if this call creates it (the server's default when `None`, a call for
    /// two; above 2 it is a group call, [`GROUP_CAPACITY`] unless the front end asks otherwise).
    pub room_capacity: Option<usize>,
    /// Where accepted files go.
    pub download_dir: PathBuf,
    /// Whether offered files are taken ([`FilePolicy::Ask`]: the front end answers `FileEvent::Offered`).
    pub file_policy: FilePolicy,
    /// The largest file accepted.
    pub max_file_size: u64,
    pub stats_interval: Duration,
    /// After the media path breaks, how long to try to restore it before the call ends.
    pub reconnect_timeout: Duration,
}

impl CallConfig {
    pub fn new(server_url: impl Into<String>) -> Self {
        CallConfig {
            server_url: server_url.into(),
            client_name: format!("tincan-engine {}", env!("CARGO_PKG_VERSION")),
            display_name: "Tincan".into(),
            identity: None,
            peer: PeerSettings::default(),
            extra_ice_servers: Vec::new(),
            video_source: None,
            audio_source: None,
            video_sink: None,
            audio_sink: None,
            voice_monitor: None,
            participant_sinks: None,
            room_capacity: None,
            download_dir: std::env::temp_dir(),
            file_policy: FilePolicy::Ask,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            stats_interval: Duration::from_secs(1),
            reconnect_timeout: Duration::from_secs(10),
        }
    }
}

pub(crate) enum Command {
    HangUp,
    Microphone(bool),
    Camera(bool),
    Chat(String, oneshot::Sender<Result<String>>),
    /// To one participant (by peer id), or to everyone.
    SendFile(PathBuf, Option<String>, oneshot::Sender<Result<u64>>),
    CancelFile(u64),
    AcceptFile(String, u64),
    DeclineFile(String, u64),
    Invite(PersonalCode, oneshot::Sender<Result<()>>),
    /// Share this with everyone, instead of what was shared before; `None`: stop.
    Share(Option<Shared>),
}

/// What a share sends: a screen or window, and the computer's sound with it if the user asked.
pub struct Shared {
    pub video: Box<dyn VideoSource>,
    /// Mixed into the audio we send while the share runs (also while the microphone is muted or delivers
    /// nothing; a call that sends no audio at all cannot carry it, and says so).
    pub sound: Option<Box<dyn AudioFeed>>,
}

/// The front end's handle to a running call. Dropping every handle hangs up.
#[derive(Clone)]
pub struct Call {
    commands: mpsc::UnboundedSender<Command>,
}

impl Call {
    /// Start a call in the background; its events arrive on the returned receiver until it has ended.
    pub fn start(config: CallConfig, target: Target) -> (Call, mpsc::UnboundedReceiver<EngineEvent>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        // Tells two calls in one process apart in the logs (not by room code: that is the key to the room).
        let kind = match target {
            Target::Room { .. } => "room",
            Target::Contact(_) => "contact",
        };
        let span = tracing::info_span!("call", id = %format!("{:08x}", rand::random::<u32>()), kind);
        tokio::spawn(driver::run(config, target, command_rx, events).instrument(span));
        (Call { commands }, event_rx)
    }

    fn send(&self, c: Command) -> Result<()> {
        self.commands.send(c).map_err(|_| EngineError::CallEnded)
    }

    pub fn hang_up(&self) {
        let _ = self.send(Command::HangUp);
    }

    pub fn set_microphone(&self, on: bool) -> Result<()> {
        self.send(Command::Microphone(on))
    }

    pub fn set_camera(&self, on: bool) -> Result<()> {
        self.send(Command::Camera(on))
    }

    /// Send a chat message; returns its id (a `chat_delivered` event with it follows).
    pub async fn send_chat(&self, text: impl Into<String>) -> Result<String> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Chat(text.into(), tx))?;
        rx.await.map_err(|_| EngineError::CallEnded)?
    }

    /// Start sending a file to everyone in the call; returns the transfer id (file events with it follow, one
    /// set per recipient).
    pub async fn send_file(&self, path: impl Into<PathBuf>) -> Result<u64> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::SendFile(path.into(), None, tx))?;
        rx.await.map_err(|_| EngineError::CallEnded)?
    }

    /// Start sending a file to one participant (`peer`, as in `participant_joined`); returns the transfer id.
    pub async fn send_file_to(&self, peer: impl Into<String>, path: impl Into<PathBuf>) -> Result<u64> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::SendFile(path.into(), Some(peer.into()), tx))?;
        rx.await.map_err(|_| EngineError::CallEnded)?
    }

    /// Take the file `peer` offered as `id` (`FileEvent::Offered`).
    pub fn accept_file(&self, peer: &str, id: u64) -> Result<()> {
        self.send(Command::AcceptFile(peer.to_owned(), id))
    }

    pub fn decline_file(&self, peer: &str, id: u64) -> Result<()> {
        self.send(Command::DeclineFile(peer.to_owned(), id))
    }

    pub fn cancel_file(&self, id: u64) -> Result<()> {
        self.send(Command::CancelFile(id))
    }

    /// Ring a contact into this call ("add someone"): the ring carries this call's room, and accepting it
    /// joins the room. `Invite` events tell how it goes. The room must have space (a group room).
    pub async fn invite(&self, code: PersonalCode) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Invite(code, tx))?;
        rx.await.map_err(|_| EngineError::CallEnded)?
    }

    /// Share a screen or window (any video source) with everyone in the call, beside the camera: a second
    /// video track, added by renegotiation; `sound` (the computer's sound) goes out mixed into our audio
    /// while the share runs. Sharing something else replaces the share. `Share` events tell when it runs.
    pub fn share(&self, video: Box<dyn VideoSource>, sound: Option<Box<dyn AudioFeed>>) -> Result<()> {
        self.send(Command::Share(Some(Shared { video, sound })))
    }

    /// Stop sharing: the track is taken off every link (renegotiation), and the others are told at once.
    pub fn stop_share(&self) -> Result<()> {
        self.send(Command::Share(None))
    }
}
