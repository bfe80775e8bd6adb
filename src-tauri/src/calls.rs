//! Starting calls from the app and following them: engine events go to the UI (`engine` events), remote
//! video to the UI's frame channel, the tray follows, and the call is written to the recent calls when it ends.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, Emitter, Manager};
use tincan_engine::peer::PeerSettings;
use tincan_engine::{Call, CallConfig, EngineEvent, Target};

use crate::error::{AppError, Result};
use crate::state::{ActiveCall, AppState, Status, lock};
use crate::store::recents::{Direction, RecentCall};
use crate::video::FramePump;

/// Who the call is with, for the recent calls.
pub struct CallRecord {
    pub direction: Direction,
    pub name: String,
    pub code: Option<String>,
    pub room: Option<String>,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn start(
    app: &AppHandle,
    target: Target,
    record: CallRecord,
    frames: Channel<InvokeResponseBody>,
    preview: Channel<InvokeResponseBody>,
) -> Result<()> {
    let state = app.state::<AppState>();
    let mut slot = lock(&state.call);
    if slot.is_some() {
        return Err(AppError::Busy);
    }
    let settings = state.store.settings();
    // Remote video at up to 1280x720 until the UI reports its canvas; the 160x120 preview at 15 fps.
    let pump = FramePump::start(frames, state.visible.clone(), (1280, 720), Duration::ZERO);
    let preview = FramePump::start(preview, state.visible.clone(), (320, 240), Duration::from_millis(66));
    let mut config = CallConfig::new(state.server_url());
    config.client_name = format!("tincan {}", env!("CARGO_PKG_VERSION"));
    config.display_name =
        if settings.display_name.is_empty() { "Tincan".into() } else { settings.display_name.clone() };
    config.identity = Some(state.store.identity.clone());
    config.extra_ice_servers = settings.ice_servers.clone();
    // Tests keep ICE on 127.0.0.1 (and skip mDNS candidates) with TINCAN_LOOPBACK=1.
    config.peer =
        if std::env::var_os("TINCAN_LOOPBACK").is_some() { PeerSettings::loopback() } else { PeerSettings::default() };
    let devices = crate::media::attach(app, &mut config, &settings, preview.sink())?;
    config.video_sink = Some(pump.sink());
    if let Ok(dir) = app.path().download_dir() {
        config.download_dir = dir;
    }
    let (call, mut events) = Call::start(config, target);
    *slot = Some(ActiveCall { call, video: pump.clone(), preview: preview.clone(), devices });
    drop(slot);
    crate::tray::set_status(app, Status::InCall);

    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let started = now_ms();
        let mut connected_at: Option<Instant> = None;
        let mut outcome = String::from("failed");
        while let Some(event) = events.recv().await {
            let _ = app.emit("engine", &event);
            if let EngineEvent::State { state, reason, .. } = &event {
                match state.as_str() {
                    "connected" if connected_at.is_none() => connected_at = Some(Instant::now()),
                    "ended" => {
                        outcome = reason.clone().unwrap_or_default();
                        break;
                    }
                    _ => {}
                }
            }
        }
        tracing::info!(target: "tincan::display", "remote video display path: {}", pump.stop());
        tracing::info!(target: "tincan::display", "preview display path: {}", preview.stop());
        let state = app.state::<AppState>();
        lock(&state.call).take();
        let online = crate::presence::is_online(&state);
        crate::tray::set_status(&app, if online { Status::Online } else { Status::Offline });
        let entry = RecentCall {
            at_ms: started,
            direction: record.direction,
            name: record.name,
            code: record.code,
            room: record.room,
            connected_secs: connected_at.map(|t| t.elapsed().as_secs()).unwrap_or(0),
            outcome,
        };
        if let Err(e) = state.store.add_recent(entry) {
            tracing::warn!("recent calls: {e}");
        }
        let _ = app.emit("recents_changed", ());
    });
    Ok(())
}
