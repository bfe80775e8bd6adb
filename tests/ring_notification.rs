//! A ring answered from its desktop notification, as people in another window do: the app in the tray
//! (no WebDriver), a notification server of the test's own on a private session bus, `tincan-cli` callers.
//! Each ring shows a notification with Accept and Decline (category `call.incoming`); Decline there
//! declines the call, a caller who gives up has it withdrawn, Accept there answers and the call connects.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tincan_e2e::app::{WAIT, next_line, ring, run_scenario, seed};
use tincan_e2e::binary;
use tincan_e2e::dbus::SessionBus;
use tincan_e2e::display::Display;
use tincan_e2e::notifications::{Notifications, Shown};
use tincan_e2e::process::Guard;
use tincan_signal::identity::Identity;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_is_answered_from_its_notification() -> anyhow::Result<()> {
    run_scenario("ring-notification", scenario).await
}

/// Wait until `check` gives something, or say what did not happen.
fn until<T>(what: &str, check: impl Fn() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The open notification whose summary names `who`, once it is shown.
fn shown_for(notifications: &Notifications, who: &str) -> anyhow::Result<Shown> {
    let n = until(&format!("a notification for {who}'s ring"), || {
        notifications.shown().into_iter().find(|n| !n.closed && n.summary.contains(who))
    })?;
    let keys: Vec<&str> = n.actions.iter().map(|(k, _)| k.as_str()).collect();
    anyhow::ensure!(keys.contains(&"accept") && keys.contains(&"decline"), "no Accept / Decline: {n:?}");
    anyhow::ensure!(n.category.as_deref() == Some("call.incoming"), "not a call's notification: {n:?}");
    anyhow::ensure!(n.app == "Tincan", "{n:?}");
    Ok(n)
}

fn scenario(url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let display = Display::with_window_manager()?;
    let bus = SessionBus::start()?;
    let notifications = Notifications::start(&bus.address)?;
    let identity = Identity::generate();
    let code = identity.personal_code();
    seed(dir, "config", "settings.json", r#"{"display_name": "Ana"}"#)?;
    seed(dir, "data", "identity.key", &identity.to_hex())?;
    let mut command = Command::new(binary("tincan")?);
    command.arg("--hidden").env("DISPLAY", &display.name).env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    for (k, v) in tincan_e2e::app::env(dir, url) {
        command.env(k, v);
    }
    let mut app = Guard::spawn(command.stdout(Stdio::null()).stderr(std::fs::File::create(dir.join("app.log"))?))?;

    // Declined from the notification: the caller hears "declined".
    let (_bo, lines) = ring(url, "Bo", code.as_str())?;
    let n = shown_for(&notifications, "Bo")?;
    println!("shown: {:?} / {:?}, actions {:?}", n.summary, n.body, n.actions);
    notifications.click(n.id, "decline")?;
    let ended = next_line(&lines, "Bo's call ended", |v| v["event"] == "state" && v["state"] == "ended")?;
    anyhow::ensure!(ended["reason"] == "declined", "declined from the notification, Bo was told {ended}");
    // The ring showed the window: back to the tray, so the next ring is for a window not on screen.
    display.close_app_window(WAIT)?;

    // The caller gives up: the notification is withdrawn.
    let (cy, _lines) = ring(url, "Cy", code.as_str())?;
    let n = shown_for(&notifications, "Cy")?;
    let hung_up = Instant::now();
    drop(cy);
    until("Cy's notification withdrawn", || {
        notifications.shown().iter().any(|s| s.id == n.id && s.withdrawn).then_some(())
    })?;
    println!("withdrawn {:.1} s after the caller hung up", hung_up.elapsed().as_secs_f64());
    display.close_app_window(WAIT)?;

    // Accepted from the notification: the window answers, and the call connects.
    let (_dee, lines) = ring(url, "Dee", code.as_str())?;
    let n = shown_for(&notifications, "Dee")?;
    notifications.click(n.id, "accept")?;
    next_line(&lines, "Dee connected", |v| v["event"] == "state" && v["state"] == "connected")?;
    anyhow::ensure!(app.0.try_wait()?.is_none(), "the app exited (see app.log)");
    Ok(())
}
