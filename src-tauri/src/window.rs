//! The main window: closing it hides it to the tray (the app stays reachable, and says so the first time);
//! frames stop while hidden. Its size and place are remembered (tauri-plugin-window-state).

use std::sync::atomic::Ordering;

use tauri::{AppHandle, Manager, WebviewWindow};
use tauri_plugin_notification::NotificationExt;
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

use crate::state::AppState;

/// What of the window is remembered between runs: not whether it shows (`--hidden`, the tray decide).
pub const REMEMBERED: StateFlags = StateFlags::SIZE.union(StateFlags::POSITION).union(StateFlags::MAXIMIZED);

fn main_window(app: &AppHandle) -> Option<WebviewWindow> {
    app.get_webview_window("main")
}

pub fn show(app: &AppHandle) {
    if let Some(w) = main_window(app) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
    app.state::<AppState>().visible.store(true, Ordering::Relaxed);
}

pub fn hide(app: &AppHandle) {
    app.state::<AppState>().visible.store(false, Ordering::Relaxed);
    // The app rarely exits (it lives in the tray): the window's state is saved when it goes away.
    if let Err(e) = app.save_window_state(REMEMBERED) {
        tracing::warn!("cannot remember the window's size: {e}");
    }
    if let Some(w) = main_window(app) {
        let _ = w.hide();
    }
}

/// The first time the window is closed: a notification says Tincan is still running, and where to quit.
pub fn tell_about_tray(app: &AppHandle) {
    let state = app.state::<AppState>();
    let mut settings = state.store.settings();
    if settings.tray_hint_shown {
        return;
    }
    let shown = app
        .notification()
        .builder()
        .title("Tincan is still running")
        .body("Calls still ring here. To quit, use Quit in Tincan's tray menu.")
        .show();
    if let Err(e) = shown {
        tracing::info!("no notification for the tray hint: {e}");
    }
    settings.tray_hint_shown = true;
    if let Err(e) = state.store.set_settings(settings) {
        tracing::warn!("settings: {e}");
    }
}
