// The lobby: your code, rooms, contacts, recent calls.
import { $, invoke, item, copy, banner } from "./dom.js";
import { normalizeRoomCode, normalizePersonalCode, recentLabel, presenceLabel, offlineSentence, collapseRecents } from "./logic.js";

let actions = { join: () => {}, callContact: () => {} };

/** `join(code, create)` and `callContact(code, name)` start calls. */
export function initLobby(a) {
  actions = a;
}

/** A sentence under the lobby's heading: an error, or (`info`) plain news such as how the last call ended. */
export function say(message, info = false) {
  $("lobby-error").textContent = message ?? "";
  $("lobby-error").classList.toggle("info", info);
  $("lobby-error").setAttribute("role", info ? "status" : "alert");
}

export function showInfo(info) {
  $("my-code").textContent = info.code;
  $("my-link").textContent = info.link;
  $("server-info").textContent = info.embedded_server
    ? `Tincan ${info.version} · built-in server, ${info.server_url}`
    : `Tincan ${info.version} · server ${info.server_url}`;
  showPresence({ status: info.status, detail: info.status === presence.status ? presence.detail : "" });
}

let presence = { status: "offline", detail: "" };
let doNotDisturb = false;

/** Reachability as the phone says it, with do not disturb over "Online"; why, in words, when offline. */
export function showPresence(p) {
  presence = p;
  const dnd = doNotDisturb && p.status === "online";
  $("presence").dataset.status = dnd ? "dnd" : p.status;
  $("presence").textContent = dnd ? "Do not disturb" : presenceLabel(p.status);
  $("presence").title = dnd ? "Calls do not ring; callers hear you are not available. Change it in Settings or the tray." : p.detail ?? "";
  $("presence-detail").textContent = p.status === "offline" ? offlineSentence(p.detail) : "";
}

export function setDoNotDisturb(on) {
  doNotDisturb = on;
  showPresence(presence);
}

/** The personal codes in the address book (recent callers who are not get an "Add" button). */
let knownCodes = new Set();

export async function refreshContacts() {
  const contacts = await invoke("contacts");
  const before = knownCodes;
  knownCodes = new Set(contacts.map((c) => c.code));
  if ([...knownCodes].some((c) => !before.has(c)) || [...before].some((c) => !knownCodes.has(c))) refreshRecents();
  $("contacts").replaceChildren(
    ...contacts.map((c) =>
      item(`${c.online === true ? "● " : c.online === false ? "○ " : ""}${c.name} · ${c.code}`, [
        ["Call", () => actions.callContact(c.code, c.name)],
        ["Edit", () => editContact(c)],
        ["Delete", async () => { await invoke("delete_contact", { id: c.id }); refreshContacts(); }],
      ]),
    ),
  );
  if (!contacts.length) $("contacts").replaceChildren(item("No contacts yet: add a name and their personal code."));
}

/** Whether `code` is in the address book. */
export const isContact = (code) => knownCodes.has(code);

/** Put `name` (their proven personal `code`) in the address book. */
export async function addContact(name, code) {
  try {
    await invoke("save_contact", { id: null, name, code });
    banner(`${name} is in your contacts.`, 2500);
    refreshContacts();
  } catch (e) {
    say(String(e));
  }
}

export async function refreshRecents() {
  const calls = collapseRecents(await invoke("recent_calls"));
  $("recents").replaceChildren(
    ...calls.slice(0, 20).map((c) => {
      const again = c.code ? [["Call", () => actions.callContact(c.code, c.name)]] : c.room ? [["Join", () => actions.join(c.room, true)]] : [];
      if (c.code && !knownCodes.has(c.code)) again.push(["Add", () => addContact(c.name, c.code)]);
      return item(recentLabel(c), again, c.direction === "missed" ? "missed" : "");
    }),
  );
  if (!calls.length) $("recents").replaceChildren(item("No calls yet."));
}

function editContact(c) {
  $("contact-id").value = c?.id ?? "";
  $("contact-name").value = c?.name ?? "";
  $("contact-code").value = c?.code ?? "";
  $("contact-save").textContent = c ? "Save" : "Add";
  $("contact-cancel").classList.toggle("hidden", !c);
  if (c) $("contact-name").focus();
}

$("contact-cancel").addEventListener("click", () => editContact(null));
$("contact-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const code = normalizePersonalCode($("contact-code").value) ?? $("contact-code").value;
  try {
    await invoke("save_contact", { id: $("contact-id").value || null, name: $("contact-name").value, code });
    editContact(null);
    say("");
    refreshContacts();
  } catch (e) {
    say(String(e));
  }
});

$("create").addEventListener("click", async () => actions.join(await invoke("new_room"), true));
$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const code = normalizeRoomCode($("join-code").value);
  if (!code) return say("A room code has 12 letters and digits, like 7KQ2-M9XD-4HTB.");
  actions.join(code, false);
});

$("copy-code").addEventListener("click", () => copy($("my-code").textContent, "Your code"));
$("copy-link").addEventListener("click", () => copy($("my-link").textContent, "Your link"));
