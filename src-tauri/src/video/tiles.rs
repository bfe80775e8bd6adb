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
/// A share's tile is shown large: up to 1920x1080 until the UI says.
const FIRST_SHARE_SIZE: (u32, u32) = (1920, 1080);

/// The tag of `peer`'s screen share (its own tile, beside their camera's).
pub fn share_tag(peer: &str) -> String {
    format!("{peer}/screen")
}

#[derive(Clone)]
pub struct Tiles {
    channel: Channel<InvokeResponseBody>,
    visible: Arc<AtomicBool>,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    pumps: HashMap<String, FramePump>,
    /// Old id → new id of people who came back on a new connection: the UI may still name them by the old
    /// one (a frame sent before the rename is drawn and acknowledged under it).
    renamed: HashMap<String, String>,
    /// The size each tile shows, as the UI last said: a new stream for that person starts at it.
    sizes: HashMap<String, (u32, u32)>,
}

impl Inner {
    /// The id `peer` goes by now.
    fn current<'a>(&'a self, mut peer: &'a str) -> &'a str {
        // Bounded: a chain of renames is as long as the reconnects in one call.
        for _ in 0..self.renamed.len() {
            match self.renamed.get(peer) {
                Some(next) => peer = next,
                None => break,
            }
        }
        peer
    }
}

impl Tiles {
    pub fn new(channel: Channel<InvokeResponseBody>, visible: Arc<AtomicBool>) -> Tiles {
        Tiles { channel, visible, inner: Arc::default() }
    }

    /// What the engine asks for each received track.
    pub fn sinks(&self) -> Box<dyn ParticipantSinks> {
        Box::new(TileSinks(self.clone()))
    }

    /// `peer`'s pump (by the id they have now or had before), if their video came.
    pub fn get(&self, peer: &str) -> Option<FramePump> {
        let inner = lock(&self.inner);
        inner.pumps.get(inner.current(peer)).cloned()
    }

    /// `peer`'s tile shows `width`×`height` device pixels.
    pub fn set_size(&self, peer: &str, width: u32, height: u32) {
        let mut inner = lock(&self.inner);
        let peer = inner.current(peer).to_owned();
        if let Some(pump) = inner.pumps.get(&peer) {
            pump.set_max_size(width, height);
        }
        inner.sizes.insert(peer, (width, height));
    }

    /// They came back under a new id; their media (and share) goes on.
    pub fn rename(&self, old: &str, new: &str) {
        self.rename_tag(&share_tag(old), &share_tag(new));
        self.rename_tag(old, new);
    }

    fn rename_tag(&self, old: &str, new: &str) {
        let mut inner = lock(&self.inner);
        if let Some(pump) = inner.pumps.remove(old) {
            pump.retag(new);
            if let Some(other) = inner.pumps.insert(new.to_owned(), pump) {
                other.stop();
            }
        }
        if let Some(size) = inner.sizes.remove(old) {
            inner.sizes.insert(new.to_owned(), size);
        }
        inner.renamed.insert(old.to_owned(), new.to_owned());
    }

    /// They left: their pumps stop (camera and share). Returns the camera's display figures.
    pub fn remove(&self, peer: &str) -> Option<String> {
        self.remove_tag(&share_tag(peer));
        self.remove_tag(peer)
    }

    /// `tag`'s pump stops (a share that ended). Returns its display figures.
    pub fn remove_tag(&self, peer: &str) -> Option<String> {
        let mut inner = lock(&self.inner);
        let peer = inner.current(peer).to_owned();
        inner.renamed.retain(|_, new| *new != peer);
        inner.sizes.remove(&peer);
        inner.pumps.remove(&peer).map(|p| p.stop())
    }

    /// The call ended: every pump stops. Returns each one's display figures.
    pub fn stop(&self) -> Vec<(String, String)> {
        lock(&self.inner).pumps.drain().map(|(peer, p)| (peer, p.stop())).collect()
    }
}

