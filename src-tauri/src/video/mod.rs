//! Video to the window: [`pump`] moves decoded frames to the webview, [`tiles`] gives each participant of a
//! call their own pump, [`stats`] measures that path.

mod pump;
mod stats;
mod tiles;

pub use pump::FramePump;
pub use tiles::{Tiles, share_tag};
