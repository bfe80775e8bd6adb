//! `tincan-display-bench`: what the desktop app's display path costs. The app runs in Xvfb and joins a room
//! (`--join`) where a `tincan-cli` peer sends the stamped pattern at 640x480 and 1280x720, 30 fps, once
//! with its window shown and once with it closed to the tray (then no frame goes to the webview): the CPU
//! difference is the display path's cost. The app's own figures (frames drawn or skipped, send → drawn,
//! capture → drawn) come from its log. Also: memory (PSS) of the app and its WebKit processes idle in the
//! tray, in the calls, and in a call of three (two peers at 640x480).
//!
//! Run with release builds: `cargo build --release -p tincan-app -p tincan-cli -p tincan-bench` then
//! `TINCAN_PROFILE=release cargo run -p tincan-e2e --bin tincan-display-bench -- --seconds 10`.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tincan_e2e::app::{json_lines, next_line, seed};
use tincan_e2e::display::Display;
use tincan_e2e::process::Guard;
use tincan_e2e::procfs::{cpu_percent, cpu_percent_by_name, cpu_ticks, pss_mb, tree};
use tincan_e2e::{binary, scratch};
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer};

struct Figures {
    cpu: f64,
    cpu_by_process: BTreeMap<String, f64>,
    pss: BTreeMap<String, f64>,
    display: Option<String>,
}

/// CPU (total and per process) over `secs`, then PSS.
fn measure(pid: u32, secs: f64) -> (f64, BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let procs = tree(pid);
    let before = cpu_ticks(&procs);
    std::thread::sleep(Duration::from_secs_f64(secs));
    let after = cpu_ticks(&procs);
    let by_process = cpu_percent_by_name(&procs, &before, &after, secs);
    (cpu_percent(&before, &after, secs), by_process, pss_mb(&tree(pid)))
}

/// One run of the app: `size` None = idle in the tray, no call.
/// The app idle (`size` none) or in a call with `others` `tincan-cli` peers sending at `size`.
fn run(
    url: &str,
    display: &Display,
    size: Option<&str>,
    others: usize,
    hidden: bool,
    secs: f64,
) -> anyhow::Result<Figures> {
    let dir = scratch(&format!("display-bench-{}-{others}-{hidden}", size.unwrap_or("idle")))?;
    // `--join` on the command line follows the settings: no device check before the call.
    seed(&dir, "config", "settings.json", r#"{"display_name": "Bench", "skip_device_check": true}"#)?;
    let room = RoomCode::generate();
    let log = dir.join("app.log");
    let mut app = Command::new(binary("tincan")?);
    app.env("DISPLAY", &display.name).env("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    for (k, v) in tincan_e2e::app::env(&dir, url) {
        app.env(k, v);
    }
    // In the tray: started hidden when idle; a call is joined with the window shown, which is then closed
    // (in a call the window only hides: its webview stays, and gets no frames).
    if hidden && size.is_none() {
        app.arg("--hidden");
    }
    if size.is_some() {
        app.args(["--join", room.as_str()]);
    }
    let app = Guard::spawn(app.stdout(Stdio::null()).stderr(std::fs::File::create(&log)?))?;
    let pid = app.0.id();
    let Some(size) = size else {
        std::thread::sleep(Duration::from_secs(5));
        let (cpu, cpu_by_process, pss) = measure(pid, secs);
        drop(app);
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(Figures { cpu, cpu_by_process, pss, display: None });
    };
    // The first peer makes the room (a group room when others follow); the rest join it.
    let mut peers = Vec::new();
    for i in 0..others {
        let name = format!("Peer{}", i + 1);
        let mut cli = Command::new(binary("tincan-cli")?);
        cli.args(["--server", url, "--name", &name, "join", room.as_str(), "--loopback", "--size", size])
            .args(["--duration", &format!("{}", secs as u64 + 8)])
            .args(match (i, others) {
                (_, 1) => &[][..],
                (0, _) => &["--group"][..],
                _ => &["--existing"][..],
            });
        let mut cli = Guard::spawn(cli.stdout(Stdio::piped()).stderr(Stdio::null()))?;
        let lines = json_lines(cli.0.stdout.take().context("piped")?);
        next_line(&lines, "the peer in the room", |v| {
            v["event"] == "state" && matches!(v["state"].as_str(), Some("waiting" | "connecting" | "connected"))
        })?;
        peers.push((cli, lines));
    }
    let lines = &peers[0].1;
    next_line(lines, "the call to connect", |v| v["event"] == "state" && v["state"] == "connected")?;
    if others > 1 {
        // Everyone sees everyone: the app's tiles for each (its log says nothing per tile, the peers do).
        for (_, l) in &peers {
            for _ in 0..others {
                next_line(l, "video from everyone", |v| v["event"] == "first_frame")?;
            }
        }
    }
    if hidden {
        display.close_app_window(Duration::from_secs(30))?;
    }
    std::thread::sleep(Duration::from_secs(3)); // warm-up: bandwidth estimate ramps, resolution settles
    let (cpu, cpu_by_process, pss) = measure(pid, secs);
    next_line(lines, "the call to end", |v| v["event"] == "state" && v["state"] == "ended")?;
    // The app logs its display figures when the call ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    let display = loop {
        let text = std::fs::read_to_string(&log)?;
        if let Some(line) = text.lines().find(|l| l.contains("remote video display path: ")) {
            break line.split("remote video display path: ").nth(1).map(str::to_owned);
        }
        anyhow::ensure!(Instant::now() < deadline, "the app logged no display figures (see {})", log.display());
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Figures { cpu, cpu_by_process, pss, display })
}

