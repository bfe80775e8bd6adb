//! NAT traversal in a lab of network namespaces (`tincan_rig::nat`): two homes behind their own NAT routers,
//! and on the "internet" the signaling server and coturn (STUN and TURN). `tincan-cli` peers run in the homes.
//! * full cone ↔ symmetric: connects with STUN alone; the selected pair is server-/peer-reflexive, not relayed.
//! * symmetric ↔ symmetric: with STUN alone the call fails; with TURN it connects, relayed (relay-only peers
//!   at once, default peers once their other pairs have failed).
//!
//! * a home that lets out only TCP (to 443, or to coturn's port): it calls through TURN over TLS, or TCP.
//! * a network change (A's router renumbered mid-call): ICE restarts through the signaling server (A's client
//!   replacing its dead connection) and media resumes; the gap is measured.
//!
//! Both carry the stamped pattern and the tone, checked at the other end. Each test runs in a network
//! namespace of its own (see `support/netns.rs`), which plays the internet.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;
use tincan_e2e::app::{json_lines, next_line};
use tincan_e2e::process::Guard;
use tincan_e2e::{binary, netns};
use tincan_rig::coturn::Coturn;
use tincan_rig::nat::{Home, Lab, Nat, PUBLIC_SERVER};
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer, TurnConfig};

/// The signaling server on the lab's public address, minting TURN credentials for `turn` if given.
async fn server(turn: Option<&Coturn>) -> anyhow::Result<SignalServer> {
    let config = ServerConfig {
        listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        turn: turn.map(|t| TurnConfig { urls: vec![t.url()], secret: t.secret.clone(), ttl: Duration::from_secs(600) }),
        ..ServerConfig::loopback_unlimited()
    };
    Ok(SignalServer::start(config).await?)
}

fn public_url(server: &SignalServer) -> String {
    format!("ws://{PUBLIC_SERVER}:{}/ws", server.local_addr().port())
}

struct Peer {
    _process: Guard,
    lines: Receiver<Value>,
}

/// `tincan-cli join` in `home`: creates the room (`first`) or joins it; hangs up `seconds` after connecting.
fn peer(
    home: &Home,
    url: &str,
    room: &str,
    stun: &str,
    first: bool,
    relay_only: bool,
    seconds: u32,
) -> anyhow::Result<Peer> {
    peer_with(home, url, room, stun, first, seconds, if relay_only { &["--relay-only"] } else { &[] })
}

/// The same with more of `tincan-cli`'s arguments.
fn peer_with(
    home: &Home,
    url: &str,
    room: &str,
    stun: &str,
    first: bool,
    seconds: u32,
    more: &[&str],
) -> anyhow::Result<Peer> {
    let mut command = home.command(binary("tincan-cli")?);
    command
        .args(["--server", url, "--name", &home.host, "join", room, "--stats", "--size", "320x240"])
        .args(["--ice-server", stun, "--duration", &seconds.to_string()])
        .args(more)
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("LAB_DEBUG").is_some() { Stdio::inherit() } else { Stdio::null() });
    if !first {
        command.arg("--existing");
    }
    let mut process = Guard::spawn(&mut command)?;
    let lines = json_lines(process.0.stdout.take().expect("piped"));
    Ok(Peer { _process: process, lines })
}

/// Until the call ends: the last stats line and the summary.
fn finish(peer: &Peer) -> anyhow::Result<(Value, Value)> {
    let mut stats = Value::Null;
    loop {
        let v = next_line(&peer.lines, "the summary", |v| v["event"] == "stats" || v["event"] == "summary")?;
        if v["event"] == "summary" {
            return Ok((stats, v));
        }
        stats = v;
    }
}

fn assert_media(summary: &Value, who: &str) {
    let frames = summary["frames_decoded"].as_u64().unwrap_or(0);
    let unreadable = summary["frames_unreadable"].as_u64().unwrap_or(frames);
    assert!(frames >= 45, "{who} decoded {frames} frames: {summary}");
    assert!(unreadable * 10 <= frames, "{who}: most frames should carry a readable stamp: {summary}");
    assert_eq!(summary["out_of_order"], 0, "{who}: {summary}");
    let hz = summary["audio_hz"].as_f64().unwrap_or(0.0);
    assert!((hz - 440.0).abs() < 10.0, "{who} heard {hz} Hz, not the 440 Hz tone: {summary}");
}

