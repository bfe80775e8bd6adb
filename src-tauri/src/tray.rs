//! The tray icon: the app's state in its title and first menu line (Linux trays show no tooltips), and
//! Open, Join room…, Do not disturb, Quit.

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime, Wry};

use crate::error::Result;
use tincan_engine::phone::Status;

use crate::contract::UiEvent;
use crate::links::Open;
use crate::state::AppState;

pub struct Tray {
    icon: TrayIcon,
    status: MenuItem<Wry>,
    dnd: CheckMenuItem<Wry>,
}

pub fn label(status: Status) -> &'static str {
    match status {
        Status::Offline => "Offline",
        Status::Online => "Online",
        Status::InCall => "In a call",
    }
}

pub fn build(app: &AppHandle) -> Result<Tray> {
    let state = app.state::<AppState>();
    let status = MenuItem::with_id(app, "status", label(Status::Offline), false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open Tincan", true, None::<&str>)?;
    let join = MenuItem::with_id(app, "join", "Join room…", true, None::<&str>)?;
    let dnd = CheckMenuItem::with_id(
        app,
        "dnd",
        "Do not disturb",
        true,
        state.store.settings().do_not_disturb,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&status, &separator, &open, &join, &dnd, &separator, &quit])?;
    let mut builder =
        TrayIconBuilder::with_id("tincan").menu(&menu).tooltip("Tincan — offline").title("Tincan").on_menu_event(
            |app, event| match event.id().as_ref() {
                "open" => crate::window::show(app),
                "join" => crate::window::open(app, Open::JoinForm),
                "dnd" => toggle_dnd(app),
                "quit" => app.exit(0),
                _ => {}
            },
        );
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    let icon = builder.build(app)?;
    Ok(Tray { icon, status, dnd })
}

fn toggle_dnd(app: &AppHandle) {
    let state = app.state::<AppState>();
    let mut settings = state.store.settings();
    settings.do_not_disturb = !settings.do_not_disturb;
    match state.store.set_settings(settings) {
        Ok(s) => {
            set_dnd(app, s.do_not_disturb);
            state.phone.set_do_not_disturb(s.do_not_disturb);
            UiEvent::SettingsChanged(&s).emit(app);
        }
        Err(e) => tracing::warn!("do not disturb: {e}"),
    }
}

pub fn set_dnd<R: Runtime>(app: &AppHandle<R>, on: bool) {
    if let Some(tray) = app.try_state::<Tray>() {
        let _ = tray.dnd.set_checked(on);
    }
}

/// Show the state in the tray (and nowhere else needs it).
pub fn set_status<R: Runtime>(app: &AppHandle<R>, status: Status) {
    if let Some(tray) = app.try_state::<Tray>() {
        let text = label(status);
        let _ = tray.status.set_text(text);
        let _ = tray.icon.set_title(Some(format!("Tincan — {text}")));
        let _ = tray.icon.set_tooltip(Some(format!("Tincan — {text}")));
    }
}
