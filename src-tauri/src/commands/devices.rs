//! The device listing the settings screen shows (the same one `tincan-cli devices` prints), the in-call
//! pickers, and the device check before joining.

use serde::Serialize;
use tincan_devices::audio::{AudioDeviceInfo, Direction};
use tincan_devices::camera::CameraInfo;

#[derive(Serialize, Default)]
pub struct Devices {
    cameras: Vec<CameraInfo>,
    microphones: Vec<AudioDeviceInfo>,
    speakers: Vec<AudioDeviceInfo>,
    /// What could not be listed, as sentences (no devices at all is not an error: the lists are empty).
    problems: Vec<String>,
}

#[tauri::command]
pub async fn list_devices() -> Devices {
    // Listing opens devices (V4L2, ALSA): off the async runtime.
    tauri::async_runtime::spawn_blocking(|| {
        let mut d = Devices::default();
        match tincan_devices::camera::list() {
            Ok(c) => d.cameras = c,
            Err(e) => d.problems.push(e.to_string()),
        }
        for (direction, list) in [(Direction::Input, &mut d.microphones), (Direction::Output, &mut d.speakers)] {
            match tincan_devices::audio::list(direction) {
                Ok(l) => *list = l,
                Err(e) => d.problems.push(e.to_string()),
            }
        }
        d
    })
    .await
    .unwrap_or_default()
}

/// The in-call pickers: use another camera, microphone or speaker now (`device` empty: the default). The
/// change lasts for this call; the settings keep the choice for the next ones.
#[tauri::command]
pub async fn switch_device(app: tauri::AppHandle, kind: String, device: String) -> crate::error::Result<()> {
    use tauri::Manager;
    // Opening a device can take a second (PulseAudio); and the switch waits for the frame in progress.
    tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<crate::state::AppState>();
        // Cloned out of the lock: the switch may take a while and other commands need the call.
        let devices = crate::state::lock(&state.call).as_ref().and_then(|c| c.devices.clone());
        match devices {
            Some(d) => d.switch(&kind, &device),
            None => Err(crate::error::AppError::Invalid("No call with devices is running.".into())),
        }
    })
    .await
    .map_err(|e| crate::error::AppError::Invalid(e.to_string()))?
}

/// The check before joining: open the devices the settings choose (closing a check already open, so a
/// picker's change takes effect); the camera's picture goes to `preview`, the microphone's level comes as
/// `microphone_level` events.
#[tauri::command]
pub async fn start_check(
    app: tauri::AppHandle,
    preview: tauri::ipc::Channel<tauri::ipc::InvokeResponseBody>,
) -> crate::error::Result<()> {
    use tauri::Manager;
    tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<crate::state::AppState>();
        // Taken out of the lock before it is dropped: closing joins the devices' threads, and the main
        // thread's commands (frames shown, the window hidden) take this lock.
        let old = crate::state::lock(&state.check).take();
        drop(old);
        if crate::state::lock(&state.call).is_some() {
            return Err(crate::error::AppError::Busy);
        }
        let check = crate::check::DeviceCheck::start(&app, &state.store.settings(), preview, state.visible.clone());
        let old = crate::state::lock(&state.check).replace(check);
        drop(old);
        // The window went while the devices opened (`hide` found nothing to close): nobody sees the check.
        if !state.is_visible() {
            let check = crate::state::lock(&state.check).take();
            drop(check);
        }
        Ok(())
    })
    .await
    .map_err(|e| crate::error::AppError::Invalid(e.to_string()))?
}

/// Play the test sound through the check's speaker.
#[tauri::command]
pub fn play_test_sound(state: tauri::State<'_, crate::state::AppState>) -> crate::error::Result<()> {
    match crate::state::lock(&state.check).as_ref() {
        Some(check) => {
            check.play_test_sound();
            Ok(())
        }
        None => Err(crate::error::AppError::Invalid("The device check is not open.".into())),
    }
}

/// Close the check's devices (returns once they are closed).
#[tauri::command]
pub async fn stop_check(app: tauri::AppHandle) {
    use tauri::Manager;
    let _ = tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<crate::state::AppState>();
        let check = crate::state::lock(&state.check).take();
        drop(check);
    })
    .await;
}
