//! The peer connection's event handler: a thin forwarder into a channel. It holds no handle to the peer
//! connection, its data channels or transports — storing one here would make a reference cycle that keeps
//! the connection alive after `close()` (the shape of webrtc-rs issue 906).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc::UnboundedSender;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnectionEventHandler, RTCPeerConnectionIceEvent, RTCPeerConnectionState};

pub enum PeerEvent {
    /// A local ICE candidate to send to the peer, as browser-shaped JSON.
    Candidate(serde_json::Value),
    State(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
    DataChannel(Arc<dyn DataChannel>),
}

pub struct Forwarder {
    events: UnboundedSender<PeerEvent>,
}

/// Handlers alive right now: each one is a peer connection not yet freed. Tests and the cycle benchmark
/// read it to prove closed calls do not leak (webrtc-rs issue 906 is such a leak through the handler).
static LIVE_HANDLERS: AtomicUsize = AtomicUsize::new(0);

pub fn live_handlers() -> usize {
    LIVE_HANDLERS.load(Ordering::SeqCst)
}

impl Forwarder {
    pub fn new(events: UnboundedSender<PeerEvent>) -> Self {
        LIVE_HANDLERS.fetch_add(1, Ordering::SeqCst);
        Forwarder { events }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        LIVE_HANDLERS.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(mut init) => {
                // Everything is BUNDLEd on the first m-line; webrtc-rs leaves the mid empty, browsers want it.
                if init.sdp_mid.as_deref().is_none_or(str::is_empty) {
                    init.sdp_mid = Some("0".into());
                }
                if let Ok(json) = serde_json::to_value(&init) {
                    let _ = self.events.send(PeerEvent::Candidate(json));
                }
            }
            Err(e) => tracing::warn!("unusable local candidate: {e}"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.events.send(PeerEvent::Track(track));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.events.send(PeerEvent::DataChannel(channel));
    }
}