struct TileSinks(Tiles);

impl ParticipantSinks for TileSinks {
    fn video(&mut self, participant: &Participant) -> Option<Box<dyn VideoSink>> {
        let tiles = &self.0;
        let mut inner = lock(&tiles.inner);
        let peer = inner.current(&participant.peer).to_owned();
        let size = inner.sizes.get(&peer).copied().unwrap_or(FIRST_SIZE);
        let pump = FramePump::start(tiles.channel.clone(), tiles.visible.clone(), size, Duration::ZERO, &peer);
        let sink = pump.sink();
        // A second video track from the same person replaces the first (there is one tile each).
        if let Some(old) = inner.pumps.insert(peer, pump) {
            old.stop();
        }
        Some(sink)
    }

    fn audio(&mut self, _: &Participant) -> Option<Box<dyn AudioSink>> {
        None
    }

    /// A share is a tile of its own, tagged `PEER/screen`.
    fn screen(&mut self, participant: &Participant) -> Option<Box<dyn VideoSink>> {
        let tiles = &self.0;
        let mut inner = lock(&tiles.inner);
        let tag = share_tag(inner.current(&participant.peer));
        let size = inner.sizes.get(&tag).copied().unwrap_or(FIRST_SHARE_SIZE);
        let pump = FramePump::start(tiles.channel.clone(), tiles.visible.clone(), size, Duration::ZERO, &tag);
        let sink = pump.sink();
        if let Some(old) = inner.pumps.insert(tag, pump) {
            old.stop();
        }
        Some(sink)
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
        // Back on a new connection while that frame is still being drawn: the UI says it drew it under the
        // old id, and the next frame comes, under the new one.
        tiles.rename("bo", "bo2");
        bo.on_frame(frame());
        tiles.get("bo").expect("known by the old id too").shown();
        assert_eq!(next_tag(&rx), "bo2");
        tiles.set_size("bo", 320, 180);
        // A new stream for them (a second track) starts at the tile's size, under the new id.
        let mut bo_again = sinks.video(&who("bo2")).expect("a sink");
        bo_again.on_frame(VideoFrame::from_i420(640, 360, Duration::ZERO, vec![0u8; 640 * 360 * 3 / 2]).unwrap());
        let bytes = rx.recv_timeout(Duration::from_secs(5)).expect("a frame");
        assert_eq!(u32::from_le_bytes(bytes[0..4].try_into().unwrap()), 320, "shrunk to the tile");
        // Cy leaves: their pump stops, nothing more of theirs is sent (though the UI drew their last).
        tiles.get("cy").expect("cy").shown();
        assert!(tiles.remove("cy").is_some());
        cy.on_frame(frame());
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "a frame after Cy left");
        let left = tiles.stop();
        assert_eq!(left.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["bo2"]);
        drop(bo);
    }

    #[test]
    fn a_share_is_a_tile_of_its_own_that_follows_its_sharer() {
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
        let bo = Participant { peer: "bo".into(), name: None };
        let mut camera = sinks.video(&bo).expect("a sink");
        let mut share = sinks.screen(&bo).expect("a share sink");
        camera.on_frame(frame());
        assert_eq!(next_tag(&rx), "bo");
        share.on_frame(frame());
        assert_eq!(next_tag(&rx), "bo/screen");
        tiles.get("bo/screen").expect("the share's pump").shown();
        // Bo back on a new connection: the share follows.
        tiles.rename("bo", "bo2");
        share.on_frame(frame());
        assert_eq!(next_tag(&rx), "bo2/screen");
        // The share ends: its pump stops, the camera goes on.
        tiles.get("bo2/screen").expect("renamed").shown();
        assert!(tiles.remove_tag(&super::share_tag("bo2")).is_some());
        share.on_frame(frame());
        tiles.get("bo2").expect("camera").shown();
        camera.on_frame(frame());
        assert_eq!(next_tag(&rx), "bo2", "only the camera's frame came");
    }
}
