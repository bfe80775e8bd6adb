//! The main window: closing it puts the app in the tray (it stays reachable, and says so the first time).
//! In the tray outside a call the window and its webview are let go — WebKit's processes end — and made
//! again when the window is shown (a ring, the tray's Open, a link), so an app idle in the tray costs only
//! itself. During a call the webview stays (it draws the call's video) and only hides; frames stop while
//! hidden. The window's size and place are remembered (tauri-plugin-window-state).

use std::sync::atomic::Ordering;

use tauri::{AppHandle, Manager, WebviewWindow, WebviewWindowBuilder};
use tauri_plugin_notification::NotificationExt;
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

use crate::contract::UiEvent;
use crate::links::Open;
use crate::state::{AppState, lock};

/// What of the window is remembered between runs: not whether it shows (`--hidden`, the tray decide).
pub const REMEMBERED: StateFlags = StateFlags::SIZE.union(StateFlags::POSITION).union(StateFlags::MAXIMIZED);

fn main_window(app: &AppHandle) -> Option<WebviewWindow> {
    app.get_webview_window("main")
}

/// The main window as tauri.conf.json describes it (not made at start: `create` is false).
fn make_window(app: &AppHandle) -> Option<WebviewWindow> {
    let config = app.config().app.windows.iter().find(|w| w.label == "main")?;
    match WebviewWindowBuilder::from_config(app, config).and_then(|b| b.build()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("cannot make the window: {e}");
            None
        }
    }
}

/// Under WebDriver (tauri-driver sets this) the session lives in the webview: it is never let go.
fn automated() -> bool {
    std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true")
}

/// At start: the window shown, or (`--hidden`, start in the tray) not made at all — unless the command line
/// asked for something (`--hidden --join ROOM`): the window shows what was asked.
pub fn start(app: &AppHandle, hidden: bool) {
    if !hidden || lock(&app.state::<AppState>().pending_open).is_some() {
        show(app);
        return;
    }
    app.state::<AppState>().visible.store(false, Ordering::Relaxed);
    if automated() {
        // WebDriver needs a webview to drive from the start.
        on_main_thread(app, |app| {
            make_window(app);
        });
    }
}

/// Making, showing and letting go of the window happen on the main thread, one after another: a ring (the
/// phone's task), the tray and a link may ask at once.
fn on_main_thread(app: &AppHandle, f: impl FnOnce(&AppHandle) + Send + 'static) {
    let handle = app.clone();
    if let Err(e) = app.run_on_main_thread(move || f(&handle)) {
        tracing::warn!("the window: {e}");
    }
}

pub fn show(app: &AppHandle) {
    // Said at once: a ring's notification is for a window that is not on screen.
    app.state::<AppState>().visible.store(true, Ordering::Relaxed);
    on_main_thread(app, show_now);
}

fn show_now(app: &AppHandle) {
    if let Some(w) = main_window(app).or_else(|| make_window(app)) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// Show the window and have the UI open `target` (it takes it when it is ready, if the window is new).
pub fn open(app: &AppHandle, target: Open) {
    *lock(&app.state::<AppState>().pending_open) = Some(target.clone());
    show(app);
    UiEvent::Open(&target).emit(app);
}

pub fn hide(app: &AppHandle) {
    let state = app.state::<AppState>();
    state.visible.store(false, Ordering::Relaxed);
    // Nobody sees the device check any more: its camera and microphone close (off this thread: closing
    // waits for the devices).
    if let Some(check) = lock(&state.check).take() {
        std::thread::spawn(move || drop(check));
    }
    on_main_thread(app, hide_now);
}

fn hide_now(app: &AppHandle) {
    let state = app.state::<AppState>();
    // Shown again meanwhile (a ring, the tray): it stays.
    if state.is_visible() {
        return;
    }
    let Some(w) = main_window(app) else { return };
    // The app rarely exits (it lives in the tray): the window's state is saved when it goes away.
    if let Err(e) = app.save_window_state(REMEMBERED) {
        tracing::warn!("cannot remember the window's size: {e}");
    }
    // A call starting or under way draws into this webview: it only hides.
    let in_call = lock(&state.call).is_some() || state.phone.call().is_some();
    if in_call || automated() {
        let _ = w.hide();
    } else if let Err(e) = w.destroy() {
        tracing::warn!("cannot let the window go: {e}");
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
