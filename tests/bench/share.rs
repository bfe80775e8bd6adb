//! `tincan-share-bench`: sharing a 1920x1080 screen of fine text (`tincan_rig::screen` on an Xvfb of its own,
//! its stamp redrawn 20 times a second with the wall clock), Tincan against Chromium in one run:
//! * Tincan: `tincan-cli --share screen` (X11 capture, VP8 screen-content mode) to a `tincan-cli` receiver;
//! * Chromium: a Chromium window on the same display shares the entire screen from the guest page
//!   (`getDisplayMedia`, VP8) to the same kind of `tincan-cli` receiver.
//!
//! The senders share only (no camera or microphone: Chromium's fake devices would fake the screen too). For
//! each: capture → decoded p50/p95 (the stamp's capture time is when the test screen drew it, so both
//! include up to 50 ms of waiting to be captured), frames per second decoded, the sender's CPU (its whole
//! process tree) over the window, kbps received in all (camera and share), and the PSNR of the receiver's
//! last picture against the screen (luma and RGB; the stamp, the pointer and the corner where Chromium's own
//! window sits are left out). Prints figures and ratios; asserts nothing. Runs in a network namespace of its
//! own (root). Release: `cargo build --release -p tincan-cli`, then
//! `TINCAN_PROFILE=release cargo run --release -p tincan-e2e --bin tincan-share-bench`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use tincan_e2e::app::{json_lines, next_line};
use tincan_e2e::process::Guard;
use tincan_e2e::procfs::{cpu_percent, cpu_ticks, tree};
use tincan_e2e::webdriver::Driver;
use tincan_e2e::{binary, netns, scratch};
use tincan_rig::screen::{Rgb, TestScreen, psnr, psnr_luma};
use tincan_rig::xvfb::Xvfb;
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer};

#[derive(Parser)]
struct Args {
    /// The measuring window (after 3 s of settling)
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Keep the run's directory (the receivers' snapshots and logs) and print where it is
    #[arg(long)]
    keep: bool,
}

/// Where Chromium's window sits (see `Session::chromium_headed`): left out of the comparison for both.
const CHROMIUM_WINDOW: (usize, usize) = (1500, 760);

#[derive(Debug)]
struct Figures {
    latency_p50: f64,
    latency_p95: f64,
    fps: f64,
    cpu: f64,
    kbps: f64,
    psnr_luma: f64,
    psnr_rgb: f64,
    size: String,
}

