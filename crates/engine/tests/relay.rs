//! Calls through TURN: a real coturn on loopback with REST credentials (`use-auth-secret`) that the real
//! signaling server mints; both peers relay-only. The call connects, the selected pair is relay ↔ relay in
//! the stats, video arrives in order with the pattern that was sent, and a file arrives with its hash. A
//! relay outlives a nonce gone stale and credentials that expire, and is reached over TCP and TLS too.

mod common;

use std::time::Duration;

use common::*;
use tincan_engine::{Call, EngineEvent, FileEvent, Target};
use tincan_rig::coturn::Coturn;
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer, TurnConfig};

/// The signaling server, minting credentials for coturn's `urls` (shared `secret`) that live `ttl`.
async fn server_for(urls: Vec<String>, secret: &str, ttl: Duration) -> SignalServer {
    let turn = Some(TurnConfig { urls, secret: secret.to_owned(), ttl });
    SignalServer::start(ServerConfig { turn, ..ServerConfig::loopback_unlimited() }).await.expect("server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_call_carries_media_and_files() {
    init_logs();
    let turn = Coturn::start().expect("coturn");
    let server = server_for(vec![turn.url()], &turn.secret, Duration::from_secs(600)).await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let dir = std::env::temp_dir().join(format!("tincan-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let peer = |name: &str| {
        let (mut c, got) = config(&url, name, &PeerOptions { download_dir: dir.join(name), ..Default::default() });
        c.peer.relay_only = true;
        std::fs::create_dir_all(dir.join(name)).unwrap();
        (c, got)
    };
    let (ca, _) = peer("a");
    let (cb, got_b) = peer("b");
    let (a, mut ae) = Call::start(ca, Target::Room { code: room.clone(), create: true });
    state(&mut ae, "waiting").await;
    let (_b, mut be) = Call::start(cb, Target::Room { code: room, create: true });
    if tokio::time::timeout(WAIT, state(&mut be, "connected")).await.is_err() {
        panic!("no relayed connection; coturn says:\n{}", turn.log());
    }

    // The stats say relay on both ends of the selected pair.
    let pair = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(EngineEvent::Stats(s)) = be.recv().await
                && let Some(p) = s.candidate_pair.clone()
            {
                return p;
            }
        }
    })
    .await
    .expect("stats with a candidate pair");
    assert_eq!((pair.local_type.as_str(), pair.remote_type.as_str()), ("relay", "relay"), "{pair:?}");

    // Video through the relay: two seconds of stamped frames, readable and in order.
    let got = tokio::task::spawn_blocking(move || stamps_for(&got_b.stamps, Duration::from_secs(2))).await.unwrap();
    let counters: Vec<u32> = got.iter().filter_map(|(s, _)| s.map(|s| s.counter)).collect();
    assert!(counters.len() >= 45, "{} readable frames of {} in 2 s", counters.len(), got.len());
    assert!(counters.windows(2).all(|w| w[1] > w[0]), "in order: {counters:?}");

    // A file through the relay, verified by hash.
    let path = dir.join("payload.bin");
    let bytes: Vec<u8> = (0..2_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    a.send_file(&path).await.expect("send");
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(EngineEvent::File(FileEvent::Completed { outgoing: false, path, .. })) = be.recv().await {
                return path.expect("saved");
            }
        }
    })
    .await
    .expect("the file arrives through the relay");
    assert_eq!(std::fs::read(done).unwrap(), bytes);
    a.hang_up();
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// TURN credentials live 4 s here. The third person joins after the first two's have expired: the links the
/// first two open to them must use the fresh credentials the server sent meanwhile (coturn refuses an
/// expired one for a new allocation), or, relay-only, they cannot connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_joining_after_the_credentials_expired_is_reached_through_the_relay() {
    init_logs();
    let turn = Coturn::start().expect("coturn");
    let ttl = Duration::from_secs(4);
    let server = server_for(vec![turn.url()], &turn.secret, ttl).await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let peer = |name: &str| {
        let (mut c, _) = config(&url, name, &PeerOptions { size: (160, 120), ..Default::default() });
        c.peer.relay_only = true;
        c.room_capacity = Some(3);
        c
    };
    let (_a, mut ae) = Call::start(peer("a"), Target::Room { code: room.clone(), create: true });
    state(&mut ae, "waiting").await;
    let joined_at = std::time::Instant::now();
    let (_b, mut be) = Call::start(peer("b"), Target::Room { code: room.clone(), create: true });
    state(&mut be, "connected").await;
    // A's and B's first credentials are past their expiry (whole seconds, and a second to spare).
    tokio::time::sleep((ttl + Duration::from_millis(1500)).saturating_sub(joined_at.elapsed())).await;
    let (_c, mut ce) = Call::start(peer("c"), Target::Room { code: room, create: true });
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(EngineEvent::Stats(s)) = ce.recv().await {
                let relayed = s.participants.iter().filter(|p| {
                    p.frames_decoded > 0
                        && p.candidate_pair
                            .as_ref()
                            .is_some_and(|c| (c.local_type.as_str(), c.remote_type.as_str()) == ("relay", "relay"))
                });
                if relayed.count() == 2 {
                    return s.participants;
                }
            }
        }
    })
    .await;
    if reached.is_err() {
        panic!("C did not get video from both through the relay; coturn says:\n{}", turn.log());
    }
    server.shutdown().await;
}

