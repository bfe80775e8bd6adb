//! `tincan`: the desktop app. A Tauri shell: commands and events are thin adapters over the call engine
//! (`tincan-engine`); the web UI in `ui/` only presents.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod server;
mod state;
mod video;

use tauri::Manager;

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TINCAN_LOG")
        .unwrap_or_else(|_| "warn,tincan=info,rtc=error,rtc_ice=error,rtc_dtls=error,webrtc=error".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = tauri::Builder::default()
        .setup(|app| {
            let state = tauri::async_runtime::block_on(state::AppState::start())?;
            app.manage(state);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::new_room,
            commands::startup_room,
            commands::normalize_room,
            commands::join_room,
            commands::hang_up,
            commands::set_microphone,
            commands::set_camera,
            commands::send_chat,
            commands::frame_shown,
            commands::ui_log,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("tincan: {e}");
        std::process::exit(1);
    }
}
