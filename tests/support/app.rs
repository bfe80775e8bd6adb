//! The desktop app as a test drives it: its environment (HOME and XDG dirs in the scenario's scratch
//! directory, the test's signaling server, ICE on loopback), files seeded before it starts, and the peer's
//! JSON output.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ChildStdout;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use tincan_signal::server::{ServerConfig, SignalServer};

use crate::process::Guard;
use crate::webdriver::Session;

pub const WAIT: Duration = Duration::from_secs(30);

/// The app's identifier: its config and data live in `XDG_*_HOME/<this>`.
pub const APP_ID: &str = "app.tincan.desktop";

/// Run a blocking `scenario(server_url, scratch_dir)` against a fresh signaling server on loopback; the
/// scratch directory is removed if it passes and kept (logs) if it fails.
pub async fn run_scenario(
    name: &str,
    scenario: impl FnOnce(&str, &Path) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<()> {
    let server = SignalServer::start(ServerConfig::loopback_unlimited()).await?;
    let url = server.ws_url();
    let dir = crate::scratch(name)?;
    let keep = dir.clone();
    let result = tokio::task::spawn_blocking(move || scenario(&url, &dir)).await?;
    server.shutdown().await;
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(keep);
    }
    result
}

/// Environment for the app under test.
pub fn env(dir: &Path, server_url: &str) -> Vec<(&'static str, String)> {
    let path = |sub: &str| dir.join(sub).to_string_lossy().into_owned();
    vec![
        ("TINCAN_SERVER", server_url.to_owned()),
        ("TINCAN_LOOPBACK", "1".to_owned()),
        // The stamped pattern and a tone instead of camera and microphone: the tests read them at the other end.
        ("TINCAN_TEST_MEDIA", "1".to_owned()),
        ("HOME", path("home")),
        ("XDG_CONFIG_HOME", path("config")),
        ("XDG_DATA_HOME", path("data")),
        ("XDG_CACHE_HOME", path("cache")),
        ("XDG_RUNTIME_DIR", path("runtime")),
        ("XDG_DOWNLOAD_DIR", path("downloads")),
    ]
}

/// Write a file the app will find at start (settings, identity) under its config or data dir.
pub fn seed(dir: &Path, xdg: &str, name: &str, contents: &str) -> anyhow::Result<()> {
    let app_dir = dir.join(xdg).join(APP_ID);
    std::fs::create_dir_all(&app_dir)?;
    std::fs::write(app_dir.join(name), contents)?;
    Ok(())
}

/// A DOM script's answer, for failure messages.
pub fn what_the_app_says(session: &Session) -> String {
    let script = "return ['call-state', 'lobby-error', 'server-info', 'presence'].map(id => document.getElementById(id).textContent).join(' | ')";
    session.run(script, json!([])).map(|v| v.to_string()).unwrap_or_else(|e| e.to_string())
}

/// Click through the first-start screen with `name`.
pub fn first_start(session: &Session, name: &str) -> anyhow::Result<()> {
    session.wait_for(
        "the first-start screen",
        WAIT,
        "return !document.getElementById('welcome').classList.contains('hidden')",
    )?;
    let submit = |name: &str| {
        session.run(
            "document.getElementById('welcome-name').value = arguments[0]; document.getElementById('welcome-form').requestSubmit(); return true;",
            json!([name]),
        )
    };
    // A name of spaces is no name: refused, with a reason, and the welcome stays.
    submit("   ")?;
    session.wait_for(
        "a blank name refused",
        WAIT,
        "return document.getElementById('welcome-error').textContent.includes('your name') && !document.getElementById('welcome').classList.contains('hidden')",
    )?;
    submit(name)?;
    session.wait_for("the lobby", WAIT, "return !document.getElementById('lobby').classList.contains('hidden')")?;
    Ok(())
}

/// Type `code` into the lobby's join form and wait until the call says it is connected.
pub fn join_room(session: &Session, code: &str) -> anyhow::Result<()> {
    session.run(
        "document.getElementById('join-code').value = arguments[0]; document.getElementById('join-form').requestSubmit(); return true;",
        json!([code]),
    )?;
    join_from_check(session, true)?;
    session
        .wait_for("connected", WAIT, "return document.getElementById('call-state').textContent === 'Connected'")
        .map_err(|e| anyhow::anyhow!("{e}; the app says: {}", what_the_app_says(session)))?;
    Ok(())
}

/// The device check shows before every call the user starts: once it shows (with `picture`: and shows the
/// camera's picture, the test pattern with the test media), press its Join / Call button.
pub fn join_from_check(session: &Session, picture: bool) -> anyhow::Result<()> {
    let script = if picture {
        "return !document.getElementById('check').classList.contains('hidden') && document.getElementById('check-video').classList.contains('live')"
    } else {
        "return !document.getElementById('check').classList.contains('hidden')"
    };
    session.wait_for("the device check", WAIT, script)?;
    session.run("document.getElementById('check-join').click(); return true;", json!([]))?;
    Ok(())
}

/// The JSON lines a `tincan-cli` prints, on a channel.
pub fn json_lines(stdout: ChildStdout) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    rx
}

/// The next line `pick` accepts, within `WAIT`.
pub fn next_line(lines: &mpsc::Receiver<Value>, what: &str, pick: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(v) if pick(&v) => return Ok(v),
            Ok(_) => continue,
            Err(_) => anyhow::bail!("no {what} within {WAIT:?}"),
        }
    }
}

