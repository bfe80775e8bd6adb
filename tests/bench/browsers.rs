//! `tincan-browser-bench`: Tincan's engine against the reference browser stack, in one run on one machine.
//! Chromium ↔ Chromium (headless, on the guest page, fake camera playing a 1280x720 Y4M) and tincan-cli ↔
//! tincan-cli (the engine, test pattern at 1280x720), both VP8 at 30 fps through the same signaling server:
//! * call setup: the joiner's join → its first decoded (Chromium: presented) frame, p50 of `--runs`;
//! * data channel: join → the data channel open, and a `--megabytes` file through it (offer → verified);
//! * CPU per peer during a 720p30 call (each browser's whole process tree; each tincan-cli process).
//!
//! With `--group N`: a group call of N people at 640x480 instead, N tincan-cli peers against N Chromium
//! guests: CPU and memory per peer, and the time from the last person's join to seeing all the others (a
//! browser encodes its camera once per connection; the engine once for everyone).
//!
//! It prints figures and ratios and asserts nothing. Runs in a network namespace of its own (root).
//! Release builds: `cargo build --release -p tincan-cli -p tincan-bench` then
//! `TINCAN_PROFILE=release cargo run --release -p tincan-e2e --bin tincan-browser-bench`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use tincan_e2e::app::{json_lines, next_line};
use tincan_e2e::process::Guard;
use tincan_e2e::procfs::{cpu_percent, cpu_ticks, tree};
use tincan_e2e::webdriver::{Driver, Session};
use tincan_e2e::{binary, fixtures, netns, scratch};
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer};

#[derive(Parser)]
struct Args {
    /// Calls set up per stack (setup and data-channel open are p50 over these)
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// File size for the data-channel throughput
    #[arg(long, default_value_t = 20)]
    megabytes: usize,
    /// CPU measuring window during the 720p call
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Compare a group call of this many people instead (640x480)
    #[arg(long)]
    group: Option<usize>,
}

#[derive(Default, Debug)]
struct Figures {
    setup_ms: Vec<f64>,
    data_open_ms: Vec<f64>,
    throughput_mb_s: f64,
    cpu: [f64; 2],
    received: String,
}

