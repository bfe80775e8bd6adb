import { test } from "node:test";
import assert from "node:assert/strict";
import {
  normalizeRoomCode, normalizePersonalCode, stateLabel, statsLine, quality, statsRows, formatDuration, formatBytes, shareLabel,
  recentLabel, presenceLabel, deviceMessage, sourcesMessage, isNormalEnd,
} from "./logic.js";

test("room codes are normalised like the server does", () => {
  assert.equal(normalizeRoomCode(" 7kq2 m9xd-4htb "), "7KQ2-M9XD-4HTB");
  assert.equal(normalizeRoomCode("OILU-oilu-ABCD"), "011V-011V-ABCD");
  assert.equal(normalizeRoomCode("7KQ2-M9XD"), null);
  assert.equal(normalizeRoomCode("7KQ2-M9XD-4HT!"), null);
});

test("normal endings are not failures", () => {
  assert.ok(isNormalEnd("hung_up") && isNormalEnd("remote_hung_up") && isNormalEnd("declined"));
  assert.ok(!isNormalEnd("connection_failed") && !isNormalEnd("room_full") && !isNormalEnd(undefined));
});

test("states read as sentences", () => {
  assert.equal(stateLabel({ state: "waiting" }), "Waiting for the other person");
  assert.equal(stateLabel({ state: "ended", reason: "room_full" }), "That room is full.");
  assert.match(stateLabel({ state: "ended", reason: "odd" }), /odd/);
});

test("stats line and quality", () => {
  const s = { rtt_ms: 12.34, kbps_out: 1500.2, kbps_in: 1400.7, resolution_in: [640, 480], fps_in: 29.9, video_codec: "VP8", loss_percent: 0, candidate_pair: { local_type: "host", remote_type: "host" } };
  assert.equal(statsLine(s), "RTT 12.3 ms · ↑1500 ↓1401 kbps · 640×480 @ 30 fps · VP8 · direct");
  assert.equal(quality(s), "good");
  const group = { ...s, fps_in: 59.6, participants: [{ peer: "a" }, { peer: "b" }] };
  assert.equal(statsLine(group), "RTT 12.3 ms · ↑1500 ↓1401 kbps · 60 fps from 2 people · VP8 · direct");
  assert.equal(quality({ ...s, loss_percent: 3 }), "fair");
  assert.equal(quality({ ...s, rtt_ms: 500 }), "poor");
});

test("personal codes have four groups", () => {
  assert.equal(normalizePersonalCode("7kq2m9xd4htbpa3e"), "7KQ2-M9XD-4HTB-PA3E");
  assert.equal(normalizePersonalCode("7KQ2-M9XD-4HTB"), null);
});

test("contact call outcomes read as sentences", () => {
  assert.equal(stateLabel({ state: "ringing_out" }), "Ringing…");
  assert.equal(stateLabel({ state: "ended", reason: "declined" }), "They declined the call.");
  assert.equal(stateLabel({ state: "ended", reason: "unavailable" }), "They are not online.");
  assert.match(stateLabel({ state: "ended", reason: "server_unreachable" }), /cannot be reached/);
});

