//! Being reachable: a signaling connection registered under the personal code that stays up between calls
//! and turns rings into typed [`PresenceEvent`]s. The front end answers with [`Presence::accept`] (then
//! starts a call in the returned room) or [`Presence::decline`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tincan_signal::client::{ClientConfig, ClientEvent, SignalClient};
use tincan_signal::code::{PersonalCode, RoomCode};
use tincan_signal::identity::Identity;
use tincan_signal::protocol::{CallId, RingEndReason, ServerMessage, UnregisterReason};
use tokio::sync::mpsc;

use crate::{EngineError, Result};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PresenceEvent {
    /// Registered: contacts can ring this code.
    Online { code: String },
    /// The server is out of reach; the client retries.
    Offline { reason: String, retry_in_ms: u64 },
    /// Someone rings.
    Incoming { call: CallId, from_name: String, from_code: Option<String>, room: String },
    /// A ring stopped before it was answered: `missed` (nobody answered in time) or `cancelled` (the caller
    /// gave up).
    RingEnded { call: CallId, reason: String },
    /// Another device registered this code; this one no longer receives rings.
    Replaced,
    /// A watched personal code (see [`Presence::watch`]) is online or not.
    Contact { code: String, online: bool },
}

/// The rings waiting for an answer.
#[derive(Default)]
struct Rings {
    pending: HashMap<CallId, RoomCode>,
}

pub struct Presence {
    client: SignalClient,
    rings: Arc<Mutex<Rings>>,
}

fn lock(rings: &Mutex<Rings>) -> std::sync::MutexGuard<'_, Rings> {
    rings.lock().unwrap_or_else(|p| p.into_inner())
}

impl Presence {
    /// Connect and register `identity`; events arrive on the receiver until [`stop`](Self::stop).
    pub fn start(
        server_url: &str,
        client_name: &str,
        identity: Identity,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> (Presence, mpsc::UnboundedReceiver<PresenceEvent>) {
        let code = identity.personal_code().to_string();
        let config = ClientConfig { tls, ..ClientConfig::new(server_url, client_name).with_identity(identity) };
        let (client, mut client_events) = SignalClient::connect(config);
        let rings = Arc::new(Mutex::new(Rings::default()));
        let (events, event_rx) = mpsc::unbounded_channel();
        let pending = rings.clone();
        tokio::spawn(async move {
            while let Some(event) = client_events.recv().await {
                let out = match event {
                    ClientEvent::Message(ServerMessage::Registered { .. }) => {
                        Some(PresenceEvent::Online { code: code.clone() })
                    }
                    ClientEvent::Disconnected { reason, retry_in } => {
                        lock(&pending).pending.clear();
                        Some(PresenceEvent::Offline { reason, retry_in_ms: retry_in.as_millis() as u64 })
                    }
                    ClientEvent::Message(ServerMessage::Incoming { call, from_name, from_code, room }) => {
                        match RoomCode::parse(&room) {
                            Ok(code) => {
                                lock(&pending).pending.insert(call.clone(), code);
                                Some(PresenceEvent::Incoming { call, from_name, from_code, room })
                            }
                            Err(e) => {
                                tracing::warn!(%room, "a ring names a room code that does not parse: {e}");
                                None
                            }
                        }
                    }
                    ClientEvent::Message(ServerMessage::RingEnded { call, reason }) => {
                        lock(&pending).pending.remove(&call);
                        let reason = match reason {
                            RingEndReason::Missed => "missed",
                            RingEndReason::Cancelled => "cancelled",
                        };
                        Some(PresenceEvent::RingEnded { call, reason: reason.into() })
                    }
                    ClientEvent::Message(ServerMessage::Unregistered {
                        reason: UnregisterReason::Replaced, ..
                    }) => Some(PresenceEvent::Replaced),
                    ClientEvent::Message(ServerMessage::Presence { code, online }) => {
                        Some(PresenceEvent::Contact { code, online })
                    }
                    ClientEvent::Message(ServerMessage::Error { message, .. }) => {
                        tracing::warn!("presence: {message}");
                        None
                    }
                    _ => None,
                };
                if let Some(out) = out
                    && events.send(out).is_err()
                {
                    break;
                }
            }
        });
        (Presence { client, rings }, event_rx)
    }

    /// Answer a ring; the call happens in the returned room (join it with `create: true`).
    pub async fn accept(&self, call: &str) -> Result<RoomCode> {
        let room = lock(&self.rings).pending.remove(call).ok_or(EngineError::RingGone)?;
        self.client.accept(call.to_owned()).await?;
        Ok(room)
    }

    /// Decline a ring; `unavailable`: answer "unavailable", as the server does for a code nobody holds (do not disturb).
    pub async fn decline(&self, call: &str, unavailable: bool) -> Result<()> {
        lock(&self.rings).pending.remove(call).ok_or(EngineError::RingGone)?;
        let reason = unavailable.then_some(tincan_signal::protocol::DeclineReason::Unavailable);
        self.client.decline(call.to_owned(), reason).await?;
        Ok(())
    }

    /// Follow whether these codes are online (`Contact` events), also across reconnects.
    pub fn watch(&self, codes: &[PersonalCode]) -> Result<()> {
        Ok(self.client.watch(codes)?)
    }

    /// Unregister and disconnect.
    pub fn stop(&self) {
        self.client.close();
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.client.close();
    }
}
