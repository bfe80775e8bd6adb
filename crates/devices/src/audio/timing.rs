//! How regularly a device's callbacks come: the OS's scheduling as the audio path sees it. A callback that
//! comes much later than its period (the thread was not run in time) is counted; the longest gap is kept.
//! It also keeps what priority the callback's thread got, for streams whose callbacks ask for one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::priority::Priority;

/// Later than twice the period plus this is a late callback.
const LATE_SLACK: Duration = Duration::from_millis(10);
/// The first callbacks of a stream come as the server fills its buffer: not counted.
const WARM_UP_CALLS: u64 = 10;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TimingStats {
    /// What the callback thread got from the OS (after a stream error, what it went back to).
    pub thread: Priority,
    pub callbacks: u64,
    /// Callbacks that came more than twice their period (plus 10 ms) after the one before.
    pub late: u64,
    /// The longest time between two callbacks (ms).
    pub longest_gap_ms: f64,
    /// What the sound server's client threads this callback waits on got (libpulse's `threaded-ml`, through
    /// the ALSA pulse plugin); `None` where there are none, or nobody asked.
    pub sound_server_threads: Option<Priority>,
}

pub struct CallbackTiming {
    epoch: Instant,
    last_us: AtomicU64,
    calls: AtomicU64,
    late: AtomicU64,
    longest_gap_us: AtomicU64,
    /// Calls before this count are a stream's warm-up (a reopened stream warms up again).
    warm_until: AtomicU64,
    priority: Mutex<Priority>,
    sound_server: Mutex<Option<Priority>>,
}

impl Default for CallbackTiming {
    fn default() -> Self {
        CallbackTiming {
            epoch: Instant::now(),
            last_us: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            late: AtomicU64::new(0),
            longest_gap_us: AtomicU64::new(0),
            warm_until: AtomicU64::new(WARM_UP_CALLS),
            priority: Mutex::new(Priority::NotAsked),
            sound_server: Mutex::new(None),
        }
    }
}

impl CallbackTiming {
    /// Call at the start of each callback; `period` is the audio it carries.
    pub fn tick(&self, period: Duration) {
        let now = self.epoch.elapsed().as_micros() as u64;
        let before = self.last_us.swap(now, Ordering::Relaxed);
        let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if calls <= self.warm_until.load(Ordering::Relaxed) {
            return;
        }
        let gap = now.saturating_sub(before);
        self.longest_gap_us.fetch_max(gap, Ordering::Relaxed);
        if gap > (2 * period + LATE_SLACK).as_micros() as u64 {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A new stream (the device was reopened): the gap to its first callbacks is not the OS's doing.
    pub fn restart(&self) {
        let calls = self.calls.load(Ordering::Relaxed);
        self.warm_until.store(calls + WARM_UP_CALLS, Ordering::Relaxed);
    }

    /// What the callback's thread got.
    pub fn set_priority(&self, got: Priority) {
        if let Ok(mut p) = self.priority.lock() {
            *p = got;
        }
    }

    /// What the sound server's client threads got (see [`TimingStats::sound_server_threads`]).
    pub fn set_sound_server_priority(&self, got: Option<Priority>) {
        if let Ok(mut p) = self.sound_server.lock() {
            *p = got;
        }
    }

    pub fn stats(&self) -> TimingStats {
        TimingStats {
            thread: self.priority.lock().map(|p| p.clone()).unwrap_or_default(),
            callbacks: self.calls.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            longest_gap_ms: self.longest_gap_us.load(Ordering::Relaxed) as f64 / 1000.0,
            sound_server_threads: self.sound_server.lock().map(|p| p.clone()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_twice_its_period_late_is_counted() {
        let t = CallbackTiming::default();
        let period = Duration::from_millis(10);
        for _ in 0..WARM_UP_CALLS {
            t.tick(period);
        }
        t.tick(period);
        std::thread::sleep(Duration::from_millis(40));
        t.tick(period);
        let s = t.stats();
        assert_eq!(s.callbacks, WARM_UP_CALLS + 2);
        assert_eq!(s.late, 1, "{s:?}");
        assert!(s.longest_gap_ms >= 40.0, "{s:?}");
    }
}
