//! CPU time and memory of a process and everything it started (the app and its WebKit processes), from
//! /proc.

use std::collections::BTreeMap;

/// The pid and every descendant, with their command names.
pub fn tree(root: u32) -> BTreeMap<u32, String> {
    let mut parents = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if let Some((name, ppid)) = stat(pid).map(|s| (s.name, s.ppid)) {
                parents.push((pid, ppid, name));
            }
        }
    }
    let mut found = BTreeMap::new();
    if let Some((_, _, name)) = parents.iter().find(|(p, _, _)| *p == root) {
        found.insert(root, name.clone());
    }
    loop {
        let before = found.len();
        for (pid, ppid, name) in &parents {
            if found.contains_key(ppid) && !found.contains_key(pid) {
                found.insert(*pid, name.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

struct Stat {
    name: String,
    ppid: u32,
    /// utime + stime, clock ticks.
    ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = text.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) … utime(11) stime(12).
    Some(Stat {
        name,
        ppid: fields.get(1)?.parse().ok()?,
        ticks: fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
    })
}

/// CPU ticks used so far by each of `pids`.
pub fn cpu_ticks(pids: &BTreeMap<u32, String>) -> BTreeMap<u32, u64> {
    pids.keys().filter_map(|&p| stat(p).map(|s| (p, s.ticks))).collect()
}

/// Percent of one core used between two samples `secs` apart (processes present in both).
pub fn cpu_percent(before: &BTreeMap<u32, u64>, after: &BTreeMap<u32, u64>, secs: f64) -> f64 {
    let ticks: u64 = after.iter().filter_map(|(p, a)| before.get(p).map(|b| a.saturating_sub(*b))).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz / secs * 100.0
}

/// Percent of one core per process name between two samples `secs` apart.
pub fn cpu_percent_by_name(
    pids: &BTreeMap<u32, String>,
    before: &BTreeMap<u32, u64>,
    after: &BTreeMap<u32, u64>,
    secs: f64,
) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    for (pid, name) in pids {
        let (Some(b), Some(a)) = (before.get(pid), after.get(pid)) else { continue };
        let one = BTreeMap::from([(*pid, *b)]);
        let two = BTreeMap::from([(*pid, *a)]);
        *by_name.entry(name.clone()).or_insert(0.0) += cpu_percent(&one, &two, secs);
    }
    by_name
}

/// Proportional set size in MB (shared pages split among their users), per process name.
pub fn pss_mb(pids: &BTreeMap<u32, String>) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    for (pid, name) in pids {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { continue };
        let kb: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        *by_name.entry(name.clone()).or_insert(0.0) += kb / 1024.0;
    }
    by_name
}
