//! `tincan-bench`: figures for the call engine on this machine — call setup, capture-to-decoded latency,
//! CPU and memory of a peer, data channel open time and throughput, a group call against a call for two, and
//! memory across call cycles. It
//! starts what it needs (the signaling server in-process, `tincan-cli` peers as processes) and prints
//! figures; it asserts nothing. Build it in release: `cargo build --release -p tincan-cli -p tincan-bench`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use clap::{Parser, Subcommand};
use tincan_engine::peer::{PeerEvent, PeerSettings, build_peer, live_handlers};
use tincan_engine::{Call, CallConfig, EngineEvent, FileEvent, Target};
use tincan_media::codec::VideoCodec;
use tincan_media::synthetic::{TestPattern, ToneSource, Waveform, read_stamp, wall_clock_us};
use tincan_signal::code::RoomCode;
use tincan_signal::server::{ServerConfig, SignalServer, TurnConfig};
use tokio::sync::mpsc::UnboundedReceiver;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::PeerConnection;

#[derive(Parser)]
#[command(name = "tincan-bench", about = "Call engine benchmarks (prints figures)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Bench>,
}

#[derive(Subcommand, Clone)]
enum Bench {
    /// Join of the second peer → first decoded remote video frame
    Setup {
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Capture → decoded latency at 640x480 and 1280x720, 30 fps, VP8 and H.264
    Latency {
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// CPU and memory of one peer (a tincan-cli process) in a two-way call
    Cpu {
        #[arg(long, default_value = "1280x720")]
        size: String,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value = "vp8")]
        codec: VideoCodec,
    },
    /// Data channel: time to open and reliable throughput
    Datachannel {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 100)]
        megabytes: usize,
    },
    /// Through TURN (a coturn this starts) reached over UDP, TCP and TLS: call setup with relay-only peers and
    /// file throughput, side by side and against direct
    Relay {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 20)]
        megabytes: usize,
    },
    /// A 640x480 VP8 call with random UDP loss (iptables in a network namespace of its own: needs root,
    /// unshare and iptables): fps, freezes, audio concealment and frequency
    Loss {
        #[arg(long, default_value_t = 10.0)]
        percent: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// A group call of `people` tincan-cli peers (VP8): CPU and memory per peer against a call for two at the
    /// same size in the same run, and the time from the last person's join to seeing all the others (Chromium
    /// guests on the guest page, for comparison: `tincan-browser-bench --group`)
    Group {
        #[arg(long, default_value_t = 4)]
        people: usize,
        #[arg(long, default_value = "640x480")]
        size: String,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// How many times the last person joins, for the time to see everyone
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Memory across call/hang-up cycles in one process
    Cycles {
        #[arg(long, default_value_t = 50)]
        count: usize,
    },
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    format!("p50 {:.1} ms, p95 {:.1} ms (n={})", percentile(&values, 0.5), percentile(&values, 0.95), values.len())
}

/// A `Key:   N kB` figure of a /proc file, in MB.
fn proc_mb(pid: u32, file: &str, key: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn rss_mb(pid: u32) -> f64 {
    proc_mb(pid, "status", "VmRSS:")
}

fn pss_mb(pid: u32) -> f64 {
    proc_mb(pid, "smaps_rollup", "Pss:")
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A call config for a benchmark peer; decoded stamps go to `frames` as (counter, age in µs, when).
fn peer_config(
    url: &str,
    codec: VideoCodec,
    size: (u32, u32),
    frames: Arc<Mutex<Vec<(u32, u32, Instant)>>>,
) -> anyhow::Result<CallConfig> {
    let mut c = CallConfig::new(url);
    c.peer = PeerSettings { video_codecs: vec![codec], ..PeerSettings::loopback() };
    c.video_source = Some(Box::new(TestPattern::new(size.0, size.1, 30, true)?));
    c.audio_source = Some(Box::new(ToneSource::new(Waveform::Sine { hz: 440.0 }, 0.5, true)));
    c.video_sink = Some(Box::new(move |f| {
        let now = wall_clock_us();
        if let Some(s) = read_stamp(&f) {
            frames.lock().expect("lock").push((s.counter, s.age_us(now), Instant::now()));
        }
    }));
    Ok(c)
}

async fn wait_state(events: &mut UnboundedReceiver<EngineEvent>, wanted: &str) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(e) = events.recv().await {
            if let EngineEvent::State { state, reason, .. } = &e {
                if state == wanted {
                    return Ok(());
                }
                if state == "ended" {
                    bail!("call ended ({reason:?}) while waiting for {wanted}");
                }
            }
        }
        bail!("events ended")
    })
    .await
    .context("timed out")?
}