test("stats panel rows", () => {
  const s = { rtt_ms: 1.25, loss_percent: 0.5, packets_lost: 3, jitter_ms: null, kbps_out: 900, kbps_in: 800.6, fps_out: 30, fps_in: 29.6,
    resolution_out: [640, 480], resolution_in: null, target_kbps: 1200, video_codec: "H264",
    candidate_pair: { local_type: "relay", remote_type: "srflx", remote_address: "203.0.113.5:3478" } };
  const rows = Object.fromEntries(statsRows(s));
  assert.equal(rows.RTT, "1.3 ms");
  assert.equal(rows.Loss, "0.5 % (3 packets)");
  assert.equal(rows.Jitter, "–");
  assert.equal(rows.Receiving, "801 kbps · – @ 30 fps");
  assert.equal(rows.Path, "relay → srflx (203.0.113.5:3478)");
  const learned = { ...s, candidate_pair: { local_type: "host", remote_type: "prflx", remote_address: "" } };
  assert.equal(Object.fromEntries(statsRows(learned)).Path, "host → prflx");
  const overTls = { ...s, candidate_pair: { local_type: "relay", remote_type: "relay", remote_address: "", relay_protocol: "tls" } };
  assert.equal(Object.fromEntries(statsRows(overTls)).Path, "relay (TLS) → relay");
  assert.match(statsLine(overTls), /relayed \(TLS\)$/);
  const overUdp = { ...overTls, candidate_pair: { ...overTls.candidate_pair, relay_protocol: "udp" } };
  assert.equal(Object.fromEntries(statsRows(overUdp)).Path, "relay → relay");
  assert.equal(rows["Lip sync"], "–");
  const synced = (hold, delay, late) =>
    Object.fromEntries(statsRows({ ...s, sync_video_hold_ms: hold, sync_audio_delay_ms: delay, sync_video_late_ms: late }));
  assert.equal(synced(52.4, 0, -52)["Lip sync"], "video waits 52 ms for audio");
  assert.equal(synced(0, 40, 8)["Lip sync"], "audio waits 40 ms for video");
  assert.equal(synced(0, 0, 16.2)["Lip sync"], "video 16 ms behind audio");
  assert.equal(synced(0, 0, 3)["Lip sync"], "in step");
  const echo = (v) => Object.fromEntries(statsRows({ ...s, voice_processing: v }))["Echo canceller"];
  assert.equal(echo(undefined), "off");
  assert.equal(echo({ erle_db: null, delay_ms: null, divergent: null, far_dropped_ms: 0 }), "starting");
  assert.equal(echo({ erle_db: 24.4, delay_ms: 12, divergent: 0, far_dropped_ms: 0 }), "delay 12 ms · ERLE 24 dB");
  assert.equal(
    echo({ erle_db: 0.2, delay_ms: 96, divergent: 0.35, far_dropped_ms: 190 }),
    "delay 96 ms · ERLE 0 dB · diverged 35 % · 190 ms of far end lost",
  );
});

test("durations and sizes", () => {
  assert.equal(formatDuration(5), "0:05");
  assert.equal(formatDuration(125), "2:05");
  assert.equal(formatDuration(3723), "1:02:03");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KB");
  assert.equal(formatBytes(20 * 1024 * 1024), "20 MB");
});

test("recent calls and presence", () => {
  const now = new Date(2026, 10, 24, 15, 0).getTime();
  const at = new Date(2026, 10, 24, 14, 5).getTime();
  const line = (c) => recentLabel({ at_ms: at, name: "Bob", connected_secs: 0, outcome: "", ...c }, now);
  assert.match(line({ direction: "outgoing", connected_secs: 125 }), /^↗ Bob · 2:05 · 14:05$/);
  assert.match(line({ direction: "outgoing", outcome: "declined" }), /^↗ Bob · declined/);
  assert.match(line({ direction: "missed", outcome: "missed" }), /^✕ Bob · no answer/);
  assert.match(line({ direction: "missed", outcome: "busy" }), /while you were in a call/);
  // Another day shows its date.
  assert.match(recentLabel({ at_ms: at - 86400000 * 3, name: "A", direction: "incoming", connected_secs: 1 }, now), /^↙ A · 0:01 · Nov 21 14:05$/);
  assert.equal(presenceLabel("in_call"), "In a call");
});

