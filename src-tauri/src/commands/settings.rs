//! Settings: read, validate and save, then apply (server, autostart, tray).

use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::error::{AppError, Result};
use crate::state::AppState;
use crate::store::settings::Settings;

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    state.store.settings()
}

/// What is wrong with these settings, field by field (nothing: they can be saved), and the settings as they
/// would be saved (tidied).
#[tauri::command]
pub fn check_settings(settings: Settings) -> (Settings, Vec<crate::store::settings::Problem>) {
    let blank_name = settings.display_name.trim().is_empty();
    let (settings, mut problems) = settings.check();
    if blank_name {
        problems.insert(
            0,
            crate::store::settings::Problem {
                field: "display_name",
                message: "Please type your name: it is what the others see.".into(),
            },
        );
    }
    (settings, problems)
}

#[tauri::command]
pub async fn save_settings<R: Runtime>(app: AppHandle<R>, settings: Settings) -> Result<Settings> {
    // The name is what others see (the tray's do-not-disturb toggle saves settings too, before any name).
    if settings.display_name.trim().is_empty() {
        return Err(AppError::Invalid("Please type your name: it is what the others see.".into()));
    }
    let state = app.state::<AppState>();
    let before = state.store.settings();
    // Not the form's to change: the UI sends back what it read, which may be older.
    let settings = Settings { tray_hint_shown: before.tray_hint_shown, ..settings };
    let saved = state.store.set_settings(settings)?;
    if saved.server_url != before.server_url {
        crate::server::apply(&app).await?;
    }
    if saved.start_at_login != before.start_at_login
        && let Some(autostart) = app.try_state::<AutoLaunchManager>()
    {
        let result = if saved.start_at_login { autostart.enable() } else { autostart.disable() };
        if let Err(e) = result {
            tracing::warn!("start at login: {e}");
        }
    }
    crate::tray::set_dnd(&app, saved.do_not_disturb);
    state.phone.set_do_not_disturb(saved.do_not_disturb);
    crate::contract::UiEvent::SettingsChanged(&saved).emit(&app);
    Ok(saved)
}

/// Whether the app starts at login, as the system has it.
#[tauri::command]
pub fn autostart_enabled<R: Runtime>(app: AppHandle<R>) -> bool {
    app.try_state::<AutoLaunchManager>().is_some_and(|a| a.is_enabled().unwrap_or(false))
}
