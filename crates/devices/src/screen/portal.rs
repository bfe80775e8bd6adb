//! Wayland: the ScreenCast portal (`xdg-desktop-portal`, through `ashpd`) asks the person what to share in
//! the desktop's own dialog, then hands a PipeWire stream of it, read with the `pipewire` crate. This is the
//! only way to capture on GNOME, KDE and wlroots desktops under Wayland, and it also works inside Flatpak.
//!
//! Two threads: `screen-portal` keeps the portal's session open (a small tokio runtime for D-Bus) and notices
//! when the desktop ends it; `screen-pipewire` runs PipeWire's loop and keeps the newest picture. `grab` takes
//! that picture (copied only when a new one came: a still screen sends none).
//!
//! The pointer is drawn in by the compositor when it can (the portal's `Embedded` cursor mode), else it is
//! left out. Buffers are memory PipeWire maps for us (`MAP_BUFFERS`); DMA-BUF is not asked for.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ashpd::desktop::PersistMode;
use ashpd::desktop::screencast::{CursorMode, Screencast, SelectSourcesOptions, SourceType};
use pipewire as pw;
use pw::spa;

use super::{Capturer, Grab};
use crate::screen::Bgrx;
use crate::{DeviceError, Result};

/// How long the first picture may take once the person has chosen.
const FIRST_PICTURE: Duration = Duration::from_secs(5);
/// Pictures larger than this are refused (8K is 7680×4320).
const MAX_SIDE: u32 = 8192;

fn failed(message: impl std::fmt::Display) -> DeviceError {
    DeviceError::Backend { kind: "screen", name: "the desktop's screen sharing".into(), message: message.to_string() }
}

/// What the portal's picker may offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Screens and windows: the person chooses either.
    Anything,
    /// Windows only.
    Windows,
}

/// The newest picture, as the PipeWire thread left it (BGRX, rows packed).
#[derive(Default)]
struct Latest {
    data: Vec<u8>,
    width: u32,
    height: u32,
    /// Counts pictures: `grab` copies only when it moved.
    seq: u64,
    /// Why the stream ended (the desktop ended the share, PipeWire failed).
    ended: Option<String>,
}

#[derive(Default)]
struct Shared {
    latest: Mutex<Latest>,
    new_picture: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn end(&self, why: String) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.ended.get_or_insert(why);
        self.new_picture.notify_all();
    }
}

/// A share chosen in the portal's dialog.
pub struct PortalCapturer {
    shared: Arc<Shared>,
    picture: Vec<u8>,
    width: u32,
    height: u32,
    seq: u64,
    what: String,
    portal: Option<JoinHandle<()>>,
    pipewire: Option<JoinHandle<()>>,
}

/// What the portal handed over once the person chose.
struct Chosen {
    node: u32,
    remote: OwnedFd,
    what: String,
}

