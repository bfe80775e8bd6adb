// The UI: presentation only. The Rust side (src-tauri over the call engine) does the work.
import { normalizeRoomCode, stateLabel, statsLine, quality } from "./logic.js";
import { I420Renderer } from "./render.js";

const { invoke, Channel } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;
const $ = (id) => document.getElementById(id);

let renderer = null;
let micOn = true, camOn = true;
let framesDrawn = 0;
window.tincan = { framesDrawn: () => framesDrawn }; // read by the end-to-end tests
// Script errors reach the app's log (a webview's console is invisible in the field).
window.addEventListener("error", (ev) => invoke("ui_log", { message: `error: ${ev.message} at ${ev.filename}:${ev.lineno}` }));
window.addEventListener("unhandledrejection", (ev) => invoke("ui_log", { message: `unhandled: ${ev.reason}` }));

function show(screen) {
  $("lobby").classList.toggle("hidden", screen !== "lobby");
  $("call").classList.toggle("hidden", screen !== "call");
}

function say(message) {
  $("lobby-error").textContent = message ?? "";
}

async function join(code, create) {
  say("");
  const frames = new Channel();
  frames.onmessage = (buffer) => {
    try {
      renderer ??= new I420Renderer($("remote"));
      renderer.draw(buffer);
      framesDrawn++;
    } catch (e) {
      console.error(e);
    }
    invoke("frame_shown");
  };
  // Reset the call screen before joining: the call's first events can arrive before the reply.
  $("messages").replaceChildren();
  $("sas").textContent = "";
  $("call-state").textContent = "";
  $("stats").textContent = "";
  micOn = camOn = true;
  updateToggles();
  try {
    const room = await invoke("join_room", { code, create, frames });
    $("room-code").textContent = room;
    show("call");
  } catch (e) {
    say(String(e));
  }
}

function updateToggles() {
  $("mic").setAttribute("aria-pressed", String(micOn));
  $("mic").textContent = micOn ? "Mic on" : "Mic off";
  $("cam").setAttribute("aria-pressed", String(camOn));
  $("cam").textContent = camOn ? "Camera on" : "Camera off";
}

function addMessage(text, mine) {
  const li = document.createElement("li");
  li.textContent = text;
  if (mine) li.className = "mine";
  $("messages").append(li);
  li.scrollIntoView();
}

listen("engine", ({ payload: e }) => {
  switch (e.event) {
    case "state":
      $("call-state").textContent = stateLabel(e);
      if (e.state === "ended") {
        show("lobby");
        say(stateLabel(e));
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
    case "stats":
      $("stats").textContent = statsLine(e);
      $("stats").dataset.quality = quality(e);
      break;
    case "notice":
      console.info(e.message);
      break;
  }
});

$("create").addEventListener("click", async () => join(await invoke("new_room"), true));
$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const code = normalizeRoomCode($("join-code").value);
  if (!code) return say("A room code has 12 letters and digits, like 7KQ2-M9XD-4HTB.");
  join(code, false);
});
$("hangup").addEventListener("click", () => invoke("hang_up"));
$("mic").addEventListener("click", async () => { micOn = !micOn; updateToggles(); await invoke("set_microphone", { on: micOn }); });
$("cam").addEventListener("click", async () => { camOn = !camOn; updateToggles(); await invoke("set_camera", { on: camOn }); });
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

invoke("app_info").then((info) => {
  $("server-info").textContent = info.embedded_server
    ? `Tincan ${info.version} · built-in server (${info.server_url})`
    : `Tincan ${info.version} · server ${info.server_url}`;
});
show("lobby");
invoke("startup_room").then((code) => code && join(code, true));
window.tincan.ready = true; // every handler is attached (tests wait for this before acting)