fn pair_types(stats: &Value) -> (String, String) {
    let pair = &stats["candidate_pair"];
    (pair["local_type"].as_str().unwrap_or("?").to_owned(), pair["remote_type"].as_str().unwrap_or("?").to_owned())
}

/// A (home 0) creates a fresh room and waits in it; then B (home 1) joins: B offers. Returns both and when
/// B started.
fn meet(lab: &Lab, url: &str, stun: &str, relay_only: bool, seconds: u32) -> anyhow::Result<(Peer, Peer, Instant)> {
    let room = RoomCode::generate().as_str().to_owned();
    let a = peer(&lab.homes[0], url, &room, stun, true, relay_only, seconds)?;
    next_line(&a.lines, "A waiting in the room", |v| v["event"] == "state" && v["state"] == "waiting")?;
    let started = Instant::now();
    let b = peer(&lab.homes[1], url, &room, stun, false, relay_only, seconds)?;
    Ok((a, b, started))
}

/// Both peers connect; returns (join → connected for the joiner, each side's last stats).
fn call(lab: &Lab, url: &str, stun: &str, relay_only: bool) -> anyhow::Result<(Duration, [(Value, Value); 2])> {
    let (a, b, started) = meet(lab, url, stun, relay_only, 3)?;
    next_line(&b.lines, "B connected", |v| v["event"] == "state" && v["state"] == "connected")?;
    let setup = started.elapsed();
    Ok((setup, [finish(&a)?, finish(&b)?]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cone_and_symmetric_nat_connect_through_stun() -> anyhow::Result<()> {
    if !netns::enter("full_cone_and_symmetric_nat_connect_through_stun")? {
        return Ok(());
    }
    let lab = Lab::build(&[Nat::FullCone, Nat::Symmetric])?;
    let a_public = lab.homes[0].public;
    let stun = Coturn::start_on(PUBLIC_SERVER)?;
    let server = server(None).await?;
    let (url, stun_url) = (public_url(&server), stun.stun_url());
    let (setup, [(a_stats, a_sum), (b_stats, b_sum)]) =
        tokio::task::spawn_blocking(move || call(&lab, &url, &stun_url, false)).await??;
    assert_media(&a_sum, "A (full cone)");
    assert_media(&b_sum, "B (symmetric)");
    let (a_pair, b_pair) = (pair_types(&a_stats), pair_types(&b_stats));
    for (local, remote) in [&a_pair, &b_pair] {
        assert!(local != "relay" && remote != "relay", "no TURN here, yet the pair is relayed: {a_pair:?} {b_pair:?}");
    }
    // A's router maps consistently, so B reaches A at the address STUN told A: a server-reflexive candidate
    // at A's router's public address.
    assert_eq!(b_pair.1, "srflx", "B should reach A at A's STUN-learned address: B's pair {b_pair:?}");
    let b_remote = b_stats["candidate_pair"]["remote_address"].as_str().unwrap_or("");
    assert!(b_remote.starts_with(&format!("{a_public}:")), "B should reach A at A's router ({a_public}): {b_stats}");
    // B's router gives every destination a new port: A learns B's address from B's checks — a peer-reflexive
    // candidate, which webrtc-rs's stats leave blank (no type, no address).
    assert!(matches!(a_pair.1.as_str(), "prflx" | ""), "A's remote candidate should be peer-reflexive: {a_pair:?}");
    println!(
        "nat lab: full cone <-> symmetric via STUN, setup {} ms, pairs A {a_pair:?} B {b_pair:?}",
        setup.as_millis()
    );
    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_symmetric_nats_connect_only_through_turn() -> anyhow::Result<()> {
    if !netns::enter("two_symmetric_nats_connect_only_through_turn")? {
        return Ok(());
    }
    let lab = std::sync::Arc::new(Lab::build(&[Nat::Symmetric, Nat::Symmetric])?);
    let turn = Coturn::start_on(PUBLIC_SERVER)?;
    let stun_url = turn.stun_url();

    // STUN alone: every mapping is per destination, so neither side can reach the other.
    let stun_only = server(None).await?;
    let (url, stun, l) = (public_url(&stun_only), stun_url.clone(), lab.clone());
    let failed = tokio::task::spawn_blocking(move || -> anyhow::Result<(Duration, [Value; 2])> {
        let (a, b, started) = meet(&l, &url, &stun, false, 3)?;
        // The first to give up says connection_failed and leaves the room; the other sees it leave.
        let ended = |p: &Peer, who| next_line(&p.lines, who, |v| v["event"] == "state" && v["state"] == "ended");
        let reasons = [ended(&a, "A giving up")?["reason"].clone(), ended(&b, "B giving up")?["reason"].clone()];
        Ok((started.elapsed(), reasons))
    })
    .await??;
    assert!(failed.1.contains(&"connection_failed".into()), "the call should fail to connect: {:?}", failed.1);
    stun_only.shutdown().await;

    // With TURN credentials from the signaling server: relayed. Relay-only peers connect at once; peers with
    // every candidate type (the default) once their host and server-reflexive pairs have failed (0.56-0.59 s
    // in 6 runs). If they had not connected 5 s after the offer, they would start over relay-only (the
    // engine's relay fallback, a safety net since earlier builds' 438-then-400 refusals from coturn).
    let with_turn = server(Some(&turn)).await?;
    let mut setups = Vec::new();
    for relay_only in [true, false] {
        let (url, l, stun) = (public_url(&with_turn), lab.clone(), stun_url.clone());
        let (setup, [(a_stats, a_sum), (b_stats, b_sum)]) =
            tokio::task::spawn_blocking(move || call(&l, &url, &stun, relay_only))
                .await?
                .map_err(|e| anyhow::anyhow!("{e}; coturn says:\n{}", turn.log()))?;
        assert_media(&a_sum, "A");
        assert_media(&b_sum, "B");
        let (a_pair, b_pair) = (pair_types(&a_stats), pair_types(&b_stats));
        assert!(a_pair.0 == "relay" || a_pair.1 == "relay", "A's pair should be relayed: {a_pair:?}");
        assert!(b_pair.0 == "relay" || b_pair.1 == "relay", "B's pair should be relayed: {b_pair:?}");
        setups.push((relay_only, setup, a_pair, b_pair));
    }
    println!("nat lab: symmetric <-> symmetric: STUN only gave up after {} ms", failed.0.as_millis());
    for (relay_only, setup, a_pair, b_pair) in setups {
        let how = if relay_only { "relay-only peers" } else { "default peers" };
        println!(
            "nat lab: symmetric <-> symmetric via TURN, {how}: setup {} ms, pairs A {a_pair:?} B {b_pair:?}",
            setup.as_millis()
        );
    }
    with_turn.shutdown().await;
    Ok(())
}

/// A home whose network lets out only TCP to port 443 (and to the signaling server's port: in the wild that
/// would be wss:// on 443 of another host): UDP is dropped at its router. Its peer reaches the other home's
/// (a full cone NAT with UDP) through coturn over TLS on 443, with a certificate from a CA of the test's own
/// (`--ca-file`); the server hands out the UDP and the TLS URL, as a deployment would. Then the same with TCP on
/// 3478 only. Media flows both ways and the blocked peer's stats say its relay is TLS, then TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_that_lets_out_only_tcp_calls_through_turn_over_tls_and_tcp() -> anyhow::Result<()> {
    if !netns::enter("a_home_that_lets_out_only_tcp_calls_through_turn_over_tls_and_tcp")? {
        return Ok(());
    }
    inner_only_tcp().await
}

async fn inner_only_tcp() -> anyhow::Result<()> {
    use tincan_rig::coturn::TestCa;
    let ca = TestCa::for_ip(PUBLIC_SERVER)?;
    let dir = tincan_e2e::scratch("nat-lab-only-tcp")?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem)?;
    // Homes 0 and 1 let out only TCP (to 443, to coturn's own port); home 2 is a full cone with UDP.
    let lab = std::sync::Arc::new(Lab::build(&[Nat::Symmetric, Nat::Symmetric, Nat::FullCone])?);
    let turn = Coturn::start_tls_on(PUBLIC_SERVER, &ca, 443)?;
    let tls_url = turn.tls_url().expect("TLS");
    let mut results = Vec::new();
    for (home, allowed, urls, wanted) in
        [(0, 443, vec![turn.url(), tls_url.clone()], "tls"), (1, turn.port, vec![turn.url(), turn.tcp_url()], "tcp")]
    {
        let config = ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            turn: Some(TurnConfig { urls, secret: turn.secret.clone(), ttl: Duration::from_secs(600) }),
            ..ServerConfig::loopback_unlimited()
        };
        let server = SignalServer::start(config).await?;
        lab.only_tcp_out(home, &[allowed, server.local_addr().port()])?;
        let (url, stun, l, ca) = (public_url(&server), turn.stun_url(), lab.clone(), ca_file.clone());
        let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<(Duration, [(Value, Value); 2])> {
            let room = RoomCode::generate().as_str().to_owned();
            let ca = ca.to_string_lossy().into_owned();
            let a = peer_with(&l.homes[home], &url, &room, &stun, true, 3, &["--ca-file", &ca])?;
            next_line(&a.lines, "A waiting in the room", |v| v["event"] == "state" && v["state"] == "waiting")?;
            let started = Instant::now();
            let b = peer_with(&l.homes[2], &url, &room, &stun, false, 3, &["--ca-file", &ca])?;
            next_line(&b.lines, "B connected", |v| v["event"] == "state" && v["state"] == "connected")?;
            Ok((started.elapsed(), [finish(&a)?, finish(&b)?]))
        })
        .await?
        .map_err(|e| anyhow::anyhow!("{e}; coturn says:\n{}", turn.log()))?;
        let (setup, [(a_stats, a_sum), (_, b_sum)]) = outcome;
        assert_media(&a_sum, "A (only TCP out)");
        assert_media(&b_sum, "B");
        let pair = &a_stats["candidate_pair"];
        assert_eq!(pair["local_type"], "relay", "A can only relay: {pair}");
        assert_eq!(pair["relay_protocol"], wanted, "A's relay goes over {wanted}: {pair}");
        results.push((wanted, setup, pair.clone()));
        server.shutdown().await;
    }
    for (how, setup, pair) in results {
        println!("nat lab: only TCP out, relay over {how}: setup {} ms, A's pair {pair}", setup.as_millis());
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// The network changes under a call: A's router gets a new public address, so every mapping through it —
/// the media path and A's signaling connection — is gone. Both sides notice the silence, A's client
/// reconnects and replaces its old connection on the server, B (the offerer) restarts ICE through it, and
/// media resumes. The gap is the longest pause between decoded frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_change_restarts_ice_and_media_resumes() -> anyhow::Result<()> {
    if !netns::enter("a_network_change_restarts_ice_and_media_resumes")? {
        return Ok(());
    }
    let mut lab = Lab::build(&[Nat::Symmetric, Nat::FullCone])?;
    let stun = Coturn::start_on(PUBLIC_SERVER)?;
    let server = server(None).await?;
    let (url, stun_url) = (public_url(&server), stun.stun_url());
    let (a, b, states) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let (a, b, _) = meet(&lab, &url, &stun_url, false, 9)?;
        next_line(&b.lines, "B connected", |v| v["event"] == "state" && v["state"] == "connected")?;
        std::thread::sleep(Duration::from_secs(3));
        let new = lab.renumber(0)?;
        let changed = Instant::now();
        // B must see the path break and come back.
        if let Err(e) = next_line(&b.lines, "B reconnecting", |v| v["event"] == "state" && v["state"] == "reconnecting")
        {
            let (a_stats, a_sum) = finish(&a)?;
            anyhow::bail!("{e}\nA: {a_stats}\n{a_sum}");
        }
        let noticed = changed.elapsed();
        next_line(&b.lines, "B connected again", |v| v["event"] == "state" && v["state"] == "connected")?;
        let restored = changed.elapsed();
        Ok((finish(&a)?, finish(&b)?, (new, noticed, restored)))
    })
    .await??;
    let (_, noticed, restored) = states;
    for (who, (stats, summary)) in [("A", &a), ("B", &b)] {
        let frames = summary["frames_decoded"].as_u64().unwrap_or(0);
        assert!(frames >= 150, "{who} decoded only {frames} frames in 9 s: {summary}");
        assert_eq!(summary["out_of_order"], 0, "{who}: {summary}");
        let gap = summary["longest_gap_ms"].as_f64().unwrap_or(f64::MAX);
        assert!(gap < 5000.0, "{who}'s video stopped for {gap:.0} ms: {summary}");
        println!("network change: {who} longest video gap {gap:.0} ms, {frames} frames; pair {:?}", pair_types(stats));
    }
    println!(
        "network change: B noticed after {} ms, connected again after {} ms",
        noticed.as_millis(),
        restored.as_millis()
    );
    server.shutdown().await;
    Ok(())
}
