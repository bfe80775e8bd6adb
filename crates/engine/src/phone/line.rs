//! The call manager's logic, pure: whether we are reachable, who rings, the call we are in, busy and
//! do-not-disturb. No I/O: every input carries its time, [`Line::poll_output`] says what to do and
//! [`Line::poll_timeout`] when to wake it (the shape of the call machine, `call/machine/`).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tincan_signal::code::PersonalCode;
use tincan_signal::protocol::CallId;
use tincan_signal::protocol::name::clean_name;

use super::{CallRecord, Direction, PhoneEvent, Ring, Status};
use crate::call::CallState;
use crate::presence::PresenceEvent;
use crate::{EngineError, Result};

/// A ring the server never ended (it went away without a word) is given up after this long; the server's
/// own limit (45 s by default) normally ends it first.
pub const RING_LIMIT: Duration = Duration::from_secs(60);

/// A contact whose presence the line follows; rings from their code show their name.
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub code: PersonalCode,
    pub name: String,
}

/// Who a call is with, before it has an outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Who {
    pub name: String,
    pub code: Option<String>,
    pub room: Option<String>,
}

/// What happens.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Presence(PresenceEvent),
    /// The signaling server changes (or none is set yet): the presence connection starts over.
    ServerChanged,
    /// Decline every ring (as busy does) while on.
    DoNotDisturb(bool),
    /// The address book: whose presence to follow and whose name to show.
    Contacts(Vec<Contact>),
    /// The current call's state, from its events.
    CallState(CallState),
}

/// What the line wants done.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Tell the front end.
    Event(PhoneEvent),
    /// Tell the server this ring is declined (busy, do-not-disturb; the user's own answers are told by the
    /// front end's command).
    Decline(CallId),
    /// Answer the ring "unavailable", as the server does for a code nobody holds (do not disturb).
    Unavailable(CallId),
    /// Follow these codes' presence (replaces the previous list).
    Watch(Vec<PersonalCode>),
}

#[derive(Clone, Debug, PartialEq)]
enum Reach {
    /// No presence connection yet (no server, or switching).
    Starting,
    Online,
    Offline(String),
    /// Another device took the personal code.
    Replaced,
}

struct Pending {
    ring: Ring,
    since: Instant,
}

struct Current {
    direction: Direction,
    who: Who,
    started: Instant,
    connected: Option<Instant>,
}

pub struct Line {
    reach: Reach,
    dnd: bool,
    contacts: Vec<Contact>,
    online: HashMap<String, bool>,
    ring: Option<Pending>,
    call: Option<Current>,
    said: Option<(Status, String)>,
    out: VecDeque<Output>,
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Line {
    pub fn new() -> Line {
        let mut line = Line {
            reach: Reach::Starting,
            dnd: false,
            contacts: Vec::new(),
            online: HashMap::new(),
            ring: None,
            call: None,
            said: None,
            out: VecDeque::new(),
        };
        line.report();
        line
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Presence(event) => self.presence(now, event),
            Input::ServerChanged => {
                self.reach = Reach::Starting;
                self.lose_ring("missed");
                self.forget_contacts();
            }
            Input::DoNotDisturb(on) => self.dnd = on,
            Input::Contacts(contacts) => {
                self.online.retain(|code, _| contacts.iter().any(|c| c.code.as_str() == code));
                self.contacts = contacts;
                self.out.push_back(Output::Watch(self.contacts.iter().map(|c| c.code.clone()).collect()));
            }
            Input::CallState(state) => self.call_state(now, state),
        }
        self.report();
    }