impl PortalCapturer {
    /// Ask the desktop what to share. Blocks while its dialog is open (the person may take their time).
    pub fn open(offer: Offer) -> Result<PortalCapturer> {
        let shared = Arc::new(Shared::default());
        let (chosen_tx, chosen_rx) = std::sync::mpsc::channel();
        let portal = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("screen-portal".into())
                .spawn(move || portal_session(offer, &shared, chosen_tx))
                .map_err(failed)?
        };
        let chosen = match chosen_rx.recv() {
            Ok(Ok(chosen)) => chosen,
            Ok(Err(e)) => {
                let _ = portal.join();
                return Err(e);
            }
            Err(_) => {
                let _ = portal.join();
                return Err(failed("the portal's thread ended"));
            }
        };
        let Chosen { node, remote, what } = chosen;
        let mut capturer = PortalCapturer {
            shared: shared.clone(),
            picture: Vec::new(),
            width: 0,
            height: 0,
            seq: 0,
            what,
            portal: Some(portal),
            pipewire: None,
        };
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        capturer.pipewire = Some(
            std::thread::Builder::new()
                .name("screen-pipewire".into())
                .spawn(move || {
                    if let Err(e) = read_stream(node, remote, &shared, &started_tx) {
                        let _ = started_tx.send(Err(e.to_string()));
                        shared.end(e.to_string());
                    }
                })
                .map_err(failed)?,
        );
        match started_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failed(format!("PipeWire: {e}"))),
            Err(_) => return Err(failed("PipeWire's thread ended")),
        }
        // The first picture, so that a share that shows nothing fails here and not in the call.
        let latest = capturer.shared.latest.lock().unwrap_or_else(|e| e.into_inner());
        let (latest, _) = capturer
            .shared
            .new_picture
            .wait_timeout_while(latest, FIRST_PICTURE, |l| l.seq == 0 && l.ended.is_none())
            .unwrap_or_else(|e| e.into_inner());
        if let Some(why) = &latest.ended {
            return Err(failed(why));
        }
        if latest.seq == 0 {
            return Err(failed(format!("no picture came within {} s", FIRST_PICTURE.as_secs())));
        }
        drop(latest);
        tracing::info!(what = %capturer.what, node, "sharing through the ScreenCast portal");
        Ok(capturer)
    }
}

impl Capturer for PortalCapturer {
    fn grab(&mut self) -> Result<Grab<'_>> {
        {
            let latest = self.shared.latest.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(why) = &latest.ended {
                return Err(DeviceError::Lost { kind: "screen", name: self.what.clone(), message: why.clone() });
            }
            if latest.seq != self.seq {
                self.picture.clear();
                self.picture.extend_from_slice(&latest.data);
                (self.width, self.height, self.seq) = (latest.width, latest.height, latest.seq);
            }
        }
        let image =
            Bgrx { data: &self.picture, width: self.width, height: self.height, stride: self.width as usize * 4 };
        Ok(Grab { image, cursor: None })
    }

    fn describe(&self) -> String {
        self.what.clone()
    }
}

impl Drop for PortalCapturer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for thread in [self.pipewire.take(), self.portal.take()].into_iter().flatten() {
            let _ = thread.join();
        }
    }
}

