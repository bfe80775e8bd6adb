//! The signaling server: `SignalServer::start` binds, serves `/ws`, `/healthz` and `/metrics`, and shuts down
//! gracefully (every connection is told `shutting_down` before it closes).

mod backend;
pub mod config;
mod connection;
mod fd_limit;
mod guest;
mod http;
pub mod limits;
mod mailbox;
mod memory;
mod metrics;
mod own_host;
mod rate_limit;
mod session;
mod shared;
mod takeover;
mod turn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

pub use backend::{Backend, Counts, JoinRefusal, Mailbox, Ring, RingParty};
pub use config::{ServerArgs, ServerConfig, TlsFiles, TurnConfig};
pub use fd_limit::raise_fd_limit;
pub use memory::MemoryBackend;
pub use turn::rest_credentials;

use crate::protocol::ErrorCode;
use crate::{Error, Result};
use limits::LimitAcceptor;
use shared::Shared;

/// How often idle per-IP rate-limit buckets are forgotten.
const JANITOR_PERIOD: Duration = Duration::from_secs(60);
/// How often the janitor looks whether many connections or queued bytes went away (then it gives the freed
/// memory back to the system).
const TRIM_LOOK: Duration = Duration::from_secs(2);

/// A running server.
pub struct SignalServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    handle: Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
}

impl SignalServer {
    /// Start with the in-memory backend.
    pub async fn start(config: ServerConfig) -> Result<Self> {
        Self::start_with_backend(config, Arc::new(MemoryBackend::new())).await
    }

    pub async fn start_with_backend(config: ServerConfig, backend: Arc<dyn Backend>) -> Result<Self> {
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tls = config.tls.clone();
        let max_connections = match config.max_connections {
            0 => descriptor_limit().saturating_sub(limits::DESCRIPTOR_RESERVE).max(16) as usize,
            n => n,
        };
        let header_timeout = config.header_timeout;
        let shared = Arc::new(Shared::new(config, backend, max_connections));
        let app = http::router(shared.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let handle = Handle::new();
        let limit = LimitAcceptor { limits: shared.limits.clone(), refused: shared.metrics.refused.clone() };
        // A socket must get its first request in within the header timeout (the TLS handshake included), and
        // every later request's headers too: half-sent requests are not held.
        let task = match &tls {
            Some(files) => {
                // Whoever installs first wins; ring is the only provider this build links.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let rustls = RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await
                    .map_err(|e| Error::Tls(format!("{} / {}: {e}", files.cert.display(), files.key.display())))?;
                let mut server = axum_server::from_tcp_rustls(listener, rustls)?
                    .map(|tls| tls.handshake_timeout(header_timeout).acceptor(limit))
                    .first_request_timeout(Some(header_timeout))
                    .handle(handle.clone());
                server.http_builder().http1().header_read_timeout(Some(header_timeout));
                tokio::spawn(server.serve(app))
            }
            None => {
                let mut server = axum_server::from_tcp(listener)?
                    .acceptor(limit)
                    .first_request_timeout(Some(header_timeout))
                    .handle(handle.clone());
                server.http_builder().http1().header_read_timeout(Some(header_timeout));
                tokio::spawn(server.serve(app))
            }
        };
        tokio::spawn(janitor(shared.clone()));
        tracing::info!(%addr, tls = tls.is_some(), "signaling server listening");
        Ok(SignalServer { addr, tls: tls.is_some(), shared, handle, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/ws` or `wss://ADDR/ws`.
    pub fn ws_url(&self) -> String {
        format!("{}://{}/ws", if self.tls { "wss" } else { "ws" }, self.addr)
    }

    pub fn counts(&self) -> Counts {
        self.shared.backend.counts()
    }

    /// How many `error` messages with `code` the server has sent.
    pub fn errors_sent(&self, code: ErrorCode) -> u64 {
        self.shared.metrics.errors_of(code)
    }

    /// Stop accepting, tell every connection `shutting_down`, and wait (up to 10 s) for them to close.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        self.shared.connections.close();
        if tokio::time::timeout(Duration::from_secs(10), self.shared.connections.wait()).await.is_err() {
            tracing::warn!("connections still open after 10 s; stopping anyway");
        }
        match self.task.await {
            Ok(Err(e)) => tracing::warn!("server ended with {e}"),
            Err(e) => tracing::warn!("server task failed: {e}"),
            Ok(Ok(())) => {}
        }
        tracing::info!("signaling server stopped");
    }
}

/// This process's descriptor limit (soft), or 1024 if it cannot be read.
fn descriptor_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 { limit.rlim_cur } else { 1024 }
}

async fn janitor(s: Arc<Shared>) {
    let mut tick = tokio::time::interval(JANITOR_PERIOD);
    let mut look = tokio::time::interval(TRIM_LOOK);
    // The most connections and queued bytes since memory was last given back.
    let (mut high_open, mut high_queued) = (0usize, 0usize);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                s.connect_limit.forget_idle();
                s.join_limit.forget_idle();
            }
            _ = look.tick() => {
                let (open, queued) = (s.limits.open(), s.queued.now());
                if high_open > open + 100 || high_queued > queued + (4 << 20) {
                    give_back_memory();
                    (high_open, high_queued) = (open, queued);
                }
                high_open = high_open.max(open);
                high_queued = high_queued.max(queued);
            }
            _ = s.shutdown.cancelled() => return,
        }
    }
}

/// Hand freed heap back to the system. glibc keeps what was freed for reuse: after a crowd of connections or
/// a flood of queued messages is gone, the process would otherwise stay at its peak.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and shrinks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
