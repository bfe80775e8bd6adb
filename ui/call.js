// The call screen: the stage (tiles, self-view, invite card), controls, chat and files, stats.
import { $, invoke, listen, show, copy, item } from "./dom.js";
import {
  stateLabel, statsLine, statsRows, quality, qualityLabel, formatBytes, formatDuration, deviceMessage, sourcesMessage, peopleLine,
  inviteMessage, shareLabel,
} from "./logic.js";
import { previewChannel } from "./render.js";
import { loadDevices } from "./settings.js";
import * as stage from "./tiles.js";

let micOn = true, camOn = true;
// Whether our camera and microphone deliver (the engine's `sources`); a toggle for one that does not is off.
let sources = { camera: true, microphone: true };
// Device trouble by kind (camera, microphone, speaker): {text, detail}; a device in use again clears its own.
let trouble = {};
// The banner text the user put away: it stays away until what it says changes.
let dismissed = "";
const transfers = new Map(); // id → {li, bar}
let onEnded = () => {};
let ended = false; // the current call has ended (its end can arrive before the command's reply)
let active = false; // a call is starting or under way: a second start (a link opened twice) must not touch it

/** Whether a call is starting or under way. */
export const callActive = () => active;
// What kind of call: a room (its code), a contact we ring (their name), or a ring we answered.
let call = { kind: "room", title: "", code: "" };
let connectedAt = null;
let timer = null;
// The address book, for "Add someone" and for naming who was rung.
let contacts = [];
const contactName = (code) => contacts.find((c) => c.code === code)?.name ?? code;

export const framesDrawnCount = stage.framesDrawnCount;

/** Start a call with `command` (`join_room`, `call_contact`, `accept_call`) and show the call screen;
 * `title`: the room's code or the person's name. */
export async function startCall(command, args, title) {
  if (active) return;
  active = true;
  // Reset first: the call's first events can arrive before the command's reply.
  $("messages").replaceChildren();
  transfers.clear();
  for (const id of ["sas", "call-state", "stats", "people", "timer", "quality-text"]) $(id).textContent = "";
  $("stats-panel").replaceChildren();
  $("quality").classList.add("hidden"); // no figures yet
  stage.resetStage();
  // What the device check chose to send from the start (an answer sends both).
  micOn = args.microphone ?? true;
  camOn = args.camera ?? true;
  sources = { camera: true, microphone: true };
  trouble = {};
  dismissed = "";
  connectedAt = null;
  clearInterval(timer);
  call = { kind: command === "join_room" ? "room" : command === "call_contact" ? "contact" : "answer", title, code: "" };
  renderBanner();
  updateToggles();
  renderHeading();
  $("add-panel").classList.add("hidden");
  $("share-panel").classList.add("hidden");
  showSharing(null);
  showChat(true); // a new call starts with the chat shown and nothing unread
  $("add-someone").classList.toggle("hidden", call.kind !== "room");
  invoke("contacts").then((c) => (contacts = c)).catch(() => {});
  ended = false;
  let reply;
  try {
    reply = await invoke(command, { ...args, frames: stage.remoteChannel(), preview: previewChannel($("preview")) });
  } catch (e) {
    active = false;
    throw e;
  }
  if (typeof reply === "string") call.code = reply;
  call.title = call.code || title;
  renderHeading();
  if (!ended) show("call");
  reportPreviewSize();
}

/** The heading (the room's code, or who we call) and the invite card while nobody else is here. */
function renderHeading() {
  const names = stage.names();
  $("call-title").textContent = call.title;
  $("call-title").classList.toggle("code", call.kind === "room");
  $("call-title").title = call.kind === "room" ? "Room code" : "";
  $("people").textContent = names.length && (call.kind === "room" || names[0] !== call.title) ? peopleLine(names) : "";
  $("people").classList.toggle("hidden", !$("people").textContent);
  const alone = stage.count() === 0;
  $("invite").classList.toggle("hidden", !alone || ended);
  // While the card says what is awaited, the heading need not.
  $("call-state").classList.toggle("hidden", alone && !ended);
  $("invite-room").classList.toggle("hidden", call.kind !== "room");
  if (call.kind === "contact") $("invite-title").textContent = `Calling ${call.title}…`;
  else if (call.kind === "answer") $("invite-title").textContent = `Connecting to ${call.title}…`;
  else $("invite-title").textContent = "Waiting for others to join";
  if (call.kind === "room" && call.code && $("invite-code").textContent !== call.code) {
    $("invite-code").textContent = call.code;
    $("invite-link").textContent = "";
    $("invite-copy-link").classList.add("hidden");
    invoke("guest_link", { code: call.code })
      .then((link) => {
        $("invite-link").textContent = link ?? "";
        $("invite-copy-link").classList.toggle("hidden", !link);
      })
      .catch(() => {});
  }
}
stage.whenChanged(renderHeading);

