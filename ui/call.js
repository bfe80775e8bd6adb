// The call screen: remote video and preview, controls, chat and files, stats.
import { $, invoke, Channel, listen, show } from "./dom.js";
import { stateLabel, statsLine, statsRows, quality, formatBytes, deviceMessage, sourcesMessage } from "./logic.js";
import { I420Renderer } from "./render.js";
import { loadDevices } from "./settings.js";

let micOn = true, camOn = true;
// Whether our camera and microphone deliver (the engine's `sources`); a toggle for one that does not is off.
let sources = { camera: true, microphone: true };
// Device trouble by kind (camera, microphone, speaker): {text, detail}; a device in use again clears its own.
let trouble = {};
// The banner text the user put away: it stays away until what it says changes.
let dismissed = "";
let framesDrawn = 0;
const renderers = {};
const transfers = new Map(); // id → {li, bar}
let onEnded = () => {};
let ended = false; // the current call has ended (its end can arrive before the command's reply)

export const framesDrawnCount = () => framesDrawn;

function videoChannel(canvasId, preview) {
  const channel = new Channel();
  channel.onmessage = (buffer) => {
    try {
      renderers[canvasId] ??= new I420Renderer($(canvasId));
      renderers[canvasId].draw(buffer);
      if (!preview) framesDrawn++;
    } catch (e) {
      console.error(e);
    }
    invoke("frame_shown", { preview });
  };
  return channel;
}

/** Start a call with `command` (`join_room`, `call_contact`, `accept_call`) and show the call screen. */
export async function startCall(command, args, title) {
  // Reset first: the call's first events can arrive before the command's reply.
  $("messages").replaceChildren();
  transfers.clear();
  for (const id of ["sas", "call-state", "stats"]) $(id).textContent = "";
  $("stats-panel").replaceChildren();
  $("remote-muted").classList.add("hidden");
  micOn = camOn = true;
  sources = { camera: true, microphone: true };
  trouble = {};
  dismissed = "";
  renderBanner();
  updateToggles();
  ended = false;
  const reply = await invoke(command, { ...args, frames: videoChannel("remote", false), preview: videoChannel("preview", true) });
  $("room-code").textContent = typeof reply === "string" ? reply : title;
  if (!ended) show("call");
  reportSizes();
}

/** Tell the app how many device pixels the videos are shown at: it sends nothing bigger. */
function reportSizes() {
  const dpr = window.devicePixelRatio || 1;
  const stage = document.querySelector(".stage");
  if (stage.clientWidth > 0) {
    invoke("set_video_size", { preview: false, width: Math.round(stage.clientWidth * dpr), height: Math.round(stage.clientHeight * dpr) });
  }
  const p = $("preview");
  if (p.clientWidth > 0) {
    invoke("set_video_size", { preview: true, width: Math.round(p.clientWidth * dpr), height: Math.round(p.clientHeight * dpr) });
  }
}
new ResizeObserver(() => reportSizes()).observe(document.querySelector(".stage"));

/** Called with the end sentence when a call ends. */
export function whenEnded(f) {
  onEnded = f;
}

function updateToggles() {
  $("mic").disabled = !sources.microphone;
  $("mic").setAttribute("aria-pressed", String(micOn && sources.microphone));
  $("mic").textContent = !sources.microphone ? "No microphone" : micOn ? "Mic on" : "Mic off";
  $("cam").disabled = !sources.camera;
  $("cam").setAttribute("aria-pressed", String(camOn && sources.camera));
  $("cam").textContent = !sources.camera ? "No camera" : camOn ? "Camera on" : "Camera off";
  // No empty grey box where a self-view would be.
  const wasHidden = $("preview").classList.contains("hidden");
  $("preview").classList.toggle("hidden", !camOn || !sources.camera);
  // Shown again: say its size, so the camera is not sent to it at full size.
  if (wasHidden && !$("preview").classList.contains("hidden")) reportSizes();
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

function addMessage(text, mine) {
  const li = document.createElement("li");
  li.textContent = text;
  if (mine) li.className = "mine";
  $("messages").append(li);
  li.scrollIntoView();
  return li;
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
    const li = addMessage(`The other side offers ${e.name} (${formatBytes(e.size)})`, false);
    li.classList.add("file");
    const offer = [
      smallButton("Accept", () => invoke("accept_file", { peer: e.peer, id: e.id }).catch(() => {})),
      smallButton("Decline", () => invoke("decline_file", { peer: e.peer, id: e.id }).catch(() => {})),
    ];
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(...offer);
    li.append(actions);
    transfers.set(key, { li, name: e.name, offer: [actions] });
    return;
  }
  if (e.file === "started") {
    let li;
    if (t?.offer) {
      t.offer.forEach((b) => b.remove());
      li = t.li;
      li.firstChild.textContent = `Receiving ${e.name} (${formatBytes(e.size)})`;
    } else {
      li = addMessage(`${e.outgoing ? "Sending" : "Receiving"} ${e.name} (${formatBytes(e.size)})`, e.outgoing);
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
    addMessage(`A file the other side offered was not taken (${e.reason})`, false).classList.add("file");
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
      done(e.outgoing ? `Sent ${t.name} ✓` : `Saved ${t.name} to ${e.path} ✓`);
      break;
    case "cancelled":
      done(`${t.name}: ${e.outgoing && e.by_peer ? "not taken or cancelled by the other person" : `cancelled${e.by_peer ? " by the other person" : ""}`}`);
      break;
    case "declined":
      done(`${t.name}: not taken (${e.reason})`);
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
      if (e.state === "ended") {
        ended = true;
        onEnded(stateLabel(e), e.reason);
      }
      break;
    case "verification":
      $("sas").textContent = `Verify: ${e.sas}`;
      break;
    case "chat":
      addMessage(e.text, e.outgoing);
      break;
    case "remote_media":
      $("remote-muted").classList.toggle("hidden", e.video);
      break;
    case "file":
      onFile(e);
      break;
    case "stats": {
      $("stats").textContent = statsLine(e);
      $("quality").dataset.quality = quality(e);
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
      addMessage(e.message, false);
      break;
  }
});

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
  if (problems) addMessage(problems, false);
});
$("device-panel").addEventListener("change", async (ev) => {
  const select = ev.target;
  try {
    await invoke("switch_device", { kind: select.dataset.kind, device: select.value });
  } catch (e) {
    addMessage(`Could not switch: ${e}`, false);
  }
});
$("quality").addEventListener("click", () => $("stats-panel").classList.toggle("hidden"));
$("mic").addEventListener("click", async () => { micOn = !micOn; updateToggles(); await invoke("set_microphone", { on: micOn }); });
$("cam").addEventListener("click", async () => { camOn = !camOn; updateToggles(); await invoke("set_camera", { on: camOn }); });
$("send-file").addEventListener("click", () => invoke("send_file", {}).catch((e) => addMessage(`Not sent: ${e}`, true)));
$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  try {
    await invoke("send_chat", { text });
    $("chat-text").value = "";
  } catch (e) {
    addMessage(`Not sent: ${e}`, true);
  }
});
document.addEventListener("keydown", (ev) => {
  if ($("call").classList.contains("hidden") || ev.target.tagName === "INPUT") return;
  if (ev.key === "m") $("mic").click();
  if (ev.key === "v") $("cam").click();
  if (ev.key === "e" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $("hangup").click(); }
});
