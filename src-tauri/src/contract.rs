//! The contract between the app and its UI, in one place: every command the UI may invoke and every event
//! it may hear, by name, with its payload's Rust type, and the kinds inside the engine's events (event
//! kinds, file event kinds, call states, end reasons, from the engine's own lists). The names are written
//! to `ui/contract.json`; a test here keeps that file true, and the UI's own test (`ui/contract.test.mjs`)
//! checks that every `invoke`, `listen` and engine-event `case` in `ui/` names something in it. Payloads
//! are the serde forms of the types below.

use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime};
use tincan_devices::DeviceNotice;
use tincan_engine::EngineEvent;
use tincan_engine::phone::{Ring, Status};

use crate::commands;
use crate::links::Open;
use crate::store::settings::Settings;

/// Lists the commands once: `$callback!` gets them as paths (for `generate_handler!`) or as names.
macro_rules! commands {
    ($callback:ident) => {
        $callback!(
            commands::app_info,
            commands::ui_log,
            commands::set_full_screen,
            commands::call::guest_link,
            commands::call::new_room,
            commands::call::pending_target,
            commands::call::join_room,
            commands::call::call_contact,
            commands::call::accept_call,
            commands::call::decline_call,
            commands::call::hang_up,
            commands::call::invite_contact,
            commands::call::set_microphone,
            commands::call::set_camera,
            commands::call::send_chat,
            commands::call::send_file,
            commands::call::accept_file,
            commands::call::decline_file,
            commands::call::cancel_file,
            commands::call::open_received,
            commands::call::show_received,
            commands::call::frame_shown,
            commands::call::set_video_size,
            commands::contacts::contacts,
            commands::contacts::save_contact,
            commands::contacts::delete_contact,
            commands::contacts::recent_calls,
            commands::settings::get_settings,
            commands::settings::check_settings,
            commands::settings::save_settings,
            commands::settings::autostart_enabled,
            commands::devices::list_devices,
            commands::devices::switch_device,
            commands::devices::start_check,
            commands::devices::play_test_sound,
            commands::devices::stop_check,
            commands::share::share_targets,
            commands::share::start_share,
            commands::share::stop_share,
        )
    };
}

macro_rules! handler {
    ($($($segment:ident)::+),* $(,)?) => {
        tauri::generate_handler![$($($segment)::+),*]
    };
}

#[cfg(test)]
macro_rules! names {
    ($($($segment:ident)::+),* $(,)?) => {
        [$(stringify!($($segment)::+)),*]
    };
}

/// What the UI invokes.
pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    commands!(handler)
}

/// The commands' names, as the UI invokes them.
#[cfg(test)]
fn command_names() -> Vec<&'static str> {
    commands!(names).iter().map(|path| path.rsplit("::").next().unwrap_or(path).trim()).collect()
}

/// Everything the app tells the UI.
pub enum UiEvent<'a> {
    /// The current call's events (state, participants, chat, files, stats…).
    Engine(&'a EngineEvent),
    /// A call rings.
    Incoming(&'a Ring),
    /// The ring is over without being taken here (`reason`: declined, missed, cancelled…).
    RingEnded {
        call: &'a str,
        reason: &'a str,
    },
    /// Reachability under the personal code, with a sentence.
    Presence {
        status: Status,
        detail: &'a str,
    },
    ContactsChanged,
    RecentsChanged,
    SettingsChanged(&'a Settings),
    /// Open a screen: a deep link, a second launch, the tray's "Join room…".
    Open(&'a Open),
    /// A device went away, came back or is missing.
    Device(&'a DeviceNotice),
    /// The device check's microphone level, 0..=1 (a meter's scale: -60 to 0 dBFS).
    MicrophoneLevel {
        level: f64,
    },
}

#[derive(Clone, Serialize)]
struct Level {
    level: f64,
}

#[derive(Clone, Serialize)]
struct RingEnded<'a> {
    call: &'a str,
    reason: &'a str,
}

#[derive(Clone, Serialize)]
struct Presence<'a> {
    status: Status,
    detail: &'a str,
}

/// The events' names, as the UI listens for them.
pub const EVENT_NAMES: [&str; 10] = [
    "engine",
    "incoming",
    "ring_ended",
    "presence",
    "contacts_changed",
    "recents_changed",
    "settings_changed",
    "open",
    "device",
    "microphone_level",
];

impl UiEvent<'_> {
    pub fn name(&self) -> &'static str {
        EVENT_NAMES[self.index()]
    }

    fn index(&self) -> usize {
        match self {
            UiEvent::Engine(_) => 0,
            UiEvent::Incoming(_) => 1,
            UiEvent::RingEnded { .. } => 2,
            UiEvent::Presence { .. } => 3,
            UiEvent::ContactsChanged => 4,
            UiEvent::RecentsChanged => 5,
            UiEvent::SettingsChanged(_) => 6,
            UiEvent::Open(_) => 7,
            UiEvent::Device(_) => 8,
            UiEvent::MicrophoneLevel { .. } => 9,
        }
    }

    /// Tell the UI (nothing happens without a window to hear it).
    pub fn emit<R: Runtime>(self, app: &AppHandle<R>) {
        let name = self.name();
        let sent = match self {
            UiEvent::Engine(e) => app.emit(name, e),
            UiEvent::Incoming(r) => app.emit(name, r),
            UiEvent::RingEnded { call, reason } => app.emit(name, RingEnded { call, reason }),
            UiEvent::Presence { status, detail } => app.emit(name, Presence { status, detail }),
            UiEvent::ContactsChanged | UiEvent::RecentsChanged => app.emit(name, ()),
            UiEvent::SettingsChanged(s) => app.emit(name, s),
            UiEvent::Open(o) => app.emit(name, o),
            UiEvent::Device(d) => app.emit(name, d),
            UiEvent::MicrophoneLevel { level } => app.emit(name, Level { level }),
        };
        if let Err(e) = sent {
            tracing::debug!("event {name} not sent: {e}");
        }
    }
}

/// `ui/contract.json`'s contents.
#[cfg(test)]
fn contract_json() -> String {
    use tincan_engine::{CallState, EndReason, FileEvent};
    let engine = serde_json::json!({
        "events": EngineEvent::KINDS,
        "files": FileEvent::KINDS,
        "states": CallState::NAMES,
        "end_reasons": EndReason::CODES,
    });
    let contract = serde_json::json!({ "commands": command_names(), "events": EVENT_NAMES, "engine": engine });
    serde_json::to_string_pretty(&contract).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ui/contract.json` is what the code says (write it with `TINCAN_WRITE_CONTRACT=1`).
    #[test]
    fn the_ui_contract_file_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/contract.json");
        let want = contract_json();
        if std::env::var_os("TINCAN_WRITE_CONTRACT").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            have, want,
            "ui/contract.json is stale: run TINCAN_WRITE_CONTRACT=1 cargo test -p tincan-app contract"
        );
    }

    #[test]
    fn every_event_has_its_own_name_and_every_command_one() {
        let mut events = EVENT_NAMES.to_vec();
        events.sort();
        events.dedup();
        assert_eq!(events.len(), EVENT_NAMES.len());
        let names = command_names();
        assert!(names.contains(&"join_room") && names.contains(&"app_info"), "{names:?}");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.iter().all(|n| !n.contains(':') && !n.is_empty()), "{names:?}");
    }
}
