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
