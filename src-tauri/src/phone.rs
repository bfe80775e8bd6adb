//! The engine's call manager ([`Phone`](tincan_engine::phone::Phone)) in the app: it follows the server in
//! use, the contacts and do-not-disturb; its events become UI events, OS notifications, the tray's status
//! and the recent calls. Rings, busy and do-not-disturb are decided in the engine, not here.

use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;
use tincan_engine::phone::{CallRecord, Contact, Direction as PhoneDirection, PhoneEvent};
use tincan_engine::{EngineEvent, FileEvent};
use tincan_signal::code::PersonalCode;
use tokio::sync::mpsc;

use crate::calls::now_ms;
use crate::contract::UiEvent;
use crate::state::{AppState, lock};
use crate::store::recents::{Direction, RecentCall};

/// Run for the app's lifetime.
pub fn spawn(app: AppHandle, mut events: mpsc::UnboundedReceiver<PhoneEvent>) {
    {
        let state = app.state::<AppState>();
        sync_contacts(&state);
        state.phone.set_do_not_disturb(state.store.settings().do_not_disturb);
    }
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let mut server = state.server.subscribe();
        state.phone.set_server(&server.borrow_and_update());
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(e) => handle(&app, e),
                    None => return,
                },
                changed = server.changed() => {
                    if changed.is_err() { return; }
                    state.phone.set_server(&server.borrow_and_update());
                }
            }
        }
    });
}

/// Tell the phone the address book (after a start and after it changes): their presence is followed, their
/// rings show their names.
pub fn sync_contacts(state: &AppState) {
    let contacts = state
        .store
        .contacts()
        .contacts
        .into_iter()
        .filter_map(|c| PersonalCode::parse(&c.code).ok().map(|code| Contact { code, name: c.name }))
        .collect();
    state.phone.set_contacts(contacts);
}

fn handle(app: &AppHandle, event: PhoneEvent) {
    let state = app.state::<AppState>();
    match event {
        PhoneEvent::Status { status, detail } => {
            crate::tray::set_status(app, status);
            UiEvent::Presence { status, detail: &detail }.emit(app);
        }
        PhoneEvent::Contact { .. } => {
            UiEvent::ContactsChanged.emit(app);
        }
        PhoneEvent::Incoming(ring) => {
            if !state.is_visible() {
                let notice = crate::ring_notice::show(app, &ring);
                let mut slot = lock(&state.ring_notice);
                if state.phone.ringing().is_some_and(|r| r.call == ring.call) {
                    *slot = Some((ring.call.clone(), notice));
                }
            }
            crate::window::show(app);
            ring_out_loud(&state, &ring.call);
            UiEvent::Incoming(&ring).emit(app);
        }
        PhoneEvent::RingEnded { call, reason } => {
            state.stop_ringing(Some(&call));
            UiEvent::RingEnded { call: &call, reason: &reason }.emit(app);
        }
        PhoneEvent::Call(event) => {
            follow_tiles(&state, &event);
            UiEvent::Engine(&event).emit(app);
        }
        PhoneEvent::CallEnded(record) => {
            if let Some(active) = lock(&state.call).take() {
                for (peer, figures) in active.video.stop() {
                    tracing::info!(target: "tincan::display", %peer, "remote video display path: {figures}");
                }
                tracing::info!(target: "tincan::display", "preview display path: {}", active.preview.stop());
            }
            state.stop_ringing(None);
            remember(app, record);
            // A call that ended in the tray: now the window can go too.
            if !state.is_visible() {
                crate::window::hide(app);
            }
        }
        PhoneEvent::Missed(record) => {
            // Busy, do-not-disturb and the user's own "no" are in the recent calls, not worth a notification.
            if matches!(record.outcome.as_str(), "missed" | "cancelled") && !state.is_visible() {
                let _ = app
                    .notification()
                    .builder()
                    .title("Tincan")
                    .body(format!("Missed call from {}", record.name))
                    .show();
            }
            remember(app, record);
        }
    }
}

/// The ringtone for the ring `call`, through the speaker chosen in the settings (the system default if that
/// one is missing).
fn ring_out_loud(state: &AppState, call: &str) {
    let speaker = state.store.settings().speaker.trim().to_owned();
    let chosen = (!speaker.is_empty()).then_some(speaker);
    let started = crate::ringtone::Ringtone::start(chosen.clone()).or_else(|e| match chosen {
        Some(_) => crate::ringtone::Ringtone::start(None),
        None => Err(e),
    });
    match started {
        Ok(ringtone) => {
            // Opening a speaker takes a moment: the ring may have been answered or ended meanwhile (checked
            // under the lock that stopping it takes, so an answer cannot slip in between).
            let mut slot = lock(&state.ringtone);
            if state.phone.ringing().is_some_and(|r| r.call == call) {
                *slot = Some((call.to_owned(), ringtone));
            }
        }
        Err(e) => tracing::info!("no ringtone (no speaker): {e}"),
    }
}

/// A participant who came back under a new id keeps their tile; one who left takes theirs away; a file
/// received is one the UI may open.
fn follow_tiles(state: &AppState, event: &EngineEvent) {
    let call = lock(&state.call);
    let Some(active) = call.as_ref() else { return };
    match event {
        EngineEvent::ParticipantJoined { peer, replaces: Some(old), .. } => active.video.rename(old, peer),
        EngineEvent::ParticipantLeft { peer, .. } => {
            if let Some(figures) = active.video.remove(peer) {
                tracing::info!(target: "tincan::display", %peer, "remote video display path: {figures}");
            }
        }
        EngineEvent::Share { sharing: false, peer, .. } if !peer.is_empty() => {
            active.video.remove_tag(&crate::video::share_tag(peer));
        }
        EngineEvent::File(FileEvent::Completed { outgoing: false, path: Some(path), .. }) => {
            lock(&state.received).insert(path.clone());
        }
        _ => {}
    }
}

fn remember(app: &AppHandle, record: CallRecord) {
    let state = app.state::<AppState>();
    let entry = RecentCall {
        at_ms: now_ms().saturating_sub(record.secs_ago_started * 1000),
        direction: match record.direction {
            PhoneDirection::Incoming => Direction::Incoming,
            PhoneDirection::Outgoing => Direction::Outgoing,
            PhoneDirection::Missed => Direction::Missed,
        },
        name: record.name,
        code: record.code,
        room: record.room,
        connected_secs: record.connected_secs,
        outcome: record.outcome,
    };
    if let Err(e) = state.store.add_recent(entry) {
        tracing::warn!("recent calls: {e}");
    }
    UiEvent::RecentsChanged.emit(app);
}
