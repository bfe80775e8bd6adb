//! A screen share with the computer's sound (`--share-audio`), between two `tincan-cli` peers on a
//! PulseAudio server of the test's own (null sinks, no sound card) and an X server of its own.
//!
//! ```text
//!   test plays 1000 Hz ("a video") ─► [a_out] ◄─ A's speaker: B's 440 Hz       B's 440 Hz tone ─► A
//!                                        │ monitor = the computer's sound
//!                                        ▼
//!           A's 300 Hz "voice" + (monitor − what A's speaker played) ══ WebRTC ══► B ──► [b_ear] (recorded)
//! ```
//!
//! B must hear the computer's sound (1000 Hz) and A's voice (300 Hz), and not its own tone (440 Hz) back:
//! the monitor carries A's playback at full level, so only the cancellation keeps it out. The monitor is
//! recorded too, so the figures say how loud B's tone would have come back without it. Then the share
//! stops: the computer's sound stops with it, A's voice goes on.

use std::process::Stdio;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;
use tincan_e2e::app::{json_lines, next_line};
use tincan_e2e::binary;
use tincan_e2e::process::Guard;
use tincan_media::analysis::tone_level_db;
use tincan_rig::pulse::{Pulse, RATE};
use tincan_rig::xvfb::Xvfb;
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer};

const SHARED_HZ: f64 = 1000.0;
const VOICE_HZ: f64 = 300.0;
const FAR_HZ: f64 = 440.0;
/// The share runs this long, then stops; the call goes on this long after.
const SHARE_SECS: f64 = 9.0;
const AFTER_SECS: f64 = 3.0;
/// How much lower, relative to the shared sound, B's own tone must come back than it is in the monitor.
const CANCELLED_DB: f64 = 25.0;

struct Peer {
    _process: Guard,
    lines: Receiver<Value>,
}

fn peer(pulse: &Pulse, display: &str, url: &str, room: &str, sink: &str, extra: &[&str]) -> anyhow::Result<Peer> {
    let mut command = std::process::Command::new(binary("tincan-cli")?);
    command
        .args(["--server", url, "join", room, "--loopback", "--speaker", "--video", "test", "--size", "160x120"])
        .args(extra)
        .envs(pulse.env(sink, &format!("{sink}.monitor")))
        .env("DISPLAY", display)
        .env("TINCAN_LOG", "warn,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_sctp=error,webrtc=error")
        .stdout(Stdio::piped());
    let mut process = Guard::spawn(&mut command)?;
    let lines = json_lines(process.0.stdout.take().expect("piped"));
    Ok(Peer { _process: process, lines })
}

