//! The app in the tray as users run it (no WebDriver, which keeps a webview to drive): started hidden it
//! makes no window and runs no WebKit process; a ring makes the window, with its webview, and shows it.
//! Under openbox, closing the window lets the webview go again (its web process ends; WebKit's network
//! process stays with Tauri's web context). Prints the app's PSS with the window and after.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tincan_e2e::app::{WAIT, ring, run_scenario, seed};
use tincan_e2e::binary;
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::procfs::{pss_mb, tree};
use tincan_signal::identity::Identity;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_tray_the_webview_is_let_go_and_a_ring_brings_it_back() -> anyhow::Result<()> {
    run_scenario("tray-idle", scenario).await
}

fn webkit_processes(app: u32) -> usize {
    tree(app).values().filter(|name| name.starts_with("WebKit")).count()
}

/// The web process that renders the UI (WebKit's network process belongs to the app's web context, which
/// Tauri keeps for the app's life: once started it stays).
fn web_processes(app: u32) -> usize {
    tree(app).values().filter(|name| name.starts_with("WebKitWebProces")).count()
}

fn pss(app: u32) -> f64 {
    pss_mb(&tree(app)).values().sum()
}

/// Wait until `check` holds, or say what did not happen.
fn until(what: &str, check: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    while !check() {
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn scenario(url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let display = Display::with_window_manager()?;
    let identity = Identity::generate();
    seed(dir, "config", "settings.json", r#"{"display_name": "Ana"}"#)?;
    seed(dir, "data", "identity.key", &identity.to_hex())?;
    let mut command = Command::new(binary("tincan")?);
    command.arg("--hidden").env("DISPLAY", &display.name);
    for (k, v) in tincan_e2e::app::env(dir, url) {
        command.env(k, v);
    }
    let app = Guard::spawn(command.stdout(Stdio::null()).stderr(std::fs::File::create(dir.join("app.log"))?))?;
    let pid = app.0.id();
    // Started in the tray: no window, no WebKit.
    std::thread::sleep(Duration::from_secs(3));
    let mut app = app;
    anyhow::ensure!(app.0.try_wait()?.is_none(), "the app exited (see app.log)");
    anyhow::ensure!(
        webkit_processes(pid) == 0 && display.visible_app_windows() == 0,
        "started hidden, the app should run no webview: {:?}",
        tree(pid)
    );
    let hidden = pss(pid);

    // Ring it until its code is registered (the app says nothing on its own: it is in the tray).
    let (mut caller, _lines) = ring(url, "Bo", identity.personal_code().as_str())?;
    // Until the ring reached it the app had no window and no WebKit: the ring makes both.
    until("the window shown for the ring", || display.visible_app_windows() == 1)?;
    until("WebKit running for the window", || web_processes(pid) > 0)?;
    let shown = pss(pid);
    caller.0.kill()?;
    let _ = caller.0.wait();

    // Closed (Alt+F4 through the window manager), outside a call: the webview goes, and WebKit with it.
    std::thread::sleep(Duration::from_secs(2));
    display.close_app_window(Duration::from_secs(30))?;
    until("the web process ended", || web_processes(pid) == 0)
        .map_err(|e| anyhow::anyhow!("{e}; still running: {:?}", tree(pid)))?;
    std::thread::sleep(Duration::from_secs(2));
    let idle = pss(pid);
    println!(
        "PSS started in the tray: {hidden:.1} MB; with the window: {shown:.1} MB; in the tray after closing it: {idle:.1} MB"
    );
    anyhow::ensure!(idle < shown, "letting the webview go should free memory: {shown:.1} -> {idle:.1} MB");
    drop(app);
    Ok(())
}
