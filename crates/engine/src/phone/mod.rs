//! The call manager: one per front end (the app, `tincan-cli listen`). It keeps the presence connection
//! under the personal code (restarted when the server changes), the current call, the ring waiting for an
//! answer, busy and do-not-disturb, and tells the front end in typed [`PhoneEvent`]s. The decisions are
//! [`Line`]'s (pure, time as an input); this module is its I/O: the presence connection, the call's events,
//! a timer.

pub mod line;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;
use tincan_signal::identity::Identity;
use tincan_signal::protocol::CallId;
use tokio::sync::{Notify, mpsc, watch};
use tracing::Instrument;

pub use line::{Contact, Input, Line, Output, Who};

use crate::call::{Call, CallConfig, Target};
use crate::events::EngineEvent;
use crate::presence::Presence;
use crate::{EngineError, Result};

/// How reachable we are; a tray icon shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Offline,
    Online,
    InCall,
}

/// A ring waiting for an answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ring {
    pub call: CallId,
    /// The contact's name when the caller's code is in the address book, else the name the caller gave
    /// (cleaned of invisible and direction-changing characters, whatever the server let through).
    pub from_name: String,
    /// What the incoming-call screen says: the contact's name; the caller's name when its code is proven but
    /// not a contact's; `Someone calling themselves “…”` when nothing proves who it is.
    pub heading: String,
    pub from_code: Option<String>,
    /// The caller's room (accepting joins it).
    pub room: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
    Missed,
}

/// A call for the recent calls.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    pub direction: Direction,
    pub name: String,
    pub code: Option<String>,
    pub room: Option<String>,
    /// When it began, counted back from the event.
    pub secs_ago_started: u64,
    pub connected_secs: u64,
    /// The end reason's code (`hung_up`, `declined`, …), `failed: …`, or why a ring was missed (`missed`,
    /// `cancelled`, `declined`, `busy`, `do_not_disturb`).
    pub outcome: String,
}

/// What the front end hears.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PhoneEvent {
    /// Reachability changed (or its wording).
    Status { status: Status, detail: String },
    /// Someone rings; answer with [`Phone::accept`] or [`Phone::decline`].
    Incoming(Ring),
    /// The ring stopped without being answered; `reason` as in [`CallRecord::outcome`].
    RingEnded { call: CallId, reason: String },
    /// A contact's code is online or not (`None`: no longer known, e.g. while we are offline).
    Contact { code: String, online: Option<bool> },
    /// The current call's own event.
    Call(EngineEvent),
    /// The current call ended.
    CallEnded(CallRecord),
    /// A ring nobody answered (declined, busy, do-not-disturb, missed, cancelled).
    Missed(CallRecord),
}

pub struct PhoneConfig {
    /// Reported to the server (`tincan 0.1.0`).
    pub client_name: String,
    pub identity: Identity,
    /// TLS for the presence connection (`wss://`), e.g. trusting a private CA; `None`: the web roots.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

struct Inner {
    line: Mutex<Line>,
    presence: Mutex<Option<Arc<Presence>>>,
    call: Mutex<Option<Call>>,
    events: mpsc::UnboundedSender<PhoneEvent>,
    /// Wakes the loop when a command changed the line's timer.
    wake: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    /// Feed the line, then do what it says — under the line's lock, so that outputs of concurrent inputs
    /// (a call's end, the user dialing) are performed and told in the order the line made them. (`perform`
    /// only sends and spawns; the call and presence locks are only ever taken inside this one.)
    fn with_line<T>(&self, f: impl FnOnce(&mut Line) -> T) -> T {
        let mut line = lock(&self.line);
        let result = f(&mut line);
        while let Some(output) = line.poll_output() {
            self.perform(output);
        }
        drop(line);
        self.wake.notify_one();
        result
    }

    /// Decline a ring for the user (busy, do not disturb: `unavailable`).
    fn answer_ring(&self, call: String, unavailable: bool) {
        if let Some(presence) = lock(&self.presence).clone() {
            tokio::spawn(async move {
                if let Err(e) = presence.decline(&call, unavailable).await {
                    tracing::debug!("declining a ring: {e}");
                }
            });
        }
    }

    fn perform(&self, output: Output) {
        match output {
            Output::Event(event) => {
                if matches!(event, PhoneEvent::CallEnded(_)) {
                    lock(&self.call).take();
                }
                let _ = self.events.send(event);
            }
            Output::Decline(call) => self.answer_ring(call, false),
            Output::Unavailable(call) => self.answer_ring(call, true),
            Output::Watch(codes) => {
                if let Some(presence) = lock(&self.presence).as_ref()
                    && let Err(e) = presence.watch(&codes)
                {
                    tracing::warn!("cannot follow the contacts' presence: {e}");
                }
            }
        }
    }

    fn input(&self, input: Input) {
        self.with_line(|line| line.handle_input(Instant::now(), input));
    }