/// How long closing the portal's session may take (a portal that stalls must not hold the capturer's drop).
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// The portal's side: create a session, let the person choose, hand over the stream, then hold the session
/// until the capturer goes or the desktop ends it.
fn portal_session(offer: Offer, shared: &Shared, chosen: std::sync::mpsc::Sender<Result<Chosen>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = chosen.send(Err(failed(e)));
            return;
        }
    };
    runtime.block_on(async {
        // A connection of this session's own: ashpd's shared one would run its reader on this thread's
        // runtime, which ends with the share (and the next share would wait for replies forever).
        let connection = match ashpd::zbus::Connection::session().await {
            Ok(c) => c,
            Err(e) => {
                let _ = chosen.send(Err(failed(format!("the session bus cannot be reached: {e}"))));
                return;
            }
        };
        let proxy = match Screencast::with_connection(connection).await {
            Ok(p) => p,
            Err(e) => {
                let _ = chosen.send(Err(failed(portal_error(&e))));
                return;
            }
        };
        let session = match proxy.create_session(Default::default()).await {
            Ok(s) => s,
            Err(e) => {
                let _ = chosen.send(Err(failed(portal_error(&e))));
                return;
            }
        };
        // Watched from the start: a desktop may end the share as soon as it began.
        let mut closed = match session.receive_closed().await {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!("the portal's Closed signal cannot be watched: {e}");
                None
            }
        };
        let result = async {
            let cursor = match proxy.available_cursor_modes().await {
                Ok(modes) if modes.contains(CursorMode::Embedded) => CursorMode::Embedded,
                _ => CursorMode::Hidden,
            };
            let offered = proxy.available_source_types().await.unwrap_or_default();
            let sources = match offer {
                Offer::Anything => SourceType::Monitor | SourceType::Window,
                Offer::Windows if !offered.is_empty() && !offered.contains(SourceType::Window) => {
                    return Err(failed("this desktop does not share single windows; share a screen instead"));
                }
                Offer::Windows => SourceType::Window.into(),
            };
            let options = SelectSourcesOptions::default()
                .set_cursor_mode(cursor)
                .set_sources(sources)
                .set_multiple(false)
                .set_persist_mode(PersistMode::DoNot);
            proxy
                .select_sources(&session, options)
                .await
                .and_then(|r| r.response())
                .map_err(|e| failed(portal_error(&e)))?;
            let streams = proxy
                .start(&session, None, Default::default())
                .await
                .and_then(|r| r.response())
                .map_err(|e| failed(portal_error(&e)))?;
            let stream = streams.streams().first().ok_or_else(|| failed("the desktop chose nothing to share"))?;
            let remote = proxy
                .open_pipe_wire_remote(&session, Default::default())
                .await
                .map_err(|e| failed(portal_error(&e)))?;
            let kind = match stream.source_type() {
                Some(SourceType::Window) => "a window",
                Some(SourceType::Monitor) => "a screen",
                _ => "what the desktop's dialog chose",
            };
            let what = match stream.size() {
                Some((w, h)) => format!("{kind} ({w}×{h})"),
                None => kind.to_string(),
            };
            Ok::<_, DeviceError>(Chosen { node: stream.pipe_wire_node_id(), remote, what })
        }
        .await;
        let close = || async {
            if tokio::time::timeout(CLOSE_WITHIN, session.close()).await.is_err() {
                tracing::warn!("the portal did not close the share's session within {CLOSE_WITHIN:?}");
            }
        };
        match result {
            Ok(c) => {
                let _ = chosen.send(Ok(c));
            }
            Err(e) => {
                let _ = chosen.send(Err(e));
                close().await;
                return;
            }
        }
        // Held until the capturer goes (polled: it has no async side) or the desktop ends the share (its own
        // "stop sharing" control, or the shared window closed).
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if shared.stop.load(Ordering::Relaxed) {
                        close().await;
                        return;
                    }
                }
                Some(_) = async {
                    match closed.as_mut() {
                        Some(c) => futures_util::StreamExt::next(c).await,
                        None => std::future::pending().await,
                    }
                } => {
                    shared.end("the desktop ended the share".into());
                    return;
                }
            }
        }
    });
}

/// The portal's errors in words: a cancelled dialog is the person's choice, not a fault.
fn portal_error(e: &ashpd::Error) -> String {
    match e {
        ashpd::Error::Response(ashpd::desktop::ResponseError::Cancelled) => "sharing was cancelled".into(),
        ashpd::Error::PortalNotFound(_) | ashpd::Error::Zbus(_) => {
            format!("the desktop's ScreenCast portal (xdg-desktop-portal) cannot be reached: {e}")
        }
        e => e.to_string(),
    }
}

/// What the stream's format says: the picture's size and whether its bytes are RGB rather than BGR order.
#[derive(Clone, Copy, Default)]
struct Format {
    width: u32,
    height: u32,
    rgb_order: bool,
}

/// Where a buffer's picture is, as its chunk says.
#[derive(Clone, Copy)]
struct Layout {
    offset: usize,
    size: usize,
    stride: i32,
    corrupted: bool,
}