impl Figures {
    fn nan() -> Figures {
        let n = f64::NAN;
        Figures { latency_p50: n, latency_p95: n, fps: n, cpu: n, kbps: n, psnr_luma: n, psnr_rgb: n, size: "-".into() }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !netns::enter_program()? {
        return Ok(());
    }
    let xvfb = Xvfb::start(1920, 1080)?;
    let screen = TestScreen::start(&xvfb.display)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let server = runtime.block_on(SignalServer::start(ServerConfig::loopback_unlimited()))?;
    let url = server.ws_url();
    let dir = scratch("share-bench")?;
    let tincan = run(&url, &dir, &xvfb.display, &screen, &args, false)?;
    let chromium = run(&url, &dir, &xvfb.display, &screen, &args, true);
    runtime.block_on(server.shutdown());
    // If Chromium's desktop capture cannot start (it could not with `--use-fake-ui-for-media-stream`, which
    // fakes the screen too), the figures of Tincan stand alone, and the reason is printed.
    let chromium = chromium.unwrap_or_else(|e| {
        println!("chromium not measured: {e}");
        Figures::nan()
    });

    let row = |what: &str, t: f64, c: f64, better_low: bool| {
        let ratio = if better_low { c / t } else { t / c };
        let verdict = if ratio.is_nan() {
            "no ratio".to_owned()
        } else {
            format!("tincan is {ratio:.2}x {}", if ratio >= 1.0 { "better" } else { "worse" })
        };
        println!("{what:<32} tincan {t:>8.1}   chromium {c:>8.1}   {verdict}");
    };
    println!("share bench: 1920x1080 text screen, {:.0} s window, VP8, the share alone", args.seconds);
    row("capture -> decoded p50 ms", tincan.latency_p50, chromium.latency_p50, true);
    row("capture -> decoded p95 ms", tincan.latency_p95, chromium.latency_p95, true);
    row("share fps decoded", tincan.fps, chromium.fps, false);
    row("sender CPU % of a core", tincan.cpu, chromium.cpu, true);
    row("kbps received", tincan.kbps, chromium.kbps, true);
    row("PSNR luma dB", tincan.psnr_luma, chromium.psnr_luma, false);
    row("PSNR RGB dB", tincan.psnr_rgb, chromium.psnr_rgb, false);
    println!("  share received at: tincan {}; chromium {}", tincan.size, chromium.size);
    if args.keep {
        println!("  snapshots and logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// The receiver's `--stats` lines' kbps in, averaged over the lines from `from_ms` on.
fn mean_kbps(lines: &[Value], from_ms: f64) -> f64 {
    let v: Vec<f64> = lines
        .iter()
        .filter(|l| l["event"] == "stats" && l["t_ms"].as_f64().unwrap_or(0.0) >= from_ms)
        .filter_map(|l| l["kbps_in"].as_f64())
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn run(
    url: &str,
    dir: &Path,
    display: &str,
    screen: &TestScreen,
    args: &Args,
    chromium: bool,
) -> anyhow::Result<Figures> {
    let room = RoomCode::generate().as_str().to_owned();
    let who = if chromium { "chromium" } else { "tincan" };
    let snapshots = dir.join(format!("snapshots-{who}"));
    // The receiver: creates the room and waits.
    let mut receiver = Guard::spawn(
        Command::new(binary("tincan-cli")?)
            .args(["--server", url, "--name", "Receiver", "join", &room, "--loopback", "--size", "640x480"])
            .args(["--stats", "--snapshot"])
            .arg(&snapshots)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join(format!("receiver-{who}.log")))?),
    )?;
    let lines = json_lines(receiver.0.stdout.take().expect("piped"));
    next_line(&lines, "the receiver waiting", |v| v["event"] == "state" && v["state"] == "waiting")?;

    let mut _sharer = None;
    let mut _browser = None;
    let sender_root;
    if chromium {
        let driver = Driver::chromium_on(display, &dir.join("chromedriver.log"))?;
        let session = driver.chromium_headed(&dir.join("profile"))?;
        let http = url.replace("ws://", "http://").trim_end_matches("/ws").to_owned();
        session.navigate(&format!("{http}/r/{room}?name=Chromium&codec=vp8&video=none"))?;
        session.wait_for("Chromium connected", Duration::from_secs(30), "return tincanGuest.phase === 'connected'")?;
        session.click("#share")?;
        sender_root = driver.pid();
        _browser = Some((driver, session));
    } else {
        let guard = Guard::spawn(
            Command::new(binary("tincan-cli")?)
                .args(["--server", url, "--name", "Tincan", "join", &room, "--loopback", "--size", "640x480"])
                .args(["--share", "screen", "--video", "none", "--audio", "none"])
                .env("DISPLAY", display)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        sender_root = guard.0.id();
        _sharer = Some(guard);
    }
    let started = next_line(&lines, "the share at the receiver", |v| v["event"] == "share" && v["sharing"] == true)
        .map_err(|e| {
            let page = _browser.as_ref().map(|(_, s)| {
                s.run("return [...document.querySelectorAll('#messages li')].map(l => l.textContent)", json!([]))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            });
            anyhow::anyhow!("{who}: {e}; the page says {page:?}")
        })?;
    let from_ms = started["t_ms"].as_f64().unwrap_or(0.0) + 3000.0;
    std::thread::sleep(Duration::from_secs(3));
    let mut procs = tree(sender_root);
    if chromium {
        procs.remove(&sender_root); // chromedriver itself
    }
    let before = cpu_ticks(&procs);
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    let cpu = cpu_percent(&before, &cpu_ticks(&procs), args.seconds);
    // Hang up from the receiver's side: a signal ends it (its summary and snapshots follow).
    // SAFETY: signalling our own child.
    unsafe { libc::kill(receiver.0.id() as i32, libc::SIGINT) };
    let mut seen = Vec::new();
    let summary = loop {
        let v = lines
            .recv_timeout(Duration::from_secs(30))
            .map_err(|e| anyhow::anyhow!("{who}: no summary from the receiver ({e}); it said {:?}", seen.last()))?;
        seen.push(v.clone());
        if v["event"] == "summary" {
            break v;
        }
    };
    let tracks = summary["participants"][0]["tracks"].as_array().cloned().unwrap_or_default();
    let share = tracks.iter().find(|t| t["kind"] == "screen").cloned().unwrap_or_default();
    let sender_name = if chromium { "Chromium" } else { "Tincan" };
    let got = Rgb::load_png(&snapshots.join(format!("{sender_name}-screen.png")))?;
    let (cx, cy) = CHROMIUM_WINDOW;
    let in_chromium_window = |x: usize, y: usize| x >= cx && y >= cy;
    let counted = |x: usize, y: usize| !(screen.moving(x, y) || in_chromium_window(x, y));
    let (luma, rgb) = if (got.width, got.height) == (1920, 1080) {
        (
            psnr_luma(screen.screen_rgb(), &got, counted).unwrap_or(f64::NAN),
            psnr(screen.screen_rgb(), &got, counted).unwrap_or(f64::NAN),
        )
    } else {
        (f64::NAN, f64::NAN) // sent scaled down: not comparable pixel for pixel
    };
    Ok(Figures {
        latency_p50: share["latency_ms_p50"].as_f64().unwrap_or(f64::NAN),
        latency_p95: share["latency_ms_p95"].as_f64().unwrap_or(f64::NAN),
        fps: share["fps"].as_f64().unwrap_or(f64::NAN),
        cpu,
        kbps: mean_kbps(&seen, from_ms),
        psnr_luma: luma,
        psnr_rgb: rgb,
        size: format!("{}x{}", share["width"], share["height"]),
    })
}
