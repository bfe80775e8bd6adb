//! A group call in the desktop app (Xvfb, WebDriver): the app creates a room and waits with an invite card
//! (the code, the guest page's link); two `tincan-cli` peers, Bo and Cy, join. Each gets a tile with their
//! name and their live pattern (the stamp read back from the tile's pixels advances), the heading names
//! them and a timer runs; both peers receive the app's video. A double-click spotlights Bo full screen.
//! Cy leaves: Cy's tile goes, Bo's stays live. With the chat put away, "Add someone" rings the contact Dee
//! (a listening `tincan-cli`) into the call: Dee answers, joins, and gets a live tile; what happened is
//! counted on the Chat control until the chat is shown. Closing the window puts the app in the tray, remembers
//! the window's size and says so once. Screenshots at 800x600 and 1280x800, dark and light.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tincan_e2e::app::{
    WAIT, first_start, join_from_check, json_lines, next_line, read_tile_stamp_script, run_scenario,
};
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::webdriver::{Driver, Session};
use tincan_e2e::{artifacts, binary};
use tincan_signal::identity::Identity;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_people_each_on_a_tile_and_one_leaves() -> anyhow::Result<()> {
    run_scenario("group-call", scenario).await
}

/// The peer id of the tile named `name`.
fn tile_of(session: &Session, name: &str) -> anyhow::Result<String> {
    let peer = session.wait_for(
        &format!("{name}'s tile"),
        WAIT,
        "return [...document.querySelectorAll('#tiles .tile')].find(t => t.querySelector('.name').textContent === arguments[0])?.dataset.peer ?? null"
            .replace("arguments[0]", &format!("'{name}'"))
            .as_str(),
    )?;
    Ok(peer.as_str().unwrap_or_default().to_owned())
}

/// `peer`'s tile shows a live pattern: its stamp's counter advances ~30 a second.
fn assert_live_tile(session: &Session, peer: &str, who: &str) -> anyhow::Result<()> {
    let stamp = || -> anyhow::Result<u64> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(v) = session.run(&read_tile_stamp_script(), json!([peer]))?.as_u64() {
                return Ok(v);
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "no readable stamp on {who}'s tile");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let first = stamp()?;
    std::thread::sleep(Duration::from_secs(1));
    let second = stamp()?;
    anyhow::ensure!(second > first + 10, "{who}'s tile should advance ~30 frames a second: {first} then {second}");
    Ok(())
}

fn peer(url: &str, dir: &std::path::Path, name: &str, room: &str, secs: &str, more: &[&str]) -> anyhow::Result<Guard> {
    Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", name, "join", room, "--existing", "--loopback", "--size", "320x240"])
            .args(["--duration", secs])
            .args(more)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join(format!("{name}.log")))?),
    )
}

fn screenshots(display: &Display, session: &Session, name: &str) -> anyhow::Result<()> {
    for (w, h, theme) in [(800, 600, "dark"), (1280, 800, "light")] {
        session.set_window_size(w, h)?;
        session.run("document.documentElement.dataset.theme = arguments[0]; return true;", json!([theme]))?;
        std::thread::sleep(Duration::from_millis(400));
        display.screenshot(&artifacts().join(format!("{name}-{w}x{h}-{theme}.png")))?;
    }
    Ok(())
}

