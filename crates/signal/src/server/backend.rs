//! Where room and presence state lives. The in-memory [`MemoryBackend`](super::MemoryBackend) is the default;
//! several server nodes can share state by implementing this trait over an existing engine (e.g. Redis: sets
//! for rooms, keys with TTLs for codes and rings, pub/sub channels per node for `deliver`).

use std::time::Instant;

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;

use crate::code::{PersonalCode, RoomCode};
use crate::protocol::{CallId, PeerId, PeerInfo};

pub use super::mailbox::{Mailbox, Undelivered};

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    NotFound,
    Full,
}

/// A ring waiting for an answer.
#[derive(Debug, Clone)]
pub struct Ring {
    pub call: CallId,
    pub caller: PeerId,
    pub callee: PeerId,
    pub room: RoomCode,
    pub expires: Instant,
}

/// Who may end a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingParty {
    Caller,
    Callee,
}

/// Gauges for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub connections: usize,
    pub rooms: usize,
    pub registered: usize,
    pub ringing: usize,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A connection arrived; messages for `peer` go to `mailbox`.
    async fn attach(&self, peer: &PeerId, mailbox: Mailbox);
    /// The connection is gone; drop its mailbox and what it watched.
    async fn detach(&self, peer: &PeerId);
    /// Queue a message for `to`. False if `to` is unknown or was dropped for not reading (slow consumer).
    async fn deliver(&self, to: &PeerId, message: Utf8Bytes) -> bool;

    /// Enter `room`, creating it with `capacity` if allowed and absent. Returns the peers already there.
    async fn join_room(
        &self,
        room: &RoomCode,
        member: PeerInfo,
        capacity: usize,
        create: bool,
    ) -> Result<(Vec<PeerInfo>, usize), JoinRefusal>;
    /// Leave `room`; returns the peers still in it. An empty room is forgotten.
    async fn leave_room(&self, room: &RoomCode, peer: &PeerId) -> Vec<PeerId>;
    async fn room_members(&self, room: &RoomCode) -> Vec<PeerId>;

    /// `peer` now holds `code`; returns the peer that held it before, if another.
    async fn register(&self, code: &PersonalCode, peer: &PeerId) -> Option<PeerId>;
    /// Release `code` if `peer` holds it.
    async fn unregister(&self, code: &PersonalCode, peer: &PeerId);
    async fn lookup(&self, code: &PersonalCode) -> Option<PeerId>;

    /// `peer` now follows exactly `codes` (replacing what it followed); returns whether each is online.
    async fn watch(&self, peer: &PeerId, codes: Vec<PersonalCode>) -> Vec<(PersonalCode, bool)>;
    /// The peers following `code`.
    async fn watchers(&self, code: &PersonalCode) -> Vec<PeerId>;

    async fn put_ring(&self, ring: Ring);
    /// Remove and return the ring if `peer` is its `party` (or, with `None`, unconditionally: the timeout).
    async fn take_ring(&self, call: &CallId, peer: Option<(&PeerId, RingParty)>) -> Option<Ring>;

    fn counts(&self) -> Counts;
}
