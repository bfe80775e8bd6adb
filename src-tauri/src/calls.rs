//! Starting calls from the app: the call's configuration (devices, the UI's frame channels, the server), then
//! the engine's call manager dials or answers. Its events (the call's, its end) are handled in
//! [`crate::phone`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, Manager};
use tincan_engine::peer::PeerSettings;
use tincan_engine::phone::Who;
use tincan_engine::{CallConfig, Target};

use crate::error::{AppError, Result};
use crate::state::{ActiveCall, AppState, lock};
use crate::video::{FramePump, Tiles};

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A call of ours, or an answer to a ring.
pub enum Dial {
    Out(Target, Who),
    Answer(String),
}

/// What a call sends from its start (the device check's toggles).
#[derive(Clone, Copy)]
pub struct Sending {
    pub microphone: bool,
    pub camera: bool,
}

impl Default for Sending {
    fn default() -> Self {
        Sending { microphone: true, camera: true }
    }
}

impl Sending {
    pub fn from(microphone: Option<bool>, camera: Option<bool>) -> Self {
        Sending { microphone: microphone.unwrap_or(true), camera: camera.unwrap_or(true) }
    }
}

pub async fn start(
    app: &AppHandle,
    dial: Dial,
    sending: Sending,
    frames: Channel<InvokeResponseBody>,
    preview: Channel<InvokeResponseBody>,
) -> Result<()> {
    let state = app.state::<AppState>();
    if lock(&state.call).is_some() {
        return Err(AppError::Busy);
    }
    // Answered (or we call out while it rang): the ringtone stops before the call takes the speaker, and the
    // device check (if the UI left it open) closes its devices.
    state.stop_ringing(None);
    let check = lock(&state.check).take();
    if let Some(check) = check {
        let _ = tauri::async_runtime::spawn_blocking(move || drop(check)).await;
    }
    let settings = state.store.settings();
    // Everyone's video on a tile of their own; our preview at up to 320x240 and 15 fps.
    let tiles = Tiles::new(frames, state.visible.clone());
    let preview = FramePump::start(preview, state.visible.clone(), (320, 240), Duration::from_millis(66), "");
    let mut config = CallConfig::new(state.server_url());
    config.client_name = format!("tincan {}", env!("CARGO_PKG_VERSION"));
    config.display_name =
        if settings.display_name.is_empty() { "Tincan".into() } else { settings.display_name.clone() };
    config.identity = Some(state.store.identity.clone());
    config.extra_ice_servers = settings.ice_servers.clone();
    // Tests keep ICE on 127.0.0.1 (and skip mDNS candidates) with TINCAN_LOOPBACK=1.
    config.peer =
        if std::env::var_os("TINCAN_LOOPBACK").is_some() { PeerSettings::loopback() } else { PeerSettings::default() };
    // A room we make is for a group (people come and go; the call ends when we leave); a room someone else
    // made holds what they asked for.
    if let Dial::Out(Target::Room { create: true, .. }, _) = &dial {
        config.room_capacity = Some(tincan_engine::GROUP_CAPACITY);
    }
    let devices = crate::media::attach(app, &mut config, &settings, preview.sink())?;
    config.participant_sinks = Some(tiles.sinks());
    // The desktop's downloads folder (XDG), else ~/Downloads (made when a file is accepted).
    if let Ok(dir) = app.path().download_dir().or_else(|_| app.path().home_dir().map(|h| h.join("Downloads"))) {
        config.download_dir = dir;
    }
    // Offered files are shown with Accept / Decline; nothing is written before.
    config.file_policy = tincan_engine::FilePolicy::Ask;
    let call = match dial {
        Dial::Out(target, who) => state.phone.dial(config, target, who)?,
        Dial::Answer(ring) => state.phone.accept(&ring, config).await?,
    };
    // Queued before the call has anyone to send to: nothing goes out that the user turned off. (A call that
    // already ended takes no command; its end is said as usual.)
    if !sending.microphone {
        let _ = call.set_microphone(false);
    }
    if !sending.camera {
        let _ = call.set_camera(false);
    }
    // Once more: a ringtone that was still opening its speaker when the answer began.
    state.stop_ringing(None);
    *lock(&state.call) = Some(ActiveCall { call, video: tiles, preview, devices });
    // A call that ended before it was stored here: its end was handled with nothing to clear.
    if state.phone.call().is_none()
        && let Some(active) = lock(&state.call).take()
    {
        active.video.stop();
        active.preview.stop();
    }
    Ok(())
}
