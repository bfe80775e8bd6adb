//! How many connections the server holds: in all (below the descriptor limit, so it keeps accepting and
//! answering while an attacker holds sockets) and per client address (an IPv6 client is keyed on its /64,
//! which one subscriber usually has whole). Connections from a trusted reverse proxy are counted under the
//! client address the proxy names (`X-Forwarded-For`, `Forwarded`), not under the proxy's.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::http::HeaderMap;
use axum_server::accept::Accept;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::metrics::RefusedSockets;

/// Descriptors kept free for the listener, log files and the process's own needs.
pub const DESCRIPTOR_RESERVE: u64 = 64;

/// The key limits are counted under: an IPv4 address as it is (also when mapped into IPv6), an IPv6 address's
/// /64 network.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

/// Counts of open connections, in all and per address key.
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    counts: Mutex<Counts>,
    trusted: Vec<IpNet>,
    header: ForwardedHeader,
}

/// The header a trusted proxy writes the client's address in. Only that one is read: a proxy passes the other
/// on as the client sent it, so reading it would let a client choose its own address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx's `$proxy_add_x_forwarded_for`, HAProxy `option forwardfor`, Caddy).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=` (RFC 7239).
    Forwarded,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Full,
    TooManyFromAddress,
}

/// One connection's place in the counts; given back when dropped.
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    total: bool,
    address: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.limits.lock();
        if self.total {
            counts.total -= 1;
        }
        if let Some(key) = self.address
            && let Some(n) = counts.per_address.get_mut(&key)
        {
            *n -= 1;
            if *n == 0 {
                counts.per_address.remove(&key);
            }
        }
    }
}

impl ConnectionLimits {
    /// `max_per_address` 0: no per-address limit.
    pub fn new(max_total: usize, max_per_address: usize, trusted: Vec<IpNet>, header: ForwardedHeader) -> Arc<Self> {
        Arc::new(ConnectionLimits { max_total, max_per_address, counts: Mutex::default(), trusted, header })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// A new TCP connection from `peer`: counted in all, and under its address unless it is a trusted proxy
    /// (its clients are counted when they ask for a WebSocket, [`Self::admit_client`]).
    pub fn admit_socket(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        let per_address = (!self.is_trusted_proxy(peer)).then(|| address_key(peer));
        self.take(true, per_address)
    }

    /// A client behind a trusted proxy: counted under its own address.
    pub fn admit_client(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Refusal> {
        self.take(false, Some(address_key(client)))
    }

    fn take(self: &Arc<Self>, total: bool, address: Option<IpAddr>) -> Result<Slot, Refusal> {
        let mut counts = self.lock();
        if total && counts.total >= self.max_total {
            return Err(Refusal::Full);
        }
        if let Some(key) = address
            && self.max_per_address > 0
            && counts.per_address.get(&key).copied().unwrap_or(0) >= self.max_per_address
        {
            return Err(Refusal::TooManyFromAddress);
        }
        if total {
            counts.total += 1;
        }
        if let Some(key) = address {
            *counts.per_address.entry(key).or_insert(0) += 1;
        }
        Ok(Slot { limits: self.clone(), total, address })
    }

    /// Open connections in all.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Who a request is from: the peer, or, when the peer is a trusted proxy, the client it names — the
    /// nearest address in the configured header that is not itself a trusted proxy. An entry that does not
    /// parse (`unknown`, an obfuscated name) ends the walk at the proxy: what lies beyond it is the client's
    /// word.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        let mut chain: Vec<Option<IpAddr>> = Vec::new();
        match self.header {
            ForwardedHeader::Forwarded => {
                for value in headers.get_all("forwarded") {
                    let Ok(text) = value.to_str() else { return peer };
                    for element in text.split(',') {
                        let node = element.split(';').find_map(|pair| {
                            let (name, value) = pair.trim().split_once('=')?;
                            name.trim().eq_ignore_ascii_case("for").then_some(value)
                        });
                        chain.push(node.and_then(parse_node));
                    }
                }
            }
            ForwardedHeader::XForwardedFor => {
                for value in headers.get_all("x-forwarded-for") {
                    let Ok(text) = value.to_str() else { return peer };
                    chain.extend(text.split(',').map(parse_node));
                }
            }
        }
        // Walk back from the proxy that talked to us: the first address it did not add itself is the client.
        for node in chain.into_iter().rev() {
            match node {
                Some(ip) if self.is_trusted_proxy(ip) => continue,
                Some(ip) => return ip,
                None => return peer,
            }
        }
        peer
    }
}

/// An address as `X-Forwarded-For` and `Forwarded` write it: `192.0.2.1`, `"[2001:db8::1]:4711"`,
/// `192.0.2.1:4711`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    text.parse().ok().or_else(|| text.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
}