fn scenario(url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    // A window manager, so full screen really covers the screen.
    let display = Display::with_window_manager()?;
    let env = tincan_e2e::app::env(dir, url);
    let driver = Driver::start(&display.name, &env, &dir.join("app.log"))?;
    let session = driver.session(&binary("tincan")?, &[])?;
    session.wait_for("the UI to be ready", WAIT, "return window.tincan && window.tincan.ready === true")?;
    first_start(&session, "Ana")?;

    // Dee is online, listening, and in Ana's contacts.
    let dee = Identity::generate();
    let key = dir.join("dee.key");
    std::fs::write(&key, dee.to_hex())?;
    let mut dee_cli = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Dee", "--identity"])
            .arg(&key)
            .args(["listen", "--loopback", "--size", "320x240", "--duration", "60"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("Dee.log"))?),
    )?;
    let dee_lines = json_lines(dee_cli.0.stdout.take().expect("piped"));
    next_line(&dee_lines, "Dee online", |v: &Value| v["event"] == "status" && v["status"] == "online")?;
    session.run(
        "document.getElementById('contact-name').value = 'Dee'; document.getElementById('contact-code').value = arguments[0]; document.getElementById('contact-form').requestSubmit(); return true;",
        json!([dee.personal_code().as_str()]),
    )?;
    session.wait_for(
        "Dee in the contacts",
        WAIT,
        "return document.getElementById('contacts').textContent.includes('Dee')",
    )?;

    // A room of our own: the invite card says its code and, if others can reach the server, the guest link.
    session.run("document.getElementById('create').click(); return true;", json!([]))?;
    // The device check first: the test pattern as the camera's picture, the tone on the meter.
    session.wait_for(
        "the device check's picture and level",
        WAIT,
        "return !document.getElementById('check').classList.contains('hidden') && document.getElementById('check-video').classList.contains('live') && parseFloat(document.getElementById('check-level').style.width) > 30",
    )?;
    screenshots(&display, &session, "device-check")?;
    join_from_check(&session, true)?;
    let room = session.wait_for(
        "the invite card",
        WAIT,
        "const c = document.getElementById('invite-code').textContent; return !document.getElementById('call').classList.contains('hidden') && !document.getElementById('invite').classList.contains('hidden') && c ? c : null",
    )?;
    let room = room.as_str().unwrap_or_default().to_owned();
    assert_eq!(session.run("return document.getElementById('call-title').textContent", json!([]))?, room.as_str());
    let link = session.wait_for(
        "the guest link settled",
        WAIT,
        "return new Promise(r => setTimeout(() => r([document.getElementById('invite-link').textContent, document.getElementById('invite-copy-link').classList.contains('hidden')]), 500))",
    )?;
    let (text, hidden) = (link[0].as_str().unwrap_or_default(), link[1] == true);
    // On a machine with a network the link is the server's guest page for this room, on its LAN address;
    // with loopback alone there is none, and no button to copy it.
    assert!(
        (text.starts_with("http://")
            && text.ends_with(&format!("/r/{room}"))
            && !text.contains("127.0.0.1")
            && !hidden)
            || (text.is_empty() && hidden),
        "guest link {text:?} (copy button hidden: {hidden})"
    );
    screenshots(&display, &session, "group-waiting")?;

    // Bo and Cy join.
    let mut bo = peer(url, dir, "Bo", &room, "60", &[])?;
    let bo_lines = json_lines(bo.0.stdout.take().expect("piped"));
    // Cy offers Ana a file once the call is up with both others; Ana will decline it.
    let offered = dir.join("holiday.jpg");
    std::fs::write(&offered, vec![7u8; 48 * 1024])?;
    let offered_path = offered.to_string_lossy().into_owned();
    let cy_more = ["--send-file", offered_path.as_str(), "--file-to", "Ana", "--after", "2"];
    // Cy stays 16 s: long enough for the decline, the heading and full screen below on a busy machine.
    let mut cy = peer(url, dir, "Cy", &room, "16", &cy_more)?;
    let cy_lines = json_lines(cy.0.stdout.take().expect("piped"));
    let bo_tile = tile_of(&session, "Bo")?;
    let cy_tile = tile_of(&session, "Cy")?;
    assert_ne!(bo_tile, cy_tile);
    session.wait_for(
        "the invite card gone",
        WAIT,
        "return document.getElementById('invite').classList.contains('hidden')",
    )?;
    session.set_window_size(1280, 800)?;
    assert_live_tile(&session, &bo_tile, "Bo")?;
    assert_live_tile(&session, &cy_tile, "Cy")?;
    // Both see the app's video, and each other's.
    for (lines, who, others) in [(&bo_lines, "Bo", ["Ana", "Cy"]), (&cy_lines, "Cy", ["Ana", "Bo"])] {
        let mut seen = Vec::new();
        while seen.len() < others.len() {
            let line = next_line(lines, &format!("{others:?}'s video at {who} (seen {seen:?})"), |v: &Value| {
                v["event"] == "first_frame"
            })?;
            let name = line["name"].as_str().unwrap_or_default().to_owned();
            assert!(others.contains(&name.as_str()), "{who} got video from {name:?}");
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
    }
    // Cy's file offer, declined: Cy is told, the offer says so, nothing is written.
    session.wait_for(
        "Cy's file offer",
        WAIT,
        "return [...document.querySelectorAll('#messages li.file')].some(li => li.textContent.startsWith('Cy offers holiday.jpg'))",
    )?;
    session.run(
        "[...document.querySelectorAll('#messages li.file')].find(li => li.textContent.startsWith('Cy offers holiday.jpg')).querySelector('button:nth-of-type(2)').click(); return true;",
        json!([]),
    )?;
    let told = next_line(&cy_lines, "Cy told the offer was not taken", |v: &Value| {
        v["event"] == "file" && v["outgoing"] == true && matches!(v["file"].as_str(), Some("cancelled" | "declined"))
    })?;
    let shown = session.wait_for(
        "the offer saying it was declined",
        WAIT,
        "const li = [...document.querySelectorAll('#messages li.file')].find(li => li.textContent.includes('holiday.jpg')); return li && !li.querySelector('button') ? li.textContent : null",
    )?;
    println!("declined: Cy got {told}; the offer reads {shown}");
    assert_eq!(shown, "You declined holiday.jpg from Cy.");
    let written: Vec<_> = tincan_e2e::walk(&dir.join("downloads"))
        .into_iter()
        .chain(tincan_e2e::walk(&dir.join("home")))
        .filter(|p| p.ends_with("holiday.jpg"))
        .collect();
    assert!(written.is_empty(), "a declined file was written: {written:?}");

    // The heading names them; the timer runs.
    let people = session.run("return document.getElementById('people').textContent", json!([]))?;
    assert!(people == "Bo and Cy" || people == "Cy and Bo", "heading: {people}");
    session.wait_for("the timer", WAIT, "return /^\\d+:\\d\\d$/.test(document.getElementById('timer').textContent) && document.getElementById('timer').textContent !== '0:00'")?;
    // Two tiles, apart, each a good part of the stage.
    let grid = session.run(
        "const [a, b] = [...document.querySelectorAll('#tiles .tile')].map(e => e.getBoundingClientRect()); \
         const apart = a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top; \
         return [document.querySelectorAll('#tiles .tile').length, apart, Math.min(a.width * a.height, b.width * b.height) > 0.2 * innerWidth * innerHeight]",
        json!([]),
    )?;
    assert_eq!(grid, json!([2, true, true]), "two tiles, apart, each large");
    screenshots(&display, &session, "group-call")?;

    // Double-click Bo's tile: large, full screen (from a window smaller than the screen); Escape leaves both.
    session.set_window_size(1000, 700)?;
    let dblclick = "[...document.querySelectorAll('#tiles .tile')].find(t => t.dataset.peer === arguments[0]).dispatchEvent(new MouseEvent('dblclick', {bubbles: true})); return true;";
    session.run(dblclick, json!([bo_tile]))?;
    let spot = session.wait_for(
        "Bo spotlit, full screen",
        WAIT,
        "const t = document.querySelector('#tiles .tile.spotlit'); const o = [...document.querySelectorAll('#tiles .tile:not(.spotlit)')]; \
         return t && document.body.classList.contains('full-screen') && innerWidth >= screen.width ? [t.dataset.peer, (r => r.width * r.height)(t.getBoundingClientRect()) > 4 * (r => r.width * r.height)(o[0].getBoundingClientRect()), screen.width - innerWidth] : null",
    )?;
    assert_eq!(spot[0], json!(bo_tile));
    assert_eq!(spot[1], true, "the spotlit tile is the large one: {spot}");
    assert_eq!(spot[2], 0, "the window covers the screen: {spot}");
    std::thread::sleep(Duration::from_millis(500));
    display.screenshot(&artifacts().join("group-spotlight-full-screen.png"))?;
    session.run(
        "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})); return true;",
        json!([]),
    )?;
    session.wait_for(
        "back from full screen",
        WAIT,
        "const b = document.getElementById('full-screen'); return !document.body.classList.contains('full-screen') && !document.querySelector('#tiles .tile.spotlit') && b.querySelector('svg') && b.textContent === 'Full screen'",
    )?;

    // Cy leaves (its call ends): its tile goes; Bo's stays live.
    next_line(&cy_lines, "Cy's call to end", |v: &Value| v["event"] == "state" && v["state"] == "ended")?;
    session.wait_for(
        "Cy's tile gone",
        WAIT,
        "const t = [...document.querySelectorAll('#tiles .tile')]; return t.length === 1 && t[0].querySelector('.name').textContent === 'Bo'",
    )?;
    assert_eq!(session.run("return document.getElementById('people').textContent", json!([]))?, "Bo");
    assert_live_tile(&session, &bo_tile, "Bo")?;
    screenshots(&display, &session, "group-after-leave")?;

    // The chat put away: the stage takes its room.
    session.set_window_size(1280, 800)?;
    let stage_width = "return document.querySelector('.stage').getBoundingClientRect().width";
    let before = session.run(stage_width, json!([]))?.as_f64().unwrap_or(0.0);
    session.run("document.getElementById('chat-toggle').click(); return true;", json!([]))?;
    session.wait_for(
        "the chat hidden",
        WAIT,
        "return getComputedStyle(document.getElementById('chat')).display === 'none'",
    )?;
    let after = session.run(stage_width, json!([]))?.as_f64().unwrap_or(0.0);
    assert!(after > before + 200.0, "the stage grows when the chat is put away: {before} -> {after}");
    // Add someone: Dee, rung into the call, answers and gets a tile.
    session.run("document.getElementById('add-someone').click(); return true;", json!([]))?;
    session.wait_for(
        "Dee offered",
        WAIT,
        "return [...document.querySelectorAll('#add-list li')].some(li => li.textContent.startsWith('Dee') && li.querySelector('button')?.textContent === 'Ring')",
    )?;
    display.screenshot(&artifacts().join("group-add-someone.png"))?;
    session.run(
        "[...document.querySelectorAll('#add-list li')].find(li => li.textContent.startsWith('Dee')).querySelector('button').click(); return true;",
        json!([]),
    )?;
    session.wait_for(
        "the panel away after ringing",
        WAIT,
        "return document.getElementById('add-panel').classList.contains('hidden')",
    )?;
    let ring = next_line(&dee_lines, "the ring at Dee", |v: &Value| v["event"] == "incoming")?;
    assert_eq!(ring["from_name"], "Ana");
    let dee_tile = tile_of(&session, "Dee")?;
    assert_live_tile(&session, &dee_tile, "Dee")?;
    let unread = session.run("const b = document.getElementById('unread'); return b.classList.contains('hidden') ? 0 : Number(b.textContent)", json!([]))?;
    assert!(unread.as_u64().is_some_and(|n| n >= 1), "the ring's news counted while the chat is away: {unread}");
    display.screenshot(&artifacts().join("group-dee-added-chat-hidden.png"))?;
    session.run("document.getElementById('chat-toggle').click(); return true;", json!([]))?;
    session.wait_for(
        "the chat back, read",
        WAIT,
        "return document.getElementById('unread').classList.contains('hidden') && [...document.querySelectorAll('#messages li.notice')].some(li => li.textContent === 'Ringing Dee…')",
    )?;
    session.run("document.getElementById('hangup').click(); return true;", json!([]))?;
    session.wait_for("the lobby", WAIT, "return !document.getElementById('lobby').classList.contains('hidden')")?;

    // Closing the window (Alt+F4, through the window manager) puts Tincan in the tray: the window goes, its
    // size is remembered for the next start, and the first close says where Tincan went.
    session.set_window_size(1100, 720)?;
    std::thread::sleep(Duration::from_millis(300));
    let xdotool = |args: &[&str]| Command::new("xdotool").args(args).env("DISPLAY", &display.name).output();
    display.close_app_window(WAIT)?;
    let config = dir.join("config").join(tincan_e2e::app::APP_ID);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let shown = xdotool(&["search", "--onlyvisible", "--name", "^Tincan$"])?;
        let state = std::fs::read_to_string(config.join(".window-state.json")).unwrap_or_default();
        let settings = std::fs::read_to_string(config.join("settings.json")).unwrap_or_default();
        let json = |s: &str| serde_json::from_str::<Value>(s).unwrap_or_default();
        if shown.stdout.is_empty()
            && json(&state)["main"]["width"] == 1100
            && json(&settings)["tray_hint_shown"] == true
        {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "after Alt+F4: window shown {:?}, state {state:?}, settings {settings:?}",
            String::from_utf8_lossy(&shown.stdout)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(cy);
    drop(dee_cli);
    Ok(())
}
