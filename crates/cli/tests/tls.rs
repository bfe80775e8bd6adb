//! A deployment with a private CA: the signaling server over `wss://` and coturn over TLS (`turns:`), both
//! with certificates from a CA of the test's own. Two `tincan-cli` peers given the CA (`--ca-file`) meet
//! through the server and relay over TLS only (`--relay-only`; the server hands out the `turns:` URL alone):
//! both decode the other's video, and the stats say `relay_protocol: tls`. Without the CA the same peer
//! refuses the signaling server's certificate and says so (TURN's refusal is `crates/engine/tests/relay.rs`'s).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tincan_rig::coturn::{Coturn, TestCa};
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer, TlsFiles, TurnConfig};

fn peer(
    url: &str,
    room: &str,
    ca: Option<&std::path::Path>,
    existing: bool,
) -> (std::process::Child, mpsc::Receiver<Value>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tincan-cli"));
    command
        .args(["--server", url, "join", room, "--loopback", "--relay-only", "--stats", "--size", "160x120"])
        .args(["--duration", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ca) = ca {
        command.arg("--ca-file").arg(ca);
    }
    if existing {
        command.arg("--existing");
    }
    let mut child = command.spawn().expect("tincan-cli");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    (child, rx)
}

/// Lines until one `pick` accepts (or 30 s).
fn until(rx: &mpsc::Receiver<Value>, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(v) if pick(&v) => return v,
            Ok(_) => continue,
            Err(_) => panic!("no {what} within 30 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_for_signaling_and_turn_over_tls() {
    let ca = TestCa::for_loopback().expect("a CA");
    let dir = std::env::temp_dir().join(format!("tincan-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_path, cert, key) = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&ca_path, &ca.ca_pem).unwrap();
    std::fs::write(&cert, &ca.cert_pem).unwrap();
    std::fs::write(&key, &ca.key_pem).unwrap();
    let turn = Coturn::start_with_tls(&ca, &[]).expect("coturn");
    let server = SignalServer::start(ServerConfig {
        tls: Some(TlsFiles { cert, key }),
        turn: Some(TurnConfig {
            urls: vec![turn.tls_url().expect("TLS")],
            secret: turn.secret.clone(),
            ttl: Duration::from_secs(600),
        }),
        ..ServerConfig::loopback_unlimited()
    })
    .await
    .expect("server");
    let url = server.ws_url();
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let room = RoomCode::generate().as_str().to_owned();

    let (url_a, url_b, room_a, room_b, ca_a, ca_b) =
        (url.clone(), url.clone(), room.clone(), room.clone(), ca_path.clone(), ca_path.clone());
    let result = tokio::task::spawn_blocking(move || {
        let (mut a, a_lines) = peer(&url_a, &room_a, Some(&ca_a), false);
        until(&a_lines, "A waiting", |v| v["event"] == "state" && v["state"] == "waiting");
        let (mut b, b_lines) = peer(&url_b, &room_b, Some(&ca_b), true);
        until(&b_lines, "B connected", |v| v["event"] == "state" && v["state"] == "connected");
        let stats = until(&b_lines, "B's stats with a candidate pair", |v| {
            v["event"] == "stats" && v["candidate_pair"].is_object()
        });
        let summaries = [&a_lines, &b_lines].map(|l| until(l, "a summary", |v| v["event"] == "summary"));
        let _ = (a.wait(), b.wait());
        (stats, summaries)
    })
    .await
    .unwrap();
    let (stats, summaries) = result;
    println!("over a private CA: B's pair {}", stats["candidate_pair"]);
    assert_eq!(stats["candidate_pair"]["local_type"], "relay", "{stats}");
    assert_eq!(stats["candidate_pair"]["relay_protocol"], "tls", "{stats}");
    for s in &summaries {
        assert!(s["frames_decoded"].as_u64().unwrap_or(0) > 30, "video through the TLS relay: {s}");
    }

    // Without the CA: the server's certificate is refused, and the peer says why.
    let (url_c, room_c) = (url.clone(), room.clone());
    let refused = tokio::task::spawn_blocking(move || {
        let (mut c, c_lines) = peer(&url_c, &room_c, None, false);
        let mut said = Vec::new();
        while let Ok(v) = c_lines.recv_timeout(Duration::from_secs(30)) {
            said.push(v);
        }
        let _ = c.kill();
        said
    })
    .await
    .unwrap();
    let complaint = refused.iter().find(|v| v["event"] == "notice").map(|v| v["message"].to_string());
    println!("without the CA: {complaint:?}");
    assert!(
        complaint.as_deref().is_some_and(|m| m.to_lowercase().contains("certificate")),
        "the peer says the certificate was refused: {refused:?}"
    );
    assert!(refused.iter().any(|v| v["state"] == "ended" && v["reason"] == "server_unreachable"), "{refused:?}");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