test("device notices read as sentences", () => {
  assert.equal(deviceMessage({ device: "lost", kind: "microphone", name: "Headset", fallback: "Default Audio Device" }),
    'Your microphone "Headset" went away; now using "Default Audio Device".');
  assert.equal(deviceMessage({ device: "lost", kind: "camera", name: "C920", fallback: null }), 'Your camera "C920" went away.');
  assert.equal(deviceMessage({ device: "absent", kind: "camera", message: "no camera is connected; the call goes on without video" }),
    "No camera found.");
  assert.equal(sourcesMessage({ camera: true, microphone: true }), "");
  assert.match(sourcesMessage({ camera: false, microphone: true }), /^Your camera isn't sending pictures/);
  assert.match(sourcesMessage({ camera: true, microphone: false }), /^Your microphone isn't working/);
  assert.match(sourcesMessage({ camera: false, microphone: false }), /^Your camera and microphone/);
  assert.equal(deviceMessage({ device: "using", kind: "speaker", name: "HDMI" }), 'Using the speaker "HDMI".');
  assert.equal(deviceMessage({ device: "other" }), "");
});

test("tiles fill the stage", async () => {
  const { gridShape } = await import("./logic.js");
  assert.deepEqual(gridShape(1, 1280, 720), { cols: 1, rows: 1 });
  assert.deepEqual(gridShape(2, 1280, 720), { cols: 2, rows: 1 });
  assert.deepEqual(gridShape(2, 500, 700), { cols: 1, rows: 2 });
  assert.deepEqual(gridShape(3, 1280, 720), { cols: 2, rows: 2 });
  assert.deepEqual(gridShape(4, 1280, 720), { cols: 2, rows: 2 });
  assert.deepEqual(gridShape(6, 1600, 600), { cols: 3, rows: 2 });
  // 4:3 video on a stage of 1004x684 is larger side by side; 16:9 is larger one above the other.
  assert.deepEqual(gridShape(2, 1004, 684, 4 / 3), { cols: 2, rows: 1 });
  assert.deepEqual(gridShape(2, 1004, 684), { cols: 1, rows: 2 });
});

test("tile names, speaker and heading", async () => {
  const { initials, speakerOf, peopleLine, qualityLabel } = await import("./logic.js");
  assert.equal(initials("Ana Lima"), "AL");
  assert.equal(initials("  cli "), "C");
  assert.equal(initials(""), "?");
  assert.equal(initials(undefined), "?");
  const levels = [{ peer: "a", audio_level_dbfs: -60 }, { peer: "b", audio_level_dbfs: -20 }, { peer: "c", audio_level_dbfs: -30 }, { peer: "d" }];
  assert.equal(speakerOf(levels), "b");
  assert.equal(speakerOf([{ peer: "a", audio_level_dbfs: -70 }]), null);
  assert.equal(speakerOf(undefined), null);
  assert.equal(peopleLine([]), "");
  assert.equal(peopleLine(["Bo"]), "Bo");
  assert.equal(peopleLine(["Bo", "Cy"]), "Bo and Cy");
  assert.equal(peopleLine(["Bo", "Cy", "Dee"]), "Bo, Cy and Dee");
  assert.equal(peopleLine(["Bo", "Cy", "Dee", "Ed", "Flo"]), "Bo, Cy and 3 others");
  assert.equal(qualityLabel("fair"), "Fair connection");
});

test("ringing someone in, in words", async () => {
  const { inviteMessage } = await import("./logic.js");
  assert.equal(inviteMessage({ outcome: "ringing" }, "Dee"), "Ringing Dee…");
  assert.equal(inviteMessage({ outcome: "unavailable" }, "Dee"), "Dee is not online.");
  assert.equal(inviteMessage({ outcome: "odd" }, "Dee"), "Dee: odd");
});

test("why the server cannot be reached, in words", async () => {
  const { offlineSentence } = await import("./logic.js");
  const raw = (why) => `The server cannot be reached (${why}); trying again in 5 s.`;
  assert.match(offlineSentence(raw("failed to lookup address information: Name or service not known")), /name was not found/);
  assert.match(offlineSentence(raw("IO error: Connection refused (os error 111)")), /nothing answers/);
  assert.match(offlineSentence(raw("connect timed out")), /does not answer/);
  assert.equal(offlineSentence(raw("something odd")), "Can't reach the server. Trying again.");
  assert.equal(offlineSentence(""), "");
  assert.equal(offlineSentence("In a call."), "In a call.");
});

test("runs of the same failed attempt are one recent entry", async () => {
  const { collapseRecents, recentLabel } = await import("./logic.js");
  const fail = { direction: "outgoing", name: "Bob", code: "C", room: null, outcome: "server_unreachable", connected_secs: 0, at_ms: 0 };
  const ok = { ...fail, outcome: "hung_up", connected_secs: 65 };
  const calls = collapseRecents([fail, fail, fail, ok, ok, fail]);
  assert.deepEqual(calls.map((c) => c.count ?? 1), [3, 1, 1, 1]);
  assert.match(recentLabel(calls[0], 0), /Bob · server unreachable \(3×\)/);
  assert.doesNotMatch(recentLabel(calls[1], 0), /×/);
});

test("share picker lines", () => {
  assert.equal(shareLabel({ label: "Entire screen", kind: "screen", width: 1920, height: 1080 }), "Entire screen · 1920×1080");
  assert.equal(shareLabel({ label: "  ", kind: "window", width: 400, height: 300 }), "Untitled window · 400×300");
  assert.equal(shareLabel({ label: "Notes", kind: "window" }), "Notes");
});
