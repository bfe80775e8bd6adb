//! TURN over TCP and TLS (`turn:…?transport=tcp`, `turns:`), which webrtc-rs 0.21's TURN client skips: it
//! speaks UDP only. A bridge stands in for the server on loopback. The client talks UDP to it as to any TURN
//! server; for each local socket that does, the bridge keeps one TCP (or TLS) connection to the real server
//! and carries the same messages over it: over a stream, TURN is STUN messages and ChannelData back to back,
//! ChannelData padded to four bytes (RFC 8656 §12.5). The allocation is the real server's, so the relayed
//! candidate is its address, and the server sees a TURN client over TCP or TLS, as from a browser.
//!
//! Why a bridge and not a patch of webrtc-rs: its driver, gatherer and relayer are built around UDP sockets
//! (a stream transport would touch all three), while this is one small module, which goes when upstream
//! relays over streams. What the server sends is cut into frames by their headers: a frame that is neither a
//! STUN message (a length that is a multiple of four) nor ChannelData ends that connection; the length field
//! bounds a frame at 64 KiB. The loopback port takes anyone's datagrams: a connection opens only for an
//! Allocate request, datagrams are at most `MAX_DATAGRAM` bytes, and each connection queues a bounded number.
//!
//! Not done: IPv6 (the stand-in is on 127.0.0.1, so only IPv4 sockets get a relay over a stream), and a
//! connection that dies with a network change is noticed by TCP's own timers (`USER_TIMEOUT`, keepalives).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::Result;

/// How a TURN server is reached over a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Tcp,
    Tls,
}

impl StreamKind {
    /// As the stats name it: `tcp` or `tls`.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Tcp => "tcp",
            StreamKind::Tls => "tls",
        }
    }
}

/// A TURN server to be reached over a stream, read from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamServer {
    pub host: String,
    pub port: u16,
    pub kind: StreamKind,
}

impl StreamServer {
    /// `turns:HOST[:PORT][?transport=tcp]` (TLS, port 5349 unless given) or `turn:HOST[:PORT]?transport=tcp`
    /// (port 3478); `None` for UDP TURN (webrtc-rs's own) and anything else.
    pub fn from_url(url: &str) -> Option<StreamServer> {
        let (scheme, rest) = url.trim().split_once(':')?;
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let transport = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("transport="))
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let (kind, default_port) = match (scheme.to_ascii_lowercase().as_str(), transport.as_str()) {
            ("turns", "" | "tcp") => (StreamKind::Tls, 5349),
            ("turn", "tcp") => (StreamKind::Tcp, 3478),
            _ => return None,
        };
        let (host, port) = split_host_port(address)?;
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        (!host.is_empty()).then(|| StreamServer { host: host.to_owned(), port, kind })
    }
}

/// `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`.
fn split_host_port(address: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = address.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            port => Some((host, Some(port.strip_prefix(':')?))),
        };
    }
    match address.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((address, None)),
    }
}

