// Presentation logic of the UI, free of the DOM and of Tauri so node's test runner can check it.

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Room code as typed → canonical `XXXX-XXXX-XXXX`, or null while incomplete/invalid (the app re-checks). */
export function normalizeRoomCode(input) {
  return normalizeCode(input, 3);
}

/** Personal code as typed → canonical `XXXX-XXXX-XXXX-XXXX`, or null. */
export function normalizePersonalCode(input) {
  return normalizeCode(input, 4);
}

function normalizeCode(input, groups) {
  let chars = "";
  for (const raw of input.toUpperCase()) {
    if (/[\s\-_.]/.test(raw)) continue;
    const c = raw === "O" ? "0" : raw === "I" || raw === "L" ? "1" : raw === "U" ? "V" : raw;
    if (!ALPHABET.includes(c)) return null;
    chars += c;
  }
  if (chars.length !== groups * 4) return null;
  return chars.match(/.{4}/g).join("-");
}

const STATE_LABELS = {
  idle: "Starting…",
  ringing_out: "Ringing…",
  joining: "Joining…",
  waiting: "Waiting for the other person",
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Connection lost, reconnecting…",
};

const END_LABELS = {
  hung_up: "You hung up.",
  remote_hung_up: "The other person hung up.",
  room_full: "That room is full.",
  room_not_found: "Nobody is in that room. Check the code.",
  peer_vanished: "The other person disappeared.",
  connection_failed: "Could not connect to the other person.",
  declined: "They declined the call.",
  unavailable: "They are not online.",
  missed: "No answer.",
  cancelled: "The caller hung up.",
  failed: "The call failed.",
  server_unreachable: "The signaling server cannot be reached. Check your network, or the server in Settings.",
};

/** Endings that are how calls end, not failures: said plainly in the lobby, not as an error. */
const NORMAL_ENDS = new Set(["hung_up", "remote_hung_up", "cancelled", "declined", "missed", "unavailable"]);

export function isNormalEnd(reason) {
  return NORMAL_ENDS.has(reason);
}

/** A sentence for a call state event (`{state, reason}`). */
export function stateLabel(event) {
  if (event.state === "ended") return END_LABELS[event.reason] ?? `The call ended (${event.reason ?? "unknown"}).`;
  return STATE_LABELS[event.state] ?? event.state;
}

/** One line of stats: RTT, bitrates, resolution, fps, codec, path. */
export function statsLine(s) {
  const parts = [];
  if (s.rtt_ms != null) parts.push(`RTT ${s.rtt_ms.toFixed(1)} ms`);
  parts.push(`↑${Math.round(s.kbps_out)} ↓${Math.round(s.kbps_in)} kbps`);
  // The engine counts every participant's frames together: with several, say so rather than one size.
  const people = s.participants?.length ?? 0;
  if (people > 1) parts.push(`${Math.round(s.fps_in)} fps from ${people} people`);
  else if (s.resolution_in) parts.push(`${s.resolution_in[0]}×${s.resolution_in[1]} @ ${Math.round(s.fps_in)} fps`);
  if (s.video_codec) parts.push(s.video_codec);
  if (s.loss_percent > 0) parts.push(`loss ${s.loss_percent.toFixed(1)} %`);
  const pair = s.candidate_pair;
  if (pair) parts.push(pair.local_type === "relay" || pair.remote_type === "relay" ? `relayed${relayOver(pair)}` : "direct");
  return parts.join(" · ");
}

/** " (TCP)" or " (TLS)" when our relay is reached over a stream (a network that lets only TCP out). */
function relayOver(pair) {
  const p = pair.local_type === "relay" ? pair.relay_protocol : null;
  return p && p !== "udp" ? ` (${p.toUpperCase()})` : "";
}

/** Connection quality from stats: "good", "fair" or "poor". */
export function quality(s) {
  if (s.loss_percent > 5 || (s.rtt_ms ?? 0) > 400) return "poor";
  if (s.loss_percent > 1 || (s.rtt_ms ?? 0) > 150) return "fair";
  return "good";
}

