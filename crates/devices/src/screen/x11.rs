//! X11 capture with x11rb: MIT-SHM `GetImage` into a memfd the server writes (no copy through the socket),
//! XFixes for the pointer's picture, RandR for monitors, Composite for one window's own pixels (what it
//! shows, even where another window covers it). x11rb rather than `xcap`: xcap hands out `RgbaImage`s
//! allocated per frame through plain `GetImage`, and has no pointer; the requests here are a few and stay
//! in our hands. Without SHM (a remote display) it falls back to plain `GetImage`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use x11rb::connection::Connection;
use x11rb::protocol::composite::{ConnectionExt as _, Redirect};
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

use super::{Bgrx, Capturer, Cursor, Grab, Shareable, Target};
use crate::{DeviceError, Result};

fn failed(what: &str, e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Backend { kind: "screen", name: what.to_string(), message: e.to_string() }
}

/// What is captured, in root-window coordinates for a screen or monitor.
#[derive(Clone, Copy, Debug)]
enum Area {
    Root {
        x: i16,
        y: i16,
        width: u16,
        height: u16,
    },
    /// One window, through Composite (`composited`) or directly.
    Window {
        window: Window,
        composited: bool,
    },
}

/// A shared-memory segment the X server writes images into.
struct Shm {
    seg: u32,
    map: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone and only read through `&self`.
unsafe impl Send for Shm {}

impl Shm {
    fn new(conn: &RustConnection, len: usize) -> Result<Shm> {
        // SAFETY: plain system calls on a descriptor we own; the mapping is checked before use.
        unsafe {
            let fd = libc::memfd_create(c"tincan-screen".as_ptr(), libc::MFD_CLOEXEC);
            if fd < 0 {
                return Err(failed("memfd", std::io::Error::last_os_error()));
            }
            let fd = OwnedFd::from_raw_fd(fd);
            if libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) != 0 {
                return Err(failed("memfd", std::io::Error::last_os_error()));
            }
            let map = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), 0);
            if map == libc::MAP_FAILED {
                return Err(failed("mmap", std::io::Error::last_os_error()));
            }
            let map = NonNull::new(map.cast::<u8>()).ok_or_else(|| failed("mmap", "null mapping"))?;
            let attached = conn.generate_id().map_err(|e| failed("X11", e)).and_then(|seg| {
                let cookie = conn.shm_attach_fd(seg, fd, false).map_err(|e| failed("SHM", e))?;
                cookie.check().map_err(|e| failed("SHM attach", e))?;
                Ok(seg)
            });
            match attached {
                Ok(seg) => Ok(Shm { seg, map, len }),
                Err(e) => {
                    libc::munmap(map.as_ptr().cast(), len);
                    Err(e)
                }
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` bytes, readable, alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.len) }
    }

    fn free(self, conn: &RustConnection) {
        let _ = conn.shm_detach(self.seg);
        // SAFETY: unmapping our own mapping once; `self` is consumed.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.len) };
    }
}

pub struct X11Capturer {
    conn: RustConnection,
    root: Window,
    area: Area,
    what: String,
    shm: Option<Shm>,
    /// MIT-SHM with file descriptors (1.2) is there; else plain `GetImage`.
    use_shm: bool,
    cursor: bool,
    /// The last plain `GetImage` reply (the fallback), kept for the borrow `grab` returns.
    plain: Vec<u8>,
}

impl X11Capturer {
    pub fn open(target: &Target) -> Result<X11Capturer> {
        let (conn, screen_num) = x11rb::connect(None).map_err(|e| failed("X11 display", e))?;
        let screen = &conn.setup().roots[screen_num];
        let (root, width, height) = (screen.root, screen.width_in_pixels, screen.height_in_pixels);
        let use_shm = conn
            .shm_query_version()
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|v| (v.major_version, v.minor_version) >= (1, 2));
        let cursor = conn.xfixes_query_version(4, 0).ok().and_then(|c| c.reply().ok()).is_some();
        let (area, what) = match target {
            Target::Screen(None) => (Area::Root { x: 0, y: 0, width, height }, "the entire screen".to_string()),
            Target::Screen(Some(n)) => {
                let monitors = conn
                    .randr_get_monitors(root, true)
                    .map_err(|e| failed("RandR", e))?
                    .reply()
                    .map_err(|e| failed("RandR", e))?
                    .monitors;
                let m = monitors.get(*n).ok_or(DeviceError::NotFound {
                    kind: "monitor",
                    wanted: Some(format!("{n} of {}", monitors.len())),
                })?;
                let area = Area::Root { x: m.x, y: m.y, width: m.width, height: m.height };
                (area, format!("screen {}", n + 1))
            }
            Target::Window(_) | Target::WindowId(_) => {
                let (window, title) = match target {
                    Target::WindowId(id) => (*id, window_title(&conn, *id).unwrap_or_else(|| format!("{id:#x}"))),
                    Target::Window(title) => (
                        find_window(&conn, root, title)?
                            .ok_or(DeviceError::NotFound { kind: "window", wanted: Some(title.clone()) })?,
                        title.clone(),
                    ),
                    _ => unreachable!("matched above"),
                };
                conn.get_geometry(window)
                    .map_err(|e| failed("X11", e))?
                    .reply()
                    .map_err(|_| DeviceError::NotFound { kind: "window", wanted: Some(title.clone()) })?;
                let composited = conn
                    .composite_query_version(0, 4)
                    .ok()
                    .and_then(|c| c.reply().ok())
                    .is_some_and(|v| (v.major_version, v.minor_version) >= (0, 2))
                    && conn.composite_redirect_window(window, Redirect::AUTOMATIC).is_ok_and(|c| c.check().is_ok());
                (Area::Window { window, composited }, format!("the window “{title}”"))
            }
        };
        Ok(X11Capturer { conn, root, area, what, shm: None, use_shm, cursor, plain: Vec::new() })
    }

    /// Where the area is now (a window moves and resizes): root position and size.
    fn geometry(&self) -> Result<(i16, i16, u16, u16)> {
        match self.area {
            Area::Root { x, y, width, height } => Ok((x, y, width, height)),
            Area::Window { window, .. } => {
                let g = self.conn.get_geometry(window).map_err(|e| failed("window", e))?.reply().map_err(|_| {
                    DeviceError::Lost { kind: "window", name: self.what.clone(), message: "it was closed".into() }
                })?;
                let at = self
                    .conn
                    .translate_coordinates(window, self.root, 0, 0)
                    .map_err(|e| failed("window", e))?
                    .reply()
                    .map_err(|e| failed("window", e))?;
                Ok((at.dst_x, at.dst_y, g.width, g.height))
            }
        }
    }

    fn pointer(&self, x0: i16, y0: i16) -> Option<Cursor> {
        if !self.cursor {
            return None;
        }
        let c = self.conn.xfixes_get_cursor_image().ok()?.reply().ok()?;
        Some(Cursor {
            x: c.x as i32 - c.xhot as i32 - x0 as i32,
            y: c.y as i32 - c.yhot as i32 - y0 as i32,
            width: c.width as u32,
            height: c.height as u32,
            argb: c.cursor_image,
        })
    }

    fn check_format(&self, depth: u8) -> Result<()> {
        let setup = self.conn.setup();
        let bpp = setup.pixmap_formats.iter().find(|f| f.depth == depth).map(|f| f.bits_per_pixel);
        if bpp != Some(32) || setup.image_byte_order != ImageOrder::LSB_FIRST {
            return Err(failed(
                &self.what,
                format!("depth {depth} at {bpp:?} bits per pixel is not supported (32-bit BGRX is)"),
            ));
        }
        Ok(())
    }
}

fn atom(conn: &RustConnection, name: &[u8]) -> Option<u32> {
    conn.intern_atom(false, name).ok()?.reply().ok().map(|r| r.atom)
}

/// A window's title (`_NET_WM_NAME`, else `WM_NAME`), if it has one.
fn window_title(conn: &RustConnection, w: Window) -> Option<String> {
    let get = |prop: u32, ty: u32| {
        conn.get_property(false, w, prop, ty, 0, 1024).ok()?.reply().ok().filter(|r| !r.value.is_empty())
    };
    let reply = atom(conn, b"_NET_WM_NAME")
        .zip(atom(conn, b"UTF8_STRING"))
        .and_then(|(n, u)| get(n, u))
        .or_else(|| get(AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()))?;
    Some(String::from_utf8_lossy(&reply.value).into_owned())
}

/// Titled, shown windows below `root` (breadth first, a few levels: frames of window managers), each with
/// its title; at most `limit`.
fn titled_windows(conn: &RustConnection, root: Window, limit: usize) -> Result<Vec<(Window, String)>> {
    let mut found = Vec::new();
    let mut level = vec![root];
    for _ in 0..4 {
        let mut next = Vec::new();
        for w in level {
            let Ok(tree) = conn.query_tree(w).map_err(|e| failed("X11", e))?.reply() else { continue };
            for child in tree.children {
                let shown = conn
                    .get_window_attributes(child)
                    .ok()
                    .and_then(|c| c.reply().ok())
                    .is_some_and(|a| a.map_state == x11rb::protocol::xproto::MapState::VIEWABLE);
                match window_title(conn, child) {
                    Some(title) if shown => found.push((child, title)),
                    _ => next.push(child),
                }
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
        level = next;
    }
    Ok(found)
}

/// The first shown window whose title contains `title`.
fn find_window(conn: &RustConnection, root: Window, title: &str) -> Result<Option<Window>> {
    Ok(titled_windows(conn, root, 512)?.into_iter().find(|(_, t)| t.contains(title)).map(|(w, _)| w))
}

/// What can be shared on this display: the whole screen, each monitor (if more than one), each titled window.
pub fn list() -> Result<Vec<Shareable>> {
    let (conn, screen_num) = x11rb::connect(None).map_err(|e| failed("X11 display", e))?;
    let screen = &conn.setup().roots[screen_num];
    let root = screen.root;
    let (w, h) = (screen.width_in_pixels as u32, screen.height_in_pixels as u32);
    let mut list =
        vec![Shareable { target: "screen".into(), kind: "screen", label: "Entire screen".into(), width: w, height: h }];
    let monitors =
        conn.randr_get_monitors(root, true).ok().and_then(|c| c.reply().ok()).map(|r| r.monitors).unwrap_or_default();
    if monitors.len() > 1 {
        for (i, m) in monitors.iter().enumerate() {
            let name = conn
                .get_atom_name(m.name)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|r| String::from_utf8_lossy(&r.name).into_owned());
            list.push(Shareable {
                target: format!("screen:{i}"),
                kind: "monitor",
                label: name.map_or_else(|| format!("Screen {}", i + 1), |n| format!("Screen {} ({n})", i + 1)),
                width: m.width as u32,
                height: m.height as u32,
            });
        }
    }
    for (window, title) in titled_windows(&conn, root, 64)? {
        let Some(g) = conn.get_geometry(window).ok().and_then(|c| c.reply().ok()) else { continue };
        if g.width < 32 || g.height < 32 {
            continue;
        }
        list.push(Shareable {
            target: format!("window-id:{window:#x}"),
            kind: "window",
            label: title,
            width: g.width as u32,
            height: g.height as u32,
        });
    }
    Ok(list)
}

impl Capturer for X11Capturer {
    fn grab(&mut self) -> Result<Grab<'_>> {
        let (x, y, width, height) = self.geometry()?;
        if width == 0 || height == 0 {
            return Err(failed(&self.what, "nothing on screen to capture"));
        }
        let len = width as usize * height as usize * 4;
        if self.use_shm && self.shm.as_ref().is_none_or(|s| s.len < len) {
            if let Some(old) = self.shm.take() {
                old.free(&self.conn);
            }
            match Shm::new(&self.conn, len) {
                Ok(shm) => self.shm = Some(shm),
                Err(e) => {
                    // A display reached over TCP (ssh -X) cannot take a file descriptor: plain GetImage.
                    tracing::info!("{}: shared memory refused ({e}); reading images through the socket", self.what);
                    self.use_shm = false;
                }
            }
        }
        // A window's own pixmap (Composite), named again each time: it changes when the window resizes.
        let (drawable, gx, gy, pixmap) = match self.area {
            Area::Root { .. } => (self.root, x, y, None),
            Area::Window { window, composited: true } => {
                let pixmap = self.conn.generate_id().map_err(|e| failed("X11", e))?;
                self.conn
                    .composite_name_window_pixmap(window, pixmap)
                    .map_err(|e| failed("Composite", e))?
                    .check()
                    // Minimised or on another desktop: nothing to show now, but it may come back.
                    .map_err(|_| failed(&self.what, "it is not shown"))?;
                (pixmap, 0, 0, Some(pixmap))
            }
            Area::Window { window, composited: false } => (window, 0, 0, None),
        };
        let result = if self.use_shm {
            let seg = self.shm.as_ref().map(|s| s.seg).unwrap_or_default();
            let z = ImageFormat::Z_PIXMAP.into();
            self.conn
                .shm_get_image(drawable, gx, gy, width, height, !0, z, seg, 0)
                .map_err(|e| failed("SHM", e))?
                .reply()
                .map(|r| r.depth)
                .map_err(|e| failed(&self.what, e))
        } else {
            self.conn
                .get_image(ImageFormat::Z_PIXMAP, drawable, gx, gy, width, height, !0)
                .map_err(|e| failed("X11", e))?
                .reply()
                .map(|r| {
                    self.plain = r.data;
                    r.depth
                })
                .map_err(|e| failed(&self.what, e))
        };
        if let Some(p) = pixmap {
            let _ = self.conn.free_pixmap(p);
        }
        let depth = result?;
        self.check_format(depth)?;
        let cursor = self.pointer(x, y);
        let data = match &self.shm {
            Some(shm) if self.use_shm => &shm.bytes()[..len],
            _ => self.plain.get(..len).ok_or_else(|| failed(&self.what, "short image"))?,
        };
        let image = Bgrx { data, width: width as u32, height: height as u32, stride: width as usize * 4 };
        Ok(Grab { image, cursor })
    }

    fn describe(&self) -> String {
        self.what.clone()
    }
}

impl Drop for X11Capturer {
    fn drop(&mut self) {
        if let Some(shm) = self.shm.take() {
            shm.free(&self.conn);
        }
        let _ = self.conn.flush();
    }
}