/// One line for each of `picks`, in whatever order they come, within `WAIT`: for events that race (a chat
/// and a file's verdict), where waiting for one with `next_line` would skip past the other.
pub fn each_line(
    lines: &mpsc::Receiver<Value>,
    what: &str,
    picks: &[&dyn Fn(&Value) -> bool],
) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + WAIT;
    let mut found: Vec<Option<Value>> = vec![None; picks.len()];
    while found.iter().any(Option::is_none) {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(v) => {
                if let Some(i) = (0..picks.len()).find(|&i| found[i].is_none() && picks[i](&v)) {
                    found[i] = Some(v);
                }
            }
            Err(_) => {
                let missing: Vec<usize> = (0..picks.len()).filter(|&i| found[i].is_none()).collect();
                anyhow::bail!("no {what} within {WAIT:?} (missing: line {missing:?} of those awaited)");
            }
        }
    }
    Ok(found.into_iter().flatten().collect())
}

/// Reads the stamp the test pattern carries (see `tincan_media::synthetic`) from the canvas or video element
/// `src` (defined before this script): the frame counter, or null if the pixels do not hold a valid stamp.
pub const READ_STAMP_FROM: &str = r#"
const w = src.videoWidth || src.width, h = src.videoHeight || src.height;
if (!w) return null;
const c = document.createElement('canvas'); c.width = w; c.height = h;
const ctx = c.getContext('2d'); ctx.drawImage(src, 0, 0);
const block = w >= 160 && h >= 128 ? 16 : 8, cols = 10;
const bytes = new Uint8Array(10);
for (let i = 0; i < 80; i++) {
  const bx = (i % cols) * block, by = Math.floor(i / cols) * block;
  const d = ctx.getImageData(bx + block / 4, by + block / 4, block / 2, block / 2).data;
  let sum = 0;
  for (let k = 0; k < d.length; k += 4) sum += (d[k] + d[k + 1] + d[k + 2]) / 3;
  if (sum / (d.length / 4) > 128) bytes[i >> 3] |= 0x80 >> (i & 7);
}
let a = 0, b = 0;
for (let k = 0; k < 8; k++) { a = (a + bytes[k]) % 255; b = (b + a) % 255; }
if (((b << 8) | a) !== ((bytes[8] << 8) | bytes[9])) return null;
return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
"#;

/// The stamp on the app's first participant tile (see [`READ_STAMP_FROM`]).
pub fn read_stamp_script() -> String {
    format!("const src = document.querySelector('#tiles .tile canvas'); if (!src) return null; {READ_STAMP_FROM}")
}

/// The stamp on `peer`'s tile: `peer` is the first argument.
pub fn read_tile_stamp_script() -> String {
    format!(
        "const src = [...document.querySelectorAll('#tiles .tile')].find(t => t.dataset.peer === arguments[0])?.querySelector('canvas'); if (!src) return null; {READ_STAMP_FROM}"
    )
}

/// The remote video shows the peer's pattern, live: the stamp's counter advances ~30 a second.
pub fn assert_live_pattern(session: &Session) -> anyhow::Result<()> {
    session.wait_for("30 frames drawn", WAIT, "return window.tincan.framesDrawn() > 30")?;
    let first = session.wait_for("a readable stamp", WAIT, &read_stamp_script())?.as_u64().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(1));
    let second = session.wait_for("a readable stamp", WAIT, &read_stamp_script())?.as_u64().unwrap_or(0);
    anyhow::ensure!(second > first + 10, "the counter should advance ~30 per second: {first} then {second}");
    Ok(())
}

/// Every element named by id is inside the window and not covered by anything (at its centre).
pub const ALL_REACHABLE: &str = r#"
const bad = [];
for (const id of arguments[0]) {
  const el = document.getElementById(id);
  const r = el.getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const inside = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
  const top = document.elementFromPoint(x, y);
  if (!inside || !(top === el || el.contains(top))) bad.push(`${id} ${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)}`);
}
return bad.length ? `${innerWidth}x${innerHeight}: ` + bad.join('; ') : 'ok';
"#;

/// A `tincan-cli` named `name` ringing the personal code `code` (audio only, 30 s), and its lines. The app
/// registers its code a moment after it starts (and says nothing of it in the tray): until then the server
/// answers at once that nobody holds the code and the call ends, so this rings again until it rings.
pub fn ring(url: &str, name: &str, code: &str) -> anyhow::Result<(Guard, mpsc::Receiver<Value>)> {
    let registered_by = Instant::now() + WAIT;
    loop {
        anyhow::ensure!(Instant::now() < registered_by, "the app's code never rang: is it registered?");
        let mut cli = Guard::spawn(
            std::process::Command::new(crate::binary("tincan-cli")?)
                .args(["--server", url, "--name", name, "call", code])
                .args(["--loopback", "--video", "none", "--duration", "30"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null()),
        )?;
        let lines = json_lines(cli.0.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?);
        next_line(&lines, "ringing", |v: &Value| v["event"] == "state" && v["state"] == "ringing_out")?;
        let ended = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(2)).ok())
            .any(|v| v["event"] == "state" && v["state"] == "ended");
        if !ended {
            return Ok((cli, lines));
        }
    }
}
