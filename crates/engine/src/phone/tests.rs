//! The line with fake time: rings, busy, do-not-disturb, the call's record, losing the server.

use std::time::{Duration, Instant};

use tincan_signal::code::PersonalCode;
use tincan_signal::identity::Identity;

use super::line::RING_LIMIT;
use super::*;
use crate::call::{CallState, EndReason};
use crate::presence::PresenceEvent;

fn drain(line: &mut Line) -> Vec<Output> {
    std::iter::from_fn(|| line.poll_output()).collect()
}

fn events(outputs: &[Output]) -> Vec<PhoneEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn online(line: &mut Line, now: Instant) {
    line.handle_input(now, Input::Presence(PresenceEvent::Online { code: "me".into() }));
}

fn ring(call: &str, from_code: Option<&str>) -> Input {
    Input::Presence(PresenceEvent::Incoming {
        call: call.into(),
        from_name: "Someone".into(),
        from_code: from_code.map(str::to_owned),
        room: format!("room-of-{call}"),
    })
}

fn missed_outcomes(outputs: &[Output]) -> Vec<String> {
    events(outputs)
        .into_iter()
        .filter_map(|e| match e {
            PhoneEvent::Missed(r) => Some(r.outcome),
            _ => None,
        })
        .collect()
}

fn code() -> PersonalCode {
    Identity::generate().personal_code()
}

#[test]
fn status_follows_the_server_and_the_call() {
    let t0 = Instant::now();
    let mut line = Line::new();
    assert!(matches!(events(&drain(&mut line))[..], [PhoneEvent::Status { status: Status::Offline, .. }]));
    online(&mut line, t0);
    assert_eq!(
        events(&drain(&mut line)),
        vec![PhoneEvent::Status { status: Status::Online, detail: "Contacts can call you.".into() }]
    );
    line.dial(t0, Who { name: "Room".into(), code: None, room: Some("r".into()) }).unwrap();
    assert!(matches!(events(&drain(&mut line))[..], [PhoneEvent::Status { status: Status::InCall, .. }]));
    // The server goes away mid-call: still in the call (media is peer-to-peer).
    line.handle_input(t0, Input::Presence(PresenceEvent::Offline { reason: "gone".into(), retry_in_ms: 1500 }));
    assert_eq!(line.status(), Status::InCall);
    line.handle_input(t0, Input::CallState(CallState::Ended(EndReason::HungUp)));
    let out = events(&drain(&mut line));
    assert!(out.contains(&PhoneEvent::Status {
        status: Status::Offline,
        detail: "The server cannot be reached (gone); trying again in 2 s.".into()
    }));
    // Unchanged status: said once.
    line.handle_input(t0, Input::DoNotDisturb(false));
    assert!(drain(&mut line).is_empty());
}

