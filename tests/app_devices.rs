//! The desktop app with real audio devices (a PulseAudio server of the test's own, no test media): the
//! settings choose its microphone and speaker from the device listing, and the in-call pickers change both
//! while the call runs. A `tincan-cli` peer sends an 880 Hz tone and plays what it receives; recordings
//! of the sinks say which device carried what.
//!
//! ```text
//!   [headset] ◄─ 440 Hz     headset.monitor: the app's microphone from the settings
//!   [room]    ◄─ 660 Hz     room.monitor:    the system default, picked in the call
//!   the app's speaker: speakers-out (settings), then phones-out (picked in the call): B's 880 Hz
//!   B plays what it receives into [b_ear] (recorded)
//! ```
//!
//! Then a ring: the ringtone sounds in the speakers (the settings' speaker) until it is declined.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tincan_e2e::app::{WAIT, first_start, join_from_check, json_lines, next_line, run_scenario};
use tincan_e2e::binary;
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::{Driver, Session};
use tincan_media::analysis::{dominant_frequency, rms};
use tincan_rig::pulse::{Pulse, Recorder};
use tincan_signal::code::RoomCode;

/// Long enough for a PulseAudio stream to start (1–2 s here) and the echo canceller to settle.
const SETTLE: Duration = Duration::from_secs(5);

fn tone(hz: f64, seconds: f64) -> Vec<i16> {
    (0..(48_000.0 * seconds) as usize)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 48_000.0).sin()) as i16)
        .collect()
}

/// The last second `recorder` heard: its dominant frequency and level.
fn last_second(recorder: &Recorder) -> (Option<f64>, f64) {
    let (samples, _) = recorder.take();
    let tail = &samples[samples.len().saturating_sub(48_000)..];
    (dominant_frequency(tail, 48_000), rms(tail))
}

/// The notes in `samples`, in order: the dominant frequency of each loud 50 ms block, a note once however
/// long it lasts. Blocks whose energy sits under 100 Hz are clicks, not notes (once under load a block at
/// 0 Hz came just before the first note: a step as the stream started).
fn notes_heard(samples: &[i16]) -> Vec<f64> {
    let mut notes: Vec<f64> = Vec::new();
    for block in samples.chunks_exact(2_400) {
        let Some(hz) = dominant_frequency(block, 48_000).filter(|&hz| rms(block) > 0.02 && hz > 100.0) else {
            continue;
        };
        if notes.last().is_none_or(|last| (last - hz).abs() > 20.0) {
            notes.push(hz);
        }
    }
    notes
}

/// The test sound's pitches (the app's, `src-tauri/src/check.rs`): C5, E5, G5.
const TEST_NOTES_HZ: [f64; 3] = [523.25, 659.25, 783.99];

fn near(hz: Option<f64>, want: f64) -> bool {
    hz.is_some_and(|hz| (hz - want).abs() < 10.0)
}

