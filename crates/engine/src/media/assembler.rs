//! Reassembles video frames from RTP packets: orders them by sequence number, waits a little for missing
//! packets (NACK retransmissions), gives up on a frame that stays incomplete, and then passes only a
//! keyframe, asking for one.
//!
//! Written here rather than using rtc's `SampleBuilder` because that one preallocates two 65,536-slot
//! arrays per track (megabytes per call) and gives no say over how long to wait for a retransmission.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp::Packet;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use tincan_media::codec::VideoCodec;

/// Give up on a missing packet after this long (several loopback RTTs; about one RTT on real paths).
pub const MAX_WAIT: Duration = Duration::from_millis(150);
/// Never hold more than this many packets (a stream that only loses is not allowed to grow memory).
const MAX_PACKETS: usize = 2000;

#[derive(Debug, PartialEq, Eq)]
pub struct AssembledFrame {
    pub data: Vec<u8>,
    pub rtp_timestamp: u32,
    pub keyframe: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    Frame(AssembledFrame),
    /// A frame was lost for good: ask the sender for a keyframe.
    NeedKeyframe,
}

pub struct FrameAssembler {
    codec: VideoCodec,
    packets: BTreeMap<u64, Packet>,
    highest: Option<u64>,
    /// First sequence number not yet emitted or given up on (set once the first frame is out); packets
    /// below it are late.
    floor: Option<u64>,
    gap_since: Option<Instant>,
    awaiting_keyframe: bool,
    /// Frames given up on, or dropped while waiting for a keyframe.
    pub frames_lost: u64,
}

/// Does a depacketized frame start a new decodable sequence?
pub fn is_keyframe(codec: VideoCodec, frame: &[u8]) -> bool {
    match codec {
        // VP8 frame tag: bit 0 of the first byte is 0 for key frames.
        VideoCodec::Vp8 => frame.first().is_some_and(|b| b & 1 == 0),
        // Annex-B: any IDR slice (5) or SPS (7).
        VideoCodec::H264 => frame.windows(4).any(|w| w[..3] == [0, 0, 1] && matches!(w[3] & 0x1f, 5 | 7)),
    }
}

impl FrameAssembler {
    pub fn new(codec: VideoCodec) -> Self {
        FrameAssembler {
            codec,
            packets: BTreeMap::new(),
            highest: None,
            floor: None,
            gap_since: None,
            awaiting_keyframe: true,
            frames_lost: 0,
        }
    }

    fn extend(&mut self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            return (1 << 16) + seq as u64;
        };
        let base = h & !0xffff;
        let candidates = [base.wrapping_sub(1 << 16), base, base + (1 << 16)];
        candidates.into_iter().map(|c| c | seq as u64).min_by_key(|c| c.abs_diff(h)).expect("three candidates")
    }

    pub fn push(&mut self, packet: Packet) {
        let ext = self.extend(packet.header.sequence_number);
        if self.floor.is_some_and(|f| ext < f) {
            return; // too late: that frame was emitted or given up on
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.packets.insert(ext, packet);
        while self.packets.len() > MAX_PACKETS {
            self.packets.pop_first();
        }
    }

    fn depacketize(&self, packets: &[&Packet]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut vp8 = Vp8Packet::default();
        let mut h264 = H264Packet::default();
        for p in packets {
            let piece: Bytes = match self.codec {
                VideoCodec::Vp8 => vp8.depacketize(&p.payload).ok()?,
                VideoCodec::H264 => h264.depacketize(&p.payload).ok()?,
            };
            out.extend_from_slice(&piece);
        }
        Some(out)
    }

    /// Skip past the broken frame at `next`: drop everything up to its last packet (the next marker).
    fn next(&self) -> Option<u64> {
        self.floor.or_else(|| self.packets.keys().next().copied())
    }

    fn give_up(&mut self) {
        let Some(next) = self.next() else { return };
        let end = self.packets.range(next..).find(|(_, p)| p.header.marker).map(|(s, _)| *s);
        match end {
            Some(end) => {
                self.packets = self.packets.split_off(&(end + 1));
                self.floor = Some(end + 1);
            }
            None => {
                self.packets.clear();
                self.floor = self.highest.map(|h| h + 1);
            }
        }
        self.gap_since = None;
        self.frames_lost += 1;
        self.awaiting_keyframe = true;
    }

    /// The next complete frame, a keyframe request, or `None` (wait for more packets).
    pub fn pop(&mut self, now: Instant) -> Option<Assembled> {
        let next = self.next()?;
        // Walk the contiguous run from `next` to a marker packet.
        let mut end = None;
        let mut seq = next;
        while let Some(p) = self.packets.get(&seq) {
            if p.header.marker {
                end = Some(seq);
                break;
            }
            seq += 1;
        }
        let Some(end) = end else {
            let waiting_for_more = self.highest.is_none_or(|h| h < seq);
            if waiting_for_more {
                return None; // the frame is still arriving in order
            }
            // A hole: wait for the retransmission, but not forever.
            let since = *self.gap_since.get_or_insert(now);
            if now.duration_since(since) < MAX_WAIT && self.packets.len() < MAX_PACKETS {
                return None;
            }
            self.give_up();
            return Some(Assembled::NeedKeyframe);
        };
        self.gap_since = None;
        let frame: Vec<&Packet> = (next..=end).filter_map(|s| self.packets.get(&s)).collect();
        let rtp_timestamp = frame[0].header.timestamp;
        let whole = frame.iter().all(|p| p.header.timestamp == rtp_timestamp);
        let data = if whole { self.depacketize(&frame) } else { None };
        self.packets = self.packets.split_off(&(end + 1));
        self.floor = Some(end + 1);
        let Some(data) = data.filter(|d| !d.is_empty()) else {
            self.frames_lost += 1;
            self.awaiting_keyframe = true;
            return Some(Assembled::NeedKeyframe);
        };
        let keyframe = is_keyframe(self.codec, &data);
        if self.awaiting_keyframe && !keyframe {
            // Undecodable without the keyframe we missed: drop it and keep asking.
            self.frames_lost += 1;
            return Some(Assembled::NeedKeyframe);
        }
        self.awaiting_keyframe = false;
        Some(Assembled::Frame(AssembledFrame { data, rtp_timestamp, keyframe }))
    }
}

