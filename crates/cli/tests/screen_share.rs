//! Screen sharing between two `tincan-cli` peers (real server on loopback, real WebRTC, real VP8) on an X
//! server of the test's own: a screen of fine text with a moving stamp, and a second window.
//! - The whole screen: the other side decodes a second video track beside the camera, the stamp advances
//!   (frames are live), the last picture matches the screen (PSNR of the text), the pointer is drawn in, and
//!   stopping the share ends the track there.
//! - Motion: a video playing over half the screen goes at up to 30 frames a second (text at 15 at most).
//! - One window: only that window arrives, at its size, with its content; when the window is closed the
//!   share ends by itself, with a notice to the sharer.

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tincan_rig::screen::{Motion, NOTES_SIZE, NOTES_TITLE, Rgb, TestScreen, psnr, psnr_luma};
use tincan_rig::xvfb::Xvfb;
use tincan_signal::code::RoomCode;

/// Luma PSNR the shared text must reach (the bar for legible text). Luma, as codecs are measured:
/// colour travels at a quarter of the resolution (4:2:0), so one-pixel red and blue strokes lose colour in
/// every WebRTC codec; the RGB figure is printed beside it.
const LEGIBLE_DB: f64 = 35.0;

struct Peer {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<(Instant, Value)>,
    seen: Vec<(Instant, Value)>,
}

impl Peer {
    fn start(url: &str, room: &RoomCode, name: &'static str, display: &str, extra: &[&str]) -> Peer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tincan-cli"))
            .args(["--server", url, "--name", name, "join", room.as_str()])
            .args(["--loopback", "--size", "160x120", "--fps", "15"])
            .args(extra)
            .env("DISPLAY", display)
            .env("TINCAN_LOG", "warn,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_sctp=error,webrtc=error")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send((Instant::now(), v));
                }
            }
        });
        Peer { name, child, lines, seen: Vec::new() }
    }

    fn summary(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((at, v)) => {
                    self.seen.push((at, v.clone()));
                    if v["event"] == "summary" {
                        assert!(self.child.wait().unwrap().success(), "{} exited with an error", self.name);
                        return v;
                    }
                }
                Err(_) => panic!("{}: no summary; saw {:#?}", self.name, self.seen),
            }
        }
    }

    /// When the first line `pick` likes came.
    fn when(&self, pick: impl Fn(&Value) -> bool) -> Option<Instant> {
        self.seen.iter().find(|(_, v)| pick(v)).map(|(at, _)| *at)
    }
}