/** Tell the app how many device pixels the self-view shows: the preview is not sent larger. */
function reportPreviewSize() {
  const dpr = window.devicePixelRatio || 1;
  const p = $("preview");
  if (p.clientWidth > 0) {
    invoke("set_video_size", { preview: true, width: Math.round(p.clientWidth * dpr), height: Math.round(p.clientHeight * dpr) });
  }
}

/** Called with the end sentence when a call ends. */
export function whenEnded(f) {
  onEnded = f;
}

function label(id, text) {
  $(id).querySelector(".label").textContent = text;
}

function updateToggles() {
  $("mic").disabled = !sources.microphone;
  $("mic").setAttribute("aria-pressed", String(micOn && sources.microphone));
  $("mic").classList.toggle("off", !micOn || !sources.microphone);
  label("mic", !sources.microphone ? "No microphone" : micOn ? "Mic on" : "Mic off");
  $("cam").disabled = !sources.camera;
  $("cam").setAttribute("aria-pressed", String(camOn && sources.camera));
  $("cam").classList.toggle("off", !camOn || !sources.camera);
  label("cam", !sources.camera ? "No camera" : camOn ? "Camera on" : "Camera off");
  // No empty grey box where a self-view would be: a word says why there is no picture.
  const wasHidden = $("preview").classList.contains("hidden");
  $("preview").classList.toggle("hidden", !camOn || !sources.camera);
  $("self-off").textContent = !sources.camera ? "No camera" : "Camera off";
  $("self-off").classList.toggle("hidden", camOn && sources.camera);
  // Shown again: say its size, so the camera is not sent to it at full size.
  if (wasHidden && !$("preview").classList.contains("hidden")) reportPreviewSize();
}

/** Device trouble in one line over the stage: what the others get (camera, microphone), then any device's
 * own trouble not already said that way (a speaker that went away). The system's words are the tooltip. */
function renderBanner() {
  const covered = { camera: !sources.camera, microphone: !sources.microphone };
  const own = Object.entries(trouble).filter(([kind]) => !covered[kind]).map(([, t]) => t);
  const text = [sourcesMessage(sources), ...own.map((t) => t.text)].filter(Boolean).join(" ");
  $("device-banner-text").textContent = text;
  $("device-banner").title = Object.values(trouble).map((t) => t.detail).filter(Boolean).join("\n");
  $("device-banner").classList.toggle("hidden", !text || text === dismissed);
}

/** A line in the chat: someone's message (`from`: their name, "" for ours), with the time it was sent. */
function addMessage(text, mine, from = "", at = Date.now()) {
  const li = document.createElement("li");
  if (mine) li.className = "mine";
  const head = document.createElement("div");
  head.className = "meta";
  const time = new Date(at);
  head.textContent = `${mine ? "You" : from || "Them"} · ${String(time.getHours()).padStart(2, "0")}:${String(time.getMinutes()).padStart(2, "0")}`;
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  li.append(head, body);
  append(li);
  return li;
}

/** A line from the app, not from a person (someone left, a file, a device): set apart from the chat. */
function addNotice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  append(li);
  return li;
}

/** Into the chat, the newest in view; counted as unread while the chat is hidden. */
function append(li) {
  const list = $("messages");
  list.append(li);
  list.scrollTop = list.scrollHeight;
  if (chatHidden() && !li.classList.contains("mine")) {
    unread++;
    $("unread").textContent = String(unread);
    $("unread").classList.remove("hidden");
  }
}

const chatHidden = () => $("call").classList.contains("chat-hidden");
let unread = 0;

function showChat(on) {
  $("call").classList.toggle("chat-hidden", !on);
  $("chat-toggle").setAttribute("aria-pressed", String(on));
  if (on) {
    unread = 0;
    $("unread").classList.add("hidden");
    $("messages").scrollTop = $("messages").scrollHeight;
  }
}

