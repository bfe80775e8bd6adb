//! A PulseAudio server of the test's own: no sound card needed. It runs in the foreground from a scratch
//! directory (socket, log) with only the native protocol loaded; the test adds null sinks — a sink is where
//! a program plays, the sink's `.monitor` source is what another program records. Programs reach it through
//! `PULSE_SERVER` (cpal through ALSA's pulse plugin, the `pacat`/`parec` tools directly), and choose sinks
//! and sources with `PULSE_SINK` / `PULSE_SOURCE` (see [`Pulse::env`]).
//!
//! [`Recorder`] records a source and knows, to a few milliseconds, when each sample was heard: the time of
//! every read minus the audio it holds gives the start time, and the best (earliest) such estimate wins.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::process::{Guard, find};
use crate::{Result, RigError};

pub const RATE: u32 = 48_000;

pub struct Pulse {
    dir: PathBuf,
    socket: PathBuf,
    _process: Guard,
}

impl Pulse {
    pub fn start() -> Result<Pulse> {
        let program = find("pulseaudio").ok_or(RigError::Missing {
            program: "pulseaudio",
            hint: "apt install pulseaudio pulseaudio-utils libasound2-plugins; scripts/setup.sh does",
        })?;
        let dir =
            std::env::temp_dir().join(format!("tincan-pulse-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let socket = dir.join("native");
        // `TINCAN_PULSE_LOG=FILE` keeps the server's debug log, with times, in FILE (where its streams ran
        // dry: "Implicit underrun"), or FILE.1, FILE.2… for the servers after the first (a test may start
        // several); otherwise its warnings go to a file that goes with the server.
        let log_to = std::env::var_os("TINCAN_PULSE_LOG").map(std::path::PathBuf::from);
        let log = log_to.clone().unwrap_or_else(|| dir.join("pulse.log"));
        let process = Guard::spawn(
            "pulseaudio",
            Command::new(program)
                .args(["-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no"])
                .arg(format!("--log-target={}:{}", if log_to.is_some() { "newfile" } else { "file" }, log.display()))
                .args(log_to.iter().flat_map(|_| ["--log-level=4", "--log-time=1"]))
                .arg("-L")
                .arg(format!("module-native-protocol-unix socket={} auth-anonymous=1", socket.display()))
                .env("HOME", &dir)
                .env("XDG_RUNTIME_DIR", &dir)
                .env("XDG_CONFIG_HOME", &dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        let pulse = Pulse { dir, socket, _process: process };
        let started = Instant::now();
        while pulse.pactl(&["info"]).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(RigError::NotReady {
                    program: "pulseaudio",
                    seconds: 10,
                    log: std::fs::read_to_string(&log).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(pulse)
    }

    /// `PULSE_SERVER` for programs that should use this server.
    pub fn server(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// The environment of a program that plays into `sink` and records from `source` of this server.
    pub fn env(&self, sink: &str, source: &str) -> Vec<(String, String)> {
        vec![
            ("PULSE_SERVER".into(), self.server()),
            ("PULSE_SINK".into(), sink.into()),
            ("PULSE_SOURCE".into(), source.into()),
            // The client library wants somewhere to keep its cookie and state.
            ("XDG_RUNTIME_DIR".into(), self.dir.display().to_string()),
            ("PULSE_RUNTIME_PATH".into(), self.dir.display().to_string()),
        ]
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("PULSE_SERVER", self.server()).env("XDG_RUNTIME_DIR", &self.dir).env("HOME", &self.dir);
        c
    }

    pub fn pactl(&self, args: &[&str]) -> Result<String> {
        let out = self.command("pactl").args(args).stderr(Stdio::piped()).output()?;
        if !out.status.success() {
            return Err(RigError::Setup(format!("pactl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// A file for `HOME/.asoundrc` that makes each named sink's monitor an ALSA capture device and each sink an
    /// ALSA playback device of that name (`<name>` and `<name>-out`), listed like real cards: so a program
    /// can choose them by name through ALSA, and lose them when the sink is unloaded.
    pub fn asoundrc(&self, sinks: &[&str]) -> Result<PathBuf> {
        let mut text = String::new();
        for s in sinks {
            text.push_str(&format!(
                "pcm.{s} {{ type pulse device \"{s}.monitor\" hint {{ show on description \"{s} (microphone)\" }} }}\n\
                 pcm.{s}-out {{ type pulse device \"{s}\" hint {{ show on description \"{s} (speaker)\" }} }}\n"
            ));
        }
        let home = self.dir.join("home");
        std::fs::create_dir_all(&home)?;
        std::fs::write(home.join(".asoundrc"), text)?;
        Ok(home)
    }

    /// A mono 48 kHz null sink; returns its module index (to unload it: the device "unplugged").
    pub fn null_sink(&self, name: &str) -> Result<u32> {
        let index = self.pactl(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={name}"),
            "rate=48000",
            "channels=1",
            &format!("sink_properties=device.description={name}"),
        ])?;
        index.parse().map_err(|_| RigError::Setup(format!("pactl load-module said {index:?}")))
    }

    pub fn unload(&self, module: u32) -> Result<()> {
        self.pactl(&["unload-module", &module.to_string()]).map(|_| ())
    }

    /// Play 48 kHz mono samples into `sink` (returns at once; the player ends when the audio does).
    pub fn play(&self, sink: &str, samples: &[i16]) -> Result<Player> {
        let file = self.dir.join(format!("play-{:08x}.raw", rand::random::<u32>()));
        std::fs::write(&file, samples.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>())?;
        let child = self
            .command("pacat")
            .args(["--playback", "--raw", "--format=s16le", "--rate=48000", "--channels=1", "--latency-msec=20"])
            .arg(format!("--device={sink}"))
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| RigError::Spawn { program: "pacat", source })?;
        the_room(&child);
        Ok(Player { child })
    }

    /// Record `source` (e.g. `sink.monitor`) from now until the recorder is dropped.
    pub fn record(&self, source: &str) -> Result<Recorder> {
        let mut child = self
            .command("parec")
            .args(["--raw", "--format=s16le", "--rate=48000", "--channels=1", "--latency-msec=5"])
            .arg(format!("--device={source}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| RigError::Spawn { program: "parec", source })?;
        the_room(&child);
        let mut stdout = child.stdout.take().ok_or_else(|| RigError::Setup("parec has no stdout".into()))?;
        let state = Arc::new(Mutex::new(Recording::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut odd: Option<u8> = None;
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let now = Instant::now();
                let Ok(mut r) = shared.lock() else { break };
                let mut bytes = buf[..n].iter().copied();
                if let Some(lo) = odd.take()
                    && let Some(hi) = bytes.next()
                {
                    r.samples.push(i16::from_le_bytes([lo, hi]));
                }
                let rest: Vec<u8> = bytes.collect();
                for pair in rest.chunks(2) {
                    match pair {
                        [lo, hi] => r.samples.push(i16::from_le_bytes([*lo, *hi])),
                        [lo] => odd = Some(*lo),
                        _ => {}
                    }
                }
                let held = Duration::from_secs_f64(r.samples.len() as f64 / RATE as f64);
                let start = now.checked_sub(held).unwrap_or(now);
                r.start = Some(r.start.map_or(start, |s: Instant| s.min(start)));
            }
        });
        Ok(Recorder { child, state })
    }
}

/// Players and recorders stand for the room (mouths, ears, air), not for the computer: a test that loads the
/// computer must not make them skip. They get the sound server's own nice level (-11) where the OS allows;
/// pacat and parec are single-threaded, so their process id is their one thread. Where the OS refuses,
/// they stay at normal priority (the figures are then noisier under load).
fn the_room(child: &Child) {
    #[cfg(target_os = "linux")]
    {
        static SAID: std::sync::Once = std::sync::Once::new();
        // SAFETY: setpriority on a child process's id; no memory is involved.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, child.id() as libc::id_t, -11) } != 0 {
            let e = std::io::Error::last_os_error();
            SAID.call_once(|| eprintln!("rig: pacat/parec stay at normal priority ({e})"));
        }
    }
}

#[derive(Default)]
struct Recording {
    samples: Vec<i16>,
    start: Option<Instant>,
}

pub struct Player {
    child: Child,
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Recorder {
    child: Child,
    state: Arc<Mutex<Recording>>,
}

impl Recorder {
    /// What was recorded so far, and when its first sample was heard.
    pub fn take(&self) -> (Vec<i16>, Option<Instant>) {
        match self.state.lock() {
            Ok(r) => (r.samples.clone(), r.start),
            Err(_) => (Vec::new(), None),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
