//! coturn on 127.0.0.1 (or another local address, e.g. the NAT lab's public one): a TURN server that accepts time-limited REST credentials (`use-auth-secret`), the
//! kind `tincan-signal --turn-secret` mints, and relays between loopback addresses. Its files (log, pid,
//! user db) live in a scratch directory that is removed with it.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{Guard, find};
use crate::{Result, RigError};

pub struct Coturn {
    /// Where it listens and relays from.
    pub ip: Ipv4Addr,
    /// UDP (and TCP) listening port.
    pub port: u16,
    /// The shared secret for REST credentials.
    pub secret: String,
    pub realm: String,
    dir: PathBuf,
    process: Option<Guard>,
}

impl Coturn {
    pub fn start() -> Result<Coturn> {
        Coturn::start_on(Ipv4Addr::LOCALHOST)
    }

    /// On loopback, with more of coturn's options (e.g. `--stale-nonce=2`).
    pub fn start_with(options: &[&str]) -> Result<Coturn> {
        Coturn::start_on_with(Ipv4Addr::LOCALHOST, options)
    }

    /// Listen and relay on `ip` (an address of this network namespace).
    pub fn start_on(ip: Ipv4Addr) -> Result<Coturn> {
        Coturn::start_on_with(ip, &[])
    }

    fn start_on_with(ip: Ipv4Addr, options: &[&str]) -> Result<Coturn> {
        let program = find("turnserver")
            .ok_or(RigError::Missing { program: "turnserver", hint: "apt install coturn; scripts/setup.sh does" })?;
        let port = free_udp_port(ip)?;
        // Relay ports: a random window, so parallel tests do not collide.
        let min_port = 20_000 + (rand::random::<u16>() % 400) * 100;
        let secret = format!("{:032x}", rand::random::<u128>());
        let realm = "tincan.test".to_owned();
        let dir = std::env::temp_dir().join(format!("tincan-coturn-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join("turnserver.log");
        let process = Guard::spawn(
            "turnserver",
            Command::new(program)
                .arg("-n")
                .arg(format!("--listening-ip={ip}"))
                .arg(format!("--relay-ip={ip}"))
                .arg(format!("--listening-port={port}"))
                .arg(format!("--min-port={min_port}"))
                .arg(format!("--max-port={}", min_port + 99))
                .arg("--use-auth-secret")
                .arg(format!("--static-auth-secret={secret}"))
                .arg(format!("--realm={realm}"))
                // The README's hardening, except what the tests need: loopback peers (calls on 127.0.0.1) and
                // 100.64.0.0/10 (the NAT lab's "internet"). Private and link-local ranges are refused, so a
                // relay cannot reach into the TURN host's own networks.
                .args(["--allow-loopback-peers", "--no-multicast-peers", "--no-cli", "--no-tls", "--no-dtls"])
                .args(["--denied-peer-ip=0.0.0.0-0.255.255.255", "--denied-peer-ip=10.0.0.0-10.255.255.255"])
                .args(["--denied-peer-ip=169.254.0.0-169.254.255.255", "--denied-peer-ip=172.16.0.0-172.31.255.255"])
                .args([
                    "--denied-peer-ip=192.168.0.0-192.168.255.255",
                    "--denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                ])
                .args(["--denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])
                .args(["--user-quota=12", "--total-quota=1200", "--simple-log"])
                .args(["--no-software-attribute", "--fingerprint"])
                .arg(format!("--log-file={}", log.display()))
                .arg(format!("--userdb={}", dir.join("turndb").display()))
                .arg(format!("--pidfile={}", dir.join("turnserver.pid").display()))
                .args(options)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        let coturn = Coturn { ip, port, secret, realm, dir, process: Some(process) };
        coturn.wait_ready(Duration::from_secs(10))?;
        Ok(coturn)
    }

    /// `turn:IP:PORT?transport=udp` (webrtc-rs relays over UDP only).
    pub fn url(&self) -> String {
        format!("turn:{}:{}?transport=udp", self.ip, self.port)
    }

    /// The same server as a STUN server: `stun:IP:PORT`.
    pub fn stun_url(&self) -> String {
        format!("stun:{}:{}", self.ip, self.port)
    }

    /// What coturn logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    }

    /// Ready when it answers a STUN binding request.
    fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let socket = UdpSocket::bind((self.ip, 0))?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let started = Instant::now();
        // Binding request: type 0x0001, length 0, magic cookie, 12-byte transaction id.
        let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        request.extend_from_slice(&rand::random::<[u8; 12]>());
        let mut buf = [0u8; 512];
        while started.elapsed() < timeout {
            socket.send_to(&request, (self.ip, self.port))?;
            if let Ok(n) = socket.recv(&mut buf)
                && n >= 20
                && buf[0..2] == [0x01, 0x01]
                && buf[8..20] == request[8..20]
            {
                return Ok(());
            }
        }
        Err(RigError::NotReady { program: "turnserver", seconds: timeout.as_secs(), log: self.log() })
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_udp_port(ip: Ipv4Addr) -> Result<u16> {
    Ok(UdpSocket::bind((ip, 0))?.local_addr()?.port())
}