/// TLS for TURN servers (`crate::tls`), with the ALPN TURN servers announce (`stun.turn`, RFC 7443).
pub fn tls_config(extra_roots: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>> {
    crate::tls::client_config(extra_roots, &[b"stun.turn"])
}

/// Local sockets a bridge carries at most (one connection each): every interface's socket talks to it.
const MAX_LINKS: usize = 32;
/// Datagrams waiting for a connection (while it opens, or under a burst) before more are dropped, as UDP
/// would drop them.
const QUEUE: usize = 1024;
/// The largest datagram carried: the client's messages are packets of a path's MTU (and a few STUN
/// requests); 1024 of these per connection bound what a stalled one holds (2 MiB).
const MAX_DATAGRAM: usize = 2048;
/// Connecting, and the TLS handshake with it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Data the server has not acknowledged for this long, or a write it does not take, ends the connection.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A UDP stand-in on loopback for one TURN server reached over TCP or TLS. Dropped, it stops, and its
/// connections close (the server then ends their allocations).
pub struct TurnBridge {
    addr: SocketAddr,
    pub server: StreamServer,
    task: tokio::task::AbortHandle,
}

impl TurnBridge {
    pub async fn start(server: StreamServer, tls: Option<Arc<rustls::ClientConfig>>) -> Result<TurnBridge> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        // As the connection's own sockets (see `runtime`): a file's bursts would overflow the default.
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(super::runtime::UDP_RECEIVE_BUFFER) {
            tracing::debug!("SO_RCVBUF: {e}");
        }
        let socket = Arc::new(socket);
        let addr = socket.local_addr()?;
        let task = tokio::spawn(serve(socket, server.clone(), tls)).abort_handle();
        Ok(TurnBridge { addr, server, task })
    }

    /// The URL webrtc-rs is given in the server's place (with the server's credentials).
    pub fn url(&self) -> String {
        format!("turn:{}?transport=udp", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TurnBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The bridge's connections, one per local socket; stopped with the bridge (its task is aborted, and this
/// with it).
#[derive(Default)]
struct Links(HashMap<SocketAddr, (mpsc::Sender<Vec<u8>>, tokio::task::AbortHandle)>);

impl Drop for Links {
    fn drop(&mut self) {
        for (_, task) in self.0.values() {
            task.abort();
        }
    }
}

async fn serve(socket: Arc<UdpSocket>, server: StreamServer, tls: Option<Arc<rustls::ClientConfig>>) {
    let mut links = Links::default();
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                tracing::debug!("TURN bridge: {e}");
                continue;
            }
        };
        if n > MAX_DATAGRAM {
            continue;
        }
        let Some(datagram) = outgoing_frame(&buf[..n]) else { continue };
        links.0.retain(|_, (tx, _)| !tx.is_closed());
        if !links.0.contains_key(&from) {
            // Only an allocation starts a connection: a new connection has no allocation for anything
            // else to use (so a connection that ended is not redialled for every packet of a call).
            if links.0.len() >= MAX_LINKS || !is_allocate_request(&datagram) {
                continue;
            }
            let (tx, rx) = mpsc::channel(QUEUE);
            let task = tokio::spawn(link(socket.clone(), from, server.clone(), tls.clone(), rx)).abort_handle();
            links.0.insert(from, (tx, task));
        }
        if let Some((tx, _)) = links.0.get(&from) {
            let _ = tx.try_send(datagram);
        }
    }
}

/// A STUN Allocate request (method 0x003, class request).
fn is_allocate_request(frame: &[u8]) -> bool {
    frame.len() >= 20 && frame[0] == 0x00 && frame[1] == 0x03
}

