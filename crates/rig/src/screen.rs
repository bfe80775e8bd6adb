//! A test screen to share: an X client that fills the screen with fine text (8-pixel glyphs in black, blue
//! and red on white), draws Tincan's stamp (frame counter and capture time, `tincan_media::synthetic`) in the
//! top-left corner 20 times a second, and puts a second window ("Notes window") over part of it. Tests
//! compare what a peer decoded with [`TestScreen::screen_rgb`] / [`TestScreen::notes_rgb`], leaving out the
//! stamp and the pointer ([`TestScreen::moving`]). [`Motion`] plays "a video" over half of it, for tests of
//! moving content.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use font8x8::{BASIC_FONTS, UnicodeFonts};
use tincan_media::synthetic::{STAMP_COLS, STAMP_ROWS, Stamp, stamp_cells, wall_clock_us};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateGCAux, CreateWindowAux, Gcontext, ImageFormat, PropMode, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use crate::{Result, RigError};

/// The stamp's block size on the test screen (as the test pattern draws it at this size).
pub const STAMP_BLOCK: usize = 16;
/// The notes window's title, place and size.
pub const NOTES_TITLE: &str = "Notes window";
pub const NOTES_AT: (i16, i16) = (820, 380);
pub const NOTES_SIZE: (u16, u16) = (400, 300);

const TEXT: &str = "The quick brown fox jumps over the lazy dog; 0123456789 (Tincan shares text: \
    it must stay legible) Sphinx of black quartz, judge my vow! #include <stdio.h> int main() { return 0; } ";

/// An RGB picture.
#[derive(Clone)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Rgb {
    /// An 8-bit RGB PNG (what `tincan-cli --snapshot` writes).
    pub fn load_png(path: &std::path::Path) -> Result<Rgb> {
        let bad = |e: &dyn std::fmt::Display| RigError::Setup(format!("{}: {e}", path.display()));
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
        let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
        let mut pixels = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader.next_frame(&mut pixels).map_err(|e| bad(&e))?;
        if info.color_type != png::ColorType::Rgb {
            return Err(bad(&format!("{:?}, not RGB", info.color_type)));
        }
        pixels.truncate(info.buffer_size());
        Ok(Rgb { width: info.width as usize, height: info.height as usize, pixels })
    }

    fn filled(width: usize, height: usize, colour: [u8; 3]) -> Rgb {
        Rgb { width, height, pixels: colour.repeat(width * height) }
    }

    fn set(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            self.pixels[i..i + 3].copy_from_slice(&colour);
        }
    }

    /// Text in the 8×8 font, `scale` pixels per font pixel, from (x, y) down to `bottom`; lines wrap at the
    /// right edge.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        text: &str,
        x0: usize,
        y0: usize,
        bottom: usize,
        scale: usize,
        line_gap: usize,
        colours: &[[u8; 3]],
    ) {
        let (mut x, mut y, mut line) = (x0, y0, 0usize);
        for c in text.chars().cycle() {
            if x + 8 * scale > self.width {
                (x, y, line) = (x0, y + 8 * scale + line_gap, line + 1);
            }
            if y + 8 * scale > bottom.min(self.height) {
                break;
            }
            let colour = colours[line % colours.len()];
            if let Some(glyph) = BASIC_FONTS.get(c) {
                for (row, bits) in glyph.iter().enumerate() {
                    for col in 0..8 {
                        if bits & (1 << col) != 0 {
                            for dy in 0..scale {
                                for dx in 0..scale {
                                    self.set(x + col * scale + dx, y + row * scale + dy, colour);
                                }
                            }
                        }
                    }
                }
            }
            x += 8 * scale;
        }
    }

    /// These rows and columns as 32-bit BGRX.
    pub fn bgrx(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) -> Vec<u8> {
        let mut out = Vec::with_capacity(rows.len() * cols.len() * 4);
        for y in rows {
            for x in cols.clone() {
                let i = (y * self.width + x) * 3;
                out.extend_from_slice(&[self.pixels[i + 2], self.pixels[i + 1], self.pixels[i], 0]);
            }
        }
        out
    }
}

/// The test screen's text, `width`×`height` (without the notes window; the stamp's corner white).
pub fn text_picture(width: usize, height: usize) -> Rgb {
    let mut screen = Rgb::filled(width, height, [255, 255, 255]);
    let colours = [[0, 0, 0], [0, 0, 160], [0, 0, 0], [170, 0, 0]];
    let stamp_h = STAMP_ROWS * STAMP_BLOCK;
    screen.text(TEXT, 4, stamp_h + 8, usize::MAX, 1, 2, &colours);
    screen.text(TEXT, STAMP_COLS * STAMP_BLOCK + 8, 4, stamp_h, 1, 2, &colours[..1]);
    screen
}

