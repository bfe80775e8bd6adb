import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeRoomCode, stateLabel, statsLine, quality } from "./logic.js";

test("room codes are normalised like the server does", () => {
  assert.equal(normalizeRoomCode(" 7kq2 m9xd-4htb "), "7KQ2-M9XD-4HTB");
  assert.equal(normalizeRoomCode("OILU-oilu-ABCD"), "011V-011V-ABCD");
  assert.equal(normalizeRoomCode("7KQ2-M9XD"), null);
  assert.equal(normalizeRoomCode("7KQ2-M9XD-4HT!"), null);
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
  assert.equal(quality({ ...s, loss_percent: 3 }), "fair");
  assert.equal(quality({ ...s, rtt_ms: 500 }), "poor");
});
