//! Audio threads ask the OS for more than a fair share of the processor: a busy computer (a browser, a
//! build) must not delay the 10 ms of sound they owe every 10 ms.
//!
//! * The voice processing thread asks for real-time scheduling: through rtkit over D-Bus (how desktop
//!   programs get it without privileges; `audio_thread_priority`, Firefox's crate), else directly
//!   (`SCHED_FIFO`, for root, `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` budget).
//! * The speaker's callback thread asks for the same. Through PulseAudio's ALSA plugin it waits on
//!   libpulse's mainloop threads that the plugin starts in this process (`threaded-ml`, one per stream),
//!   so they get `SCHED_FIFO` too where this process may set it directly, else a raised nice level (-11,
//!   PulseAudio's own). All of them, the microphone's stream's too (each takes about 1 % of a core).
//!   rtkit is not asked for them: it would take any thread of this process, but `audio_thread_priority`
//!   asks it for the calling thread only, so where only rtkit grants real-time they stay raised (or
//!   normal without an `RLIMIT_NICE` budget, the usual desktop default), and the stats say so. A raised
//!   speaker was not enough on a busy computer: its callbacks came up to 29 ms apart against a plugin
//!   buffer of 20 ms, PulseAudio played silence in between ("implicit underrun", sometimes a stream torn
//!   down and made again), and every such gap moved the echo's delay under the canceller (near-end speech
//!   suppressed for seconds after). Real-time, the callbacks come at most 19 ms apart; the server still
//!   runs a stream dry now and then (in 4 of 6 busy calls, at times every stream at once, the test's own
//!   players too), and the canceller's ERLE dips to ~20 dB for a second. The callback blocks in `poll`
//!   every period (about 1 % of a core), so a real-time thread here does not spin; PipeWire's plugin wakes
//!   it from PipeWire's own real-time data thread. A stream error can make it loop, so at the first one
//!   it goes back to the raised level ([`callback_error`]).
//! * The microphone's callback thread gets the raised nice level, not real-time: through the PulseAudio
//!   plugin it wakes far more often than it delivers (10–20 % of a core here). It only queues, but it is
//!   on the way of every word said: left at normal priority it came up to 43 ms late under load, and the
//!   words it held back ran the other side's playout buffer dry; raised, at most 35 ms (mostly 17–24).
//!   The raised level is also the other threads' fallback. It needs `CAP_SYS_NICE` or an `RLIMIT_NICE`
//!   budget.
//! * Otherwise the thread stays at normal priority, and the stats say so and why.

use super::timing::CallbackTiming;

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
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        match nice_for(tid as libc::id_t) {
            Ok(()) => Priority::Raised { nice: RAISED_NICE },
            Err(e) => Priority::Normal { reason: format!("nice {RAISED_NICE}: {e}") },
        }
    }
    #[cfg(not(target_os = "linux"))]
    Priority::Normal { reason: "raising a thread's priority is done on Linux only".into() }
}

/// What a callback thread asked for so far.
#[derive(Clone, Copy)]
enum Asked {
    Not,
    Done,
    /// Put back to a raised level after a stream error, at this time.
    Demoted(std::time::Instant),
}

thread_local! {
    static ASKED: std::cell::Cell<Asked> = const { std::cell::Cell::new(Asked::Not) };
}

/// A demoted callback thread asks again after this long without errors.
const ASK_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The first callback on each thread (on Linux each cpal stream has its own) asks for `ask`, and raises
/// the sound server's client threads it waits on; `timing` keeps what they got. A thread put back by
/// [`callback_error`] asks again after a second.
pub fn raise_callback_thread(kind: &str, timing: &CallbackTiming, ask: fn() -> Priority) {
    match ASKED.get() {
        Asked::Done => return,
        Asked::Demoted(at) if at.elapsed() < ASK_AGAIN_AFTER => return,
        Asked::Not | Asked::Demoted(_) => {}
    }
    ASKED.set(Asked::Done);
    let got = ask();
    let server = raise_sound_server_threads();
    tracing::debug!("{kind} callback thread: {got:?}; sound server threads: {server:?}");
    timing.set_priority(got);
    timing.set_sound_server_priority(server);
}

