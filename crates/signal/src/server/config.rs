//! Server configuration: flags, environment variables (`TINCAN_*`) and an optional TOML file, in that order of
//! precedence, over built-in defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

use crate::server::limits::ForwardedHeader;
use serde::Deserialize;

use crate::Error;

/// The resolved configuration the server runs with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Name reported in `welcome` and logs.
    pub server_name: String,
    /// Capacity of a room created without asking for one.
    pub room_capacity: usize,
    /// The most a room creator may ask for.
    pub max_room_capacity: usize,
    /// Largest text frame answered normally; larger frames get a `too_large` error, and frames over four
    /// times this size close the connection.
    pub max_message_bytes: usize,
    /// New WebSocket connections per IP address and minute (0: no limit), with this burst.
    pub connect_per_minute: u32,
    pub connect_burst: u32,
    /// `join` and `ring` requests per IP address and minute (0: no limit), with this burst.
    pub join_per_minute: u32,
    pub join_burst: u32,
    /// Messages per connection and second (0: no limit), with this burst.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// How often the server pings each connection.
    pub heartbeat: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// A connection must say `hello` within this time.
    pub hello_timeout: Duration,
    /// How long a ring waits for an answer before it is `missed`.
    pub ring_timeout: Duration,
    /// Open connections in all (0: the descriptor limit less a reserve, read at start). Sockets over it are
    /// closed at accept, so the server never runs out of descriptors.
    pub max_connections: usize,
    /// Open connections per client address (an IPv6 client's /64), 0 for no limit.
    pub max_connections_per_address: usize,
    /// From accepting a socket to its first request's headers (TLS handshake included), and for each later
    /// request's headers: a client that trickles its request is dropped after this.
    pub header_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` name the client (limits then count the client).
    pub trusted_proxies: Vec<IpNet>,
    /// Which of the two the trusted proxies write (only that one is read).
    pub forwarded_header: ForwardedHeader,
    /// The host names clients reach this server by. Registration (and ring) signatures must be for one of
    /// them; with none, for the host the request names if it is one of this machine's own names.
    pub public_hosts: Vec<String>,
    /// `/metrics` answers requests bearing this token (`Authorization: Bearer …`); without one, only direct
    /// requests from loopback.
    pub metrics_token: Option<String>,
    pub tls: Option<TlsFiles>,
    pub stun_urls: Vec<String>,
    pub turn: Option<TurnConfig>,
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// TURN REST credentials (coturn `use-auth-secret`): the server mints a username `expiry:id` and its
/// HMAC-SHA1 password for every `joined`.
#[derive(Clone)]
pub struct TurnConfig {
    pub urls: Vec<String>,
    pub secret: String,
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<hidden>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            server_name: format!("tincan-signal {}", env!("CARGO_PKG_VERSION")),
            room_capacity: 2,
            max_room_capacity: 8,
            max_message_bytes: 64 * 1024,
            connect_per_minute: 60,
            connect_burst: 20,
            join_per_minute: 60,
            join_burst: 20,
            messages_per_second: 50,
            message_burst: 200,
            heartbeat: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(10),
            ring_timeout: Duration::from_secs(45),
            max_connections: 0,
            max_connections_per_address: 64,
            header_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            public_hosts: Vec::new(),
            metrics_token: None,
            tls: None,
            stun_urls: Vec::new(),
            turn: None,
        }
    }
}

impl ServerConfig {
    /// Defaults for tests and benchmarks: an ephemeral loopback port, no rate limits and no per-address cap
    /// (every test client comes from 127.0.0.1).
    pub fn loopback_unlimited() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            connect_per_minute: 0,
            join_per_minute: 0,
            messages_per_second: 0,
            max_connections_per_address: 0,
            ..Default::default()
        }
    }

    fn validate(self) -> Result<Self, Error> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.room_capacity < 2 || self.max_room_capacity < self.room_capacity {
            return bad("room capacity must be at least 2 and at most max-room-capacity");
        }
        if self.max_message_bytes < 1024 {
            return bad("max-message-bytes must be at least 1024");
        }
        if self.header_timeout.is_zero() {
            return bad("header-timeout must be at least a second");
        }
        if self.heartbeat.is_zero() || self.idle_timeout <= self.heartbeat {
            return bad("idle-timeout must be longer than the heartbeat interval");
        }
        if let Some(turn) = &self.turn
            && (turn.urls.is_empty() || turn.secret.is_empty())
        {
            return bad("TURN needs both --turn-url and a secret (TINCAN_TURN_SECRET)");
        }
        Ok(self)
    }
}

/// Settings as flags, environment variables or TOML keys (same names, `snake_case` in TOML). Unset ones fall
/// back to the file, then to the defaults.
#[derive(Args, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ServerArgs {
    /// TOML file with any of these settings.
    #[arg(long, env = "TINCAN_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:7878 [default: 127.0.0.1:7878]
    #[arg(long, env = "TINCAN_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[arg(long, env = "TINCAN_SERVER_NAME")]
    pub server_name: Option<String>,
    /// Capacity of rooms [default: 2]
    #[arg(long, env = "TINCAN_ROOM_CAPACITY")]
    pub room_capacity: Option<usize>,
    /// The largest capacity a room creator may ask for [default: 8]
    #[arg(long, env = "TINCAN_MAX_ROOM_CAPACITY")]
    pub max_room_capacity: Option<usize>,
    /// Largest accepted message in bytes [default: 65536]
    #[arg(long, env = "TINCAN_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// New connections per IP and minute, 0 for no limit [default: 60]
    #[arg(long, env = "TINCAN_CONNECT_PER_MINUTE")]
    pub connect_per_minute: Option<u32>,
    #[arg(long, env = "TINCAN_CONNECT_BURST")]
    pub connect_burst: Option<u32>,
    /// Joins and rings per IP and minute, 0 for no limit [default: 60]
    #[arg(long, env = "TINCAN_JOIN_PER_MINUTE")]
    pub join_per_minute: Option<u32>,
    #[arg(long, env = "TINCAN_JOIN_BURST")]
    pub join_burst: Option<u32>,
    /// Messages per connection and second, 0 for no limit [default: 50]
    #[arg(long, env = "TINCAN_MESSAGES_PER_SECOND")]
    pub messages_per_second: Option<u32>,
    #[arg(long, env = "TINCAN_MESSAGE_BURST")]
    pub message_burst: Option<u32>,
    /// Seconds between heartbeats [default: 20]
    #[arg(long, env = "TINCAN_HEARTBEAT_SECS")]
    pub heartbeat_secs: Option<u64>,
    /// Seconds of silence after which a connection is closed [default: 60]
    #[arg(long, env = "TINCAN_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a ring waits for an answer [default: 45]
    #[arg(long, env = "TINCAN_RING_TIMEOUT_SECS")]
    pub ring_timeout_secs: Option<u64>,
    /// Open connections in all, 0 for the descriptor limit less 64 [default: 0]
    #[arg(long, env = "TINCAN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open connections per client address (IPv6: per /64), 0 for no limit [default: 64]
    #[arg(long, env = "TINCAN_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// Seconds a client has to send a request's headers (the first one's clock starts at accept) [default: 10]
    #[arg(long, env = "TINCAN_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// A reverse proxy (address or network, repeat for several) whose X-Forwarded-For / Forwarded headers name
    /// the client
    #[arg(long = "trusted-proxy", env = "TINCAN_TRUSTED_PROXIES", value_delimiter = ',')]
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write the client's address in: x-forwarded-for or forwarded (only that
    /// one is read) [default: x-forwarded-for]
    #[arg(long, value_enum, env = "TINCAN_FORWARDED_HEADER")]
    pub forwarded_header: Option<ForwardedHeader>,
    /// A host name clients use for this server, e.g. signal.example.org (repeat for several); registrations
    /// must be signed for one of them (without any: only for this machine's own addresses and names)
    #[arg(long = "public-host", env = "TINCAN_PUBLIC_HOSTS", value_delimiter = ',')]
    #[serde(default)]
    pub public_hosts: Vec<String>,
    /// Token a request to /metrics must bear (Authorization: Bearer TOKEN); without one, /metrics answers only
    /// direct requests from loopback
    #[arg(long, env = "TINCAN_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// PEM certificate chain; with --tls-key, serve wss:// and https://
    #[arg(long, env = "TINCAN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key
    #[arg(long, env = "TINCAN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// STUN URL handed to clients (repeat for several), e.g. stun:stun.example.org:3478
    #[arg(long = "stun-url", env = "TINCAN_STUN_URLS", value_delimiter = ',')]
    #[serde(default)]
    pub stun_urls: Vec<String>,
    /// TURN URL handed to clients with fresh credentials (repeat for several), e.g. turn:turn.example.org:3478
    #[arg(long = "turn-url", env = "TINCAN_TURN_URLS", value_delimiter = ',')]
    #[serde(default)]
    pub turn_urls: Vec<String>,
    /// The shared secret of coturn's `static-auth-secret` (prefer the environment variable to the flag)
    #[arg(long, env = "TINCAN_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// Lifetime of minted TURN credentials in seconds [default: 3600]
    #[arg(long, env = "TINCAN_TURN_TTL_SECS")]
    pub turn_ttl_secs: Option<u64>,
}

impl ServerArgs {
    /// Merge with the TOML file (if any) and the defaults, and check the result.
    pub fn resolve(self) -> Result<ServerConfig, Error> {
        let file = match &self.config {
            Some(path) => Self::from_file(path)?,
            None => ServerArgs::default(),
        };
        self.or(file).into_config()
    }

    fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile { path: path.into(), source })?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    fn or(self, file: ServerArgs) -> ServerArgs {
        let list = |a: Vec<String>, b: Vec<String>| if a.is_empty() { b } else { a };
        ServerArgs {
            config: self.config,
            listen: self.listen.or(file.listen),
            server_name: self.server_name.or(file.server_name),
            room_capacity: self.room_capacity.or(file.room_capacity),
            max_room_capacity: self.max_room_capacity.or(file.max_room_capacity),
            max_message_bytes: self.max_message_bytes.or(file.max_message_bytes),
            connect_per_minute: self.connect_per_minute.or(file.connect_per_minute),
            connect_burst: self.connect_burst.or(file.connect_burst),
            join_per_minute: self.join_per_minute.or(file.join_per_minute),
            join_burst: self.join_burst.or(file.join_burst),
            messages_per_second: self.messages_per_second.or(file.messages_per_second),
            message_burst: self.message_burst.or(file.message_burst),
            heartbeat_secs: self.heartbeat_secs.or(file.heartbeat_secs),
            idle_timeout_secs: self.idle_timeout_secs.or(file.idle_timeout_secs),
            ring_timeout_secs: self.ring_timeout_secs.or(file.ring_timeout_secs),
            max_connections: self.max_connections.or(file.max_connections),
            max_connections_per_address: self.max_connections_per_address.or(file.max_connections_per_address),
            header_timeout_secs: self.header_timeout_secs.or(file.header_timeout_secs),
            trusted_proxies: list(self.trusted_proxies, file.trusted_proxies),
            forwarded_header: self.forwarded_header.or(file.forwarded_header),
            public_hosts: list(self.public_hosts, file.public_hosts),
            metrics_token: self.metrics_token.or(file.metrics_token),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            stun_urls: list(self.stun_urls, file.stun_urls),
            turn_urls: list(self.turn_urls, file.turn_urls),
            turn_secret: self.turn_secret.or(file.turn_secret),
            turn_ttl_secs: self.turn_ttl_secs.or(file.turn_ttl_secs),
        }
    }

    fn into_config(self) -> Result<ServerConfig, Error> {
        let d = ServerConfig::default();
        let secs = |v: Option<u64>, d: Duration| v.map(Duration::from_secs).unwrap_or(d);
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(Error::Config("TLS needs both a certificate and a key".into()));
            }
        };
        let turn = match (self.turn_urls.is_empty(), self.turn_secret) {
            (true, None) => None,
            (_, secret) => Some(TurnConfig {
                urls: self.turn_urls,
                secret: secret.unwrap_or_default(),
                ttl: secs(self.turn_ttl_secs, Duration::from_secs(3600)),
            }),
        };
        let mut trusted_proxies = Vec::new();
        for text in &self.trusted_proxies {
            match crate::server::limits::parse_network(text) {
                Some(net) => trusted_proxies.push(net),
                None => return Err(Error::Config(format!("trusted proxy {text:?} is not an address or a network"))),
            }
        }
        ServerConfig {
            listen: self.listen.unwrap_or(d.listen),
            server_name: self.server_name.unwrap_or(d.server_name),
            room_capacity: self.room_capacity.unwrap_or(d.room_capacity),
            max_room_capacity: self.max_room_capacity.unwrap_or(d.max_room_capacity),
            max_message_bytes: self.max_message_bytes.unwrap_or(d.max_message_bytes),
            connect_per_minute: self.connect_per_minute.unwrap_or(d.connect_per_minute),
            connect_burst: self.connect_burst.unwrap_or(d.connect_burst),
            join_per_minute: self.join_per_minute.unwrap_or(d.join_per_minute),
            join_burst: self.join_burst.unwrap_or(d.join_burst),
            messages_per_second: self.messages_per_second.unwrap_or(d.messages_per_second),
            message_burst: self.message_burst.unwrap_or(d.message_burst),
            heartbeat: secs(self.heartbeat_secs, d.heartbeat),
            idle_timeout: secs(self.idle_timeout_secs, d.idle_timeout),
            hello_timeout: d.hello_timeout,
            ring_timeout: secs(self.ring_timeout_secs, d.ring_timeout),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_connections_per_address: self.max_connections_per_address.unwrap_or(d.max_connections_per_address),
            header_timeout: secs(self.header_timeout_secs, d.header_timeout),
            trusted_proxies,
            forwarded_header: self.forwarded_header.unwrap_or_default(),
            public_hosts: self.public_hosts.iter().map(|h| crate::identity::server_host(h)).collect(),
            metrics_token: self.metrics_token.filter(|t| !t.is_empty()),
            tls,
            stun_urls: self.stun_urls,
            turn,
        }
        .validate()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServerArgs,
    }

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("tincan-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("signal.toml");
        std::fs::write(&file, "room_capacity = 4\nmax_message_bytes = 2048\nturn_urls = [\"turn:127.0.0.1:3478\"]\nturn_secret = \"s3cret\"\n").unwrap();
        let cli = Cli::parse_from(["x", "--config", file.to_str().unwrap(), "--room-capacity", "3"]);
        let config = cli.args.resolve().unwrap();
        assert_eq!(config.room_capacity, 3);
        assert_eq!(config.max_message_bytes, 2048);
        assert_eq!(config.heartbeat, Duration::from_secs(20));
        let turn = config.turn.unwrap();
        assert_eq!((turn.urls.len(), turn.secret.as_str()), (1, "s3cret"));
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let cli = Cli::parse_from(["x", "--room-capacity", "1"]);
        assert!(cli.args.resolve().unwrap_err().to_string().contains("capacity"));
        let cli = Cli::parse_from(["x", "--turn-url", "turn:127.0.0.1"]);
        assert!(cli.args.resolve().unwrap_err().to_string().contains("secret"));
        let dir = std::env::temp_dir().join(format!("tincan-config-typo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("signal.toml");
        std::fs::write(&file, "room_capacty = 4\n").unwrap();
        let cli = Cli::parse_from(["x", "--config", file.to_str().unwrap()]);
        assert!(cli.args.resolve().unwrap_err().to_string().contains("room_capacty"));
    }
}
