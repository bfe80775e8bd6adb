//! Sharing the screen or a window in a call: what can be shared (the picker's list), start, stop.

use tauri::State;
use tincan_devices::screen::{ScreenSource, Shareable, Target};
use tincan_engine::SHARE_FPS;

use crate::error::{AppError, Result};
use crate::state::AppState;

fn device(e: tincan_devices::DeviceError) -> AppError {
    AppError::Media(e.into())
}

/// Where the blocking work ran: a panic there is not the user's fault, but it is said.
fn joined<T>(r: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| AppError::Invalid(format!("Sharing failed: {e}.")))
}

/// What can be shared: the whole screen, each monitor, each window (X11). On Wayland: an error saying
/// sharing there is not built yet.
#[tauri::command]
pub async fn share_targets() -> Result<Vec<Shareable>> {
    joined(tokio::task::spawn_blocking(tincan_devices::screen::shareable).await)?.map_err(device)
}

/// Share `target` (one of [`share_targets`]' `target`s) with everyone in the call, instead of what was
/// shared before.
#[tauri::command]
pub async fn start_share(state: State<'_, AppState>, target: String) -> Result<()> {
    let call = state.call().ok_or(AppError::NoCall)?;
    let target: Target = target.parse().map_err(device)?;
    let source =
        joined(tokio::task::spawn_blocking(move || ScreenSource::open(&target, SHARE_FPS)).await)?.map_err(device)?;
    Ok(call.share(Box::new(source))?)
}

#[tauri::command]
pub fn stop_share(state: State<'_, AppState>) -> Result<()> {
    Ok(state.call().ok_or(AppError::NoCall)?.stop_share()?)
}
