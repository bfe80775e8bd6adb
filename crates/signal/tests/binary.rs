//! The `tincan-signal` binary as a process: configuration from file, environment and flags, the HTTP
//! endpoints, a clear refusal of bad settings, and a graceful stop on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Raw;

const BIN: &str = env!("CARGO_BIN_EXE_tincan-signal");

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tincan-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Start the binary and read the URL it prints.
fn start(command: &mut Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {line:?}")).to_owned();
    (child, url)
}

fn http_get(url: &str, path: &str) -> String {
    let addr = url.trim_start_matches("ws://").trim_end_matches("/ws");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    write!(tcp, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    response
}

#[tokio::test]
async fn file_env_and_flags_combine_and_sigterm_stops_gracefully() {
    let file = temp_file(
        "signal.toml",
        "room_capacity = 3\nserver_name = \"from-file\"\nstun_urls = [\"stun:127.0.0.1:3478\"]\n",
    );
    let (mut child, url) = start(
        Command::new(BIN)
            .args(["--config", file.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .env("TINCAN_SERVER_NAME", "from-env")
            .env("TINCAN_TURN_URLS", "turn:127.0.0.1:3478")
            .env("TINCAN_TURN_SECRET", "s3cret"),
    );
    let (mut raw, welcome) = Raw::hello(&url).await;
    assert_eq!(welcome["server"], "from-env", "environment beats the file");
    assert_eq!(welcome["limits"]["room_capacity"], 3, "the file beats the default");
    // STUN for everyone; no relay for a connection in no room.
    let servers = welcome["ice_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{welcome}");
    assert_eq!(servers[0]["urls"][0], "stun:127.0.0.1:3478");
    assert!(servers[0]["username"].is_null());
    // TURN credentials come with the room, valid an hour.
    let joined = raw.join(tincan_signal::code::RoomCode::generate().as_str()).await;
    let relays = joined["ice_servers"].as_array().unwrap();
    assert_eq!(relays[0]["urls"][0], "turn:127.0.0.1:3478");
    let username = relays[0]["username"].as_str().unwrap();
    let expiry: u64 = username.split(':').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!((now + 3500..=now + 3700).contains(&expiry), "an hour of validity: {username}");

    let health = http_get(&url, "/healthz");
    assert!(health.starts_with("HTTP/1.0 200") && health.ends_with("ok\n"), "{health}");
    let metrics = http_get(&url, "/metrics");
    assert!(metrics.contains("tincan_signal_connections 1"), "{metrics}");

    let started = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    raw.expect_error("shutting_down").await;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "stopped within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn bad_configuration_is_refused_with_a_reason() {
    let file = temp_file("bad.toml", "room_capacity = 1\n");
    let out = Command::new(BIN).args(["--config", file.to_str().unwrap(), "--listen", "127.0.0.1:0"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("room capacity must be at least 2"), "{stderr}");

    let out = Command::new(BIN).args(["--config", "/nonexistent/tincan.toml"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tincan.toml"));

    // A port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN).args(["--listen", &addr]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).to_lowercase().contains("address"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
