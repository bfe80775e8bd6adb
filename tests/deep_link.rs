//! One Tincan at a time, and links open the right screen: with the app running (on a D-Bus session bus,
//! where the single-instance plugin finds it), a second launch `tincan tincan://join/ROOM` hands the link
//! to the running app and exits; the running app asks first (the device check, even though the user chose
//! to join at once), then joins that room, where a `tincan-cli` peer shows the pattern. `tincan --join ROOM`
//! follows that choice and joins straight away. Then `tincan tincan://call/CODE` rings a listening
//! `tincan-cli` once asked, with the camera off, and the callee answers.

use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tincan_e2e::app::{
    WAIT, assert_live_pattern, join_from_check, json_lines, next_line, run_scenario, seed, what_the_app_says,
};
use tincan_e2e::binary;
use tincan_e2e::dbus::SessionBus;
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::{Driver, Session};
use tincan_signal::code::RoomCode;
use tincan_signal::identity::Identity;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_launch_hands_its_link_to_the_running_app() -> anyhow::Result<()> {
    run_scenario("deep-link", scenario).await
}

/// Launch the app a second time with `args` (a link, or `--join ROOM`); it must hand them over and exit soon.
fn second_launch(env: &[(&str, String)], display: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new(binary("tincan")?);
    command.args(args).env("DISPLAY", display).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut second = Guard::spawn(&mut command)?;
    let started = Instant::now();
    loop {
        if let Some(status) = second.0.try_wait()? {
            anyhow::ensure!(status.success(), "the second launch exited with {status}");
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(20), "the second launch did not exit: two apps run");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A link does not start a call by itself: the device check asks, and meanwhile the other side sees
/// nothing (`started`: what it would print had the call begun).
fn asked_first(session: &Session, lines: &Receiver<Value>, started: impl Fn(&Value) -> bool) -> anyhow::Result<()> {
    session.wait_for(
        "the device check asking about the link",
        WAIT,
        "return !document.getElementById('check').classList.contains('hidden') && document.getElementById('check-subtitle').textContent.startsWith('A link asks')",
    )?;
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while let Ok(v) = lines.recv_timeout(quiet_until.saturating_duration_since(Instant::now())) {
        anyhow::ensure!(!started(&v), "the link started the call before the user said so: {v}");
    }
    Ok(())
}

/// A `tincan-cli` peer sending the pattern at `size`, waiting alone in `room`, and its lines.
fn waiting_peer(url: &str, room: &RoomCode, size: &str) -> anyhow::Result<(Guard, Receiver<Value>)> {
    let mut peer = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Peer", "join", room.as_str(), "--loopback", "--size", size])
            .args(["--duration", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )?;
    let lines = json_lines(peer.0.stdout.take().expect("piped"));
    next_line(&lines, "the peer waiting", |v| v["event"] == "state" && v["state"] == "waiting")?;
    Ok((peer, lines))
}

fn connected(session: &Session) -> anyhow::Result<()> {
    if let Err(e) =
        session.wait_for("connected", WAIT, "return document.getElementById('call-state').textContent === 'Connected'")
    {
        anyhow::bail!("{e}; the app says: {}", what_the_app_says(session));
    }
    Ok(())
}

fn scenario(url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let display = Display::start()?;
    let bus = SessionBus::start()?;
    // Ana chose to join at once: a link someone else made still asks her first.
    seed(dir, "config", "settings.json", r#"{"display_name": "Ana", "skip_device_check": true}"#)?;
    let mut env = tincan_e2e::app::env(dir, url);
    env.push(("DBUS_SESSION_BUS_ADDRESS", bus.address.clone()));
    let driver = Driver::start(&display.name, &env, &dir.join("app.log"))?;
    let session = driver.session(&binary("tincan")?, &[])?;
    session.wait_for("the UI to be ready", WAIT, "return window.tincan && window.tincan.ready === true")?;

    // tincan://join/ROOM from a second launch.
    let room = RoomCode::generate();
    let (peer, lines) = waiting_peer(url, &room, "640x480")?;
    second_launch(&env, &display.name, &[&format!("tincan://join/{}", room.as_str().to_lowercase())])?;
    asked_first(&session, &lines, |v| {
        v["event"] == "participant_joined" || v["event"] == "state" && v["state"] == "connecting"
    })?;
    join_from_check(&session, true)?;
    connected(&session)?;
    assert_live_pattern(&session)?;
    session.run("document.getElementById('hangup').click(); return true;", json!([]))?;
    session.wait_for("the lobby", WAIT, "return !document.getElementById('lobby').classList.contains('hidden')")?;
    drop(peer);

    // `--join ROOM` from a second launch follows Ana's choice to join at once: no check, straight in.
    let room = RoomCode::generate();
    let (peer, _lines) = waiting_peer(url, &room, "320x240")?;
    second_launch(&env, &display.name, &["--join", room.as_str()])?;
    connected(&session)?;
    session.run("document.getElementById('hangup').click(); return true;", json!([]))?;
    session.wait_for("the lobby", WAIT, "return !document.getElementById('lobby').classList.contains('hidden')")?;
    drop(peer);

    // tincan://call/CODE rings that code.
    let callee = Identity::generate();
    let key = dir.join("callee.key");
    std::fs::write(&key, callee.to_hex())?;
    let mut listener = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--identity"])
            .arg(&key)
            .args(["listen", "--loopback", "--size", "320x240", "--duration", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )?;
    let lines = json_lines(listener.0.stdout.take().expect("piped"));
    next_line(&lines, "the callee online", |v| v["event"] == "status" && v["status"] == "online")?;
    second_launch(&env, &display.name, &[&format!("tincan://call/{}", callee.personal_code().as_str())])?;
    asked_first(&session, &lines, |v| v["event"] == "incoming")?;
    // This time with the camera off, chosen on the check once it shows the picture.
    session.wait_for(
        "the check's picture",
        WAIT,
        "return document.getElementById('check-video').classList.contains('live')",
    )?;
    let off = "const c = document.getElementById('check-cam'); c.click(); return !c.checked && !c.disabled;";
    assert_eq!(session.run(off, json!([]))?, true, "the camera toggle turns off");
    join_from_check(&session, true)?;
    let incoming = next_line(&lines, "the ring", |v| v["event"] == "incoming")?;
    assert_eq!(incoming["from_name"], "Ana");
    connected(&session)?;
    // The other side is told from the start: microphone on, camera off.
    let media = next_line(&lines, "the callee told what Ana sends", |v| v["event"] == "remote_media")?;
    anyhow::ensure!(
        media["audio"] == true && media["video"] == false,
        "joined with the camera off, the callee heard {media}"
    );
    // And the call screen says the same.
    let toggles = "return [document.getElementById('mic').getAttribute('aria-pressed'), document.getElementById('cam').getAttribute('aria-pressed')]";
    assert_eq!(session.run(toggles, json!([]))?, json!(["true", "false"]), "the call's microphone and camera toggles");
    Ok(())
}
