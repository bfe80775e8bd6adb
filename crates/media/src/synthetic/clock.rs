use std::time::{Duration, Instant};

/// Paces a synthetic source: frame `n` is due at `start + n × interval`. A late consumer gets the frame at
/// once (no catch-up bursts beyond one frame: the clock skips ahead).
pub struct FrameClock {
    interval: Duration,
    start: Option<Instant>,
    next: u64,
    paced: bool,
}

impl FrameClock {
    pub fn new(interval: Duration, paced: bool) -> Self {
        FrameClock { interval, start: None, next: 0, paced }
    }

    /// Wait until the next frame is due; returns its index and media time.
    pub fn tick(&mut self) -> (u64, Duration) {
        let start = *self.start.get_or_insert_with(Instant::now);
        if self.paced {
            let due = start + self.interval * self.next as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else if now - due > self.interval * 2 {
                // Far behind (the process was stalled): skip ahead rather than burst.
                self.next = ((now - start).as_nanos() / self.interval.as_nanos()) as u64;
            }
        }
        let n = self.next;
        self.next += 1;
        (n, self.interval * n as u32)
    }
}
