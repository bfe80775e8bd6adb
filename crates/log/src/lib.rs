//! Log setup for Tincan's programs (the app, the server, `tincan-cli`, `tincan-bench`) and tests: the
//! `TINCAN_LOG` environment variable (an `EnvFilter`, e.g. `tincan_engine=debug`) or the program's default,
//! written to stderr (stdout belongs to the programs' output).

use tracing_subscriber::EnvFilter;

/// The WebRTC stack warns about much that is routine (refused candidates, retransmissions), and so does zbus
/// under the ScreenCast portal (a request's object it looks for before the portal made it); programs that run
/// them add this to their default filter.
pub const QUIET_ROUTINE: &str = "rtc=error,rtc_ice=error,rtc_dtls=error,rtc_sctp=error,webrtc=error,zbus::proxy=error";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_env("TINCAN_LOG").unwrap_or_else(|_| EnvFilter::new(default))
}

/// Set up logging for a program: `TINCAN_LOG`, else `default`. Colours only on a terminal.
pub fn init(default: &str, format: Format) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        Format::Text => logs.init(),
        Format::Json => logs.json().init(),
    }
}

/// Set up logging for a test binary: silent unless `TINCAN_LOG` says otherwise, captured per test, and
/// harmless when called again.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt().with_env_filter(filter("off")).with_test_writer().try_init();
}
