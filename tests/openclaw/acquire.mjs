// One real acquire with OpenClaw's own stale rules and a short retry budget,
// from the normal PID namespace (where pid 1 is alive). Prints the outcome.
// Usage: node acquire.mjs INSTALL_DIR TARGET [STALE_RECOVERY]
// STALE_RECOVERY (e.g. fail-closed, as OpenClaw's provider-auth-persistence
// locks use since 2026.9) is passed through on releases that support it.
import { loadFileLock, SHORT_BUDGET } from "./lockapi.mjs";

const [installDir, target, staleRecovery] = process.argv.slice(2);
const { acquireFileLock } = await loadFileLock(installDir);
const options = staleRecovery ? { ...SHORT_BUDGET, staleRecovery } : SHORT_BUDGET;
const started = performance.now();
try {
  const lock = await acquireFileLock(target, options);
  const elapsedMs = performance.now() - started;
  await lock.release();
  console.log(JSON.stringify({ ok: true, elapsedMs, pid: process.pid }));
} catch (err) {
  const elapsedMs = performance.now() - started;
  console.log(JSON.stringify({ ok: false, code: err.code ?? null, message: err.message, elapsedMs, pid: process.pid }));
}