/// Parses `--trusted-proxy` values: a network (`10.0.0.0/8`) or one address.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// A TCP stream that holds its connection's [`Slot`] for as long as it is open (the WebSocket, once upgraded,
/// keeps the stream).
pub struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Takes each accepted socket's slot before anything is read from it; a socket over a limit is closed at once
/// (its descriptor freed), so an attacker's sockets never starve the listener.
#[derive(Clone)]
pub struct LimitAcceptor {
    pub limits: Arc<ConnectionLimits>,
    pub refused: RefusedSockets,
}

impl<S> Accept<TcpStream, S> for LimitAcceptor {
    type Stream = Counted;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream.peer_addr().and_then(|peer| {
            self.limits.admit_socket(peer.ip()).map_err(|refusal| {
                self.refused.count(refusal);
                io::Error::other("over the connection limit")
            })
        });
        std::future::ready(admitted.map(|slot| (Counted { stream, _slot: slot }, service)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_is_keyed_on_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(address_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), ip("2001:db8:1:2::"));
        assert_ne!(address_key(ip("2001:db8:1:3::1")), address_key(ip("2001:db8:1:2::1")));
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(address_key(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn counts_per_address_and_in_all_and_gives_back() {
        let limits = ConnectionLimits::new(3, 2, vec![], ForwardedHeader::XForwardedFor);
        let a1 = limits.admit_socket(ip("2001:db8::1")).unwrap();
        let _a2 = limits.admit_socket(ip("2001:db8::2")).unwrap();
        // The same /64: refused.
        assert_eq!(limits.admit_socket(ip("2001:db8::3")).err(), Some(Refusal::TooManyFromAddress));
        let _b = limits.admit_socket(ip("192.0.2.1")).unwrap();
        assert_eq!(limits.admit_socket(ip("192.0.2.2")).err(), Some(Refusal::Full));
        drop(a1);
        assert_eq!(limits.open(), 2);
        assert!(limits.admit_socket(ip("2001:db8::3")).is_ok());
    }

    #[test]
    fn a_trusted_proxy_is_counted_by_its_clients() {
        let trusted = vec![parse_network("10.0.0.0/8").unwrap()];
        let limits = ConnectionLimits::new(100, 2, trusted.clone(), ForwardedHeader::XForwardedFor);
        let proxy = ip("10.1.2.3");
        let sockets: Vec<Slot> = (0..10).map(|_| limits.admit_socket(proxy).unwrap()).collect();
        assert_eq!(sockets.len(), 10, "the proxy's sockets are not capped per address");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.9, 203.0.113.5, 10.0.0.2".parse().unwrap());
        // The nearest untrusted address: 203.0.113.5 (198.51.100.9 is what the client claimed).
        assert_eq!(limits.client_address(proxy, &headers), ip("203.0.113.5"));
        let _c1 = limits.admit_client(ip("203.0.113.5")).unwrap();
        let _c2 = limits.admit_client(ip("203.0.113.5")).unwrap();
        assert!(limits.admit_client(ip("203.0.113.5")).is_err());
        // An untrusted peer's headers are ignored.
        assert_eq!(limits.client_address(ip("203.0.113.7"), &headers), ip("203.0.113.7"));
        // A Forwarded header the client wrote itself is not read when the proxy writes X-Forwarded-For.
        headers.insert("forwarded", "for=192.0.2.60".parse().unwrap());
        assert_eq!(limits.client_address(proxy, &headers), ip("203.0.113.5"));
        // An entry that does not parse ends the walk at the proxy.
        let mut unknown = HeaderMap::new();
        unknown.insert("x-forwarded-for", "198.51.100.9, unknown".parse().unwrap());
        assert_eq!(limits.client_address(proxy, &unknown), proxy);
        // Nothing forwarded: the proxy itself.
        assert_eq!(limits.client_address(proxy, &HeaderMap::new()), proxy);
        // A proxy that writes Forwarded: quoted IPv6 with a port.
        let rfc = ConnectionLimits::new(100, 2, trusted, ForwardedHeader::Forwarded);
        let mut forwarded = HeaderMap::new();
        forwarded.insert("forwarded", "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\"".parse().unwrap());
        forwarded.insert("x-forwarded-for", "192.0.2.99".parse().unwrap());
        assert_eq!(rfc.client_address(proxy, &forwarded), ip("2001:db8:cafe::17"));
    }
}
