//! Keeps one cpal stream alive on its own thread (cpal streams are not `Send` on every platform, so the
//! thread that builds one owns it). It watches the stream's health — an error from the backend, or no
//! callback for 1.5 s — and when the device is gone it opens the system default instead and says so; while
//! on the default it looks for the chosen device every 3 s and goes back to it when it returns.

use cpal::traits::StreamTrait;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::host::{Direction, find};
use crate::{DeviceError, DeviceNotice, Notices, Result};

const STALE: Duration = Duration::from_millis(1500);
/// After the backend reports an error, how long the stream has to show it still runs (a callback) before it
/// is taken for broken. ALSA's PulseAudio plugin reports passing I/O errors (`snd_pcm_avail_delay`: EIO)
/// while the stream goes on; a device that is gone stops calling back.
const ERROR_GRACE: Duration = Duration::from_millis(500);
const LOOK_BACK_EVERY: Duration = Duration::from_secs(3);
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What the stream's callbacks report.
pub struct Health {
    epoch: Instant,
    /// When the last error (not an xrun) was reported, ms since `epoch` + 1; 0: none.
    failed_ms: AtomicU64,
    last_callback_ms: AtomicU64,
}

impl Health {
    fn new() -> Arc<Self> {
        Arc::new(Health { epoch: Instant::now(), failed_ms: AtomicU64::new(0), last_callback_ms: AtomicU64::new(0) })
    }

    /// Call from the data callback.
    pub fn alive(&self) {
        self.last_callback_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Call from the error callback.
    pub fn failed(&self, error: &cpal::Error) {
        tracing::warn!("audio stream: {error}");
        if !matches!(error.kind(), cpal::ErrorKind::Xrun) {
            self.failed_ms.store(self.epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        }
    }

    fn is_broken(&self) -> bool {
        let last_ms = self.last_callback_ms.load(Ordering::Relaxed);
        let last = Duration::from_millis(last_ms);
        let now = self.epoch.elapsed();
        // An error counts when no callback came since it, for a while.
        let failed_ms = self.failed_ms.load(Ordering::Relaxed);
        let failed = failed_ms > 0
            && last_ms < failed_ms
            && now.saturating_sub(Duration::from_millis(failed_ms - 1)) > ERROR_GRACE;
        // A stream gets a grace period to start.
        failed || now.saturating_sub(last.max(Duration::from_secs(1))) > STALE
    }
}

/// Builds a stream on a device (the keeper starts it); the callbacks it installs report to `Health`.
pub type Open = Box<dyn FnMut(&cpal::Device, Arc<Health>) -> Result<cpal::Stream> + Send>;

pub struct Keeper {
    stop: Arc<AtomicBool>,
    /// Not joined on drop (see there).
    _thread: JoinHandle<()>,
}

struct Running {
    _stream: cpal::Stream,
    health: Arc<Health>,
    name: String,
    /// On the default because the chosen one is gone.
    fallback: bool,
}

impl Keeper {
    /// Open `wanted` (or the default) now; the first failure is returned, later ones are handled.
    pub fn start(
        direction: Direction,
        wanted: Option<String>,
        notices: Notices,
        mut open: Open,
    ) -> Result<(Keeper, String)> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String>>();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("{}-keeper", direction.kind()))
            .spawn(move || {
                let mut running = match start_on(direction, wanted.as_deref(), &mut open) {
                    Ok(r) => {
                        let _ = ready_tx.send(Ok(r.name.clone()));
                        Some(r)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let kind = direction.kind();
                let mut last_try = Instant::now();
                while !thread_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    match &running {
                        Some(r) if r.health.is_broken() => {
                            let name = r.name.clone();
                            running = None; // frees the broken stream before another is opened
                            match start_on(direction, None, &mut open) {
                                Ok(mut r) => {
                                    r.fallback = wanted.is_some();
                                    notices.send(DeviceNotice::Lost { kind, name, fallback: Some(r.name.clone()) });
                                    running = Some(r);
                                }
                                Err(e) => {
                                    notices.send(DeviceNotice::Lost { kind, name, fallback: None });
                                    notices.send(DeviceNotice::Absent {
                                        kind,
                                        message: format!("no {kind} is available ({e}); waiting for one"),
                                    });
                                }
                            }
                            last_try = Instant::now();
                        }
                        Some(r) if r.fallback && last_try.elapsed() >= LOOK_BACK_EVERY => {
                            last_try = Instant::now();
                            if let Some(w) = &wanted
                                && find(direction, Some(w)).is_ok()
                                && let Ok(r) = start_on(direction, Some(w), &mut open)
                            {
                                notices.send(DeviceNotice::Using { kind, name: r.name.clone() });
                                running = Some(r);
                            }
                        }
                        None if last_try.elapsed() >= RETRY_EVERY => {
                            last_try = Instant::now();
                            let chosen = wanted.as_deref().and_then(|w| start_on(direction, Some(w), &mut open).ok());
                            if let Some(r) = chosen.or_else(|| start_on(direction, None, &mut open).ok()) {
                                notices.send(DeviceNotice::Using { kind, name: r.name.clone() });
                                running = Some(r);
                            }
                        }
                        _ => {}
                    }
                }
            })
            .map_err(|e| DeviceError::Backend {
                kind: direction.kind(),
                name: "thread".into(),
                message: e.to_string(),
            })?;
        let name = ready_rx.recv().map_err(|_| DeviceError::NotFound { kind: direction.kind(), wanted: None })??;
        Ok((Keeper { stop, _thread: thread }, name))
    }
}

fn start_on(direction: Direction, wanted: Option<&str>, open: &mut Open) -> Result<Running> {
    let (device, name) = find(direction, wanted)?;
    let health = Health::new();
    let stream = open(&device, health.clone())?;
    stream.play().map_err(|e| DeviceError::Backend {
        kind: direction.kind(),
        name: name.clone(),
        message: e.to_string(),
    })?;
    Ok(Running { _stream: stream, health, name, fallback: false })
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // Not joined: a call's speaker is dropped on an async task, which must not block. The thread sees
        // the flag within 100 ms and closes the stream itself.
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::{ERROR_GRACE, Health};

    fn error() -> cpal::Error {
        cpal::Error::with_message(cpal::ErrorKind::Other, "snd_pcm_avail_delay: I/O error (5)")
    }

    #[test]
    fn an_error_breaks_a_stream_only_if_it_stops_calling_back() {
        // Errors, but keeps calling back (ALSA's PulseAudio plugin): not broken.
        let going = Health::new();
        going.alive();
        going.failed(&error());
        for _ in 0..6 {
            std::thread::sleep(ERROR_GRACE / 4);
            going.alive();
        }
        assert!(!going.is_broken());
        // Errors and falls silent: broken once the grace is over.
        let gone = Health::new();
        gone.alive();
        gone.failed(&error());
        assert!(!gone.is_broken(), "not before the grace is over");
        std::thread::sleep(ERROR_GRACE + Duration::from_millis(100));
        assert!(gone.is_broken());
        assert!(gone.failed_ms.load(Ordering::Relaxed) > 0);
    }
}
