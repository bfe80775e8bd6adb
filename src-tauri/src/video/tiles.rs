//! Everyone's video on one channel: the engine asks for a sink per participant (its `ParticipantSinks`), and
//! each gets a [`FramePump`] whose frames carry that participant's peer id, so the UI draws them on that
//! person's tile. The UI says per tile when it drew a frame and how large the tile is.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::ipc::{Channel, InvokeResponseBody};
use tincan_engine::{Participant, ParticipantSinks};
use tincan_media::source::{AudioSink, VideoSink};

use super::FramePump;
use crate::state::lock;

/// Until the UI says a tile's size: up to 1280x720.
const FIRST_SIZE: (u32, u32) = (1280, 720);

#[derive(Clone)]
pub struct Tiles {
    channel: Channel<InvokeResponseBody>,
    visible: Arc<AtomicBool>,
    pumps: Arc<Mutex<HashMap<String, FramePump>>>,
}

impl Tiles {
    pub fn new(channel: Channel<InvokeResponseBody>, visible: Arc<AtomicBool>) -> Tiles {
        Tiles { channel, visible, pumps: Arc::default() }
    }

    /// What the engine asks for each received track.
    pub fn sinks(&self) -> Box<dyn ParticipantSinks> {
        Box::new(TileSinks(self.clone()))
    }

    /// `peer`'s pump, if their video came.
    pub fn get(&self, peer: &str) -> Option<FramePump> {
        lock(&self.pumps).get(peer).cloned()
    }

    /// They came back under a new id; their media goes on.
    pub fn rename(&self, old: &str, new: &str) {
        let mut pumps = lock(&self.pumps);
        if let Some(pump) = pumps.remove(old) {
            pump.retag(new);
            pumps.insert(new.to_owned(), pump);
        }
    }

    /// They left: their pump stops. Returns its display figures.
    pub fn remove(&self, peer: &str) -> Option<String> {
        lock(&self.pumps).remove(peer).map(|p| p.stop())
    }

    /// The call ended: every pump stops. Returns each one's display figures.
    pub fn stop(&self) -> Vec<(String, String)> {
        lock(&self.pumps).drain().map(|(peer, p)| (peer, p.stop())).collect()
    }
}

struct TileSinks(Tiles);

impl ParticipantSinks for TileSinks {
    fn video(&mut self, participant: &Participant) -> Option<Box<dyn VideoSink>> {
        let tiles = &self.0;
        let pump = FramePump::start(
            tiles.channel.clone(),
            tiles.visible.clone(),
            FIRST_SIZE,
            Duration::ZERO,
            &participant.peer,
        );
        let sink = pump.sink();
        // A second video track from the same person replaces the first (there is one tile each).
        if let Some(old) = lock(&tiles.pumps).insert(participant.peer.clone(), pump) {
            old.stop();
        }
        Some(sink)
    }

    fn audio(&mut self, _: &Participant) -> Option<Box<dyn AudioSink>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    use tauri::ipc::{Channel, InvokeResponseBody};
    use tincan_engine::Participant;
    use tincan_media::VideoFrame;

    use super::Tiles;

    /// The tag of the next frame on the channel.
    fn next_tag(rx: &mpsc::Receiver<Vec<u8>>) -> String {
        let bytes = rx.recv_timeout(Duration::from_secs(5)).expect("a frame");
        let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        String::from_utf8(bytes[12..12 + len].to_vec()).unwrap()
    }

    #[test]
    fn each_participant_has_a_tile_that_follows_them() {
        let (tx, rx) = mpsc::channel();
        let channel = Channel::new(move |body| {
            if let InvokeResponseBody::Raw(bytes) = body {
                let _ = tx.send(bytes);
            }
            Ok(())
        });
        let tiles = Tiles::new(channel, Arc::new(AtomicBool::new(true)));
        let mut sinks = tiles.sinks();
        let frame = || VideoFrame::from_i420(4, 2, Duration::ZERO, vec![0u8; 12]).unwrap();
        let who = |peer: &str| Participant { peer: peer.into(), name: Some(peer.to_uppercase()) };
        let mut bo = sinks.video(&who("bo")).expect("a sink");
        let mut cy = sinks.video(&who("cy")).expect("a sink");
        assert!(sinks.audio(&who("bo")).is_none(), "audio is only mixed");

        bo.on_frame(frame());
        assert_eq!(next_tag(&rx), "bo");
        cy.on_frame(frame());
        assert_eq!(next_tag(&rx), "cy");
        // Back on a new connection: the same tile, under the new id.
        tiles.rename("bo", "bo2");
        tiles.get("bo2").expect("renamed").shown();
        bo.on_frame(frame());
        assert_eq!(next_tag(&rx), "bo2");
        assert!(tiles.get("bo").is_none());
        // Cy leaves: their pump stops, nothing more of theirs is sent (though the UI drew their last).
        tiles.get("cy").expect("cy").shown();
        assert!(tiles.remove("cy").is_some());
        cy.on_frame(frame());
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "a frame after Cy left");
        let left = tiles.stop();
        assert_eq!(left.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["bo2"]);
    }
}
