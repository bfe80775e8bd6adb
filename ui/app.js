// The UI: presentation only. The Rust side (src-tauri over the call engine) does the work.
import { $, invoke, listen, show, current, banner } from "./dom.js";
import { startCall, whenEnded, framesDrawnCount, callActive } from "./call.js";
import {
  initLobby, say, showInfo, showPresence, setDoNotDisturb, refreshContacts, refreshRecents, isContact, addContact,
} from "./lobby.js";
import { openSettings, applyTheme } from "./settings.js";
import { checkBeforeJoining, checking } from "./check.js";
import { isNormalEnd } from "./logic.js";

window.tincan = { framesDrawn: framesDrawnCount }; // read by the end-to-end tests
// Script errors reach the app's log (a webview's console is invisible in the field).
window.addEventListener("error", (ev) => invoke("ui_log", { message: `error: ${ev.message} at ${ev.filename}:${ev.lineno}` }));
window.addEventListener("unhandledrejection", (ev) => invoke("ui_log", { message: `unhandled: ${ev.reason}` }));

let incoming = null;
let starting = false; // a call is being prepared: the device check, or its start
async function lobby(message, info = false) {
  show("lobby");
  say(message, info);
  showInfo(await invoke("app_info"));
  refreshRecents();
}

/** Start a call (`link`: a link someone else made asks for it). Our own calls go through the device check
 * first; an answer to a ring does not. */
async function attempt(command, args, title, link = false) {
  // One call at a time (a link can be handed over twice, a button clicked twice); a ring on screen is
  // answered or declined first.
  if (starting || callActive() || checking()) return;
  if (command !== "accept_call" && current() === "incoming") return;
  starting = true;
  try {
    say("");
    if (command !== "accept_call") {
      const heading = command === "join_room" ? [`Join room ${title}`, "Join now"] : [`Call ${title}`, "Call now"];
      const sending = await checkBeforeJoining(...heading, link);
      // Gone back, or something else took the screen (a ring): no call.
      if (!sending) {
        if (current() === "check") await lobby();
        return;
      }
      args = { ...args, ...sending };
    }
    try {
      await startCall(command, args, title);
    } catch (e) {
      await lobby(String(e));
    }
  } finally {
    starting = false;
  }
}

initLobby({
  join: (code, create) => attempt("join_room", { code, create }, code),
  callContact: (code, name) => attempt("call_contact", { code }, name),
});
whenEnded((sentence, reason) => {
  // The code of a call that happened is in the recent calls; the field is for the next one.
  $("join-code").value = "";
  lobby(sentence, isNormalEnd(reason));
});

function ringing(ring) {
  incoming = ring;
  // Who it is, as far as anything proves it (a contact, a proven code, or only a name someone typed).
  $("incoming-name").textContent = ring.heading ?? ring.from_name;
  // A ring that proves no code is only a name someone typed: it must not look like a contact's.
  $("incoming").classList.toggle("unproven", !ring.from_code);
  $("incoming-code").textContent = ring.from_code ?? "Unverified: no code proves who this is.";
  // A caller whose code is proven but who is not a contact can be kept (a name someone typed cannot).
  $("incoming-add").classList.toggle("hidden", !ring.from_code || isContact(ring.from_code));
  show("incoming");
}

listen("incoming", ({ payload }) => ringing(payload));
listen("ring_ended", ({ payload }) => {
  if (incoming?.call === payload.call && current() === "incoming") {
    incoming = null;
    lobby(payload.reason === "declined" ? "" : `Missed call (${payload.reason}).`, true);
  }
});
listen("presence", ({ payload }) => showPresence(payload));
listen("recents_changed", () => refreshRecents());
listen("contacts_changed", () => refreshContacts());
listen("settings_changed", ({ payload }) => {
  applyTheme(payload.theme);
  setDoNotDisturb(payload.do_not_disturb);
});
// Something to open: taken from the app (once), so a window made for it and a live one do not both act.
listen("open", async () => openTarget(await invoke("pending_target")));

$("incoming-add").addEventListener("click", async () => {
  if (!incoming?.from_code) return;
  await addContact(incoming.from_name, incoming.from_code);
  $("incoming-add").classList.add("hidden");
});
$("accept").addEventListener("click", () => incoming && attempt("accept_call", { call: incoming.call }, incoming.from_name));
$("decline").addEventListener("click", async () => {
  if (!incoming) return;
  await invoke("decline_call", { call: incoming.call }).catch(() => {});
  incoming = null;
  lobby("");
});
$("open-settings").addEventListener("click", () => openSettings(() => lobby()).then(() => show("settings")));
$("welcome-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const name = $("welcome-name").value.trim();
    if (!name) {
      $("welcome-error").textContent = "Please type your name: it is what the others see.";
      return;
    }
    const settings = await invoke("get_settings");
    await invoke("save_settings", { settings: { ...settings, display_name: name } });
    lobby();
  } catch (e) {
    $("welcome-error").textContent = String(e);
  }
});

/** A deep link, command line, tray or notification request: `{screen: "join"|"call", code, link}`,
 * `{screen: "join_form"}` or `{screen: "answer", call}`. A `tincan://` link (`link`) joins or rings only once
 * the user says so on the device check: its author does not get their camera or voice. */
function openTarget(t) {
  // The ring's notification said Accept: as the incoming screen's button does.
  if (t?.screen === "answer") {
    if (incoming?.call === t.call && current() === "incoming") $("accept").click();
    return;
  }
  if (!t || current() === "call" || current() === "welcome") return;
  if (t.screen === "join" && t.code) attempt("join_room", { code: t.code, create: true }, t.code, t.link);
  else if (t.screen === "call" && t.code) attempt("call_contact", { code: t.code }, t.code, t.link);
  else if (t.screen === "join_form") { lobby(); $("join-code").focus(); }
}

async function start() {
  const info = await invoke("app_info");
  // Taken whatever the screen: a link that cannot be followed now (first start, a ring) is dropped rather
  // than acted on at some later, unrelated start.
  const target = await invoke("pending_target");
  const settings = await invoke("get_settings");
  applyTheme(settings.theme);
  setDoNotDisturb(settings.do_not_disturb);
  for (const n of info.notices) banner(n, 0);
  refreshContacts();
  if (!info.display_name) {
    show("welcome");
    $("welcome-name").focus();
  } else if (info.incoming) {
    await lobby();
    ringing(info.incoming);
    // An Accept from the ring's notification (which made this window); a link waits for no ring.
    if (target?.screen === "answer") openTarget(target);
  } else {
    await lobby();
    openTarget(target);
  }
  window.tincan.ready = true; // every handler is attached (tests wait for this before acting)
}
start();
