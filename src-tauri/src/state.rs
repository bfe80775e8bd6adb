use std::sync::Mutex;

use tincan_engine::Call;
use tincan_signal::server::SignalServer;

use crate::video::FramePump;

/// What the app keeps between commands.
pub struct AppState {
    /// The signaling server calls go through.
    pub server_url: String,
    /// Present when the app runs its own server (no server configured).
    pub embedded: Option<SignalServer>,
    pub call: Mutex<Option<Call>>,
    pub remote_video: Mutex<Option<FramePump>>,
}

impl AppState {
    pub async fn start() -> anyhow::Result<AppState> {
        let configured = std::env::var("TINCAN_SERVER").ok().filter(|s| !s.trim().is_empty());
        let (embedded, server_url) = match configured {
            Some(url) => (None, url),
            None => {
                let (server, url) = crate::server::start_embedded().await?;
                (Some(server), url)
            }
        };
        Ok(AppState { server_url, embedded, call: Mutex::default(), remote_video: Mutex::default() })
    }

    pub fn call(&self) -> Option<Call> {
        self.call.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
