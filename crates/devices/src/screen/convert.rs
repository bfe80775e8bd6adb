//! A captured screen (32-bit BGRX, what X servers and PipeWire hand out on little-endian machines) → I420,
//! BT.601 limited range like the camera path, with the pointer blended in. One pass over two rows at a
//! time: luma per pixel, chroma from each 2×2 block's average. A few lines, like the camera conversions
//! (see camera/convert.rs for why not a SIMD library yet).

use std::time::Duration;

use tincan_media::VideoFrame;

use crate::{DeviceError, Result};

/// 32-bit BGRX pixels (byte order B, G, R, X), `stride` bytes per row.
pub struct Bgrx<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub stride: usize,
}

/// The pointer's picture at its place in the captured image (top-left corner; may be partly outside).
#[derive(Clone, Debug)]
pub struct Cursor {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    /// Premultiplied ARGB, one u32 per pixel (XFixes' and PipeWire's cursor format).
    pub argb: Vec<u32>,
}

impl Cursor {
    /// Blend the pointer over one row of RGB (`row` is the image row it belongs to).
    fn blend_row(&self, row: i32, rgb: &mut [[u8; 3]]) {
        let cy = row - self.y;
        if cy < 0 || cy >= self.height as i32 {
            return;
        }
        for cx in 0..self.width as i32 {
            let x = self.x + cx;
            if x < 0 || x as usize >= rgb.len() {
                continue;
            }
            let Some(&p) = self.argb.get((cy * self.width as i32 + cx) as usize) else { return };
            let a = p >> 24;
            if a == 0 {
                continue;
            }
            let px = &mut rgb[x as usize];
            let inv = 255 - a;
            // Premultiplied: result = src + dst × (1 − α).
            px[0] = (((p >> 16) & 0xff) + (px[0] as u32 * inv + 127) / 255).min(255) as u8;
            px[1] = (((p >> 8) & 0xff) + (px[1] as u32 * inv + 127) / 255).min(255) as u8;
            px[2] = ((p & 0xff) + (px[2] as u32 * inv + 127) / 255).min(255) as u8;
        }
    }
}

fn luma(p: [u8; 3]) -> u8 {
    let [r, g, b] = p.map(i32::from);
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

fn chroma(r: i32, g: i32, b: i32) -> (u8, u8) {
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (u.clamp(0, 255) as u8, v.clamp(0, 255) as u8)
}

/// Convert (an odd last column or row is left out: I420 needs even sizes).
pub fn bgrx_to_i420(image: &Bgrx<'_>, cursor: Option<&Cursor>, timestamp: Duration) -> Result<VideoFrame> {
    let (w, h) = checked_size(image)?;
    let mut data = vec![0u8; VideoFrame::i420_len(w as u32, h as u32)];
    convert(image, cursor, &mut data, |_| true);
    VideoFrame::from_i420(w as u32, h as u32, timestamp, data).map_err(|e| bad(image, &e.to_string()))
}

/// What was captured before and what it became: a picture converted by [`bgrx_to_i420`] or this, and the
/// captured image it came from (same size and stride as the next one).
pub struct Earlier<'a> {
    pub image: &'a [u8],
    pub frame: VideoFrame,
}

/// Like [`bgrx_to_i420`], but only the pairs of rows that changed since `earlier` — or that `redo` asks for
/// (where the pointer is, or was) — are converted; the rest is kept from the earlier picture, whose buffer is
/// written in place when no one else holds it any more (else copied). A screen mostly changes a few rows (a
/// caret, a clock, a line of text); converting everything was a sixth of a share's CPU, and a fresh buffer
/// per frame (zeroed, then copied into the frame) another sixth in page faults and copies. Falls back to
/// converting everything if `earlier` does not match the image. Also says what part of the picture's area
/// (0 to 1, in cells of two rows by 16 pixels) differs from the earlier one (all of it when it did not match).
pub fn bgrx_to_i420_since(
    image: &Bgrx<'_>,
    cursor: Option<&Cursor>,
    timestamp: Duration,
    earlier: Earlier<'_>,
    redo: impl Fn(usize) -> bool,
) -> Result<(VideoFrame, f64)> {
    let (w, h) = checked_size(image)?;
    let same_shape = earlier.frame.width as usize == w
        && earlier.frame.height as usize == h
        && earlier.image.len() == image.data.len();
    if !same_shape {
        return Ok((bgrx_to_i420(image, cursor, timestamp)?, 1.0));
    }
    let row = |y: usize| y * image.stride..y * image.stride + w * 4;
    // Cells of 16 pixels (64 bytes) across a pair of rows: what differs, counted by area, so that a tall
    // narrow thing moving (a call's self-view) is not taken for a video.
    const CELL: usize = 64;
    let cells_per_pair = (w * 4).div_ceil(CELL);
    let differed = std::cell::Cell::new(0usize);
    let changed = |pair: usize| {
        let rows = [0, 1].map(|i| (&image.data[row(pair * 2 + i)], &earlier.image[row(pair * 2 + i)]));
        // Only a pair that differs is looked at cell by cell (a still pair costs one comparison a row).
        let cells = if rows.iter().all(|(now, then)| now == then) {
            0
        } else {
            let span = |c: usize| c * CELL..((c + 1) * CELL).min(w * 4);
            (0..cells_per_pair).filter(|&c| rows.iter().any(|(now, then)| now[span(c)] != then[span(c)])).count()
        };
        differed.set(differed.get() + cells);
        cells > 0 || redo(pair)
    };
    let share = |d: usize| d as f64 / ((h / 2) * cells_per_pair).max(1) as f64;
    let mut frame = earlier.frame;
    if let Some(data) = frame.data_mut() {
        convert(image, cursor, data, changed);
        frame.timestamp = timestamp;
        return Ok((frame, share(differed.get())));
    }
    let mut data = frame.data().to_vec();
    convert(image, cursor, &mut data, changed);
    let frame = VideoFrame::from_i420(w as u32, h as u32, timestamp, data).map_err(|e| bad(image, &e.to_string()))?;
    Ok((frame, share(differed.get())))
}

