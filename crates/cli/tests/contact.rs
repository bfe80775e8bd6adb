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
        .args(["--size", "160x120", "--duration", "3"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut code = None;
    // Its code first, then registered: its call manager says it is online.
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "the listener stopped before it was online");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "listening" {
            code = Some(PersonalCode::parse(v["code"].as_str().unwrap()).unwrap());
        }
        if v["event"] == "status" && v["status"] == "online" {
            break;
        }
    }
    (child, code.expect("the listener's code"), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_a_listening_contact_connects() {
    let server = server().await;
    let url = server.ws_url();
    let dir = std::env::temp_dir().join(format!("tincan-contact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut child, code, out) = listener(&url, &dir, &[]);
    let (config, got) = common::config(&url, "Caller", &PeerOptions { size: (160, 120), ..Default::default() });
    let (_call, mut events) = Call::start(config, Target::Contact(code.clone()));
    state(&mut events, "ringing_out").await;
    state(&mut events, "connected").await;
    // Someone else rings meanwhile: the listener's call manager declines for it (busy).
    let (config, _) = common::config(&url, "Second", &PeerOptions { video: false, audio: false, ..Default::default() });
    let (_second, mut second) = Call::start(config, Target::Contact(code));
    assert_eq!(state(&mut second, "ended").await.as_deref(), Some("declined"));
    // The listener sends its pattern and hangs up after three seconds.
    assert_eq!(state(&mut events, "ended").await.as_deref(), Some("remote_hung_up"));
    let frames = got.stamps.try_iter().filter(|(s, _)| s.is_some()).count();
    assert!(frames >= 20, "{frames} frames from the contact");
    assert!(child.wait().unwrap().success());
    let lines: Vec<serde_json::Value> =
        out.lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect();
    assert!(lines.iter().any(|v| v["event"] == "incoming" && v["from_name"] == "Caller"), "{lines:?}");
    assert!(
        lines.iter().any(|v| v["event"] == "missed" && v["name"] == "Second" && v["outcome"] == "busy"),
        "{lines:?}"
    );
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
