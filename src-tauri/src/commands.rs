//! Commands the UI invokes. Each is a thin adapter: parse, call the engine, report errors as sentences.

use serde::Serialize;
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, Emitter, State};
use tincan_engine::peer::PeerSettings;
use tincan_engine::{Call, CallConfig, EngineEvent, Target};
use tincan_media::synthetic::{TestPattern, ToneSource, Waveform};
use tincan_signal::code::RoomCode;

use crate::state::AppState;
use crate::video::FramePump;

type Reply<T> = Result<T, String>;

#[derive(Serialize)]
pub struct AppInfo {
    version: &'static str,
    server_url: String,
    embedded_server: bool,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        server_url: state.server_url.clone(),
        embedded_server: state.embedded.is_some(),
    }
}

/// What the app was started to do: `tincan tincan://join/CODE` (or `--join CODE`) opens that room.
#[tauri::command]
pub fn startup_room() -> Option<String> {
    room_from_args(&std::env::args().skip(1).collect::<Vec<_>>())
}

fn room_from_args(args: &[String]) -> Option<String> {
    let code = args
        .iter()
        .find_map(|a| a.strip_prefix("tincan://join/").map(str::to_owned))
        .or_else(|| args.iter().position(|a| a == "--join").and_then(|i| args.get(i + 1).cloned()))?;
    RoomCode::parse(code.trim_end_matches('/')).ok().map(|c| c.to_string())
}

#[tauri::command]
pub fn new_room() -> String {
    RoomCode::generate().to_string()
}

/// The canonical form of a typed room code, or a sentence saying what is wrong with it.
#[tauri::command]
pub fn normalize_room(code: String) -> Reply<String> {
    RoomCode::parse(&code).map(|c| c.to_string()).map_err(|e| format!("That room code does not work: {e}."))
}

/// Join (or create) a room; engine events arrive as `engine` events, remote video on `frames`.
#[tauri::command]
pub async fn join_room(
    app: AppHandle,
    state: State<'_, AppState>,
    code: String,
    create: bool,
    frames: Channel<InvokeResponseBody>,
) -> Reply<String> {
    let code = RoomCode::parse(&code).map_err(|e| format!("That room code does not work: {e}."))?;
    if state.call().is_some() {
        return Err("You are already in a call.".into());
    }
    let pump = FramePump::start(frames);
    let mut config = CallConfig::new(state.server_url.clone());
    config.client_name = format!("tincan {}", env!("CARGO_PKG_VERSION"));
    // Tests keep ICE on 127.0.0.1 (and skip mDNS) with TINCAN_LOOPBACK=1.
    config.peer =
        if std::env::var_os("TINCAN_LOOPBACK").is_some() { PeerSettings::loopback() } else { PeerSettings::default() };
    // No camera or microphone support yet (devices come next): send the test pattern and a tone so a
    // call shows and sounds like one.
    config.video_source = Some(Box::new(TestPattern::new(640, 480, 30, true).map_err(|e| e.to_string())?));
    config.audio_source = Some(Box::new(ToneSource::new(Waveform::Sine { hz: 440.0 }, 0.2, true)));
    config.video_sink = Some(pump.sink());
    if let Ok(dir) = tauri::Manager::path(&app).download_dir() {
        config.download_dir = dir;
    }
    let (call, mut events) = Call::start(config, Target::Room { code: code.clone(), create });
    *state.call.lock().unwrap_or_else(|p| p.into_inner()) = Some(call);
    *state.remote_video.lock().unwrap_or_else(|p| p.into_inner()) = Some(pump.clone());
    let forward = app.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            let ended = matches!(&event, EngineEvent::State { state, .. } if state == "ended");
            let _ = forward.emit("engine", &event);
            if ended {
                break;
            }
        }
        pump.stop();
        let state = tauri::Manager::state::<AppState>(&forward);
        state.call.lock().unwrap_or_else(|p| p.into_inner()).take();
        state.remote_video.lock().unwrap_or_else(|p| p.into_inner()).take();
    });
    Ok(code.to_string())
}

fn current(state: &State<'_, AppState>) -> Reply<Call> {
    state.call().ok_or_else(|| "There is no call.".to_string())
}

#[tauri::command]
pub fn hang_up(state: State<'_, AppState>) {
    if let Some(call) = state.call() {
        call.hang_up();
    }
}

#[tauri::command]
pub fn set_microphone(state: State<'_, AppState>, on: bool) -> Reply<()> {
    current(&state)?.set_microphone(on).map_err(|e| e.to_string())
}

#[tauri::command]
pub fn set_camera(state: State<'_, AppState>, on: bool) -> Reply<()> {
    current(&state)?.set_camera(on).map_err(|e| e.to_string())
}

#[tauri::command]
pub async fn send_chat(state: State<'_, AppState>, text: String) -> Reply<String> {
    let call = current(&state)?;
    call.send_chat(text).await.map_err(|e| e.to_string())
}

/// The UI reports what it sees (its errors included) to the log.
#[tauri::command]
pub fn ui_log(message: String) {
    tracing::info!(target: "tincan::ui", "{}", message.chars().take(500).collect::<String>());
}

/// The UI drew the last frame it got.
#[tauri::command]
pub fn frame_shown(state: State<'_, AppState>) {
    if let Some(p) = state.remote_video.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        p.shown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_from_the_command_line_and_deep_links() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(room_from_args(&args(&["tincan://join/7kq2-m9xd-4htb/"])).as_deref(), Some("7KQ2-M9XD-4HTB"));
        assert_eq!(room_from_args(&args(&["--join", "7KQ2 M9XD 4HTB"])).as_deref(), Some("7KQ2-M9XD-4HTB"));
        assert_eq!(room_from_args(&args(&["--join", "nope"])), None);
        assert_eq!(room_from_args(&args(&[])), None);
        assert!(normalize_room("7KQ2-M9XD".into()).unwrap_err().contains("12"));
    }
}
