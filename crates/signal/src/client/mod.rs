//! An async signaling client that stays connected: it reconnects with exponential backoff, says hello,
//! re-registers its personal code and re-joins its room after every reconnect, and hands everything the
//! server says to the application as a stream of typed [`ClientEvent`]s.

mod backoff;
mod connection;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::code::{PersonalCode, RoomCode};
use crate::identity::Identity;
use crate::protocol::{CallId, ClientMessage, DeclineReason, IceServer, Limits, PeerId, ServerMessage, SignalKind};
use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `ws://host:port/ws` or `wss://…`.
    pub url: String,
    /// Reported in `hello` (e.g. `tincan-cli 0.1.0`).
    pub client_name: String,
    /// With an identity, rings carry proof of its personal code, and (if `register`) the client registers
    /// the code on every connection.
    pub identity: Option<Identity>,
    /// Hold the identity's code on the server (receive rings). A call's own connection does not: the code
    /// stays with the app's presence connection.
    pub register: bool,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long to wait for `welcome`.
    pub hello_timeout: Duration,
    /// The client pings this often; after three periods without a word from the server it reconnects.
    pub keepalive: Duration,
    /// After [`SignalClient::probe`], the server must answer within this, or the client reconnects.
    pub probe_timeout: Duration,
    /// TLS settings for `wss://` (e.g. to trust a private CA); the default trusts the public web roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>, client_name: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            client_name: client_name.into(),
            identity: None,
            register: false,
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(15),
            hello_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            probe_timeout: Duration::from_secs(2),
            tls: None,
        }
    }

    /// Register `identity`'s personal code (and prove it in rings).
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self.register = true;
        self
    }

    /// Prove `identity`'s personal code in rings without registering it.
    pub fn with_caller_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self.register = false;
        self
    }
}

/// What the client tells the application.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// Said hello; `reconnected` after the first time.
    Connected { peer_id: PeerId, ice_servers: Vec<IceServer>, limits: Limits, reconnected: bool },
    /// The connection is gone; the next attempt is in `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// Anything the server said after `welcome`.
    Message(ServerMessage),
}

/// What the client re-establishes after every reconnect.
#[derive(Default)]
struct Wishes {
    room: Option<RoomWish>,
    watch: Option<Vec<String>>,
}

/// The room the application wants to be in; re-joined after reconnects.
#[derive(Clone, Debug)]
struct RoomWish {
    room: RoomCode,
    create: bool,
    capacity: Option<usize>,
    name: Option<String>,
}

impl RoomWish {
    fn message(&self) -> ClientMessage {
        ClientMessage::Join {
            room: self.room.to_string(),
            create: self.create,
            capacity: self.capacity,
            name: self.name.clone(),
        }
    }
}

enum Command {
    Join(RoomWish),
    Watch(Vec<String>),
    Leave,
    Send(ClientMessage, oneshot::Sender<Result<()>>),
    Probe,
    Close,
}

/// A handle to the client task. Dropping every handle closes the client.
#[derive(Clone)]
pub struct SignalClient {
    commands: mpsc::UnboundedSender<Command>,
}

impl SignalClient {
    /// Start connecting in the background; events arrive on the returned receiver.
    pub fn connect(config: ClientConfig) -> (SignalClient, mpsc::Receiver<ClientEvent>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::channel(256);
        tokio::spawn(connection::run(config, command_rx, events));
        (SignalClient { commands }, event_rx)
    }

    fn command(&self, c: Command) -> Result<()> {
        self.commands.send(c).map_err(|_| Error::Closed)
    }

    /// Join `room` now if connected, and again after every reconnect until [`leave`](Self::leave).
    /// A refused join (`room_full`, `room_not_found`, …) arrives as an error event and is not retried.
    pub fn join(&self, room: &RoomCode, create: bool, capacity: Option<usize>, name: Option<String>) -> Result<()> {
        self.command(Command::Join(RoomWish { room: room.clone(), create, capacity, name }))
    }

    /// Follow whether these personal codes are online, now and after every reconnect (`presence` messages
    /// arrive as events). An empty list stops following.
    pub fn watch(&self, codes: &[PersonalCode]) -> Result<()> {
        self.command(Command::Watch(codes.iter().map(ToString::to_string).collect()))
    }

    pub fn leave(&self) -> Result<()> {
        self.command(Command::Leave)
    }

    /// Send one message now; `NotConnected` while the client is reconnecting.
    pub async fn send(&self, message: ClientMessage) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Send(message, tx))?;
        rx.await.map_err(|_| Error::Closed)?
    }

    pub async fn signal(&self, to: Option<PeerId>, kind: SignalKind, data: serde_json::Value) -> Result<()> {
        self.send(ClientMessage::Signal { to, kind, data }).await
    }

    pub async fn ring(&self, to: &PersonalCode, name: &str, room: &RoomCode) -> Result<()> {
        // The connection task adds the proof of our code (it knows the nonce of the connection it sends on).
        let ring = ClientMessage::Ring {
            to: to.to_string(),
            name: name.into(),
            room: room.to_string(),
            public_key: None,
            signature: None,
        };
        self.send(ring).await
    }

    pub async fn accept(&self, call: CallId) -> Result<()> {
        self.send(ClientMessage::Accept { call }).await
    }

    /// Decline a ring; `reason` `Unavailable` answers the caller as if this code were not online.
    pub async fn decline(&self, call: CallId, reason: Option<DeclineReason>) -> Result<()> {
        self.send(ClientMessage::Decline { call, reason }).await
    }

    pub async fn cancel_ring(&self, call: CallId) -> Result<()> {
        self.send(ClientMessage::CancelRing { call }).await
    }

    /// Check the connection now (e.g. the network may have changed): ping, and reconnect unless the server
    /// answers within `probe_timeout`. A connection whose address is gone usually fails at once (the
    /// server's side resets it); a reconnect replaces the old connection on the server.
    pub fn probe(&self) {
        let _ = self.command(Command::Probe);
    }

    /// Leave, close the connection and stop reconnecting.
    pub fn close(&self) {
        let _ = self.command(Command::Close);
    }
}