function smallButton(text, onClick) {
  const b = document.createElement("button");
  b.className = "small";
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

function onFile(e) {
  // Incoming transfers are per sender (two people may use the same id).
  const key = e.outgoing ? `${e.id}o` : `${e.id}i${e.peer ?? ""}`;
  let t = transfers.get(key);
  if (!t && !e.outgoing && e.peer === undefined) {
    // Events after the offer do not name the sender: the entry of that id's offer.
    for (const [k, v] of transfers) if (k.startsWith(`${e.id}i`)) t = v;
  }
  if (e.file === "offered") {
    // Nothing is saved until the user says so.
    const li = addNotice(`${stage.nameOf(e.peer) ?? "The other side"} offers ${e.name} (${formatBytes(e.size)})`);
    li.classList.add("file");
    const offer = [
      smallButton("Accept", () => invoke("accept_file", { peer: e.peer, id: e.id }).catch(() => {})),
      smallButton("Decline", () => invoke("decline_file", { peer: e.peer, id: e.id }).catch(() => {})),
    ];
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(...offer);
    li.append(actions);
    transfers.set(key, { li, name: e.name, offer: [actions], from: stage.nameOf(e.peer) ?? "the other side" });
    return;
  }
  if (e.file === "started") {
    let li;
    if (t?.offer) {
      t.offer.forEach((b) => b.remove());
      li = t.li;
      li.firstChild.textContent = `Receiving ${e.name} (${formatBytes(e.size)})`;
    } else {
      li = addNotice(`${e.outgoing ? "Sending" : "Receiving"} ${e.name} (${formatBytes(e.size)})`);
      li.classList.add("file");
    }
    const bar = document.createElement("progress");
    bar.max = e.size || 1;
    bar.value = 0;
    li.append(bar);
    const cancel = smallButton("Cancel", () => invoke("cancel_file", { id: e.id }).catch(() => {}));
    li.append(cancel);
    t = { li, bar, cancel, name: e.name };
    transfers.set(key, t);
    return;
  }
  if (!t && e.file === "declined") {
    // An offer turned down before it was shown (too large, too many at once, no space).
    addNotice(`A file the other side offered was not taken (${e.reason})`).classList.add("file");
    return;
  }
  if (!t) return;
  const done = (text) => {
    t.bar?.remove();
    t.cancel?.remove();
    t.offer?.forEach((b) => b.remove());
    t.li.firstChild.textContent = text;
  };
  switch (e.file) {
    case "progress":
      t.bar.value = e.bytes;
      break;
    case "completed":
      done(e.outgoing ? `Sent ${t.name} ✓` : `Saved ${t.name} ✓`);
      if (!e.outgoing && e.path) {
        // Where it is, whole, in the tooltip; the buttons open it or its folder.
        t.li.title = e.path;
        const actions = document.createElement("div");
        actions.className = "actions";
        actions.append(
          smallButton("Open", () => invoke("open_received", { path: e.path }).catch((err) => addNotice(String(err)))),
          smallButton("Show in folder", () => invoke("show_received", { path: e.path }).catch((err) => addNotice(String(err)))),
        );
        t.li.append(actions);
      }
      break;
    case "cancelled":
      done(`${t.name}: ${e.outgoing && e.by_peer ? "not taken or cancelled by the other person" : `cancelled${e.by_peer ? " by the other person" : ""}`}`);
      break;
    case "declined":
      // Declined here (the button) says so plainly; anything else is why it was not taken.
      done(e.reason === "declined" && t.from ? `You declined ${t.name} from ${t.from}.` : `${t.name}: not taken (${e.reason})`);
      break;
    case "failed":
      done(`${t.name}: failed (${e.reason})`);
      break;
  }
}

// Devices that go away, come back or are missing: kept by kind for the banner. A device in use again (the
// chosen one back after a fallback) takes its own trouble away, and only its own.
listen("device", ({ payload: n }) => {
  const kind = n.kind ?? "device";
  if (n.device === "using") delete trouble[kind];
  else if (deviceMessage(n)) trouble[kind] = { text: deviceMessage(n), detail: n.message ?? "" };
  renderBanner();
});
$("device-banner-close").addEventListener("click", () => {
  dismissed = $("device-banner-text").textContent;
  renderBanner();
});

listen("engine", ({ payload: e }) => {
  switch (e.event) {
    case "state":
      $("call-state").textContent = stateLabel(e);
      if (e.state === "connected" && connectedAt === null) startTimer();
      if (e.state === "ended") {
        ended = true;
        active = false;
        clearInterval(timer);
        if (stage.isFullScreen()) stage.setFullScreen(false);
        onEnded(stateLabel(e), e.reason);
      }
      break;
    case "participant_joined":
      stage.participantJoined(e);
      break;
    case "participant_left":
      stage.participantLeft(e);
      break;
    case "verification":
      $("sas").textContent = `Verify: ${e.sas}`;
      break;
    case "chat":
      addMessage(e.text, e.outgoing, stage.nameOf(e.peer), e.sent_at_ms).dataset.id = e.id;
      break;
    case "remote_media":
      stage.remoteMedia(e);
      break;
    case "share":
      if (!e.peer) {
        showSharing(e.sharing ? e.what ?? "your screen" : null);
        break;
      }
      stage.share(e);
      addNotice(`${stage.nameOf(e.peer) ?? "Someone"} ${e.sharing ? "is sharing their screen" : "stopped sharing"}.`);
      break;
    case "chat_delivered":
      document.querySelector(`#messages li[data-id="${CSS.escape(e.id)}"]`)?.classList.add("delivered");
      break;
    case "invite":
      addNotice(inviteMessage(e, contactName(e.code)));
      break;
    case "file":
      onFile(e);
      break;
    case "stats": {
      $("stats").textContent = statsLine(e);
      $("quality").dataset.quality = quality(e);
      $("quality").classList.remove("hidden");
      $("quality-text").textContent = qualityLabel(quality(e));
      stage.levels(e.participants);
      const rows = statsRows(e).flatMap(([k, v]) => {
        const dt = document.createElement("dt");
        dt.textContent = k;
        const dd = document.createElement("dd");
        dd.textContent = v;
        return [dt, dd];
      });
      $("stats-panel").replaceChildren(...rows);
      break;
    }
    case "sources": {
      sources = { camera: e.camera, microphone: e.microphone };
      updateToggles();
      renderBanner();
      break;
    }
    case "notice":
      addNotice(e.message);
      break;
  }
});

/** The call timer in the heading, from the first time the call connected. */
function startTimer() {
  connectedAt = Date.now();
  const tick = () => ($("timer").textContent = formatDuration(Math.floor((Date.now() - connectedAt) / 1000)));
  tick();
  timer = setInterval(tick, 1000);
}

$("hangup").addEventListener("click", () => invoke("hang_up"));
// In-call pickers: the same listing as the settings; a change applies at once, for this call.
$("devices").addEventListener("click", async () => {
  const panel = $("device-panel");
  if (panel.classList.toggle("hidden")) return;
  const settings = await invoke("get_settings");
  const ids = { camera: "call-camera", microphone: "call-microphone", speaker: "call-speaker" };
  const chosen = { camera: $(ids.camera).value || settings.camera, microphone: $(ids.microphone).value || settings.microphone,
    speaker: $(ids.speaker).value || settings.speaker };
  const problems = await loadDevices(ids, chosen);
  if (problems) addNotice(problems);
});
$("device-panel").addEventListener("change", async (ev) => {
  const select = ev.target;
  try {
    await invoke("switch_device", { kind: select.dataset.kind, device: select.value });
  } catch (e) {
    addNotice(`Could not switch: ${e}`);
  }
});
$("quality").addEventListener("click", () => $("stats-panel").classList.toggle("hidden"));
$("mic").addEventListener("click", async () => { micOn = !micOn; updateToggles(); await invoke("set_microphone", { on: micOn }); });
$("cam").addEventListener("click", async () => { camOn = !camOn; updateToggles(); await invoke("set_camera", { on: camOn }); });
$("send-file").addEventListener("click", () => invoke("send_file", {}).catch((e) => addNotice(`Not sent: ${e}`)));
$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  try {
    await invoke("send_chat", { text });
    $("chat-text").value = "";
  } catch (e) {
    addNotice(`Not sent: ${e}`);
  }
});
$("chat-toggle").addEventListener("click", () => showChat(chatHidden()));
// "Add someone": ring a contact into this room call.
$("add-someone").addEventListener("click", async () => {
  const panel = $("add-panel");
  if (panel.classList.toggle("hidden")) return;
  contacts = await invoke("contacts").catch(() => contacts);
  const items = contacts.map((c) =>
    item(`${c.name}${c.online === false ? " (not online)" : ""}`, [["Ring", async (ev) => {
      ev.target.disabled = true;
      try {
        await invoke("invite_contact", { code: c.code });
        $("add-panel").classList.add("hidden"); // how it goes is said in the chat
      } catch (e) {
        addNotice(String(e));
        ev.target.disabled = false;
      }
    }]]),
  );
  $("add-list").replaceChildren(...(items.length ? items : [item("No contacts yet: add them in the lobby with their personal code.")]));
});
/** Our own share: the bar that says what everyone sees, and the Share control pressed (`what`: null, none). */
function showSharing(what) {
  $("sharing-bar").classList.toggle("hidden", !what);
  $("sharing-what").textContent = what ? `You are sharing ${what}` : "";
  $("share").setAttribute("aria-pressed", String(!!what));
  $("share").querySelector(".label").textContent = what ? "Stop share" : "Share";
}
const sharing = () => $("share").getAttribute("aria-pressed") === "true";
const stopSharing = () => invoke("stop_share").catch((e) => addNotice(`Could not stop sharing: ${e}`));
$("sharing-stop").addEventListener("click", stopSharing);
$("share").addEventListener("click", async () => {
  if (sharing()) return stopSharing();
  const panel = $("share-panel");
  if (panel.classList.toggle("hidden")) return;
  let list;
  try {
    list = await invoke("share_targets");
  } catch (e) {
    panel.classList.add("hidden");
    addNotice(`Cannot share: ${e}`);
    return;
  }
  const items = list.map((s) =>
    item(shareLabel(s), [["Share", async (ev) => {
      ev.target.disabled = true;
      try {
        await invoke("start_share", { target: s.target, sound: $("share-sound").checked });
        panel.classList.add("hidden");
      } catch (e) {
        addNotice(`Cannot share: ${e}`);
        ev.target.disabled = false;
      }
    }]]),
  );
  $("share-list").replaceChildren(...items);
});
$("full-screen").addEventListener("click", () => stage.setFullScreen(!stage.isFullScreen()));
$("invite-copy-code").addEventListener("click", () => copy($("invite-code").textContent, "The room code"));
$("invite-copy-link").addEventListener("click", () => copy($("invite-link").textContent, "The guest link"));
document.addEventListener("keydown", (ev) => {
  if ($("call").classList.contains("hidden")) return;
  if (ev.key === "F11") { ev.preventDefault(); stage.setFullScreen(!stage.isFullScreen()); return; }
  if (ev.key === "Escape" && stage.isFullScreen()) { stage.setFullScreen(false); return; }
  // Single keys only when typing goes nowhere, without modifiers (Ctrl+V pastes), once per press.
  if (["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName) || ev.repeat) return;
  if (ev.key === "e" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $("hangup").click(); return; }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "m") $("mic").click();
  if (ev.key === "v") $("cam").click();
});

// The self-view moves: dragged anywhere, it settles in the nearest corner of the stage.
$("self").addEventListener("pointerdown", (ev) => {
  const self = $("self"), box = document.querySelector(".stage").getBoundingClientRect();
  const r = self.getBoundingClientRect();
  const dx = ev.clientX - r.left, dy = ev.clientY - r.top;
  self.setPointerCapture(ev.pointerId);
  self.classList.add("dragging");
  const move = (m) => {
    self.style.left = `${Math.min(Math.max(m.clientX - dx - box.left, 0), box.width - r.width)}px`;
    self.style.top = `${Math.min(Math.max(m.clientY - dy - box.top, 0), box.height - r.height)}px`;
  };
  const up = (u) => {
    self.removeEventListener("pointermove", move);
    self.removeEventListener("pointerup", up);
    self.classList.remove("dragging");
    self.style.left = self.style.top = "";
    const right = u.clientX - box.left > box.width / 2, bottom = u.clientY - box.top > box.height / 2;
    self.dataset.corner = `${bottom ? "b" : "t"}${right ? "r" : "l"}`;
  };
  self.addEventListener("pointermove", move);
  self.addEventListener("pointerup", up);
});
