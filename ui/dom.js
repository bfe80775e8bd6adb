// Small DOM helpers shared by the screens.
export const $ = (id) => document.getElementById(id);
export const { invoke, Channel } = window.__TAURI__.core;
export const { listen } = window.__TAURI__.event;

const SCREENS = ["welcome", "lobby", "incoming", "check", "settings", "call"];

const leaving = {};
/** Call `f` whenever `screen` gives way to another. */
export function whenLeaving(screen, f) {
  leaving[screen] = f;
}

export function show(screen) {
  // A confirmation speaks of the screen it came from; a warning stays until clicked away, except over the
  // call, whose controls it would cover.
  const from = current();
  if (from && from !== screen) leaving[from]?.();
  const warning = $("banner").classList.contains("warning");
  if (from !== screen && (!warning || screen === "call")) $("banner").classList.add("hidden");
  for (const s of SCREENS) $(s).classList.toggle("hidden", s !== screen);
}

export function current() {
  return SCREENS.find((s) => !$(s).classList.contains("hidden"));
}

/** A list item with text and optional buttons `[label, onClick]`. */
export function item(text, buttons = [], className = "") {
  const li = document.createElement("li");
  if (className) li.className = className;
  const span = document.createElement("span");
  span.className = "grow";
  span.textContent = text;
  span.title = text;
  li.append(span);
  for (const [label, onClick] of buttons) {
    const b = document.createElement("button");
    b.className = "small";
    b.textContent = label;
    b.addEventListener("click", onClick);
    li.append(b);
  }
  return li;
}

let bannerTimer = null;
/** A passing message at the top (copied, saved, notices). */
export function banner(text, ms = 6000) {
  $("banner").textContent = text;
  // Something to act on (shown until clicked away) looks like a warning; a confirmation is quiet.
  $("banner").classList.toggle("warning", !ms);
  $("banner").classList.remove("hidden");
  clearTimeout(bannerTimer);
  if (ms) bannerTimer = setTimeout(() => $("banner").classList.add("hidden"), ms);
}

// A click puts the banner away.
$("banner").addEventListener("click", () => $("banner").classList.add("hidden"));

/** Copy `text` to the clipboard and say so; where the clipboard is refused, show it to copy by hand. */
export async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    banner(`${what} copied.`, 2500);
  } catch {
    banner(`Select and copy it: ${text}`);
  }
}
