//! `tincan`: the desktop app. A Tauri shell: commands and events are thin adapters over the call engine
//! (`tincan-engine`); the web UI in `ui/` only presents. The app lives in the tray: closing the window
//! puts it there (outside a call the window and its webview are let go), and it stays registered under its
//! personal code so contacts can ring it.
//!
//! Flags: `--hidden` starts in the tray; `--join ROOM`, `--call CODE` and `tincan://…` links open a screen.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod calls;
mod check;
mod commands;
mod contract;
mod error;
mod lan;
mod links;
mod media;
mod phone;
mod ring_notice;
mod ringtone;
mod server;
mod state;
mod store;
mod tray;
mod video;
mod window;

use tauri::{Manager, WindowEvent};
use tauri_plugin_deep_link::DeepLinkExt;

fn open_links(app: &tauri::AppHandle, args: &[String]) {
    if let Some(open) = links::from_args(args) {
        window::open(app, open);
    } else {
        window::show(app);
    }
}

/// GTK 3 probes OpenGL (GLX) as it opens the display, for the GL visuals of widgets Tincan has none of;
/// on machines with Mesa's software driver that loads libLLVM, 32 MB of PSS in an app idle in the tray
/// (measured: 107.6 MB started hidden, 75.5 MB without the probe). The webview does its own GL (EGL) when
/// a window is made, whatever this says. A `GDK_GL` of the user's own is kept. Returns whether it set it,
/// for [`unset_gtk_gl_probe`].
fn skip_gtk_gl_probe() -> bool {
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        // SAFETY: called first thing in main, before any thread exists that could read the environment.
        unsafe { std::env::set_var("GDK_GL", "disable") };
        return true;
    }
    false
}

/// Once GTK has read it (the display is open when `setup` runs), `GDK_GL` goes again, so the programs Tincan
/// starts (a received file opened in its viewer) keep their GL.
fn unset_gtk_gl_probe(was_set: bool) {
    if was_set {
        // SAFETY: run at the start of `setup`, before the app starts its own threads; the threads that exist
        // (the plugins' D-Bus connections, the idle async runtime) read the environment only when they
        // start, which they have.
        unsafe { std::env::remove_var("GDK_GL") };
    }
}

fn main() {
    let gl_probe_skipped = skip_gtk_gl_probe();
    tincan_log::init(&format!("warn,tincan=info,{}", tincan_log::QUIET_ROUTINE), tincan_log::Format::Text);
    let result = tauri::Builder::default()
        // First: a second launch hands its arguments (and deep links) to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| open_links(app, &args)))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        // The window's size and place (and whether maximized) as the user left them; shown or hidden is ours.
        .plugin(tauri_plugin_window_state::Builder::default().with_state_flags(window::REMEMBERED).build())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--hidden"]),
        ))
        .setup(move |app| {
            unset_gtk_gl_probe(gl_probe_skipped);
            let store = store::Store::open(&app.path().app_config_dir()?, &app.path().app_data_dir()?);
            let hidden = std::env::args().any(|a| a == "--hidden") || store.settings().start_hidden;
            let (state, phone_events) = state::AppState::new(store);
            app.manage(state);
            let handle = app.handle().clone();
            tauri::async_runtime::block_on(server::apply(&handle))?;
            phone::spawn(handle.clone(), phone_events);
            match tray::build(&handle) {
                Ok(t) => {
                    app.manage(t);
                    // The phone may have said its status before the tray existed: show where it stands now.
                    tray::set_status(&handle, handle.state::<state::AppState>().phone.status());
                }
                Err(e) => tracing::warn!("no tray icon: {e}"),
            }
            // Development builds are not installed: tell the desktop which binary opens tincan:// links.
            #[cfg(all(debug_assertions, target_os = "linux"))]
            if std::env::var_os("TINCAN_LOOPBACK").is_none()
                && let Err(e) = app.deep_link().register_all()
            {
                tracing::warn!("tincan:// links: {e}");
            }
            let links = handle.clone();
            app.deep_link().on_open_url(move |event| {
                let urls: Vec<String> = event.urls().iter().map(|u| u.to_string()).collect();
                open_links(&links, &urls);
            });
            window::start(&handle, hidden);
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                // Closing hides to the tray (said once, the first time); Quit is in the tray menu.
                api.prevent_close();
                window::hide(window.app_handle());
                window::tell_about_tray(window.app_handle());
            }
        })
        .invoke_handler(contract::handler())
        .build(tauri::generate_context!());
    let app = match result {
        Ok(app) => app,
        Err(e) => {
            eprintln!("tincan: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_, event| {
        // The window goes when the app is in the tray: that is not the end; Quit (an exit code) is.
        if let tauri::RunEvent::ExitRequested { code: None, api, .. } = event {
            api.prevent_exit();
        }
    });
}