fn p50(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !netns::enter_program()? {
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let server = runtime.block_on(SignalServer::start(ServerConfig::loopback_unlimited()))?;
    let url = server.ws_url();
    let dir = scratch("browser-bench")?;
    if let Some(people) = args.group {
        let result = group(&url, &dir, people, args.seconds);
        runtime.block_on(server.shutdown());
        let _ = std::fs::remove_dir_all(dir);
        return result;
    }
    let engine = engine(&url, &dir, &args)?;
    let chromium = chromium(&url, &dir, &args)?;
    runtime.block_on(server.shutdown());

    let row = |what: &str, t: f64, c: f64, better_low: bool| {
        let ratio = if better_low { c / t } else { t / c };
        println!(
            "{what:<34} tincan {t:>9.1}   chromium {c:>9.1}   tincan is {ratio:.2}x {}",
            if ratio >= 1.0 { "better" } else { "worse" }
        );
    };
    println!(
        "browser bench: {} runs, {} MB file, {:.0} s CPU window, 1280x720 VP8 30 fps",
        args.runs, args.megabytes, args.seconds
    );
    row("setup p50 (join -> frame) ms", p50(&engine.setup_ms), p50(&chromium.setup_ms), true);
    row("data channel open p50 ms", p50(&engine.data_open_ms), p50(&chromium.data_open_ms), true);
    row("data channel throughput MB/s", engine.throughput_mb_s, chromium.throughput_mb_s, false);
    row(
        "CPU % per peer (mean of two)",
        (engine.cpu[0] + engine.cpu[1]) / 2.0,
        (chromium.cpu[0] + chromium.cpu[1]) / 2.0,
        true,
    );
    println!("  tincan   peers {:.1} % / {:.1} %, received {}", engine.cpu[0], engine.cpu[1], engine.received);
    println!("  chromium peers {:.1} % / {:.1} %, received {}", chromium.cpu[0], chromium.cpu[1], chromium.received);
    println!("  setup ms: tincan {:?}; chromium {:?}", round(&engine.setup_ms), round(&chromium.setup_ms));
    println!(
        "  data channel open ms: tincan {:?}; chromium {:?}",
        round(&engine.data_open_ms),
        round(&chromium.data_open_ms)
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn round(v: &[f64]) -> Vec<i64> {
    v.iter().map(|x| x.round() as i64).collect()
}

/// One tincan-cli peer; `extra` arguments after `join ROOM`.
fn cli(
    url: &str,
    dir: &Path,
    room: &str,
    name: &str,
    extra: &[&str],
) -> anyhow::Result<(Guard, std::sync::mpsc::Receiver<Value>)> {
    let mut command = Command::new(binary("tincan-cli")?);
    command
        .args(["--server", url, "--name", name, "join", room, "--loopback", "--codec", "vp8", "--size", "1280x720"])
        .arg("--download-dir")
        .arg(dir.join("downloads"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut process = Guard::spawn(&mut command)?;
    let lines = json_lines(process.0.stdout.take().expect("piped"));
    Ok((process, lines))
}

fn t_ms(v: &Value) -> f64 {
    v["t_ms"].as_f64().unwrap_or(f64::NAN)
}

fn engine(url: &str, dir: &Path, args: &Args) -> anyhow::Result<Figures> {
    let mut f = Figures::default();
    let file = dir.join("engine-file.bin");
    std::fs::write(
        &file,
        (0..args.megabytes << 20).map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8).collect::<Vec<_>>(),
    )?;
    for run in 0..=args.runs {
        let room = RoomCode::generate().as_str().to_owned();
        let last = run == args.runs;
        let seconds = if last { format!("{}", args.seconds + 4.0) } else { "3".into() };
        let (_a, a_lines) = cli(url, dir, &room, "A", &["--duration", &seconds])?;
        next_line(&a_lines, "A waiting", |v| v["state"] == "waiting")?;
        let send: Vec<String> = if run == 0 { vec!["--send-file".into(), file.display().to_string()] } else { vec![] };
        let mut extra: Vec<&str> = vec!["--existing", "--duration", &seconds];
        extra.extend(send.iter().map(String::as_str));
        let (b, b_lines) = cli(url, dir, &room, "B", &extra)?;
        let joining = t_ms(&next_line(&b_lines, "B joining", |v| v["state"] == "joining")?);
        let mut first_frame = None;
        let mut data = None;
        while first_frame.is_none() || data.is_none() {
            let v = next_line(&b_lines, "B's first frame and data channel", |v| {
                v["event"] == "first_frame" || v["event"] == "data_ready"
            })?;
            if v["event"] == "first_frame" {
                first_frame = Some(t_ms(&v) - joining);
            } else {
                data = Some(t_ms(&v) - joining);
            }
        }
        f.setup_ms.push(first_frame.unwrap_or(f64::NAN));
        f.data_open_ms.push(data.unwrap_or(f64::NAN));
        if run == 0 {
            // B sends; A receives and verifies: offer → completed at A.
            let started = t_ms(&next_line(&a_lines, "the file offered", |v| v["file"] == "started")?);
            let done = t_ms(&next_line(&a_lines, "the file verified", |v| v["file"] == "completed")?);
            f.throughput_mb_s = args.megabytes as f64 * 1.048_576 / ((done - started) / 1000.0);
        }
        if last {
            std::thread::sleep(Duration::from_secs(2));
            let pids = [_a.0.id(), b.0.id()];
            let procs: Vec<_> = pids.iter().map(|p| tree(*p)).collect();
            let before: Vec<_> = procs.iter().map(cpu_ticks).collect();
            std::thread::sleep(Duration::from_secs_f64(args.seconds));
            for i in 0..2 {
                f.cpu[i] = cpu_percent(&before[i], &cpu_ticks(&procs[i]), args.seconds);
            }
            let stats = next_line(&b_lines, "B's summary", |v| v["event"] == "summary")?;
            f.received = format!(
                "{} frames at B in {:.0} s ({} unreadable)",
                stats["frames_decoded"],
                args.seconds + 4.0,
                stats["frames_unreadable"]
            );
        } else {
            next_line(&b_lines, "B's summary", |v| v["event"] == "summary")?;
        }
    }
    Ok(f)
}

fn chromium(url: &str, dir: &Path, args: &Args) -> anyhow::Result<Figures> {
    let http = url.replace("ws://", "http://").trim_end_matches("/ws").to_owned();
    let camera = dir.join("camera-720p.y4m");
    let microphone = dir.join("microphone.wav");
    fixtures::pattern_y4m(&camera, 1280, 720, 30)?;
    fixtures::tone_wav(&microphone, 660.0, 5.0)?;
    let browser = |name: &str| -> anyhow::Result<(Driver, Session)> {
        let driver = Driver::chromium(&dir.join(format!("chromedriver-{name}.log")))?;
        let session = driver.chromium_with_media(&dir.join(format!("profile-{name}")), &camera, &microphone)?;
        Ok((driver, session))
    };
    let (a_driver, a) = browser("a")?;
    let (b_driver, b) = browser("b")?;
    let wait = Duration::from_secs(30);
    let mut f = Figures::default();
    for run in 0..=args.runs {
        let room = RoomCode::generate().as_str().to_owned();
        let page = |name: &str, create: bool| {
            format!("{http}/r/{room}?name={name}&codec=vp8&video=1280x720{}", if create { "&create=1" } else { "" })
        };
        a.navigate(&page("A", true))?;
        a.wait_for("A waiting", wait, "return tincanGuest.phase === 'waiting'")?;
        b.navigate(&page("B", false))?;
        let marks = b.wait_for(
            "B's first frame and data channel",
            wait,
            "const m = tincanGuest.marks; return m.firstFrame !== undefined && m.dataOpen !== undefined ? m : null",
        )?;
        f.setup_ms.push(marks["firstFrame"].as_f64().unwrap_or(f64::NAN));
        f.data_open_ms.push(marks["dataOpen"].as_f64().unwrap_or(f64::NAN));
        // Same work as the engine: 720p, not a resolution Chromium's adaptation picks (on two cores it drops
        // to 480x270 and would be measured doing a ninth of the pixels).
        for s in [&a, &b] {
            s.run(HOLD_RESOLUTION, json!([]))?;
        }
        if run == 0 {
            b.run("tincanGuest.sendGenerated(arguments[0]); return true", json!([args.megabytes]))?;
            let got = a.wait_for("the file at A", Duration::from_secs(120), "return tincanGuest.files[0]")?;
            f.throughput_mb_s = args.megabytes as f64 * 1.048_576 / (got["ms"].as_f64().unwrap_or(f64::NAN) / 1000.0);
        }
        if run == args.runs {
            std::thread::sleep(Duration::from_secs(2));
            // Each browser's processes, without chromedriver itself.
            let procs = [&a_driver, &b_driver].map(|d| {
                let mut t = tree(d.pid());
                t.remove(&d.pid());
                t
            });
            let before: Vec<_> = procs.iter().map(cpu_ticks).collect();
            let frames_before = decoded(&b)?;
            std::thread::sleep(Duration::from_secs_f64(args.seconds));
            for i in 0..2 {
                f.cpu[i] = cpu_percent(&before[i], &cpu_ticks(&procs[i]), args.seconds);
            }
            let stats = stats(&b)?;
            let frames = stats["video"]["framesDecoded"].as_f64().unwrap_or(0.0) - frames_before;
            f.received = format!(
                "{:.1} fps decoded at B, {}x{}",
                frames / args.seconds,
                stats["video"]["width"],
                stats["video"]["height"]
            );
        }
        a.navigate("about:blank")?;
        b.navigate("about:blank")?;
    }
    Ok(f)
}

/// A group call, engine against Chromium: see the module documentation.
fn group(url: &str, dir: &Path, people: usize, seconds: f64) -> anyhow::Result<()> {
    anyhow::ensure!(people >= 3, "a group has three people or more");
    let capacity = people.to_string();
    // The engine: everyone but the last, then the last.
    let room = RoomCode::generate().as_str().to_owned();
    let hold = seconds + 20.0;
    let spawn = |name: &str, duration: f64| -> anyhow::Result<(Guard, std::sync::mpsc::Receiver<Value>)> {
        let mut command = Command::new(binary("tincan-cli")?);
        command
            .args(["--server", url, "--name", name, "join", &room, "--loopback", "--size", "640x480"])
            .args(["--capacity", &capacity, "--duration", &duration.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut process = Guard::spawn(&mut command)?;
        let lines = json_lines(process.0.stdout.take().expect("piped"));
        Ok((process, lines))
    };
    let mut engines = Vec::new();
    for i in 0..people - 1 {
        engines.push(spawn(&format!("P{i}"), hold)?);
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(2));
    // The last stays `seconds` + 4 after connecting, then says what it decoded.
    let last_for = seconds + 4.0;
    let last = spawn("Last", last_for)?;
    let mut seen = std::collections::HashSet::new();
    let engine_sees_all = loop {
        let v = next_line(&last.1, "the last engine's first frames", |v| v["event"] == "first_frame")?;
        seen.insert(v["peer"].as_str().unwrap_or("").to_owned());
        if seen.len() == people - 1 {
            break t_ms(&v);
        }
    };
    engines.push(last);
    std::thread::sleep(Duration::from_secs(2));
    let pids: Vec<u32> = engines.iter().map(|(g, _)| g.0.id()).collect();
    let procs: Vec<_> = pids.iter().map(|p| tree(*p)).collect();
    let before: Vec<_> = procs.iter().map(cpu_ticks).collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let engine_cpu: Vec<f64> = procs.iter().zip(&before).map(|(p, b)| cpu_percent(b, &cpu_ticks(p), seconds)).collect();
    let engine_rss: Vec<f64> = pids.iter().map(|p| rss_mb(*p)).collect();
    let summary =
        next_line(&engines.last().expect("people").1, "the last engine's summary", |v| v["event"] == "summary")?;
    let engine_received: Vec<String> = summary["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{:.1} fps", p["frames_decoded"].as_f64().unwrap_or(0.0) / last_for))
        .collect();
    drop(engines);

    // Chromium: one browser per person on the guest page.
    let http = url.replace("ws://", "http://").trim_end_matches("/ws").to_owned();
    let camera = dir.join("camera-480p.y4m");
    let microphone = dir.join("microphone.wav");
    fixtures::pattern_y4m(&camera, 640, 480, 30)?;
    fixtures::tone_wav(&microphone, 660.0, 5.0)?;
    let room = RoomCode::generate().as_str().to_owned();
    let mut browsers = Vec::new();
    let wait = Duration::from_secs(60);
    for i in 0..people {
        let driver = Driver::chromium(&dir.join(format!("chromedriver-group-{i}.log")))?;
        let session = driver.chromium_with_media(&dir.join(format!("profile-group-{i}")), &camera, &microphone)?;
        let create = if i == 0 { format!("&create=1&capacity={people}") } else { String::new() };
        session.navigate(&format!("{http}/r/{room}?name=C{i}&codec=vp8&video=640x480{create}"))?;
        if i + 1 < people {
            session.wait_for("in the room", wait, "return ['waiting', 'connected'].includes(tincanGuest.phase)")?;
        }
        browsers.push((driver, session));
    }
    let (_, last) = browsers.last().expect("people");
    let others = people - 1;
    // Polled by WebDriver: within its polling interval (tens of milliseconds).
    let chromium_sees_all = last.wait_for(
        "the last browser playing everyone",
        wait,
        &format!(
            "const v = [...document.querySelectorAll('#tiles video')]; \
             return v.length === {others} && v.every(e => e.videoWidth > 0) ? tincanGuest.sinceJoin() : null"
        ),
    )?;
    std::thread::sleep(Duration::from_secs(2));
    for (_, s) in &browsers {
        s.run(HOLD_RESOLUTION_ALL, json!([]))?;
    }
    let procs: Vec<_> = browsers
        .iter()
        .map(|(d, _)| {
            let mut t = tree(d.pid());
            t.remove(&d.pid());
            t
        })
        .collect();
    let before: Vec<_> = procs.iter().map(cpu_ticks).collect();
    let decoded_before = people_decoded(last)?;
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let chromium_cpu: Vec<f64> =
        procs.iter().zip(&before).map(|(p, b)| cpu_percent(b, &cpu_ticks(p), seconds)).collect();
    // What the last browser got meanwhile: frames per second and size of each person's video.
    let received: Vec<String> = people_decoded(last)?
        .iter()
        .zip(&decoded_before)
        .map(|((after, size), (before, _))| format!("{:.1} fps {size}", (after - before) / seconds))
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!("group bench: {people} people, 640x480 VP8, {seconds:.0} s CPU window");
    println!(
        "CPU % per peer (mean)              tincan {:>9.1}   chromium {:>9.1}   tincan uses {:.2}x",
        mean(&engine_cpu),
        mean(&chromium_cpu),
        mean(&engine_cpu) / mean(&chromium_cpu)
    );
    println!(
        "  tincan   peers {engine_cpu:.1?} %, RSS {engine_rss:.1?} MB; the last one decoded {engine_received:?} (640x480)"
    );
    println!("  chromium peers {chromium_cpu:.1?} % (each browser's process tree); the last one decoded {received:?}");
    println!(
        "last to join sees all {others} others  tincan {engine_sees_all:>9.0}   chromium {:>9.0}   ms (engine: \
         first frame of each decoded; Chromium: every tile playing)",
        chromium_sees_all.as_f64().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// Frames decoded so far and the frame size, for each person a guest page receives.
fn people_decoded(session: &Session) -> anyhow::Result<Vec<(f64, String)>> {
    let text = session.run("return tincanGuest.people().then(p => JSON.stringify(p))", json!([]))?;
    let people: Value = serde_json::from_str(text.as_str().unwrap_or("[]"))?;
    Ok(people
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let v = &p["stats"]["video"];
            (v["framesDecoded"].as_f64().unwrap_or(0.0), format!("{}x{}", v["width"], v["height"]))
        })
        .collect())
}

/// Resident memory of a process, MB.
fn rss_mb(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Every sender of every connection keeps its resolution (see `HOLD_RESOLUTION`).
const HOLD_RESOLUTION_ALL: &str = "const pcs = tincanGuest.peerConnections(); \
    return Promise.all(pcs.flatMap(pc => pc.getSenders()).filter(s => s.track && s.track.kind === 'video') \
    .map(s => { const p = s.getParameters(); p.degradationPreference = 'maintain-resolution'; \
    return s.setParameters(p); })).then(() => true)";

fn stats(session: &Session) -> anyhow::Result<Value> {
    let text = session.run("return tincanGuest.stats().then(s => JSON.stringify(s))", json!([]))?;
    Ok(serde_json::from_str(text.as_str().unwrap_or("{}"))?)
}

fn decoded(session: &Session) -> anyhow::Result<f64> {
    Ok(stats(session)?["video"]["framesDecoded"].as_f64().unwrap_or(0.0))
}

const HOLD_RESOLUTION: &str = "return Promise.all(tincanGuest.peerConnection().getSenders() \
    .filter(s => s.track && s.track.kind === 'video').map(s => { const p = s.getParameters(); \
    p.degradationPreference = 'maintain-resolution'; return s.setParameters(p); })).then(() => true)";