async fn hang_up_both(a: &Call, ae: &mut UnboundedReceiver<EngineEvent>, be: &mut UnboundedReceiver<EngineEvent>) {
    a.hang_up();
    let _ = wait_state(ae, "ended").await;
    let _ = wait_state(be, "ended").await;
}

async fn setup(url: &str, runs: usize) -> anyhow::Result<()> {
    for codec in [VideoCodec::Vp8, VideoCodec::H264] {
        let (mut at_joiner, mut at_first) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let room = RoomCode::generate();
            let fa = Arc::new(Mutex::new(Vec::new()));
            let fb = Arc::new(Mutex::new(Vec::new()));
            let (a, mut ae) = Call::start(
                peer_config(url, codec, (640, 480), fa.clone())?,
                Target::Room { code: room.clone(), create: true },
            );
            wait_state(&mut ae, "waiting").await?;
            let t0 = Instant::now();
            let (_b, mut be) = Call::start(
                peer_config(url, codec, (640, 480), fb.clone())?,
                Target::Room { code: room, create: true },
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while (fa.lock().expect("lock").is_empty() || fb.lock().expect("lock").is_empty())
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if let Some(f) = fb.lock().expect("lock").first() {
                at_joiner.push(f.2.duration_since(t0).as_secs_f64() * 1000.0);
            }
            if let Some(f) = fa.lock().expect("lock").first() {
                at_first.push(f.2.duration_since(t0).as_secs_f64() * 1000.0);
            }
            hang_up_both(&a, &mut ae, &mut be).await;
        }
        println!("setup {codec:<5}      joiner's first decoded frame {}", summary(at_joiner));
        println!("setup {codec:<5}      first peer's first decoded frame {}", summary(at_first));
    }
    Ok(())
}

async fn latency(url: &str, seconds: u64) -> anyhow::Result<()> {
    for size in [(640, 480), (1280, 720)] {
        for codec in [VideoCodec::Vp8, VideoCodec::H264] {
            let room = RoomCode::generate();
            let fa = Arc::new(Mutex::new(Vec::new()));
            let fb = Arc::new(Mutex::new(Vec::new()));
            let (a, mut ae) = Call::start(
                peer_config(url, codec, size, fa.clone())?,
                Target::Room { code: room.clone(), create: true },
            );
            wait_state(&mut ae, "waiting").await?;
            let (_b, mut be) =
                Call::start(peer_config(url, codec, size, fb.clone())?, Target::Room { code: room, create: true });
            wait_state(&mut be, "connected").await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            fb.lock().expect("lock").clear();
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            let frames = std::mem::take(&mut *fb.lock().expect("lock"));
            let ages: Vec<f64> = frames.iter().map(|f| f.1 as f64 / 1000.0).collect();
            let gaps = frames.windows(2).filter(|w| w[1].0 != w[0].0 + 1).count();
            println!(
                "latency {codec:<5} {}x{}  capture→decoded {}, {:.1} fps, {gaps} gaps",
                size.0,
                size.1,
                summary(ages),
                frames.len() as f64 / seconds as f64
            );
            hang_up_both(&a, &mut ae, &mut be).await;
        }
    }
    Ok(())
}

