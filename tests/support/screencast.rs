//! The desktop side of Wayland screen sharing, for a scenario: the real `xdg-desktop-portal` on a private
//! session bus, a real PipeWire (with WirePlumber) in a runtime directory of its own, and in place of the
//! compositor (its picker and its screen) a ScreenCast portal backend of the test's own that "chooses" a
//! PipeWire video node the test publishes: the test screen's text with a moving stamp, 20 pictures a second.
//!
//! Why a backend of the test's own: the real wlroots backend (`xdg-desktop-portal-wlr` 0.6 in headless sway)
//! insists on a DMA-BUF format from the compositor's screencopy, which only a GPU render node gives; this
//! machine has none (`/dev/dri` is absent), so it refuses every share. Everything the app touches is real —
//! the portal's D-Bus API, its `OpenPipeWireRemote`, PipeWire's negotiation and shared buffers — only what a
//! compositor would draw is the test's.
//!
//! ```text
//!  tincan-cli ──D-Bus──► xdg-desktop-portal ──D-Bus──► test backend (this module: picks the test node)
//!      │                       │ OpenPipeWireRemote (a PipeWire connection restricted to that node)
//!      └───────PipeWire────────┴──────────────────────► test node "tincan-test-screen" (BGRx, stamp moving)
//! ```

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use pipewire as pw;
use pw::spa;
use tincan_media::synthetic::{Stamp, wall_clock_us};
use tincan_rig::screen::{Rgb, draw_stamp_bgrx};
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

use super::dbus::SessionBus;
use super::process::Guard;

const BACKEND: &str = "org.freedesktop.impl.portal.desktop.tincantest";
const DESKTOP: &str = "tincan-test";
const PATH: &str = "/org/freedesktop/portal/desktop";
/// The test node's pictures a second.
const FPS: u32 = 20;

/// What the app asked the backend for (the portal passes it on).
#[derive(Clone, Debug, Default)]
pub struct Asked {
    /// `types` of SelectSources: 1 monitor, 2 window, 3 both.
    pub types: Option<u32>,
    /// `cursor_mode`: 1 hidden, 2 embedded, 4 metadata.
    pub cursor_mode: Option<u32>,
    pub sessions: Vec<OwnedObjectPath>,
    pub started: u32,
    /// Sessions the app closed (it stopped sharing).
    pub closed_by_app: u32,
}

pub struct ScreenCastDesktop {
    dir: PathBuf,
    backend: zbus::blocking::Connection,
    asked: Arc<Mutex<Asked>>,
    source: Option<TestNode>,
    /// Stopped in this order, then the bus, then the directory goes.
    portal: Option<Guard>,
    wireplumber: Option<Guard>,
    pipewire: Option<Guard>,
    pub bus: SessionBus,
}

impl ScreenCastDesktop {
    /// Start it all, the test node showing `picture` (its stamp drawn into the top-left corner).
    pub fn start(picture: Rgb) -> anyhow::Result<ScreenCastDesktop> {
        let portal_bin = PathBuf::from("/usr/libexec/xdg-desktop-portal");
        anyhow::ensure!(portal_bin.is_file(), "xdg-desktop-portal is missing (scripts/setup.sh installs it)");
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tincan-e2e-screencast-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("portals"))?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let bus = SessionBus::start()?;
        // HOME and the XDG dirs too: WirePlumber keeps state, and must not touch the user's.
        let home = dir.display().to_string();
        let env = [
            ("XDG_RUNTIME_DIR", home.clone()),
            ("HOME", home.clone()),
            ("XDG_STATE_HOME", home.clone()),
            ("XDG_CONFIG_HOME", home),
            ("DBUS_SESSION_BUS_ADDRESS", bus.address.clone()),
        ];
        let log = |name: &str| -> anyhow::Result<Stdio> { Ok(std::fs::File::create(dir.join(name))?.into()) };