/// One local socket's connection to the server: datagrams out as frames, frames back as datagrams.
async fn link(
    socket: Arc<UdpSocket>,
    client: SocketAddr,
    server: StreamServer,
    tls: Option<Arc<rustls::ClientConfig>>,
    rx: mpsc::Receiver<Vec<u8>>,
) {
    let (host, port, kind) = (server.host.as_str(), server.port, server.kind.name());
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let tcp = TcpStream::connect((host, port)).await?;
        let _ = tcp.set_nodelay(true);
        watch_for_stalls(&tcp);
        match (server.kind, tls) {
            (StreamKind::Tls, Some(config)) => {
                let name = ServerName::try_from(server.host.clone())
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
                Ok(Stream::Tls(Box::new(stream)))
            }
            (StreamKind::Tls, None) => Err(std::io::Error::other("TURN over TLS without a TLS configuration")),
            (StreamKind::Tcp, _) => Ok(Stream::Tcp(tcp)),
        }
    })
    .await;
    let result = match connected {
        Ok(Ok(Stream::Tcp(tcp))) => carry(tcp, socket, client, rx).await,
        Ok(Ok(Stream::Tls(tls))) => carry(*tls, socket, client, rx).await,
        Ok(Err(e)) => return tracing::warn!("TURN server {host}:{port} over {kind}: {e}"),
        Err(_) => return tracing::warn!("TURN server {host}:{port} over {kind}: no answer"),
    };
    if let Err(e) = result {
        tracing::debug!("TURN server {host}:{port} ({kind}): {e}");
    }
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// A connection that a network change killed is noticed in seconds, not TCP's quarter of an hour: data the
/// server does not acknowledge (Linux's `TCP_USER_TIMEOUT`), and keepalives while nothing is sent.
fn watch_for_stalls(tcp: &TcpStream) {
    let socket = socket2::SockRef::from(tcp);
    let keepalive = socket2::TcpKeepalive::new().with_time(STALL_TIMEOUT).with_interval(Duration::from_secs(2));
    if let Err(e) = socket.set_tcp_keepalive(&keepalive) {
        tracing::debug!("TCP keepalive: {e}");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = socket.set_tcp_user_timeout(Some(STALL_TIMEOUT)) {
        tracing::debug!("TCP_USER_TIMEOUT: {e}");
    }
}

async fn carry<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    socket: Arc<UdpSocket>,
    client: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut inbound: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16_384];
    loop {
        tokio::select! {
            datagram = rx.recv() => {
                let Some(frame) = datagram else { return Ok(()) };
                tokio::time::timeout(STALL_TIMEOUT, writer.write_all(&frame))
                    .await
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the server takes nothing"))??;
            }
            read = reader.read(&mut chunk) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                inbound.extend_from_slice(&chunk[..n]);
                let mut start = 0;
                while let Some((len, taken)) = next_frame(&inbound[start..])? {
                    socket.send_to(&inbound[start..start + len], client).await?;
                    start += taken;
                }
                inbound.drain(..start);
            }
        }
    }
}

/// A datagram from the TURN client as it goes on the stream: STUN as it is, ChannelData padded to four
/// bytes (webrtc-rs pads it on UDP too; a datagram may or may not be); `None` for anything else.
fn outgoing_frame(datagram: &[u8]) -> Option<Vec<u8>> {
    if datagram.len() < 4 {
        return None;
    }
    let (len, taken) = frame_lengths(datagram).ok()?;
    if datagram.len() < len || datagram.len() > taken {
        return None;
    }
    let mut frame = datagram[..len].to_vec();
    frame.resize(taken, 0);
    Some(frame)
}

/// The message at the start of a stream: its length and the bytes it takes (ChannelData is padded to four),
/// once it is all there. An error for bytes that are neither STUN (first two bits 00, a length that is a
/// multiple of four) nor ChannelData (01).
fn next_frame(buf: &[u8]) -> std::io::Result<Option<(usize, usize)>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let (len, taken) = frame_lengths(buf)?;
    Ok((buf.len() >= taken).then_some((len, taken)))
}