async fn cpu(url: &str, size: &str, seconds: u64, codec: VideoCodec) -> anyhow::Result<()> {
    let cli = std::env::current_exe()?.with_file_name("tincan-cli");
    let room = RoomCode::generate();
    let spawn = |name: &str| {
        std::process::Command::new(&cli)
            .args(["--server", url, "--name", name, "join", room.as_str(), "--loopback", "--size", size])
            .args(["--codec", &codec.name().to_lowercase(), "--duration", &(seconds + 4).to_string()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", cli.display()))
    };
    let mut a = spawn("A")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut b = spawn("B")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (t0, c0) = (Instant::now(), cpu_seconds(a.id()));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu_pct = (cpu_seconds(a.id()) - c0) / t0.elapsed().as_secs_f64() * 100.0;
    println!(
        "peer {codec:<5} {size} two-way  CPU {cpu_pct:.0} % of one core, RSS {:.1} MB, PSS {:.1} MB (one tincan-cli process)",
        rss_mb(a.id()),
        pss_mb(a.id())
    );
    let _ = a.wait();
    let _ = b.wait();
    Ok(())
}

/// A tincan-cli peer in `room` (a room for `capacity`), its stdout as JSON lines.
fn group_peer(
    url: &str,
    room: &RoomCode,
    name: &str,
    size: &str,
    capacity: usize,
    duration: u64,
) -> anyhow::Result<(std::process::Child, std::sync::mpsc::Receiver<serde_json::Value>)> {
    let cli = std::env::current_exe()?.with_file_name("tincan-cli");
    let mut child = std::process::Command::new(&cli)
        .args(["--server", url, "--name", name, "join", room.as_str(), "--loopback", "--size", size])
        .args(["--capacity", &capacity.to_string(), "--duration", &duration.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", cli.display()))?;
    let out = std::io::BufReader::new(child.stdout.take().context("piped")?);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in out.lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    Ok((child, rx))
}

/// CPU (% of one core, averaged over the processes) and RSS (MB, averaged) over `seconds`.
async fn cpu_and_rss(pids: &[u32], seconds: u64) -> (f64, f64) {
    let (t0, c0): (Instant, Vec<f64>) = (Instant::now(), pids.iter().map(|p| cpu_seconds(*p)).collect());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let n = pids.len() as f64;
    let cpu = pids.iter().zip(&c0).map(|(p, c)| (cpu_seconds(*p) - c) / elapsed * 100.0).sum::<f64>() / n;
    let rss = pids.iter().map(|p| rss_mb(*p)).sum::<f64>() / n;
    (cpu, rss)
}

/// Milliseconds (since its call started) until `lines` showed a first frame from `others` people.
fn time_to_see(lines: &std::sync::mpsc::Receiver<serde_json::Value>, others: usize) -> anyhow::Result<f64> {
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Ok(v) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if v["event"] == "first_frame"
            && let Some(peer) = v["peer"].as_str()
        {
            seen.insert(peer.to_owned());
            if seen.len() == others {
                return v["t_ms"].as_f64().context("t_ms");
            }
        }
    }
    anyhow::bail!("saw {} of {others} people within 30 s", seen.len())
}

async fn group(url: &str, people: usize, size: &str, seconds: u64, runs: usize) -> anyhow::Result<()> {
    anyhow::ensure!(people >= 3, "a group has three people or more");
    // A call for two at the same size, for the ratio.
    let room = RoomCode::generate();
    let (mut a, _a_lines) = group_peer(url, &room, "A", size, 2, seconds + 5)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut b, _b_lines) = group_peer(url, &room, "B", size, 2, seconds + 5)?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (pair_cpu, pair_rss) = cpu_and_rss(&[a.id(), b.id()], seconds).await;
    let _ = (a.wait(), b.wait());
    println!("group   two people  {size} VP8: CPU {pair_cpu:.0} % of one core per peer, RSS {pair_rss:.1} MB");

    // The group: everyone but the last, then the last joins (`runs` times: it leaves and comes back).
    let room = RoomCode::generate();
    let hold = seconds + 8 + runs as u64 * 6;
    let mut first: Vec<std::process::Child> = Vec::new();
    for i in 0..people - 1 {
        first.push(group_peer(url, &room, &format!("P{i}"), size, people, hold)?.0);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut to_see = Vec::new();
    for _ in 0..runs {
        let (mut last, lines) = group_peer(url, &room, "Last", size, people, 4)?;
        to_see.push(time_to_see(&lines, people - 1)?);
        let _ = last.wait();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (mut last, _lines) = group_peer(url, &room, "Last", size, people, seconds + 4)?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut pids: Vec<u32> = first.iter().map(|c| c.id()).collect();
    pids.push(last.id());
    let (cpu, rss) = cpu_and_rss(&pids, seconds).await;
    let _ = last.wait();
    for mut c in first {
        let _ = c.kill();
        let _ = c.wait();
    }
    println!(
        "group   {people} people    {size} VP8: CPU {cpu:.0} % of one core per peer ({:.2}x the call for two), RSS {rss:.1} MB ({:.2}x)",
        cpu / pair_cpu,
        rss / pair_rss
    );
    println!("group   the last to join sees all {} others after {}", people - 1, summary(to_see));
    Ok(())
}

/// Two peer connections in this process, signaled directly, with one negotiated data channel.
async fn dc_pair() -> anyhow::Result<(
    Arc<dyn PeerConnection>,
    Arc<dyn PeerConnection>,
    Arc<dyn DataChannel>,
    Arc<dyn DataChannel>,
    Duration,
)> {
    let settings = PeerSettings::loopback();
    let a = build_peer(&settings).await?;
    let b = build_peer(&settings).await?;
    let (pa, ea, pb, eb) = (a.pc, a.events, b.pc, b.events);
    let init = || Some(RTCDataChannelInit { ordered: true, negotiated: Some(0), ..Default::default() });
    let started = Instant::now();
    let da = pa.create_data_channel("bench", init()).await?;
    let db = pb.create_data_channel("bench", init()).await?;
    let offer = pa.create_offer(None).await?;
    pa.set_local_description(offer.clone()).await?;
    pb.set_remote_description(offer).await?;
    let answer = pb.create_answer(None).await?;
    pb.set_local_description(answer.clone()).await?;
    pa.set_remote_description(answer).await?;
    // Trickle candidates across.
    for (mut events, other) in [(ea, pb.clone()), (eb, pa.clone())] {
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if let PeerEvent::Candidate(json) = e
                    && let Ok(c) = serde_json::from_value(json)
                {
                    let _ = other.add_ice_candidate(c).await;
                }
            }
        });
    }
    for dc in [&da, &db] {
        loop {
            match dc.poll().await {
                Some(DataChannelEvent::OnOpen) => break,
                Some(_) => continue,
                None => bail!("channel closed before opening"),
            }
        }
    }
    let open = started.elapsed();
    Ok((pa, pb, da, db, open))
}

async fn datachannel(runs: usize, megabytes: usize) -> anyhow::Result<()> {
    let (mut opens, mut rates) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (pa, pb, da, db, open) = dc_pair().await?;
        opens.push(open.as_secs_f64() * 1000.0);
        let total = megabytes * 1024 * 1024;
        let chunk = 64 * 1024 - 8;
        let receiver = tokio::spawn(async move {
            let mut got = 0usize;
            while got < total {
                match db.poll().await {
                    Some(DataChannelEvent::OnMessage(m)) => got += m.data.len(),
                    Some(_) => {}
                    None => break,
                }
            }
            (Instant::now(), got)
        });
        da.set_buffered_amount_low_threshold(1 << 20).await?;
        let started = Instant::now();
        let payload = vec![0x5au8; chunk];
        let mut sent = 0usize;
        while sent < total {
            while da.outstanding_bytes().await? > 4 << 20 {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            let n = chunk.min(total - sent);
            da.send(BytesMut::from(&payload[..n])).await?;
            sent += n;
        }
        let (done, got) = receiver.await?;
        let secs = done.duration_since(started).as_secs_f64();
        rates.push(got as f64 / 1e6 / secs);
        pa.close().await?;
        pb.close().await?;
    }
    rates.sort_by(f64::total_cmp);
    println!("datachannel        open (offer → both open) {}", summary(opens));
    println!(
        "datachannel        reliable throughput {megabytes} MB: median {:.0} MB/s (min {:.0}, max {:.0}, n={})",
        percentile(&rates, 0.5),
        rates.first().copied().unwrap_or(f64::NAN),
        rates.last().copied().unwrap_or(f64::NAN),
        rates.len()
    );
    Ok(())
}

/// Join of the second peer → its first decoded frame, `runs` times, with `settings` on both peers.
async fn setup_with(url: &str, runs: usize, settings: &PeerSettings) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let room = RoomCode::generate();
        let config = |f: Arc<Mutex<Vec<(u32, u32, Instant)>>>| -> anyhow::Result<CallConfig> {
            let mut c = peer_config(url, VideoCodec::Vp8, (640, 480), f)?;
            c.peer = PeerSettings { video_codecs: vec![VideoCodec::Vp8], ..settings.clone() };
            Ok(c)
        };
        let (fa, fb) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let (a, mut ae) = Call::start(config(fa)?, Target::Room { code: room.clone(), create: true });
        wait_state(&mut ae, "waiting").await?;
        let t0 = Instant::now();
        let (_b, mut be) = Call::start(config(fb.clone())?, Target::Room { code: room, create: true });
        let deadline = Instant::now() + Duration::from_secs(20);
        while fb.lock().expect("lock").is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if let Some(f) = fb.lock().expect("lock").first() {
            times.push(f.2.duration_since(t0).as_secs_f64() * 1000.0);
        }
        hang_up_both(&a, &mut ae, &mut be).await;
    }
    Ok(times)
}

