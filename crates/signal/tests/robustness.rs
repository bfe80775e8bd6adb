//! Bad input, abusive clients and dead clients: each gets a clear answer (or is closed with a reason),
//! and the other clients of the same server keep being served.

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use serde_json::json;
use tincan_signal::code::RoomCode;
use tincan_signal::protocol::ErrorCode;
use tincan_signal::server::ServerConfig;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_unknown_and_oversized_messages_get_errors_and_others_keep_working() {
    let config = ServerConfig { max_message_bytes: 4096, ..ServerConfig::loopback_unlimited() };
    let server = server(config).await;
    let url = server.ws_url();
    let (mut a, _, mut b, b_id) = pair(&url, RoomCode::generate().as_str()).await;
    let (mut bad, _) = Raw::hello(&url).await;

    bad.send_text("{this is not json").await;
    bad.expect_error("bad_json").await;
    bad.send_text("42").await;
    bad.expect_error("bad_message").await;
    bad.send(json!({"type": "teleport", "to": "mars"})).await;
    let e = bad.expect_error("unknown_type").await;
    assert!(e["message"].as_str().unwrap().contains("teleport"));
    bad.send(json!({"type": "signal", "kind": "offer"})).await;
    assert_eq!(bad.expect_error("bad_message").await["request"], "signal");
    bad.send(json!({"type": "signal", "kind": "smoke", "data": {}})).await;
    bad.expect_error("bad_message").await;
    bad.ws.send(Message::binary(vec![0u8, 1, 2])).await.unwrap();
    bad.expect_error("binary_unsupported").await;
    bad.send(json!({"type": "hello", "version": 1, "client": "again"})).await;
    bad.expect_error("wrong_state").await;
    // Over the limit but within the hard cap: an error, and the connection stays.
    let big = "x".repeat(6000);
    bad.send(json!({"type": "signal", "kind": "offer", "data": big})).await;
    let e = bad.expect_error("too_large").await;
    assert!(e["message"].as_str().unwrap().contains("4096"));
    bad.send(json!({"type": "ping", "id": 9})).await;
    assert_eq!(bad.expect("pong").await["id"], 9);

    assert_relays(&mut a, &mut b, &b_id).await;

    // Far over the limit: the WebSocket layer closes with 1009 (message too big).
    let huge = "y".repeat(4096 * 5);
    let _ = bad.ws.send(Message::text(huge)).await;
    let mut closed = Raw { ws: bad.ws };
    assert_eq!(closed.expect_closed().await, Some(1009));

    assert_relays(&mut a, &mut b, &b_id).await;
    assert!(server.errors_sent(ErrorCode::BadJson) >= 1 && server.errors_sent(ErrorCode::TooLarge) >= 2);
    server.shutdown().await;
}