fn bad(image: &Bgrx<'_>, message: &str) -> DeviceError {
    DeviceError::Format { format: "BGRX", width: image.width, height: image.height, message: message.into() }
}

/// The even size converted, once the buffer is known to hold it.
fn checked_size(image: &Bgrx<'_>) -> Result<(usize, usize)> {
    let (w, h) = ((image.width & !1) as usize, (image.height & !1) as usize);
    if w == 0 || h == 0 {
        return Err(bad(image, "nothing to capture"));
    }
    if image.stride < w * 4 || image.data.len() < image.stride * (h - 1) + w * 4 {
        return Err(bad(image, "the buffer is smaller than the picture"));
    }
    Ok((w, h))
}

/// Convert the pairs of rows `wanted` asks for into `data` (an I420 buffer of the even size), two rows at a
/// time: luma per pixel, chroma from each 2×2 block's average.
fn convert(image: &Bgrx<'_>, cursor: Option<&Cursor>, data: &mut [u8], wanted: impl Fn(usize) -> bool) {
    let (w, h) = ((image.width & !1) as usize, (image.height & !1) as usize);
    let (luma_plane, chroma_planes) = data.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma_planes.split_at_mut((w / 2) * (h / 2));
    let mut rows = [vec![[0u8; 3]; w], vec![[0u8; 3]; w]];
    for pair in (0..h / 2).filter(|p| wanted(*p)) {
        for (i, rgb) in rows.iter_mut().enumerate() {
            let y = pair * 2 + i;
            let line = &image.data[y * image.stride..y * image.stride + w * 4];
            for (px, bgrx) in rgb.iter_mut().zip(line.chunks_exact(4)) {
                *px = [bgrx[2], bgrx[1], bgrx[0]];
            }
            if let Some(c) = cursor {
                c.blend_row(y as i32, rgb);
            }
            for (out, px) in luma_plane[y * w..(y + 1) * w].iter_mut().zip(rgb.iter()) {
                *out = luma(*px);
            }
        }
        let (top, bottom) = (&rows[0], &rows[1]);
        for cx in 0..w / 2 {
            let (a, b, c, d) = (top[2 * cx], top[2 * cx + 1], bottom[2 * cx], bottom[2 * cx + 1]);
            let sum = |k: usize| (a[k] as i32 + b[k] as i32 + c[k] as i32 + d[k] as i32 + 2) / 4;
            let (u, v) = chroma(sum(0), sum(1), sum(2));
            u_plane[pair * (w / 2) + cx] = u;
            v_plane[pair * (w / 2) + cx] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, bgrx: [u8; 4]) -> Vec<u8> {
        bgrx.repeat((w * h) as usize)
    }

    #[test]
    fn converting_only_what_changed_gives_the_whole_conversion() {
        // 64x32 with padded rows; a band of rows changes, the pointer moves, rows it left are redone.
        let (w, h, stride) = (64u32, 32u32, 64 * 4 + 16);
        let picture = |seed: u8| -> Vec<u8> {
            (0..stride * h as usize).map(|i| ((i * 7 + (i / stride) * 13) as u8).wrapping_add(seed)).collect()
        };
        let pointer = |x, y| Cursor { x, y, width: 4, height: 4, argb: vec![0xff00_0000; 16] };
        let before = picture(0);
        let first = Bgrx { data: &before, width: w, height: h, stride };
        let (was, now) = (pointer(3, 5), pointer(40, 20));
        let earlier = bgrx_to_i420(&first, Some(&was), Duration::ZERO).unwrap();
        let mut after = before.clone();
        let band = picture(9);
        after[10 * stride..14 * stride].copy_from_slice(&band[10 * stride..14 * stride]);
        let second = Bgrx { data: &after, width: w, height: h, stride };
        let under = |c: &Cursor, pair: usize| (c.y..c.y + c.height as i32).any(|y| y as usize / 2 == pair);
        let (since, differed) = bgrx_to_i420_since(
            &second,
            Some(&now),
            Duration::ZERO,
            Earlier { image: &before, frame: earlier.clone() },
            |pair| under(&was, pair) || under(&now, pair),
        )
        .unwrap();
        let whole = bgrx_to_i420(&second, Some(&now), Duration::ZERO).unwrap();
        assert_eq!(since.data(), whole.data());
        // Rows 10 to 13 differ, the whole width: two pairs of sixteen (the pointer's rows are redone, not counted).
        assert_eq!(differed, 2.0 / 16.0);
        // One pixel: one cell of the 64 (16 pairs of rows, 4 cells of 16 pixels each).
        let mut dot = before.clone();
        dot[7 * stride + 20 * 4] ^= 0xff;
        let one = Bgrx { data: &dot, width: w, height: h, stride };
        let (_, area) =
            bgrx_to_i420_since(&one, None, Duration::ZERO, Earlier { image: &before, frame: earlier.clone() }, |_| {
                false
            })
            .unwrap();
        assert_eq!(area, 1.0 / 64.0);
        assert_ne!(since.data(), earlier.data(), "it changed");
        // Without the old pointer's rows redone, its picture would stay behind: the test can tell.
        let stale = bgrx_to_i420_since(
            &second,
            Some(&now),
            Duration::ZERO,
            Earlier { image: &before, frame: earlier.clone() },
            |pair| under(&now, pair),
        )
        .unwrap()
        .0;
        assert_ne!(stale.data(), whole.data());
        // Held by no one else, the earlier picture's buffer is written in place.
        let before_ptr = earlier.data().as_ptr();
        let in_place = bgrx_to_i420_since(
            &second,
            Some(&now),
            Duration::ZERO,
            Earlier { image: &before, frame: earlier },
            |pair| under(&was, pair) || under(&now, pair),
        )
        .unwrap()
        .0;
        assert_eq!(in_place.data().as_ptr(), before_ptr, "the same buffer");
        assert_eq!(in_place.data(), whole.data());
    }

    #[test]
    fn white_black_and_red_land_where_bt601_puts_them() {
        for (bgrx, y, u, v) in
            [([255, 255, 255, 0], 235, 128, 128), ([0, 0, 0, 0], 16, 128, 128), ([0, 0, 255, 0], 82, 90, 240)]
        {
            let data = image(4, 2, bgrx);
            let frame =
                bgrx_to_i420(&Bgrx { data: &data, width: 4, height: 2, stride: 16 }, None, Duration::ZERO).unwrap();
            assert!(frame.y().iter().all(|p| p.abs_diff(y) <= 1), "{bgrx:?}: {:?}", frame.y());
            assert!(frame.u().iter().all(|p| p.abs_diff(u) <= 1), "{bgrx:?}: {:?}", frame.u());
            assert!(frame.v().iter().all(|p| p.abs_diff(v) <= 1), "{bgrx:?}: {:?}", frame.v());
        }
    }

    #[test]
    fn odd_sizes_and_padded_rows_are_taken() {
        // 5x3 with 32 bytes per row: the picture is 4x2, the padding never read as pixels.
        let mut data = vec![0u8; 32 * 3];
        for row in data.chunks_exact_mut(32) {
            row[..20].copy_from_slice(&[255u8, 255, 255, 0].repeat(5));
            row[20..].fill(7);
        }
        let frame = bgrx_to_i420(&Bgrx { data: &data, width: 5, height: 3, stride: 32 }, None, Duration::ZERO).unwrap();
        assert_eq!((frame.width, frame.height), (4, 2));
        assert!(frame.y().iter().all(|&p| p == 235));
        let short = &data[..40];
        assert!(bgrx_to_i420(&Bgrx { data: short, width: 5, height: 3, stride: 32 }, None, Duration::ZERO).is_err());
    }

    #[test]
    fn the_pointer_is_drawn_in_and_clipped_at_the_edges() {
        let data = image(8, 8, [255, 255, 255, 0]);
        // A 4x4 opaque black pointer half off the right edge, with a transparent corner.
        let mut argb = vec![0xff00_0000u32; 16];
        argb[0] = 0;
        let cursor = Cursor { x: 6, y: 2, width: 4, height: 4, argb };
        let frame = bgrx_to_i420(&Bgrx { data: &data, width: 8, height: 8, stride: 32 }, Some(&cursor), Duration::ZERO)
            .unwrap();
        let y = |x: usize, row: usize| frame.y()[row * 8 + x];
        assert_eq!(y(6, 2), 235, "transparent corner");
        assert_eq!(y(7, 2), 16);
        assert_eq!(y(6, 5), 16);
        assert_eq!(y(5, 3), 235, "left of the pointer");
        assert_eq!(y(6, 6), 235, "below the pointer");
    }
}
