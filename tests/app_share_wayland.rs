//! The desktop app sharing on Wayland (Xvfb, WebDriver; the app's window on X, as XWayland would show it):
//! with `WAYLAND_DISPLAY` set the Share picker offers one line — the desktop's own dialog chooses — and sharing
//! goes through the ScreenCast portal and PipeWire of `support/screencast.rs` (the real `xdg-desktop-portal`,
//! a backend of the test's own in place of the compositor). The bar names what the desktop chose, a
//! `tincan-cli` peer decodes the test screen at its size, and when the desktop ends the share ("Stop sharing"
//! in its own panel) the app says so and the bar goes. A second share in the same app opens a new session, and
//! Stop sharing in the app closes it at the portal. Screenshots of the picker and of sharing at 800x600
//! dark and 1280x800 light.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tincan_e2e::app::{WAIT, first_start, join_room, json_lines, next_line, run_scenario};
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::screencast::ScreenCastDesktop;
use tincan_e2e::webdriver::Driver;
use tincan_e2e::{artifacts, binary};
use tincan_rig::screen::text_picture;
use tincan_signal::code::RoomCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_shares_through_the_desktops_portal_on_wayland() -> anyhow::Result<()> {
    run_scenario("app-share-wayland", scenario).await
}

fn scenario(url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let display = Display::start()?;
    let mut desktop = ScreenCastDesktop::start(text_picture(1280, 720))?;
    let mut env = tincan_e2e::app::env(dir, url);
    // The portal's bus and "a Wayland session"; the window stays on X (GTK would otherwise try the name).
    let desktop_env = desktop.env();
    let var = |name: &str| desktop_env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    env.push(("DBUS_SESSION_BUS_ADDRESS", var("DBUS_SESSION_BUS_ADDRESS")));
    env.push(("WAYLAND_DISPLAY", var("WAYLAND_DISPLAY")));
    env.push(("GDK_BACKEND", "x11".into()));
    let driver = Driver::start(&display.name, &env, &dir.join("app.log"))?;
    let session = driver.session(&binary("tincan")?, &[])?;
    session.wait_for("the UI to be ready", WAIT, "return window.tincan && window.tincan.ready === true")?;
    first_start(&session, "Ana")?;
    session.set_window_size(800, 600)?;
    session.run("document.documentElement.dataset.theme = 'dark'; return true;", json!([]))?;

    let room = RoomCode::generate();
    let mut cli = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Cli", "join", room.as_str(), "--loopback", "--size", "320x240"])
            .args(["--duration", "60"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("cli.log"))?),
    )?;
    let lines = json_lines(cli.0.stdout.take().expect("piped"));
    join_room(&session, room.as_str())?;
    next_line(&lines, "the call at the peer", |v| v["event"] == "state" && v["state"] == "connected")?;

    // The picker: one line, the desktop chooses.
    session.run("document.getElementById('share').click(); return true;", json!([]))?;
    let items = session.wait_for(
        "the share picker",
        WAIT,
        "const items = [...document.querySelectorAll('#share-list li .grow')].map(s => s.textContent); return items.length ? items : null",
    )?;
    assert_eq!(items, json!(["Choose a screen or window…"]), "{items}");
    std::thread::sleep(Duration::from_millis(500));
    display.screenshot(&artifacts().join("call-share-picker-wayland-800x600-dark.png"))?;
    session.run("document.querySelector('#share-list li button').click(); return true;", json!([]))?;
    session.wait_for(
        "the sharing bar",
        WAIT,
        "return !document.getElementById('sharing-bar').classList.contains('hidden') && document.getElementById('sharing-what').textContent === 'You are sharing a screen (1280×720)'",
    )?;
    next_line(&lines, "the app's share at the peer", |v| v["event"] == "share" && v["sharing"] == true)?;
    let asked = desktop.asked();
    assert_eq!((asked.types, asked.started), (Some(3), 1), "{asked:?}");
    std::thread::sleep(Duration::from_secs(3));
    display.screenshot(&artifacts().join("call-sharing-wayland-800x600-dark.png"))?;
    session.set_window_size(1280, 800)?;
    session.run("document.documentElement.dataset.theme = 'light'; return true;", json!([]))?;
    std::thread::sleep(Duration::from_millis(500));
    display.screenshot(&artifacts().join("call-sharing-wayland-1280x800-light.png"))?;

    // The desktop ends it: the app says so, the bar goes, the peer sees the share end; the call goes on.
    desktop.end_share()?;
    next_line(&lines, "the share's end at the peer", |v| v["event"] == "share" && v["sharing"] == false)?;
    session.wait_for(
        "the app told the share ended",
        Duration::from_secs(10),
        "return document.getElementById('sharing-bar').classList.contains('hidden') && document.getElementById('share').getAttribute('aria-pressed') === 'false' && [...document.querySelectorAll('#messages li')].some(li => li.textContent.includes('the desktop ended the share'))",
    )?;
    display.screenshot(&artifacts().join("call-share-ended-wayland-1280x800-light.png"))?;

    // Shared again (a new portal session in the same app), then stopped from the app: the portal is told.
    session.run("document.getElementById('share').click(); return true;", json!([]))?;
    session.wait_for("the share picker", WAIT, "return document.querySelectorAll('#share-list li').length > 0")?;
    session.run("document.querySelector('#share-list li button').click(); return true;", json!([]))?;
    session.wait_for(
        "the sharing bar again",
        WAIT,
        "return !document.getElementById('sharing-bar').classList.contains('hidden')",
    )?;
    next_line(&lines, "the second share at the peer", |v| v["event"] == "share" && v["sharing"] == true)?;
    // Long enough for pictures of it to arrive (the summary describes the last share).
    std::thread::sleep(Duration::from_secs(3));
    session.run("document.getElementById('sharing-stop').click(); return true;", json!([]))?;
    next_line(&lines, "the second share's end at the peer", |v| v["event"] == "share" && v["sharing"] == false)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while desktop.asked().closed_by_app == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let asked = desktop.asked();
    assert_eq!((asked.started, asked.closed_by_app), (2, 1), "the second share's session closed by the app: {asked:?}");
    session.run("document.getElementById('hangup').click(); return true;", json!([]))?;
    let summary = next_line(&lines, "the peer's summary", |v| v["event"] == "summary")?;
    let tracks = summary["participants"][0]["tracks"].as_array().cloned().unwrap_or_default();
    let screen = tracks.iter().find(|t| t["kind"] == "screen").cloned().unwrap_or_default();
    assert_eq!((screen["width"].as_u64(), screen["height"].as_u64()), (Some(1280), Some(720)), "{summary}");
    assert_eq!(screen["stamped"], true, "the test screen's stamp read at the peer: {screen}");
    assert!(screen["last_counter"].as_u64().unwrap_or(0) >= 40, "live pictures: {screen}");
    Ok(())
}
