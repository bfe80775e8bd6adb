//! `/metrics` in Prometheus text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::backend::Counts;
use crate::protocol::ErrorCode;

type Labels = Vec<(&'static str, &'static str)>;

pub struct Metrics {
    registry: Registry,
    connections: Gauge,
    rooms: Gauge,
    registered: Gauge,
    ringing: Gauge,
    pub connections_total: Counter,
    pub relayed: Counter,
    pub rejected_connections: Counter,
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
            connections_total: Counter::default(),
            relayed: Counter::default(),
            rejected_connections: Counter::default(),
            errors: Family::default(),
            registry: Registry::default(),
        };
        registry.register("connections", "Open WebSocket connections", m.connections.clone());
        registry.register("rooms", "Rooms with at least one peer", m.rooms.clone());
        registry.register("registered_codes", "Personal codes registered right now", m.registered.clone());
        registry.register("rings", "Rings waiting for an answer", m.ringing.clone());
        registry.register("connections_opened", "WebSocket connections accepted", m.connections_total.clone());
        registry.register("messages_relayed", "Signals delivered to a peer", m.relayed.clone());
        registry.register(
            "connections_rejected",
            "Upgrades refused by the per-IP rate limit",
            m.rejected_connections.clone(),
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

    /// The text exposition, with gauges read from the backend now.
    pub fn render(&self, counts: Counts) -> String {
        self.connections.set(counts.connections as i64);
        self.rooms.set(counts.rooms as i64);
        self.registered.set(counts.registered as i64);
        self.ringing.set(counts.ringing as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