#[cfg(test)]
mod tests {
    use rtc::rtp::Header;

    use super::*;

    /// VP8 RTP packets: a 1-byte descriptor (S bit on the first) then the payload.
    fn vp8_frame(seq: u16, ts: u32, key: bool, parts: usize) -> Vec<Packet> {
        (0..parts)
            .map(|i| {
                let mut payload = vec![if i == 0 { 0x10 } else { 0x00 }];
                if i == 0 {
                    payload.push(if key { 0x00 } else { 0x01 });
                }
                payload.extend([seq as u8, i as u8, 0xAA]); // the depacketizer wants 4 bytes or more
                Packet {
                    header: Header {
                        sequence_number: seq.wrapping_add(i as u16),
                        timestamp: ts,
                        marker: i + 1 == parts,
                        ..Default::default()
                    },
                    payload: payload.into(),
                }
            })
            .collect()
    }

    fn frames(a: &mut FrameAssembler, now: Instant) -> Vec<Assembled> {
        std::iter::from_fn(|| a.pop(now)).collect()
    }

    #[test]
    fn reorders_and_assembles() {
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let now = Instant::now();
        let mut pkts = vp8_frame(100, 3000, true, 3);
        pkts.extend(vp8_frame(103, 6000, false, 2));
        pkts.swap(0, 2);
        pkts.swap(3, 4);
        for p in pkts {
            a.push(p);
        }
        let out = frames(&mut a, now);
        assert_eq!(out.len(), 2);
        let Assembled::Frame(f) = &out[0] else { panic!() };
        assert!(f.keyframe && f.rtp_timestamp == 3000);
        assert_eq!(f.data, vec![0x00, 100, 0, 0xAA, 100, 1, 0xAA, 100, 2, 0xAA]);
    }

    #[test]
    fn waits_for_a_retransmission_then_gives_up_and_wants_a_keyframe() {
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let t0 = Instant::now();
        for p in vp8_frame(65_534, 0, true, 2) {
            a.push(p); // wraps the sequence number
        }
        let mut second = vp8_frame(0, 3000, false, 3);
        let lost = second.remove(1);
        for p in second {
            a.push(p);
        }
        for p in vp8_frame(3, 6000, false, 1) {
            a.push(p);
        }
        assert!(matches!(a.pop(t0), Some(Assembled::Frame(_))));
        assert_eq!(a.pop(t0), None, "waiting for the missing packet");
        // The retransmission arrives in time: everything flows.
        a.push(lost.clone());
        assert_eq!(frames(&mut a, t0).len(), 2);

        let mut b = FrameAssembler::new(VideoCodec::Vp8);
        for p in vp8_frame(10, 0, true, 1) {
            b.push(p);
        }
        let mut broken = vp8_frame(11, 3000, false, 3);
        broken.remove(1);
        broken.into_iter().for_each(|p| b.push(p));
        vp8_frame(14, 6000, false, 1).into_iter().for_each(|p| b.push(p));
        vp8_frame(15, 9000, true, 1).into_iter().for_each(|p| b.push(p));
        assert!(matches!(b.pop(t0), Some(Assembled::Frame(_))));
        assert_eq!(b.pop(t0), None);
        assert_eq!(b.pop(t0 + MAX_WAIT), Some(Assembled::NeedKeyframe));
        // The delta frame after the loss is not decodable: skipped (asking again); the keyframe passes.
        assert_eq!(b.pop(t0 + MAX_WAIT), Some(Assembled::NeedKeyframe));
        let Some(Assembled::Frame(f)) = b.pop(t0 + MAX_WAIT) else { panic!() };
        assert!(f.keyframe && f.rtp_timestamp == 9000);
        assert_eq!(b.frames_lost, 2);
    }

    #[test]
    fn starts_only_at_a_keyframe_and_ignores_late_packets() {
        let mut a = FrameAssembler::new(VideoCodec::Vp8);
        let now = Instant::now();
        vp8_frame(1, 0, false, 1).into_iter().for_each(|p| a.push(p));
        vp8_frame(2, 3000, true, 1).into_iter().for_each(|p| a.push(p));
        let out = frames(&mut a, now);
        assert_eq!(out[0], Assembled::NeedKeyframe);
        assert!(matches!(&out[1], Assembled::Frame(f) if f.keyframe));
        vp8_frame(1, 0, false, 1).into_iter().for_each(|p| a.push(p));
        assert!(frames(&mut a, now).is_empty());
    }

    #[test]
    fn h264_keyframes_are_recognised() {
        assert!(is_keyframe(VideoCodec::H264, &[0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x65]));
        assert!(!is_keyframe(VideoCodec::H264, &[0, 0, 0, 1, 0x41, 1]));
    }
}
