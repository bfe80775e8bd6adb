//! A screen shared into the desktop app (Xvfb, WebDriver): a `tincan-cli` peer shares another X display (a
//! test screen of fine text, `tincan_rig::screen`) for a few seconds. The app shows the share as a tile of
//! its own, large, named "Cli's screen", with the sharer's camera beside it; the messages say when the share
//! starts and stops, and the tile goes when it stops. Then the app shares its own screen from the Share
//! picker: a bar says so, the peer receives it at the screen's size, and Stop sharing ends it there. Last, it
//! shares again with "Also share the computer's sound" ticked, while a 1000 Hz tone plays into the default
//! output of a PulseAudio server of the test's own: the peer hears it over the app's 440 Hz test tone.
//! Screenshots at 1280x800 dark and 800x600 light, of the picker and of sharing.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tincan_e2e::app::{WAIT, first_start, join_room, json_lines, next_line, run_scenario};
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::Driver;
use tincan_e2e::{artifacts, binary};
use tincan_rig::pulse::{Pulse, RATE};
use tincan_rig::screen::TestScreen;
use tincan_rig::xvfb::Xvfb;
use tincan_signal::code::RoomCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_shared_screen_is_shown_large_and_goes_when_it_stops() -> anyhow::Result<()> {
    run_scenario("app-share", scenario).await
}

