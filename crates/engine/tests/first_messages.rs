//! The first control messages of a call arrive. Each side sends its `media_state` the moment the control
//! channel opens and a chat message the moment the front end hears of it: on the answering side (the DTLS
//! client) these used to vanish when the offerer's first messages came in the flight that completed the SCTP
//! association (rtc 0.21.1 took them for data on an unknown channel; `patches/rtc-0.21.1` fixes it).

mod common;

use common::*;
use tincan_engine::{Call, EngineEvent, Target};
use tincan_signal::code::RoomCode;
use tokio::sync::mpsc::UnboundedReceiver;

/// Calls in a row.
const CALLS: usize = 12;

/// What one side saw of the other's first messages.
#[derive(Debug, Default)]
struct Seen {
    media_state: Option<(bool, bool)>,
    chat: Option<String>,
}

/// Wait until the other side's `media_state` and opening chat are both in (or the wait runs out), sending
/// our own chat the moment the channel is ready.
async fn first_messages(call: &Call, events: &mut UnboundedReceiver<EngineEvent>, me: &str) -> Seen {
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while seen.media_state.is_none() || seen.chat.is_none() {
        let Ok(Some(e)) = tokio::time::timeout_at(deadline, events.recv()).await else { break };
        match e {
            EngineEvent::DataReady { .. } => {
                call.send_chat(format!("hello from {me}")).await.expect("chat on an open channel");
            }
            EngineEvent::RemoteMedia { audio, video, .. } => seen.media_state = Some((audio, video)),
            EngineEvent::Chat { text, outgoing: false, .. } => seen.chat = Some(text),
            EngineEvent::State { state, reason, .. } if state == "ended" => panic!("{me}'s call ended: {reason:?}"),
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_messages_arrive_both_ways_in_every_call() {
    let server = server().await;
    let url = server.ws_url();
    let mut lost = Vec::new();
    for i in 0..CALLS {
        let room = RoomCode::generate();
        // The first in the room answers (and is the DTLS client); the second offers. One of them sends audio,
        // taking turns, so each `media_state` says whose it is.
        let offerer_sends_audio = i % 2 == 0;
        let answerer_options = PeerOptions { video: false, audio: !offerer_sends_audio, ..Default::default() };
        let offerer_options = PeerOptions { video: false, audio: offerer_sends_audio, ..Default::default() };
        let (ca, _a_got) = config(&url, "Answerer", &answerer_options);
        let (cb, _b_got) = config(&url, "Offerer", &offerer_options);
        let (a, mut a_events) = Call::start(ca, Target::Room { code: room.clone(), create: true });
        state(&mut a_events, "waiting").await;
        let (b, mut b_events) = Call::start(cb, Target::Room { code: room, create: false });
        let (at_a, at_b) =
            tokio::join!(first_messages(&a, &mut a_events, "answerer"), first_messages(&b, &mut b_events, "offerer"));
        if at_a.media_state != Some((offerer_sends_audio, false)) || at_a.chat.as_deref() != Some("hello from offerer")
        {
            lost.push(format!("call {i}: the answerer saw {at_a:?}"));
        }
        if at_b.media_state != Some((!offerer_sends_audio, false))
            || at_b.chat.as_deref() != Some("hello from answerer")
        {
            lost.push(format!("call {i}: the offerer saw {at_b:?}"));
        }
        b.hang_up();
        state(&mut b_events, "ended").await;
        state(&mut a_events, "ended").await;
        drop(a);
    }
    server.shutdown().await;
    assert!(lost.is_empty(), "first messages lost in {} of {CALLS} calls: {lost:#?}", lost.len());
}