/// Seconds to move a `megabytes` file from A to B (sent → verified at B).
async fn file_seconds(url: &str, settings: &PeerSettings, megabytes: usize) -> anyhow::Result<f64> {
    let dir = std::env::temp_dir().join(format!("tincan-bench-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("payload.bin");
    std::fs::write(&path, vec![0xa5u8; megabytes * 1024 * 1024])?;
    let room = RoomCode::generate();
    let config = || -> CallConfig {
        let mut c = CallConfig::new(url);
        c.peer = settings.clone();
        c.download_dir = dir.join("in");
        c.file_policy = tincan_engine::FilePolicy::Accept;
        c
    };
    std::fs::create_dir_all(dir.join("in"))?;
    let (a, mut ae) = Call::start(config(), Target::Room { code: room.clone(), create: true });
    wait_state(&mut ae, "waiting").await?;
    let (_b, mut be) = Call::start(config(), Target::Room { code: room, create: true });
    wait_state(&mut be, "connected").await?;
    tokio::time::timeout(Duration::from_secs(30), async {
        while !matches!(ae.recv().await, Some(EngineEvent::DataReady { .. }) | None) {}
    })
    .await
    .context("the data channel did not open")?;
    let started = Instant::now();
    a.send_file(&path).await?;
    let secs = tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            match be.recv().await {
                Some(EngineEvent::File(FileEvent::Completed { outgoing: false, .. })) => {
                    return Ok(started.elapsed().as_secs_f64());
                }
                Some(EngineEvent::File(FileEvent::Failed { reason, .. })) => bail!("transfer failed: {reason}"),
                Some(_) => {}
                None => bail!("call ended"),
            }
        }
    })
    .await
    .context("file transfer timed out")??;
    hang_up_both(&a, &mut ae, &mut be).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(secs)
}