/// coturn with `--stale-nonce=2` and allocations of at most 6 s: the first refresh (at 3 s) carries a nonce
/// gone stale and is refused with 438. The TURN client (patched: `patches/rtc-turn-0.21.1`) sends it again
/// with the new nonce, so the relay lives and the call carries video every second for 14 s; before, it was
/// tried again only at the next refresh, when the allocation had already expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_call_outlives_stale_nonces() {
    init_logs();
    let turn = Coturn::start_with(&["--stale-nonce=2", "--max-allocate-lifetime=6", "--verbose"]).expect("coturn");
    let server = server_for(vec![turn.url()], &turn.secret, Duration::from_secs(600)).await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let peer = |name: &str| {
        let (mut c, got) = config(&url, name, &PeerOptions { size: (160, 120), ..Default::default() });
        c.peer.relay_only = true;
        (c, got)
    };
    let (ca, _) = peer("a");
    let (cb, got_b) = peer("b");
    let (a, mut ae) = Call::start(ca, Target::Room { code: room.clone(), create: true });
    state(&mut ae, "waiting").await;
    let (_b, mut be) = Call::start(cb, Target::Room { code: room, create: true });
    if tokio::time::timeout(WAIT, state(&mut be, "connected")).await.is_err() {
        panic!("no relayed connection; coturn says:\n{}", turn.log());
    }
    let per_second = tokio::task::spawn_blocking(move || {
        (0..14)
            .map(|_| stamps_for(&got_b.stamps, Duration::from_secs(1)).iter().filter(|(s, _)| s.is_some()).count())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let log = turn.log();
    let stale = log.matches("error 438").count();
    println!("relay with stale nonces: readable frames each second {per_second:?}; coturn's 438s: {stale}");
    // One per side: the first refresh, at 3 s (coturn grants that refresh its default 600 s, so no other
    // falls in the test).
    assert!(stale >= 2, "both sides' refreshes should have met a stale nonce (error 438):\n{log}");
    assert!(per_second.iter().all(|&n| n >= 10), "video stopped in some second (30 fps sent): {per_second:?}");
    a.hang_up();
    server.shutdown().await;
}

/// A relay-only call whose TURN server is reachable over TCP only, then over TLS only (a certificate from a
/// CA of the test's own, trusted through `extra_roots`): webrtc-rs's client speaks UDP, the engine bridges
/// it (`peer/turn_stream.rs`). Video arrives both times, coturn says which transport carried each session,
/// and without the CA the TLS relay is refused (the certificate is checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_relays_over_tcp_and_over_tls() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    init_logs();
    let ca = tincan_rig::coturn::TestCa::for_loopback().expect("a CA");
    let turn = Coturn::start_with_tls(&ca, &["--verbose"]).expect("coturn");
    let root = CertificateDer::from_pem_slice(ca.ca_pem.as_bytes()).expect("the CA's PEM");
    let call = |url: String, trust: bool| {
        let root = root.clone();
        let secret = turn.secret.clone();
        async move {
            let server = server_for(vec![url], &secret, Duration::from_secs(600)).await;
            let signal = server.ws_url();
            let room = RoomCode::generate();
            let peer = |name: &str| {
                let (mut c, got) = config(&signal, name, &PeerOptions { size: (160, 120), ..Default::default() });
                c.peer.relay_only = true;
                if trust {
                    c.peer.extra_roots = vec![root.clone()];
                }
                (c, got)
            };
            let ((ca, _), (cb, got_b)) = (peer("a"), peer("b"));
            let (a, mut ae) = Call::start(ca, Target::Room { code: room.clone(), create: true });
            state(&mut ae, "waiting").await;
            let (_b, mut be) = Call::start(cb, Target::Room { code: room, create: true });
            let connected = tokio::time::timeout(Duration::from_secs(8), state(&mut be, "connected")).await.is_ok();
            let (mut readable, mut protocol) = (0, None);
            if connected {
                let got = tokio::task::spawn_blocking(move || stamps_for(&got_b.stamps, Duration::from_secs(2)));
                readable = got.await.unwrap().iter().filter(|(s, _)| s.is_some()).count();
                // The stats name the relay's transport.
                protocol = tokio::time::timeout(WAIT, async {
                    loop {
                        if let Some(EngineEvent::Stats(s)) = be.recv().await
                            && let Some(p) = s.candidate_pair
                        {
                            return p.relay_protocol;
                        }
                    }
                })
                .await
                .ok()
                .flatten();
            }
            a.hang_up();
            server.shutdown().await;
            (connected, readable, protocol)
        }
    };
    let tcp = call(turn.tcp_url(), false).await;
    let tls = call(turn.tls_url().expect("TLS"), true).await;
    let log = turn.log();
    let untrusted = call(turn.tls_url().expect("TLS"), false).await;
    // Refused at the handshake, not for want of trying: the TCP connections reached coturn, no session began.
    let after = turn.log()[log.len()..].to_owned();
    println!("relay over TCP: {tcp:?}; over TLS: {tls:?}; over TLS without the CA: {untrusted:?}");
    assert!(tcp.0 && tcp.1 >= 45, "over TCP: connected and 2 s of readable frames: {tcp:?}\n{log}");
    assert!(tls.0 && tls.1 >= 45, "over TLS: connected and 2 s of readable frames: {tls:?}\n{log}");
    assert_eq!((tcp.2.as_deref(), tls.2.as_deref()), (Some("tcp"), Some("tls")), "what the stats say");
    // coturn's verbose log names each session's cipher when it came over TLS.
    let tls_sessions = log.lines().filter(|l| l.contains("new, realm") && l.contains("cipher=")).count();
    assert!(tls_sessions >= 2, "coturn saw both peers over TLS:\n{log}");
    assert_eq!(untrusted, (false, 0, None), "an untrusted certificate is refused");
    assert!(after.contains("tcp or tls connected"), "the untrusted call reached coturn:\n{after}");
    assert!(!after.contains("new, realm"), "no TURN session without a trusted certificate:\n{after}");
}
