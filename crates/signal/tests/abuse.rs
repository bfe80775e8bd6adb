//! Clients that try to starve the server: sockets that trickle a request forever, a crowd of sockets from one
//! address under a small descriptor limit, a flood of garbage frames, and limits behind a reverse proxy. After
//! each, a normal client still gets in.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Raw, server};
use serde_json::json;
use tincan_signal::server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A TCP connection from `source` (another loopback address: 127.0.0.2, …).
async fn connect_from(source: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(to).await
}

/// Starts a request and sends one more header byte every `pace` until the server closes; how long it lasted.
async fn trickle(mut tcp: TcpStream, pace: Duration, send_anything: bool, give_up: Duration) -> Duration {
    let start = Instant::now();
    if send_anything && tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.is_err() {
        return start.elapsed();
    }
    let mut buf = [0u8; 256];
    while start.elapsed() < give_up {
        match tokio::time::timeout(pace, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => {
                if send_anything && tcp.write_all(b"a").await.is_err() {
                    return start.elapsed();
                }
            }
        }
    }
    start.elapsed()
}

/// After an abuse, someone else still gets in, relays a signal and rings a registered code, all within a
/// second.
async fn everyone_else_is_served(url: &str) {
    let started = Instant::now();
    let served = tokio::time::timeout(Duration::from_secs(1), async {
        let room = tincan_signal::code::RoomCode::generate();
        let (mut a, _) = Raw::hello(url).await;
        a.join(room.as_str()).await;
        let (mut b, _) = Raw::hello(url).await;
        let joined = b.join(room.as_str()).await;
        a.expect("peer_joined").await;
        let a_id = joined["peers"][0]["id"].as_str().expect("a in the room").to_owned();
        b.send(json!({"type": "signal", "to": a_id, "kind": "candidate", "data": {"n": 1}})).await;
        assert_eq!(a.expect("signal").await["data"]["n"], 1);
        let (mut c, welcome) = Raw::hello(url).await;
        let id = tincan_signal::identity::Identity::generate();
        let signature = id.sign_registration("127.0.0.1", welcome["nonce"].as_str().unwrap());
        c.send(json!({"type": "register", "public_key": id.public_key_b64(), "signature": signature})).await;
        c.expect("registered").await;
        let ring = json!({"type": "ring", "to": id.personal_code().as_str(), "name": "Ann", "room": tincan_signal::code::RoomCode::generate().as_str()});
        a.send(ring).await;
        a.expect("ringing").await;
        c.expect("incoming").await;
    })
    .await;
    assert!(served.is_ok(), "a normal client was not served within a second ({:?})", started.elapsed());
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("ws://").trim_end_matches("/ws").parse().unwrap()
}

#[tokio::test]
async fn half_sent_requests_are_dropped_after_the_header_timeout() {
    let config = ServerConfig { header_timeout: Duration::from_secs(1), ..ServerConfig::loopback_unlimited() };
    let server = server(config).await;
    let url = server.ws_url();
    let addr = addr_of(&url);
    // A normal client first: its WebSocket outlives the header timeout.
    let (mut normal, _) = Raw::hello(&url).await;
    let mut held = Vec::new();
    for i in 0..40 {
        let tcp = connect_from([127, 0, 0, 2], addr).await.unwrap();
        // Half send nothing at all, half trickle a header byte every 200 ms.
        held.push(tokio::spawn(trickle(tcp, Duration::from_millis(200), i % 2 == 1, Duration::from_secs(8))));
    }
    for h in held {
        let lasted = h.await.unwrap();
        assert!(lasted < Duration::from_secs(3), "a half-sent request was held {lasted:?}");
    }
    normal.send(json!({"type": "ping"})).await;
    normal.expect("pong").await;
    everyone_else_is_served(&url).await;
    server.shutdown().await;
}