/// Copy a buffer's picture into `out` as packed BGRX rows. A buffer that does not hold the picture its format
/// and chunk claim (too short, a stride shorter than a row, an absurd size) is skipped, and `out` kept.
fn copy_picture(bytes: &[u8], layout: Layout, format: Format, out: &mut Vec<u8>) -> bool {
    let Format { width, height, rgb_order } = format;
    if layout.corrupted || layout.size == 0 || width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return false;
    }
    let row = width as usize * 4;
    // 0: packed rows. Negative (bottom-up rows) is not what was negotiated: skipped.
    let stride = match layout.stride {
        0 => row,
        s if s < 0 => return false,
        s => s as usize,
    };
    let Some(needed) = stride.checked_mul(height as usize - 1).and_then(|n| n.checked_add(row)) else { return false };
    if stride < row || layout.size < needed {
        return false;
    }
    let Some(bytes) = bytes.get(layout.offset..).and_then(|b| b.get(..needed)) else { return false };
    out.clear();
    out.reserve(row * height as usize);
    for line in bytes.chunks(stride).take(height as usize) {
        let line = &line[..row];
        if rgb_order {
            out.extend(line.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0], p[3]]));
        } else {
            out.extend_from_slice(line);
        }
    }
    true
}

/// PipeWire's side: connect to the portal's remote, take the node's pictures, keep the newest.
fn read_stream(
    node: u32,
    remote: OwnedFd,
    shared: &Arc<Shared>,
    started: &std::sync::mpsc::Sender<std::result::Result<(), String>>,
) -> std::result::Result<(), pw::Error> {
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None)?;
    let context = pw::context::ContextRc::new(&mainloop, None)?;
    let core = context.connect_fd_rc(remote, None)?;
    let stream = pw::stream::StreamBox::new(
        &core,
        "tincan-screen",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
            // The shared node going ends the stream (it is not re-linked to some other node).
            "node.dont-reconnect" => "true",
        },
    )?;
    let on_state = shared.clone();
    let on_picture = shared.clone();
    let _listener = stream
        .add_local_listener_with_user_data(Format::default())
        .state_changed(move |_, _, _, state| match state {
            pw::stream::StreamState::Error(e) => on_state.end(format!("PipeWire: {e}")),
            pw::stream::StreamState::Unconnected => on_state.end("the desktop's stream went away".into()),
            _ => {}
        })
        .param_changed(|_, format, id, param| {
            let Some(param) = param else { return };
            if id != spa::param::ParamType::Format.as_raw() {
                return;
            }
            let mut info = spa::param::video::VideoInfoRaw::default();
            if info.parse(param).is_err() {
                return;
            }
            use spa::param::video::VideoFormat as F;
            let size = info.size();
            *format = Format {
                width: size.width,
                height: size.height,
                rgb_order: matches!(info.format(), F::RGBx | F::RGBA),
            };
        })
        .process(move |stream, format| {
            let Some(mut buffer) = stream.dequeue_buffer() else { return };
            let Some(data) = buffer.datas_mut().first_mut() else { return };
            let chunk = data.chunk();
            let layout = Layout {
                offset: chunk.offset() as usize,
                size: chunk.size() as usize,
                stride: chunk.stride(),
                corrupted: chunk.flags().contains(spa::buffer::ChunkFlags::CORRUPTED),
            };
            let Some(bytes) = data.data() else { return };
            let mut latest = on_picture.latest.lock().unwrap_or_else(|e| e.into_inner());
            let mut picture = std::mem::take(&mut latest.data);
            if copy_picture(bytes, layout, *format, &mut picture) {
                (latest.width, latest.height) = (format.width, format.height);
                latest.seq += 1;
                on_picture.new_picture.notify_all();
            }
            latest.data = picture;
        })
        .register()?;

    let format = formats();
    let mut params = [spa::pod::Pod::from_bytes(&format).ok_or(pw::Error::CreationFailed)?];
    stream.connect(
        spa::utils::Direction::Input,
        Some(node),
        pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
        &mut params,
    )?;
    // The capturer's going is seen on a timer: PipeWire's own channel would panic if no pipe could be made.
    let stop = shared.clone();
    let quit = mainloop.clone();
    let timer = mainloop.loop_().add_timer(move |_| {
        if stop.stop.load(Ordering::Relaxed) {
            quit.quit();
        }
    });
    let every = Duration::from_millis(100);
    timer.update_timer(Some(every), Some(every)).into_result().map_err(pw::Error::SpaError)?;
    let _ = started.send(Ok(()));
    mainloop.run();
    let _ = stream.disconnect();
    Ok(())
}

