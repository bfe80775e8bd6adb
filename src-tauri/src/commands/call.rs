//! Rooms, contacts' calls, rings and what happens in a call.

use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, Manager, State};
use tauri_plugin_dialog::DialogExt;
use tincan_engine::phone::Who;
use tincan_engine::{Call, Target};
use tincan_signal::code::{PersonalCode, RoomCode};

use crate::calls::{Dial, Sending};
use crate::error::{AppError, Result};
use crate::links::Open;
use crate::state::{AppState, lock};

fn room(code: &str) -> Result<RoomCode> {
    RoomCode::parse(code).map_err(|e| AppError::Invalid(format!("That room code does not work: {e}.")))
}

#[tauri::command]
pub fn new_room() -> String {
    RoomCode::generate().to_string()
}

/// The link a guest opens in a browser to join `code`, if others can reach the server.
#[tauri::command]
pub fn guest_link(state: State<'_, AppState>, code: String) -> Result<Option<String>> {
    let code = room(&code)?;
    // The app's own server is on the LAN only if it listens there (else it fell back to loopback).
    let on_lan = lock(&state.embedded).as_ref().is_none_or(|s| s.local_addr().ip().is_unspecified());
    let lan = if on_lan { crate::links::lan_address() } else { None };
    Ok(crate::links::guest_link(&state.server_url(), &code, lan))
}

/// What the UI is to open now (`tincan://join/CODE`, `--call CODE`, the tray's Join room…), taken: asked at
/// the UI's start and on each `open` event.
#[tauri::command]
pub fn pending_target(state: State<'_, AppState>) -> Option<Open> {
    lock(&state.pending_open).take()
}

/// Join (or create) a room; engine events arrive as `engine` events, remote video on `frames`. `microphone`
/// and `camera` (default on) say whether to send them from the start.
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn join_room(
    app: AppHandle,
    code: String,
    create: bool,
    microphone: Option<bool>,
    camera: Option<bool>,
    frames: Channel<InvokeResponseBody>,
    preview: Channel<InvokeResponseBody>,
) -> Result<String> {
    let code = room(&code)?;
    let who = Who { name: code.to_string(), code: None, room: Some(code.to_string()) };
    let dial = Dial::Out(Target::Room { code: code.clone(), create }, who);
    crate::calls::start(&app, dial, Sending::from(microphone, camera), frames, preview).await?;
    Ok(code.to_string())
}

/// Ring a personal code (a contact's, or one typed in); `microphone` and `camera` as for [`join_room`].
#[tauri::command]
pub async fn call_contact(
    app: AppHandle,
    code: String,
    microphone: Option<bool>,
    camera: Option<bool>,
    frames: Channel<InvokeResponseBody>,
    preview: Channel<InvokeResponseBody>,
) -> Result<()> {
    let code =
        PersonalCode::parse(&code).map_err(|e| AppError::Invalid(format!("That personal code does not work: {e}.")))?;
    let state = app.state::<AppState>();
    if code == state.store.identity.personal_code() {
        return Err(AppError::Invalid("That is your own code.".into()));
    }
    let name = state.store.contacts().name_of(code.as_str()).map(str::to_owned).unwrap_or_else(|| code.to_string());
    let who = Who { name, code: Some(code.to_string()), room: None };
    crate::calls::start(&app, Dial::Out(Target::Contact(code), who), Sending::from(microphone, camera), frames, preview)
        .await
}

/// Answer the ringing call.
#[tauri::command]
pub async fn accept_call(
    app: AppHandle,
    call: String,
    frames: Channel<InvokeResponseBody>,
    preview: Channel<InvokeResponseBody>,
) -> Result<()> {
    let state = app.state::<AppState>();
    if state.phone.ringing().is_none_or(|r| r.call != call) {
        return Err(AppError::NoIncoming);
    }
    crate::calls::start(&app, Dial::Answer(call), Sending::default(), frames, preview).await
}

#[tauri::command]
pub async fn decline_call(state: State<'_, AppState>, call: String) -> Result<()> {
    state.stop_ringing(Some(&call));
    state.phone.decline(&call).await.map_err(|_| AppError::NoIncoming)
}

fn current(state: &State<'_, AppState>) -> Result<Call> {
    state.call().ok_or(AppError::NoCall)
}

#[tauri::command]
pub fn hang_up(state: State<'_, AppState>) {
    if let Some(call) = state.call() {
        call.hang_up();
    }
}

/// Ring a contact into this room call ("Add someone"); `invite` events say how it goes.
#[tauri::command]
pub async fn invite_contact(state: State<'_, AppState>, code: String) -> Result<()> {
    let code =
        PersonalCode::parse(&code).map_err(|e| AppError::Invalid(format!("That personal code does not work: {e}.")))?;
    let call = current(&state)?;
    call.invite(code).await.map_err(|e| match e {
        tincan_engine::EngineError::NotConnected => AppError::Invalid("Only a room call can take someone more.".into()),
        tincan_engine::EngineError::Invalid(_) => {
            AppError::Invalid("This room is for two: create a room to call several people.".into())
        }
        e => e.into(),
    })
}

#[tauri::command]
pub fn set_microphone(state: State<'_, AppState>, on: bool) -> Result<()> {
    Ok(current(&state)?.set_microphone(on)?)
}

#[tauri::command]
pub fn set_camera(state: State<'_, AppState>, on: bool) -> Result<()> {
    Ok(current(&state)?.set_camera(on)?)
}