fn pss_line(pss: &BTreeMap<String, f64>) -> String {
    let total: f64 = pss.values().sum();
    let parts: Vec<String> = pss.iter().map(|(n, mb)| format!("{n} {mb:.1}")).collect();
    format!("PSS {total:.1} MB ({})", parts.join(", "))
}

fn cpu_line(f: &Figures) -> String {
    let parts: Vec<String> = f.cpu_by_process.iter().map(|(n, c)| format!("{n} {c:.1}")).collect();
    format!("CPU {:.1} % of a core ({})", f.cpu, parts.join(", "))
}

fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: f64 =
        std::env::args().skip_while(|a| a != "--seconds").nth(1).map(|s| s.parse()).transpose()?.unwrap_or(10.0);
    let server = SignalServer::start(ServerConfig::loopback_unlimited()).await?;
    let url = server.ws_url();
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        // A window manager: closing the window (to the tray) goes through it.
        let display = Display::with_window_manager()?;
        let idle = run(&url, &display, None, 0, true, secs)?;
        println!("idle in the tray: {}, {}", cpu_line(&idle), pss_line(&idle.pss));
        let group = run(&url, &display, Some("640x480"), 2, false, secs)?;
        println!("640x480 call of three, window shown: {}, {}", cpu_line(&group), pss_line(&group.pss));
        for size in ["640x480", "1280x720"] {
            let shown = run(&url, &display, Some(size), 1, false, secs)?;
            let hidden = run(&url, &display, Some(size), 1, true, secs)?;
            let d = shown.display.clone().unwrap_or_default();
            let drawn_fps = field(&d, "drawn") / (secs + 8.0);
            println!("{size} call, window shown:  {}, {}; remote video: {d}", cpu_line(&shown), pss_line(&shown.pss));
            println!("{size} call, window hidden: {}, {}", cpu_line(&hidden), pss_line(&hidden.pss));
            println!(
                "{size} display path: +{:.1} % CPU (app + WebKit), send -> drawn p50 {:.1} / p95 {:.1} ms, capture -> \
                 drawn p50 {:.1} / p95 {:.1} ms, ~{drawn_fps:.1} frames drawn per second of call",
                shown.cpu - hidden.cpu,
                field(&d, "send_to_drawn_ms_p50"),
                field(&d, "send_to_drawn_ms_p95"),
                field(&d, "capture_to_drawn_ms_p50"),
                field(&d, "capture_to_drawn_ms_p95"),
            );
        }
        Ok(())
    })
    .await?;
    server.shutdown().await;
    report
}
