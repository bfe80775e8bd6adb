// Presentation logic of the UI, free of the DOM and of Tauri so node's test runner can check it.

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Room code as typed → canonical `XXXX-XXXX-XXXX`, or null while incomplete/invalid (the app re-checks). */
export function normalizeRoomCode(input) {
  let chars = "";
  for (const raw of input.toUpperCase()) {
    if (/[\s\-_.]/.test(raw)) continue;
    const c = raw === "O" ? "0" : raw === "I" || raw === "L" ? "1" : raw === "U" ? "V" : raw;
    if (!ALPHABET.includes(c)) return null;
    chars += c;
  }
  if (chars.length !== 12) return null;
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
}

const STATE_LABELS = {
  idle: "Starting…",
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
};

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
  if (s.resolution_in) parts.push(`${s.resolution_in[0]}×${s.resolution_in[1]} @ ${Math.round(s.fps_in)} fps`);
  if (s.video_codec) parts.push(s.video_codec);
  if (s.loss_percent > 0) parts.push(`loss ${s.loss_percent.toFixed(1)} %`);
  if (s.candidate_pair) parts.push(s.candidate_pair.local_type === "relay" || s.candidate_pair.remote_type === "relay" ? "relayed" : "direct");
  return parts.join(" · ");
}

/** Connection quality from stats: "good", "fair" or "poor". */
export function quality(s) {
  if (s.loss_percent > 5 || (s.rtt_ms ?? 0) > 400) return "poor";
  if (s.loss_percent > 1 || (s.rtt_ms ?? 0) > 150) return "fair";
  return "good";
}