fn scenario(url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let display = Display::start()?;
    // What the peer shares: another display, with text on it.
    let shared = Xvfb::start(1280, 720)?;
    let _screen = TestScreen::start(&shared.display)?;
    // The computer's speakers: a PulseAudio server with one null sink, the default output.
    let pulse = Pulse::start()?;
    pulse.null_sink("speakers")?;
    pulse.pactl(&["set-default-sink", "speakers"])?;
    let mut env = tincan_e2e::app::env(dir, url);
    env.push(("PULSE_SERVER", pulse.server()));
    let driver = Driver::start(&display.name, &env, &dir.join("app.log"))?;
    let session = driver.session(&binary("tincan")?, &[])?;
    session.wait_for("the UI to be ready", WAIT, "return window.tincan && window.tincan.ready === true")?;
    first_start(&session, "Ana")?;
    session.set_window_size(1280, 800)?;

    let room = RoomCode::generate();
    let mut cli = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Cli", "join", room.as_str(), "--loopback", "--size", "320x240"])
            .args(["--share", "screen", "--share-for", "8", "--duration", "60"])
            .env("DISPLAY", &shared.display)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("cli.log"))?),
    )?;
    let lines = json_lines(cli.0.stdout.take().expect("piped"));
    join_room(&session, room.as_str())?;
    next_line(&lines, "the peer's share", |v| v["event"] == "share" && v["sharing"] == true)?;

    // The share: its own tile, large (the spotlight), live, with the camera's tile beside it.
    let share = session.wait_for(
        "the share's tile, live and large",
        WAIT,
        "const s = document.querySelector('#tiles .tile.share.live'); const c = [...document.querySelectorAll('#tiles .tile')].find(t => !t.classList.contains('share')); \
         return s && c && s.classList.contains('spotlit') && c.classList.contains('live') ? [s.querySelector('.name').textContent, s.getBoundingClientRect().width, c.getBoundingClientRect().width, s.querySelector('canvas').width] : null",
    )?;
    assert_eq!(share[0], "Cli's screen", "{share}");
    let (large, small) = (share[1].as_f64().unwrap_or(0.0), share[2].as_f64().unwrap_or(0.0));
    assert!(large > 2.0 * small, "the share large, the camera small: {share}");
    assert!(share[3].as_u64().unwrap_or(0) >= 800, "the share sent at the tile's size: {share}");
    session.wait_for(
        "the notice",
        WAIT,
        "return [...document.querySelectorAll('#messages li')].some(li => li.textContent.includes('Cli is sharing their screen.'))",
    )?;
    // Frames keep coming (the shared screen's stamp changes 20 times a second).
    let drawn = |s: &tincan_e2e::webdriver::Session| {
        s.run("return window.tincan.framesDrawn()", json!([])).map(|v| v.as_u64().unwrap_or(0))
    };
    let before = drawn(&session)?;
    std::thread::sleep(Duration::from_secs(1));
    anyhow::ensure!(drawn(&session)? > before + 10, "frames keep being drawn");
    display.screenshot(&artifacts().join("call-share-1280x800-dark.png"))?;
    session.set_window_size(800, 600)?;
    session.run("document.documentElement.dataset.theme = 'light'; return true;", json!([]))?;
    std::thread::sleep(Duration::from_millis(500));
    display.screenshot(&artifacts().join("call-share-800x600-light.png"))?;
    session.run("document.documentElement.dataset.theme = 'dark'; return true;", json!([]))?;

    // The share stops: its tile goes, the camera's stays, and the messages say so.
    session.wait_for(
        "the share's end",
        Duration::from_secs(20),
        "return !document.querySelector('#tiles .tile.share') && document.querySelectorAll('#tiles .tile.live').length === 1 && [...document.querySelectorAll('#messages li')].some(li => li.textContent.includes('Cli stopped sharing.'))",
    )?;

    // Now the app shares: the picker lists the entire screen (and the app's own window); the peer receives it.
    session.run("document.getElementById('share').click(); return true;", json!([]))?;
    let first = session.wait_for(
        "the share picker",
        WAIT,
        "const items = [...document.querySelectorAll('#share-list li .grow')].map(s => s.textContent); return items.length ? items : null",
    )?;
    assert!(first[0].as_str().is_some_and(|t| t.starts_with("Entire screen · 1280×800")), "{first}");
    display.screenshot(&artifacts().join("call-share-picker-800x600-dark.png"))?;
    session.run("document.querySelector('#share-list li button').click(); return true;", json!([]))?;
    session.wait_for(
        "the sharing bar",
        WAIT,
        "return !document.getElementById('sharing-bar').classList.contains('hidden') && document.getElementById('sharing-what').textContent === 'You are sharing the entire screen' && document.getElementById('share').getAttribute('aria-pressed') === 'true' && document.getElementById('share-panel').classList.contains('hidden')",
    )?;
    next_line(&lines, "the app's share at the peer", |v| {
        v["event"] == "share" && v["sharing"] == true && v["peer"].is_string()
    })?;
    std::thread::sleep(Duration::from_secs(2));
    display.screenshot(&artifacts().join("call-sharing-800x600-dark.png"))?;
    session.run("document.getElementById('sharing-stop').click(); return true;", json!([]))?;
    next_line(&lines, "the app's share stopping at the peer", |v| {
        v["event"] == "share" && v["sharing"] == false && v["peer"].is_string()
    })?;
    session.wait_for(
        "the share control back",
        WAIT,
        "return document.getElementById('sharing-bar').classList.contains('hidden') && document.getElementById('share').getAttribute('aria-pressed') === 'false'",
    )?;

    // Again, with the computer's sound (a video playing: 1000 Hz, louder than the app's 440 Hz tone).
    let tone: Vec<i16> = (0..RATE as usize * 30)
        .map(|i| ((std::f64::consts::TAU * 1000.0 * i as f64 / RATE as f64).sin() * 0.5 * 32767.0) as i16)
        .collect();
    let _video = pulse.play("speakers", &tone)?;
    session.run("document.getElementById('share').click(); return true;", json!([]))?;
    session.wait_for("the share picker", WAIT, "return document.querySelectorAll('#share-list li').length > 0")?;
    session.run("document.getElementById('share-sound').click(); return true;", json!([]))?;
    display.screenshot(&artifacts().join("call-share-picker-sound-800x600-dark.png"))?;
    session.run("document.querySelector('#share-list li button').click(); return true;", json!([]))?;
    session.wait_for(
        "the sharing bar, with sound",
        WAIT,
        "return document.getElementById('sharing-what').textContent === 'You are sharing the entire screen with sound'",
    )?;
    next_line(&lines, "the app's second share at the peer", |v| {
        v["event"] == "share" && v["sharing"] == true && v["peer"].is_string()
    })?;
    std::thread::sleep(Duration::from_secs(3));
    display.screenshot(&artifacts().join("call-sharing-sound-800x600-dark.png"))?;
    session.set_window_size(1280, 800)?;
    session.run("document.documentElement.dataset.theme = 'light'; return true;", json!([]))?;
    std::thread::sleep(Duration::from_millis(500));
    display.screenshot(&artifacts().join("call-sharing-sound-1280x800-light.png"))?;

    // Hung up while sharing: the peer's last second of audio is the computer's sound.
    session.run("document.getElementById('hangup').click(); return true;", json!([]))?;
    next_line(&lines, "the peer's end", |v| v["event"] == "state" && v["state"] == "ended")?;
    // The peer decoded the app's screen at its size.
    let summary = next_line(&lines, "the peer's summary", |v| v["event"] == "summary")?;
    let tracks = summary["participants"][0]["tracks"].as_array().cloned().unwrap_or_default();
    let screen = tracks.iter().find(|t| t["kind"] == "screen").cloned().unwrap_or_default();
    assert_eq!((screen["width"].as_u64(), screen["height"].as_u64()), (Some(1280), Some(800)), "{summary}");
    assert!(screen["frames_decoded"].as_u64().unwrap_or(0) >= 5, "{screen}");
    let heard = summary["audio_hz"].as_f64().unwrap_or(0.0);
    assert!((heard - 1000.0).abs() < 5.0, "the peer hears the computer's sound (1000 Hz), not {heard} Hz: {summary}");
    Ok(())
}