/** Rows for the stats panel: [label, value]. */
export function statsRows(s) {
  const pair = s.candidate_pair;
  const res = (r) => (r ? `${r[0]}×${r[1]}` : "–");
  return [
    ["RTT", s.rtt_ms != null ? `${s.rtt_ms.toFixed(1)} ms` : "–"],
    ["Loss", `${s.loss_percent.toFixed(1)} % (${s.packets_lost} packets)`],
    ["Jitter", s.jitter_ms != null ? `${s.jitter_ms.toFixed(1)} ms` : "–"],
    ["Sending", `${Math.round(s.kbps_out)} kbps · ${res(s.resolution_out)} @ ${Math.round(s.fps_out)} fps`],
    ["Receiving", `${Math.round(s.kbps_in)} kbps · ${res(s.resolution_in)} @ ${Math.round(s.fps_in)} fps`],
    ["Target", s.target_kbps != null ? `${s.target_kbps} kbps` : "–"],
    ["Codec", s.video_codec ?? "–"],
    ["Lip sync", lipSync(s)],
    ["Echo canceller", echoCanceller(s.voice_processing)],
    ["Path", pair ? `${pair.local_type}${relayOver(pair)} → ${pair.remote_type}${pair.remote_address ? ` (${pair.remote_address})` : ""}` : "–"],
  ];
}

/** What the echo canceller sees: the echo's delay, how much of it it removes (ERLE), whether its filter
 * diverged, and far-end audio it lost (so "there's echo" can be read off the panel). */
function echoCanceller(v) {
  if (!v) return "off";
  if (v.delay_ms == null && v.erle_db == null) return "starting";
  const parts = [];
  if (v.delay_ms != null) parts.push(`delay ${v.delay_ms} ms`);
  if (v.erle_db != null) parts.push(`ERLE ${Math.round(v.erle_db)} dB`);
  if (v.divergent > 0) parts.push(`diverged ${Math.round(v.divergent * 100)} %`);
  if (v.far_dropped_ms > 0) parts.push(`${Math.round(v.far_dropped_ms)} ms of far end lost`);
  return parts.join(" · ");
}

/** What lip sync does: video waiting for its audio, or audio waiting for video. */
function lipSync(s) {
  if (s.sync_video_hold_ms == null) return "–";
  if (s.sync_audio_delay_ms > 0) return `audio waits ${Math.round(s.sync_audio_delay_ms)} ms for video`;
  if (s.sync_video_hold_ms > 0) return `video waits ${Math.round(s.sync_video_hold_ms)} ms for audio`;
  if ((s.sync_video_late_ms ?? 0) > 15) return `video ${Math.round(s.sync_video_late_ms)} ms behind audio`;
  return "in step";
}

/** A picker's line for something shareable: "Entire screen · 1920×1080", a window's title with its size. */
export function shareLabel({ label, width, height, kind }) {
  const name = (label ?? "").trim() || (kind === "window" ? "Untitled window" : "Screen");
  return width && height ? `${name} · ${width}×${height}` : name;
}

