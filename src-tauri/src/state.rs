//! What the app keeps between commands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tincan_engine::Call;
use tincan_engine::presence::Presence;
use tincan_signal::server::SignalServer;
use tokio::sync::watch;

use crate::lan::LanPresence;
use crate::store::Store;
use crate::video::FramePump;

/// How reachable the app is; the tray and the lobby show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Offline,
    Online,
    InCall,
}

/// A ring waiting for the user's answer.
#[derive(Clone, Debug, Serialize)]
pub struct IncomingRing {
    pub call: String,
    pub from_name: String,
    pub from_code: Option<String>,
}

pub struct ActiveCall {
    pub call: Call,
    /// Remote video.
    pub video: FramePump,
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
    pub call: Mutex<Option<ActiveCall>>,
    pub presence: Mutex<Option<Arc<Presence>>>,
    pub incoming: Mutex<Option<IncomingRing>>,
    /// What the server says about the contacts' codes (absent: not known).
    pub contacts_online: Mutex<HashMap<String, bool>>,
    pub status: Mutex<Status>,
    /// Frames go to the window only while it is shown.
    pub visible: Arc<AtomicBool>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    pub fn new(store: Store) -> AppState {
        AppState {
            store,
            server: watch::Sender::new(String::new()),
            lan_choice: Mutex::default(),
            embedded: Mutex::default(),
            lan: Mutex::default(),
            call: Mutex::default(),
            presence: Mutex::default(),
            incoming: Mutex::default(),
            contacts_online: Mutex::default(),
            status: Mutex::new(Status::Offline),
            visible: Arc::new(AtomicBool::new(true)),
        }
    }

    pub fn call(&self) -> Option<Call> {
        lock(&self.call).as_ref().map(|c| c.call.clone())
    }

    pub fn server_url(&self) -> String {
        self.server.borrow().clone()
    }

    pub fn is_visible(&self) -> bool {
        self.visible.load(Ordering::Relaxed)
    }
}
