//! Calls that survive trouble: media is peer to peer, so the signaling server going away does not end a
//! call; when it comes back, presence reconnects and registers again on its own, and rings work.

mod common;

use std::time::Duration;

use common::*;
use tincan_engine::presence::{Presence, PresenceEvent};
use tincan_engine::{Call, EngineEvent, Target};
use tincan_signal::identity::Identity;
use tincan_signal::server::{ServerConfig, SignalServer};
use tokio::sync::mpsc::UnboundedReceiver;

async fn presence_event(events: &mut UnboundedReceiver<PresenceEvent>, what: &str, wait: Duration) -> PresenceEvent {
    tokio::time::timeout(wait, async {
        loop {
            let e = events.recv().await.expect("presence alive");
            let name = serde_json::to_value(&e).unwrap()["event"].as_str().unwrap().to_owned();
            if name == what {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no presence {what} within {wait:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_outlives_the_signaling_server_and_presence_comes_back() {
    let server = server().await;
    let addr = server.local_addr();
    let url = server.ws_url();
    let mut pair = connected_pair(&url, PeerOptions::default(), PeerOptions::default()).await;
    let me = Identity::generate();
    let (_presence, mut presence_events) = Presence::start(&url, "resilience-test", me.clone(), None);
    presence_event(&mut presence_events, "online", WAIT).await;

    server.shutdown().await;
    presence_event(&mut presence_events, "offline", WAIT).await;

    // Media goes on: two seconds of frames decoded after the server went away, readable and in order.
    while pair.b_got.stamps.try_recv().is_ok() {}
    let got = tokio::task::spawn_blocking(move || {
        let got = stamps_for(&pair.b_got.stamps, Duration::from_secs(2));
        (got, pair.b_got)
    })
    .await
    .unwrap();
    pair.b_got = got.1;
    let counters: Vec<u32> = got.0.iter().filter_map(|(s, _)| s.map(|s| s.counter)).collect();
    assert!(counters.len() >= 45, "{} frames in 2 s without a server", counters.len());
    assert!(counters.windows(2).all(|w| w[1] > w[0]));
    // Neither side ended or fell back to reconnecting.
    for events in [&mut pair.a_events, &mut pair.b_events] {
        while let Ok(e) = events.try_recv() {
            if let EngineEvent::State { state, .. } = &e {
                assert_eq!(state, "connected", "a state change while the server was away: {e:?}");
            }
        }
    }

    // The server returns on the same address: presence registers again and can be rung.
    let back = SignalServer::start(ServerConfig { listen: addr, ..ServerConfig::loopback_unlimited() }).await.unwrap();
    presence_event(&mut presence_events, "online", Duration::from_secs(30)).await;
    let (caller, _) = config(&url, "Caller", &PeerOptions { video: false, audio: false, ..Default::default() });
    let (_ring, mut ring_events) = Call::start(caller, Target::Contact(me.personal_code()));
    state(&mut ring_events, "ringing_out").await;
    match presence_event(&mut presence_events, "incoming", WAIT).await {
        PresenceEvent::Incoming { from_name, .. } => assert_eq!(from_name, "Caller"),
        other => panic!("{other:?}"),
    }

    // Hanging up still reaches the other side (over the data channel).
    pair.a.hang_up();
    assert_eq!(state(&mut pair.b_events, "ended").await.as_deref(), Some("remote_hung_up"));
    back.shutdown().await;
}
