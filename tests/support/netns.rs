//! Scenarios with a real browser run in a network namespace of their own that has only `lo`: Chromium
//! gathers every interface's address, and tests may send traffic only to loopback. The test re-runs itself
//! there (`unshare --net`, root), with the multicast route mDNS sockets need.

use std::process::Command;
use std::sync::Mutex;

const MARK: &str = "TINCAN_TEST_IN_NETNS";

/// One isolated scenario at a time: each starts a browser, and the machine has two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// In the namespace: `Ok(true)`, go on. Outside: run `test` (this test binary's test of that name) in a new
/// namespace, fail if it failed there, and return `Ok(false)`: the test's work is done.
pub fn enter(test: &str) -> anyhow::Result<bool> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    rerun(&[test, "--exact", "--nocapture", "--test-threads=1"].map(String::from))
}

/// The same for a program (a benchmark): run it again, with its arguments, in a new namespace.
pub fn enter_program() -> anyhow::Result<bool> {
    rerun(&std::env::args().skip(1).collect::<Vec<_>>())
}

fn rerun(args: &[String]) -> anyhow::Result<bool> {
    if std::env::var_os(MARK).is_some() {
        return Ok(true);
    }
    let script = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && \
                  exec \"$0\" \"$@\"";
    let status = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", script])
        .arg(std::env::current_exe()?)
        .args(args)
        .env(MARK, "1")
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run unshare (util-linux, needs root): {e}"))?;
    anyhow::ensure!(status.success(), "{args:?} failed in its network namespace ({status})");
    Ok(false)
}
