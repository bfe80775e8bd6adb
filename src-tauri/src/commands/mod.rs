//! Commands the UI invokes. Each is a thin adapter: parse, call the store or the engine, and report errors
//! as sentences ([`AppError`](crate::error::AppError) serialises to its message).

pub mod call;
pub mod contacts;
pub mod devices;
pub mod settings;
pub mod share;
#[cfg(test)]
mod tests;

use serde::Serialize;
use tauri::State;

use tincan_engine::phone::{Ring, Status};

use crate::error::{AppError, Result};
use crate::state::{AppState, lock};

#[derive(Serialize)]
pub struct AppInfo {
    version: &'static str,
    server_url: String,
    embedded_server: bool,
    /// Empty until the user has picked a name (the first-start screen shows).
    display_name: String,
    code: String,
    link: String,
    status: Status,
    in_call: bool,
    incoming: Option<Ring>,
    /// Damaged files set aside at start, said once.
    notices: Vec<String>,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    let code = state.store.identity.personal_code().to_string();
    let in_call = lock(&state.call).is_some();
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        server_url: state.server_url(),
        // The built-in server only when it is the one in use (a configured server may be unreachable).
        embedded_server: lock(&state.embedded).is_some() && crate::server::configured(&state).is_none(),
        display_name: state.store.settings().display_name,
        link: format!("tincan://call/{code}"),
        code,
        status: state.phone.status(),
        in_call,
        incoming: state.phone.ringing(),
        notices: if state.notices_said.swap(true, std::sync::atomic::Ordering::Relaxed) {
            Vec::new()
        } else {
            state.store.notices.clone()
        },
    }
}

/// Full screen on or off (the call's F11 and double-click); returns whether it is now.
#[tauri::command]
pub fn set_full_screen(window: tauri::WebviewWindow, on: bool) -> Result<bool> {
    window.set_fullscreen(on).map_err(|e| AppError::Invalid(format!("Full screen is not available: {e}")))?;
    Ok(window.is_fullscreen().unwrap_or(on))
}

/// The UI reports what it sees (its errors included) to the log.
#[tauri::command]
pub fn ui_log(message: String) {
    tracing::info!(target: "tincan::ui", "{}", message.chars().take(500).collect::<String>());
}
