// The call stage: a tile per participant (their video, name, microphone and camera state, who is speaking),
// laid out in a grid that fits the stage, one spotlighted on a double-click. Everyone's frames arrive on one
// channel, each tagged with whose it is; each tile has its own renderer.
import { $, invoke, Channel } from "./dom.js";
import { I420Renderer, frameHeader } from "./render.js";
import { gridShape, initials, speakerOf } from "./logic.js";

/** peer id → { el, canvas, renderer, name, audio, video, sized } */
const tiles = new Map();
/** Peers who left: a frame still in flight must not bring their tile back. */
const gone = new Set();
/** Old id → new id of people who came back on a new connection (a frame sent before may carry the old). */
const renamed = new Map();
/** Which call's channel is current: frames still arriving from the last call's are dropped. */
let generation = 0;
let framesDrawn = 0;
let spotlight = null;
let onChange = () => {};

/** A share's tile key: its sharer's peer id and `/screen` (how the app tags its frames). */
const shareKey = (peer) => `${peer}/screen`;
const isShare = (key) => key.endsWith("/screen");
const people = () => [...tiles.entries()].filter(([key]) => !isShare(key));

export const framesDrawnCount = () => framesDrawn;
export const count = () => people().length;
export const names = () => people().map(([, t]) => t.name);
/** The shares on the stage (their tiles' keys). */
export const shares = () => [...tiles.keys()].filter(isShare);
/** The name on `peer`'s tile, if they have one. */
export const nameOf = (peer) => (peer ? tiles.get(peer)?.name : undefined);

/** `f()` runs when someone comes or goes (the heading, the invite card). */
export function whenChanged(f) {
  onChange = f;
}

export function resetStage() {
  for (const tile of tiles.values()) release(tile);
  tiles.clear();
  gone.clear();
  renamed.clear();
  spotlight = null;
  $("tiles").replaceChildren();
  layout();
}

/** The channel every participant's video comes on. */
export function remoteChannel() {
  const channel = new Channel();
  const mine = ++generation;
  channel.onmessage = (buffer) => {
    let peer = "";
    try {
      const header = frameHeader(buffer);
      peer = header.tag;
      if (mine !== generation) return;
      const now = current(peer);
      const tile = gone.has(now) ? null : tiles.get(now) ?? addTile(now, isShare(now) ? shareName(now) : null);
      if (tile) {
        tile.renderer ??= new I420Renderer(tile.canvas);
        const shape = tile.canvas.width / tile.canvas.height;
        tile.renderer.draw(buffer, header);
        // A new shape of video (the first frame, a camera turned): the grid may fit it better now.
        if (Math.abs(tile.canvas.width / tile.canvas.height - shape) > 0.01 || !tile.el.classList.contains("live")) layout();
        tile.el.classList.add("live");
        framesDrawn++;
        // Its pump exists now: say the tile's size.
        if (!tile.sized) {
          tile.sized = true;
          reportSize(tile, peer);
        }
      }
    } catch (e) {
      console.error(e);
    }
    invoke("frame_shown", { preview: false, peer });
  };
  return channel;
}

/** The id `peer` goes by now. */
function current(peer) {
  for (let i = 0; i <= renamed.size && renamed.has(peer); i++) peer = renamed.get(peer);
  return peer;
}

/** A tile's WebGL context is given back (WebKit keeps only a few alive). */
function release(tile) {
  tile.renderer?.gl.getExtension("WEBGL_lose_context")?.loseContext();
}

function icon(name) {
  // Crossed microphone (muted); drawn, so no icon font is needed.
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon ${name}`);
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM6 11a6 6 0 0 0 12 0M12 17v4M4 4l16 16");
  svg.append(path);
  return svg;
}

function addTile(peer, name) {
  const el = document.createElement("figure");
  el.className = "tile";
  el.dataset.peer = peer;
  const canvas = document.createElement("canvas");
  canvas.width = 640;
  canvas.height = 360;
  const avatar = document.createElement("div");
  avatar.className = "avatar";
  const caption = document.createElement("figcaption");
  const label = document.createElement("span");
  label.className = "name";
  caption.append(icon("mic-off"), label);
  el.append(canvas, avatar, caption);
  el.addEventListener("dblclick", () => toggleSpotlight(peer));
  const tile = { el, canvas, avatar, label, renderer: null, name: "", audio: true, video: true, sized: false };
  if (isShare(peer)) {
    // A share has no microphone or camera of its own; it is the large one while it runs.
    el.classList.add("share");
    spotlight = peer;
  }
  tiles.set(peer, tile);
  setName(tile, name);
  update(tile);
  $("tiles").append(el);
  layout();
  onChange();
  return tile;
}

/** "Ann's screen", from the sharer's tile. */
function shareName(key) {
  const sharer = tiles.get(key.slice(0, -"/screen".length));
  return `${sharer?.name ?? "Someone"}'s screen`;
}

function setName(tile, name) {
  tile.name = name || "Someone";
  tile.label.textContent = tile.name;
  tile.avatar.textContent = initials(tile.name);
  tile.canvas.setAttribute("aria-label", `Video of ${tile.name}`);
  tile.el.title = `${tile.name} (double-click: large, full screen)`;
}

function update(tile) {
  tile.el.classList.toggle("muted", !tile.audio);
  tile.el.classList.toggle("camera-off", !tile.video);
}