/// Relay-only calls through coturn reached over UDP, TCP and TLS (a CA of the bench's own), then direct for
/// comparison: setup and file throughput side by side.
async fn relay(runs: usize, megabytes: usize) -> anyhow::Result<()> {
    let ca = tincan_rig::coturn::TestCa::for_loopback()?;
    let turn = tincan_rig::coturn::Coturn::start_with_tls(&ca, &[])?;
    let roots = tincan_engine::tls::roots_from_pem(ca.ca_pem.as_bytes())?;
    let relayed = PeerSettings { relay_only: true, extra_roots: roots, ..PeerSettings::loopback() };
    let tls_url = turn.tls_url().context("coturn without TLS")?;
    // (Relay-only peers skip the relay wait; what the wait costs when direct paths fail is in the builder's
    // comment.)
    for (name, turn_url, settings) in [
        ("udp", Some(turn.url()), &relayed),
        ("tcp", Some(turn.tcp_url()), &relayed),
        ("tls", Some(tls_url), &relayed),
        ("direct", None, &PeerSettings::loopback()),
    ] {
        let config = ServerConfig {
            turn: turn_url.map(|u| TurnConfig {
                urls: vec![u],
                secret: turn.secret.clone(),
                ttl: Duration::from_secs(600),
            }),
            ..ServerConfig::loopback_unlimited()
        };
        let server = SignalServer::start(config).await?;
        let url = server.ws_url();
        let times = setup_with(&url, runs, settings).await?;
        let secs = file_seconds(&url, settings, megabytes).await?;
        println!(
            "relay {name:<6} join → first decoded frame {}; {megabytes} MB file in {secs:.2} s = {:.1} MB/s",
            summary(times),
            megabytes as f64 * 1.048_576 / secs
        );
        server.shutdown().await;
    }
    Ok(())
}

