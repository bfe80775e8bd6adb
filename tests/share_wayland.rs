//! Sharing on Wayland: a `tincan-cli` peer with no X display shares through the ScreenCast portal (the real
//! `xdg-desktop-portal` and PipeWire; the compositor's part is the test's, see `support/screencast.rs`), and
//! the other peer decodes the screen: legible text (PSNR), a stamp that advances (live pictures). Then the
//! desktop ends the share ("Stop sharing" in its own panel: the portal closes the session): the sharer is
//! told, and the share ends on both sides while the call goes on.
//!
//! Not run here: a real compositor's capture (GNOME, KDE, or wlroots with a GPU) and its picker dialog.

use std::process::Stdio;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use serde_json::Value;
use tincan_e2e::app::{each_line, json_lines, next_line};
use tincan_e2e::binary;
use tincan_e2e::process::Guard;
use tincan_e2e::screencast::ScreenCastDesktop;
use tincan_rig::screen::{Rgb, in_stamp, psnr, psnr_luma, text_picture};
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer};

/// Luma PSNR of legible text (the X11 share test's bar).
const LEGIBLE_DB: f64 = 35.0;

struct Peer {
    _process: Guard,
    lines: Receiver<Value>,
}

fn peer(name: &str, env: &[(String, String)], url: &str, room: &str, extra: &[&str]) -> anyhow::Result<Peer> {
    let mut command = std::process::Command::new(binary("tincan-cli")?);
    command
        .args(["--server", url, "--name", name, "join", room, "--loopback", "--video", "test", "--size", "160x120"])
        .args(extra)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped());
    let mut process = Guard::spawn(&mut command)?;
    let lines = json_lines(process.0.stdout.take().expect("piped"));
    Ok(Peer { _process: process, lines })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_on_wayland_goes_through_the_portal_and_ends_with_the_desktop() -> anyhow::Result<()> {
    let server = SignalServer::start(ServerConfig::loopback_unlimited()).await?;
    let url = format!("ws://{}/ws", server.local_addr());
    // Off the runtime: the desktop's D-Bus side is zbus's blocking API.
    tokio::task::spawn_blocking(move || scenario(&url)).await?
}

fn scenario(url: &str) -> anyhow::Result<()> {
    let picture = text_picture(1280, 720);
    let mut desktop = ScreenCastDesktop::start(picture.clone())?;
    let room = RoomCode::generate();
    let snapshots = tincan_e2e::scratch("share-wayland")?;
    let snap = snapshots.to_str().expect("a UTF-8 path").to_owned();

    // Ann is on the "Wayland desktop" only: no DISPLAY, so there is nothing to share but through the portal.
    let ann = peer("Ann", &desktop.env(), url, room.as_str(), &["--share", "screen", "--duration", "14"])?;
    next_line(&ann.lines, "Ann waiting", |v| v["event"] == "state" && v["state"] == "waiting")?;
    let bo = peer("Bo", &[], url, room.as_str(), &["--existing", "--snapshot", &snap, "--duration", "12"])?;
    let began = next_line(&ann.lines, "Ann sharing", |v| v["event"] == "share" && v["sharing"] == true);
    let began = began.map_err(|e| anyhow::anyhow!("{e}; logs in {}", desktop.logs().display()))?;
    eprintln!("Ann shares: {began}; the backend was asked {:?}", desktop.asked());
    let asked = desktop.asked();
    assert_eq!(asked.types, Some(3), "screens and windows offered: {asked:?}");
    assert_eq!(asked.cursor_mode, Some(2), "the pointer drawn in (embedded): {asked:?}");
    assert_eq!(asked.started, 1, "{asked:?}");
    assert!(began["what"].as_str().is_some_and(|w| w.contains("1280×720")), "{began}");

    // Six seconds of sharing, then the desktop ends it.
    std::thread::sleep(Duration::from_secs(6));
    let sent = desktop.pictures_sent();
    desktop.end_share()?;
    each_line(
        &ann.lines,
        "Ann told the desktop ended it, and her share ending",
        &[
            &|v: &Value| {
                v["event"] == "notice" && v["message"].as_str().is_some_and(|m| m.contains("desktop ended the share"))
            },
            &|v: &Value| v["event"] == "share" && v["sharing"] == false,
        ],
    )?;
    next_line(&bo.lines, "Bo seeing it end", |v| v["event"] == "share" && v["sharing"] == false)?;
    let share_ended = std::time::Instant::now();
    let summary = next_line(&bo.lines, "Bo's summary", |v| v["event"] == "summary")?;
    // The call goes on to Bo's --duration (about 4 s more), not ended with the share.
    let after = share_ended.elapsed();
    assert!(after >= Duration::from_secs(2), "the call ended {after:?} after the share");
    let ann_summary = next_line(&ann.lines, "Ann's summary", |v| v["event"] == "summary")?;
    let from_bo = ann_summary["participants"][0]["tracks"].as_array().cloned().unwrap_or_default();
    let bo_camera =
        from_bo.iter().find(|t| t["kind"] == "camera").map_or(0, |t| t["frames_decoded"].as_u64().unwrap_or(0));
    assert!(bo_camera >= 100, "Ann decoded {bo_camera} of Bo's camera frames");

    let people = summary["participants"].as_array().cloned().unwrap_or_default();
    let tracks = people.first().and_then(|p| p["tracks"].as_array().cloned()).unwrap_or_default();
    let shared = tracks.iter().find(|t| t["kind"] == "screen").cloned().unwrap_or_default();
    let camera = tracks.iter().find(|t| t["kind"] == "camera").cloned().unwrap_or_default();
    eprintln!("the node sent {sent} pictures in ~6 s; Bo received: screen {shared}\ncamera {camera}");
    assert_eq!((shared["width"].as_u64(), shared["height"].as_u64()), (Some(1280), Some(720)), "{shared}");
    assert_eq!(shared["stamped"], true, "the screen's stamp is read: {shared}");
    // The node draws 20 stamps a second; the share sends up to 15 of them a second for about 6 s.
    assert!(shared["last_counter"].as_u64().unwrap_or(0) >= 60, "the stamp advanced: {shared}");
    assert!(shared["frames_decoded"].as_u64().unwrap_or(0) >= 40, "{shared}");
    assert!(camera["frames_decoded"].as_u64().unwrap_or(0) >= 60, "the camera went on beside it: {camera}");
    let got = Rgb::load_png(&snapshots.join("Ann-screen.png"))?;
    let db = psnr_luma(&picture, &got, |x, y| !in_stamp(x, y)).expect("same size");
    let rgb = psnr(&picture, &got, |x, y| !in_stamp(x, y)).unwrap_or(0.0);
    eprintln!("shared through the portal: PSNR {db:.1} dB luma, {rgb:.1} dB RGB");
    assert!(db >= LEGIBLE_DB, "the shared text at {db:.1} dB");
    let _ = std::fs::remove_dir_all(&snapshots);
    Ok(())
}
