//! A busy computer of the test's own: the scenarios that must hold up under load run with it.
//!
//! * one busy thread per core at normal priority, each walking an 8 MiB buffer (the caches are shared
//!   with whoever else runs);
//! * bursts like a compile's: every 700 ms, for 300 ms, twice as many threads as cores start, each
//!   allocating and writing 32 MiB (page faults, memory bandwidth) and then spinning, and end.
//!
//! Everything stops when the `Load` is dropped. `TINCAN_LOAD_PER_CORE=N` runs N busy threads per core instead
//! of one (heavier trials by hand; docs/architecture.md says which of its figures were taken with 4).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const WALK_BYTES: usize = 8 << 20;
const BURST_EVERY: Duration = Duration::from_millis(700);
const BURST_FOR: Duration = Duration::from_millis(300);
const BURST_BYTES: usize = 32 << 20;

pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Work the optimiser cannot remove: walk a buffer, writing as it goes.
fn churn(buffer: &mut [u8], rounds: usize) -> u64 {
    let mut sum = 0u64;
    for r in 0..rounds {
        for i in (0..buffer.len()).step_by(64) {
            buffer[i] = buffer[i].wrapping_add((r + i) as u8);
            sum = sum.wrapping_add(buffer[i] as u64);
        }
    }
    std::hint::black_box(sum)
}

impl Load {
    pub fn start() -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let per_core: usize = std::env::var("TINCAN_LOAD_PER_CORE").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
        for n in 0..cores() * per_core {
            let stop = stop.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("load-busy-{n}"))
                    .spawn(move || {
                        let mut buffer = vec![1u8; WALK_BYTES];
                        while !stop.load(Ordering::Relaxed) {
                            churn(&mut buffer, 1);
                        }
                    })
                    .expect("spawning a load thread"),
            );
        }
        let bursts = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("load-bursts".into())
                .spawn(move || {
                    while !bursts.load(Ordering::Relaxed) {
                        let until = Instant::now() + BURST_FOR;
                        let workers: Vec<_> = (0..2 * cores())
                            .map(|_| {
                                std::thread::spawn(move || {
                                    let mut buffer = vec![2u8; BURST_BYTES];
                                    while Instant::now() < until {
                                        churn(&mut buffer, 1);
                                    }
                                })
                            })
                            .collect();
                        for w in workers {
                            let _ = w.join();
                        }
                        std::thread::sleep(BURST_EVERY.saturating_sub(BURST_FOR));
                    }
                })
                .expect("spawning a load thread"),
        );
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
