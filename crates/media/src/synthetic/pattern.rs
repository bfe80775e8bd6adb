//! A moving test pattern that carries a stamp — frame counter and capture time — in its pixels, drawn as
//! large black/white blocks aligned to the codecs' 16×16 macroblocks so that it survives lossy encoding, with a
//! checksum so that a damaged stamp reads as `None` rather than as a wrong number.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::FrameClock;
use crate::source::VideoSource;
use crate::{MediaError, Result, VideoFrame};

const COLS: usize = 10;
const ROWS: usize = 8;
const BITS: usize = COLS * ROWS; // 32 counter + 32 capture time + 16 checksum
const BLACK: u8 = 16;
const WHITE: u8 = 235;

/// What a pattern frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Frame number since the source started.
    pub counter: u32,
    /// Capture time: microseconds of the wall clock, modulo 2^32 (wraps every 71 minutes; compare with
    /// `wrapping_sub`). Both peers of a test on one machine share the clock.
    pub capture_us: u32,
}

impl Stamp {
    /// Microseconds from capture to `now_us` (a `wall_clock_us()` reading).
    pub fn age_us(&self, now_us: u32) -> u32 {
        now_us.wrapping_sub(self.capture_us)
    }
}

/// The wall clock as a stamp carries it.
pub fn wall_clock_us() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u32
}

fn block_size(width: u32, height: u32) -> Option<usize> {
    [16usize, 8].into_iter().find(|b| (COLS * b) as u32 <= width && (ROWS * b) as u32 <= height)
}

fn fletcher16(bytes: &[u8]) -> u16 {
    let (mut a, mut b) = (0u16, 0u16);
    for &x in bytes {
        a = (a + x as u16) % 255;
        b = (b + a) % 255;
    }
    (b << 8) | a
}

/// The stamp's cells, row by row: `STAMP_COLS` × `STAMP_ROWS` blocks, white where true. For drawing a stamp
/// elsewhere than in a pattern frame (a test screen that is shared), in 16-pixel blocks from the top-left.
pub fn stamp_cells(stamp: Stamp) -> [bool; BITS] {
    stamp_bits(stamp)
}

/// The stamp's size in blocks.
pub const STAMP_COLS: usize = COLS;
pub const STAMP_ROWS: usize = ROWS;

fn stamp_bits(stamp: Stamp) -> [bool; BITS] {
    let mut bytes = [0u8; 10];
    bytes[..4].copy_from_slice(&stamp.counter.to_be_bytes());
    bytes[4..8].copy_from_slice(&stamp.capture_us.to_be_bytes());
    let check = fletcher16(&bytes[..8]);
    bytes[8..].copy_from_slice(&check.to_be_bytes());
    let mut bits = [false; BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        *bit = bytes[i / 8] & (0x80 >> (i % 8)) != 0;
    }
    bits
}

/// Block sizes a stamp may have after the sender scaled the picture (browsers do, to save CPU or bits):
/// the drawn size first, then 1/2, 3/4, 3/8 and 1/4 of 16.
const SCALED_BLOCKS: [usize; 5] = [8, 12, 6, 4, 16];

/// Read the stamp of a (decoded) pattern frame; `None` if there is none or it is damaged. A frame the
/// sender scaled down is read too: the checksum tells which block size is right.
pub fn read_stamp(frame: &VideoFrame) -> Option<Stamp> {
    let drawn = block_size(frame.width, frame.height)?;
    std::iter::once(drawn)
        .chain(SCALED_BLOCKS.into_iter().filter(|b| *b != drawn))
        .filter(|b| (COLS * b) as u32 <= frame.width && (ROWS * b) as u32 <= frame.height)
        .find_map(|block| read_stamp_in_blocks(frame, block))
}

