//! How calls begin and end: verification digits, hang-up, refused rooms, and cycles that leave nothing
//! behind (a vanished peer: `crates/cli/tests/vanished_peer.rs`).

mod common;

use std::time::Duration;

use common::*;
use tincan_engine::peer::live_handlers;
use tincan_engine::{Call, Target};
use tincan_signal::code::RoomCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_show_the_same_digits_and_another_call_shows_others() {
    let server = server().await;
    let url = server.ws_url();
    let quiet = || PeerOptions { video: false, audio: false, ..Default::default() };
    let mut first = connected_pair(&url, quiet(), quiet()).await;
    let (a1, b1) = (first.a_sas.clone(), first.b_sas.clone());
    assert_eq!(a1, b1);
    assert!(a1.len() == 7 && a1.chars().filter(char::is_ascii_digit).count() == 6, "{a1}");
    first.a.hang_up();
    state(&mut first.b_events, "ended").await;
    // New certificates for a new call: other digits (1 in a million to collide).
    let mut second = connected_pair(&url, quiet(), quiet()).await;
    let a2 = second.a_sas.clone();
    assert_eq!(a2, second.b_sas);
    assert_ne!(a1, a2);
    second.b.hang_up();
    assert_eq!(state(&mut second.b_events, "ended").await.as_deref(), Some("hung_up"));
    assert_eq!(state(&mut second.a_events, "ended").await.as_deref(), Some("remote_hung_up"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rooms_end_the_call_with_a_reason() {
    let server = server().await;
    let url = server.ws_url();
    let (config, _) = common::config(&url, "X", &PeerOptions { video: false, audio: false, ..Default::default() });
    let (_call, mut events) = Call::start(config, Target::Room { code: RoomCode::generate(), create: false });
    assert_eq!(state(&mut events, "ended").await.as_deref(), Some("room_not_found"));

    let quiet = || PeerOptions { video: false, audio: false, ..Default::default() };
    let room = RoomCode::generate();
    let mut calls = Vec::new();
    for name in ["A", "B"] {
        let (c, _) = common::config(&url, name, &quiet());
        calls.push(Call::start(c, Target::Room { code: room.clone(), create: true }));
    }
    for (_, events) in &mut calls {
        state(events, "connected").await;
    }
    let (c, _) = common::config(&url, "C", &quiet());
    let (_third, mut events) = Call::start(c, Target::Room { code: room, create: true });
    assert_eq!(state(&mut events, "ended").await.as_deref(), Some("room_full"));
    server.shutdown().await;
}

/// No server at the address: the call ends at once, saying so, instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_ends_the_call_with_a_reason() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (config, _) = common::config(&url, "X", &PeerOptions { video: false, audio: false, ..Default::default() });
    let (_call, mut events) = Call::start(config, Target::Room { code: RoomCode::generate(), create: true });
    assert_eq!(state(&mut events, "ended").await.as_deref(), Some("server_unreachable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_calls_free_their_peer_connections() {
    let server = server().await;
    let url = server.ws_url();
    for _ in 0..5 {
        let quiet = || PeerOptions { video: false, audio: false, ..Default::default() };
        let mut p = connected_pair(&url, quiet(), quiet()).await;
        p.a.hang_up();
        state(&mut p.a_events, "ended").await;
        state(&mut p.b_events, "ended").await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while live_handlers() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live_handlers(), 0, "peer connections still alive after their calls ended");
    server.shutdown().await;
}