/// The summary's track of `kind` from the one other participant.
fn track(summary: &Value, kind: &str) -> Value {
    let people = summary["participants"].as_array().cloned().unwrap_or_default();
    assert_eq!(people.len(), 1, "{summary}");
    let tracks = people[0]["tracks"].as_array().cloned().unwrap_or_default();
    tracks.into_iter().find(|t| t["kind"] == kind).unwrap_or_else(|| panic!("no {kind} track: {summary}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_screen_arrives_legible_and_a_shared_window_alone() {
    let xvfb = Xvfb::start(1280, 720).expect("Xvfb");
    let screen = TestScreen::start(&xvfb.display).expect("the test screen");
    let server = common::server().await;
    let url = server.ws_url();
    let dir = std::env::temp_dir().join(format!("tincan-share-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (whole_dir, window_dir) = (dir.join("whole"), dir.join("window"));

    // Two calls at once on the same display: Ann shares the screen with Bo for 6 s; Cy shares the notes
    // window with Dee.
    let (room, room2) = (RoomCode::generate(), RoomCode::generate());
    let share_window = format!("window:{NOTES_TITLE}");
    let mut ann =
        Peer::start(&url, &room, "Ann", &xvfb.display, &["--share", "screen", "--share-for", "6", "--duration", "9"]);
    let mut cy = Peer::start(&url, &room2, "Cy", &xvfb.display, &["--share", &share_window, "--duration", "7"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snap = whole_dir.to_str().unwrap().to_owned();
    let mut bo = Peer::start(&url, &room, "Bo", &xvfb.display, &["--snapshot", &snap, "--duration", "10"]);
    let snap2 = window_dir.to_str().unwrap().to_owned();
    let mut dee = Peer::start(&url, &room2, "Dee", &xvfb.display, &["--snapshot", &snap2, "--duration", "8"]);
    // The shared window is closed mid-call: Cy's share ends by itself (Ann's screen shows the text alone).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    screen.close_notes();
    let (bo_summary, dee_summary) = (bo.summary(), dee.summary());
    for p in [&mut ann, &mut cy] {
        let s = p.summary();
        assert!(p.when(|v| v["event"] == "share" && v["sharing"] == true).is_some(), "{} shared: {s}", p.name);
    }

    // The whole screen: a second track beside the camera, live (the stamp advances), at the screen's size.
    let camera = track(&bo_summary, "camera");
    let shared = track(&bo_summary, "screen");
    eprintln!("Bo received: camera {camera}\nscreen {shared}");
    assert_eq!((shared["width"].as_u64(), shared["height"].as_u64()), (Some(1280), Some(720)), "{shared}");
    assert_eq!(shared["stamped"], true, "the screen's stamp is read: {shared}");
    let counter = shared["last_counter"].as_u64().unwrap_or(0);
    assert!(counter >= 60, "the stamp advanced (20 a second for ~6 s): {shared}");
    assert!(shared["frames_decoded"].as_u64().unwrap_or(0) >= 40, "{shared}");
    // Text (only the stamp's rows change) stays at the calm rate: 15 a second at most.
    assert!(shared["fps"].as_f64().unwrap_or(99.0) <= 16.0, "text at the calm rate: {shared}");
    assert!(camera["frames_decoded"].as_u64().unwrap_or(0) >= 60, "the camera went on beside it: {camera}");
    // Stopping the share ends it on the other side, about when asked (6 s after it began).
    let began = bo.when(|v| v["event"] == "share" && v["sharing"] == true).expect("Bo saw the share begin");
    let ended = bo.when(|v| v["event"] == "share" && v["sharing"] == false).expect("Bo saw the share end");
    let lasted = ended - began;
    assert!(lasted > Duration::from_secs(5) && lasted < Duration::from_secs(8), "the share lasted {lasted:?}");

    // The last picture: the text, legible.
    let got = Rgb::load_png(&whole_dir.join("Ann-screen.png")).expect("the snapshot");
    let db = psnr_luma(screen.screen_rgb(), &got, |x, y| !screen.moving(x, y)).expect("same size");
    let rgb = psnr(screen.screen_rgb(), &got, |x, y| !screen.moving(x, y)).unwrap_or(0.0);
    eprintln!("whole screen: PSNR {db:.1} dB luma, {rgb:.1} dB RGB");
    assert!(db >= LEGIBLE_DB, "the shared text at {db:.1} dB");
    // The pointer is drawn in (the screen under it is white).
    let (px, py) = screen.pointer();
    let dark = (py..py + 12).flat_map(|y| (px..px + 12).map(move |x| (x, y))).filter(|&(x, y)| {
        let i = (y * got.width + x) * 3;
        got.pixels[i..i + 3].iter().all(|&c| c < 100)
    });
    assert!(dark.count() >= 8, "the pointer is in the picture");

    // One window: only it, at its size, with its content; closing it ended the share on both sides.
    let closed =
        cy.when(|v| v["event"] == "notice" && v["message"].as_str().is_some_and(|m| m.contains("window was closed")));
    assert!(closed.is_some(), "Cy was told the window is gone: {:?}", cy.seen);
    assert!(cy.when(|v| v["event"] == "share" && v["sharing"] == false).is_some(), "Cy's share ended");
    assert!(dee.when(|v| v["event"] == "share" && v["sharing"] == false).is_some(), "Dee saw it end");
    let shared = track(&dee_summary, "screen");
    eprintln!("Dee received: screen {shared}");
    assert_eq!(
        (shared["width"].as_u64(), shared["height"].as_u64()),
        (Some(NOTES_SIZE.0 as u64), Some(NOTES_SIZE.1 as u64))
    );
    let got = Rgb::load_png(&window_dir.join("Cy-screen.png")).expect("the snapshot");
    let db = psnr_luma(screen.notes_rgb(), &got, |_, _| true).expect("same size");
    let rgb = psnr(screen.notes_rgb(), &got, |_, _| true).unwrap_or(0.0);
    eprintln!("one window: PSNR {db:.1} dB luma, {rgb:.1} dB RGB");
    assert!(db >= LEGIBLE_DB, "the shared window at {db:.1} dB");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motion_is_shared_at_up_to_30_frames_a_second() {
    let xvfb = Xvfb::start(1280, 720).expect("Xvfb");
    let _screen = TestScreen::start(&xvfb.display).expect("the test screen");
    let _video = Motion::start(&xvfb.display).expect("a video playing");
    let server = common::server().await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let mut ann = Peer::start(&url, &room, "Ann", &xvfb.display, &["--share", "screen", "--duration", "11"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut bo = Peer::start(&url, &room, "Bo", &xvfb.display, &["--duration", "10"]);
    let summary = bo.summary();
    ann.summary();
    let shared = track(&summary, "screen");
    eprintln!("motion: Bo received {shared}");
    assert_eq!((shared["width"].as_u64(), shared["height"].as_u64()), (Some(1280), Some(720)), "{shared}");
    // 30 a second asked; the encoder may drop some (its rate control), and the first pictures go calm.
    let fps = shared["fps"].as_f64().unwrap_or(0.0);
    assert!(fps >= 20.0, "motion at {fps} fps, not the calm 15: {shared}");
}
