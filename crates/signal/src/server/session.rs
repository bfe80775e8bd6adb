//! One connection's protocol logic: which messages are allowed when, what they change, and whom they reach.
//! The WebSocket I/O around it lives in `connection.rs`; shared state sits behind the `Backend`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use rand::Rng;

use super::backend::{JoinRefusal, Ring, RingParty};
use super::own_host::names_this_machine;
use super::shared::Shared;
use super::turn;
use crate::code::{PersonalCode, RoomCode};
use crate::identity::verify_registration;
use crate::protocol::{
    CallId, ClientMessage, DeclineReason, ErrorCode, Limits, MAX_WATCHED, PROTOCOL_VERSION, PeerId, PeerInfo,
    RingEndReason, ServerMessage, UnregisterReason,
};

/// A refused request: the error code and a detail for the person reading it.
#[derive(Debug)]
pub struct Reject {
    pub code: ErrorCode,
    pub detail: Option<String>,
}

fn reject(code: ErrorCode) -> Reject {
    Reject { code, detail: None }
}

fn reject_with(code: ErrorCode, detail: impl std::fmt::Display) -> Reject {
    Reject { code, detail: Some(detail.to_string()) }
}

pub type Outcome = Result<Vec<ServerMessage>, Reject>;

/// Rings one connection may have out at once (a caller rings one contact at a time; a few for overlap).
const MAX_OUTGOING_RINGS: usize = 4;

