//! Calling a contact: `tincan-cli listen` registers its personal code; an engine rings it; the listener
//! answers (or declines) and the call connects in a fresh room.

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;
use tincan_engine::{Call, Target};
use tincan_signal::code::PersonalCode;

fn listener(
    url: &str,
    dir: &std::path::Path,
    extra: &[&str],
) -> (Child, PersonalCode, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tincan-cli"))
        .args(["--server", url, "--identity", dir.join("id.key").to_str().unwrap(), "listen", "--loopback"])
        .args(["--size", "160x120", "--duration", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["event"], "online", "{line}");
    let code = PersonalCode::parse(v["code"].as_str().unwrap()).unwrap();
    (child, code, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_a_listening_contact_connects() {
    let server = server().await;
    let url = server.ws_url();
    let dir = std::env::temp_dir().join(format!("tincan-contact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut child, code, out) = listener(&url, &dir, &[]);
    let (config, got) = common::config(&url, "Caller", &PeerOptions { size: (160, 120), ..Default::default() });
    let (_call, mut events) = Call::start(config, Target::Contact(code));
    state(&mut events, "ringing_out").await;
    state(&mut events, "connected").await;
    // The listener sends its pattern and hangs up after two seconds.
    assert_eq!(state(&mut events, "ended").await.as_deref(), Some("remote_hung_up"));
    let frames = got.stamps.try_iter().filter(|(s, _)| s.is_some()).count();
    assert!(frames >= 20, "{frames} frames from the contact");
    assert!(child.wait().unwrap().success());
    let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
    assert!(lines.iter().any(|l| l.contains("\"incoming\"") && l.contains("Caller")), "{lines:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_ring_ends_the_call_as_declined() {
    let server = server().await;
    let url = server.ws_url();
    let dir = std::env::temp_dir().join(format!("tincan-decline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut child, code, _out) = listener(&url, &dir, &["--decline"]);
    let (config, _) = common::config(&url, "Caller", &PeerOptions { video: false, audio: false, ..Default::default() });
    let (_call, mut events) = Call::start(config, Target::Contact(code));
    assert_eq!(state(&mut events, "ended").await.as_deref(), Some("declined"));
    assert!(child.wait().unwrap().success());
    // Nobody listening any more: unavailable.
    let (config, _) = common::config(&url, "Caller", &PeerOptions { video: false, audio: false, ..Default::default() });
    let (_call, mut events) = Call::start(config, Target::Contact(code_of(&dir)));
    assert_eq!(state(&mut events, "ended").await.as_deref(), Some("unavailable"));
    server.shutdown().await;
}

fn code_of(dir: &std::path::Path) -> PersonalCode {
    let out = Command::new(env!("CARGO_BIN_EXE_tincan-cli"))
        .args(["--identity", dir.join("id.key").to_str().unwrap(), "whoami"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    PersonalCode::parse(v["code"].as_str().unwrap()).unwrap()
}
