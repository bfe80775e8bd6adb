//! The WebRTC peer connection (webrtc 0.21): how it is built, and its events as a channel.

mod bandwidth;
mod builder;
mod handler;
mod rtcp;
mod runtime;
mod turn_stream;

pub use bandwidth::BandwidthTarget;
pub use builder::{
    Peer, PeerSettings, SCREEN_TRACK_PREFIX, VideoTrack, add_named_track, add_track, build_peer, codec_parameters,
    local_track, opus_parameters,
};
pub use handler::{PeerEvent, live_handlers};
pub use rtcp::is_keyframe_request;
pub use turn_stream::{StreamKind, StreamServer, TurnBridge};