/// Runs the loss benchmark in a fresh network namespace (only `lo`, which drops `percent` % of UDP).
fn loss_in_namespace(percent: f64, seconds: u64) -> anyhow::Result<()> {
    let script = format!(
        "ip link set lo up && iptables -A INPUT -p udp -m statistic --mode random --probability {} -j DROP && \
         exec \"$0\" loss --percent {percent} --seconds {seconds}",
        percent / 100.0
    );
    let status = std::process::Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script])
        .arg(std::env::current_exe()?)
        .env("TINCAN_BENCH_IN_NETNS", "1")
        .status()
        .context("unshare")?;
    anyhow::ensure!(status.success(), "the loss benchmark failed in its namespace ({status})");
    Ok(())
}

async fn loss(url: &str, percent: f64, seconds: u64) -> anyhow::Result<()> {
    let room = RoomCode::generate();
    let (fa, fb) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let audio = Arc::new(Mutex::new(Vec::<i16>::new()));
    let (a, mut ae) = Call::start(
        peer_config(url, VideoCodec::Vp8, (640, 480), fa)?,
        Target::Room { code: room.clone(), create: true },
    );
    wait_state(&mut ae, "waiting").await?;
    let mut cb = peer_config(url, VideoCodec::Vp8, (640, 480), fb.clone())?;
    let sink = audio.clone();
    cb.audio_sink = Some(Box::new(move |f: tincan_media::AudioFrame| sink.lock().expect("lock").extend(f.samples)));
    let (_b, mut be) = Call::start(cb, Target::Room { code: room, create: true });
    wait_state(&mut be, "connected").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fb.lock().expect("lock").clear();
    audio.lock().expect("lock").clear();
    let started = Instant::now();
    let mut last_stats = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        if let Ok(Some(EngineEvent::Stats(s))) = tokio::time::timeout(Duration::from_millis(100), be.recv()).await {
            last_stats = Some(s);
        }
    }
    let frames = fb.lock().expect("lock").clone();
    let times: Vec<Instant> = frames.iter().map(|f| f.2).collect();
    // A freeze, as WebRTC counts them: a gap between frames over max(3 × the mean interval, mean + 150 ms).
    let mean = if times.len() > 1 {
        times.last().map(|l| l.duration_since(times[0]).as_secs_f64()).unwrap_or(0.0) / (times.len() - 1) as f64
    } else {
        f64::NAN
    };
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1].duration_since(w[0]).as_secs_f64()).collect();
    let threshold = (3.0 * mean).max(mean + 0.150);
    let freezes: Vec<f64> = gaps.iter().copied().filter(|g| *g > threshold).collect();
    let samples = audio.lock().expect("lock").clone();
    let hz = tincan_media::analysis::dominant_frequency(&samples, tincan_media::frame::SAMPLE_RATE);
    let (lost, concealed, decoded) = last_stats
        .as_ref()
        .map(|s| (s.loss_percent, s.audio_frames_concealed, s.audio_frames_decoded))
        .unwrap_or_default();
    let mut sender_stats = None;
    while let Ok(e) = ae.try_recv() {
        if let EngineEvent::Stats(s) = e {
            sender_stats = Some(s);
        }
    }
    if let (Some(r), Some(t)) = (&last_stats, &sender_stats) {
        println!(
            "loss {percent:>4.1} %        receiver: frames lost {} (assembler gave up), keyframe requests sent {}, \
             {:.0} kbps in; sender: {:.1} fps out, {:.0} kbps out, target {:?} kbps, keyframe requests received {}",
            r.frames_lost,
            r.keyframe_requests_sent,
            r.kbps_in,
            t.fps_out,
            t.kbps_out,
            t.target_kbps,
            t.keyframe_requests_received
        );
    }
    println!(
        "loss {percent:>4.1} %        video {:.1} fps over {seconds} s, {} freezes ({:.0} ms frozen, longest {:.0} ms); \
         receiver-measured loss {lost:.1} %; audio {concealed} of {decoded} frames concealed, tone {}",
        frames.len() as f64 / seconds as f64,
        freezes.len(),
        freezes.iter().sum::<f64>() * 1000.0 + 0.0, // + 0.0: an empty sum is -0.0
        freezes.iter().copied().fold(0.0, f64::max) * 1000.0,
        hz.map(|h| format!("{h:.0} Hz (sent 440)")).unwrap_or_else(|| "not found".into()),
    );
    hang_up_both(&a, &mut ae, &mut be).await;
    Ok(())
}

