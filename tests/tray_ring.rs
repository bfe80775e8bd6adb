//! The app lives in the tray: started hidden (`--hidden`, as at login) with a saved identity, it stays
//! registered on the signaling server; `tincan-cli call` rings its personal code; the window comes up with
//! the incoming call (under the caller's name in the address book, which also follows whether she is online),
//! Accept connects the call, the peer's pattern shows, and when the caller hangs up the app returns to the
//! lobby and lists the call as incoming. Then a stranger rings without proving any code, under the name of
//! "Mom": the incoming screen says "Someone calling themselves “Mom”" (screenshots dark 800x600, light
//! 1280x800).

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tincan_e2e::app::{WAIT, assert_live_pattern, json_lines, next_line, run_scenario, seed, what_the_app_says};
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::Driver;
use tincan_e2e::{artifacts, binary};
use tincan_signal::identity::Identity;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_in_the_tray_is_rung_accepts_and_connects() -> anyhow::Result<()> {
    run_scenario("tray-ring", scenario).await
}

fn scenario(url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let display = Display::start()?;
    // A returning user: name and identity on disk.
    let identity = Identity::generate();
    let code = identity.personal_code();
    seed(dir, "config", "settings.json", r#"{"display_name": "Ana"}"#)?;
    seed(dir, "data", "identity.key", &identity.to_hex())?;
    // The caller is in Ana's address book as "Carla".
    let caller = Identity::generate();
    std::fs::write(dir.join("cli.key"), caller.to_hex())?;
    let contacts = json!({"contacts": [{"id": "c1", "name": "Carla", "code": caller.personal_code().as_str()}]});
    seed(dir, "data", "contacts.json", &contacts.to_string())?;
    let driver = Driver::start(&display.name, &tincan_e2e::app::env(dir, url), &dir.join("app.log"))?;
    let session = driver.session(&binary("tincan")?, &["--hidden"])?;
    session.wait_for("the UI to be ready", WAIT, "return window.tincan && window.tincan.ready === true")?;
    session.wait_for("online", WAIT, "return document.getElementById('presence').dataset.status === 'online'")?;
    anyhow::ensure!(display.visible_app_windows() == 0, "the window should start hidden");
    let shown = session.run("return document.getElementById('my-code').textContent", json!([]))?;
    assert_eq!(shown.as_str(), Some(code.as_str()), "the lobby shows the saved identity's code");
    let carla_is = |state: &str| {
        let mark = if state == "online" { "●" } else { "○" };
        session.wait_for(
            &format!("Carla shown {state}"),
            WAIT,
            &format!("return document.getElementById('contacts').textContent.includes('{mark} Carla')"),
        )
    };
    carla_is("offline")?;
    // Carla's app comes online (a listening tincan-cli with her key), then goes away.
    let carla_app = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--identity"])
            .arg(dir.join("cli.key"))
            .arg("listen")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    carla_is("online")?;
    drop(carla_app);
    carla_is("offline")?;

    // Ring it.
    let mut cli = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Cli", "--identity"])
            .arg(dir.join("cli.key"))
            .args(["call", code.as_str(), "--loopback", "--size", "640x480", "--duration", "6"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("cli.log"))?),
    )?;
    let lines = json_lines(cli.0.stdout.take().expect("piped"));
    next_line(&lines, "ringing at the caller", |v| v["event"] == "state" && v["state"] == "ringing_out")?;
    session.wait_for(
        "the incoming-call screen",
        WAIT,
        "return !document.getElementById('incoming').classList.contains('hidden') && document.getElementById('incoming-name').textContent === 'Carla'",
    )?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while display.visible_app_windows() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::ensure!(display.visible_app_windows() == 1, "a ring should bring the window up");
    display.screenshot(&artifacts().join("tray-ring-incoming.png"))?;
    let add_shown = "return !document.getElementById('incoming-add').classList.contains('hidden')";
    assert_eq!(session.run(add_shown, json!([]))?, false, "Carla is a contact already");

    session.run("document.getElementById('accept').click(); return true;", json!([]))?;
    if let Err(e) =
        session.wait_for("connected", WAIT, "return document.getElementById('call-state').textContent === 'Connected'")
    {
        anyhow::bail!("{e}; the app says: {}", what_the_app_says(&session));
    }
    next_line(&lines, "the caller connected", |v| v["event"] == "state" && v["state"] == "connected")?;
    assert_live_pattern(&session)?;
    display.screenshot(&artifacts().join("tray-ring-call.png"))?;

    // The caller hangs up after its six seconds.
    session.wait_for(
        "the lobby after the caller hung up",
        WAIT,
        "return !document.getElementById('lobby').classList.contains('hidden') && document.getElementById('lobby-error').textContent === 'The other person hung up.'",
    )?;
    session.wait_for(
        "the call in the recent calls",
        WAIT,
        "return document.getElementById('recents').textContent.includes('↙ Carla')",
    )?;

    // A stranger rings proving no code, calling themselves "Mom": the heading says what is known, and no
    // more.
    unproven_ring(&session, &display, url, &code)?;

    // Someone not in the contacts rings, proving their code: they can be added from the incoming screen.
    let eve = Identity::generate();
    std::fs::write(dir.join("eve.key"), eve.to_hex())?;
    let _eve_cli = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Eve", "--identity"])
            .arg(dir.join("eve.key"))
            .args(["call", code.as_str(), "--loopback", "--duration", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    session.wait_for(
        "Eve's ring, with Add to contacts",
        WAIT,
        "return document.getElementById('incoming-name').textContent === 'Eve' && !document.getElementById('incoming-add').classList.contains('hidden')",
    )?;
    session.run("document.getElementById('incoming-add').click(); return true;", json!([]))?;
    session.wait_for(
        "Eve in the contacts",
        WAIT,
        &format!(
            "return document.getElementById('contacts').textContent.includes('Eve · {}')",
            eve.personal_code().as_str()
        ),
    )?;
    session.run("document.getElementById('decline').click(); return true;", json!([]))?;
    session.wait_for("the lobby", WAIT, "return !document.getElementById('lobby').classList.contains('hidden')")?;
    Ok(())
}

fn unproven_ring(
    session: &tincan_e2e::webdriver::Session,
    display: &Display,
    url: &str,
    code: &tincan_signal::code::PersonalCode,
) -> anyhow::Result<()> {
    use tincan_signal::client::{ClientConfig, ClientEvent, SignalClient};
    use tincan_signal::protocol::ServerMessage;
    let runtime = tokio::runtime::Handle::current();
    let (stranger, call) = runtime.block_on(async {
        // No identity: the ring carries no proof of any code.
        let (stranger, mut events) = SignalClient::connect(ClientConfig::new(url, "stranger"));
        while !matches!(events.recv().await, Some(ClientEvent::Connected { .. }) | None) {}
        stranger.ring(code, "Mom", &tincan_signal::code::RoomCode::generate()).await?;
        loop {
            match tokio::time::timeout(WAIT, events.recv()).await? {
                Some(ClientEvent::Message(ServerMessage::Ringing { call, .. })) => break Ok((stranger, call)),
                Some(_) => continue,
                None => anyhow::bail!("the stranger's connection ended"),
            }
        }
    })?;
    session.wait_for(
        "the unproven ring",
        WAIT,
        "return !document.getElementById('incoming').classList.contains('hidden') && document.getElementById('incoming-name').textContent === 'Someone calling themselves “Mom”'",
    )?;
    let shown = session.run("return document.getElementById('incoming').textContent", json!([]))?;
    let shown = shown.as_str().unwrap_or_default();
    anyhow::ensure!(!shown.contains("Carla"), "no contact's name on a stranger's ring: {shown}");
    anyhow::ensure!(shown.contains("Unverified"), "the screen says nothing proves who it is: {shown}");
    let add_shown = "return !document.getElementById('incoming-add').classList.contains('hidden')";
    assert_eq!(session.run(add_shown, json!([]))?, false, "a name nobody proved cannot become a contact");
    session.set_window_size(800, 600)?;
    session.run("document.documentElement.dataset.theme = 'dark'; return true;", json!([]))?;
    std::thread::sleep(Duration::from_millis(300));
    display.screenshot(&artifacts().join("tray-ring-unproven.png"))?;
    session.set_window_size(1280, 800)?;
    session.run("document.documentElement.dataset.theme = 'light'; return true;", json!([]))?;
    std::thread::sleep(Duration::from_millis(300));
    display.screenshot(&artifacts().join("tray-ring-unproven-light.png"))?;
    session.run("delete document.documentElement.dataset.theme; return true;", json!([]))?;
    runtime.block_on(stranger.cancel_ring(call))?;
    session.wait_for(
        "the lobby after the stranger gave up",
        WAIT,
        "return document.getElementById('incoming').classList.contains('hidden')",
    )?;
    Ok(())
}
