// The device check before joining: the camera's picture, the microphone's level, a test sound, the
// pickers, and whether to join with the microphone and camera on. Devices open only here, when the user
// has asked to join, and close when they join or go back.
import { $, invoke, listen, show, current, whenLeaving } from "./dom.js";
import { previewChannel } from "./render.js";
import { loadDevices, NONE_FOUND } from "./settings.js";
import { deviceMessage } from "./logic.js";

const CAMERA_ON = "Join with camera on", MICROPHONE_ON = "Join with microphone on";
const IDS = { camera: "check-camera", microphone: "check-microphone", speaker: "check-speaker" };
let answer = null; // resolves the open check's promise
let settings = null;
let notes = {}; // device trouble by kind
let heard = false; // the microphone delivered sound in this check
// The last start_check under way: closing waits for it, so a check opened late cannot stay open.
let opening = Promise.resolve();

/** Whether the check is on screen, waiting for the user. */
export const checking = () => answer !== null;

/** A picture: there is a camera, whatever the listing said. */
function pictureShown() {
  if ($("check-cam").disabled) toggle("check-cam", "check-cam-label", true, CAMERA_ON, "");
  $("check-video").classList.add("live");
}

function renderNotes() {
  $("check-note").textContent = Object.values(notes).join(" ");
}

function open() {
  $("check-video").classList.remove("live");
  $("check-level").style.width = "0";
  opening = opening.then(async () => {
    try {
      await invoke("start_check", { preview: previewChannel($("check-preview"), pictureShown) });
    } catch (e) {
      $("check-note").textContent = String(e);
    }
    const p = $("check-preview");
    const dpr = window.devicePixelRatio || 1;
    invoke("set_video_size", { preview: true, width: Math.round(p.clientWidth * dpr), height: Math.round(p.clientHeight * dpr) });
  });
  return opening;
}

/** Close the check's devices once any start under way is done. */
function close() {
  opening = opening.then(() => invoke("stop_check").catch(() => {}));
  return opening;
}

/** A toggle for a device kind that has none: off, disabled, and saying so. */
function toggle(id, label, found, on, off) {
  $(id).checked = found;
  $(id).disabled = !found;
  $(label).textContent = found ? on : off;
  $(label).parentElement.classList.toggle("disabled", !found);
}

/** Ask before a call: `title` heads the screen, `action` is the button that starts it (`link`: a link
 * someone else made asked for it, so the check shows even if the user chose to join at once; otherwise
 * that choice skips the check and this answers at once). Resolves to `{microphone, camera}` (what to send from the start), or
 * `null` if the user went back or something else took the screen. */
export async function checkBeforeJoining(title, action, link = false) {
  settings = await invoke("get_settings");
  if (settings.skip_device_check && !link) return { microphone: true, camera: true };
  if (answer) answer(null);
  notes = {};
  heard = false;
  renderNotes();
  $("check-title").textContent = title;
  $("check-join").textContent = action;
  $("check-subtitle").textContent = link
    ? "A link asks to start this call. Nothing is sent until you join."
    : "Check your camera and sound before you join.";
  $("check-skip").checked = false;
  $("check-skip-label").classList.toggle("hidden", link);
  $("check-video-off").textContent = "Camera starting…";
  $("check-video").classList.remove("live");
  toggle("check-cam", "check-cam-label", true, CAMERA_ON, "");
  toggle("check-mic", "check-mic-label", true, MICROPHONE_ON, "");
  const result = new Promise((resolve) => (answer = resolve));
  show("check");
  $("check-join").focus();
  const problems = await loadDevices(IDS, settings);
  const none = (id) => $(id).options.length === 1 && $(id).value === "" && $(id).options[0].textContent === NONE_FOUND;
  const [noCamera, noMicrophone] = [none(IDS.camera), none(IDS.microphone)];
  if (!$("check-video").classList.contains("live")) {
    toggle("check-cam", "check-cam-label", !noCamera, CAMERA_ON, "No camera: the others see your name");
  }
  if (!heard) {
    toggle("check-mic", "check-mic-label", !noMicrophone, MICROPHONE_ON, "No microphone: the others can't hear you");
    $("check-level-note").textContent = noMicrophone ? "No microphone found." : "Say something: the bar should move.";
  }
  if (noCamera) $("check-video-off").textContent = "No camera found";
  if (problems) notes.listing = problems;
  renderNotes();
  if (checking()) await open();
  return result;
}

/** Close the check (another screen took its place: a ring, the tray's Join room…): its devices close, the
 * waiting join gets `null`. */
function cancelCheck() {
  if (!answer) return;
  const a = answer;
  answer = null;
  a(null);
  close();
}

async function finish(join) {
  if (!answer) return;
  const a = answer;
  answer = null;
  if (!join) {
    close();
    return a(null);
  }
  // A device that is missing is not turned off: one plugged in during the call is taken into use.
  const on = (id) => $(id).disabled || $(id).checked;
  const sending = { microphone: on("check-mic"), camera: on("check-cam") };
  // The devices close before the call opens them again.
  await close();
  if ($("check-skip").checked) await save({ skip_device_check: true });
  // A ring took the screen meanwhile: it comes first.
  a(current() === "check" ? sending : null);
}

async function save(changes) {
  try {
    settings = await invoke("save_settings", { settings: { ...settings, ...changes } });
  } catch (e) {
    $("check-note").textContent = `Not saved: ${e}`;
  }
}

for (const id of Object.values(IDS)) {
  $(id).addEventListener("change", async (ev) => {
    // The choice is the settings' (the call uses it, and the next calls); the check opens it now.
    await save({ [ev.target.dataset.kind]: ev.target.value });
    delete notes[ev.target.dataset.kind];
    renderNotes();
    if (checking()) await open();
  });
}
$("check-tone").addEventListener("click", () => {
  invoke("play_test_sound").catch((e) => ($("check-note").textContent = String(e)));
});
whenLeaving("check", cancelCheck);
$("check-join").addEventListener("click", () => finish(true));
$("check-back").addEventListener("click", () => finish(false));
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && current() === "check") finish(false);
});

listen("microphone_level", ({ payload }) => {
  $("check-level").style.width = `${Math.round(payload.level * 100)}%`;
  // Sound: there is a microphone, whatever the listing said.
  if (payload.level > 0) heard = true;
  if (heard && $("check-mic").disabled) {
    toggle("check-mic", "check-mic-label", true, MICROPHONE_ON, "");
    $("check-level-note").textContent = "Say something: the bar should move.";
  }
});
listen("device", ({ payload: n }) => {
  if (!checking()) return;
  const kind = n.kind ?? "device";
  // The picture's place says it; not twice.
  if (kind === "camera" && n.device === "absent" && !$("check-video").classList.contains("live")) {
    $("check-video-off").textContent = "No camera found";
    return;
  }
  if (n.device === "using") delete notes[kind];
  else if (deviceMessage(n)) notes[kind] = deviceMessage(n);
  renderNotes();
});