/// Choose `value` in the select `id` (as a person would: the change event follows).
fn choose(session: &Session, id: &str, value: &str) -> anyhow::Result<()> {
    let script = "const s = document.getElementById(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;";
    let chosen = session.run(script, json!([id, value]))?;
    anyhow::ensure!(chosen == value, "{id} has no option {value:?} (it shows {chosen})");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_call_pickers_change_microphone_and_speaker() -> anyhow::Result<()> {
    let room = RoomCode::generate();
    run_scenario("app-devices", move |url, dir| scenario(url, dir, &room)).await
}

fn scenario(url: &str, dir: &std::path::Path, room: &RoomCode) -> anyhow::Result<()> {
    let pulse = Pulse::start()?;
    for sink in ["room", "headset", "speakers", "phones", "b_ear"] {
        pulse.null_sink(sink)?;
    }
    pulse.pactl(&["set-default-source", "room.monitor"])?;
    pulse.pactl(&["set-default-sink", "room"])?;
    let _voices = (pulse.play("headset", &tone(440.0, 120.0))?, pulse.play("room", &tone(660.0, 120.0))?);
    let (b_ear, speakers, phones) =
        (pulse.record("b_ear.monitor")?, pulse.record("speakers.monitor")?, pulse.record("phones.monitor")?);

    // The app: real devices. ALSA names for the headset, speakers and phones come from its ~/.asoundrc.
    let display = Display::start()?;
    let mut env = tincan_e2e::app::env(dir, url);
    env.retain(|(k, _)| *k != "TINCAN_TEST_MEDIA");
    env.extend([
        ("PULSE_SERVER", pulse.server()),
        ("PULSE_SINK", "room".into()),
        ("PULSE_SOURCE", "room.monitor".into()),
    ]);
    let asoundrc = pulse.asoundrc(&["headset", "speakers", "phones"])?.join(".asoundrc");
    std::fs::copy(asoundrc, dir.join("home").join(".asoundrc"))?;
    let driver = Driver::start(&display.name, &env, &dir.join("app.log"))?;

    // The other side: a headless peer with a tone, playing what it hears into b_ear.
    let mut cli = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Cli", "join", room.as_str(), "--loopback", "--video", "none"])
            .args(["--audio", "tone", "--tone-hz", "880", "--speaker", "--duration", "90"])
            .envs(pulse.env("b_ear", "b_ear.monitor"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("cli.log"))?),
    )?;
    let lines = json_lines(cli.0.stdout.take().expect("piped"));

    let session = driver.session(&binary("tincan")?, &[])?;
    session.wait_for("the UI to be ready", WAIT, "return window.tincan && window.tincan.ready === true")?;
    first_start(&session, "Ana")?;

    // Settings: the headset as microphone, the speakers as speaker, chosen from the listing.
    session.run("document.getElementById('open-settings').click(); return true;", json!([]))?;
    session.wait_for(
        "the device listing",
        WAIT,
        "return [...document.getElementById('set-microphone').options].some(o => o.value === 'alsa:headset')",
    )?;
    choose(&session, "set-microphone", "alsa:headset")?;
    choose(&session, "set-speaker", "alsa:speakers-out")?;
    session.run("document.getElementById('settings-form').requestSubmit(); return true;", json!([]))?;
    session.wait_for("the lobby", WAIT, "return !document.getElementById('lobby').classList.contains('hidden')")?;

    // Joining shows the device check first, with the settings' devices: no camera here (said, and its
    // toggle off), the headset's 440 Hz on the level meter, and the test sound in the speakers.
    session.run(
        "document.getElementById('join-code').value = arguments[0]; document.getElementById('join-form').requestSubmit(); return true;",
        json!([room.as_str()]),
    )?;
    session.wait_for(
        "the device check without a camera",
        WAIT,
        "return !document.getElementById('check').classList.contains('hidden') && document.getElementById('check-video-off').textContent === 'No camera found' && document.getElementById('check-cam').disabled && !document.getElementById('check-cam').checked",
    )?;
    let level = session.wait_for(
        "the microphone's level on the meter",
        WAIT,
        "const w = parseFloat(document.getElementById('check-level').style.width); return w > 50 ? w : null",
    )?;
    display.screenshot(&tincan_e2e::artifacts().join("device-check-no-camera.png"))?;
    let before = speakers.take().0.len();
    session.run("document.getElementById('check-tone').click(); return true;", json!([]))?;
    std::thread::sleep(Duration::from_secs(3));
    let notes = notes_heard(&speakers.take().0[before..]);
    println!("the device check: the meter at {level}% for the headset; the test sound played {notes:?} Hz");
    let want: Vec<f64> = TEST_NOTES_HZ.to_vec();
    assert!(
        notes.len() == 3 && notes.iter().zip(&want).all(|(h, w)| near(Some(*h), *w)),
        "the speakers should play the test sound's notes {want:?} in order, played {notes:?}"
    );
    // Joined with the microphone on (its toggle's default).
    assert_eq!(session.run("return document.getElementById('check-mic').checked", json!([]))?, true);
    join_from_check(&session, false)?;
    session.wait_for("connected", WAIT, "return document.getElementById('call-state').textContent === 'Connected'")?;
    next_line(&lines, "the peer connected", |v| v["event"] == "state" && v["state"] == "connected")?;
    std::thread::sleep(SETTLE);
    let (b_hears, _) = last_second(&b_ear);
    let (speakers_play, level) = last_second(&speakers);
    println!("from the settings: B hears {b_hears:?} Hz; the speakers play {speakers_play:?} Hz (rms {level:.3})");
    assert!(near(b_hears, 440.0), "B should hear the headset (440 Hz), heard {b_hears:?}");
    assert!(near(speakers_play, 880.0), "the speakers should play B's 880 Hz, played {speakers_play:?}");

    // In the call: the default microphone (the room) and the phones.
    session.run("document.getElementById('devices').click(); return true;", json!([]))?;
    session.wait_for(
        "the in-call pickers",
        WAIT,
        "return [...document.getElementById('call-speaker').options].some(o => o.value === 'alsa:phones-out')",
    )?;
    choose(&session, "call-microphone", "")?;
    choose(&session, "call-speaker", "alsa:phones-out")?;
    std::thread::sleep(SETTLE);
    let (b_hears, _) = last_second(&b_ear);
    let (phones_play, _) = last_second(&phones);
    let (_, speakers_level) = last_second(&speakers);
    println!(
        "after the pickers: B hears {b_hears:?} Hz; the phones play {phones_play:?} Hz; the speakers' level {speakers_level:.4}"
    );
    let messages = session.run("return document.getElementById('messages').textContent", json!([]))?;
    assert!(near(b_hears, 660.0), "B should hear the room (660 Hz) now, heard {b_hears:?}; the app says {messages}");
    assert!(near(phones_play, 880.0), "the phones should play B's 880 Hz, played {phones_play:?}");
    assert!(speakers_level < 0.001, "the speakers are let go (rms {speakers_level:.4})");

    // No camera here: the toggle says so and cannot be pressed, one plain sentence says what the others get,
    // and there is no empty self-view box.
    session.wait_for(
        "the camera toggle saying there is none",
        WAIT,
        "const b = document.getElementById('cam'); return b.textContent === 'No camera' && b.disabled",
    )?;
    // (The latest word wins: a speaker that hiccups and comes back has the banner for a moment.)
    session.wait_for(
        "the device banner about the camera",
        WAIT,
        "const b = document.getElementById('device-banner'); return !b.classList.contains('hidden') && b.textContent.includes('camera')",
    )?;
    let mic = session.run("return document.getElementById('mic').textContent", json!([]))?;
    anyhow::ensure!(mic == "Mic on", "the microphone works: its toggle says {mic}");
    // No empty box where the self-view would be: it says why there is no picture.
    let self_view = session.run(
        "const off = document.getElementById('self-off'); return [document.getElementById('preview').classList.contains('hidden'), off.classList.contains('hidden') ? '' : off.textContent]",
        json!([]),
    )?;
    anyhow::ensure!(self_view == json!([true, "No camera"]), "the self-view without a camera: {self_view}");

    // The stats panel says what the echo canceller sees (its figures come from the devices' processor).
    session.run("document.getElementById('quality').click(); return true;", json!([]))?;
    session.wait_for(
        "the echo canceller's figures",
        WAIT,
        "const p = document.getElementById('stats-panel'); return !p.classList.contains('hidden') && /Echo canceller\\s*(delay|ERLE)/.test(p.textContent)",
    )?;
    session.set_window_size(800, 600)?;
    session.run("document.documentElement.dataset.theme = 'dark'; return true;", json!([]))?;
    std::thread::sleep(Duration::from_millis(300));
    display.screenshot(&tincan_e2e::artifacts().join("app-stats-echo.png"))?;
    session.set_window_size(1280, 800)?;
    session.run("document.documentElement.dataset.theme = 'light'; return true;", json!([]))?;
    std::thread::sleep(Duration::from_millis(300));
    display.screenshot(&tincan_e2e::artifacts().join("app-stats-echo-light.png"))?;
    let panel = session.run("return document.getElementById('stats-panel').textContent", json!([]))?;
    println!("stats panel: {panel}");
    // Both ends of the path are named (a remote candidate learned from the checks is peer-reflexive).
    let path = panel.as_str().unwrap_or_default().split("Path").nth(1).unwrap_or_default().to_owned();
    let ends: Vec<&str> = path.split(" → ").map(|end| end.split(' ').next().unwrap_or_default()).collect();
    let kinds = ["host", "srflx", "prflx", "relay"];
    anyhow::ensure!(
        ends.len() == 2 && ends.iter().all(|end| kinds.contains(end)),
        "the path names both ends: {path:?}"
    );

    session.run("document.getElementById('hangup').click(); return true;", json!([]))?;
    next_line(&lines, "the peer's end", |v| v["event"] == "state" && v["state"] == "ended")?;
    session.wait_for("the lobby", WAIT, "return !document.getElementById('lobby').classList.contains('hidden')")?;

    // A ring: the ringtone sounds in the speaker chosen in the settings, and stops when the ring is declined.
    let code = session.run("return document.getElementById('my-code').textContent", json!([]))?;
    let code = code.as_str().unwrap_or_default().to_owned();
    let _caller = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args([
                "--server",
                url,
                "--name",
                "Rae",
                "call",
                &code,
                "--loopback",
                "--video",
                "none",
                "--duration",
                "30",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("caller.log"))?),
    )?;
    session.wait_for(
        "the incoming call",
        WAIT,
        "return !document.getElementById('incoming').classList.contains('hidden') && document.getElementById('incoming-name').textContent === 'Rae'",
    )?;
    // (A recorder keeps everything from its start: the last seconds are the ring's.)
    std::thread::sleep(Duration::from_secs(4));
    let (all, _) = speakers.take();
    let ringing = &all[all.len().saturating_sub(3 * 48_000)..];
    let (ring_hz, ring_level) = (dominant_frequency(ringing, 48_000), rms(ringing));
    println!("while it rings, the speakers play {ring_hz:?} Hz (rms {ring_level:.3})");
    assert!(
        near(ring_hz, 440.0) && ring_level > 0.01,
        "the ringtone in the chosen speaker: {ring_hz:?} Hz, rms {ring_level:.4}"
    );
    session.run("document.getElementById('decline').click(); return true;", json!([]))?;
    session.wait_for("the lobby", WAIT, "return !document.getElementById('lobby').classList.contains('hidden')")?;
    // Three seconds: a whole ring cycle (it is silent for two of every three while it rings).
    std::thread::sleep(Duration::from_secs(5));
    let (all, _) = speakers.take();
    let after = rms(&all[all.len().saturating_sub(3 * 48_000)..]);
    assert!(after < 0.001, "the ringtone stops with the ring (rms {after:.4} over the last 3 s)");
    Ok(())
}
