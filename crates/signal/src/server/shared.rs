use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backend::Backend;
use super::config::ServerConfig;
use super::limits::ConnectionLimits;
use super::mailbox::QueuedBytes;
use super::metrics::Metrics;
use super::rate_limit::IpLimit;
use super::takeover::Takeovers;

/// What every connection of one server shares.
pub struct Shared {
    pub config: ServerConfig,
    pub backend: Arc<dyn Backend>,
    pub metrics: Metrics,
    pub connect_limit: IpLimit,
    pub join_limit: IpLimit,
    /// Cancelled when the server shuts down: connections say goodbye and end.
    pub shutdown: CancellationToken,
    /// Open connections, so shutdown can wait for their goodbyes.
    pub connections: TaskTracker,
    /// Live connections by peer id, for `hello` with `replaces`.
    pub takeovers: Takeovers,
    /// Open connections in all and per client address.
    pub limits: Arc<ConnectionLimits>,
    /// Bytes waiting in every connection's mailbox.
    pub queued: Arc<QueuedBytes>,
}

impl Shared {
    /// `max_connections`: the resolved cap in all.
    pub fn new(config: ServerConfig, backend: Arc<dyn Backend>, max_connections: usize) -> Self {
        Shared {
            limits: ConnectionLimits::new(
                max_connections,
                config.max_connections_per_address,
                config.trusted_proxies.clone(),
                config.forwarded_header,
            ),
            connect_limit: IpLimit::per_minute(config.connect_per_minute, config.connect_burst),
            join_limit: IpLimit::per_minute(config.join_per_minute, config.join_burst),
            queued: Arc::default(),
            config,
            backend,
            metrics: Metrics::default(),
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            takeovers: Takeovers::new(),
        }
    }
}
