//! A peer that vanishes: a `tincan-cli` peer's process is killed mid-call, and the engine on the other side
//! notices through ICE.

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use tincan_engine::{Call, Target};
use tincan_signal::code::RoomCode;

/// A peer that disappears without hanging up (its process is killed) is noticed through ICE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_peer_is_detected() {
    let server = server().await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_tincan-cli"))
        .args(["--server", &url, "join", room.as_str(), "--loopback", "--size", "160x120"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut config, _) = common::config(&url, "A", &PeerOptions { video: false, audio: false, ..Default::default() });
    config.reconnect_timeout = Duration::from_secs(2);
    let (_call, mut events) = Call::start(config, Target::Room { code: room, create: true });
    state(&mut events, "connected").await;
    let killed = std::time::Instant::now();
    cli.kill().unwrap();
    let _ = cli.wait();
    state(&mut events, "reconnecting").await;
    assert_eq!(state(&mut events, "ended").await.as_deref(), Some("peer_vanished"));
    eprintln!("vanished peer detected in {:.1} s", killed.elapsed().as_secs_f64());
    server.shutdown().await;
}
