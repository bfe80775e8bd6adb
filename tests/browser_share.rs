//! Screen sharing with a browser guest: `tincan-cli` (the engine) shares a test screen (an Xvfb of the
//! test's own with `tincan_rig::screen`'s fine text and moving stamp) with headless Chromium on the guest
//! page, which shows it as a second, large video beside the camera: the stamp read from the share's pixels
//! advances, and the share goes when the engine stops it. Then the page shares its own screen
//! (`getDisplayMedia`, Chromium's fake capture), stops and shares again, and the engine decodes it as a
//! screen track. Both ways of
//! offering: an answerer asks the offerer for the renegotiation on the data channel (`offer_wanted`). And
//! both again with no camera on either side: a share goes on a later video section than the camera's, so
//! it is not taken for a camera.
//! Each scenario runs in a network namespace with only `lo` (see `support/netns.rs`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tincan_e2e::app::{READ_STAMP_FROM, WAIT, json_lines, next_line, run_scenario};
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::{Driver, Session};
use tincan_e2e::{artifacts, binary, fixtures, netns};
use tincan_rig::screen::TestScreen;
use tincan_rig::xvfb::Xvfb;
use tincan_signal::code::RoomCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_offers_and_shares_with_chromium() -> anyhow::Result<()> {
    if !netns::enter("engine_offers_and_shares_with_chromium")? {
        return Ok(());
    }
    run_scenario("browser-share-engine-offers", |url, dir| scenario(url, dir, true, true)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_offers_and_shares_with_the_engine() -> anyhow::Result<()> {
    if !netns::enter("chromium_offers_and_shares_with_the_engine")? {
        return Ok(());
    }
    run_scenario("browser-share-chromium-offers", |url, dir| scenario(url, dir, false, true)).await
}

/// Neither side has a camera: each share must still arrive as a share (on a video section after the
/// camera's, which stays, receiving only), not be taken for a camera.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cameras_engine_offers() -> anyhow::Result<()> {
    if !netns::enter("without_cameras_engine_offers")? {
        return Ok(());
    }
    run_scenario("browser-share-no-cameras-engine-offers", |url, dir| scenario(url, dir, true, false)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cameras_chromium_offers() -> anyhow::Result<()> {
    if !netns::enter("without_cameras_chromium_offers")? {
        return Ok(());
    }
    run_scenario("browser-share-no-cameras-chromium-offers", |url, dir| scenario(url, dir, false, false)).await
}

fn page_says(session: &Session) -> String {
    session
        .run("return JSON.stringify({phase: tincanGuest.phase, status: tincanGuest.status, messages: [...document.querySelectorAll('#messages li')].map(l => l.textContent)})", json!([]))
        .map(|v| v.to_string())
        .unwrap_or_else(|e| e.to_string())
}

fn scenario(url: &str, dir: &Path, engine_offers: bool, cameras: bool) -> anyhow::Result<()> {
    let xvfb = Xvfb::start(1280, 720)?;
    let _screen = TestScreen::start(&xvfb.display)?;
    let http = url.replace("ws://", "http://").trim_end_matches("/ws").to_owned();
    let room = RoomCode::generate().as_str().to_owned();
    let (camera, microphone) = (dir.join("camera.y4m"), dir.join("microphone.wav"));
    fixtures::pattern_y4m(&camera, 320, 240, 15)?;
    fixtures::tone_wav(&microphone, 660.0, 5.0)?;
    let driver = Driver::chromium(&dir.join("chromedriver.log"))?;
    let session = driver.chromium_with_media(&dir.join("chromium-profile"), &camera, &microphone)?;
    let page = |create: bool| {
        let camera = if cameras { "" } else { "&video=none" };
        format!("{http}/r/{room}?name=Chromium{camera}{}", if create { "&create=1" } else { "" })
    };
    let engine = |existing: bool| {
        let mut command = Command::new(binary("tincan-cli")?);
        command
            .args(["--server", url, "--name", "Engine", "join", &room, "--loopback", "--size", "320x240"])
            .args(["--share", "screen", "--share-for", "6", "--duration", "40"])
            .env("DISPLAY", &xvfb.display)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("cli.err.log"))?);
        if existing {
            command.arg("--existing");
        }
        if !cameras {
            command.args(["--video", "none"]);
        }
        Guard::spawn(&mut command)
    };
    let mut engine = if engine_offers {
        session.navigate(&page(true))?;
        session.wait_for("the page waiting", WAIT, "return tincanGuest.phase === 'waiting'")?;
        engine(true)?
    } else {
        let engine = engine(false)?;
        std::thread::sleep(Duration::from_millis(300));
        session.navigate(&page(false))?;
        engine
    };
    let lines = json_lines(engine.0.stdout.take().expect("piped"));
    session
        .wait_for("the page connected", WAIT, "return tincanGuest.phase === 'connected'")
        .map_err(|e| anyhow::anyhow!("{e}: {}", page_says(&session)))?;

    // The engine's share in the page: a second video, large, at the screen's size, live.
    let size = session
        .wait_for(
            "the share in the page",
            WAIT,
            "const v = document.querySelector('video.share'); return v && v.videoWidth ? [v.videoWidth, v.videoHeight, v.parentElement.querySelector('.name').textContent] : null",
        )
        .map_err(|e| anyhow::anyhow!("{e}: {}", page_says(&session)))?;
    assert_eq!(size, json!([1280, 720, "Engine's screen"]));
    let stamp = || -> anyhow::Result<u64> {
        let script =
            format!("const src = document.querySelector('video.share'); if (!src) return null; {READ_STAMP_FROM}");
        Ok(session.wait_for("a readable stamp on the share", WAIT, &script)?.as_u64().unwrap_or(0))
    };
    // Live: the stamp moves on. Not timed to the frame: after a share's first keyframe the encoder may drop
    // frames for up to a second to get back under its bitrate (seen under CI load), so within 6 s.
    let first = stamp()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    let mut last = first;
    while last <= first + 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        last = stamp()?;
    }
    assert!(last > first + 5, "the shared screen's stamp advances (20 a second): {first}, then {last} 6 s later");
    // The camera goes on beside it (without one, the camera's place stays empty: the share is not there).
    let camera_live = session.run("return document.getElementById('remote').videoWidth", json!([]))?;
    assert_eq!(camera_live, json!(if cameras { 320 } else { 0 }));
    // The page's stats keep the two apart: the camera's figures under `video`, the share's under `share`.
    let stats = session.run("return tincanGuest.stats().then(s => JSON.stringify(s))", json!([]))?;
    let stats: serde_json::Value = serde_json::from_str(stats.as_str().unwrap_or("{}"))?;
    assert_eq!(stats["share"]["width"], json!(1280), "the share's figures: {stats}");
    assert!(stats["share"]["framesDecoded"].as_u64().unwrap_or(0) > 0, "{stats}");
    if cameras {
        assert_eq!(stats["video"]["width"], json!(320), "the camera's figures: {stats}");
    }
    if engine_offers {
        // Without cameras: the page's own buttons say "No camera" / "No microphone" (disabled).
        let name = if cameras { "guest-share" } else { "guest-share-no-camera" };
        for (w, h, scheme) in [(1280, 800, "light"), (800, 600, "dark"), (1280, 800, "dark"), (800, 600, "light")] {
            session.prefer_color_scheme(scheme)?;
            session.set_window_size(w, h)?;
            std::thread::sleep(Duration::from_millis(400));
            session.screenshot(&artifacts().join(format!("{name}-{w}x{h}-{scheme}.png")))?;
        }
        if !cameras {
            let buttons = session.run(
                "return ['camera', 'mic'].map(id => [document.getElementById(id).textContent, document.getElementById(id).disabled])",
                json!([]),
            )?;
            assert_eq!(buttons, json!([["No camera", true], ["Mic on", false]]), "the page has a microphone");
        }
    }
    // The engine stops sharing: the page takes the share away and says so.
    session
        .wait_for(
            "the share gone",
            Duration::from_secs(20),
            "return !document.querySelector('video.share') && [...document.querySelectorAll('#messages li')].some(l => l.textContent === 'Engine stopped sharing.')",
        )
        .map_err(|e| anyhow::anyhow!("{e}: {}", page_says(&session)))?;

    // The page shares (Chromium's fake capture), stops, and shares again: the engine sees each, and decodes
    // a screen track from the second (a new section: the first's sender keeps its track id).
    let page_share = |sharing: bool| {
        next_line(&lines, "the page's share (or its end) at the engine", |v| {
            v["event"] == "share" && v["sharing"] == sharing && v["peer"].is_string()
        })
        .map_err(|e| anyhow::anyhow!("{e}: {}", page_says(&session)))
    };
    session.run("tincanGuest.share(); return true;", json!([]))?;
    page_share(true)?;
    session.run("tincanGuest.share(); return true;", json!([]))?; // the button stops it
    page_share(false)?;
    session.run("tincanGuest.share(); return true;", json!([]))?;
    page_share(true)?;
    // Four seconds of it: Chromium's share can pause up to 1.5 s as it starts (seen without a camera, when
    // its bandwidth estimate has only had audio to go on), then runs at 15-16 fps.
    std::thread::sleep(Duration::from_secs(4));
    session.run("document.getElementById('hangup').click(); return true;", json!([]))?;
    let summary = next_line(&lines, "the engine's summary", |v| v["event"] == "summary")?;
    let tracks = summary["participants"][0]["tracks"].as_array().cloned().unwrap_or_default();
    let screen = tracks.iter().find(|t| t["kind"] == "screen").cloned().unwrap_or_default();
    assert!(screen["frames_decoded"].as_u64().unwrap_or(0) >= 5, "the engine decoded the page's share: {summary}");
    let camera = tracks.iter().find(|t| t["kind"] == "camera").cloned().unwrap_or_default();
    let camera_frames = camera["frames_decoded"].as_u64().unwrap_or(0);
    if cameras {
        assert!(camera_frames >= 30, "and the page's camera: {summary}");
    } else {
        assert_eq!(camera_frames, 0, "the page has no camera: {summary}");
    }
    eprintln!("the engine received from Chromium: {}", json!(tracks));
    Ok(())
}
