//! A group call: four `tincan-cli` peers in one room (real server on loopback, real WebRTC), each sending the
//! stamped pattern and a tone of its own. Everyone decodes everyone's pattern in order and hears each one's
//! tone; one leaves, the others go on and are told, it comes back and is seen again; a chat message reaches
//! everyone; a file sent to one arrives only there, intact. And "add someone": a contact rung into an ongoing
//! call joins it.

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tincan_signal::code::RoomCode;

/// A running peer: its process and its JSON lines.
struct Peer {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Peer {
    fn start(url: &str, room: &RoomCode, name: &'static str, tone_hz: u32, dir: &Path, extra: &[&str]) -> Peer {
        let join = ["join", room.as_str(), "--capacity", "4"];
        Peer::spawn(url, name, &join, tone_hz, dir, extra)
    }

    /// `command`: `join …` or `listen`.
    fn spawn(url: &str, name: &'static str, command: &[&str], tone_hz: u32, dir: &Path, extra: &[&str]) -> Peer {
        let downloads = dir.join(name);
        std::fs::create_dir_all(&downloads).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tincan-cli"))
            .args(["--server", url, "--name", name, "--identity", dir.join(format!("{name}.key")).to_str().unwrap()])
            .args(command)
            .args(["--loopback", "--size", "160x120", "--fps", "15", "--tone-hz", &tone_hz.to_string()])
            .args(["--download-dir", downloads.to_str().unwrap(), "--accept-files", "yes"])
            .args(extra)
            .env("TINCAN_LOG", "warn,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_sctp=error,webrtc=error")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Peer { name, child, lines, seen: Vec::new() }
    }

    /// Wait for a line `pick` likes (all lines are kept).
    fn wait_for(&mut self, what: &str, within: Duration, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pick(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("{}: no {what} within {within:?}; saw {:#?}", self.name, self.seen),
            }
        }
    }

    fn summary(&mut self) -> Value {
        let v = self.wait_for("summary", Duration::from_secs(60), |v| v["event"] == "summary");
        assert!(self.child.wait().unwrap().success(), "{} exited with an error", self.name);
        v
    }

    fn saw(&self, pick: impl Fn(&Value) -> bool) -> bool {
        self.seen.iter().any(pick)
    }
}

fn state(v: &Value, s: &str) -> bool {
    v["event"] == "state" && v["state"] == s
}

/// The summary's figures for each participant by name (a participant seen twice: the later visit).
fn by_name(summary: &Value) -> HashMap<String, Vec<Value>> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    for p in summary["participants"].as_array().unwrap_or(&Vec::new()) {
        out.entry(p["name"].as_str().unwrap_or("?").to_owned()).or_default().push(p.clone());
    }
    out
}

