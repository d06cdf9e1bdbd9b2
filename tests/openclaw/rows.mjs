// OpenClaw's own code that leaves SQLite rows behind (2026.9.x), as the
// gateway runs it: `acquireGatewayLock` with the options `runGatewayLoop`
// passes (a foreground listener on a port: it publishes the gateway-owner
// lease in <state>/state/openclaw.sqlite), and the session usage refresh lock
// (`prepareSessionCostUsageRefreshLock(agent).acquire()`, a row in the
// agent's openclaw-agent.sqlite). Needs node:sqlite: run it with the Node
// install.sh puts beside the releases. OPENCLAW_STATE_DIR is the caller's.
// Usage: node rows.mjs INSTALL_DIR KIND... (gateway; restart: the gateway lock
// taken and released, the process living on; usage: agent "main";
// oauth:PATH: an OAuth refresh lock, OpenClaw's SDK file lock, at PATH)
// Takes each in turn and prints one JSON line {pid, host, gateway: {ok,
// elapsedMs, message}, usage: {acquired}, oauth: {ok, message}}. Then holds what it got until
// killed; RELEASE set: releases it all and exits.
import { hostname } from "node:os";
import { SHORT_BUDGET, loadDistFunction, loadFileLock } from "./lockapi.mjs";

const [installDir, ...kinds] = process.argv.slice(2);
const print = (o) => process.stdout.write(`${JSON.stringify({ pid: process.pid, host: hostname(), ...o })}\n`);
const releases = [];
const got = {};
for (const kind of kinds) {
  if (kind === "gateway") {
    const { fn: acquireGatewayLock } = await loadDistFunction(installDir, "acquireGatewayLock");
    const started = performance.now();
    try {
      const lock = await acquireGatewayLock({ env: process.env, port: 18789, listenerMode: "foreground", supervisor: null });
      releases.push(() => lock.release());
      got.gateway = { ok: true, elapsedMs: performance.now() - started };
    } catch (err) {
      got.gateway = { ok: false, message: err.message, elapsedMs: performance.now() - started };
    }
  } else if (kind === "restart") {
    // The in-process restart window: runGatewayLoop releases the whole
    // gateway lock (lease row, lock files, coordinators) and lives on, as
    // pid 1, until it takes it again.
    const { fn: acquireGatewayLock } = await loadDistFunction(installDir, "acquireGatewayLock");
    const lock = await acquireGatewayLock({ env: process.env, port: 18789, listenerMode: "foreground", supervisor: null });
    await lock.release();
    got.restart = { released: true };
  } else if (kind === "usage") {
    const { fn: prepare } = await loadDistFunction(installDir, "prepareSessionCostUsageRefreshLock");
    const lock = prepare("main");
    const acquired = await lock.acquire();
    if (acquired) releases.push(() => lock.release());
    got.usage = { acquired };
  } else if (kind.startsWith("oauth:")) {
    // An OAuth refresh lock (OpenClaw's SDK file lock) at that path.
    const { acquireFileLock } = await loadFileLock(installDir);
    try {
      const lock = await acquireFileLock(kind.slice("oauth:".length), SHORT_BUDGET);
      releases.push(() => lock.release());
      got.oauth = { ok: true };
    } catch (err) {
      got.oauth = { ok: false, message: err.message };
    }
  } else {
    throw new Error(`rows.mjs: unknown kind ${kind}`);
  }
}
print(got);
if (process.env.RELEASE) {
  for (const release of releases.reverse()) await release();
  process.exit(0);
}
setInterval(() => {}, 1 << 30);