/// The formats asked for: 32-bit pictures in BGR or RGB order (what compositors give without conversion), up to
/// 30 pictures a second.
fn formats() -> Vec<u8> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    use spa::param::video::VideoFormat;
    use spa::utils::{Fraction, Rectangle};
    let object = spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::BGRx,
            VideoFormat::BGRx,
            VideoFormat::BGRA,
            VideoFormat::RGBx,
            VideoFormat::RGBA
        ),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Choice,
            Range,
            Rectangle,
            Rectangle { width: 1920, height: 1080 },
            Rectangle { width: 1, height: 1 },
            Rectangle { width: MAX_SIDE, height: MAX_SIDE }
        ),
        spa::pod::property!(
            FormatProperties::VideoFramerate,
            Choice,
            Range,
            Fraction,
            Fraction { num: 30, denom: 1 },
            Fraction { num: 0, denom: 1 },
            Fraction { num: 30, denom: 1 }
        ),
    );
    spa::pod::serialize::PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &spa::pod::Value::Object(object))
        .map(|(cursor, _)| cursor.into_inner())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKED: Layout = Layout { offset: 0, size: 2 * 2 * 4, stride: 8, corrupted: false };

    #[test]
    fn a_picture_is_copied_without_its_row_padding_and_in_bgr_order() {
        // 2×2, rows 12 bytes apart (4 bytes of padding), from offset 4.
        let mut bytes = vec![0xEE; 4];
        bytes.extend([1, 2, 3, 4, 5, 6, 7, 8, 0xAA, 0xAA, 0xAA, 0xAA, 9, 10, 11, 12, 13, 14, 15, 16]);
        let layout = Layout { offset: 4, size: 20, stride: 12, corrupted: false };
        let mut out = Vec::new();
        assert!(copy_picture(&bytes, layout, Format { width: 2, height: 2, rgb_order: false }, &mut out));
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        assert!(copy_picture(&bytes, layout, Format { width: 2, height: 2, rgb_order: true }, &mut out));
        assert_eq!(out, [3, 2, 1, 4, 7, 6, 5, 8, 11, 10, 9, 12, 15, 14, 13, 16]);
    }

    #[test]
    fn a_buffer_that_lies_about_its_picture_is_skipped() {
        let format = Format { width: 2, height: 2, rgb_order: false };
        let mut out = vec![7];
        let cases = [
            (vec![0; 15], PACKED),                               // shorter than the picture
            (vec![0; 16], Layout { offset: 4, ..PACKED }),       // the picture runs past the end
            (vec![0; 16], Layout { size: 8, ..PACKED }),         // the chunk holds one row
            (vec![0; 16], Layout { stride: 4, ..PACKED }),       // a stride shorter than a row
            (vec![0; 16], Layout { corrupted: true, ..PACKED }), // marked corrupted
            (vec![0; 16], Layout { size: 0, ..PACKED }),         // nothing in it (no new picture)
        ];
        for (bytes, layout) in cases {
            assert!(!copy_picture(&bytes, layout, format, &mut out));
        }
        let huge = Format { width: MAX_SIDE + 1, height: 1, rgb_order: false };
        assert!(!copy_picture(&[0; 64], Layout { size: 64, stride: 0, ..PACKED }, huge, &mut out));
        assert_eq!(out, [7], "kept");
        assert!(copy_picture(&[0; 16], PACKED, format, &mut out));
    }

    #[test]
    fn the_formats_asked_for_are_a_pod() {
        let bytes = formats();
        assert!(spa::pod::Pod::from_bytes(&bytes).is_some_and(|p| p.is_object()), "{} bytes", bytes.len());
    }
}