    /// Start the call and follow its events into the line.
    fn start_call(self: &Arc<Self>, config: CallConfig, target: Target) -> Call {
        let (call, mut events) = Call::start(config, target);
        *lock(&self.call) = Some(call.clone());
        let inner = self.clone();
        tokio::spawn(
            async move {
                while let Some(event) = events.recv().await {
                    let state = match &event {
                        EngineEvent::State { value, .. } => Some(value.clone()),
                        _ => None,
                    };
                    let _ = inner.events.send(PhoneEvent::Call(event));
                    if let Some(state) = state {
                        inner.input(Input::CallState(state));
                    }
                }
            }
            .in_current_span(),
        );
        call
    }
}

/// The front end's handle; dropping it stops the presence connection (a call in progress goes on until
/// hung up).
pub struct Phone {
    inner: Arc<Inner>,
    server: watch::Sender<String>,
}

impl Phone {
    /// Start the manager; it goes online once [`Phone::set_server`] names a server.
    pub fn start(config: PhoneConfig) -> (Phone, mpsc::UnboundedReceiver<PhoneEvent>) {
        let (events, event_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            line: Mutex::new(Line::new()),
            presence: Mutex::default(),
            call: Mutex::default(),
            events,
            wake: Notify::new(),
        });
        // The line's first status.
        inner.with_line(|_| ());
        let (server, server_rx) = watch::channel(String::new());
        let span = tracing::info_span!("phone");
        tokio::spawn(run(inner.clone(), config, server_rx).instrument(span));
        (Phone { inner, server }, event_rx)
    }

    /// The signaling server to be reachable on (empty: none); a change starts the presence connection over.
    pub fn set_server(&self, url: &str) {
        self.server.send_if_modified(|current| {
            let changed = current != url;
            if changed {
                url.clone_into(current);
            }
            changed
        });
    }

    pub fn set_do_not_disturb(&self, on: bool) {
        self.inner.input(Input::DoNotDisturb(on));
    }

    /// The address book: whose presence to follow, whose name a ring shows.
    pub fn set_contacts(&self, contacts: Vec<Contact>) {
        self.inner.input(Input::Contacts(contacts));
    }

    /// Start a call of ours (a room, a contact). Refused while in a call; a pending ring is declined as busy.
    pub fn dial(&self, config: CallConfig, target: Target, who: Who) -> Result<Call> {
        self.inner.with_line(|line| line.dial(Instant::now(), who))?;
        Ok(self.inner.start_call(config, target))
    }

    /// Answer the ring `call` and join the caller's room with `config`.
    pub async fn accept(&self, call: &str, config: CallConfig) -> Result<Call> {
        let ring = self.inner.with_line(|line| line.accept(Instant::now(), call))?;
        let presence = lock(&self.inner.presence).clone();
        let answered = match presence {
            Some(p) => p.accept(call).await,
            None => Err(EngineError::RingGone),
        };
        match answered {
            Ok(room) => Ok(self.inner.start_call(config, Target::Room { code: room, create: true })),
            Err(e) => {
                tracing::warn!(call = %ring.call, "answering failed: {e}");
                self.inner.with_line(|line| line.call_failed(Instant::now(), &e.to_string()));
                Err(e)
            }
        }
    }

    pub async fn decline(&self, call: &str) -> Result<()> {
        self.inner.with_line(|line| line.decline(Instant::now(), call))?;
        let presence = lock(&self.inner.presence).clone().ok_or(EngineError::RingGone)?;
        presence.decline(call, false).await
    }

    /// The call in progress.
    pub fn call(&self) -> Option<Call> {
        lock(&self.inner.call).clone()
    }

    pub fn status(&self) -> Status {
        lock(&self.inner.line).status()
    }

    pub fn ringing(&self) -> Option<Ring> {
        lock(&self.inner.line).ringing().cloned()
    }

    pub fn contact_online(&self, code: &str) -> Option<bool> {
        lock(&self.inner.line).contact_online(code)
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(p) = lock(&self.inner.presence).take() {
            p.stop();
        }
    }
}

/// The loop: a presence connection per server, its events and the line's timer into the line.
async fn run(inner: Arc<Inner>, config: PhoneConfig, mut server: watch::Receiver<String>) {
    loop {
        let url = server.borrow_and_update().clone();
        if url.is_empty() {
            if server.changed().await.is_err() {
                return;
            }
            continue;
        }
        let (presence, mut events) =
            Presence::start(&url, &config.client_name, config.identity.clone(), config.tls.clone());
        *lock(&inner.presence) = Some(Arc::new(presence));
        // Follow the contacts on this server.
        inner.with_line(|line| {
            let contacts = line.contacts().to_vec();
            line.handle_input(Instant::now(), Input::Contacts(contacts));
        });
        let stop = loop {
            let deadline = lock(&inner.line).poll_timeout();
            let timer = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = events.recv() => match event {
                    Some(e) => inner.input(Input::Presence(e)),
                    // The presence client stopped on its own: wait for another server.
                    None => break server.changed().await.is_err(),
                },
                changed = server.changed() => break changed.is_err(),
                _ = timer => inner.with_line(|line| line.handle_timeout(Instant::now())),
                _ = inner.wake.notified() => {}
            }
        };
        if let Some(p) = lock(&inner.presence).take() {
            p.stop();
        }
        if stop || inner.events.is_closed() {
            return;
        }
        inner.input(Input::ServerChanged);
    }
}