/// `who` decoded `from`'s pattern in order and heard its tone.
fn check_heard(who: &str, from: &str, figures: &Value, tone_hz: u32, min_frames: u64) {
    let frames = figures["frames_decoded"].as_u64().unwrap_or(0);
    assert!(frames >= min_frames, "{who} decoded {frames} frames from {from}: {figures}");
    assert_eq!(figures["stamped"], true, "{who}: {from}'s frames carry the stamp: {figures}");
    let unreadable = figures["frames_unreadable"].as_u64().unwrap_or(u64::MAX);
    assert!(unreadable * 10 <= frames, "{who}: {unreadable} of {frames} frames from {from} unreadable");
    assert_eq!(figures["out_of_order"], 0, "{who}: {from}'s frames in order: {figures}");
    let hz = figures["audio_hz"].as_f64().unwrap_or(0.0);
    assert!((hz - tone_hz as f64).abs() < 15.0, "{who} heard {hz:.0} Hz from {from}, who sent {tone_hz} Hz");
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_people_see_and_hear_each_other_and_one_comes_back() {
    let server = common::server().await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let dir = std::env::temp_dir().join(format!("tincan-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("minutes.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let tones = HashMap::from([("Ann", 440), ("Bo", 660), ("Cy", 880), ("Dee", 1100)]);

    let mut ann = Peer::start(&url, &room, "Ann", tones["Ann"], &dir, &["--duration", "14", "--stats"]);
    ann.wait_for("waiting", Duration::from_secs(20), |v| state(v, "waiting"));
    // Three arrive at once.
    let mut bo = Peer::start(&url, &room, "Bo", tones["Bo"], &dir, &["--duration", "13"]);
    let mut cy = Peer::start(&url, &room, "Cy", tones["Cy"], &dir, &["--duration", "4"]);
    let file_arg = file.to_str().unwrap().to_owned();
    let dee_args =
        ["--duration", "12", "--after", "3", "--chat", "hello, all", "--send-file", &file_arg, "--file-to", "Bo"];
    let mut dee = Peer::start(&url, &room, "Dee", tones["Dee"], &dir, &dee_args);

    // Cy leaves after its four seconds; the others are told and go on.
    let cy_first = cy.summary();
    ann.wait_for("Cy leaving", Duration::from_secs(20), |v| v["event"] == "participant_left" && v["name"] == "Cy");
    // Cy comes back and is seen again.
    let mut cy = Peer::start(&url, &room, "Cy", tones["Cy"], &dir, &["--duration", "5"]);
    let cy_again = cy.summary();
    let summaries: Vec<(&str, Value)> = vec![("Dee", dee.summary()), ("Bo", bo.summary()), ("Ann", ann.summary())];

    // Cy, both visits: everyone else seen and heard.
    for (visit, summary) in [("Cy's first visit", &cy_first), ("Cy's second visit", &cy_again)] {
        let people = by_name(summary);
        for other in ["Ann", "Bo", "Dee"] {
            let figures = people.get(other).and_then(|v| v.last()).unwrap_or_else(|| panic!("{visit}: no {other}"));
            check_heard(visit, other, figures, tones[other], 20);
        }
    }
    for (who, summary) in &summaries {
        let people = by_name(summary);
        for other in ["Ann", "Bo", "Cy", "Dee"].into_iter().filter(|o| o != who) {
            let visits = people.get(other).unwrap_or_else(|| panic!("{who} never saw {other}: {summary}"));
            check_heard(who, other, visits.last().unwrap(), tones[other], 40);
        }
        assert_eq!(people["Cy"].len(), 2, "{who} saw Cy twice (left and came back): {summary}");
    }
    // Ann's stats measure each person's level: every tone is at half scale, about -9 dBFS.
    let levels = ann
        .seen
        .iter()
        .rev()
        .find(|v| v["event"] == "stats" && v["participants"].as_array().is_some_and(|p| p.len() >= 2))
        .map(|v| v["participants"].clone())
        .expect("stats with participants");
    for p in levels.as_array().unwrap() {
        let db = p["audio_level_dbfs"].as_f64().unwrap_or(f64::NAN);
        assert!((-14.0..-5.0).contains(&db), "Ann measures {db} dBFS for {}: {levels}", p["peer"]);
        assert!(p["frames_decoded"].as_u64().unwrap_or(0) > 50, "{levels}");
    }
    eprintln!("levels at Ann: {levels}");
    // Each link's own transport: while all four were in, a second when every link carried media both ways
    // over its own host pair (loopback), one remote address per person.
    let carrying = |p: &Value| {
        p["candidate_pair"]["local_type"] == "host"
            && p["kbps_in"].as_f64().unwrap_or(0.0) > 20.0
            && p["kbps_out"].as_f64().unwrap_or(0.0) > 20.0
            && p["rtt_ms"].as_f64().is_some()
    };
    let links =
        ann.seen.iter().filter_map(|v| (v["event"] == "stats").then(|| v["participants"].as_array()).flatten()).find(
            |p| {
                let remotes: std::collections::HashSet<String> =
                    p.iter().map(|p| p["candidate_pair"]["remote_address"].to_string()).collect();
                p.len() == 3 && p.iter().all(carrying) && remotes.len() == 3
            },
        );
    let links = links.unwrap_or_else(|| panic!("no second with three carrying links at Ann: {:#?}", ann.seen));
    eprintln!("links at Ann: {}", Value::Array(links.clone()));
    // The call's own rates are all of its links', not one link's.
    let whole = ann
        .seen
        .iter()
        .find(|v| v["event"] == "stats" && v["participants"].as_array() == Some(links))
        .expect("that second's stats");
    for key in ["kbps_in", "kbps_out"] {
        let sum: f64 = links.iter().map(|p| p[key].as_f64().unwrap_or(0.0)).sum();
        let call = whole[key].as_f64().unwrap_or(f64::NAN);
        assert!((call - sum).abs() < 0.01, "the call's {key} {call} is its links' sum {sum}");
    }
    // The chat went to everyone who was there.
    for peer in [&ann, &bo] {
        assert!(
            peer.saw(|v| v["event"] == "chat" && v["text"] == "hello, all" && v["outgoing"] == false),
            "{} got no chat",
            peer.name
        );
    }
    // The file: at Bo, intact; nowhere else.
    let at_bo = files_in(&dir.join("Bo"));
    assert_eq!(at_bo.len(), 1, "one file at Bo: {at_bo:?}");
    assert_eq!(sha256(&at_bo[0]), sha256(&file));
    for other in ["Ann", "Cy", "Dee"] {
        assert!(files_in(&dir.join(other)).is_empty(), "{other} got a file meant for Bo");
    }
    eprintln!(
        "group of four: frames from others per peer: {:?}",
        summaries
            .iter()
            .map(|(who, s)| (
                *who,
                s["participants"].as_array().map(|p| p.iter().map(|x| x["frames_decoded"].clone()).collect::<Vec<_>>())
            ))
            .collect::<Vec<_>>()
    );
    server.shutdown().await;
}

/// "Add someone": during a call of two in a group room, one of them rings a contact (a `tincan-cli listen`) into
/// it; the contact accepts, joins, and everyone sees and hears everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_rung_into_the_call_joins_it() {
    let server = common::server().await;
    let url = server.ws_url();
    let room = RoomCode::generate();
    let dir = std::env::temp_dir().join(format!("tincan-invite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut dee = Peer::spawn(&url, "Dee", &["listen"], 1100, &dir, &["--duration", "5"]);
    let listening = dee.wait_for("Dee's code", Duration::from_secs(20), |v| v["event"] == "listening");
    let code = listening["code"].as_str().expect("a personal code").to_owned();
    dee.wait_for("Dee online", Duration::from_secs(20), |v| v["event"] == "status" && v["status"] == "online");

    let mut ann = Peer::start(&url, &room, "Ann", 440, &dir, &["--duration", "10"]);
    ann.wait_for("waiting", Duration::from_secs(20), |v| state(v, "waiting"));
    let mut bo = Peer::start(&url, &room, "Bo", 660, &dir, &["--duration", "9", "--ring-in", &code]);
    bo.wait_for("Dee accepting", Duration::from_secs(20), |v| v["event"] == "invite" && v["outcome"] == "accepted");
    assert!(bo.saw(|v| v["event"] == "invite" && v["outcome"] == "ringing"), "Bo saw the ring go out");
    let dee_summary = dee.summary();
    assert!(dee.saw(|v| v["event"] == "incoming" && v["from_name"] == "Bo"), "Dee was rung by Bo: {:#?}", dee.seen);
    let tones = HashMap::from([("Ann", 440), ("Bo", 660), ("Dee", 1100)]);
    for (who, summary) in [("Dee", dee_summary), ("Bo", bo.summary()), ("Ann", ann.summary())] {
        let people = by_name(&summary);
        for other in ["Ann", "Bo", "Dee"].into_iter().filter(|o| *o != who) {
            let figures = people.get(other).and_then(|v| v.last()).unwrap_or_else(|| panic!("{who}: no {other}"));
            check_heard(who, other, figures, tones[other], 30);
        }
    }
    server.shutdown().await;
}