fn read_stamp_in_blocks(frame: &VideoFrame, block: usize) -> Option<Stamp> {
    let width = frame.width as usize;
    let y = frame.y();
    let mut bytes = [0u8; 10];
    for i in 0..BITS {
        let (bx, by) = ((i % COLS) * block, (i / COLS) * block);
        // Average the middle half of the block: its edges are where codecs smear.
        let (lo, hi) = (block / 4, block * 3 / 4);
        let mut sum = 0u32;
        for row in by + lo..by + hi {
            sum += y[row * width + bx + lo..row * width + bx + hi].iter().map(|&p| p as u32).sum::<u32>();
        }
        let mean = sum / ((hi - lo) * (hi - lo)) as u32;
        if mean > (BLACK as u32 + WHITE as u32) / 2 {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    let check = u16::from_be_bytes([bytes[8], bytes[9]]);
    if fletcher16(&bytes[..8]) != check {
        return None;
    }
    Some(Stamp {
        counter: u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")),
        capture_us: u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")),
    })
}

/// A moving pattern (diagonal luma gradient, a bouncing box, drifting colours) with a stamp in the top-left.
pub struct TestPattern {
    width: u32,
    height: u32,
    fps: u32,
    clock: FrameClock,
}

impl TestPattern {
    /// `paced`: `next_frame` waits for each frame's time (what a camera does); unpaced, it returns at once.
    pub fn new(width: u32, height: u32, fps: u32, paced: bool) -> Result<Self> {
        if block_size(width, height).is_none() || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(MediaError::FrameSize { width, height, reason: "the test pattern needs at least 80x64, even" });
        }
        let fps = fps.clamp(1, 120);
        Ok(TestPattern { width, height, fps, clock: FrameClock::new(Duration::from_secs(1) / fps, paced) })
    }

    /// Draw frame `counter` with the given stamp time.
    pub fn render(&self, counter: u32, capture_us: u32, timestamp: Duration) -> VideoFrame {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut data = vec![0u8; VideoFrame::i420_len(self.width, self.height)];
        let (luma, chroma) = data.split_at_mut(w * h);
        let t = counter as usize;
        for (row, line) in luma.chunks_exact_mut(w).enumerate() {
            for (col, p) in line.iter_mut().enumerate() {
                *p = (64 + ((col + row + 2 * t) % 128)) as u8;
            }
        }
        // A box that bounces horizontally, a quarter of the height tall.
        let box_w = w / 6;
        let span = (w - box_w).max(1);
        let phase = (t * 8) % (2 * span);
        let bx = if phase < span { phase } else { 2 * span - phase };
        for row in h / 2..(h / 2 + h / 4).min(h) {
            luma[row * w + bx..row * w + bx + box_w].fill(WHITE);
        }
        let (u, v) = chroma.split_at_mut(w * h / 4);
        for (i, (pu, pv)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
            let (col, row) = (i % (w / 2), i / (w / 2));
            *pu = (96 + ((col + t) % 64)) as u8;
            *pv = (96 + ((row + t / 2) % 64)) as u8;
        }
        let block = block_size(self.width, self.height).expect("checked in new");
        let bits = stamp_bits(Stamp { counter, capture_us });
        for (i, bit) in bits.iter().enumerate() {
            let (bx, by) = ((i % COLS) * block, (i / COLS) * block);
            for row in by..by + block {
                luma[row * w + bx..row * w + bx + block].fill(if *bit { WHITE } else { BLACK });
            }
        }
        // Neutral chroma under the stamp keeps it crisp.
        for row in 0..ROWS * block / 2 {
            for plane in [&mut *u, &mut *v] {
                plane[row * (w / 2)..row * (w / 2) + COLS * block / 2].fill(128);
            }
        }
        VideoFrame::from_i420(self.width, self.height, timestamp, data).expect("sizes checked in new")
    }
}

impl VideoSource for TestPattern {
    fn next_frame(&mut self) -> Result<VideoFrame> {
        let (n, timestamp) = self.clock.tick();
        Ok(self.render(n as u32, wall_clock_us(), timestamp))
    }

    fn describe(&self) -> String {
        format!("test pattern {}x{}@{}", self.width, self.height, self.fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back_at_every_supported_size() {
        for (w, h) in [(80, 64), (160, 120), (320, 240), (640, 480), (1280, 720)] {
            let p = TestPattern::new(w, h, 30, false).unwrap();
            let f = p.render(123_456, 0xDEAD_BEEF, Duration::ZERO);
            assert_eq!(read_stamp(&f), Some(Stamp { counter: 123_456, capture_us: 0xDEAD_BEEF }), "{w}x{h}");
        }
        assert!(TestPattern::new(64, 64, 30, false).is_err());
    }

    #[test]
    fn stamps_read_back_from_scaled_down_frames() {
        // What a browser sends when it lowers its resolution: 3/4, 1/2, 3/8 and 1/4 of 640x480.
        let p = TestPattern::new(640, 480, 30, false).unwrap();
        let f = p.render(4242, 77, Duration::ZERO);
        let mut scaler = crate::scale::Scaler::default();
        for (w, h) in [(480, 360), (320, 240), (240, 180), (160, 120)] {
            let small = scaler.fit(&f, w, h).unwrap();
            assert_eq!((small.width, small.height), (w, h));
            assert_eq!(read_stamp(&small), Some(Stamp { counter: 4242, capture_us: 77 }), "{w}x{h}");
        }
    }

    #[test]
    fn noise_is_tolerated_and_damage_is_detected() {
        let p = TestPattern::new(320, 240, 30, false).unwrap();
        let f = p.render(7, 99, Duration::ZERO);
        // ±40 of noise everywhere (far more than a codec at a sane bitrate adds) still reads.
        let noisy: Vec<u8> =
            f.data().iter().enumerate().map(|(i, &p)| p.saturating_add_signed(((i * 7919) % 81) as i8 - 40)).collect();
        let noisy = VideoFrame::from_i420(320, 240, Duration::ZERO, noisy).unwrap();
        assert_eq!(read_stamp(&noisy).map(|s| s.counter), Some(7));
        // Flip one block: the checksum catches it.
        let mut data = f.data().to_vec();
        for row in 0..16 {
            for col in 0..16 {
                data[row * 320 + col] = 255 - data[row * 320 + col];
            }
        }
        let damaged = VideoFrame::from_i420(320, 240, Duration::ZERO, data).unwrap();
        assert_eq!(read_stamp(&damaged), None);
        // A frame that is not a pattern at all.
        let grey = VideoFrame::from_i420(320, 240, Duration::ZERO, vec![128; VideoFrame::i420_len(320, 240)]).unwrap();
        assert_eq!(read_stamp(&grey), None);
    }

    #[test]
    fn frames_move_and_count() {
        let mut p = TestPattern::new(160, 120, 30, false).unwrap();
        let a = p.next_frame().unwrap();
        let b = p.next_frame().unwrap();
        assert_ne!(a.y()[160 * 100..], b.y()[160 * 100..], "the picture moves");
        assert_eq!(read_stamp(&b).unwrap().counter, read_stamp(&a).unwrap().counter + 1);
        assert_eq!(b.timestamp - a.timestamp, Duration::from_secs(1) / 30);
    }
}