/** "2:05", "1:02:03". */
export function formatDuration(secs) {
  const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = secs % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

/** "512 B", "1.5 MB". */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n, i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const OUTCOMES = {
  declined: "declined", unavailable: "not online", missed: "no answer", cancelled: "cancelled",
  busy: "while you were in a call", do_not_disturb: "do not disturb", room_not_found: "nobody there",
  room_full: "room full", connection_failed: "could not connect", failed: "failed",
  server_unreachable: "server unreachable",
};

/** Recent calls with runs of the same attempt that never connected (a failing server, a ring nobody
 * answered, tried again and again) made one entry with a `count`, so they do not fill the list. */
export function collapseRecents(calls) {
  const out = [];
  const same = (a, b) =>
    a.connected_secs === 0 && b.connected_secs === 0 && a.direction === b.direction && a.name === b.name &&
    a.code === b.code && a.room === b.room && a.outcome === b.outcome;
  for (const c of calls) {
    const last = out[out.length - 1];
    if (last && same(last, c)) last.count = (last.count ?? 1) + 1;
    else out.push({ ...c });
  }
  return out;
}

/** One line for a recent call, relative to `now` (ms). */
export function recentLabel(c, now = Date.now()) {
  const when = new Date(c.at_ms);
  const sameDay = new Date(now).toDateString() === when.toDateString();
  const time = `${String(when.getHours()).padStart(2, "0")}:${String(when.getMinutes()).padStart(2, "0")}`;
  const at = sameDay ? time : `${MONTHS[when.getMonth()]} ${when.getDate()} ${time}`;
  const arrow = c.direction === "incoming" ? "↙" : c.direction === "outgoing" ? "↗" : "✕";
  const what = c.connected_secs > 0 ? formatDuration(c.connected_secs) : OUTCOMES[c.outcome] ?? (c.direction === "missed" ? "missed" : "not connected");
  return `${arrow} ${c.name} · ${what}${c.count > 1 ? ` (${c.count}×)` : ""} · ${at}`;
}

/** The lobby's reachability line. */
export function presenceLabel(status) {
  return { online: "Online", offline: "Offline", in_call: "In a call" }[status] ?? status;
}

// What a device notice (the `device` event) tells the user.
export function deviceMessage(n) {
  const kind = n.kind ?? "device";
  switch (n.device) {
    case "lost":
      return n.fallback ? `Your ${kind} "${n.name}" went away; now using "${n.fallback}".` : `Your ${kind} "${n.name}" went away.`;
    case "using":
      return `Using the ${kind} "${n.name}".`;
    case "absent":
      // The system's own words (ALSA, V4L2) are for the tooltip, not the sentence.
      return `No ${kind} found.`;
    default:
      return "";
  }
}

/** What the others get while our camera or microphone does not deliver (none found, unplugged, taken by
 * another program); "" when both do. */
export function sourcesMessage(s) {
  if (!s.camera && !s.microphone) return "Your camera and microphone aren't working: the others can't see or hear you.";
  if (!s.camera) return "Your camera isn't sending pictures: the others see “camera off”.";
  if (!s.microphone) return "Your microphone isn't working: the others can't hear you.";
  return "";
}

/** The grid for `count` tiles on a `width`×`height` stage: the columns and rows that show video of
 * `aspect` (width / height) largest (ties: the grid shaped most like the stage, side by side on a wide one). */
export function gridShape(count, width, height, aspect = 16 / 9) {
  if (count <= 1) return { cols: 1, rows: 1 };
  let best = null;
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    const w = width / cols, h = height / rows;
    const size = Math.min(w, h * aspect); // the video's width in a cell
    const shape = Math.abs(Math.log(cols / rows / (width / height)));
    if (!best || size > best.size + 0.5 || (size > best.size - 0.5 && shape < best.shape)) best = { cols, rows, size, shape };
  }
  return { cols: best.cols, rows: best.rows };
}

/** Up to two initials for a placeholder: "Ana Lima" → "AL", "cli" → "C". */
export function initials(name) {
  const words = (name ?? "").trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => [...w][0].toUpperCase()).join("") || "?";
}

/** Who is speaking, from the stats' participant levels: the loudest above `floor` dBFS, else null. */
export function speakerOf(participants, floor = -45) {
  let best = null;
  for (const p of participants ?? []) {
    if (p.audio_level_dbfs != null && p.audio_level_dbfs > floor && (!best || p.audio_level_dbfs > best.audio_level_dbfs)) best = p;
  }
  return best?.peer ?? null;
}

/** The call's heading: who is in it ("Bo", "Bo and Cy", "Bo, Cy and Dee", "Bo, Cy and 3 others"). */
export function peopleLine(names) {
  if (names.length <= 1) return names[0] ?? "";
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return `${names.slice(0, 2).join(", ")} and ${names.length - 2} others`;
}

/** The connection quality in words, for the header. */
export function qualityLabel(q) {
  return { good: "Good connection", fair: "Fair connection", poor: "Poor connection" }[q] ?? "";
}

/** How ringing someone into the call goes (`invite` events), in words. */
export function inviteMessage(e, name) {
  switch (e.outcome) {
    case "ringing": return `Ringing ${name}…`;
    case "accepted": return `${name} accepted and is on the way in.`;
    case "declined": return `${name} declined.`;
    case "missed": return `${name} did not answer.`;
    case "unavailable": return `${name} is not online.`;
    default: return `${name}: ${e.outcome}`;
  }
}

/** Why the server cannot be reached, in words (the phone's detail carries the system's own text). */
export function offlineSentence(detail) {
  const d = (detail ?? "").toLowerCase();
  if (!d) return "";
  if (d.includes("lookup address") || d.includes("name or service not known") || d.includes("no such host"))
    return "Can't reach the server: its name was not found. Check the address in Settings, or your network.";
  if (d.includes("refused")) return "Can't reach the server: nothing answers at that address. Is it running?";
  if (d.includes("timed out") || d.includes("timeout")) return "Can't reach the server: it does not answer. Check your network.";
  if (d.includes("certificate") || d.includes("tls")) return "Can't reach the server: its certificate is not trusted.";
  if (d.includes("network is unreachable")) return "You seem to be offline: no network.";
  if (d.includes("cannot be reached")) return "Can't reach the server. Trying again.";
  return detail;
}
