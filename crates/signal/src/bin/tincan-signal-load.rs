//! `tincan-signal-load`: a load benchmark for the signaling server. It starts the real `tincan-signal` binary
//! on loopback, opens N concurrent WebSocket clients paired in rooms, relays signals between partners at a
//! fixed rate, and prints what it measured: connections held, server memory per idle connection, relay
//! latency p50/p99, server CPU, and errors. It prints figures; it asserts nothing.
//!
//! With `--abuse`, the relay phase runs twice, the second time while attackers work on the server from other
//! loopback addresses: sockets that trickle a request and never finish it (slowloris), connections that
//! flood garbage frames, and clients that stop reading while a partner floods them with large signals. It
//! prints the normal clients' latency and errors in both phases and the server's memory during and after.
//! (Normal clients then come from many loopback addresses, 16 each, so the server keeps its per-address
//! limit.)

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use serde_json::{Value, json};
use tincan_signal::code::RoomCode;
use tincan_signal::server::raise_fd_limit;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Parser)]
#[command(name = "tincan-signal-load", about = "Load benchmark for tincan-signal (prints figures)")]
struct Cli {
    /// Concurrent clients (rounded down to an even number: they are paired in rooms)
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Relayed messages per second during the relay phase
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Length of the relay phase in seconds
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Connections opened at once while connecting
    #[arg(long, default_value_t = 256)]
    parallel: usize,
    /// The server binary [default: tincan-signal beside this binary]
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Relay again while attackers run (slowloris, garbage floods, slow readers), and compare
    #[arg(long)]
    abuse: bool,
    /// Only attack the server at this URL (what --abuse runs in a process of its own)
    #[arg(long, hide = true)]
    attack_only: Option<String>,
}

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

#[derive(Default)]
struct Tally {
    received: AtomicU64,
    errors: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

struct Server {
    child: tokio::process::Child,
    pid: u32,
    url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let fds = raise_fd_limit()?;
    if let Some(url) = &cli.attack_only {
        let attack = Attack::start(url);
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            println!("{}", attack.figures());
        }
    }
    let clients = cli.clients / 2 * 2;
    if clients as u64 + 100 > fds {
        bail!("{clients} clients need more than the open-file limit of {fds}");
    }
    let server = start_server(&cli).await?;
    let epoch = Instant::now();
    let base_rss = rss_kb(server.pid)?;
    println!(
        "server            {} (pid {}), RSS {:.1} MB before any client",
        server.url,
        server.pid,
        base_rss as f64 / 1024.0
    );