/// Whether (x, y) is in the stamp's corner (it changes on its own).
pub fn in_stamp(x: usize, y: usize) -> bool {
    x < STAMP_COLS * STAMP_BLOCK && y < STAMP_ROWS * STAMP_BLOCK
}

/// Draw `stamp` into the top-left corner of a BGRX picture whose rows are `stride` bytes apart.
pub fn draw_stamp_bgrx(stamp: Stamp, data: &mut [u8], stride: usize) {
    let cells = stamp_cells(stamp);
    for y in 0..STAMP_ROWS * STAMP_BLOCK {
        for x in 0..STAMP_COLS * STAMP_BLOCK {
            let v = if cells[(y / STAMP_BLOCK) * STAMP_COLS + x / STAMP_BLOCK] { 255 } else { 0 };
            if let Some(px) = data.get_mut(y * stride + x * 4..y * stride + x * 4 + 4) {
                px.copy_from_slice(&[v, v, v, 0]);
            }
        }
    }
}

pub struct TestScreen {
    stop: Arc<AtomicBool>,
    close_notes: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The whole screen with the notes window, and without it (once it is closed).
    screen: Rgb,
    text_only: Rgb,
    notes: Rgb,
    pointer: (usize, usize),
}

impl TestScreen {
    /// Draw on `display` (an X display `width`×`height`), and keep the stamp moving until dropped.
    pub fn start(display: &str) -> Result<TestScreen> {
        let x = |e: &dyn std::fmt::Display| RigError::Setup(format!("X11: {e}"));
        let (conn, n) = x11rb::connect(Some(display)).map_err(|e| x(&e))?;
        let root = conn.setup().roots[n].root;
        let (w, h) = (conn.setup().roots[n].width_in_pixels, conn.setup().roots[n].height_in_pixels);
        let screen = text_picture(w as usize, h as usize);
        let mut notes = Rgb::filled(NOTES_SIZE.0 as usize, NOTES_SIZE.1 as usize, [255, 246, 200]);
        notes.text("NOTES: only this window is shared. ", 10, 10, usize::MAX, 2, 6, &[[20, 90, 20], [90, 20, 90]]);
        for i in 0..NOTES_SIZE.0 as usize {
            for t in 0..4 {
                notes.set(i, t, [200, 60, 0]);
                notes.set(i, NOTES_SIZE.1 as usize - 1 - t, [200, 60, 0]);
            }
        }
        // What the whole screen shows: the notes window over the text.
        let mut whole = screen.clone();
        for y in 0..notes.height {
            for x in 0..notes.width {
                let i = (y * notes.width + x) * 3;
                whole.set(
                    NOTES_AT.0 as usize + x,
                    NOTES_AT.1 as usize + y,
                    [notes.pixels[i], notes.pixels[i + 1], notes.pixels[i + 2]],
                );
            }
        }

        let make = |title: &str, at: (i16, i16), size: (u16, u16)| -> Result<Window> {
            let win = conn.generate_id().map_err(|e| x(&e))?;
            let aux = CreateWindowAux::new().override_redirect(1).background_pixel(0xffffff);
            conn.create_window(0, win, root, at.0, at.1, size.0, size.1, 0, WindowClass::INPUT_OUTPUT, 0, &aux)
                .map_err(|e| x(&e))?;
            conn.change_property8(PropMode::REPLACE, win, AtomEnum::WM_NAME, AtomEnum::STRING, title.as_bytes())
                .map_err(|e| x(&e))?;
            conn.map_window(win).map_err(|e| x(&e))?;
            Ok(win)
        };
        let main = make("Tincan test screen", (0, 0), (w, h))?;
        let notes_win = make(NOTES_TITLE, NOTES_AT, NOTES_SIZE)?;
        let gc = conn.generate_id().map_err(|e| x(&e))?;
        conn.create_gc(gc, main, &CreateGCAux::new()).map_err(|e| x(&e))?;
        let depth = conn.setup().roots[n].root_depth;
        let put = |win: Window, img: &Rgb, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| -> Result<()> {
            // In strips: a request stays well under the core protocol's 256 KiB.
            for start in rows.clone().step_by(32) {
                let strip = start..(start + 32).min(rows.end);
                let data = img.bgrx(strip.clone(), cols.clone());
                conn.put_image(
                    ImageFormat::Z_PIXMAP,
                    win,
                    gc,
                    cols.len() as u16,
                    strip.len() as u16,
                    cols.start as i16,
                    strip.start as i16,
                    0,
                    depth,
                    &data,
                )
                .map_err(|e| x(&e))?;
            }
            Ok(())
        };
        put(main, &screen, 0..screen.height, 0..screen.width)?;
        put(notes_win, &notes, 0..notes.height, 0..notes.width)?;
        // The pointer out of the way, in a corner the comparisons leave out.
        let pointer = (w as usize - 40, h as usize - 40);
        conn.warp_pointer(x11rb::NONE, root, 0, 0, 0, 0, pointer.0 as i16, pointer.1 as i16).map_err(|e| x(&e))?;
        conn.sync().map_err(|e| x(&e))?;

        // What the notes window covers, to draw again when it closes (Xvfb keeps no covered pixels).
        let (nx, ny) = (NOTES_AT.0 as usize, NOTES_AT.1 as usize);
        let under: Vec<(usize, usize, Vec<u8>)> = (ny..ny + notes.height)
            .step_by(32)
            .map(|y| {
                let h = 32.min(ny + notes.height - y);
                (y, h, screen.bgrx(y..y + h, nx..nx + notes.width))
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let close_notes = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, close) = (stop.clone(), close_notes.clone());
            std::thread::spawn(move || {
                let mut counter = 0u32;
                let mut notes_open = true;
                while !stop.load(Ordering::Relaxed) {
                    if notes_open && close.load(Ordering::Relaxed) {
                        notes_open = false;
                        let _ = conn.destroy_window(notes_win);
                        for (y, h, data) in &under {
                            let (w, x) = (NOTES_SIZE.0, NOTES_AT.0);
                            let _ = conn.put_image(
                                ImageFormat::Z_PIXMAP,
                                main,
                                gc,
                                w,
                                *h as u16,
                                x,
                                *y as i16,
                                0,
                                depth,
                                data,
                            );
                        }
                        let _ = conn.flush();
                    }
                    if draw_stamp(&conn, main, gc, depth, Stamp { counter, capture_us: wall_clock_us() }).is_err() {
                        break;
                    }
                    counter += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Ok(TestScreen { stop, close_notes, thread: Some(thread), screen: whole, text_only: screen, notes, pointer })
    }

    /// The whole screen as drawn (the stamp area white), with the notes window until it is closed.
    pub fn screen_rgb(&self) -> &Rgb {
        if self.close_notes.load(Ordering::Relaxed) { &self.text_only } else { &self.screen }
    }

    /// Close the notes window (as its user would): within the stamp's next tick (50 ms).
    pub fn close_notes(&self) {
        self.close_notes.store(true, Ordering::Relaxed);
    }

    /// The notes window's content.
    pub fn notes_rgb(&self) -> &Rgb {
        &self.notes
    }

    /// Whether (x, y) of the whole screen changes on its own: the stamp, or the pointer's corner.
    pub fn moving(&self, x: usize, y: usize) -> bool {
        let stamp = in_stamp(x, y);
        let pointer =
            x + 8 >= self.pointer.0 && x < self.pointer.0 + 32 && y + 8 >= self.pointer.1 && y < self.pointer.1 + 32;
        stamp || pointer
    }

    /// Where the pointer is (its hot spot).
    pub fn pointer(&self) -> (usize, usize) {
        self.pointer
    }
}

fn draw_stamp(conn: &RustConnection, win: Window, gc: Gcontext, depth: u8, stamp: Stamp) -> Result<()> {
    let (w, h) = (STAMP_COLS * STAMP_BLOCK, STAMP_ROWS * STAMP_BLOCK);
    let mut data = vec![0; w * h * 4];
    draw_stamp_bgrx(stamp, &mut data, w * 4);
    conn.put_image(ImageFormat::Z_PIXMAP, win, gc, w as u16, h as u16, 0, 0, 0, depth, &data)
        .map_err(|e| RigError::Setup(format!("X11: {e}")))?;
    conn.flush().map_err(|e| RigError::Setup(format!("X11: {e}")))?;
    Ok(())
}

impl Drop for TestScreen {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where [`Motion`] plays, and its size: half the rows of a 1280x720 screen.
pub const MOTION_AT: (i16, i16) = (40, 300);
pub const MOTION_SIZE: (u16, u16) = (640, 360);
/// Its pictures a second.
pub const MOTION_FPS: u32 = 30;

/// "A video playing": a window of its own over the test screen, its picture (smooth waves of colour) moving
/// [`MOTION_FPS`] times a second until dropped.
pub struct Motion {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Motion {
    pub fn start(display: &str) -> Result<Motion> {
        let x = |e: &dyn std::fmt::Display| RigError::Setup(format!("X11: {e}"));
        let (conn, n) = x11rb::connect(Some(display)).map_err(|e| x(&e))?;
        let root = conn.setup().roots[n].root;
        let depth = conn.setup().roots[n].root_depth;
        let win = conn.generate_id().map_err(|e| x(&e))?;
        let aux = CreateWindowAux::new().override_redirect(1).background_pixel(0);
        let (at, size) = (MOTION_AT, MOTION_SIZE);
        conn.create_window(0, win, root, at.0, at.1, size.0, size.1, 0, WindowClass::INPUT_OUTPUT, 0, &aux)
            .map_err(|e| x(&e))?;
        conn.map_window(win).map_err(|e| x(&e))?;
        let gc = conn.generate_id().map_err(|e| x(&e))?;
        conn.create_gc(gc, win, &CreateGCAux::new()).map_err(|e| x(&e))?;
        conn.sync().map_err(|e| x(&e))?;
        // Smooth colour waves panning 4 pixels right and 2 down a picture, as a camera pan would: drawn once
        // into a larger picture, of which each frame shows a window (the loop restarts every 4 s).
        const LOOP: usize = 120;
        let (w, h) = (size.0 as usize, size.1 as usize);
        let (tw, th) = (w + 4 * LOOP, h + 2 * LOOP);
        let mut texture = Vec::with_capacity(tw * th * 4);
        for y in 0..th {
            for x in 0..tw {
                let (u, v) = (x as f32 / 40.0, y as f32 / 55.0);
                let wave = |phase: f32| ((u.sin() + v.cos() + phase).sin() * 100.0 + 128.0) as u8;
                texture.extend_from_slice(&[wave(0.0), wave(2.1), wave(4.2), 0]);
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let every = Duration::from_secs(1) / MOTION_FPS;
                let mut next = std::time::Instant::now();
                for t in (0..LOOP).cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (dx, dy) = (4 * t, 2 * t);
                    for top in (0..h).step_by(32) {
                        let rows = top..(top + 32).min(h);
                        let mut data = Vec::with_capacity(rows.len() * w * 4);
                        for y in rows.clone() {
                            let at = ((y + dy) * tw + dx) * 4;
                            data.extend_from_slice(&texture[at..at + w * 4]);
                        }
                        let put = conn.put_image(
                            ImageFormat::Z_PIXMAP,
                            win,
                            gc,
                            w as u16,
                            rows.len() as u16,
                            0,
                            top as i16,
                            0,
                            depth,
                            &data,
                        );
                        if put.is_err() {
                            return;
                        }
                    }
                    let _ = conn.flush();
                    next += every;
                    std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
                }
            })
        };
        Ok(Motion { stop, thread: Some(thread) })
    }
}

impl Drop for Motion {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Luma PSNR (dB) of `got` against `want` (same size) over the pixels `counted` keeps: BT.601 luma of both,
/// as video codecs are measured. Colour is sent at a quarter of the resolution (4:2:0, as every WebRTC
/// video codec does), so one-pixel coloured strokes lose colour by design; their shape is in the luma.
pub fn psnr_luma(want: &Rgb, got: &Rgb, counted: impl Fn(usize, usize) -> bool) -> Option<f64> {
    if (want.width, want.height) != (got.width, got.height) {
        return None;
    }
    let luma = |p: &[u8]| 16.0 + (65.738 * p[0] as f64 + 129.057 * p[1] as f64 + 25.064 * p[2] as f64) / 256.0;
    let (mut sum, mut n) = (0f64, 0u64);
    for y in 0..want.height {
        for x in 0..want.width {
            if counted(x, y) {
                let i = (y * want.width + x) * 3;
                let d = luma(&want.pixels[i..i + 3]) - luma(&got.pixels[i..i + 3]);
                sum += d * d;
                n += 1;
            }
        }
    }
    let mse = sum / n.max(1) as f64;
    Some(if mse == 0.0 { 99.0 } else { 10.0 * (255.0 * 255.0 / mse).log10() })
}

/// PSNR (dB) of `got` against `want` (same size, RGB) over the pixels `counted` keeps.
pub fn psnr(want: &Rgb, got: &Rgb, counted: impl Fn(usize, usize) -> bool) -> Option<f64> {
    if (want.width, want.height) != (got.width, got.height) {
        return None;
    }
    let (mut sum, mut n) = (0f64, 0u64);
    for y in 0..want.height {
        for x in 0..want.width {
            if !counted(x, y) {
                continue;
            }
            let i = (y * want.width + x) * 3;
            for k in 0..3 {
                let d = want.pixels[i + k] as f64 - got.pixels[i + k] as f64;
                sum += d * d;
            }
            n += 3;
        }
    }
    let mse = sum / n.max(1) as f64;
    Some(if mse == 0.0 { 99.0 } else { 10.0 * (255.0 * 255.0 / mse).log10() })
}
