//! Video to the window: [`pump`] moves decoded frames to the webview, [`stats`] measures that path.

mod pump;
mod stats;

pub use pump::FramePump;
