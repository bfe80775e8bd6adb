//! The embedded default: with no signaling server configured, the app runs one in-process. It listens on
//! the LAN (port 7878) so other Tincan apps there can use it; if that port is taken, on loopback only.

use std::net::SocketAddr;

use tincan_signal::server::{ServerConfig, SignalServer};

pub const LAN_ADDR: ([u8; 4], u16) = ([0, 0, 0, 0], 7878);

pub async fn start_embedded() -> anyhow::Result<(SignalServer, String)> {
    let lan = ServerConfig { listen: SocketAddr::from(LAN_ADDR), ..ServerConfig::default() };
    let server = match SignalServer::start(lan).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("embedded server cannot listen on the LAN ({e}); using loopback only");
            SignalServer::start(ServerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() })
                .await?
        }
    };
    // This app reaches its own server over loopback.
    let url = format!("ws://127.0.0.1:{}/ws", server.local_addr().port());
    tracing::info!(%url, "embedded signaling server");
    Ok((server, url))
}