async fn cycles(url: &str, count: usize) -> anyhow::Result<()> {
    let pid = std::process::id();
    let mut baseline = None;
    for i in 1..=count {
        let room = RoomCode::generate();
        let f = Arc::new(Mutex::new(Vec::new()));
        let (a, mut ae) = Call::start(
            peer_config(url, VideoCodec::Vp8, (320, 240), f.clone())?,
            Target::Room { code: room.clone(), create: true },
        );
        wait_state(&mut ae, "waiting").await?;
        let (_b, mut be) = Call::start(
            peer_config(url, VideoCodec::Vp8, (320, 240), f.clone())?,
            Target::Room { code: room, create: true },
        );
        wait_state(&mut be, "connected").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        hang_up_both(&a, &mut ae, &mut be).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if i == 1 || i % 10 == 0 || i == count {
            let rss = rss_mb(pid);
            let base = *baseline.get_or_insert(rss);
            println!(
                "cycles {i:>4}        RSS {rss:.1} MB ({:+.1} MB since cycle 1), live peer connections {}",
                rss - base,
                live_handlers()
            );
        }
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tincan_log::init("error", tincan_log::Format::Text);
    let server = SignalServer::start(ServerConfig::loopback_unlimited()).await?;
    let url = server.ws_url();
    let all = [
        Bench::Datachannel { runs: 5, megabytes: 100 },
        Bench::Setup { runs: 10 },
        Bench::Latency { seconds: 5 },
        Bench::Cpu { size: "1280x720".into(), seconds: 10, codec: VideoCodec::Vp8 },
        Bench::Cpu { size: "1280x720".into(), seconds: 10, codec: VideoCodec::H264 },
        Bench::Relay { runs: 5, megabytes: 20 },
        Bench::Group { people: 4, size: "640x480".into(), seconds: 10, runs: 5 },
        Bench::Cycles { count: 50 },
    ];
    let benches: Vec<Bench> = match cli.command {
        Some(b) => vec![b],
        None => all.to_vec(),
    };
    for bench in benches {
        match bench {
            Bench::Setup { runs } => setup(&url, runs).await?,
            Bench::Latency { seconds } => latency(&url, seconds).await?,
            Bench::Cpu { size, seconds, codec } => cpu(&url, &size, seconds, codec).await?,
            Bench::Datachannel { runs, megabytes } => datachannel(runs, megabytes).await?,
            Bench::Relay { runs, megabytes } => relay(runs, megabytes).await?,
            Bench::Loss { percent, seconds } => {
                if std::env::var_os("TINCAN_BENCH_IN_NETNS").is_some() {
                    loss(&url, percent, seconds).await?
                } else {
                    loss_in_namespace(percent, seconds)?
                }
            }
            Bench::Cycles { count } => cycles(&url, count).await?,
            Bench::Group { people, size, seconds, runs } => group(&url, people, &size, seconds, runs).await?,
        }
    }
    server.shutdown().await;
    Ok(())
}
