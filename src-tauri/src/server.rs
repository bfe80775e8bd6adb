//! Which signaling server the app uses. `TINCAN_SERVER` (tests, scripts) wins, then the settings; with
//! neither, the embedded default: the app runs the server in-process on the LAN (port 7878, else loopback
//! only), announces it over mDNS and uses the LAN's elected server (see [`crate::lan`]).

use std::net::SocketAddr;

use tauri::{AppHandle, Manager, Runtime};
use tincan_signal::server::{ServerConfig, SignalServer};
use tokio::sync::watch;

use crate::error::Result;
use crate::state::{AppState, lock};

pub const LAN_ADDR: ([u8; 4], u16) = ([0, 0, 0, 0], 7878);

/// The server the user or the environment chose, if any (else the embedded default is in use).
pub fn configured(state: &AppState) -> Option<String> {
    std::env::var("TINCAN_SERVER")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| Some(state.store.settings().server_url).filter(|s| !s.is_empty()))
}

/// Point the app at the right server now (at start and after the settings change).
pub async fn apply<R: Runtime>(app: &AppHandle<R>) -> Result<()> {
    let state = app.state::<AppState>();
    if let Some(url) = configured(&state) {
        state.server.send_replace(url);
        return Ok(());
    }
    if lock(&state.lan_choice).is_none() {
        let (server, own_url, port, lan) = start_embedded().await?;
        let (tx, rx) = watch::channel(own_url.clone());
        // mDNS only when the server is on the LAN, and never in tests (they keep traffic on loopback).
        if lan && std::env::var_os("TINCAN_LOOPBACK").is_none() {
            match crate::lan::start(port, own_url, tx, crate::lan::Scope::Lan) {
                Ok(presence) => *lock(&state.lan) = Some(presence),
                Err(e) => tracing::warn!("cannot announce the server on the LAN: {e}"),
            }
        }
        *lock(&state.embedded) = Some(server);
        *lock(&state.lan_choice) = Some(rx.clone());
        // Follow the LAN's choice while no server is configured.
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let mut rx = rx;
            while rx.changed().await.is_ok() {
                let state = app.state::<AppState>();
                if configured(&state).is_none() {
                    state.server.send_replace(rx.borrow().clone());
                }
            }
        });
    }
    let lan_url = lock(&state.lan_choice).as_ref().map(|rx| rx.borrow().clone()).unwrap_or_default();
    state.server.send_replace(lan_url);
    Ok(())
}

/// Returns the server, how this app reaches it, its port, and whether it listens on the LAN.
async fn start_embedded() -> Result<(SignalServer, String, u16, bool)> {
    let lan = ServerConfig { listen: SocketAddr::from(LAN_ADDR), ..ServerConfig::default() };
    let (server, on_lan) = match SignalServer::start(lan).await {
        Ok(s) => (s, true),
        Err(e) => {
            tracing::warn!("embedded server cannot listen on the LAN ({e}); using loopback only");
            let local = ServerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() };
            (SignalServer::start(local).await?, false)
        }
    };
    let port = server.local_addr().port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    tracing::info!(%url, on_lan, "embedded signaling server");
    Ok((server, url, port, on_lan))
}
