//! Audio threads ask the OS for more than a fair share of the processor: a busy computer (a browser, a
//! build) must not delay the 10 ms of sound they owe every 10 ms.
//!
//! * The voice processing thread asks for real-time scheduling: through rtkit over D-Bus (how desktop
//!   programs get it without privileges; `audio_thread_priority`, Firefox's crate), else directly
//!   (`SCHED_FIFO`, for root, `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` budget).
//! * The speaker's callback thread (cpal's; through PulseAudio's or PipeWire's ALSA plugin it waits on the
//!   sound server, and a real-time thread that waits on a normal one can spin — why cpal itself does not
//!   promote such threads) gets a raised nice level (-11, PulseAudio's own), and so do libpulse's
//!   mainloop threads that the plugin starts in this process, one per stream, the speaker's among them,
//!   which its callback waits on (a raised
//!   thread waiting on a normal one gains nothing on a busy machine; measured: callbacks 80–185 ms apart
//!   under load until both were raised). PipeWire's plugin runs its own data thread, which PipeWire makes
//!   real-time itself. The raised level is also the processing thread's fallback. It needs
//!   `CAP_SYS_NICE` or an `RLIMIT_NICE` budget.
//! * The microphone's callback thread is left alone: it only queues (500 ms of room), and through the
//!   PulseAudio plugin it wakes far more often than it delivers (~20 % of a core here), which a raised
//!   thread would take from everyone else.
//! * Otherwise the thread stays at normal priority, and the stats say so and why.

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

/// The most processor time a real-time audio thread may take without blocking. rtkit demands a limit
/// (`RLIMIT_RTTIME`, for the whole process; past it the kernel sends SIGXCPU, which ends the process), and
/// `audio_thread_priority` sets it from the budget it is given: not one 10 ms period, since the
/// processing thread works through a backlog of up to 500 ms (and encodes) without blocking after a stall.
/// rtkit caps it at its own maximum (200 ms by default).
const RT_BUDGET: std::time::Duration = std::time::Duration::from_millis(200);

/// Real-time if the OS allows, else raised, else normal.
pub fn real_time() -> Priority {
    const RATE: u32 = 48_000;
    let budget_frames = (RT_BUDGET.as_micros() as u64 * RATE as u64 / 1_000_000) as u32;
    let rtkit = match audio_thread_priority::promote_current_thread_to_real_time(budget_frames, RATE) {
        // The handle only serves to demote the thread, which is not needed: the thread ends with the call.
        Ok(_) => return Priority::RealTime { via: "rtkit" },
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
    // SAFETY: an all-zero sched_param is valid (its other fields, where a libc has them, are unused).
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = RT_PRIORITY;
    // Reset on fork: a child process does not inherit real-time scheduling.
    // SAFETY: changes the calling thread's own scheduling; `param` is a valid sched_param.
    let result = unsafe {
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
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
            let p = real_time();
            // SAFETY: read the calling thread's policy and nice level.
            let policy = unsafe { libc::sched_getscheduler(0) };
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
            (p, policy, nice)
        })
        .join()
        .unwrap();
        match got {
            (Priority::RealTime { .. }, policy, _) => {
                assert!([libc::SCHED_FIFO, libc::SCHED_RR].contains(&(policy & 0xff)), "policy {policy}")
            }
            (Priority::Raised { nice }, policy, actual) => {
                assert_eq!((nice, actual, policy), (RAISED_NICE, RAISED_NICE, libc::SCHED_OTHER))
            }
            (Priority::Normal { reason }, policy, actual) => {
                assert!(!reason.is_empty());
                assert_eq!((actual, policy), (0, libc::SCHED_OTHER));
            }
            (Priority::NotAsked, ..) => panic!("asked, so known"),
        }
    }
}
