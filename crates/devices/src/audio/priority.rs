//! Audio threads ask the OS for more than a fair share of the processor: a busy computer (a browser, a
//! build) must not delay the 10 ms of sound they owe every 10 ms.
//!
//! * The voice processing thread asks for real-time scheduling: through rtkit over D-Bus (how desktop
//!   programs get it without privileges; `audio_thread_priority`, Firefox's crate), else directly
//!   (`SCHED_FIFO`, for root, `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` budget).
//! * The speaker's callback thread (cpal's; through PulseAudio's or PipeWire's ALSA plugin it waits on the
//!   sound server, and a real-time thread that waits on a normal one can spin — why cpal itself does not
//!   promote such threads) gets a raised nice level (-11, PulseAudio's own), and so does libpulse's
//!   mainloop thread that the plugin starts in this process and that the callback waits on (a raised
//!   thread waiting on a normal one gains nothing on a busy machine; measured: callbacks 80–185 ms apart
//!   under load until both were raised). PipeWire's plugin runs its own data thread, which PipeWire makes
//!   real-time itself. The raised level is also the processing thread's fallback. It needs
//!   `CAP_SYS_NICE` or an `RLIMIT_NICE` budget.
//! * The microphone's callback thread is left alone: it only queues (500 ms of room), and through the
//!   PulseAudio plugin it wakes far more often than it delivers (~20 % of a core here), which a raised
//!   thread would take from everyone else.
//! * Otherwise the thread stays at normal priority, and the stats say so and why.

use std::cell::RefCell;

/// Real-time priority asked for directly (rtkit chooses its own, at most its `MaxRealtimePriority`).
const RT_PRIORITY: i32 = 10;
/// PulseAudio's nice level for its own threads.
const RAISED_NICE: i32 = -11;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "priority")]
pub enum Priority {
    /// Not asked (yet, or at all).
    #[default]
    NotAsked,
    /// Real-time scheduling, through rtkit or directly.
    RealTime { via: &'static str },
    /// A raised nice level.
    Raised { nice: i32 },
    /// Normal: the OS granted nothing more.
    Normal { reason: String },
}

thread_local! {
    /// rtkit's handle lives as long as the thread (demoting is not needed: the thread ends).
    static HANDLE: RefCell<Option<audio_thread_priority::RtPriorityHandle>> = const { RefCell::new(None) };
}

/// Real-time if the OS allows, else raised, else normal. `period_frames` at `rate` is the thread's cycle.
pub fn real_time(period_frames: u32, rate: u32) -> Priority {
    let rtkit = match audio_thread_priority::promote_current_thread_to_real_time(period_frames, rate) {
        Ok(handle) => {
            HANDLE.with(|h| *h.borrow_mut() = Some(handle));
            return Priority::RealTime { via: "rtkit" };
        }
        Err(e) => e.to_string(),
    };
    let direct = match fifo() {
        Ok(()) => return Priority::RealTime { via: "SCHED_FIFO" },
        Err(e) => e,
    };
    match raised() {
        Priority::Normal { reason } => {
            Priority::Normal { reason: format!("rtkit: {rtkit}; SCHED_FIFO: {direct}; {reason}") }
        }
        other => other,
    }
}

/// A raised nice level if the OS allows, else normal.
pub fn raised() -> Priority {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own thread id changes only this thread.
        let tid = unsafe { libc::gettid() };
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, RAISED_NICE) } == 0 {
            return Priority::Raised { nice: RAISED_NICE };
        }
        Priority::Normal { reason: format!("nice {RAISED_NICE}: {}", std::io::Error::last_os_error()) }
    }
    #[cfg(not(target_os = "linux"))]
    Priority::Normal { reason: "raising a thread's priority is done on Linux only".into() }
}

/// Raise libpulse's mainloop threads in this process (named `threaded-ml`), which carry the speaker's
/// audio to the server when it goes through the ALSA pulse plugin. What they got, if there were any.
pub fn raise_sound_server_threads() -> Option<Priority> {
    #[cfg(target_os = "linux")]
    {
        let mut got = None;
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<libc::id_t>().ok()) else { continue };
            if comm.trim_end() != "threaded-ml" {
                continue;
            }
            // SAFETY: setpriority on a thread of this process; no memory is involved.
            let ok = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, RAISED_NICE) } == 0;
            got = Some(if ok {
                Priority::Raised { nice: RAISED_NICE }
            } else {
                Priority::Normal { reason: format!("nice {RAISED_NICE}: {}", std::io::Error::last_os_error()) }
            });
        }
        got
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(target_os = "linux")]
fn fifo() -> Result<(), String> {
    // Reset on fork: a child process does not inherit real-time scheduling.
    const SCHED_RESET_ON_FORK: libc::c_int = 0x4000_0000;
    let param = libc::sched_param { sched_priority: RT_PRIORITY };
    // SAFETY: changes the calling thread's own scheduling; `param` is a valid sched_param.
    let result =
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO | SCHED_RESET_ON_FORK, &param) };
    if result == 0 { Ok(()) } else { Err(std::io::Error::from_raw_os_error(result).to_string()) }
}

#[cfg(not(target_os = "linux"))]
fn fifo() -> Result<(), String> {
    Err("not on this system".into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Whatever this machine allows, the answer says what the thread got, and a thread that got real-time
    /// scheduling really has it.
    #[test]
    fn a_thread_gets_what_the_os_grants_and_says_so() {
        let got = std::thread::spawn(|| {
            let p = real_time(480, 48_000);
            // SAFETY: reads the calling thread's policy.
            let policy = unsafe { libc::sched_getscheduler(0) };
            (p, policy)
        })
        .join()
        .unwrap();
        match got {
            (Priority::RealTime { .. }, policy) => {
                assert!([libc::SCHED_FIFO, libc::SCHED_RR].contains(&(policy & 0xff)), "policy {policy}")
            }
            (Priority::Raised { nice }, _) => assert_eq!(nice, RAISED_NICE),
            (Priority::Normal { reason }, _) => assert!(!reason.is_empty()),
            (Priority::NotAsked, _) => panic!("asked, so known"),
        }
    }
}
