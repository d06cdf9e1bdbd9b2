// A plugin install's hold on OpenClaw's plugin lifecycle lease, as
// `openclaw plugins install` run beside the gateway (`kubectl exec`) holds it:
// a process of the gateway's container takes the lease through OpenClaw's own
// withPluginLifecycleLease (a state_leases row) and keeps it until it is
// killed, with the gateway, when the container's pid 1 dies. Says so in
// /tmp/kill-point-plugin.held ({ok, pid, target}; `target`: the OAuth refresh
// lock's path, which the test takes again to time the recovery).
// (Taken inside the gateway process itself, by a second load of OpenClaw's
// modules, the lease fails: "store unavailable (storage-error)".)
import { writeFileSync } from "node:fs";
import { loadDistFunction } from "/opt/tests/lockapi.mjs";

const install = "/opt/openclaw";
const say = (what) => writeFileSync("/tmp/kill-point-plugin.held", `${JSON.stringify({ pid: process.pid, ...what })}\n`);
// Alive until killed: a promise that never settles keeps no process alive,
// and an exit would end the lease's hold.
setInterval(() => {}, 1 << 30);
try {
  const { fn: resolveOAuthRefreshLockPath } = await loadDistFunction(install, "resolveOAuthRefreshLockPath");
  const { fn: withPluginLifecycleLease } = await loadDistFunction(install, "withPluginLifecycleLease");
  const target = resolveOAuthRefreshLockPath("openai-codex", "openai-codex:default");
  await withPluginLifecycleLease({}, () => {
    say({ ok: true, target });
    return new Promise(() => {});
  });
} catch (err) {
  say({ ok: false, message: String(err?.message ?? err) });
  process.exit(1);
}