    /// Gives up a ring the server never ended.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ring.as_ref().is_some_and(|p| now >= p.since + RING_LIMIT) {
            self.lose_ring("missed");
        }
        self.report();
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ring.as_ref().map(|p| p.since + RING_LIMIT)
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// A call of ours begins (a room joined, a contact rung). A ring waiting for an answer is declined as
    /// busy: the user chose to do something else.
    pub fn dial(&mut self, now: Instant, who: Who) -> Result<()> {
        if self.call.is_some() {
            return Err(EngineError::Busy);
        }
        if let Some(p) = self.ring.take() {
            self.decline_ring(p.ring, "busy");
        }
        self.call = Some(Current { direction: Direction::Outgoing, who, started: now, connected: None });
        self.report();
        Ok(())
    }

    /// Answer the ring `call`: the caller's room is returned, and the line is in that call from now on (the
    /// front end joins the room, or says [`Line::call_failed`]).
    pub fn accept(&mut self, now: Instant, call: &str) -> Result<Ring> {
        if self.call.is_some() {
            return Err(EngineError::Busy);
        }
        let ring = self.take_ring(call)?;
        let who = Who { name: ring.from_name.clone(), code: ring.from_code.clone(), room: Some(ring.room.clone()) };
        self.call = Some(Current { direction: Direction::Incoming, who, started: now, connected: None });
        self.report();
        Ok(ring)
    }

    /// The user declines the ring `call` (the front end tells the server, as it does when accepting).
    pub fn decline(&mut self, _now: Instant, call: &str) -> Result<Ring> {
        let ring = self.take_ring(call)?;
        self.missed(ring.clone(), "declined");
        self.report();
        Ok(ring)
    }

    /// The call could not begin (answering failed, the engine could not start it).
    pub fn call_failed(&mut self, now: Instant, why: &str) {
        self.end_call(now, format!("failed: {why}"));
        self.report();
    }

    pub fn status(&self) -> Status {
        if self.call.is_some() {
            Status::InCall
        } else if self.reach == Reach::Online {
            Status::Online
        } else {
            Status::Offline
        }
    }

    pub fn in_call(&self) -> bool {
        self.call.is_some()
    }

    /// The ring waiting for an answer.
    pub fn ringing(&self) -> Option<&Ring> {
        self.ring.as_ref().map(|p| &p.ring)
    }

    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// Whether a contact's code is online, as far as the server said (`None`: not known).
    pub fn contact_online(&self, code: &str) -> Option<bool> {
        self.online.get(code).copied()
    }

    fn presence(&mut self, now: Instant, event: PresenceEvent) {
        match event {
            PresenceEvent::Online { .. } => self.reach = Reach::Online,
            PresenceEvent::Offline { reason, retry_in_ms } => {
                self.reach = Reach::Offline(format!(
                    "The server cannot be reached ({reason}); trying again in {} s.",
                    retry_in_ms.div_ceil(1000)
                ));
                // The server forgot our rings with the connection.
                self.lose_ring("missed");
                self.forget_contacts();
            }
            PresenceEvent::Replaced => {
                self.reach = Reach::Replaced;
                self.lose_ring("missed");
                self.forget_contacts();
            }
            PresenceEvent::Contact { code, online } => {
                self.online.insert(code.clone(), online);
                self.out.push_back(Output::Event(PhoneEvent::Contact { code, online: Some(online) }));
            }
            PresenceEvent::Incoming { call, from_name, from_code, room } => {
                let contact = from_code.as_deref().and_then(|code| self.contact_name(code));
                let given = clean_name(&from_name).unwrap_or_else(|| "Someone".to_owned());
                let heading = match (&contact, &from_code) {
                    (Some(name), _) => name.clone(),
                    (None, Some(_)) => given.clone(),
                    (None, None) => format!("Someone calling themselves “{given}”"),
                };
                let ring = Ring { call, from_name: contact.unwrap_or(given), heading, from_code, room };
                let busy = if self.call.is_some() || self.ring.is_some() {
                    Some("busy")
                } else if self.dnd {
                    Some("do_not_disturb")
                } else {
                    None
                };
                match busy {
                    Some(why) => self.decline_ring(ring, why),
                    None => {
                        self.out.push_back(Output::Event(PhoneEvent::Incoming(ring.clone())));
                        self.ring = Some(Pending { ring, since: now });
                    }
                }
            }
            PresenceEvent::RingEnded { call, reason } => {
                if self.ring.as_ref().is_some_and(|p| p.ring.call == call) {
                    self.lose_ring(&reason);
                }
            }
        }
    }

    fn call_state(&mut self, now: Instant, state: CallState) {
        let Some(current) = self.call.as_mut() else { return };
        match state {
            CallState::Connected if current.connected.is_none() => current.connected = Some(now),
            CallState::Ended(reason) => self.end_call(now, reason.code().to_owned()),
            _ => {}
        }
    }

    fn end_call(&mut self, now: Instant, outcome: String) {
        let Some(c) = self.call.take() else { return };
        let record = CallRecord {
            direction: c.direction,
            name: c.who.name,
            code: c.who.code,
            room: c.who.room,
            secs_ago_started: now.saturating_duration_since(c.started).as_secs(),
            connected_secs: c.connected.map(|t| now.saturating_duration_since(t).as_secs()).unwrap_or(0),
            outcome,
        };
        self.out.push_back(Output::Event(PhoneEvent::CallEnded(record)));
    }

    fn take_ring(&mut self, call: &str) -> Result<Ring> {
        match self.ring.take() {
            Some(p) if p.ring.call == call => Ok(p.ring),
            other => {
                self.ring = other;
                Err(EngineError::RingGone)
            }
        }
    }

    /// Tell the server no, and the front end it was missed.
    fn decline_ring(&mut self, ring: Ring, why: &str) {
        let answer = if why == "do_not_disturb" { Output::Unavailable } else { Output::Decline };
        self.out.push_back(answer(ring.call.clone()));
        self.missed(ring, why);
    }

    /// The pending ring ends without an answer from us.
    fn lose_ring(&mut self, why: &str) {
        if let Some(p) = self.ring.take() {
            self.missed(p.ring, why);
        }
    }

    fn missed(&mut self, ring: Ring, why: &str) {
        self.out.push_back(Output::Event(PhoneEvent::RingEnded { call: ring.call, reason: why.to_owned() }));
        self.out.push_back(Output::Event(PhoneEvent::Missed(CallRecord {
            direction: Direction::Missed,
            name: ring.from_name,
            code: ring.from_code,
            room: None,
            secs_ago_started: 0,
            connected_secs: 0,
            outcome: why.to_owned(),
        })));
    }

    fn forget_contacts(&mut self) {
        for (code, _) in self.online.drain() {
            self.out.push_back(Output::Event(PhoneEvent::Contact { code, online: None }));
        }
    }

    /// The contact's name, if the code is in the address book.
    fn contact_name(&self, code: &str) -> Option<String> {
        self.contacts.iter().find(|c| c.code.as_str() == code).map(|c| c.name.clone())
    }

    /// Say the status when it changes.
    fn report(&mut self) {
        let status = self.status();
        let detail = match (&self.reach, status) {
            (_, Status::InCall) => "In a call.".to_owned(),
            (Reach::Online, _) if self.dnd => {
                "Do not disturb: calls do not ring; callers hear you are not available.".to_owned()
            }
            (Reach::Online, _) => "Contacts can call you.".to_owned(),
            (Reach::Starting, _) => "Connecting to the server…".to_owned(),
            (Reach::Offline(why), _) => why.clone(),
            (Reach::Replaced, _) => "Your code is now in use on another device; calls ring there.".to_owned(),
        };
        let now = (status, detail);
        if self.said.as_ref() != Some(&now) {
            self.out.push_back(Output::Event(PhoneEvent::Status { status: now.0, detail: now.1.clone() }));
            self.said = Some(now);
        }
    }
}
