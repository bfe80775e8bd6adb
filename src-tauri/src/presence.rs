//! Staying reachable between calls: a [`Presence`] registered under the personal code on the server in
//! use (restarted when that changes). Rings become an incoming-call screen, an OS notification when the
//! window is hidden, and a missed call when nobody answers.

use std::sync::Arc;

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;
use tincan_engine::presence::{Presence, PresenceEvent};
use tincan_signal::code::PersonalCode;

use crate::calls::now_ms;
use crate::state::{AppState, IncomingRing, Status, lock};
use crate::store::recents::{Direction, RecentCall};

/// What the lobby shows about reachability.
#[derive(Clone, Serialize)]
pub struct PresenceInfo {
    pub status: Status,
    pub detail: String,
}

pub fn is_online(state: &AppState) -> bool {
    lock(&state.presence).is_some() && *lock(&state.status) != Status::Offline
}

/// Run for the app's lifetime.
pub fn spawn(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let mut server = state.server.subscribe();
        loop {
            let url = server.borrow_and_update().clone();
            if url.is_empty() {
                if server.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let client = format!("tincan {}", env!("CARGO_PKG_VERSION"));
            let (presence, mut events) = Presence::start(&url, &client, state.store.identity.clone());
            *lock(&state.presence) = Some(Arc::new(presence));
            watch_contacts(&state);
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Some(e) => handle(&app, e).await,
                        None => break,
                    },
                    changed = server.changed() => {
                        if changed.is_err() { return; }
                        break;
                    }
                }
            }
            if let Some(p) = lock(&state.presence).take() {
                p.stop();
            }
            report(&app, Status::Offline, "Switching server…".into());
        }
    });
}

/// Follow the contacts' codes on the server (after connecting and after the address book changes).
pub fn watch_contacts(state: &AppState) {
    let codes: Vec<PersonalCode> =
        state.store.contacts().contacts.iter().filter_map(|c| PersonalCode::parse(&c.code).ok()).collect();
    lock(&state.contacts_online).retain(|code, _| codes.iter().any(|c| c.as_str() == code));
    if let Some(p) = lock(&state.presence).as_ref()
        && let Err(e) = p.watch(&codes)
    {
        tracing::warn!("cannot follow the contacts' presence: {e}");
    }
}

fn report(app: &AppHandle, status: Status, detail: String) {
    let state = app.state::<AppState>();
    let in_call = lock(&state.call).is_some();
    *lock(&state.status) = status;
    if status == Status::Offline {
        lock(&state.contacts_online).clear();
        let _ = app.emit("contacts_changed", ());
    }
    crate::tray::set_status(app, if in_call { Status::InCall } else { status });
    let _ = app.emit("presence", PresenceInfo { status, detail });
}

async fn handle(app: &AppHandle, event: PresenceEvent) {
    let state = app.state::<AppState>();
    match event {
        PresenceEvent::Online { .. } => report(app, Status::Online, "Contacts can call you.".into()),
        PresenceEvent::Contact { code, online } => {
            lock(&state.contacts_online).insert(code, online);
            let _ = app.emit("contacts_changed", ());
        }
        PresenceEvent::Offline { reason, retry_in_ms } => report(
            app,
            Status::Offline,
            format!("The server cannot be reached ({reason}); trying again in {} s.", retry_in_ms.div_ceil(1000)),
        ),
        PresenceEvent::Replaced => {
            report(app, Status::Offline, "Your code is now in use on another device; calls ring there.".into())
        }
        PresenceEvent::Incoming { call, from_name, from_code, .. } => {
            let name = known_name(&state, &from_name, from_code.as_deref());
            let busy = lock(&state.call).is_some() || lock(&state.incoming).is_some();
            if busy || state.store.settings().do_not_disturb {
                let presence = lock(&state.presence).clone();
                if let Some(p) = presence {
                    let _ = p.decline(&call).await;
                }
                missed(app, &name, from_code, if busy { "busy" } else { "do_not_disturb" });
                return;
            }
            let ring = IncomingRing { call, from_name: name.clone(), from_code };
            *lock(&state.incoming) = Some(ring.clone());
            if !state.is_visible() {
                let _ = app.notification().builder().title("Tincan").body(format!("{name} is calling")).show();
            }
            crate::window::show(app);
            let _ = app.emit("incoming", &ring);
        }
        PresenceEvent::RingEnded { call, reason } => {
            let ring = {
                let mut incoming = lock(&state.incoming);
                if incoming.as_ref().is_some_and(|r| r.call == call) { incoming.take() } else { None }
            };
            if let Some(ring) = ring {
                if !state.is_visible() {
                    let _ = app
                        .notification()
                        .builder()
                        .title("Tincan")
                        .body(format!("Missed call from {}", ring.from_name))
                        .show();
                }
                missed(app, &ring.from_name, ring.from_code, &reason);
                let _ = app.emit("ring_ended", serde_json::json!({"call": call, "reason": reason}));
            }
        }
    }
}

/// The contact's name if we know the code, else the name the caller gave.
fn known_name(state: &AppState, from_name: &str, from_code: Option<&str>) -> String {
    from_code
        .and_then(|c| state.store.contacts().name_of(c).map(str::to_owned))
        .unwrap_or_else(|| from_name.chars().take(64).collect())
}

fn missed(app: &AppHandle, name: &str, code: Option<String>, outcome: &str) {
    let state = app.state::<AppState>();
    let entry = RecentCall {
        at_ms: now_ms(),
        direction: Direction::Missed,
        name: name.to_owned(),
        code,
        room: None,
        connected_secs: 0,
        outcome: outcome.to_owned(),
    };
    if let Err(e) = state.store.add_recent(entry) {
        tracing::warn!("recent calls: {e}");
    }
    let _ = app.emit("recents_changed", ());
}