/// The binary under a descriptor limit of 256: 300 sockets from one address trickling requests must not lock
/// out a client from another (without a per-address cap they take every descriptor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_from_one_address_leaves_room_for_everyone_else() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tincan-signal"));
    command
        .args(["--listen", "127.0.0.1:0", "--connect-per-minute", "0", "--max-connections-per-address", "64"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").expect("its address").to_owned();
    let addr = addr_of(&url);

    let mut crowd = Vec::new();
    for _ in 0..300 {
        if let Ok(tcp) = connect_from([127, 0, 0, 3], addr).await {
            crowd.push(tokio::spawn(trickle(tcp, Duration::from_millis(500), true, Duration::from_secs(6))));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    // In a task of its own, so that a failure still lets the server process be stopped below.
    let served = tokio::spawn({
        let url = url.clone();
        async move { everyone_else_is_served(&url).await }
    })
    .await;
    let took = started.elapsed();
    let metrics = reqwest_free_get(addr, "/metrics").await;
    let _ = child.kill();
    let _ = child.wait();
    for c in crowd {
        c.abort();
    }
    assert!(
        served.is_ok(),
        "a normal client was not served within a second ({took:?}) while one address held 300 sockets"
    );
    let refused: u64 = metrics
        .lines()
        .find(|l| l.starts_with("tincan_signal_sockets_refused_total{reason=\"address\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(refused >= 200, "the crowd's sockets over 64 were refused at accept: {refused}\n{metrics}");
}

/// A GET without an HTTP client crate.
async fn reqwest_free_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut response = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut response)).await;
    response
}

#[tokio::test]
async fn a_global_cap_refuses_at_accept_and_frees_with_the_connection() {
    let config = ServerConfig { max_connections: 5, ..ServerConfig::loopback_unlimited() };
    let server = server(config).await;
    let url = server.ws_url();
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(Raw::hello(&url).await.0);
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(2), tokio_tungstenite::connect_async(url.as_str()))
            .await
            .is_ok_and(|r| r.is_err()),
        "a sixth connection is closed at once"
    );
    drop(clients.pop());
    // The slot comes back when the connection has closed.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if tokio_tungstenite::connect_async(url.as_str()).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_garbage_costs_tokens_and_ends_the_connection() {
    let config = ServerConfig { messages_per_second: 5, message_burst: 20, ..ServerConfig::loopback_unlimited() };
    let server = server(config).await;
    let url = server.ws_url();
    let (mut flood, _) = Raw::hello(&url).await;
    let mut answers = 0;
    let mut closed = false;
    for _ in 0..500 {
        if futures_util::SinkExt::send(&mut flood.ws, tokio_tungstenite::tungstenite::Message::text("{not json"))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
    }
    while flood.try_recv(Duration::from_millis(500)).await.is_some() {
        answers += 1;
    }
    // Parsed and answered as malformed only while tokens lasted (20 and a few refilled), then one answer for
    // the run of refusals, then closed with a goodbye.
    assert!(answers <= 30, "{answers} answers to 500 garbage frames");
    // The server closed it: the stream ends (rather than waiting for more).
    let end = tokio::time::timeout(Duration::from_secs(2), futures_util::StreamExt::next(&mut flood.ws)).await;
    assert!(closed || matches!(end, Ok(None | Some(Err(_)))), "the flood was not closed: {end:?}");
    everyone_else_is_served(&url).await;
    server.shutdown().await;
}

