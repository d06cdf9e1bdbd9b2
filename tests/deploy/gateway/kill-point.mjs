// Loaded into the real gateway with NODE_OPTIONS=--import (pid 1 of its
// container, as in any pod): once the file /tmp/kill-point-oauth appears, the
// gateway process takes OpenClaw's OAuth refresh lock for a profile through
// OpenClaw's own file-lock API (the target from the release's own
// resolveOAuthRefreshLockPath), as a refresh in flight holds it, and says so
// in /tmp/kill-point-oauth.held. The test then SIGKILLs the gateway: the lock
// stays behind exactly as a killed refresh leaves it. The trigger is removed
// first, so a restart in place (same /tmp) does not take the lock again.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { loadDistFunction, loadFileLock, SHORT_BUDGET } from "/opt/tests/lockapi.mjs";

const trigger = "/tmp/kill-point-oauth";
const install = "/opt/openclaw";
// NODE_OPTIONS reaches every node of the container, the test's `podman exec`
// probes too: only the gateway, pid 1, takes the lock.
const timer = setInterval(async () => {
  if (process.pid !== 1) return clearInterval(timer);
  if (!existsSync(trigger)) return;
  clearInterval(timer);
  rmSync(trigger, { force: true });
  try {
    const { fn: resolveOAuthRefreshLockPath } = await loadDistFunction(install, "resolveOAuthRefreshLockPath");
    const { acquireFileLock } = await loadFileLock(install);
    const target = resolveOAuthRefreshLockPath("openai-codex", "openai-codex:default");
    const lock = await acquireFileLock(target, SHORT_BUDGET);
    writeFileSync(`${trigger}.held`, `${JSON.stringify({ ok: true, pid: process.pid, target, lockPath: lock.lockPath })}\n`);
  } catch (err) {
    writeFileSync(`${trigger}.held`, `${JSON.stringify({ ok: false, message: String(err?.message ?? err) })}\n`);
  }
}, 100);
timer.unref();
