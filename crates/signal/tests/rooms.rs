//! Rooms: join, relay, leave, capacity, and the errors around them, on the wire.

mod common;

use common::*;
use serde_json::json;
use tincan_signal::code::RoomCode;
use tincan_signal::server::ServerConfig;

#[tokio::test]
async fn join_relay_leave() {
    let server = default_server().await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let (mut a, a_id, mut b, b_id) = pair(&url, room.as_str()).await;

    // Directed relay, both ways, payload untouched.
    let offer = json!({"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "type": "offer"});
    a.send(json!({"type": "signal", "to": b_id, "kind": "offer", "data": offer})).await;
    let got = b.expect("signal").await;
    assert_eq!(
        (got["from"].as_str(), &got["data"], got["room"].as_str()),
        (Some(a_id.as_str()), &offer, Some(room.as_str()))
    );
    b.send(json!({"type": "signal", "to": a_id, "kind": "answer", "data": {"sdp": "answer"}})).await;
    assert_eq!(a.expect("signal").await["kind"], "answer");
    // Broadcast (no `to`) reaches the other peer, not the sender.
    a.send(json!({"type": "signal", "kind": "candidate", "data": {"candidate": "c1"}})).await;
    assert_eq!(b.expect("signal").await["data"]["candidate"], "c1");
    assert!(a.try_recv(std::time::Duration::from_millis(200)).await.is_none(), "no echo to the sender");

    b.send(json!({"type": "leave"})).await;
    assert_eq!(b.expect("left").await["room"], room.as_str());
    assert_eq!(a.expect("peer_left").await["peer_id"], b_id);
    b.send(json!({"type": "signal", "kind": "offer", "data": {}})).await;
    b.expect_error("not_in_room").await;
    a.send(json!({"type": "signal", "to": b_id, "kind": "offer", "data": {}})).await;
    a.expect_error("unknown_peer").await;
    assert_eq!(server.counts().rooms, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn room_full_not_found_and_bad_codes() {
    let server = default_server().await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let (_a, _, _b, _) = pair(&url, room.as_str()).await;
    let (mut c, _) = Raw::hello(&url).await;
    c.send(json!({"type": "join", "room": room.as_str(), "create": true})).await;
    c.expect_error("room_full").await;

    // Joining without create a room nobody is in: the typed code was probably wrong.
    c.send(json!({"type": "join", "room": RoomCode::generate().as_str()})).await;
    c.expect_error("room_not_found").await;
    c.send(json!({"type": "join", "room": "ABCD-EFGH"})).await;
    let e = c.expect_error("bad_room_code").await;
    assert!(e["message"].as_str().unwrap().contains("needs 12"), "{e}");
    assert_eq!(e["request"], "join");
    c.send(json!({"type": "join", "room": "AB!D-EFGH-JKMN"})).await;
    c.expect_error("bad_room_code").await;

    // Typed loosely (lower case, spaces, confusables) it is the same room.
    let (mut d, _) = Raw::hello(&url).await;
    let loose = room.as_str().to_lowercase().replace('-', " ").replace('0', "o").replace('1', "l");
    d.send(json!({"type": "join", "room": loose})).await;
    d.expect_error("room_full").await;
    server.shutdown().await;
}

#[tokio::test]
async fn group_rooms_broadcast_and_say_who_is_there() {
    let server = default_server().await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let (mut a, wa) = Raw::hello(&url).await;
    a.send(json!({"type": "join", "room": room.as_str(), "create": true, "capacity": 3, "name": "Ada"})).await;
    assert_eq!(a.expect("joined").await["capacity"], 3);
    let mut others = Vec::new();
    for name in ["Bo", "Cy"] {
        let (mut p, _) = Raw::hello(&url).await;
        p.send(json!({"type": "join", "room": room.as_str(), "name": name})).await;
        let joined = p.expect("joined").await;
        assert_eq!(joined["peers"][0]["name"], "Ada");
        others.push(p);
    }
    assert_eq!(a.expect("peer_joined").await["peer"]["name"], "Bo");
    assert_eq!(a.expect("peer_joined").await["peer"]["name"], "Cy");
    assert_eq!(others[0].expect("peer_joined").await["peer"]["name"], "Cy");
    let (mut d, _) = Raw::hello(&url).await;
    d.send(json!({"type": "join", "room": room.as_str()})).await;
    d.expect_error("room_full").await;

    a.send(json!({"type": "signal", "kind": "ice_restart", "data": {"n": 1}})).await;
    for p in &mut others {
        let got = p.expect("signal").await;
        assert_eq!((got["kind"].as_str(), got["from"].as_str()), (Some("ice_restart"), wa["peer_id"].as_str()));
    }
    // A closed connection leaves its room.
    drop(a);
    for p in &mut others {
        assert_eq!(p.expect("peer_left").await["peer_id"], wa["peer_id"]);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn requested_capacity_is_capped_by_the_server() {
    let config = ServerConfig { max_room_capacity: 4, ..ServerConfig::loopback_unlimited() };
    let server = server(config).await;
    let (mut a, _) = Raw::hello(&server.ws_url()).await;
    a.send(json!({"type": "join", "room": RoomCode::generate().as_str(), "create": true, "capacity": 50})).await;
    assert_eq!(a.expect("joined").await["capacity"], 4);
    a.send(json!({"type": "join", "room": RoomCode::generate().as_str(), "create": true})).await;
    a.expect_error("already_in_room").await;
    server.shutdown().await;
}

/// A client back from a network change replaces its old connection (which the server cannot tell is dead):
/// the old one is closed with `replaced` and leaves the room, so the new one finds its place free, and the
/// others are told whom it replaces. A wrong token replaces nothing.
#[tokio::test]
async fn a_new_connection_replaces_the_old_one_in_its_room() {
    let server = default_server().await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let (mut a, a_welcome) = Raw::hello(&url).await;
    let (mut b, _) = Raw::hello(&url).await;
    a.join(room.as_str()).await;
    b.join(room.as_str()).await;
    a.expect("peer_joined").await;
    let a_id = a_welcome["peer_id"].as_str().expect("peer id").to_owned();
    let token = a_welcome["resume_token"].as_str().expect("a resume token").to_owned();
    assert_eq!(token.len(), 32);
    let hello =
        |replaces: serde_json::Value| json!({"type": "hello", "version": 1, "client": "t", "replaces": replaces});

    // A wrong token: the old connection stays, the room stays full.
    let mut wrong = Raw::connect(&url).await;
    wrong.send(hello(json!({"peer_id": a_id, "token": "00".repeat(16)}))).await;
    wrong.expect("welcome").await;
    wrong.send(json!({"type": "join", "room": room.as_str()})).await;
    wrong.expect_error("room_full").await;

    // The right token: A's old connection is told and closed, B sees A leave, the new connection joins.
    let mut a2 = Raw::connect(&url).await;
    a2.send(hello(json!({"peer_id": a_id, "token": token}))).await;
    let welcome = a2.expect("welcome").await;
    assert_ne!(welcome["peer_id"], a_id.as_str(), "a new connection has a new peer id");
    a.expect_error("replaced").await;
    assert_eq!(b.expect("peer_left").await["peer_id"], a_id.as_str());
    a2.send(json!({"type": "join", "room": room.as_str()})).await;
    let joined = a2.expect("joined").await;
    assert_eq!(joined["peers"].as_array().map(Vec::len), Some(1));
    // B is told who came back: the participant it knew as A, on a new connection.
    let back = b.expect("peer_joined").await;
    assert_eq!((&back["peer"]["id"], back["replaces"].as_str()), (&welcome["peer_id"], Some(a_id.as_str())));
}

/// The `expiry` of the first TURN entry's REST username (`expiry:id`).
fn relay_expiry(ice_servers: &serde_json::Value) -> u64 {
    let username = ice_servers[0]["username"].as_str().expect("a TURN username");
    username.split(':').next().unwrap().parse().expect("expiry:id")
}

#[tokio::test]
async fn a_long_stay_in_a_room_gets_fresh_relay_credentials() {
    use std::time::Duration;
    use tincan_signal::server::TurnConfig;
    let turn = TurnConfig { urls: vec!["turn:127.0.0.1:3478".into()], secret: "s".into(), ttl: Duration::from_secs(4) };
    let server = server(ServerConfig { turn: Some(turn), ..ServerConfig::loopback_unlimited() }).await;
    let url = server.ws_url();
    let (mut idle, _) = Raw::hello(&url).await;
    let (mut a, _) = Raw::hello(&url).await;
    let joined = a.join(RoomCode::generate().as_str()).await;
    let first = relay_expiry(&joined["ice_servers"]);
    // Every half lifetime (2 s here) a connection in a room is sent credentials minted then.
    for _ in 0..2 {
        let relay = a.try_recv(Duration::from_secs(4)).await.expect("fresh credentials within half their life");
        assert_eq!(relay["type"], "relay", "{relay}");
        assert_eq!(relay["ice_servers"][0]["urls"][0], "turn:127.0.0.1:3478");
        let expiry = relay_expiry(&relay["ice_servers"]);
        assert!(expiry > first, "minted later than the joined ones: {expiry} vs {first}");
    }
    // A connection in no room gets none (its refresh came due too, twice).
    assert_eq!(idle.try_recv(Duration::from_millis(300)).await, None);
    a.send(json!({"type": "leave"})).await;
    a.expect("left").await;
    assert_eq!(a.try_recv(Duration::from_millis(2500)).await, None, "none after leaving");
}
