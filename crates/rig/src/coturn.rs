//! coturn on 127.0.0.1 (or another local address, e.g. the NAT lab's public one): a TURN server that accepts time-limited REST credentials (`use-auth-secret`), the
//! kind `tincan-signal --turn-secret` mints, and relays between loopback addresses; over UDP and TCP, and
//! TLS if asked (with a certificate from a CA of the test's own). Its files (log, pid,
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
    /// TLS listening port, if started with TLS.
    pub tls_port: Option<u16>,
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
        Coturn::start_on_with(Ipv4Addr::LOCALHOST, options, None)
    }

    /// On loopback, with TLS too, on a port of its own, with the certificate `ca` signed for 127.0.0.1.
    pub fn start_with_tls(ca: &TestCa, options: &[&str]) -> Result<Coturn> {
        Coturn::start_on_with(Ipv4Addr::LOCALHOST, options, Some((ca, None)))
    }

    /// Listen and relay on `ip` (an address of this network namespace).
    pub fn start_on(ip: Ipv4Addr) -> Result<Coturn> {
        Coturn::start_on_with(ip, &[], None)
    }

    /// On `ip`, with TLS on `tls_port` too (e.g. 443), with the certificate `ca` signed for `ip`.
    pub fn start_tls_on(ip: Ipv4Addr, ca: &TestCa, tls_port: u16) -> Result<Coturn> {
        Coturn::start_on_with(ip, &[], Some((ca, Some(tls_port))))
    }

    fn start_on_with(ip: Ipv4Addr, options: &[&str], tls: Option<(&TestCa, Option<u16>)>) -> Result<Coturn> {
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
        let mut tls_args = vec!["--no-tls".to_owned()];
        let mut tls_port = None;
        if let Some((ca, port)) = tls {
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            std::fs::write(&cert, &ca.cert_pem)?;
            std::fs::write(&key, &ca.key_pem)?;
            let port = match port {
                Some(p) => p,
                None => free_tcp_port(ip)?,
            };
            tls_port = Some(port);
            tls_args = vec![
                format!("--tls-listening-port={port}"),
                format!("--cert={}", cert.display()),
                format!("--pkey={}", key.display()),
            ];
        }
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
                .args(["--allow-loopback-peers", "--no-multicast-peers", "--no-cli", "--no-dtls"])
                .args(&tls_args)
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
        let coturn = Coturn { ip, port, tls_port, secret, realm, dir, process: Some(process) };
        coturn.wait_ready(Duration::from_secs(10))?;
        Ok(coturn)
    }

    /// `turn:IP:PORT?transport=udp`.
    pub fn url(&self) -> String {
        format!("turn:{}:{}?transport=udp", self.ip, self.port)
    }

    /// The same server over TCP: `turn:IP:PORT?transport=tcp`.
    pub fn tcp_url(&self) -> String {
        format!("turn:{}:{}?transport=tcp", self.ip, self.port)
    }

    /// Over TLS (if started with it): `turns:IP:PORT?transport=tcp`.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port.map(|port| format!("turns:{}:{port}?transport=tcp", self.ip))
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

fn free_tcp_port(ip: Ipv4Addr) -> Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// A certificate authority of the test's own, and a server certificate it signed for one IP address (PEM):
/// what a server with a private CA has, and what the client must be told to trust (`--ca-file`).
pub struct TestCa {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn for_loopback() -> Result<TestCa> {
        TestCa::for_ip(Ipv4Addr::LOCALHOST)
    }

    pub fn for_ip(ip: Ipv4Addr) -> Result<TestCa> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Tincan test CA");
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key)?;
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(vec![ip.to_string()])?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "turn.test");
        let cert = params.signed_by(&key, &rcgen::Issuer::new(ca_params, ca_key))?;
        Ok(TestCa { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}