/// A flooder that never reads: it does not see the server's goodbye and sends on at full speed. The server
/// reads only a few more frames and drops the socket (the kernel then resets it), rather than reading the
/// flood for the whole goodbye wait — which is what had the server spend most of a core on 20 flooders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_that_goes_on_after_the_goodbye_is_dropped_at_once() {
    let config = ServerConfig { messages_per_second: 5, message_burst: 20, ..ServerConfig::loopback_unlimited() };
    let server = server(config).await;
    let url = server.ws_url();
    let mut tcp = TcpStream::connect(addr_of(&url)).await.unwrap();
    // The upgrade by hand: the flooder must not read (a WebSocket library would answer the close).
    tcp.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "the server answered the upgrade");
        response.push(byte[0]);
    }
    assert!(response.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&response));
    // A masked text frame (mask 0: the payload goes as is).
    let frame = |payload: &[u8]| [&[0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0][..], payload].concat();
    tcp.write_all(&frame(br#"{"type":"hello","version":1,"client":"flood"}"#)).await.unwrap();
    let garbage: Vec<u8> = frame(b"{not json").repeat(1000);
    let started = Instant::now();
    let mut written = 0usize;
    while started.elapsed() < Duration::from_secs(3) {
        match tcp.write_all(&garbage).await {
            Ok(()) => written += 1000,
            Err(_) => break,
        }
    }
    let lasted = started.elapsed();
    println!("the flood lasted {lasted:?} ({written} frames written)");
    // It closes after 20 tokens and a burst of refusals; then it reads at most a few frames before dropping.
    // Reading on until the goodbye wait (500 ms) ran out is what this guards against.
    assert!(lasted < Duration::from_millis(400), "the flood went on for {lasted:?} ({written} frames written)");
    everyone_else_is_served(&url).await;
    server.shutdown().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_limits_count_the_client() {
    let config = ServerConfig {
        max_connections_per_address: 2,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..ServerConfig::loopback_unlimited()
    };
    let server = server(config).await;
    let url = server.ws_url();
    let as_client = |client: &'static str| {
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("x-forwarded-for", client.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let _a = as_client("203.0.113.5").await.expect("first");
    let _b = as_client("203.0.113.5").await.expect("second");
    match as_client("203.0.113.5").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!("a third from one client: {:?}", other.map(|_| ())),
    }
    // A Forwarded header of the client's own making (the proxy passes it on) changes nothing.
    let mut forged = url.as_str().into_client_request().unwrap();
    forged.headers_mut().insert("x-forwarded-for", "203.0.113.5".parse().unwrap());
    forged.headers_mut().insert("forwarded", "for=192.0.2.77".parse().unwrap());
    match tokio_tungstenite::connect_async(forged).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!("a forged Forwarded header got in: {:?}", other.map(|_| ())),
    }
    // Others behind the same proxy are not locked out.
    for _ in 0..2 {
        as_client("198.51.100.7").await.expect("another client");
    }
    server.shutdown().await;
}

/// Twenty clients that stop reading while signals pour in: each costs the server at most its mailbox's
/// 1 MiB (a queue of 256 messages held 8 MiB of these each), and it all comes back when they are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_cost_a_bounded_queue() {
    let server = server(ServerConfig { heartbeat: Duration::from_secs(1), ..ServerConfig::loopback_unlimited() }).await;
    let url = server.ws_url();
    let addr = addr_of(&url);
    let blob = "z".repeat(32 * 1024);
    let mut senders = Vec::new();
    let mut sleepy = Vec::new();
    for _ in 0..5 {
        let room = tincan_signal::code::RoomCode::generate();
        let (mut sender, _) = Raw::hello(&url).await;
        sender.send(json!({"type": "join", "room": room.as_str(), "create": true, "capacity": 5})).await;
        sender.expect("joined").await;
        for _ in 0..4 {
            let (mut s, _) = Raw::hello(&url).await;
            s.send(json!({"type": "join", "room": room.as_str()})).await;
            s.expect("joined").await;
            sleepy.push(s);
        }
        senders.push(sender);
    }
    let floods = senders.into_iter().map(|mut sender| {
        let blob = blob.clone();
        tokio::spawn(async move {
            for i in 0..600 {
                sender.send(json!({"type": "signal", "kind": "candidate", "data": {"i": i, "blob": blob}})).await;
            }
            sender
        })
    });
    let mut senders = Vec::new();
    for f in floods {
        senders.push(f.await.unwrap());
    }
    let figure = |metrics: &str, name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(f64::NAN)
    };
    // The sleepy ones are dropped as slow consumers (a full mailbox, or a write stuck for 10 s); their queues
    // empty.
    let deadline = Instant::now() + Duration::from_secs(25);
    let (peak, now) = loop {
        let metrics = reqwest_free_get(addr, "/metrics").await;
        let (peak, now) =
            (figure(&metrics, "tincan_signal_queued_bytes_peak"), figure(&metrics, "tincan_signal_queued_bytes"));
        if now < 64.0 * 1024.0 || Instant::now() > deadline {
            break (peak, now);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("queued bytes: peak {:.1} MiB, after {:.0} B", peak / 1048576.0, now);
    assert!(peak <= 20.0 * 1048576.0 + 2.0 * 1048576.0, "queued {:.1} MiB for 20 slow readers", peak / 1048576.0);
    assert!(now < 64.0 * 1024.0, "still queued after they were dropped: {now} B");
    assert!(server.errors_sent(tincan_signal::protocol::ErrorCode::SlowConsumer) >= 10);
    everyone_else_is_served(&url).await;
    drop(sleepy);
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_are_for_the_operator_only() {
    let open = server(ServerConfig::loopback_unlimited()).await;
    let addr = addr_of(&open.ws_url());
    assert!(reqwest_free_get(addr, "/metrics").await.contains("tincan_signal_connections"), "loopback, no token");
    // Through a proxy on the same host: every visitor would look local.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.0\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n").await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.0 403"), "{response}");
    open.shutdown().await;

    let guarded =
        server(ServerConfig { metrics_token: Some("t0ken".into()), ..ServerConfig::loopback_unlimited() }).await;
    let addr = addr_of(&guarded.ws_url());
    let get = |auth: &'static str| async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(format!("GET /metrics HTTP/1.0\r\n{auth}\r\n").as_bytes()).await.unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        response
    };
    assert!(get("").await.starts_with("HTTP/1.0 403"));
    assert!(get("Authorization: Bearer wrong\r\n").await.starts_with("HTTP/1.0 403"));
    assert!(get("Authorization: Bearer t0ken\r\n").await.contains("tincan_signal_connections"));
    guarded.shutdown().await;
}
