//! The default backend: all state in this process, behind one mutex (every operation is a few map lookups;
//! nothing awaits while holding it).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;

use super::backend::{Backend, Counts, JoinRefusal, Mailbox, Ring, RingParty, Undelivered};
use crate::code::{PersonalCode, RoomCode};
use crate::protocol::{CallId, PeerId, PeerInfo};

#[derive(Default)]
pub struct MemoryBackend {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    mailboxes: HashMap<PeerId, Mailbox>,
    rooms: HashMap<RoomCode, Room>,
    codes: HashMap<PersonalCode, PeerId>,
    rings: HashMap<CallId, Ring>,
    /// Who follows which code, both ways.
    watching: HashMap<PeerId, Vec<PersonalCode>>,
    watchers: HashMap<PersonalCode, HashSet<PeerId>>,
}

impl Inner {
    fn unwatch_all(&mut self, peer: &PeerId) {
        for code in self.watching.remove(peer).unwrap_or_default() {
            if let Some(set) = self.watchers.get_mut(&code) {
                set.remove(peer);
                if set.is_empty() {
                    self.watchers.remove(&code);
                }
            }
        }
    }
}

struct Room {
    capacity: usize,
    members: Vec<PeerInfo>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a harmful way; keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn attach(&self, peer: &PeerId, mailbox: Mailbox) {
        self.lock().mailboxes.insert(peer.clone(), mailbox);
    }

    async fn detach(&self, peer: &PeerId) {
        let mut inner = self.lock();
        inner.mailboxes.remove(peer);
        inner.unwatch_all(peer);
    }

    async fn deliver(&self, to: &PeerId, message: Utf8Bytes) -> bool {
        let mut inner = self.lock();
        let Some(mailbox) = inner.mailboxes.get(to) else {
            return false;
        };
        match mailbox.try_send(message) {
            Ok(()) => true,
            Err(Undelivered::Full) => {
                // Dropping the sender ends the connection's queue: it closes with `slow_consumer`.
                tracing::warn!(peer = %to, "outgoing queue full; dropping the connection");
                inner.mailboxes.remove(to);
                false
            }
            Err(Undelivered::Closed) => false,
        }
    }

    async fn join_room(
        &self,
        room: &RoomCode,
        member: PeerInfo,
        capacity: usize,
        create: bool,
    ) -> Result<(Vec<PeerInfo>, usize), JoinRefusal> {
        let mut inner = self.lock();
        let entry = match inner.rooms.get_mut(room) {
            Some(r) => r,
            None if create => inner.rooms.entry(room.clone()).or_insert(Room { capacity, members: Vec::new() }),
            None => return Err(JoinRefusal::NotFound),
        };
        if entry.members.len() >= entry.capacity {
            return Err(JoinRefusal::Full);
        }
        let others = entry.members.clone();
        entry.members.push(member);
        Ok((others, entry.capacity))
    }

    async fn leave_room(&self, room: &RoomCode, peer: &PeerId) -> Vec<PeerId> {
        let mut inner = self.lock();
        let Some(r) = inner.rooms.get_mut(room) else {
            return Vec::new();
        };
        r.members.retain(|m| &m.id != peer);
        let rest: Vec<PeerId> = r.members.iter().map(|m| m.id.clone()).collect();
        if rest.is_empty() {
            inner.rooms.remove(room);
        }
        rest
    }

    async fn room_members(&self, room: &RoomCode) -> Vec<PeerId> {
        let inner = self.lock();
        inner.rooms.get(room).map(|r| r.members.iter().map(|m| m.id.clone()).collect()).unwrap_or_default()
    }

    async fn register(&self, code: &PersonalCode, peer: &PeerId) -> Option<PeerId> {
        self.lock().codes.insert(code.clone(), peer.clone()).filter(|old| old != peer)
    }

    async fn unregister(&self, code: &PersonalCode, peer: &PeerId) {
        let mut inner = self.lock();
        if inner.codes.get(code) == Some(peer) {
            inner.codes.remove(code);
        }
    }

    async fn lookup(&self, code: &PersonalCode) -> Option<PeerId> {
        self.lock().codes.get(code).cloned()
    }

    async fn watch(&self, peer: &PeerId, codes: Vec<PersonalCode>) -> Vec<(PersonalCode, bool)> {
        let mut inner = self.lock();
        inner.unwatch_all(peer);
        for code in &codes {
            inner.watchers.entry(code.clone()).or_default().insert(peer.clone());
        }
        let states = codes.iter().map(|c| (c.clone(), inner.codes.contains_key(c))).collect();
        if !codes.is_empty() {
            inner.watching.insert(peer.clone(), codes);
        }
        states
    }

    async fn watchers(&self, code: &PersonalCode) -> Vec<PeerId> {
        self.lock().watchers.get(code).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    async fn put_ring(&self, ring: Ring) {
        self.lock().rings.insert(ring.call.clone(), ring);
    }

    async fn take_ring(&self, call: &CallId, peer: Option<(&PeerId, RingParty)>) -> Option<Ring> {
        let mut inner = self.lock();
        let ring = inner.rings.get(call)?;
        let allowed = match peer {
            None => true,
            Some((p, RingParty::Caller)) => &ring.caller == p,
            Some((p, RingParty::Callee)) => &ring.callee == p,
        };
        if allowed { inner.rings.remove(call) } else { None }
    }

    fn counts(&self) -> Counts {
        let inner = self.lock();
        Counts {
            connections: inner.mailboxes.len(),
            rooms: inner.rooms.len(),
            registered: inner.codes.len(),
            ringing: inner.rings.len(),
        }
    }
}
