//! What the app keeps between commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tincan_engine::Call;
use tincan_engine::phone::{Phone, PhoneConfig, PhoneEvent};
use tincan_signal::server::SignalServer;
use tokio::sync::{mpsc, watch};

use crate::lan::LanPresence;
use crate::store::Store;
use crate::video::{FramePump, Tiles};

pub struct ActiveCall {
    pub call: Call,
    /// Everyone's video, a tile each.
    pub video: Tiles,
    /// What we send.
    pub preview: FramePump,
    /// The devices in use (none with the test media).
    pub devices: Option<crate::media::CallDevices>,
}

pub struct AppState {
    pub store: Store,
    /// The server in use: `TINCAN_SERVER`, else the settings', else the LAN's choice.
    pub server: watch::Sender<String>,
    /// The LAN's choice (this app's embedded server unless another app's won).
    pub lan_choice: Mutex<Option<watch::Receiver<String>>>,
    pub embedded: Mutex<Option<SignalServer>>,
    pub lan: Mutex<Option<LanPresence>>,
    /// The engine's call manager: presence, rings, busy and do-not-disturb, the current call.
    pub phone: Phone,
    /// The device check before joining, while it is open.
    pub check: Mutex<Option<crate::check::DeviceCheck>>,
    /// The current call's handle and what shows it (the phone knows the call; the app its windows).
    pub call: Mutex<Option<ActiveCall>>,
    /// Frames go to the window only while it is shown.
    pub visible: Arc<AtomicBool>,
    /// What the UI is to open next (a link, a second launch, the tray's Join room…, the command line at
    /// start): taken by the UI, which may not exist yet when it is asked.
    pub pending_open: Mutex<Option<crate::links::Open>>,
    /// The start's notices (damaged files set aside) were given to a UI: a window made again later does
    /// not say them again.
    pub notices_said: AtomicBool,
    /// Sounding while a call rings: the ring's call id and its ringtone.
    pub ringtone: Mutex<Option<(String, crate::ringtone::Ringtone)>>,
    /// Shown while a call rings with the window away: the ring's call id and its notification.
    pub ring_notice: Mutex<Option<(String, crate::ring_notice::RingNotice)>>,
    /// Files received and saved since the app started: the only ones Open / Show in folder will touch.
    pub received: Mutex<std::collections::HashSet<std::path::PathBuf>>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What `slot` holds for the ring `call` (`None`: for any ring), taken out.
fn take_if<T>(slot: &Mutex<Option<(String, T)>>, call: Option<&str>) -> Option<(String, T)> {
    let mut held = lock(slot);
    if held.as_ref().is_some_and(|(c, _)| call.is_none_or(|call| call == c)) { held.take() } else { None }
}

impl AppState {
    /// The state and the call manager's events (for [`crate::phone::spawn`]).
    pub fn new(store: Store) -> (AppState, mpsc::UnboundedReceiver<PhoneEvent>) {
        let config = PhoneConfig {
            client_name: format!("tincan {}", env!("CARGO_PKG_VERSION")),
            identity: store.identity.clone(),
            tls: None,
        };
        // The phone's tasks run on Tauri's runtime.
        let (phone, events) = tauri::async_runtime::block_on(async { Phone::start(config) });
        let state = AppState {
            store,
            phone,
            server: watch::Sender::new(String::new()),
            lan_choice: Mutex::default(),
            embedded: Mutex::default(),
            lan: Mutex::default(),
            call: Mutex::default(),
            check: Mutex::default(),
            // Not on screen until the start shows the window: a ring that comes while the app starts (before
            // `window::start`) is for a window nobody sees yet, and gets its notification.
            visible: Arc::new(AtomicBool::new(false)),
            received: Mutex::default(),
            ringtone: Mutex::default(),
            ring_notice: Mutex::default(),
            notices_said: AtomicBool::new(false),
            pending_open: Mutex::new(crate::links::from_args(&std::env::args().skip(1).collect::<Vec<_>>())),
        };
        (state, events)
    }

    pub fn call(&self) -> Option<Call> {
        lock(&self.call).as_ref().map(|c| c.call.clone())
    }

    pub fn server_url(&self) -> String {
        self.server.borrow().clone()
    }

    /// The ring `call` is over (`None`: whatever rings — we answer or call out): its ringtone stops and its
    /// notification is withdrawn. Another ring's end (a second one declined as busy) leaves them.
    pub fn stop_ringing(&self, call: Option<&str>) {
        // Taken out first: the ringtone's thread is joined without the lock held.
        let ringtone = take_if(&self.ringtone, call);
        drop(ringtone);
        drop(take_if(&self.ring_notice, call));
    }

    pub fn is_visible(&self) -> bool {
        self.visible.load(Ordering::Relaxed)
    }
}