#[test]
fn a_ring_is_answered_and_the_call_recorded() {
    let t0 = Instant::now();
    let mut line = Line::new();
    online(&mut line, t0);
    drain(&mut line);
    line.handle_input(t0, ring("c1", None));
    assert!(matches!(&events(&drain(&mut line))[..], [PhoneEvent::Incoming(r)] if r.call == "c1"));
    assert!(matches!(line.accept(t0, "c2"), Err(EngineError::RingGone)));
    let ring = line.accept(t0, "c1").unwrap();
    assert_eq!(ring.room, "room-of-c1");
    assert!(line.ringing().is_none());
    assert_eq!(line.status(), Status::InCall);
    line.handle_input(t0 + Duration::from_secs(1), Input::CallState(CallState::Connecting));
    line.handle_input(t0 + Duration::from_secs(2), Input::CallState(CallState::Connected));
    line.handle_input(t0 + Duration::from_secs(3), Input::CallState(CallState::Reconnecting));
    line.handle_input(t0 + Duration::from_secs(4), Input::CallState(CallState::Connected));
    drain(&mut line);
    line.handle_input(t0 + Duration::from_secs(62), Input::CallState(CallState::Ended(EndReason::RemoteHungUp)));
    let ended: Vec<_> = events(&drain(&mut line))
        .into_iter()
        .filter_map(|e| match e {
            PhoneEvent::CallEnded(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        vec![CallRecord {
            direction: Direction::Incoming,
            name: "Someone".into(),
            code: None,
            room: Some("room-of-c1".into()),
            secs_ago_started: 62,
            connected_secs: 60,
            outcome: "remote_hung_up".into(),
        }]
    );
    assert_eq!(line.status(), Status::Online);
}

#[test]
fn busy_and_do_not_disturb_decline_for_the_user() {
    let t0 = Instant::now();
    let mut line = Line::new();
    online(&mut line, t0);
    line.dial(t0, Who { name: "Ann".into(), code: None, room: None }).unwrap();
    assert!(matches!(line.dial(t0, Who { name: "Bob".into(), code: None, room: None }), Err(EngineError::Busy)));
    drain(&mut line);
    line.handle_input(t0, ring("c1", None));
    let out = drain(&mut line);
    assert!(out.contains(&Output::Decline("c1".into())));
    assert_eq!(missed_outcomes(&out), ["busy"]);
    assert!(!events(&out).iter().any(|e| matches!(e, PhoneEvent::Incoming(_))));

    line.handle_input(t0, Input::CallState(CallState::Ended(EndReason::HungUp)));
    line.handle_input(t0, Input::DoNotDisturb(true));
    let out = events(&drain(&mut line));
    assert!(out.contains(&PhoneEvent::Status {
        status: Status::Online,
        detail: "Do not disturb: calls do not ring; callers hear you are not available.".into()
    }));
    line.handle_input(t0, ring("c2", None));
    let out = drain(&mut line);
    // Do not disturb answers the caller as if we were not online.
    assert!(out.contains(&Output::Unavailable("c2".into())));
    assert!(!out.iter().any(|o| matches!(o, Output::Decline(_))));
    assert_eq!(missed_outcomes(&out), ["do_not_disturb"]);

    // A second ring while one waits: busy; the first keeps ringing.
    line.handle_input(t0, Input::DoNotDisturb(false));
    line.handle_input(t0, ring("c3", None));
    line.handle_input(t0, ring("c4", None));
    let out = drain(&mut line);
    assert_eq!(out.iter().filter(|o| matches!(o, Output::Decline(_))).count(), 1);
    assert!(out.contains(&Output::Decline("c4".into())));
    assert_eq!(line.ringing().map(|r| r.call.as_str()), Some("c3"));
    // Dialing out declines the waiting ring as busy.
    line.dial(t0, Who { name: "Room".into(), code: None, room: None }).unwrap();
    let out = drain(&mut line);
    assert!(out.contains(&Output::Decline("c3".into())));
    assert_eq!(missed_outcomes(&out), ["busy"]);
}

#[test]
fn a_ring_that_ends_is_missed_once() {
    let t0 = Instant::now();
    let mut line = Line::new();
    online(&mut line, t0);
    line.handle_input(t0, ring("c1", None));
    drain(&mut line);
    // Another call's end changes nothing.
    line.handle_input(t0, Input::Presence(PresenceEvent::RingEnded { call: "other".into(), reason: "missed".into() }));
    assert!(drain(&mut line).is_empty());
    line.handle_input(t0, Input::Presence(PresenceEvent::RingEnded { call: "c1".into(), reason: "cancelled".into() }));
    let out = drain(&mut line);
    assert!(events(&out).contains(&PhoneEvent::RingEnded { call: "c1".into(), reason: "cancelled".into() }));
    assert_eq!(missed_outcomes(&out), ["cancelled"]);
    assert!(!out.iter().any(|o| matches!(o, Output::Decline(_))), "the server ended it: nothing to decline");
    assert!(line.accept(t0, "c1").is_err());

    // Declined by the user: told to the server, recorded.
    line.handle_input(t0, ring("c2", None));
    drain(&mut line);
    line.decline(t0, "c2").unwrap();
    let out = drain(&mut line);
    assert_eq!(missed_outcomes(&out), ["declined"]);
    assert!(line.decline(t0, "c2").is_err());
}

#[test]
fn a_ring_the_server_forgets_is_given_up_in_time() {
    let t0 = Instant::now();
    let mut line = Line::new();
    online(&mut line, t0);
    assert_eq!(line.poll_timeout(), None);
    line.handle_input(t0, ring("c1", None));
    assert_eq!(line.poll_timeout(), Some(t0 + RING_LIMIT));
    drain(&mut line);
    line.handle_timeout(t0 + RING_LIMIT - Duration::from_millis(1));
    assert!(drain(&mut line).is_empty());
    line.handle_timeout(t0 + RING_LIMIT);
    assert_eq!(missed_outcomes(&drain(&mut line)), ["missed"]);
    assert_eq!(line.poll_timeout(), None);

    // Losing the connection loses the ring (the server forgot it too).
    line.handle_input(t0, ring("c2", None));
    drain(&mut line);
    line.handle_input(t0, Input::Presence(PresenceEvent::Offline { reason: "x".into(), retry_in_ms: 1000 }));
    assert_eq!(missed_outcomes(&drain(&mut line)), ["missed"]);
    assert!(line.ringing().is_none());
}

#[test]
fn contacts_name_rings_and_their_presence_is_forgotten_offline() {
    let t0 = Instant::now();
    let mut line = Line::new();
    let carla = code();
    line.handle_input(t0, Input::Contacts(vec![Contact { code: carla.clone(), name: "Carla".into() }]));
    assert!(drain(&mut line).contains(&Output::Watch(vec![carla.clone()])));
    online(&mut line, t0);
    line.handle_input(t0, Input::Presence(PresenceEvent::Contact { code: carla.to_string(), online: true }));
    assert_eq!(line.contact_online(carla.as_str()), Some(true));
    line.handle_input(t0, ring("c1", Some(carla.as_str())));
    assert!(events(&drain(&mut line)).iter().any(|e| matches!(e, PhoneEvent::Incoming(r) if r.from_name == "Carla")));
    // A stranger's name is cut to 64 characters; a proven stranger is shown by the name given.
    line.decline(t0, "c1").unwrap();
    line.handle_input(
        t0,
        Input::Presence(PresenceEvent::Incoming {
            call: "c2".into(),
            from_name: "x".repeat(500),
            from_code: Some(code().to_string()),
            room: "r".into(),
        }),
    );
    assert_eq!(line.ringing().map(|r| r.from_name.len()), Some(64));
    assert_eq!(line.ringing().map(|r| r.heading.len()), Some(64));
    line.decline(t0, "c2").unwrap();
    // Nothing proves who this is: the screen says so, and a direction override is taken out.
    line.handle_input(
        t0,
        Input::Presence(PresenceEvent::Incoming {
            call: "c3".into(),
            from_name: "Mo\u{202E}m".into(),
            from_code: None,
            room: "r".into(),
        }),
    );
    let ring = line.ringing().cloned().unwrap();
    assert_eq!((ring.from_name.as_str(), ring.heading.as_str()), ("Mom", "Someone calling themselves “Mom”"));
    drain(&mut line);
    line.handle_input(t0, Input::Presence(PresenceEvent::Replaced));
    let out = events(&drain(&mut line));
    assert!(out.contains(&PhoneEvent::Contact { code: carla.to_string(), online: None }));
    assert!(out.iter().any(|e| matches!(e, PhoneEvent::Status { status: Status::Offline, detail }
        if detail.contains("another device"))));
    assert_eq!(line.contact_online(carla.as_str()), None);
    // Removing a contact forgets its presence.
    line.handle_input(t0, Input::Presence(PresenceEvent::Contact { code: carla.to_string(), online: true }));
    line.handle_input(t0, Input::Contacts(vec![]));
    assert_eq!(line.contact_online(carla.as_str()), None);
}

#[test]
fn a_failed_answer_frees_the_line() {
    let t0 = Instant::now();
    let mut line = Line::new();
    online(&mut line, t0);
    line.handle_input(t0, ring("c1", None));
    line.accept(t0, "c1").unwrap();
    drain(&mut line);
    line.call_failed(t0, "the server went away");
    let out = events(&drain(&mut line));
    assert!(out.iter().any(|e| matches!(e, PhoneEvent::CallEnded(r)
        if r.outcome == "failed: the server went away" && r.direction == Direction::Incoming)));
    assert_eq!(line.status(), Status::Online);
    assert!(line.dial(t0, Who { name: "n".into(), code: None, room: None }).is_ok());
}