/// A stream reported an error on its callback thread (cpal's ALSA host calls the error callback there).
/// A broken stream can make that thread loop without sleeping — the PulseAudio plugin's poll keeps
/// failing while the server is gone, and cpal polls again — which a real-time thread must not: it would
/// hold a core, and through rtkit the kernel ends the process once the thread has run 200 ms without
/// blocking (`RLIMIT_RTTIME`). So a real-time callback thread goes back to the raised level at the first
/// error, and asks again when callbacks have come for a second without one.
pub fn callback_error(timing: &CallbackTiming) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: reads the calling thread's own policy.
        let policy = unsafe { libc::sched_getscheduler(0) } & 0xff;
        if policy != libc::SCHED_FIFO && policy != libc::SCHED_RR {
            return;
        }
        // SAFETY: an all-zero sched_param (priority 0) is what SCHED_OTHER takes; lowering needs no right.
        let param: libc::sched_param = unsafe { std::mem::zeroed() };
        if unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_OTHER, &param) } != 0 {
            return;
        }
        ASKED.set(Asked::Demoted(std::time::Instant::now()));
        let now = raised();
        tracing::debug!("a stream error: its callback thread is back to {now:?}");
        timing.set_priority(now);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = timing;
}

/// Raise libpulse's mainloop threads in this process (named `threaded-ml`), which carry the speaker's
/// audio to the server when it goes through the ALSA pulse plugin: real-time where this process may set
/// it directly (root, `CAP_SYS_NICE`, an `RLIMIT_RTPRIO` budget), else a raised nice level. What they got,
/// if there were any.
pub fn raise_sound_server_threads() -> Option<Priority> {
    #[cfg(target_os = "linux")]
    {
        let mut got = None;
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<libc::pid_t>().ok()) else { continue };
            if comm.trim_end() != "threaded-ml" {
                continue;
            }
            let fifo = fifo_for(tid);
            got = Some(match fifo {
                Ok(()) => Priority::RealTime { via: "SCHED_FIFO" },
                Err(direct) => match nice_for(tid as libc::id_t) {
                    Ok(()) => Priority::Raised { nice: RAISED_NICE },
                    Err(e) => Priority::Normal { reason: format!("SCHED_FIFO: {direct}; nice {RAISED_NICE}: {e}") },
                },
            });
        }
        got
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(target_os = "linux")]
fn nice_for(tid: libc::id_t) -> Result<(), String> {
    // SAFETY: setpriority on a thread of this process; no memory is involved.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, RAISED_NICE) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

/// `SCHED_FIFO` for a thread of this process, reset on fork (a child process does not inherit real-time
/// scheduling).
#[cfg(target_os = "linux")]
fn fifo_for(tid: libc::pid_t) -> Result<(), String> {
    // SAFETY: an all-zero sched_param is valid (its other fields, where a libc has them, are unused).
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = RT_PRIORITY;
    // SAFETY: changes the scheduling of a thread of this process; `param` is a valid sched_param.
    let result = unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param) };
    if result == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().to_string()) }
}

/// `SCHED_FIFO` for the calling thread (thread id 0 is the caller).
#[cfg(target_os = "linux")]
fn fifo() -> Result<(), String> {
    fifo_for(0)
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

    /// libpulse's mainloop threads are found by name and get what the OS grants, as said.
    #[test]
    fn sound_server_threads_are_raised_as_said() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("threaded-ml".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tx.send(unsafe { libc::gettid() }).unwrap();
                let _ = stop_rx.recv();
            })
            .unwrap();
        let tid = rx.recv().unwrap();
        let got = raise_sound_server_threads().expect("a threaded-ml thread is running");
        // SAFETY: reads the scheduling of a thread of this process.
        let policy = unsafe { libc::sched_getscheduler(tid) };
        let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) };
        stop_tx.send(()).unwrap();
        thread.join().unwrap();
        match got {
            Priority::RealTime { .. } => assert_eq!(policy & 0xff, libc::SCHED_FIFO),
            Priority::Raised { nice: n } => {
                assert_eq!((n, nice, policy), (RAISED_NICE, RAISED_NICE, libc::SCHED_OTHER))
            }
            Priority::Normal { reason } => {
                assert!(!reason.is_empty());
                assert_eq!((nice, policy), (0, libc::SCHED_OTHER));
            }
            Priority::NotAsked => panic!("asked, so known"),
        }
    }

    /// A stream error puts a real-time callback thread back to the raised level; it does not ask again at
    /// once.
    #[test]
    fn a_stream_error_takes_real_time_away() {
        std::thread::spawn(|| {
            let timing = CallbackTiming::default();
            raise_callback_thread("test", &timing, real_time);
            // SAFETY: reads the calling thread's own policy.
            let policy = || unsafe { libc::sched_getscheduler(0) } & 0xff;
            let was_real_time = matches!(timing.stats().thread, Priority::RealTime { .. });
            callback_error(&timing);
            assert_eq!(policy(), libc::SCHED_OTHER);
            if was_real_time {
                assert!(!matches!(timing.stats().thread, Priority::RealTime { .. }), "{:?}", timing.stats());
                raise_callback_thread("test", &timing, real_time);
                assert_eq!(policy(), libc::SCHED_OTHER, "asked again at once");
            }
        })
        .join()
        .unwrap();
    }
}
