// One real acquire with OpenClaw's own stale rules and a short retry budget,
// from the normal PID namespace (where pid 1 is alive). Prints the outcome.
// Usage: node acquire.mjs INSTALL_DIR TARGET
import { loadFileLock, SHORT_BUDGET } from "./lockapi.mjs";

const [installDir, target] = process.argv.slice(2);
const { acquireFileLock } = await loadFileLock(installDir);
const started = performance.now();
try {
  const lock = await acquireFileLock(target, SHORT_BUDGET);
  const elapsedMs = performance.now() - started;
  await lock.release();
  console.log(JSON.stringify({ ok: true, elapsedMs }));
} catch (err) {
  const elapsedMs = performance.now() - started;
  console.log(JSON.stringify({ ok: false, code: err.code ?? null, message: err.message, elapsedMs }));
}
