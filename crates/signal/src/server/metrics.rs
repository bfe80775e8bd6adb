//! `/metrics` in Prometheus text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::backend::Counts;
use super::limits::Refusal;
use super::mailbox::QueuedBytes;
use crate::protocol::ErrorCode;

type Labels = Vec<(&'static str, &'static str)>;

/// Sockets closed at accept by a connection limit, by reason (`full`, `address`).
#[derive(Clone, Default)]
pub struct RefusedSockets(Family<Labels, Counter>);

impl RefusedSockets {
    pub fn count(&self, refusal: Refusal) {
        let reason = match refusal {
            Refusal::Full => "full",
            Refusal::TooManyFromAddress => "address",
        };
        self.0.get_or_create(&vec![("reason", reason)]).inc();
    }
}

pub struct Metrics {
    registry: Registry,
    connections: Gauge,
    rooms: Gauge,
    registered: Gauge,
    ringing: Gauge,
    sockets: Gauge,
    queued_bytes: Gauge,
    queued_bytes_peak: Gauge,
    pub connections_total: Counter,
    pub relayed: Counter,
    pub rejected_connections: Counter,
    pub refused: RefusedSockets,
    errors: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tincan_signal");
        let m = Metrics {
            connections: Gauge::default(),
            rooms: Gauge::default(),
            registered: Gauge::default(),
            ringing: Gauge::default(),
            sockets: Gauge::default(),
            queued_bytes: Gauge::default(),
            queued_bytes_peak: Gauge::default(),
            connections_total: Counter::default(),
            relayed: Counter::default(),
            rejected_connections: Counter::default(),
            refused: RefusedSockets::default(),
            errors: Family::default(),
            registry: Registry::default(),
        };
        registry.register("connections", "Open WebSocket connections", m.connections.clone());
        registry.register("rooms", "Rooms with at least one peer", m.rooms.clone());
        registry.register("registered_codes", "Personal codes registered right now", m.registered.clone());
        registry.register("rings", "Rings waiting for an answer", m.ringing.clone());
        registry.register("sockets", "Open sockets (WebSockets and plain HTTP)", m.sockets.clone());
        registry.register("queued_bytes", "Bytes waiting in the connections' outgoing queues", m.queued_bytes.clone());
        registry.register(
            "queued_bytes_peak",
            "The most bytes ever waiting in the outgoing queues at once",
            m.queued_bytes_peak.clone(),
        );
        registry.register("connections_opened", "WebSocket connections accepted", m.connections_total.clone());
        registry.register("messages_relayed", "Signals delivered to a peer", m.relayed.clone());
        registry.register(
            "connections_rejected",
            "Upgrades refused by the per-IP rate limit",
            m.rejected_connections.clone(),
        );
        registry.register(
            "sockets_refused",
            "Connections closed at accept by the connection limits, by reason (full, address)",
            m.refused.0.clone(),
        );
        registry.register("errors", "Error messages sent, by code", m.errors.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn error(&self, code: ErrorCode) {
        self.errors.get_or_create(&vec![("code", code.as_str())]).inc();
    }

    pub fn errors_of(&self, code: ErrorCode) -> u64 {
        self.errors.get_or_create(&vec![("code", code.as_str())]).get()
    }

    /// The text exposition, with gauges read from the backend, the limits and the mailboxes now.
    pub fn render(&self, counts: Counts, sockets: usize, queued: &QueuedBytes) -> String {
        self.sockets.set(sockets as i64);
        self.queued_bytes.set(queued.now() as i64);
        self.queued_bytes_peak.set(queued.peak() as i64);
        self.connections.set(counts.connections as i64);
        self.rooms.set(counts.rooms as i64);
        self.registered.set(counts.registered as i64);
        self.ringing.set(counts.ringing as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
