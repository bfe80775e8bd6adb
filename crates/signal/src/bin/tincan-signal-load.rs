//! `tincan-signal-load`: a load benchmark for the signaling server. It starts the real `tincan-signal` binary
//! on loopback, opens N concurrent WebSocket clients paired in rooms, relays signals between partners at a
//! fixed rate, and prints what it measured: connections held, server memory per idle connection, relay
//! latency p50/p99, server CPU, and errors. It prints figures; it asserts nothing.

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
        .map(|i| connect_client(server.url.clone(), rooms[i / 2].clone(), tally.clone(), epoch))
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
    let total = cli.rate * cli.seconds;
    let batch_every = Duration::from_millis(10);
    let per_batch = (cli.rate / 100).max(1);
    let cpu_before = cpu_ticks(server.pid)?;
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
    let cpu_after = cpu_ticks(server.pid)?;
    let received = tally.received.load(Ordering::Relaxed);
    let mut lat = std::mem::take(&mut *tally.latencies_us.lock().unwrap());
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p) as usize).map(|v| *v as f64 / 1000.0).unwrap_or(f64::NAN);
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu_pct = (cpu_after - cpu_before) as f64 / ticks_per_sec / (relay_secs + 1.0) * 100.0;
    println!(
        "relay             {sent} sent in {relay_secs:.1} s ({:.0}/s), {received} received, {} lost, {send_errors} send errors",
        sent as f64 / relay_secs,
        sent.saturating_sub(received)
    );
    println!("relay latency     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", pct(0.50), pct(0.99), pct(1.0));
    println!("server CPU        {cpu_pct:.0} % of one core during the relay phase");
    let protocol_errors = tally.errors.load(Ordering::Relaxed);
    let held_after = server_gauge(&server.url, "tincan_signal_connections").await?;
    println!(
        "errors            {} (connect {connect_errors}, send {send_errors}, error messages {protocol_errors}, dropped {})",
        connect_errors as u64 + send_errors + protocol_errors + (clients as u64).saturating_sub(held_after),
        (clients as u64).saturating_sub(held_after)
    );

    for s in sinks.iter_mut().flatten() {
        let _ = s.close().await;
    }
    stop_server(server).await
}

async fn start_server(cli: &Cli) -> anyhow::Result<Server> {
    let bin = match &cli.server_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("tincan-signal"),
    };
    let mut child = tokio::process::Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--connect-per-minute", "0", "--join-per-minute", "0"])
        .args(["--messages-per-second", "0", "--max-connections-per-address", "0"])
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

async fn connect_client(
    url: String,
    room: RoomCode,
    tally: Arc<Tally>,
    epoch: Instant,
) -> anyhow::Result<(String, Sink)> {
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await?;
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
