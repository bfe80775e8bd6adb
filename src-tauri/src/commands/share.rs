//! Sharing the screen or a window in a call: what can be shared (the picker's list), start, stop.

use tauri::State;
use tincan_devices::audio::SystemSound;
use tincan_devices::screen::{ScreenSource, Shareable, Target};
use tincan_engine::SHARE_FPS;
use tincan_media::source::AudioFeed;

use crate::error::{AppError, Result};
use crate::state::AppState;

fn device(e: tincan_devices::DeviceError) -> AppError {
    match e {
        // Already a sentence about what the user asked for.
        tincan_devices::DeviceError::SystemSound(_) => {
            let text = e.to_string();
            let mut chars = text.chars();
            let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
            AppError::Invalid(format!("{first}{}.", chars.as_str()))
        }
        e => AppError::Media(e.into()),
    }
}

/// Where the blocking work ran: a panic there is not the user's fault, but it is said.
fn joined<T>(r: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| AppError::Invalid(format!("Sharing failed: {e}.")))
}

/// What can be shared: the whole screen, each monitor, each window (X11). On Wayland one line: the desktop's
/// own dialog chooses when the share starts.
#[tauri::command]
pub async fn share_targets() -> Result<Vec<Shareable>> {
    joined(tokio::task::spawn_blocking(tincan_devices::screen::shareable).await)?.map_err(device)
}

/// Share `target` (one of [`share_targets`]' `target`s) with everyone in the call, instead of what was
/// shared before; `sound`: the computer's sound too (what the call plays is cancelled from it).
#[tauri::command]
pub async fn start_share(state: State<'_, AppState>, target: String, sound: bool) -> Result<()> {
    let call = state.call().ok_or(AppError::NoCall)?;
    let processor =
        crate::state::lock(&state.call).as_ref().and_then(|c| c.devices.as_ref().map(|d| d.processor().clone()));
    let target: Target = target.parse().map_err(device)?;
    let (source, sound) = joined(
        tokio::task::spawn_blocking(move || {
            let source = ScreenSource::open(&target, SHARE_FPS)?;
            let sound = match sound {
                true => Some(Box::new(SystemSound::open(processor.as_ref())?) as Box<dyn AudioFeed>),
                false => None,
            };
            Ok::<_, tincan_devices::DeviceError>((source, sound))
        })
        .await,
    )?
    .map_err(device)?;
    Ok(call.share(Box::new(source), sound)?)
}

#[tauri::command]
pub fn stop_share(state: State<'_, AppState>) -> Result<()> {
    Ok(state.call().ok_or(AppError::NoCall)?.stop_share()?)
}
