//! Interop with a real browser: `tincan-cli` (the engine) and headless Chromium on the guest page that
//! `tincan-signal` serves, meeting in a room. Chromium's fake camera plays the stamped test pattern (a Y4M
//! file) and its fake microphone a 660 Hz tone; the engine sends its own pattern and a 440 Hz tone. Checked
//! on both sides: video decoded and readable (stamps, counters advancing), audio at the frequency sent, chat
//! both ways, a file from the engine to the browser with the same SHA-256, the codec asked for, and the hang-up.
//! Each scenario runs in a network namespace with only `lo` (see `support/netns.rs`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tincan_e2e::app::{READ_STAMP_FROM, WAIT, each_line, json_lines, next_line, run_scenario};
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::{Driver, Session};
use tincan_e2e::{binary, fixtures, netns};
use tincan_signal::code::RoomCode;

/// Who makes the offer: in Tincan the one who joins a room someone is already in.
#[derive(Clone, Copy, PartialEq)]
enum Offerer {
    Browser,
    Engine,
}

const BROWSER_TONE_HZ: f64 = 660.0;
const ENGINE_TONE_HZ: f64 = 440.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_offers_vp8() -> anyhow::Result<()> {
    if !netns::enter("chromium_offers_vp8")? {
        return Ok(());
    }
    run_scenario("browser-offers-vp8", |url, dir| scenario(url, dir, Offerer::Browser, "vp8")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_offers_vp8() -> anyhow::Result<()> {
    if !netns::enter("engine_offers_vp8")? {
        return Ok(());
    }
    run_scenario("engine-offers-vp8", |url, dir| scenario(url, dir, Offerer::Engine, "vp8")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_offers_h264() -> anyhow::Result<()> {
    if !netns::enter("chromium_offers_h264")? {
        return Ok(());
    }
    run_scenario("browser-offers-h264", |url, dir| scenario(url, dir, Offerer::Browser, "h264")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_offers_h264() -> anyhow::Result<()> {
    if !netns::enter("engine_offers_h264")? {
        return Ok(());
    }
    run_scenario("engine-offers-h264", |url, dir| scenario(url, dir, Offerer::Engine, "h264")).await
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn start_engine(url: &str, dir: &Path, room: &str, codec: &str, existing: bool) -> anyhow::Result<Guard> {
    let mut command = Command::new(binary("tincan-cli")?);
    command
        .args(["--server", url, "--name", "Engine", "join", room, "--loopback", "--stats", "--codec", codec])
        .args(["--tone-hz", &ENGINE_TONE_HZ.to_string(), "--chat", "hello from the engine", "--duration", "10"])
        .arg("--send-file")
        .arg(dir.join("report.bin"))
        .arg("--download-dir")
        .arg(dir.join("downloads"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("cli.err.log"))?);
    if existing {
        command.arg("--existing");
    }
    Guard::spawn(&mut command)
}

/// What the guest page says, for failure messages.
fn page_says(session: &Session) -> String {
    session
        .run("return JSON.stringify({phase: tincanGuest.phase, status: tincanGuest.status})", json!([]))
        .map(|v| v.to_string())
        .unwrap_or_else(|e| e.to_string())
}

fn scenario(url: &str, dir: &Path, offerer: Offerer, codec: &str) -> anyhow::Result<()> {
    let http = url.replace("ws://", "http://").trim_end_matches("/ws").to_owned();
    let room = RoomCode::generate().as_str().to_owned();
    let (camera, microphone) = (dir.join("camera.y4m"), dir.join("microphone.wav"));
    fixtures::pattern_y4m(&camera, 640, 480, 30)?;
    fixtures::tone_wav(&microphone, BROWSER_TONE_HZ, 5.0)?;
    let file: Vec<u8> = (0..3 * 1024 * 1024 + 123).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(dir.join("report.bin"), &file)?;

    let driver = Driver::chromium(&dir.join("chromedriver.log"))?;
    let session = driver.chromium_with_media(&dir.join("chromium-profile"), &camera, &microphone)?;
    let page = |create: bool| {
        let create = if create { "&create=1" } else { "" };
        format!("{http}/r/{room}?name=Chromium&codec={codec}{create}")
    };
    let mut engine = match offerer {
        Offerer::Browser => {
            let engine = start_engine(url, dir, &room, codec, false)?;
            std::thread::sleep(Duration::from_millis(300));
            session.navigate(&page(false))?;
            engine
        }
        Offerer::Engine => {
            session.navigate(&page(true))?;
            session
                .wait_for("the page waiting in the room", WAIT, "return tincanGuest.phase === 'waiting'")
                .map_err(|e| anyhow::anyhow!("{e}: {}", page_says(&session)))?;
            start_engine(url, dir, &room, codec, true)?
        }
    };
    let lines = json_lines(engine.0.stdout.take().expect("piped"));
    next_line(&lines, "the engine connected", |v| v["event"] == "state" && v["state"] == "connected")?;
    session
        .wait_for("the page connected", WAIT, "return tincanGuest.phase === 'connected'")
        .map_err(|e| anyhow::anyhow!("{e}: {}", page_says(&session)))?;

    // Chat both ways: the engine's greeting arrives (the channel is open), the browser answers.
    session.wait_for(
        "the engine's chat in the page",
        WAIT,
        "return tincanGuest.chats.some(c => c.from === 'them' && c.text === 'hello from the engine')",
    )?;
    session.run("return tincanGuest.sendChat('hello from chromium')", json!([]))?;
    // The file went out with the greeting, so its verdict may come before or after the browser's chat.
    let sha256 = sha256_hex(&file);
    each_line(
        &lines,
        "browser's chat and file verdict at the engine",
        &[
            &|v: &Value| v["event"] == "chat" && v["text"] == "hello from chromium" && v["outgoing"] == false,
            &|v: &Value| v["file"] == "completed" && v["outgoing"] == true && v["sha256"] == sha256,
        ],
    )?;

    // The file arrives whole: the page's SHA-256 is the file's.
    let received = session.wait_for("the file in the page", WAIT, "return tincanGuest.files[0]")?;
    assert_eq!(received["sha256"], sha256, "the browser's copy differs: {received}");
    assert_eq!(received["size"], file.len());

    // The engine's video in the browser: live (stamp counter advancing) and decoded with the codec asked for.
    let stamp = |what| {
        session.wait_for(what, WAIT, &format!("const src = document.getElementById('remote'); {READ_STAMP_FROM}"))
    };
    let first = stamp("a readable stamp in the browser")?.as_u64().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(1));
    let second = stamp("a readable stamp in the browser")?.as_u64().unwrap_or(0);
    assert!(
        second > first + 10,
        "the engine's pattern should advance ~30 a second in the browser: {first} then {second}"
    );
    // WebDriver waits for a promise a script returns. Asked until Chromium has decoded a second's worth (on a
    // busy machine the stamps above can read before that), so the figures below are from a running call.
    let stats_script = "return tincanGuest.stats().then(s => JSON.stringify(s))";
    let _ = session.wait_for(
        "a second of video decoded in Chromium",
        WAIT,
        "return tincanGuest.stats().then(s => (s.video && s.video.framesDecoded) > 30)",
    );
    let stats: Value = serde_json::from_str(session.run(stats_script, json!([]))?.as_str().unwrap_or("{}"))?;
    let decoded = stats["video"]["framesDecoded"].as_u64().unwrap_or(0);
    assert!(decoded > 30, "Chromium decoded {decoded} frames: {stats}");
    let mime = format!("video/{codec}");
    assert!(
        stats["video"]["codecIn"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(&mime)),
        "Chromium should decode {mime}: {stats}"
    );
    assert!(stats["audio"]["totalSamplesReceived"].as_u64().unwrap_or(0) > 48_000, "no audio in Chromium: {stats}");

    // The engine's tone in the browser, through Web Audio.
    session.run(
        "const ctx = new AudioContext(); const a = ctx.createAnalyser(); a.fftSize = 16384; \
         ctx.createMediaStreamSource(document.getElementById('remote').srcObject).connect(a); \
         window.analyser = a; window.audioCtx = ctx; return true",
        json!([]),
    )?;
    std::thread::sleep(Duration::from_millis(1500));
    let peak_hz = session
        .run(
            "const a = window.analyser, bins = new Float32Array(a.frequencyBinCount); a.getFloatFrequencyData(bins); \
             let best = 1; for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i; \
             return best * window.audioCtx.sampleRate / a.fftSize",
            json!([]),
        )?
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (peak_hz - ENGINE_TONE_HZ).abs() < 15.0,
        "the browser heard {peak_hz:.0} Hz, the engine sent {ENGINE_TONE_HZ}"
    );

    // The engine hangs up after its --duration; the page is told, and the engine reports what it received.
    session
        .wait_for("the page told of the hang-up", Duration::from_secs(20), "return tincanGuest.phase === 'ended'")
        .map_err(|e| anyhow::anyhow!("{e}: {}", page_says(&session)))?;
    let status = session.run("return tincanGuest.status", json!([]))?;
    assert!(status.as_str().unwrap_or("").contains("hung up"), "the page says {status}");
    let mut last_stats = Value::Null;
    let summary = loop {
        let v = next_line(&lines, "the engine's summary", |v| v["event"] == "summary" || v["event"] == "stats")?;
        if v["event"] == "summary" {
            break v;
        }
        last_stats = v;
    };
    let frames = summary["frames_decoded"].as_u64().unwrap_or(0);
    let unreadable = summary["frames_unreadable"].as_u64().unwrap_or(frames);
    assert!(frames > 60, "the engine decoded {frames} frames from Chromium: {summary}");
    assert!(frames - unreadable > frames / 2, "Chromium's camera file carries stamps; most should read: {summary}");
    let hz = summary["audio_hz"].as_f64().unwrap_or(0.0);
    assert!((hz - BROWSER_TONE_HZ).abs() < 15.0, "the engine heard {hz:.0} Hz, Chromium sent {BROWSER_TONE_HZ}");
    // Chromium's sender reports reach the engine's receive tracks (its compound reports name our SSRCs
    // first) and tie its audio and video together.
    let sync = &summary["lip_sync"];
    assert!(sync.is_object(), "lip sync from Chromium's sender reports: {summary}");
    let engine_codec = last_stats["video_codec"].as_str().unwrap_or("");
    assert!(engine_codec.eq_ignore_ascii_case(codec), "the engine's stats name {engine_codec:?}, wanted {codec}");
    println!(
        "interop {codec}, {} offers: engine decoded {frames} frames ({unreadable} unreadable), {hz:.0} Hz; \
         Chromium decoded {decoded} frames, {peak_hz:.0} Hz; engine's lip sync {sync}",
        if offerer == Offerer::Browser { "Chromium" } else { "the engine" }
    );
    Ok(())
}
