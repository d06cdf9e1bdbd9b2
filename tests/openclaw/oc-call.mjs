// Calls one function of OpenClaw's bundled dist by its source name
// (loadDistFunction in lockapi.mjs), in its own process: OpenClaw's modules
// start timers that would keep a test process alive. The environment
// (OPENCLAW_STATE_DIR, ...) is OpenClaw's, as given.
// Usage: node oc-call.mjs INSTALL_DIR FUNCTION JSON_ARGS_ARRAY
// Prints {ok, value, elapsedMs} or {ok: false, code, message, elapsedMs}. A
// returned function (a lock's release) is called at once: {released: true}.
import { loadDistFunction } from "./lockapi.mjs";

const [installDir, name, argsJson] = process.argv.slice(2);
const { fn, file } = await loadDistFunction(installDir, name);
const started = performance.now();
let out;
try {
  let value = await fn(...JSON.parse(argsJson ?? "[]"));
  const elapsedMs = performance.now() - started;
  if (typeof value === "function") {
    await value();
    value = { released: true };
  }
  out = { ok: true, value, elapsedMs };
} catch (err) {
  out = { ok: false, code: err.code ?? null, message: err.message, elapsedMs: performance.now() - started };
}
process.stdout.write(`${JSON.stringify({ ...out, file })}\n`);
process.exit(0);