fn random_token(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..bytes).map(|_| format!("{:02x}", rng.r#gen::<u8>())).collect()
}

/// Names are cleaned of what makes text lie (`protocol::name`); one with nothing visible left is refused.
fn check_name(name: &str) -> Result<String, Reject> {
    if name.chars().count() > 4 * crate::protocol::name::MAX_NAME_CHARS {
        return Err(reject(ErrorCode::BadName));
    }
    crate::protocol::name::clean_name(name).ok_or_else(|| reject(ErrorCode::BadName))
}

fn encode(message: &ServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(message.to_json())
}

pub struct Session {
    pub peer: PeerId,
    ip: IpAddr,
    /// The host name the client reached this server by (registration signatures bind it).
    host: String,
    nonce: String,
    greeted: bool,
    room: Option<RoomCode>,
    code: Option<PersonalCode>,
    outgoing: Vec<CallId>,
    /// The connection this one proved to be the successor of (`hello` with `replaces`).
    replaced: Option<PeerId>,
}

impl Session {
    /// A registration proof, checked against the server's public host names (or, with none configured, the
    /// host this request named, if that is one of this machine's own names: see `own_host`).
    fn verify(&self, s: &Shared, public_key: &str, signature: &str) -> Result<PersonalCode, crate::Error> {
        let hosts = &s.config.public_hosts;
        if hosts.is_empty() {
            if !names_this_machine(&self.host) {
                return Err(crate::Error::UnknownHost(self.host.clone()));
            }
            return verify_registration(public_key, signature, &self.host, &self.nonce);
        }
        let mut last = crate::Error::BadSignature;
        for host in hosts {
            match verify_registration(public_key, signature, host, &self.nonce) {
                Ok(code) => return Ok(code),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    pub fn new(ip: IpAddr, host: String) -> Self {
        Session {
            peer: random_token(8),
            ip,
            host,
            nonce: random_token(32),
            greeted: false,
            room: None,
            code: None,
            outgoing: Vec::new(),
            replaced: None,
        }
    }

    pub fn greeted(&self) -> bool {
        self.greeted
    }

    /// Fresh TURN credentials, for a connection in a room (none otherwise, or without TURN).
    pub fn fresh_relay(&self, s: &Shared) -> Option<ServerMessage> {
        self.room.as_ref()?;
        let ice_servers = turn::relay_servers(s.config.turn.as_ref(), &self.peer);
        (!ice_servers.is_empty()).then_some(ServerMessage::Relay { ice_servers })
    }

    pub async fn handle(&mut self, s: &Arc<Shared>, message: ClientMessage) -> Outcome {
        use ClientMessage as M;
        if let M::Ping { id } = message {
            return Ok(vec![ServerMessage::Pong { id }]);
        }
        if !self.greeted {
            return match message {
                M::Hello { version, client, replaces } => {
                    // Only a hello that will be welcomed may close another connection.
                    if let Some(old) = replaces.filter(|_| version == PROTOCOL_VERSION) {
                        // A wrong token or a connection already gone: nothing to take over, carry on as new.
                        let taken = s.takeovers.take_over(&old.peer_id, &old.token).await;
                        tracing::debug!(peer = %self.peer, old = %old.peer_id, taken, "hello replaces");
                        // Told to the room it joins (whether or not the old one was still there to close).
                        if s.takeovers.vouches(&old.peer_id, &old.token) {
                            self.replaced = Some(old.peer_id);
                        }
                    }
                    self.hello(s, version, &client)
                }
                _ => Err(reject(ErrorCode::HelloRequired)),
            };
        }
        match message {
            M::Hello { .. } => Err(reject_with(ErrorCode::WrongState, "This connection already said hello.")),
            M::Join { room, create, capacity, name } => self.join(s, &room, create, capacity, name).await,
            M::Leave => self.leave(s).await,
            M::Signal { to, kind, data } => {
                let room = self.room.clone().ok_or(reject(ErrorCode::NotInRoom))?;
                let members = s.backend.room_members(&room).await;
                let message =
                    encode(&ServerMessage::Signal { room: room.to_string(), from: self.peer.clone(), kind, data });
                let targets: Vec<&PeerId> = match &to {
                    Some(to) if to != &self.peer && members.contains(to) => vec![to],
                    Some(_) => return Err(reject(ErrorCode::UnknownPeer)),
                    None => members.iter().filter(|p| **p != self.peer).collect(),
                };
                for target in targets {
                    if s.backend.deliver(target, message.clone()).await {
                        s.metrics.relayed.inc();
                    }
                }
                Ok(vec![])
            }
            M::Register { public_key, signature } => self.register(s, &public_key, &signature).await,
            M::Unregister => {
                let code = self.code.take().ok_or(reject(ErrorCode::NotRegistered))?;
                release(s, &code, &self.peer).await;
                Ok(vec![ServerMessage::Unregistered { code: code.to_string(), reason: UnregisterReason::Requested }])
            }
            M::Watch { codes } => {
                if codes.len() > MAX_WATCHED {
                    return Err(reject_with(ErrorCode::TooLarge, format!("Watch at most {MAX_WATCHED} codes.")));
                }
                let codes = codes
                    .iter()
                    .map(|c| {
                        PersonalCode::parse(c).map_err(|e| reject_with(ErrorCode::BadPersonalCode, format!("{c}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let states = s.backend.watch(&self.peer, codes).await;
                Ok(states
                    .into_iter()
                    .map(|(code, online)| ServerMessage::Presence { code: code.to_string(), online })
                    .collect())
            }
            M::Ring { to, name, room, public_key, signature } => {
                let from = match (public_key, signature) {
                    (Some(key), Some(sig)) => {
                        Some(self.verify(s, &key, &sig).map_err(|e| reject_with(ErrorCode::BadSignature, e))?)
                    }
                    (None, None) => self.code.clone(),
                    _ => return Err(reject_with(ErrorCode::BadMessage, "public_key and signature go together.")),
                };
                self.ring(s, &to, &name, &room, from).await
            }
            M::Accept { call } => self.answer(s, call, true, None).await,
            M::Decline { call, reason } => self.answer(s, call, false, reason).await,
            M::CancelRing { call } => {
                let ring = s.backend.take_ring(&call, Some((&self.peer, RingParty::Caller))).await;
                let ring = ring.ok_or(reject(ErrorCode::UnknownCall))?;
                self.outgoing.retain(|c| c != &call);
                let ended = ServerMessage::RingEnded { call, reason: RingEndReason::Cancelled };
                s.backend.deliver(&ring.callee, encode(&ended)).await;
                Ok(vec![])
            }
            M::Ping { .. } => unreachable!("answered above"),
        }
    }

    fn hello(&mut self, s: &Shared, version: u32, client: &str) -> Outcome {
        if version != PROTOCOL_VERSION {
            return Err(reject_with(
                ErrorCode::UnsupportedVersion,
                format!("This server speaks version {PROTOCOL_VERSION}; the client asked for {version}."),
            ));
        }
        self.greeted = true;
        let client: String = client.chars().take(64).collect();
        tracing::debug!(peer = %self.peer, %client, "hello");
        let c = &s.config;
        Ok(vec![ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            server: c.server_name.clone(),
            peer_id: self.peer.clone(),
            nonce: self.nonce.clone(),
            resume_token: s.takeovers.token(&self.peer),
            ice_servers: turn::stun_servers(&c.stun_urls),
            limits: Limits {
                max_message_bytes: c.max_message_bytes,
                room_capacity: c.room_capacity,
                max_room_capacity: c.max_room_capacity,
                heartbeat_secs: c.heartbeat.as_secs(),
                ring_timeout_secs: c.ring_timeout.as_secs(),
            },
        }])
    }

    async fn join(
        &mut self,
        s: &Shared,
        room: &str,
        create: bool,
        capacity: Option<usize>,
        name: Option<String>,
    ) -> Outcome {
        let room = RoomCode::parse(room).map_err(|e| reject_with(ErrorCode::BadRoomCode, e))?;
        if self.room.is_some() {
            return Err(reject(ErrorCode::AlreadyInRoom));
        }
        let name = name.as_deref().map(check_name).transpose()?;
        if !s.join_limit.check(self.ip) {
            return Err(reject(ErrorCode::RateLimited));
        }
        let capacity = capacity.unwrap_or(s.config.room_capacity).clamp(2, s.config.max_room_capacity);
        let me = PeerInfo { id: self.peer.clone(), name };
        let (others, capacity) =
            s.backend.join_room(&room, me.clone(), capacity, create).await.map_err(|r| match r {
                JoinRefusal::NotFound => reject(ErrorCode::RoomNotFound),
                JoinRefusal::Full => reject(ErrorCode::RoomFull),
            })?;
        self.room = Some(room.clone());
        let replaces = self.replaced.clone();
        let joined = encode(&ServerMessage::PeerJoined { room: room.to_string(), peer: me, replaces });
        for other in &others {
            s.backend.deliver(&other.id, joined.clone()).await;
        }
        let ice_servers = turn::relay_servers(s.config.turn.as_ref(), &self.peer);
        Ok(vec![ServerMessage::Joined {
            room: room.to_string(),
            peer_id: self.peer.clone(),
            peers: others,
            capacity,
            ice_servers,
        }])
    }

    async fn leave(&mut self, s: &Shared) -> Outcome {
        let room = self.room.take().ok_or(reject(ErrorCode::NotInRoom))?;
        let rest = s.backend.leave_room(&room, &self.peer).await;
        let left = encode(&ServerMessage::PeerLeft { room: room.to_string(), peer_id: self.peer.clone() });
        for other in &rest {
            s.backend.deliver(other, left.clone()).await;
        }
        Ok(vec![ServerMessage::Left { room: room.to_string() }])
    }

    async fn register(&mut self, s: &Shared, public_key: &str, signature: &str) -> Outcome {
        let code = self.verify(s, public_key, signature).map_err(|e| reject_with(ErrorCode::BadSignature, e))?;
        if let Some(old) = self.code.take().filter(|old| old != &code) {
            release(s, &old, &self.peer).await;
        }
        let was_online = s.backend.lookup(&code).await.is_some();
        if let Some(previous) = s.backend.register(&code, &self.peer).await {
            let replaced = ServerMessage::Unregistered { code: code.to_string(), reason: UnregisterReason::Replaced };
            s.backend.deliver(&previous, encode(&replaced)).await;
        }
        if !was_online {
            tell_watchers(s, &code, true).await;
        }
        tracing::debug!(peer = %self.peer, %code, "registered");
        self.code = Some(code.clone());
        Ok(vec![ServerMessage::Registered { code: code.to_string() }])
    }

    async fn ring(&mut self, s: &Arc<Shared>, to: &str, name: &str, room: &str, from: Option<PersonalCode>) -> Outcome {
        let to = PersonalCode::parse(to).map_err(|e| reject_with(ErrorCode::BadPersonalCode, e))?;
        let room = RoomCode::parse(room).map_err(|e| reject_with(ErrorCode::BadRoomCode, e))?;
        let name = check_name(name)?;
        if !s.join_limit.check(self.ip) {
            return Err(reject(ErrorCode::RateLimited));
        }
        let call = random_token(8);
        let Some(callee) = s.backend.lookup(&to).await else {
            return Ok(vec![ServerMessage::Unavailable { call, to: to.to_string() }]);
        };
        let ring = Ring {
            call: call.clone(),
            caller: self.peer.clone(),
            callee: callee.clone(),
            room: room.clone(),
            expires: Instant::now() + s.config.ring_timeout,
        };
        s.backend.put_ring(ring).await;
        let incoming = ServerMessage::Incoming {
            call: call.clone(),
            from_name: name,
            from_code: from.as_ref().map(ToString::to_string),
            room: room.to_string(),
        };
        if !s.backend.deliver(&callee, encode(&incoming)).await {
            s.backend.take_ring(&call, None).await;
            return Ok(vec![ServerMessage::Unavailable { call, to: to.to_string() }]);
        }
        self.outgoing.push(call.clone());
        if self.outgoing.len() > MAX_OUTGOING_RINGS {
            let oldest = self.outgoing.remove(0);
            cancel_ring(s, &oldest, &self.peer).await;
        }
        tokio::spawn(expire_ring(s.clone(), call.clone()));
        Ok(vec![ServerMessage::Ringing { call, to: to.to_string() }])
    }

    async fn answer(&mut self, s: &Shared, call: CallId, accept: bool, reason: Option<DeclineReason>) -> Outcome {
        let ring = s.backend.take_ring(&call, Some((&self.peer, RingParty::Callee))).await;
        let ring = ring.ok_or(reject(ErrorCode::UnknownCall))?;
        let answer = match (accept, reason) {
            (true, _) => ServerMessage::Accepted { call, room: ring.room.to_string() },
            // Not taking calls: said to the caller as if nobody held this code.
            (false, Some(DeclineReason::Unavailable)) => {
                let to = self.code.as_ref().map(ToString::to_string).unwrap_or_default();
                ServerMessage::Unavailable { call, to }
            }
            (false, None) => ServerMessage::Declined { call },
        };
        s.backend.deliver(&ring.caller, encode(&answer)).await;
        Ok(vec![])
    }

    /// The connection is gone: leave the room, release the code, cancel rings, drop the mailbox.
    pub async fn close(&mut self, s: &Shared) {
        if self.room.is_some() {
            let _ = self.leave(s).await;
        }
        if let Some(code) = self.code.take() {
            release(s, &code, &self.peer).await;
        }
        for call in std::mem::take(&mut self.outgoing) {
            cancel_ring(s, &call, &self.peer).await;
        }
        s.backend.detach(&self.peer).await;
    }
}

/// Give up `code` (if `peer` still holds it) and, if nobody holds it now, tell its watchers.
async fn release(s: &Shared, code: &PersonalCode, peer: &PeerId) {
    if s.backend.lookup(code).await.as_ref() != Some(peer) {
        return; // another device took it over: still online
    }
    s.backend.unregister(code, peer).await;
    if s.backend.lookup(code).await.is_none() {
        tell_watchers(s, code, false).await;
    }
}

async fn tell_watchers(s: &Shared, code: &PersonalCode, online: bool) {
    let watchers = s.backend.watchers(code).await;
    if watchers.is_empty() {
        return;
    }
    let message = encode(&ServerMessage::Presence { code: code.to_string(), online });
    for w in watchers {
        s.backend.deliver(&w, message.clone()).await;
    }
}

async fn cancel_ring(s: &Shared, call: &CallId, caller: &PeerId) {
    if let Some(ring) = s.backend.take_ring(call, Some((caller, RingParty::Caller))).await {
        let ended = ServerMessage::RingEnded { call: call.clone(), reason: RingEndReason::Cancelled };
        s.backend.deliver(&ring.callee, encode(&ended)).await;
    }
}

/// After the ring timeout, a ring nobody answered is `missed` for the caller and ended for the callee.
async fn expire_ring(s: Arc<Shared>, call: CallId) {
    tokio::select! {
        _ = tokio::time::sleep(s.config.ring_timeout) => {}
        _ = s.shutdown.cancelled() => return,
    }
    if let Some(ring) = s.backend.take_ring(&call, None).await {
        s.backend.deliver(&ring.caller, encode(&ServerMessage::Missed { call: call.clone() })).await;
        let ended = ServerMessage::RingEnded { call, reason: RingEndReason::Missed };
        s.backend.deliver(&ring.callee, encode(&ended)).await;
    }
}
