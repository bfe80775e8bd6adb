//! Making a test process a client of a PulseAudio server of its own (cpal reaches it through ALSA).

#![allow(dead_code)]

use tincan_rig::pulse::Pulse;

/// Play into `sink` and record from `source` of `pulse` by default, and see each of `devices` (null sinks)
/// as ALSA devices of their own (`NAME` records its monitor, `NAME-out` plays into it). Call before the
/// test starts any thread; a test binary that does this has one test.
pub fn become_client(pulse: &Pulse, sink: &str, source: &str, devices: &[&str]) {
    let home = pulse.asoundrc(devices).expect("an .asoundrc");
    for (k, v) in pulse.env(sink, source) {
        // SAFETY: no other thread runs yet (see above).
        unsafe { std::env::set_var(k, v) };
    }
    // SAFETY: as above. ALSA reads ~/.asoundrc.
    unsafe { std::env::set_var("HOME", home) };
}
