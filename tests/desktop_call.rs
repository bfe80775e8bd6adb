//! The desktop app in a real window (Xvfb), driven through WebDriver: it joins a room where a `tincan-cli`
//! peer sends the stamped test pattern; the app's canvas shows that pattern (its counter is read back from
//! the pixels and advances), chat goes both ways, and hanging up returns to the lobby with a reason and a
//! recent call. The peer offers a file: nothing is written until Accept, then it is saved whole. On the way:
//! the first-start screen, the address book and the settings.

use std::process::{Command, Stdio};

use serde_json::json;
use tincan_e2e::app::{
    ALL_REACHABLE, WAIT, assert_live_pattern, first_start, join_room, json_lines, next_line, run_scenario,
};
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::Driver;
use tincan_e2e::{artifacts, binary};
use tincan_signal::code::RoomCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_joins_a_room_shows_the_peer_chats_and_hangs_up() -> anyhow::Result<()> {
    let room = RoomCode::generate();
    run_scenario("desktop-call", move |url, dir| scenario(url, dir, &room)).await
}

fn scenario(url: &str, dir: &std::path::Path, room: &RoomCode) -> anyhow::Result<()> {
    let display = Display::start()?;
    let env = tincan_e2e::app::env(dir, url);
    // A damaged identity file: the app sets it aside, makes a new identity and says so when it starts.
    tincan_e2e::app::seed(dir, "data", "identity.key", "not a key")?;
    let driver = Driver::start(&display.name, &env, &dir.join("app.log"))?;

    // The other side: a headless peer in the room, sending the pattern, a chat message and a file.
    let offered = dir.join("outbox").join("minutes.txt");
    std::fs::create_dir_all(offered.parent().expect("a folder"))?;
    std::fs::write(&offered, "Minutes of the meeting\n".repeat(5000))?;
    let mut cli = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Cli", "join", room.as_str(), "--loopback", "--size", "640x480"])
            .args(["--chat", "hello from the cli", "--duration", "60"])
            .arg("--send-file")
            .arg(&offered)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("cli.log"))?),
    )?;
    let lines = json_lines(cli.0.stdout.take().expect("piped"));

    let session = driver.session(&binary("tincan")?, &[])?;
    session.wait_for("the UI to be ready", WAIT, "return window.tincan && window.tincan.ready === true")?;
    session.wait_for(
        "the start's notice about the identity",
        WAIT,
        "const b = document.getElementById('banner'); return !b.classList.contains('hidden') && b.textContent.includes('identity key was damaged')",
    )?;
    first_start(&session, "Ana")?;

    // The address book refuses a bad code with a sentence, keeps a good one, and saves it to disk.
    let add = "document.getElementById('contact-name').value = arguments[0]; document.getElementById('contact-code').value = arguments[1]; document.getElementById('contact-form').requestSubmit(); return true;";
    session.run(add, json!(["Bob", "7KQ2-M9XD"]))?;
    session.wait_for(
        "the refusal",
        WAIT,
        "return document.getElementById('lobby-error').textContent.includes('personal code does not work')",
    )?;
    session.run(add, json!(["Bob", "7kq2 m9xd 4htb pa3e"]))?;
    session.wait_for(
        "the contact listed",
        WAIT,
        "return document.getElementById('contacts').textContent.includes('Bob · 7KQ2-M9XD-4HTB-PA3E')",
    )?;
    let saved = std::fs::read_to_string(dir.join("data").join(tincan_e2e::app::APP_ID).join("contacts.json"))?;
    assert!(saved.contains("7KQ2-M9XD-4HTB-PA3E"), "{saved}");

    // Settings: a bad server address is refused in words; start at login (hidden) and the dark theme apply.
    session.set_window_size(800, 600)?;
    session.run("document.getElementById('open-settings').click(); return true;", json!([]))?;
    session.wait_for("settings", WAIT, "return !document.getElementById('settings').classList.contains('hidden')")?;
    let save = "document.getElementById('set-server').value = arguments[0]; document.getElementById('set-login').checked = true; document.getElementById('set-theme').value = 'dark'; document.getElementById('settings-form').requestSubmit(); return true;";
    // Nothing sticks out of the form, at 800x600 as larger.
    let overflow = "const f = document.getElementById('settings-form').getBoundingClientRect(); \
        return [...document.querySelectorAll('#settings-form input, #settings-form select')].filter(e => e.getBoundingClientRect().right > f.right + 0.5).map(e => e.id)";
    assert_eq!(session.run(overflow, json!([]))?, json!([]), "settings fields past the form");
    session.run(save, json!(["http://wrong"]))?;
    session.wait_for(
        "the refusal, next to the field",
        WAIT,
        "return document.getElementById('err-server_url').textContent.includes('wss://') && document.activeElement.id === 'set-server'",
    )?;
    display.screenshot(&artifacts().join("desktop-settings-error.png"))?;
    session.run(save, json!([""]))?;
    session.wait_for(
        "the lobby, dark",
        WAIT,
        "return !document.getElementById('lobby').classList.contains('hidden') && document.documentElement.dataset.theme === 'dark'",
    )?;
    // (The autostart plugin writes to ~/.config/autostart, not $XDG_CONFIG_HOME/autostart.)
    let autostart = std::fs::read_dir(dir.join("home/.config/autostart"))?
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(autostart.contains("--hidden"), "the login entry starts the app in the tray: {autostart}");
    // Large enough for the peer's 640x480 pattern to be drawn unscaled (its stamp is read from the pixels).
    session.set_window_size(1280, 800)?;
    // Typed the way people type codes: lower case, spaces.
    let typed = room.as_str().to_lowercase().replace('-', " ");
    join_room(&session, &typed)?;
    assert_live_pattern(&session)?;

    // Usable at 800x600: every control of the call is on screen and clickable.
    session.set_window_size(800, 600)?;
    session.wait_for("the window at 800x600", WAIT, "return window.innerWidth <= 800 && window.innerHeight <= 600")?;
    let controls = json!([["tiles", "preview", "mic", "cam", "send-file", "hangup", "chat-text", "sas", "quality"]]);
    let reachable = session.run(ALL_REACHABLE, controls)?;
    assert_eq!(reachable, "ok", "at 800x600");

    // Chat both ways.
    session.wait_for(
        "the peer's chat message",
        WAIT,
        "return [...document.querySelectorAll('#messages li')].some(li => li.querySelector('.text')?.textContent === 'hello from the cli' && /^Cli · \\d\\d:\\d\\d$/.test(li.querySelector('.meta').textContent))",
    )?;
    session.run(
        "document.getElementById('chat-text').value = 'hello from the app'; document.getElementById('chat-form').requestSubmit(); return true;",
        json!([]),
    )?;
    let got = next_line(&lines, "the app's chat at the peer", |v| v["event"] == "chat" && v["outgoing"] == false)?;
    assert_eq!(got["text"], "hello from the app");
    // The file waits for a yes: offered in the messages, nothing on disk.
    session.wait_for(
        "the file offer",
        WAIT,
        "return [...document.querySelectorAll('#messages li.file')].some(li => li.textContent.includes('offers minutes.txt'))",
    )?;
    display.screenshot(&artifacts().join("desktop-file-offer.png"))?;
    // The same in the light theme, larger.
    session.set_window_size(1280, 800)?;
    session.run("document.documentElement.dataset.theme = 'light'; return true;", json!([]))?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    display.screenshot(&artifacts().join("desktop-file-offer-light.png"))?;
    session.run("document.documentElement.dataset.theme = 'dark'; return true;", json!([]))?;
    session.set_window_size(800, 600)?;
    let written = || -> Vec<std::path::PathBuf> {
        tincan_e2e::walk(dir)
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("minutes.txt")) && *p != offered)
            .collect()
    };
    assert!(written().is_empty(), "written before Accept: {:?}", written());
    session.run(
        "[...document.querySelectorAll('#messages li.file button')].find(b => b.textContent === 'Accept').click(); return true;",
        json!([]),
    )?;
    session.wait_for(
        "the file saved",
        WAIT,
        "return [...document.querySelectorAll('#messages li.file')].some(li => li.textContent.startsWith('Saved minutes.txt'))",
    )?;
    let saved = written();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(std::fs::read(&saved[0])?, std::fs::read(&offered)?, "the file arrives whole");
    let digits = session.run("return document.getElementById('sas').textContent", json!([]))?;
    assert!(digits.as_str().is_some_and(|d| d.starts_with("Verify: ")), "{digits}");
    display.screenshot(&artifacts().join("desktop-call.png"))?;
    // At 800x600 the controls keep to one line: every button as high as the others, nothing overflowing.
    let fits = session.run(
        "const c = document.querySelector('.controls'); const h = [...c.querySelectorAll('button')].map(b => b.getBoundingClientRect().height); \
         return [Math.max(...h) - Math.min(...h), c.scrollWidth - c.clientWidth, window.innerWidth]",
        json!([]),
    )?;
    anyhow::ensure!(
        fits[0].as_f64() == Some(0.0) && fits[1].as_f64().is_some_and(|o| o <= 0.0),
        "the control bar at {} px wide: button heights differ by {}, overflow {}",
        fits[2],
        fits[0],
        fits[1]
    );

    // Hang up: back to the lobby, with the reason; the peer sees the other side hang up.
    session.run("document.getElementById('hangup').click(); return true;", json!([]))?;
    session.wait_for(
        "the lobby after hanging up",
        WAIT,
        "return !document.getElementById('lobby').classList.contains('hidden') && document.getElementById('lobby-error').textContent === 'You hung up.' && document.getElementById('lobby-error').classList.contains('info') && document.getElementById('join-code').value === ''",
    )?;
    let ended = next_line(&lines, "the peer's end", |v| v["event"] == "state" && v["state"] == "ended")?;
    assert_eq!(ended["reason"], "remote_hung_up");
    // The call is in the recent calls, with the room's code.
    session.wait_for(
        "the call in the recent calls",
        WAIT,
        &format!("return document.getElementById('recents').textContent.includes('↗ {}')", room.as_str()),
    )?;
    let lobby = json!([["create", "join-code", "copy-code", "contact-name", "contact-code", "open-settings"]]);
    assert_eq!(session.run(ALL_REACHABLE, lobby)?, "ok", "the lobby at 800x600");
    display.screenshot(&artifacts().join("desktop-lobby-after-call.png"))?;
    // Copying the code says so over the screen, without pushing the lobby down.
    let moved = session.run(
        "const top = () => document.querySelector('#lobby .card').getBoundingClientRect().top; const before = top(); \
         document.getElementById('copy-code').click(); return new Promise(r => setTimeout(() => \
         r([top() - before, !document.getElementById('banner').classList.contains('hidden')]), 300));",
        json!([]),
    )?;
    anyhow::ensure!(moved[0].as_f64() == Some(0.0) && moved[1] == true, "after Copy code: {moved}");
    display.screenshot(&artifacts().join("desktop-lobby-copied.png"))?;
    Ok(())
}