/** Someone is in the call (or came back under a new id: their tile goes on). */
export function participantJoined({ peer, name, replaces }) {
  gone.delete(peer);
  if (replaces) renamed.set(replaces, peer);
  const old = replaces && tiles.get(replaces);
  const oldShare = replaces && tiles.get(shareKey(replaces));
  if (oldShare) {
    renamed.set(shareKey(replaces), shareKey(peer));
    tiles.delete(shareKey(replaces));
    tiles.set(shareKey(peer), oldShare);
    oldShare.el.dataset.peer = shareKey(peer);
    if (spotlight === shareKey(replaces)) spotlight = shareKey(peer);
  }
  if (old) {
    tiles.delete(replaces);
    // A frame under the new id may have come first and made a tile of its own: theirs is the old one.
    const early = tiles.get(peer);
    if (early) {
      early.el.remove();
      release(early);
    }
    tiles.set(peer, old);
    old.el.dataset.peer = peer;
    if (spotlight === replaces) spotlight = peer;
    if (name) setName(old, name);
    onChange();
    return;
  }
  const tile = tiles.get(peer);
  if (tile) {
    if (name) setName(tile, name);
    onChange();
  } else addTile(peer, name);
}

/** Someone left: their tile (and their share's) goes. */
export function participantLeft({ peer }) {
  peer = current(peer);
  gone.add(peer);
  gone.add(shareKey(peer));
  removeTile(shareKey(peer));
  removeTile(peer);
}

function removeTile(key) {
  const tile = tiles.get(key);
  if (!tile) return;
  tile.el.remove();
  release(tile);
  tiles.delete(key);
  if (spotlight === key) spotlight = shares()[0] ?? null;
  layout();
  onChange();
}

/** Someone started or stopped sharing their screen (an empty `peer`: our own share, which the control bar
 * shows). Their share is a tile of its own, large while it runs. */
export function share({ peer, sharing }) {
  if (!peer) return;
  const key = shareKey(current(peer));
  if (sharing) {
    gone.delete(key);
    if (!tiles.has(key)) addTile(key, shareName(key));
  } else {
    gone.add(key);
    removeTile(key);
  }
}

/** A participant's microphone and camera (`peer` empty: the only other person). */
export function remoteMedia({ peer, audio, video }) {
  const targets = peer ? [tiles.get(peer)] : [...tiles.values()];
  for (const tile of targets.filter(Boolean)) {
    tile.audio = audio;
    tile.video = video;
    update(tile);
  }
}

/** The stats' per-participant figures: the loudest (when more than one person could be) is highlighted. */
export function levels(participants) {
  const speaking = count() > 1 ? speakerOf(participants) : null;
  for (const [peer, tile] of tiles) tile.el.classList.toggle("speaking", peer === speaking && tile.audio);
}

function toggleSpotlight(peer) {
  const on = spotlight !== peer;
  spotlight = on ? peer : null;
  layout();
  setFullScreen(on);
}

/** The window full screen on or off (F11, a double-click on a tile, the control). */
export async function setFullScreen(on) {
  try {
    const now = await invoke("set_full_screen", { on });
    document.body.classList.toggle("full-screen", now);
    // Out of full screen (F11, Escape, the control): the spotlight goes with it.
    if (!now && spotlight) {
      spotlight = null;
      layout();
    }
    $("full-screen").querySelector(".label").textContent = now ? "Exit full screen" : "Full screen";
  } catch (e) {
    console.error(e);
  }
}

export function isFullScreen() {
  return document.body.classList.contains("full-screen");
}

/** Place the tiles: a grid that shows everyone largest, or the spotlighted one large over a row of others. */
function layout() {
  const box = $("tiles");
  const n = tiles.size;
  box.dataset.count = String(n);
  const spot = spotlight && n > 1 ? tiles.get(spotlight) : null;
  box.classList.toggle("spotlight", !!spot);
  for (const tile of tiles.values()) tile.el.classList.toggle("spotlit", tile === spot);
  if (spot) {
    // The others in a row below, each at most a quarter of the width.
    box.style.gridTemplateColumns = `repeat(${Math.max(n - 1, 4)}, minmax(0, 1fr))`;
    box.style.gridTemplateRows = "minmax(0, 1fr) 22%";
  } else {
    const { cols, rows } = gridShape(n, box.clientWidth || 640, box.clientHeight || 360, videoAspect());
    box.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    box.style.gridTemplateRows = `repeat(${rows}, minmax(0, 1fr))`;
  }
  requestAnimationFrame(reportSizes);
}

/** The shape of the video shown (the live tiles' average width / height), 16:9 before any. */
function videoAspect() {
  const live = [...tiles.values()].filter((t) => t.renderer && t.canvas.height > 0);
  if (!live.length) return 16 / 9;
  return live.reduce((sum, t) => sum + t.canvas.width / t.canvas.height, 0) / live.length;
}

/** Tell the app how many device pixels each tile shows: it sends nothing bigger. */
function reportSize(tile, peer) {
  const dpr = window.devicePixelRatio || 1;
  if (tile.canvas.clientWidth === 0) return;
  invoke("set_video_size", {
    preview: false,
    peer,
    width: Math.round(tile.canvas.clientWidth * dpr),
    height: Math.round(tile.canvas.clientHeight * dpr),
  });
}

function reportSizes() {
  for (const [peer, tile] of tiles) reportSize(tile, peer);
}

new ResizeObserver(() => layout()).observe($("tiles"));
