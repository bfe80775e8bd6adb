//! The client library against the real server: events, ringing, reconnects that resume, and TLS.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use tincan_signal::Error;
use tincan_signal::client::{ClientConfig, ClientEvent, SignalClient};
use tincan_signal::code::RoomCode;
use tincan_signal::identity::Identity;
use tincan_signal::protocol::{ServerMessage, SignalKind};
use tincan_signal::server::{ServerConfig, SignalServer, TlsFiles};
use tokio::sync::mpsc::Receiver;

fn config(url: &str) -> ClientConfig {
    ClientConfig {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..ClientConfig::new(url, "client-test")
    }
}

/// The next event that `pick` accepts (others are skipped); panics after `WAIT`.
async fn next<T>(events: &mut Receiver<ClientEvent>, mut pick: impl FnMut(ClientEvent) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("client alive");
            if let Some(t) = pick(event) {
                return t;
            }
        }
    })
    .await
    .expect("event within the wait")
}

async fn connected(events: &mut Receiver<ClientEvent>) -> (String, bool) {
    next(events, |e| match e {
        ClientEvent::Connected { peer_id, reconnected, .. } => Some((peer_id, reconnected)),
        _ => None,
    })
    .await
}

async fn message(events: &mut Receiver<ClientEvent>, kind: &str) -> ServerMessage {
    next(events, |e| match e {
        ClientEvent::Message(m) if serde_json::to_value(&m).unwrap()["type"] == kind => Some(m),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn ring_a_contact_and_meet_in_a_room() {
    let server = default_server().await;
    let callee_id = Identity::generate();
    let (callee, mut callee_events) = SignalClient::connect(config(&server.ws_url()).with_identity(callee_id.clone()));
    let (caller, mut caller_events) = SignalClient::connect(config(&server.ws_url()));
    connected(&mut callee_events).await;
    let ServerMessage::Registered { code } = message(&mut callee_events, "registered").await else { unreachable!() };
    assert_eq!(code, callee_id.personal_code().as_str());
    let (caller_peer, reconnected) = connected(&mut caller_events).await;
    assert!(!reconnected);

    let room = RoomCode::generate();
    caller.ring(&callee_id.personal_code(), "Ada", &room).await.unwrap();
    message(&mut caller_events, "ringing").await;
    let ServerMessage::Incoming { call, from_name, room: invited, .. } = message(&mut callee_events, "incoming").await
    else {
        unreachable!()
    };
    assert_eq!((from_name.as_str(), invited.as_str()), ("Ada", room.as_str()));
    callee.accept(call).await.unwrap();
    let ServerMessage::Accepted { room: accepted_room, .. } = message(&mut caller_events, "accepted").await else {
        unreachable!()
    };
    assert_eq!(accepted_room, room.as_str());

    caller.join(&room, true, None, Some("Ada".into())).unwrap();
    message(&mut caller_events, "joined").await;
    callee.join(&room, false, None, None).unwrap();
    message(&mut callee_events, "joined").await;
    callee.signal(Some(caller_peer), SignalKind::Offer, json!({"sdp": "o"})).await.unwrap();
    let ServerMessage::Signal { data, kind, .. } = message(&mut caller_events, "signal").await else { unreachable!() };
    assert_eq!((kind, data), (SignalKind::Offer, json!({"sdp": "o"})));
    caller.close();
    callee.close();
    server.shutdown().await;
}

#[tokio::test]
async fn reconnect_re_registers_and_re_joins() {
    let first = default_server().await;
    let addr: SocketAddr = first.local_addr();
    let url = first.ws_url();
    let id = Identity::generate();
    let (a, mut a_events) = SignalClient::connect(config(&url).with_identity(id.clone()));
    let (b, mut b_events) = SignalClient::connect(config(&url));
    connected(&mut a_events).await;
    connected(&mut b_events).await;
    let room = RoomCode::generate();
    a.join(&room, true, None, None).unwrap();
    message(&mut a_events, "joined").await;
    b.join(&room, false, None, None).unwrap();
    message(&mut b_events, "joined").await;

    // The server goes away; the clients notice and say so.
    first.shutdown().await;
    next(&mut a_events, |e| matches!(e, ClientEvent::Disconnected { .. }).then_some(())).await;
    let err = b.signal(None, SignalKind::Offer, json!({})).await.unwrap_err();
    assert!(matches!(err, Error::NotConnected), "{err}");

    // A new server on the same address: both come back by themselves, registered and in the room.
    let second = server(ServerConfig { listen: addr, ..ServerConfig::loopback_unlimited() }).await;
    let (a_peer, reconnected) = connected(&mut a_events).await;
    assert!(reconnected);
    message(&mut a_events, "registered").await;
    connected(&mut b_events).await;
    // Whichever re-joins second sees the first in `joined`; both are in the room (created again).
    next(&mut b_events, |e| matches!(e, ClientEvent::Message(ServerMessage::Joined { .. })).then_some(())).await;
    tokio::time::timeout(WAIT, async {
        while second.counts().rooms != 1 || second.counts().connections != 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("both back in one room");
    b.signal(Some(a_peer.clone()), SignalKind::IceRestart, json!({"restart": 1})).await.unwrap();
    let ServerMessage::Signal { kind, .. } = message(&mut a_events, "signal").await else { unreachable!() };
    assert_eq!(kind, SignalKind::IceRestart);

    // And the personal code rings again.
    let (mut caller, _) = Raw::hello(&second.ws_url()).await;
    caller.send(json!({"type": "ring", "to": id.personal_code().as_str(), "name": "C", "room": RoomCode::generate().as_str()})).await;
    caller.expect("ringing").await;
    message(&mut a_events, "incoming").await;
    a.close();
    b.close();
    second.shutdown().await;
}

/// A joiner that comes back first after a server restart re-creates the room as large as it was (a group
/// room stays a group room), not at the server's default.
#[tokio::test]
async fn a_re_created_room_keeps_its_capacity() {
    let first = default_server().await;
    let addr: SocketAddr = first.local_addr();
    let url = first.ws_url();
    let (a, mut a_events) = SignalClient::connect(config(&url));
    let (b, mut b_events) = SignalClient::connect(config(&url));
    connected(&mut a_events).await;
    connected(&mut b_events).await;
    let room = RoomCode::generate();
    a.join(&room, true, Some(4), None).unwrap();
    message(&mut a_events, "joined").await;
    b.join(&room, false, None, None).unwrap();
    let ServerMessage::Joined { capacity, .. } = message(&mut b_events, "joined").await else { unreachable!() };
    assert_eq!(capacity, 4);
    a.close();
    first.shutdown().await;
    let second = server(ServerConfig { listen: addr, ..ServerConfig::loopback_unlimited() }).await;
    connected(&mut b_events).await;
    let ServerMessage::Joined { capacity, .. } = message(&mut b_events, "joined").await else { unreachable!() };
    assert_eq!(capacity, 4, "re-created as it was");
    b.close();
    second.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_server_is_reported_and_retried() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (client, mut events) = SignalClient::connect(config(&format!("ws://127.0.0.1:{port}/ws")));
    for _ in 0..2 {
        let reason = next(&mut events, |e| match e {
            ClientEvent::Disconnected { reason, retry_in } => {
                assert!(retry_in <= Duration::from_millis(500));
                Some(reason)
            }
            _ => None,
        })
        .await;
        assert!(reason.to_lowercase().contains("refused"), "{reason}");
    }
    let err = client.send(tincan_signal::protocol::ClientMessage::Ping { id: None }).await.unwrap_err();
    assert!(matches!(err, Error::NotConnected));
    client.close();
}

#[tokio::test]
async fn tls_with_a_private_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("tincan-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let config_tls =
        ServerConfig { tls: Some(TlsFiles { cert: cert_path, key: key_path }), ..ServerConfig::loopback_unlimited() };
    let server = SignalServer::start(config_tls).await.unwrap();
    assert!(server.ws_url().starts_with("wss://"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let url = format!("wss://localhost:{}/ws", server.local_addr().port());
    let (client, mut events) = SignalClient::connect(ClientConfig { tls: Some(Arc::new(tls)), ..config(&url) });
    connected(&mut events).await;
    client.close();

    // Without trusting the certificate, the connection is refused (and retried), never silently accepted.
    let (untrusting, mut events) = SignalClient::connect(config(&url));
    let reason = next(&mut events, |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
    untrusting.close();
    server.shutdown().await;
}