/// What a frame's first four bytes say: its length, and what it takes on a stream.
fn frame_lengths(header: &[u8]) -> std::io::Result<(usize, usize)> {
    let body = usize::from(u16::from_be_bytes([header[2], header[3]]));
    match header[0] >> 6 {
        0 if body % 4 == 0 => Ok((20 + body, 20 + body)),
        1 => Ok((4 + body, (4 + body).next_multiple_of(4))),
        _ => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "neither STUN nor ChannelData")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls_are_told_from_udp_ones() {
        let tls = |host: &str, port| Some(StreamServer { host: host.into(), port, kind: StreamKind::Tls });
        let tcp = |host: &str, port| Some(StreamServer { host: host.into(), port, kind: StreamKind::Tcp });
        assert_eq!(StreamServer::from_url("turns:turn.example.org"), tls("turn.example.org", 5349));
        assert_eq!(StreamServer::from_url("turns:turn.example.org:443?transport=tcp"), tls("turn.example.org", 443));
        assert_eq!(StreamServer::from_url("turn:10.0.0.1?transport=tcp"), tcp("10.0.0.1", 3478));
        assert_eq!(StreamServer::from_url("TURN:[::1]:3479?transport=TCP"), tcp("::1", 3479));
        assert_eq!(StreamServer::from_url("turn:10.0.0.1:3478?transport=udp"), None);
        assert_eq!(StreamServer::from_url("turn:10.0.0.1:3478"), None);
        assert_eq!(StreamServer::from_url("turns:x:443?transport=udp"), None, "DTLS: not carried");
        assert_eq!(StreamServer::from_url("stun:10.0.0.1:3478"), None);
        assert_eq!(StreamServer::from_url("turns::443"), None);
        assert_eq!(StreamServer::from_url("turns:x:port"), None);
    }

    #[test]
    fn frames_are_whole_stun_messages_or_padded_channel_data() {
        // A STUN header with 8 bytes of attributes, then the start of the next message.
        let mut stun = vec![0x01, 0x01, 0x00, 0x08];
        stun.extend([0u8; 24]);
        assert_eq!(next_frame(&stun).unwrap(), Some((28, 28)));
        assert_eq!(next_frame(&stun[..27]).unwrap(), None, "not all there yet");
        // ChannelData of 5 bytes takes 12 on a stream (4 + 5, padded to 4).
        let channel = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0];
        assert_eq!(next_frame(&channel).unwrap(), Some((9, 12)));
        assert_eq!(next_frame(&channel[..9]).unwrap(), None, "the padding too");
        assert!(next_frame(&[0x80, 0, 0, 0]).is_err(), "neither");
        assert!(next_frame(&[0x00, 0x01, 0x00, 0x03]).is_err(), "a STUN length is a multiple of four");
        assert_eq!(outgoing_frame(&channel[..9]), Some(channel.to_vec()));
        assert_eq!(outgoing_frame(&channel), Some(channel.to_vec()), "already padded");
        assert_eq!(outgoing_frame(&[channel.to_vec(), vec![0; 4]].concat()), None, "longer than its padding");
        assert_eq!(outgoing_frame(&channel[..8]), None, "shorter than its length");
        assert_eq!(outgoing_frame(&stun[..28]), Some(stun[..28].to_vec()));
        assert_eq!(outgoing_frame(&stun[..27]), None, "a short datagram is not sent");
        assert_eq!(outgoing_frame(&[0xff; 8]), None);
        let mut allocate = vec![0x00, 0x03, 0x00, 0x00];
        allocate.extend([0u8; 16]);
        assert!(is_allocate_request(&allocate));
        assert!(!is_allocate_request(&stun), "a Binding success response");
        assert!(!is_allocate_request(&channel));
    }

    /// Frames across reads, two in one read, and a server that sends garbage: the bridge passes on whole
    /// messages only and ends the connection at the garbage.
    #[tokio::test]
    async fn a_stream_is_cut_into_datagrams() {
        let (mut server_side, bridge_side) = tokio::io::duplex(1024);
        let socket = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap());
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let (tx, rx) = mpsc::channel(4);
        let carried = tokio::spawn(carry(bridge_side, socket, client.local_addr().unwrap(), rx));
        let mut stun = vec![0x01, 0x01, 0x00, 0x04, 9, 9, 9, 9];
        stun.extend([7u8; 16]);
        let channel = [0x40, 0x01, 0x00, 0x02, 0xaa, 0xbb, 0, 0];
        server_side.write_all(&stun[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut both = stun[10..].to_vec();
        both.extend(channel);
        server_side.write_all(&both).await.unwrap();
        let mut buf = [0u8; 64];
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &stun[..]);
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &channel[..6], "without the padding");
        // And the other way: what the client sends goes out framed.
        tx.send(outgoing_frame(&channel[..6]).unwrap()).await.unwrap();
        let mut out = [0u8; 8];
        server_side.read_exact(&mut out).await.unwrap();
        assert_eq!(out, channel);
        server_side.write_all(&[0xc0, 0, 0, 0]).await.unwrap();
        assert!(carried.await.unwrap().is_err(), "garbage ends the connection");
    }
}
