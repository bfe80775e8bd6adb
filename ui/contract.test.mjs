// The UI keeps to the app's contract (ui/contract.json, written from src-tauri/src/contract.rs and checked
// there): every command it invokes and every event it listens for exists, and it hears every event.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";

const dir = new URL(".", import.meta.url);
const contract = JSON.parse(readFileSync(new URL("contract.json", dir), "utf8"));
const sources = readdirSync(dir)
  .filter((f) => f.endsWith(".js"))
  .map((f) => [f, readFileSync(new URL(f, dir), "utf8")]);

function uses(pattern) {
  const found = new Map();
  for (const [file, text] of sources) for (const m of text.matchAll(pattern)) found.set(m[1], file);
  return found;
}

test("every command the UI invokes is one the app has", () => {
  // invoke("x", …), and the call starters that pass a command on: attempt("x", …), startCall("x", …).
  const invoked = uses(/\b(?:invoke|attempt|startCall)\(\s*"([a-z_]+)"/g);
  assert.ok(invoked.size > 20, `found ${invoked.size}`);
  for (const [name, file] of invoked) assert.ok(contract.commands.includes(name), `${file} invokes "${name}", which the app does not have`);
  const unused = contract.commands.filter((c) => !invoked.has(c));
  assert.deepEqual(unused, [], "commands the UI never invokes (dead, or invoked in a way this test cannot see)");
});

test("every event the UI listens for is one the app sends, and it hears them all", () => {
  const heard = uses(/\blisten\(\s*"([a-z_]+)"/g);
  for (const [name, file] of heard) assert.ok(contract.events.includes(name), `${file} listens for "${name}", which the app never sends`);
  assert.deepEqual(contract.events.filter((e) => !heard.has(e)), [], "events nobody in the UI hears");
});

/** The text of the block that starts at `opening` (which ends with "{") in `text`, braces balanced. */
function block(text, opening) {
  const start = text.indexOf(opening);
  assert.ok(start >= 0, `no ${opening}`);
  let depth = 0;
  for (let i = start + opening.length - 1; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(start, i + 1);
  }
  throw new Error(`${opening} is not closed`);
}

const source = (name) => sources.find(([f]) => f === name)[1];
const all = (text, pattern) => [...text.matchAll(pattern)].map((m) => m[1]);

test("the engine's events the UI handles are the engine's, and it handles them all", () => {
  const cases = all(block(source("call.js"), "switch (e.event) {"), /case "([a-z_]+)"/g);
  for (const c of cases) assert.ok(contract.engine.events.includes(c), `call.js handles engine event "${c}", which the engine never sends`);
  // data_ready: the UI has nothing to show for it (chat and files wait on the engine).
  assert.deepEqual(contract.engine.events.filter((e) => !cases.includes(e)), ["data_ready"], "engine events the UI ignores");
});

test("every file event kind is one the engine sends, and each is handled", () => {
  const onFile = block(source("call.js"), "function onFile(e) {");
  const kinds = new Set([...all(onFile, /e\.file === "([a-z_]+)"/g), ...all(block(onFile, "switch (e.file) {"), /case "([a-z_]+)"/g)]);
  for (const k of kinds) assert.ok(contract.engine.files.includes(k), `call.js handles file event "${k}", which the engine never sends`);
  assert.deepEqual(contract.engine.files.filter((k) => !kinds.has(k)), [], "file events the UI ignores");
});

test("the call states and end reasons the UI words are the engine's, all of them", () => {
  const logic = source("logic.js");
  const keys = (name) => all(block(logic, `const ${name} = {`), /^\s+([a-z_]+):/gm);
  assert.deepEqual(keys("STATE_LABELS").sort(), contract.engine.states.filter((s) => s !== "ended").sort());
  assert.deepEqual(keys("END_LABELS").sort(), [...contract.engine.end_reasons].sort());
  const normal = all(logic.match(/const NORMAL_ENDS = new Set\(\[([^\]]*)\]/)[0], /"([a-z_]+)"/g);
  for (const r of normal) assert.ok(contract.engine.end_reasons.includes(r), `NORMAL_ENDS names "${r}", which is no end reason`);
});