    // Connect everyone: hello, then join a room shared with the partner.
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let rooms: Vec<RoomCode> = (0..clients / 2).map(|_| RoomCode::generate()).collect();
    let results: Vec<anyhow::Result<(String, Sink)>> = futures_util::stream::iter(0..clients)
        .map(|i| {
            // Under --abuse the server keeps its per-address limits: 16 normal clients per loopback address.
            let group = i / 16 + 1;
            let source = cli.abuse.then_some([127, 1, (group >> 8) as u8, (group & 0xff) as u8]);
            connect_client(server.url.clone(), rooms[i / 2].clone(), tally.clone(), epoch, source)
        })
        .buffered(cli.parallel)
        .collect()
        .await;
    let connect_secs = started.elapsed().as_secs_f64();
    let mut peers = Vec::with_capacity(clients);
    let mut connect_errors = 0;
    for r in results {
        match r {
            Ok(p) => peers.push(Some(p)),
            Err(e) => {
                connect_errors += 1;
                peers.push(None);
                if connect_errors <= 3 {
                    eprintln!("connect error: {e:#}");
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = server_gauge(&server.url, "tincan_signal_connections").await?;
    let idle_rss = rss_kb(server.pid)?;
    let per_conn_kb = (idle_rss.saturating_sub(base_rss)) as f64 / clients.max(1) as f64;
    println!(
        "connect           {clients} clients in {connect_secs:.1} s ({:.0}/s), {connect_errors} errors",
        clients as f64 / connect_secs
    );
    println!("held              {held} connections (server gauge)");
    println!(
        "server memory     RSS {:.1} MB idle with {clients} clients: {per_conn_kb:.1} KB per connection",
        idle_rss as f64 / 1024.0
    );

    // Relay: even clients signal their odd partner, odd clients their even partner, round-robin.
    let ids: Vec<Option<String>> = peers.iter().map(|p| p.as_ref().map(|(id, _)| id.clone())).collect();
    let mut sinks: Vec<Option<Sink>> = peers.into_iter().map(|p| p.map(|(_, s)| s)).collect();
    let quiet = relay_phase("", &cli, &mut sinks, &ids, &tally, epoch, server.pid).await?;
    let mut dropped_total =
        (clients as u64).saturating_sub(server_gauge(&server.url, "tincan_signal_connections").await?);
    if cli.abuse {
        // The attackers run in a process of their own, so that they do not slow the measuring clients.
        let mut attacker = tokio::process::Command::new(std::env::current_exe()?)
            .args(["--attack-only", &server.url])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the attackers")?;
        let last_words = Arc::new(Mutex::new(String::new()));
        let reader = {
            let (last_words, stdout) = (last_words.clone(), attacker.stdout.take().context("attacker stdout")?);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    *last_words.lock().unwrap() = line;
                }
            })
        };
        // Let the attackers take hold before measuring.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let peak = Arc::new(AtomicU64::new(rss_kb(server.pid)?));
        let sampler = {
            let (peak, pid) = (peak.clone(), server.pid);
            tokio::spawn(async move {
                loop {
                    if let Ok(kb) = rss_kb(pid) {
                        peak.fetch_max(kb, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let abused = relay_phase("under abuse: ", &cli, &mut sinks, &ids, &tally, epoch, server.pid).await?;
        let _ = attacker.kill().await;
        reader.abort();
        let figures = last_words.lock().unwrap().clone();
        sampler.abort();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let after = rss_kb(server.pid)?;
        let held = server_gauge(&server.url, "tincan_signal_connections").await?;
        dropped_total = (clients as u64).saturating_sub(held);
        println!("abuse             {figures}");
        println!(
            "server memory     RSS peak {:.1} MB under abuse, {:.1} MB 5 s after (idle with the clients: {:.1} MB)",
            peak.load(Ordering::Relaxed) as f64 / 1024.0,
            after as f64 / 1024.0,
            idle_rss as f64 / 1024.0
        );
        println!(
            "normal clients    p99 {:.2} ms quiet, {:.2} ms under abuse ({:.1}×); errors {} quiet, {} under abuse; {} of {clients} still connected",
            quiet.p99,
            abused.p99,
            abused.p99 / quiet.p99,
            quiet.errors,
            abused.errors,
            held
        );
    }
    println!(
        "errors            {} (connect {connect_errors}, relay {}, dropped {dropped_total})",
        connect_errors as u64 + quiet.errors + dropped_total,
        quiet.errors
    );

    for s in sinks.iter_mut().flatten() {
        let _ = s.close().await;
    }
    stop_server(server).await
}

/// What one relay phase measured.
struct Phase {
    p99: f64,
    /// Send errors, error messages and messages lost.
    errors: u64,
}

async fn relay_phase(
    label: &str,
    cli: &Cli,
    sinks: &mut [Option<Sink>],
    ids: &[Option<String>],
    tally: &Tally,
    epoch: Instant,
    pid: u32,
) -> anyhow::Result<Phase> {
    let clients = sinks.len();
    let total = cli.rate * cli.seconds;
    let batch_every = Duration::from_millis(10);
    let per_batch = (cli.rate / 100).max(1);
    let received_before = tally.received.load(Ordering::Relaxed);
    let errors_before = tally.errors.load(Ordering::Relaxed);
    tally.latencies_us.lock().unwrap().clear();
    let cpu_before = cpu_ticks(pid)?;
    let relay_started = Instant::now();
    let mut tick = tokio::time::interval(batch_every);
    let (mut sent, mut send_errors, mut k) = (0u64, 0u64, 0usize);
    while sent + send_errors < total {
        tick.tick().await;
        for _ in 0..per_batch.min(total - sent - send_errors) {
            let from = k % clients;
            let to = from ^ 1;
            k += 1;
            let (Some(sink), Some(to_id)) = (sinks[from].as_mut(), ids[to].as_ref()) else {
                send_errors += 1;
                continue;
            };
            let t = epoch.elapsed().as_micros() as u64;
            let msg = json!({"type": "signal", "to": to_id, "kind": "candidate", "data": {"t": t, "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"}});
            match sink.send(Message::text(msg.to_string())).await {
                Ok(()) => sent += 1,
                Err(_) => send_errors += 1,
            }
        }
    }
    let relay_secs = relay_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu_after = cpu_ticks(pid)?;
    let received = tally.received.load(Ordering::Relaxed) - received_before;
    let mut lat = std::mem::take(&mut *tally.latencies_us.lock().unwrap());
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p) as usize).map(|v| *v as f64 / 1000.0).unwrap_or(f64::NAN);
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu_pct = (cpu_after - cpu_before) as f64 / ticks_per_sec / (relay_secs + 1.0) * 100.0;
    let lost = sent.saturating_sub(received);
    println!(
        "{label}relay {}{sent} sent in {relay_secs:.1} s ({:.0}/s), {received} received, {lost} lost, {send_errors} send errors",
        " ".repeat(12usize.saturating_sub(label.len())),
        sent as f64 / relay_secs,
    );
    println!(
        "{label}relay latency {}p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        " ".repeat(4usize.saturating_sub(label.len())),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!("{label}server CPU {cpu_pct:.0} % of one core during the relay phase");
    let protocol_errors = tally.errors.load(Ordering::Relaxed) - errors_before;
    Ok(Phase { p99: pct(0.99), errors: send_errors + protocol_errors + lost })
}

/// A TCP connection from another loopback address (`127.x.y.z`: every one is this machine's).
async fn connect_from(source: [u8; 4], to: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from((source, 0)))?;
    socket.connect(to).await
}

/// The attackers, from 127.9.x.y: 500 slowloris sockets over five addresses, 20 connections flooding
/// garbage frames, and five rooms of four clients that stop reading while a fifth floods them with 32 KB
/// signals. Each reconnects when the server drops it; they run (detached) until the process is killed.
struct Attack {
    counts: Arc<AttackCounts>,
}

#[derive(Default)]
struct AttackCounts {
    sockets: AtomicU64,
    refused: AtomicU64,
    garbage: AtomicU64,
    dropped: AtomicU64,
}

impl Attack {
    fn start(url: &str) -> Attack {
        let addr: std::net::SocketAddr =
            url.trim_start_matches("ws://").trim_end_matches("/ws").parse().expect("a loopback address");
        let counts = Arc::new(AttackCounts::default());
        for i in 0..500u32 {
            let counts = counts.clone();
            let source = [127, 9, 0, 1 + (i / 100) as u8];
            tokio::spawn(async move {
                loop {
                    counts.sockets.fetch_add(1, Ordering::Relaxed);
                    match connect_from(source, addr).await {
                        Ok(tcp) => slowloris(tcp).await,
                        Err(_) => {
                            counts.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
        for i in 0..20u8 {
            let (counts, url) = (counts.clone(), url.to_owned());
            tokio::spawn(async move {
                loop {
                    if let Ok((mut sink, _stream)) = raw_client(&url, addr, [127, 9, 1, 1 + i]).await {
                        let garbage = Message::text("{\"type\": nonsense".repeat(100));
                        while sink.send(garbage.clone()).await.is_ok() {
                            counts.garbage.fetch_add(1, Ordering::Relaxed);
                        }
                        counts.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
        for r in 0..5u8 {
            let (counts, url) = (counts.clone(), url.to_owned());
            tokio::spawn(async move {
                loop {
                    let room = RoomCode::generate();
                    let Ok((mut flooder, flooder_stream)) = raw_client(&url, addr, [127, 9, 2, 1 + r]).await else {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    };
                    let join = json!({"type": "join", "room": room.as_str(), "create": true, "capacity": 5});
                    let _ = flooder.send(Message::text(join.to_string())).await;
                    // The sleepers join and never read again (their streams are held, not polled).
                    let mut sleepers = Vec::new();
                    for s in 0..4u8 {
                        if let Ok((mut sink, stream)) = raw_client(&url, addr, [127, 9, 3, 1 + r * 4 + s]).await {
                            let _ = sink
                                .send(Message::text(json!({"type": "join", "room": room.as_str()}).to_string()))
                                .await;
                            sleepers.push((sink, stream));
                        }
                    }
                    let blob = "z".repeat(32 * 1024);
                    let signal = Message::text(
                        json!({"type": "signal", "kind": "candidate", "data": {"blob": blob}}).to_string(),
                    );
                    // Within the flooder's own message limit (50/s): what it costs is the sleepers' queues.
                    let mut tick = tokio::time::interval(Duration::from_millis(25));
                    while flooder.send(signal.clone()).await.is_ok() {
                        tick.tick().await;
                    }
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                    drop((sleepers, flooder_stream));
                }
            });
        }
        Attack { counts }
    }

    /// What the attackers did so far.
    fn figures(&self) -> String {
        let c = &self.counts;
        format!(
            "{} slowloris sockets opened ({} refused at connect), {} garbage frames sent, {} attacker connections dropped by the server",
            c.sockets.load(Ordering::Relaxed),
            c.refused.load(Ordering::Relaxed),
            c.garbage.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed)
        )
    }
}

/// Trickle a request's headers, a byte a second, until the server closes the socket.
async fn slowloris(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.is_err() {
        return;
    }
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => {
                if tcp.write_all(b"a").await.is_err() {
                    return;
                }
            }
        }
    }
}

type Stream = futures_util::stream::SplitStream<WebSocketStream<TcpStream>>;

/// A WebSocket client from `source` that has said hello.
async fn raw_client(
    url: &str,
    addr: std::net::SocketAddr,
    source: [u8; 4],
) -> anyhow::Result<(SplitSink<WebSocketStream<TcpStream>, Message>, Stream)> {
    let tcp = connect_from(source, addr).await?;
    let (ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::text(json!({"type": "hello", "version": 1, "client": "attacker"}).to_string())).await?;
    next_json(&mut stream).await?;
    Ok((sink, stream))
}

async fn start_server(cli: &Cli) -> anyhow::Result<Server> {
    let bin = match &cli.server_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("tincan-signal"),
    };
    let mut command = tokio::process::Command::new(&bin);
    command.args(["--listen", "127.0.0.1:0"]);
    if !cli.abuse {
        // Every client comes from 127.0.0.1: no per-address limits. (Under --abuse the defaults hold.)
        command.args(["--connect-per-minute", "0", "--join-per-minute", "0"]);
        command.args(["--messages-per-second", "0", "--max-connections-per-address", "0"]);
    }
    let mut child = command
        .env("TINCAN_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id().context("server pid")?;
    let mut lines = BufReader::new(child.stdout.take().context("server stdout")?).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .context("server did not start in 10 s")??
        .context("server exited")?;
    let url = line.strip_prefix("listening on ").context("unexpected first line")?.to_owned();
    Ok(Server { child, pid, url })
}

async fn stop_server(mut server: Server) -> anyhow::Result<()> {
    let started = Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(server.pid as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait()).await??;
    println!("shutdown          {:.2} s after SIGTERM ({status})", started.elapsed().as_secs_f64());
    Ok(())
}

/// `source`: the loopback address to connect from (else the system's choice).
async fn connect_client(
    url: String,
    room: RoomCode,
    tally: Arc<Tally>,
    epoch: Instant,
    source: Option<[u8; 4]>,
) -> anyhow::Result<(String, Sink)> {
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (ws, _) = match source {
        Some(source) => {
            let addr = url.trim_start_matches("ws://").trim_end_matches("/ws").parse()?;
            let tcp = connect_from(source, addr).await?;
            tokio_tungstenite::client_async_with_config(url.as_str(), MaybeTlsStream::Plain(tcp), Some(config)).await?
        }
        None => tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await?,
    };
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::text(json!({"type": "hello", "version": 1, "client": "load"}).to_string())).await?;
    let welcome = next_json(&mut stream).await?;
    let id = welcome["peer_id"].as_str().context("welcome has a peer id")?.to_owned();
    sink.send(Message::text(json!({"type": "join", "room": room.as_str(), "create": true}).to_string())).await?;
    let joined = next_json(&mut stream).await?;
    if joined["type"] != "joined" {
        bail!("join answered {joined}");
    }
    tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            let Message::Text(text) = frame else { continue };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            match v["type"].as_str() {
                Some("signal") => {
                    if let Some(t) = v["data"]["t"].as_u64() {
                        let now = epoch.elapsed().as_micros() as u64;
                        tally.latencies_us.lock().unwrap().push(now.saturating_sub(t) as u32);
                    }
                    tally.received.fetch_add(1, Ordering::Relaxed);
                }
                Some("error") => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
    Ok((id, sink))
}

async fn next_json<S>(stream: &mut S) -> anyhow::Result<Value>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await.context("no answer in 30 s")? {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t)?),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed"),
        }
    }
}

fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

/// Read one gauge from `/metrics` with a plain HTTP/1.0 request (no HTTP client needed for one line).
async fn server_gauge(ws_url: &str, name: &str) -> anyhow::Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = ws_url.trim_start_matches("ws://").trim_end_matches("/ws");
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
    let mut body = String::new();
    tcp.read_to_string(&mut body).await?;
    let line = body.lines().find(|l| l.starts_with(&format!("{name} "))).context("gauge in /metrics")?;
    Ok(line.split_whitespace().nth(1).context("gauge value")?.parse()?)
}