#[tokio::test]
async fn hello_first_and_in_the_right_version() {
    let config = ServerConfig { hello_timeout: Duration::from_millis(300), ..ServerConfig::loopback_unlimited() };
    let server = server(config).await;
    let url = server.ws_url();
    let mut raw = Raw::connect(&url).await;
    raw.send(json!({"type": "join", "room": RoomCode::generate().as_str(), "create": true})).await;
    raw.expect_error("hello_required").await;
    raw.send(json!({"type": "hello", "version": 99, "client": "future"})).await;
    let e = raw.expect_error("unsupported_version").await;
    assert!(e["message"].as_str().unwrap().contains("99"));
    raw.send(json!({"type": "ping"})).await;
    raw.expect("pong").await;
    // Still no hello after the hello timeout: told why, then closed.
    raw.expect_error("hello_required").await;
    assert_eq!(raw.expect_closed().await, Some(1008));
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limits_trigger() {
    let config = ServerConfig {
        connect_per_minute: 1,
        connect_burst: 4,
        join_per_minute: 1,
        join_burst: 2,
        messages_per_second: 1,
        message_burst: 8,
        ..ServerConfig::loopback_unlimited()
    };
    let server = server(config).await;
    let url = server.ws_url();

    // Joins (and rings) per address.
    let (mut a, _) = Raw::hello(&url).await;
    for _ in 0..2 {
        a.join(RoomCode::generate().as_str()).await;
        a.send(json!({"type": "leave"})).await;
        a.expect("left").await;
    }
    a.send(json!({"type": "join", "room": RoomCode::generate().as_str(), "create": true})).await;
    a.expect_error("rate_limited").await;

    // Messages per connection: the burst is 8 (hello used one). Refused frames get one answer per run.
    let (mut b, _) = Raw::hello(&url).await;
    for _ in 0..12 {
        b.send(json!({"type": "ping"})).await;
    }
    let (mut pongs, mut limited) = (0, 0);
    while let Some(v) = b.try_recv(Duration::from_millis(500)).await {
        match v["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") if v["code"] == "rate_limited" => limited += 1,
            _ => panic!("{v}"),
        }
    }
    assert!((7..=8).contains(&pongs), "{pongs} of 12 pings answered");
    assert_eq!(limited, 1, "one rate_limited answer for the run of refusals");

    // Connections per address: a, b used 2 of the burst of 4.
    let _c = Raw::connect(&url).await;
    let _d = Raw::connect(&url).await;
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("expected HTTP 429, got {:?}", other.map(|_| ())),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_dead_client_is_dropped_by_the_heartbeat() {
    let config = ServerConfig {
        heartbeat: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(500),
        ..ServerConfig::loopback_unlimited()
    };
    let server = server(config).await;
    let url = server.ws_url();
    let (mut live, _, dead, dead_id) = pair(&url, RoomCode::generate().as_str()).await;
    // `dead` is never read again, so it never answers a ping: the server must notice on its own.
    let left = live.expect("peer_left").await;
    assert_eq!(left["peer_id"], dead_id);
    // The live client answers pings (by reading) and stays well past the idle timeout.
    assert!(live.try_recv(Duration::from_millis(1200)).await.is_none());
    live.send(json!({"type": "ping"})).await;
    live.expect("pong").await;
    assert!(server.errors_sent(ErrorCode::IdleTimeout) >= 1);
    assert_eq!(server.counts().connections, 1);
    drop(dead);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_stall_others() {
    let config = ServerConfig {
        idle_timeout: Duration::from_secs(1),
        heartbeat: Duration::from_millis(200),
        ..ServerConfig::loopback_unlimited()
    };
    let server = server(config).await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let (mut sender, _) = Raw::hello(&url).await;
    sender.send(json!({"type": "join", "room": room.as_str(), "create": true, "capacity": 3})).await;
    sender.expect("joined").await;
    let (mut sleepy, _) = Raw::hello(&url).await;
    sleepy.send(json!({"type": "join", "room": room.as_str()})).await;
    sleepy.expect("joined").await;
    let (mut reader, _) = Raw::hello(&url).await;
    reader.send(json!({"type": "join", "room": room.as_str()})).await;
    reader.expect("joined").await;
    sleepy.expect("peer_joined").await;
    sender.expect("peer_joined").await;
    sender.expect("peer_joined").await;

    // 2,000 broadcasts of 32 KB: far more than `sleepy`'s socket buffers and queue hold.
    let blob = "z".repeat(32 * 1024);
    let flood = async {
        for i in 0..2000 {
            sender.send(json!({"type": "signal", "kind": "candidate", "data": {"i": i, "blob": blob}})).await;
        }
    };
    let read = async {
        // `sleepy` is dropped for not reading, and leaves the room, somewhere in the flood.
        let mut left = None;
        let mut i = 0;
        while i < 2000 {
            let got = reader.recv().await;
            if got["type"] == "peer_left" {
                left = Some(got);
                continue;
            }
            assert_eq!(got["type"], "signal", "{got}");
            assert_eq!(got["data"]["i"], i);
            i += 1;
        }
        left
    };
    let ((), left) = tokio::join!(flood, read);
    // The others never noticed a stall.
    let left = match left {
        Some(left) => left,
        None => reader.expect("peer_left").await,
    };
    assert!(left["peer_id"].is_string());
    assert!(server.errors_sent(ErrorCode::SlowConsumer) >= 1);
    drop(sleepy);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_every_client() {
    let server = default_server().await;
    let (mut a, _) = Raw::hello(&server.ws_url()).await;
    let stopping = tokio::spawn(server.shutdown());
    a.expect_error("shutting_down").await;
    assert_eq!(a.expect_closed().await, Some(1001));
    tokio::time::timeout(WAIT, stopping).await.expect("shutdown finishes").unwrap();
}