/// Levels (dBFS) of the three tones in `samples[from..to]` (seconds from the recording's start).
fn levels(samples: &[i16], start: Instant, from: Instant, to: Instant) -> [f64; 3] {
    let at =
        |t: Instant| ((t.saturating_duration_since(start).as_secs_f64() * RATE as f64) as usize).min(samples.len());
    let window = &samples[at(from)..at(to)];
    [SHARED_HZ, VOICE_HZ, FAR_HZ].map(|hz| (tone_level_db(window, hz, RATE) * 10.0).round() / 10.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_computers_sound_goes_with_the_share_and_the_call_is_not_sent_back() -> anyhow::Result<()> {
    let xvfb = Xvfb::start(640, 360)?;
    let pulse = Pulse::start()?;
    for sink in ["a_out", "b_ear"] {
        pulse.null_sink(sink)?;
    }
    // "The computer's speakers": the default output, where A's call plays and the video plays.
    pulse.pactl(&["set-default-sink", "a_out"])?;
    let server = SignalServer::start(ServerConfig::loopback_unlimited()).await?;
    let url = format!("ws://{}/ws", server.local_addr());
    let room = RoomCode::generate();
    let duration = format!("{}", SHARE_SECS + AFTER_SECS + 1.0);
    let share_for = format!("{SHARE_SECS}");
    let voice = format!("{VOICE_HZ}");
    let a = peer(
        &pulse,
        &xvfb.display,
        &url,
        room.as_str(),
        "a_out",
        &["--audio", "tone", "--tone-hz", &voice, "--share", "screen", "--share-audio", "--share-for", &share_for]
            .into_iter()
            .chain(["--duration", &duration])
            .collect::<Vec<_>>(),
    )?;
    next_line(&a.lines, "A waiting", |v| v["event"] == "state" && v["state"] == "waiting")?;
    let far = format!("{FAR_HZ}");
    let b = peer(
        &pulse,
        &xvfb.display,
        &url,
        room.as_str(),
        "b_ear",
        &["--existing", "--audio", "tone", "--tone-hz", &far, "--duration", &duration],
    )?;
    // The video plays from before the share (a quarter of full scale, like B's tone played at A).
    let shared: Vec<i16> = (0..RATE as usize * 30)
        .map(|i| ((std::f64::consts::TAU * SHARED_HZ * i as f64 / RATE as f64).sin() * 0.25 * 32767.0) as i16)
        .collect();
    let _video = pulse.play("a_out", &shared)?;
    let monitor = pulse.record("a_out.monitor")?;
    let ear = pulse.record("b_ear.monitor")?;
    let share = next_line(&a.lines, "A sharing", |v| v["event"] == "share" && v["sharing"] == true)?;
    let began = Instant::now();
    assert!(share["what"].as_str().is_some_and(|w| w.ends_with("with sound")), "{share}");
    let stopped = next_line(&a.lines, "A's share ending", |v| v["event"] == "share" && v["sharing"] == false);
    let ended = Instant::now();
    stopped?;
    tokio::time::sleep(Duration::from_secs_f64(AFTER_SECS - 0.5)).await;
    let after = Instant::now();
    let (mon, mon_start) = monitor.take();
    let (heard, ear_start) = ear.take();
    let (mon_start, ear_start) = (mon_start.expect("monitor recorded"), ear_start.expect("ear recorded"));
    let summary_b = next_line(&b.lines, "B's summary", |v| v["event"] == "summary")?;
    next_line(&a.lines, "A's summary", |v| v["event"] == "summary")?;

    // While shared, after 3 s for the canceller to converge (B hears A about 0.1 s later).
    let lag = Duration::from_millis(150);
    let (from, to) = (began + Duration::from_secs(3), ended - Duration::from_millis(300));
    let in_monitor = levels(&mon, mon_start, from, to);
    let at_b = levels(&heard, ear_start, from + lag, to + lag);
    // After the share: A's voice alone.
    let later = levels(&heard, ear_start, ended + Duration::from_secs(1), after);
    eprintln!(
        "dBFS of [shared {SHARED_HZ} Hz, A's voice {VOICE_HZ} Hz, B's own {FAR_HZ} Hz]: in A's monitor {in_monitor:?}, \
         heard by B while shared {at_b:?}, after the share {later:?}"
    );
    let returned_in_monitor = in_monitor[2] - in_monitor[0];
    let returned_at_b = at_b[2] - at_b[0];
    eprintln!(
        "B's tone relative to the shared sound: {returned_in_monitor:.1} dB in the monitor, {returned_at_b:.1} dB at B: \
         cancelled by {:.1} dB",
        returned_in_monitor - returned_at_b
    );
    // The monitor carries both (else the test measures nothing).
    assert!(in_monitor[0] > -20.0 && in_monitor[2] > -20.0, "the monitor holds both sounds: {in_monitor:?}");
    // B hears the shared sound (within 10 dB of what was played: Opus, mixing, cancellation) and A's voice.
    assert!((at_b[0] - in_monitor[0]).abs() < 10.0, "B hears the computer's sound: {at_b:?} vs {in_monitor:?}");
    assert!(at_b[1] > -20.0, "B hears A's voice beside it: {at_b:?}");
    // B's own tone does not come back.
    assert!(
        returned_in_monitor - returned_at_b >= CANCELLED_DB,
        "B's own sound came back: {returned_at_b:.1} dB under the shared sound at B, {returned_in_monitor:.1} in the monitor"
    );
    // Stopping the share stops the sound; the voice goes on.
    assert!(later[0] < at_b[0] - 30.0, "the computer's sound stopped with the share: {later:?}");
    assert!(later[1] > -20.0, "A's voice goes on: {later:?}");
    assert!(summary_b["audio_frames"].as_u64().unwrap_or(0) > 400, "{summary_b}");
    Ok(())
}