#[tauri::command]
pub async fn send_chat(state: State<'_, AppState>, text: String) -> Result<String> {
    Ok(current(&state)?.send_chat(text).await?)
}

/// Send a file: `path`, or (without one) what the user picks in the system's file dialog. Returns the
/// transfer id, or nothing if the dialog was cancelled.
#[tauri::command]
pub async fn send_file(app: AppHandle, path: Option<String>) -> Result<Option<u64>> {
    let call = current(&app.state::<AppState>())?;
    let path = match path {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            app.dialog().file().set_title("Send a file").pick_file(move |f| {
                let _ = tx.send(f.and_then(|f| f.into_path().ok()));
            });
            match rx.await.ok().flatten() {
                Some(p) => p,
                None => return Ok(None),
            }
        }
    };
    Ok(Some(call.send_file(path).await?))
}

/// Take the file `peer` offered (the engine's `offered` file event): it is saved in the downloads.
#[tauri::command]
pub fn accept_file(state: State<'_, AppState>, peer: String, id: u64) -> Result<()> {
    Ok(current(&state)?.accept_file(&peer, id)?)
}

#[tauri::command]
pub fn decline_file(state: State<'_, AppState>, peer: String, id: u64) -> Result<()> {
    Ok(current(&state)?.decline_file(&peer, id)?)
}

#[tauri::command]
pub fn cancel_file(state: State<'_, AppState>, id: u64) -> Result<()> {
    Ok(current(&state)?.cancel_file(id)?)
}

/// A file received in a call, as the UI names it: only one this app saved.
fn received(state: &State<'_, AppState>, path: &str) -> Result<std::path::PathBuf> {
    let path = std::path::PathBuf::from(path);
    if lock(&state.received).contains(&path) && path.is_file() {
        Ok(path)
    } else {
        Err(AppError::Invalid("That file is no longer where it was saved.".into()))
    }
}

/// Kinds of file that run as programs when "opened": a peer chose the name and the contents, so these are
/// only shown in their folder, never opened by a click in a call.
const PROGRAMS: &[&str] = &[
    "appimage", "apk", "app", "bat", "bin", "cmd", "com", "command", "cpl", "deb", "desktop", "dmg", "elf", "exe",
    "hta", "jar", "js", "jse", "lnk", "msi", "msix", "pif", "pkg", "pl", "ps1", "py", "rb", "reg", "rpm", "run", "scr",
    "sh", "vbe", "vbs", "ws", "wsf",
];

fn is_program(path: &std::path::Path) -> bool {
    let by_name =
        path.extension().and_then(|e| e.to_str()).is_some_and(|e| PROGRAMS.iter().any(|p| p.eq_ignore_ascii_case(e)));
    #[cfg(unix)]
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    };
    #[cfg(not(unix))]
    let executable = false;
    by_name || executable
}

/// Open a received file with the desktop's program for it (not a program itself).
#[tauri::command]
pub fn open_received(state: State<'_, AppState>, path: String) -> Result<()> {
    let path = received(&state, &path)?;
    if is_program(&path) {
        return Err(AppError::Invalid(
            "That file is a program: Tincan does not run files from a call. Use Show in folder if you trust it.".into(),
        ));
    }
    tauri_plugin_opener::open_path(&path, None::<&str>)
        .map_err(|e| AppError::Invalid(format!("Could not open it: {e}")))
}

/// Show a received file in the desktop's file manager.
#[tauri::command]
pub fn show_received(state: State<'_, AppState>, path: String) -> Result<()> {
    let path = received(&state, &path)?;
    tauri_plugin_opener::reveal_item_in_dir(&path).map_err(|e| AppError::Invalid(format!("Could not show it: {e}")))
}

/// `peer`'s tile (or, `preview: true`, the preview) shows this many device pixels: larger frames are shrunk.
#[tauri::command]
pub fn set_video_size(state: State<'_, AppState>, preview: bool, peer: Option<String>, width: u32, height: u32) {
    if preview && let Some(check) = lock(&state.check).as_ref() {
        check.preview().set_max_size(width, height);
    }
    if let Some(c) = lock(&state.call).as_ref() {
        if preview {
            c.preview.set_max_size(width, height)
        } else if let Some(peer) = peer {
            c.video.set_size(&peer, width, height)
        }
    }
}

/// The UI drew the last frame it got on `peer`'s tile, or (`preview: true`) the preview (the call's or the
/// device check's).
#[tauri::command]
pub fn frame_shown(state: State<'_, AppState>, preview: bool, peer: Option<String>) {
    if preview && let Some(check) = lock(&state.check).as_ref() {
        check.preview().shown();
    }
    if let Some(c) = lock(&state.call).as_ref() {
        if preview {
            c.preview.shown()
        } else if let Some(pump) = peer.and_then(|p| c.video.get(&p)) {
            pump.shown()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn programs_are_not_opened_from_a_call() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, "x").unwrap();
            p
        };
        assert!(super::is_program(&file("setup.EXE")));
        assert!(super::is_program(&file("run.sh")));
        assert!(super::is_program(&file("tool.desktop")));
        assert!(!super::is_program(&file("minutes.txt")));
        assert!(!super::is_program(&file("photo.jpg")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = file("looks-harmless.txt");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            assert!(super::is_program(&p), "an executable file is a program whatever its name");
        }
    }
}
