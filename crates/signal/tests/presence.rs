//! Presence and ringing: registration by signed nonce, and every way a ring can end.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tincan_signal::code::RoomCode;
use tincan_signal::identity::Identity;
use tincan_signal::server::ServerConfig;

async fn register(raw: &mut Raw, welcome: &Value, id: &Identity) {
    let nonce = welcome["nonce"].as_str().unwrap();
    raw.send(json!({"type": "register", "public_key": id.public_key_b64(), "signature": id.sign_registration("127.0.0.1", nonce)}))
        .await;
    assert_eq!(raw.expect("registered").await["code"], id.personal_code().as_str());
}

/// A registered callee and a caller ringing it; returns (callee, caller, call id, room).
async fn ring(url: &str, callee_id: &Identity) -> (Raw, Raw, String, String) {
    let (mut callee, w) = Raw::hello(url).await;
    register(&mut callee, &w, callee_id).await;
    let (mut caller, _) = Raw::hello(url).await;
    let room = RoomCode::generate().to_string();
    // Personal codes are normalised like room codes: lower case works.
    let to = callee_id.personal_code().as_str().to_lowercase();
    caller.send(json!({"type": "ring", "to": to, "name": "Grace", "room": room})).await;
    let ringing = caller.expect("ringing").await;
    let incoming = callee.expect("incoming").await;
    assert_eq!(incoming["call"], ringing["call"]);
    assert_eq!((incoming["from_name"].as_str(), incoming["room"].as_str()), (Some("Grace"), Some(room.as_str())));
    let call = ringing["call"].as_str().unwrap().to_owned();
    (callee, caller, call, room)
}

#[tokio::test]
async fn ring_accepted_then_both_meet_in_the_room() {
    let server = default_server().await;
    let url = server.ws_url();
    let id = Identity::generate();
    let (mut callee, mut caller, call, room) = ring(&url, &id).await;
    callee.send(json!({"type": "accept", "call": call})).await;
    let accepted = caller.expect("accepted").await;
    assert_eq!((accepted["call"].as_str(), accepted["room"].as_str()), (Some(call.as_str()), Some(room.as_str())));
    caller.join(&room).await;
    callee.send(json!({"type": "join", "room": room})).await;
    assert_eq!(callee.expect("joined").await["peers"].as_array().unwrap().len(), 1);
    // The ring is over: answering again is an error.
    callee.send(json!({"type": "decline", "call": call})).await;
    callee.expect_error("unknown_call").await;
    server.shutdown().await;
}

#[tokio::test]
async fn do_not_disturb_answers_as_not_online() {
    let server = default_server().await;
    let url = server.ws_url();
    // Declined as "unavailable": the caller gets the same answer as for a code nobody holds.
    let dnd = Identity::generate();
    let (mut callee, mut caller, call, _) = ring(&url, &dnd).await;
    callee.send(json!({"type": "decline", "call": call, "reason": "unavailable"})).await;
    let answer = caller.expect("unavailable").await;
    assert_eq!(
        (answer["call"].as_str(), answer["to"].as_str()),
        (Some(call.as_str()), Some(dnd.personal_code().as_str()))
    );
    // An unknown reason is a bad message, not a silent decline.
    let (mut callee, _caller, call, _) = ring(&url, &Identity::generate()).await;
    callee.send(json!({"type": "decline", "call": call, "reason": "on_holiday"})).await;
    callee.expect_error("bad_message").await;
    server.shutdown().await;
}

