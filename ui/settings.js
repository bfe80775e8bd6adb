// The settings screen and the theme.
import { $, invoke, banner } from "./dom.js";

let saved = null;
let back = () => {};

export function applyTheme(theme) {
  if (theme === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.dataset.theme = theme;
}

// Fill a device picker: the system default first, then each device; a saved choice that is not connected
// now stays selectable (it is used again when it is back).
export function fillDevices(select, devices, chosen, defaultLabel) {
  select.replaceChildren();
  const add = (value, label) => {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    select.append(o);
  };
  add("", defaultLabel);
  for (const d of devices) add(d.value, d.label);
  if (chosen && !devices.some((d) => d.value === chosen)) add(chosen, `${chosen} (not connected)`);
  select.value = chosen;
}

/** What a picker offers when there is no device of its kind. */
export const NONE_FOUND = "None found";

// The pickers of the settings, the device check and the call screen: one listing.
export async function loadDevices(ids, chosen) {
  const d = await invoke("list_devices").catch((e) => ({ cameras: [], microphones: [], speakers: [], problems: [String(e)] }));
  const audio = (list) => list.filter((x) => !x.is_default).map((x) => ({ value: x.id, label: x.name }));
  // An empty listing says so, rather than offering a default that does not exist.
  fillDevices($(ids.camera), d.cameras.map((c) => ({ value: c.name, label: c.name })), chosen.camera,
    d.cameras.length ? "First camera" : NONE_FOUND);
  fillDevices($(ids.microphone), audio(d.microphones), chosen.microphone, d.microphones.length ? "System default" : NONE_FOUND);
  fillDevices($(ids.speaker), audio(d.speakers), chosen.speaker, d.speakers.length ? "System default" : NONE_FOUND);
  return d.problems.join(" ");
}

export async function openSettings(onBack) {
  back = onBack;
  saved = await invoke("get_settings");
  const ice = saved.ice_servers[0] ?? { urls: [""], username: "", credential: "" };
  $("set-name").value = saved.display_name;
  $("set-server").value = saved.server_url;
  $("set-ice-url").value = ice.urls[0] ?? "";
  $("set-ice-user").value = ice.username ?? "";
  $("set-ice-pass").value = ice.credential ?? "";
  $("set-theme").value = saved.theme;
  $("set-login").checked = await invoke("autostart_enabled").catch(() => saved.start_at_login);
  $("set-hidden").checked = saved.start_hidden;
  $("set-dnd").checked = saved.do_not_disturb;
  $("set-check").checked = !saved.skip_device_check;
  $("settings-error").textContent = "";
  for (const f of ["display_name", "server_url", "ice_servers"]) $(`err-${f}`).textContent = "";
  $("set-devices-note").textContent =
    await loadDevices({ camera: "set-camera", microphone: "set-microphone", speaker: "set-speaker" }, saved);
}

$("settings-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const url = $("set-ice-url").value.trim();
  const settings = {
    ...saved,
    display_name: $("set-name").value,
    server_url: $("set-server").value,
    ice_servers: url ? [{ urls: [url], username: $("set-ice-user").value || null, credential: $("set-ice-pass").value || null }] : [],
    theme: $("set-theme").value,
    start_at_login: $("set-login").checked,
    start_hidden: $("set-hidden").checked,
    do_not_disturb: $("set-dnd").checked,
    skip_device_check: !$("set-check").checked,
    camera: $("set-camera").value,
    microphone: $("set-microphone").value,
    speaker: $("set-speaker").value,
  };
  // Each problem next to its field; nothing is saved while there is one.
  const fields = { display_name: "set-name", server_url: "set-server", ice_servers: "set-ice-url" };
  for (const f of Object.keys(fields)) $(`err-${f}`).textContent = "";
  $("settings-error").textContent = "";
  try {
    const [, problems] = await invoke("check_settings", { settings });
    for (const p of problems) {
      const el = $(`err-${p.field}`);
      el.textContent = el.textContent ? `${el.textContent} ${p.message}` : p.message;
    }
    if (problems.length) {
      $(fields[problems[0].field]).focus();
      return;
    }
    saved = await invoke("save_settings", { settings });
    applyTheme(saved.theme);
    // Said on the screen it returns to (a screen change puts the banner away).
    await back();
    banner("Settings saved.", 2500);
  } catch (e) {
    $("settings-error").textContent = String(e);
  }
});
$("close-settings").addEventListener("click", () => back());
