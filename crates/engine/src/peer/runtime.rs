//! The tokio runtime as webrtc-rs sees it, with one change: UDP sockets get a 4 MiB receive buffer.
//! With the kernel's ~208 KiB default, SCTP bursts (up to its 1 MiB window) overflow the socket on
//! loopback and each tail drop costs a 1 s retransmission timeout (measured: 4–18 MB/s → 130–150 MB/s).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime, TokioRuntime,
};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub const UDP_RECEIVE_BUFFER: usize = 4 << 20;

#[derive(Debug)]
pub struct BufferedRuntime {
    inner: TokioRuntime,
}

impl BufferedRuntime {
    pub fn new() -> Self {
        BufferedRuntime { inner: TokioRuntime }
    }
}

impl Runtime for BufferedRuntime {
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(f)
    }
    fn spawn_reactor(&self, n: usize, f: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(n, f)
    }
    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        // The kernel caps this at net.core.rmem_max; a smaller buffer still works, just with more loss.
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
            tracing::debug!("SO_RCVBUF: {e}");
        }
        self.inner.wrap_udp_socket(socket)
    }
    fn wrap_tcp_listener(&self, l: std::net::TcpListener) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(l)
    }
    fn connect_tcp<'a>(&'a self, a: SocketAddr) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(a)
    }
    fn resolve_host<'a>(&'a self, h: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(h)
    }
    fn now(&self) -> Instant {
        self.inner.now()
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(d)
    }
    fn interval(&self, p: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(p)
    }
    fn block_on(&self, f: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(f)
    }
    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }
    fn name(&self) -> &'static str {
        "tokio (4 MiB UDP receive buffers)"
    }
}