#[tokio::test]
async fn ring_declined_cancelled_and_unavailable() {
    let server = default_server().await;
    let url = server.ws_url();
    let id = Identity::generate();
    let (mut callee, mut caller, call, _) = ring(&url, &id).await;
    // Only the callee may answer, only the caller may cancel.
    caller.send(json!({"type": "accept", "call": call})).await;
    caller.expect_error("unknown_call").await;
    callee.send(json!({"type": "decline", "call": call})).await;
    assert_eq!(caller.expect("declined").await["call"], call.as_str());

    let (mut callee2, mut caller2, call2, _) = ring(&url, &Identity::generate()).await;
    callee2.send(json!({"type": "cancel_ring", "call": call2})).await;
    callee2.expect_error("unknown_call").await;
    caller2.send(json!({"type": "cancel_ring", "call": call2})).await;
    let ended = callee2.expect("ring_ended").await;
    assert_eq!((ended["call"].as_str(), ended["reason"].as_str()), (Some(call2.as_str()), Some("cancelled")));

    // Nobody holds this code.
    let nobody = Identity::generate().personal_code();
    caller
        .send(json!({"type": "ring", "to": nobody.as_str(), "name": "Grace", "room": RoomCode::generate().as_str()}))
        .await;
    assert_eq!(caller.expect("unavailable").await["to"], nobody.as_str());
    // After the callee disconnects, its code is free again.
    drop(callee);
    tokio::time::timeout(WAIT, async {
        while server.counts().registered > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the closed connection's code is released");
    caller.send(json!({"type": "ring", "to": id.personal_code().as_str(), "name": "Grace", "room": RoomCode::generate().as_str()})).await;
    caller.expect("unavailable").await;
    // Malformed input.
    caller.send(json!({"type": "ring", "to": "nope", "name": "Grace", "room": RoomCode::generate().as_str()})).await;
    caller.expect_error("bad_personal_code").await;
    caller
        .send(json!({"type": "ring", "to": nobody.as_str(), "name": "  ", "room": RoomCode::generate().as_str()}))
        .await;
    caller.expect_error("bad_name").await;
    // Invisible characters are no name either.
    caller
        .send(json!({"type": "ring", "to": nobody.as_str(), "name": "\u{202E}\u{200B}\u{2066}", "room": RoomCode::generate().as_str()}))
        .await;
    caller.expect_error("bad_name").await;
    server.shutdown().await;
}

#[tokio::test]
async fn unanswered_ring_is_missed() {
    let config = ServerConfig { ring_timeout: Duration::from_millis(300), ..ServerConfig::loopback_unlimited() };
    let server = server(config).await;
    let (mut callee, mut caller, call, _) = ring(&server.ws_url(), &Identity::generate()).await;
    assert_eq!(caller.expect("missed").await["call"], call.as_str());
    let ended = callee.expect("ring_ended").await;
    assert_eq!(ended["reason"], "missed");
    callee.send(json!({"type": "accept", "call": call})).await;
    callee.expect_error("unknown_call").await;
    assert_eq!(server.counts().ringing, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_wrong_signature_registers_nothing() {
    let server = default_server().await;
    let url = server.ws_url();
    let victim = Identity::generate();
    let attacker = Identity::generate();
    let (mut raw, welcome) = Raw::hello(&url).await;
    let nonce = welcome["nonce"].as_str().unwrap();
    // The victim's public key with the attacker's signature.
    raw.send(json!({"type": "register", "public_key": victim.public_key_b64(), "signature": attacker.sign_registration("127.0.0.1", nonce)})).await;
    raw.expect_error("bad_signature").await;
    // A signature over another connection's nonce (a replay) fails too.
    let (_other, other_welcome) = Raw::hello(&url).await;
    let replay = victim.sign_registration("127.0.0.1", other_welcome["nonce"].as_str().unwrap());
    raw.send(json!({"type": "register", "public_key": victim.public_key_b64(), "signature": replay})).await;
    raw.expect_error("bad_signature").await;
    // A registration made for another server (which handed out this server's nonce to relay it here).
    let relayed = victim.sign_registration("evil.example.org", nonce);
    raw.send(json!({"type": "register", "public_key": victim.public_key_b64(), "signature": relayed})).await;
    raw.expect_error("bad_signature").await;
    raw.send(json!({"type": "register", "public_key": "%%%", "signature": "%%%"})).await;
    raw.expect_error("bad_signature").await;
    assert_eq!(server.counts().registered, 0);
    raw.send(json!({"type": "unregister"})).await;
    raw.expect_error("not_registered").await;

    let (mut caller, _) = Raw::hello(&url).await;
    caller.send(json!({"type": "ring", "to": victim.personal_code().as_str(), "name": "X", "room": RoomCode::generate().as_str()})).await;
    caller.expect("unavailable").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_newer_registration_replaces_the_older() {
    let server = default_server().await;
    let url = server.ws_url();
    let id = Identity::generate();
    let (mut first, w1) = Raw::hello(&url).await;
    register(&mut first, &w1, &id).await;
    let (mut second, w2) = Raw::hello(&url).await;
    register(&mut second, &w2, &id).await;
    let note = first.expect("unregistered").await;
    assert_eq!((note["code"].as_str(), note["reason"].as_str()), (Some(id.personal_code().as_str()), Some("replaced")));
    // Rings go to the newer connection, and the older one closing does not release the code.
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut caller, _) = Raw::hello(&url).await;
    caller.send(json!({"type": "ring", "to": id.personal_code().as_str(), "name": "X", "room": RoomCode::generate().as_str()})).await;
    caller.expect("ringing").await;
    second.expect("incoming").await;
    second.send(json!({"type": "unregister"})).await;
    assert_eq!(second.expect("unregistered").await["reason"], "requested");
    assert_eq!(server.counts().registered, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_caller_that_hangs_up_cancels_its_ring() {
    let server = default_server().await;
    let (mut callee, caller, _call, _) = ring(&server.ws_url(), &Identity::generate()).await;
    drop(caller);
    assert_eq!(callee.expect("ring_ended").await["reason"], "cancelled");
    server.shutdown().await;
}

#[tokio::test]
async fn watchers_see_codes_come_online_and_go_offline() {
    let server = default_server().await;
    let url = server.ws_url();
    let bob = Identity::generate();
    let carol = Identity::generate();
    let (mut alice, _) = Raw::hello(&url).await;
    alice
        .send(json!({"type": "watch", "codes": [bob.personal_code().as_str().to_lowercase(), carol.personal_code().as_str()]}))
        .await;
    // Where each stands now, in the order asked.
    for id in [&bob, &carol] {
        let p = alice.expect("presence").await;
        assert_eq!((p["code"].as_str(), p["online"].as_bool()), (Some(id.personal_code().as_str()), Some(false)));
    }
    let (mut bob_conn, w) = Raw::hello(&url).await;
    register(&mut bob_conn, &w, &bob).await;
    let p = alice.expect("presence").await;
    assert_eq!((p["code"].as_str(), p["online"].as_bool()), (Some(bob.personal_code().as_str()), Some(true)));
    // A second device takes the code over: still online, watchers hear nothing; the replaced device leaving
    // changes nothing either; the device holding the code leaving makes it offline.
    let (mut bob_phone, w2) = Raw::hello(&url).await;
    register(&mut bob_phone, &w2, &bob).await;
    bob_conn.expect("unregistered").await;
    drop(bob_conn);
    assert!(alice.try_recv(Duration::from_millis(200)).await.is_none(), "still online on the other device");
    drop(bob_phone);
    let p = alice.expect("presence").await;
    assert_eq!((p["code"].as_str(), p["online"].as_bool()), (Some(bob.personal_code().as_str()), Some(false)));

    // Replacing the list: Carol is no longer followed.
    alice.send(json!({"type": "watch", "codes": []})).await;
    let (mut carol_conn, w3) = Raw::hello(&url).await;
    register(&mut carol_conn, &w3, &carol).await;
    assert!(alice.try_recv(Duration::from_millis(200)).await.is_none(), "nobody follows Carol now");

    // Bad input is refused in words and changes nothing.
    alice.send(json!({"type": "watch", "codes": ["nope"]})).await;
    alice.expect_error("bad_personal_code").await;
    let many: Vec<String> = (0..257).map(|_| Identity::generate().personal_code().to_string()).collect();
    alice.send(json!({"type": "watch", "codes": many})).await;
    alice.expect_error("too_large").await;
    server.shutdown().await;
}

/// A call's own connection proves who rings without taking the code from the caller's presence connection.
#[tokio::test]
async fn a_ring_can_prove_the_callers_code_without_registering_it() {
    let server = default_server().await;
    let url = server.ws_url();
    let callee_id = Identity::generate();
    let caller_id = Identity::generate();
    let (mut callee, w) = Raw::hello(&url).await;
    register(&mut callee, &w, &callee_id).await;
    let (mut presence, w) = Raw::hello(&url).await;
    register(&mut presence, &w, &caller_id).await;

    let (mut call, w) = Raw::hello(&url).await;
    let nonce = w["nonce"].as_str().unwrap();
    let ring = |key: Option<String>, sig: Option<String>| {
        let mut m = json!({"type": "ring", "to": callee_id.personal_code().as_str(), "name": "Carla", "room": RoomCode::generate().as_str()});
        if let Some(k) = key {
            m["public_key"] = json!(k);
        }
        if let Some(s) = sig {
            m["signature"] = json!(s);
        }
        m
    };
    call.send(ring(Some(caller_id.public_key_b64()), Some(caller_id.sign_registration("127.0.0.1", nonce)))).await;
    call.expect("ringing").await;
    let incoming = callee.expect("incoming").await;
    assert_eq!(incoming["from_code"], caller_id.personal_code().as_str());
    // The presence connection still holds the code.
    assert!(presence.try_recv(Duration::from_millis(200)).await.is_none(), "not replaced");
    assert_eq!(server.counts().registered, 2);

    // A proof over another connection's nonce, or half a proof, is refused.
    call.send(ring(Some(caller_id.public_key_b64()), Some(caller_id.sign_registration("127.0.0.1", "other nonce"))))
        .await;
    call.expect_error("bad_signature").await;
    call.send(ring(Some(caller_id.public_key_b64()), None)).await;
    call.expect_error("bad_message").await;
    // Without a proof (and unregistered), the callee learns no code.
    call.send(ring(None, None)).await;
    call.expect("ringing").await;
    let incoming = callee.expect("incoming").await;
    assert!(incoming.get("from_code").is_none(), "{incoming}");
    server.shutdown().await;
}

/// With its public host names configured, the server checks registrations against them, not against the
/// Host header a client (or a relaying server) chose.
#[tokio::test]
async fn registrations_are_for_the_servers_public_name() {
    let config = ServerConfig { public_hosts: vec!["signal.example.org".into()], ..ServerConfig::loopback_unlimited() };
    let server = tincan_signal::server::SignalServer::start(config).await.unwrap();
    let url = server.ws_url();
    let id = Identity::generate();
    let (mut raw, welcome) = Raw::hello(&url).await;
    let nonce = welcome["nonce"].as_str().unwrap();
    // Signed for the host in the request (what a relaying server would have the victim sign): refused.
    let for_request = id.sign_registration("127.0.0.1", nonce);
    raw.send(json!({"type": "register", "public_key": id.public_key_b64(), "signature": for_request})).await;
    raw.expect_error("bad_signature").await;
    let for_server = id.sign_registration("Signal.Example.org", nonce);
    raw.send(json!({"type": "register", "public_key": id.public_key_b64(), "signature": for_server})).await;
    assert_eq!(raw.expect("registered").await["code"], id.personal_code().as_str());
    server.shutdown().await;
}

/// With no public host names configured, the server takes a registration only for a name of its own
/// machine: a server the victim connected to (evil.example) that passes the victim's registration on, naming
/// itself in the Host header, is refused.
#[tokio::test]
async fn without_public_names_a_registration_is_only_for_this_machine() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = tincan_signal::server::SignalServer::start(ServerConfig::loopback_unlimited()).await.unwrap();
    let url = server.ws_url();
    let id = Identity::generate();
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("host", "evil.example:7878".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
    let mut relayed = Raw { ws };
    relayed.send(json!({"type": "hello", "version": 1, "client": "relaying server"})).await;
    let welcome = relayed.expect("welcome").await;
    let signed = id.sign_registration("evil.example", welcome["nonce"].as_str().unwrap());
    relayed.send(json!({"type": "register", "public_key": id.public_key_b64(), "signature": signed})).await;
    let refused = relayed.expect_error("bad_signature").await;
    assert!(refused["message"].as_str().unwrap().contains("--public-host"), "{refused}");
    // The machine's own names still do.
    for host in ["127.0.0.1", "localhost"] {
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("host", host.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
        let mut direct = Raw { ws };
        direct.send(json!({"type": "hello", "version": 1, "client": "app"})).await;
        let welcome = direct.expect("welcome").await;
        let signed = id.sign_registration(host, welcome["nonce"].as_str().unwrap());
        direct.send(json!({"type": "register", "public_key": id.public_key_b64(), "signature": signed})).await;
        assert_eq!(direct.expect("registered").await["code"], id.personal_code().as_str(), "as {host}");
    }
    server.shutdown().await;
}
