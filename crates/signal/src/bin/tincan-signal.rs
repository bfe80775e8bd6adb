//! `tincan-signal`: the self-hostable Tincan signaling server.

use clap::{Parser, ValueEnum};
use tincan_signal::server::{ServerArgs, SignalServer, raise_fd_limit};

#[derive(Parser)]
#[command(
    name = "tincan-signal",
    version,
    about = "Tincan signaling server: rooms by code, presence and ringing over WebSocket"
)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Log format
    #[arg(long, env = "TINCAN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let format = match cli.log_format {
        LogFormat::Text => tincan_log::Format::Text,
        LogFormat::Json => tincan_log::Format::Json,
    };
    tincan_log::init("info", format);
    let config = cli.server.resolve()?;
    if config.public_hosts.is_empty() && (config.tls.is_some() || !config.trusted_proxies.is_empty()) {
        tracing::warn!(
            "no --public-host: personal codes register only when reached by one of this machine's own addresses \
             or names; behind a domain name, list it with --public-host"
        );
    }
    match raise_fd_limit() {
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
    }
    // Handlers first: a SIGTERM that arrives right after the address is printed must still mean "stop
    // gracefully", not the default "die at once".
    let mut stop = StopSignals::install()?;
    let server = SignalServer::start(config).await?;
    // Scripts and the load benchmark read this line to learn the address (useful with port 0).
    println!("listening on {}", server.ws_url());
    stop.wait().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