        let pipewire = Guard::spawn(
            Command::new("pipewire").envs(env.clone()).stdout(log("pipewire.log")?).stderr(log("pipewire.err")?),
        )
        .context("pipewire (scripts/setup.sh installs it)")?;
        let socket = dir.join("pipewire-0");
        wait("PipeWire's socket", || socket.exists())?;
        let wireplumber = Guard::spawn(
            Command::new("wireplumber")
                .envs(env.clone())
                .stdout(log("wireplumber.log")?)
                .stderr(log("wireplumber.err")?),
        )
        .context("wireplumber (scripts/setup.sh installs it)")?;

        let source = TestNode::start(socket, picture)?;
        let asked = Arc::new(Mutex::new(Asked::default()));
        let backend = zbus::blocking::connection::Builder::address(bus.address.as_str())?
            .name(BACKEND)?
            .serve_at(PATH, Backend { node: source.node, size: source.size, asked: asked.clone() })?
            .build()?;

        std::fs::write(
            dir.join("portals/tincan-test.portal"),
            format!(
                "[portal]\nDBusName={BACKEND}\nInterfaces=org.freedesktop.impl.portal.ScreenCast;\nUseIn={DESKTOP}\n"
            ),
        )?;
        let portal = Guard::spawn(
            Command::new(portal_bin)
                .arg("-r")
                .envs(env)
                .env("XDG_CURRENT_DESKTOP", DESKTOP)
                .env("XDG_DESKTOP_PORTAL_DIR", dir.join("portals"))
                .stdout(log("portal.log")?)
                .stderr(log("portal.err")?),
        )?;
        let dbus = zbus::blocking::fdo::DBusProxy::new(&backend)?;
        wait("xdg-desktop-portal on the bus", || {
            dbus.name_has_owner("org.freedesktop.portal.Desktop".try_into().expect("a bus name")).unwrap_or(false)
        })?;
        Ok(ScreenCastDesktop {
            dir,
            backend,
            asked,
            source: Some(source),
            portal: Some(portal),
            wireplumber: Some(wireplumber),
            pipewire: Some(pipewire),
            bus,
        })
    }

    /// What a program needs to share from this desktop. `WAYLAND_DISPLAY` names no compositor (there is
    /// none): it tells Tincan it is on Wayland, so that it shares through the portal.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("XDG_RUNTIME_DIR".into(), self.dir.display().to_string()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.bus.address.clone()),
            ("WAYLAND_DISPLAY".into(), "wayland-tincan-test".into()),
            ("XDG_SESSION_TYPE".into(), "wayland".into()),
        ]
    }

    pub fn asked(&self) -> Asked {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many pictures the test node has sent.
    pub fn pictures_sent(&self) -> u32 {
        self.source.as_ref().map_or(0, |s| s.sent.load(Ordering::Relaxed))
    }

    /// End the share as a desktop's "Stop sharing" does: every session is closed. The node stays, so that only
    /// the portal's word ends the share.
    pub fn end_share(&mut self) -> anyhow::Result<()> {
        for session in self.asked().sessions {
            self.backend.emit_signal(
                None::<&str>,
                session.as_str(),
                "org.freedesktop.impl.portal.Session",
                "Closed",
                &(),
            )?;
        }
        Ok(())
    }

    /// Where the components' logs are.
    pub fn logs(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for ScreenCastDesktop {
    fn drop(&mut self) {
        drop(self.source.take());
        drop(self.portal.take());
        drop(self.wireplumber.take());
        drop(self.pipewire.take());
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn wait(what: &str, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The compositor's part of the ScreenCast portal: every session "chooses" the test node.
struct Backend {
    node: u32,
    size: (u32, u32),
    asked: Arc<Mutex<Asked>>,
}

type Results = HashMap<String, OwnedValue>;

#[zbus::interface(name = "org.freedesktop.impl.portal.ScreenCast")]
impl Backend {
    async fn create_session(
        &self,
        _handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        _app_id: String,
        _options: HashMap<String, OwnedValue>,
        #[zbus(object_server)] server: &zbus::ObjectServer,
    ) -> (u32, Results) {
        let ok = server.at(&session_handle, Session { asked: self.asked.clone() }).await.is_ok();
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).sessions.push(session_handle.into());
        (if ok { 0 } else { 2 }, Results::new())
    }

    fn select_sources(
        &self,
        _handle: ObjectPath<'_>,
        _session_handle: ObjectPath<'_>,
        _app_id: String,
        options: HashMap<String, OwnedValue>,
    ) -> (u32, Results) {
        let number = |key: &str| options.get(key).and_then(|v| u32::try_from(v).ok());
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        (asked.types, asked.cursor_mode) = (number("types"), number("cursor_mode"));
        (0, Results::new())
    }

    fn start(
        &self,
        _handle: ObjectPath<'_>,
        _session_handle: ObjectPath<'_>,
        _app_id: String,
        _parent_window: String,
        _options: HashMap<String, OwnedValue>,
    ) -> (u32, Results) {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).started += 1;
        let (w, h) = (self.size.0 as i32, self.size.1 as i32);
        let properties: HashMap<String, Value<'static>> =
            HashMap::from([("size".into(), Value::from((w, h))), ("source_type".into(), Value::from(1u32))]);
        let streams = vec![(self.node, properties)];
        let mut results = Results::new();
        match OwnedValue::try_from(Value::from(streams)) {
            Ok(v) => {
                results.insert("streams".into(), v);
                (0, results)
            }
            Err(_) => (2, results),
        }
    }

    #[zbus(property)]
    fn available_source_types(&self) -> u32 {
        3
    }

    #[zbus(property)]
    fn available_cursor_modes(&self) -> u32 {
        3
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        4
    }
}

/// A session the backend holds: the portal closes it when the app does.
struct Session {
    asked: Arc<Mutex<Asked>>,
}

#[zbus::interface(name = "org.freedesktop.impl.portal.Session")]
impl Session {
    async fn close(
        &self,
        #[zbus(object_server)] server: &zbus::ObjectServer,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).closed_by_app += 1;
        if let Some(path) = header.path() {
            let _ = server.remove::<Session, _>(path).await;
        }
    }

    #[zbus(signal)]
    async fn closed(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        1
    }
}

/// A PipeWire video node showing the picture with a moving stamp: what a compositor's screen would be.
struct TestNode {
    node: u32,
    size: (u32, u32),
    sent: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestNode {
    fn start(socket: PathBuf, picture: Rgb) -> anyhow::Result<TestNode> {
        let size = (picture.width as u32, picture.height as u32);
        let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU32::new(0)));
        let (node_tx, node_rx) = std::sync::mpsc::channel();
        let thread = {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                if let Err(e) = run_node(socket, &picture, &stop, &sent, &node_tx) {
                    let _ = node_tx.send(Err(e.to_string()));
                }
            })
        };
        let node = match node_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(node)) => node,
            Ok(Err(e)) => anyhow::bail!("the test node: {e}"),
            Err(_) => anyhow::bail!("the test node was not ready within 10 s"),
        };
        Ok(TestNode { node, size, sent, stop, thread: Some(thread) })
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run_node(
    socket: PathBuf,
    picture: &Rgb,
    stop: &Arc<AtomicBool>,
    sent: &Arc<AtomicU32>,
    node_tx: &std::sync::mpsc::Sender<Result<u32, String>>,
) -> anyhow::Result<()> {
    pw::init();
    let (w, h) = (picture.width, picture.height);
    let stride = w * 4;
    let frame = picture.bgrx(0..h, 0..w);
    let mainloop = pw::main_loop::MainLoopRc::new(None)?;
    let context = pw::context::ContextRc::new(&mainloop, None)?;
    let core = context.connect_fd_rc(UnixStream::connect(&socket)?.into(), None)?;
    let stream = pw::stream::StreamRc::new(
        core,
        "tincan-test-screen",
        pw::properties::properties! {
            *pw::keys::MEDIA_CLASS => "Video/Source",
            *pw::keys::MEDIA_ROLE => "Screen",
        },
    )?;
    let counter = Arc::new(AtomicU32::new(0));
    let (sent, counter_in) = (sent.clone(), counter.clone());
    let node_sent = Arc::new(AtomicBool::new(false));
    let node_tx = node_tx.clone();
    let _listener = stream
        .add_local_listener::<()>()
        .state_changed(move |stream, _, _, state| {
            if matches!(state, pw::stream::StreamState::Paused | pw::stream::StreamState::Streaming)
                && !node_sent.swap(true, Ordering::Relaxed)
            {
                let _ = node_tx.send(Ok(stream.node_id()));
            }
        })
        .process(move |stream, _| {
            let Some(mut buffer) = stream.dequeue_buffer() else { return };
            let Some(data) = buffer.datas_mut().first_mut() else { return };
            let Some(bytes) = data.data() else { return };
            if bytes.len() < frame.len() {
                return;
            }
            bytes[..frame.len()].copy_from_slice(&frame);
            let n = counter_in.fetch_add(1, Ordering::Relaxed);
            draw_stamp_bgrx(Stamp { counter: n, capture_us: wall_clock_us() }, bytes, stride);
            let chunk = data.chunk_mut();
            *chunk.offset_mut() = 0;
            *chunk.size_mut() = frame.len() as u32;
            *chunk.stride_mut() = stride as i32;
            sent.fetch_add(1, Ordering::Relaxed);
        })
        .register()?;

    let format = serialize(spa::pod::Value::Object(spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(spa::param::format::FormatProperties::MediaType, Id, spa::param::format::MediaType::Video),
        spa::pod::property!(
            spa::param::format::FormatProperties::MediaSubtype,
            Id,
            spa::param::format::MediaSubtype::Raw
        ),
        spa::pod::property!(
            spa::param::format::FormatProperties::VideoFormat,
            Id,
            spa::param::video::VideoFormat::BGRx
        ),
        spa::pod::property!(
            spa::param::format::FormatProperties::VideoSize,
            Rectangle,
            spa::utils::Rectangle { width: w as u32, height: h as u32 }
        ),
        spa::pod::property!(
            spa::param::format::FormatProperties::VideoFramerate,
            Fraction,
            spa::utils::Fraction { num: FPS, denom: 1 }
        ),
    )))?;
    let int = |key: u32, value: i32| spa::pod::Property {
        key,
        flags: spa::pod::PropertyFlags::empty(),
        value: spa::pod::Value::Int(value),
    };
    let buffers = serialize(spa::pod::Value::Object(spa::pod::Object {
        type_: spa::sys::SPA_TYPE_OBJECT_ParamBuffers,
        id: spa::sys::SPA_PARAM_Buffers,
        properties: vec![
            int(spa::sys::SPA_PARAM_BUFFERS_buffers, 4),
            int(spa::sys::SPA_PARAM_BUFFERS_blocks, 1),
            int(spa::sys::SPA_PARAM_BUFFERS_size, (stride * h) as i32),
            int(spa::sys::SPA_PARAM_BUFFERS_stride, stride as i32),
        ],
    }))?;
    let mut params = [
        spa::pod::Pod::from_bytes(&format).context("the format")?,
        spa::pod::Pod::from_bytes(&buffers).context("the buffers")?,
    ];
    stream.connect(
        spa::utils::Direction::Output,
        None,
        pw::stream::StreamFlags::DRIVER | pw::stream::StreamFlags::MAP_BUFFERS,
        &mut params,
    )?;
    // The node drives itself: a picture every 1/FPS s, as a compositor sends frames.
    let (quit, stop, ticking) = (mainloop.clone(), stop.clone(), stream.clone());
    let timer = mainloop.loop_().add_timer(move |_| {
        if stop.load(Ordering::Relaxed) {
            quit.quit();
        } else {
            let _ = ticking.trigger_process();
        }
    });
    let every = Duration::from_secs(1) / FPS;
    timer.update_timer(Some(every), Some(every)).into_result()?;
    mainloop.run();
    let _ = stream.disconnect();
    Ok(())
}

fn serialize(value: spa::pod::Value) -> anyhow::Result<Vec<u8>> {
    Ok(spa::pod::serialize::PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &value)?.0.into_inner())
}
