//! Real components for tests and benchmarks, each started by the code that needs it and stopped when its
//! handle is dropped — tests never assume anything is already running.
//!
//! * [`coturn`] — a TURN server (coturn's `turnserver`) with time-limited REST credentials.
//! * [`nat`] — a NAT lab: home networks behind full-cone or symmetric NATs, built from network namespaces.
//! * [`pulse`] — a PulseAudio server with null sinks: real audio devices for cpal without a sound card.
//! * [`xvfb`] — an X server of the test's own; [`screen`] — a test screen on it to share (fine text, a
//!   moving stamp, a second window) and PSNR to compare what a peer decoded with it.

pub mod coturn;
pub mod nat;
mod process;
pub mod pulse;
pub mod screen;
pub mod xvfb;

/// What can go wrong starting a component.
#[derive(Debug, thiserror::Error)]
pub enum RigError {
    #[error("{program} is not installed ({hint})")]
    Missing { program: &'static str, hint: &'static str },
    #[error("cannot start {program}: {source}")]
    Spawn { program: &'static str, source: std::io::Error },
    #[error("{program} did not become ready within {seconds} s; its log: {log}")]
    NotReady { program: &'static str, seconds: u64, log: String },
    #[error("cannot set up the network: {0}")]
    Setup(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
}

pub type Result<T, E = RigError> = std::result::Result<T, E>;
