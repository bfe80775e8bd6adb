//! A browser in a group call: headless Chromium on the guest page as the second of three people, beside two
//! `tincan-cli` peers (a room for three). Everyone decodes everyone: each engine reads the other engine's and
//! Chromium's stamped patterns and hears both tones; Chromium reads both engines' patterns, one tile each, and
//! hears each engine's tone from its own stream. Runs in a network namespace with only `lo`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tincan_e2e::app::{READ_STAMP_FROM, WAIT, json_lines, next_line, run_scenario};
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::{Driver, Session};
use tincan_e2e::{binary, fixtures, netns};
use tincan_signal::code::RoomCode;

const BROWSER_TONE_HZ: f64 = 660.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_is_the_third_person_beside_two_engines() -> anyhow::Result<()> {
    if !netns::enter("chromium_is_the_third_person_beside_two_engines")? {
        return Ok(());
    }
    run_scenario("browser-group", scenario).await
}

fn engine(url: &str, dir: &Path, room: &str, name: &str, tone_hz: u32, extra: &[&str]) -> anyhow::Result<Guard> {
    let mut command = Command::new(binary("tincan-cli")?);
    command
        .args(["--server", url, "--name", name, "join", room, "--capacity", "3", "--loopback"])
        .args(["--size", "320x240", "--fps", "15", "--tone-hz", &tone_hz.to_string(), "--duration", "12"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join(format!("{name}.err.log")))?);
    Guard::spawn(&mut command)
}

/// The dominant frequency of a `<video>` element's audio, through Web Audio (1.5 s of listening).
fn tone_in(session: &Session, selector: &str) -> anyhow::Result<f64> {
    session.run(
        "const ctx = new AudioContext(); const a = ctx.createAnalyser(); a.fftSize = 16384; \
         ctx.createMediaStreamSource(document.querySelector(arguments[0]).srcObject).connect(a); \
         window.analyser = a; window.audioCtx = ctx; return true",
        json!([selector]),
    )?;
    std::thread::sleep(Duration::from_millis(1500));
    let hz = session.run(
        "const a = window.analyser, bins = new Float32Array(a.frequencyBinCount); a.getFloatFrequencyData(bins); \
         let best = 1; for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i; \
         window.audioCtx.close(); return best * window.audioCtx.sampleRate / a.fftSize",
        json!([]),
    )?;
    Ok(hz.as_f64().unwrap_or(0.0))
}

/// The stamp counter on a tile, read twice a second apart: the pattern is live.
fn live_stamps(session: &Session, selector: &str) -> anyhow::Result<(u64, u64)> {
    let script = format!("const src = document.querySelector({selector:?}); {READ_STAMP_FROM}");
    let first = session.wait_for(&format!("a stamp on {selector}"), WAIT, &script)?.as_u64().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(1));
    let second = session.wait_for(&format!("a stamp on {selector}"), WAIT, &script)?.as_u64().unwrap_or(0);
    Ok((first, second))
}

fn person<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["participants"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {summary}"))
}

fn check(who: &str, summary: &Value, from: &str, tone_hz: f64) {
    let p = person(summary, from);
    let frames = p["frames_decoded"].as_u64().unwrap_or(0);
    assert!(frames > 40, "{who} decoded {frames} frames from {from}: {p}");
    assert_eq!(p["stamped"], true, "{who}: {from}'s frames carry stamps: {p}");
    let hz = p["audio_hz"].as_f64().unwrap_or(0.0);
    assert!((hz - tone_hz).abs() < 15.0, "{who} heard {hz:.0} Hz from {from}, who sent {tone_hz}");
}

fn scenario(url: &str, dir: &Path) -> anyhow::Result<()> {
    let http = url.replace("ws://", "http://").trim_end_matches("/ws").to_owned();
    let room = RoomCode::generate().as_str().to_owned();
    let (camera, microphone) = (dir.join("camera.y4m"), dir.join("microphone.wav"));
    fixtures::pattern_y4m(&camera, 320, 240, 30)?;
    fixtures::tone_wav(&microphone, BROWSER_TONE_HZ, 5.0)?;
    let driver = Driver::chromium(&dir.join("chromedriver.log"))?;
    let session = driver.chromium_with_media(&dir.join("chromium-profile"), &camera, &microphone)?;

    // Ann makes the room; Chromium comes second (offers to Ann); Bo third (offers to both).
    let mut ann = engine(url, dir, &room, "Ann", 440, &[])?;
    let ann_lines = json_lines(ann.0.stdout.take().expect("piped"));
    next_line(&ann_lines, "Ann waiting", |v| v["event"] == "state" && v["state"] == "waiting")?;
    session.navigate(&format!("{http}/r/{room}?name=Chromium&video=320x240"))?;
    session.wait_for("the page connected", WAIT, "return tincanGuest.phase === 'connected'")?;
    let mut bo = engine(url, dir, &room, "Bo", 880, &["--existing"])?;
    let bo_lines = json_lines(bo.0.stdout.take().expect("piped"));
    session.wait_for(
        "two people on the page",
        WAIT,
        "return document.querySelectorAll('#tiles video').length === 2",
    )?;

    // Chromium decodes both engines, each on its own tile, each with its own tone.
    let tiles: Value = session.wait_for(
        "both tiles playing",
        WAIT,
        "const v = [...document.querySelectorAll('#tiles video')]; \
         return v.every(e => e.videoWidth > 0) ? v.map(e => e.dataset.peer || 'remote') : null",
    )?;
    assert_eq!(tiles.as_array().map(Vec::len), Some(2), "{tiles}");
    for selector in ["#remote", "#tiles video.tile"] {
        let (first, second) = live_stamps(&session, selector)?;
        assert!(second > first + 5, "{selector}: the pattern advances ~15 a second: {first} then {second}");
    }
    let heard = [tone_in(&session, "#remote")?, tone_in(&session, "#tiles video.tile")?];
    let mut sorted = heard;
    sorted.sort_by(f64::total_cmp);
    assert!(
        (sorted[0] - 440.0).abs() < 15.0 && (sorted[1] - 880.0).abs() < 15.0,
        "Chromium heard {heard:?} Hz on its two tiles; Ann sent 440, Bo 880"
    );
    let people = session.run("return tincanGuest.people().then(p => JSON.stringify(p))", json!([]))?;
    let people: Value = serde_json::from_str(people.as_str().unwrap_or("[]"))?;
    let names: Vec<&str> = people.as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"Ann") && names.contains(&"Bo"), "the page's people: {people}");

    // Each engine decoded the other and Chromium, and heard both.
    let ann_summary = next_line(&ann_lines, "Ann's summary", |v| v["event"] == "summary")?;
    let bo_summary = next_line(&bo_lines, "Bo's summary", |v| v["event"] == "summary")?;
    check("Ann", &ann_summary, "Bo", 880.0);
    check("Ann", &ann_summary, "Chromium", BROWSER_TONE_HZ);
    check("Bo", &bo_summary, "Ann", 440.0);
    check("Bo", &bo_summary, "Chromium", BROWSER_TONE_HZ);
    println!(
        "browser as third person: Ann decoded {} (Bo) and {} (Chromium) frames; Chromium heard {heard:?} Hz",
        person(&ann_summary, "Bo")["frames_decoded"],
        person(&ann_summary, "Chromium")["frames_decoded"]
    );
    Ok(())
}
