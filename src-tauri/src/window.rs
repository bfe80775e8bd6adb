//! The main window: closing it hides it to the tray (the app stays reachable); frames stop while hidden.

use std::sync::atomic::Ordering;

use tauri::{AppHandle, Manager, WebviewWindow};

use crate::state::AppState;

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
    if let Some(w) = main_window(app) {
        let _ = w.hide();
    }
}
