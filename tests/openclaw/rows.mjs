// OpenClaw's own code that leaves SQLite rows behind (2026.9.x), as the
// gateway runs it: `acquireGatewayLock` with the options `runGatewayLoop`
// passes (a foreground listener on a port: it publishes the gateway-owner
// lease in <state>/state/openclaw.sqlite), and the session usage refresh lock
// (`prepareSessionCostUsageRefreshLock(agent).acquire()`, a row in the
// agent's openclaw-agent.sqlite). Needs node:sqlite: run it with the Node
// install.sh puts beside the releases. OPENCLAW_STATE_DIR is the caller's.
// Usage: node rows.mjs INSTALL_DIR gateway|usage [AGENT_ID]
// Prints one JSON line: gateway: {ok, pid, host, elapsedMs} or {ok: false,
// message, elapsedMs}; usage: {acquired, pid}. Then holds what it got until
// killed; RELEASE set: releases it and exits.
import { hostname } from "node:os";
import { loadDistFunction } from "./lockapi.mjs";

const [installDir, what, agentId = "main"] = process.argv.slice(2);
const print = (o) => process.stdout.write(`${JSON.stringify({ pid: process.pid, host: hostname(), ...o })}\n`);
let release;
if (what === "gateway") {
  const { fn: acquireGatewayLock } = await loadDistFunction(installDir, "acquireGatewayLock");
  const started = performance.now();
  try {
    const lock = await acquireGatewayLock({ env: process.env, port: 18789, listenerMode: "foreground", supervisor: null });
    print({ ok: true, elapsedMs: performance.now() - started });
    release = () => lock.release();
  } catch (err) {
    print({ ok: false, message: err.message, elapsedMs: performance.now() - started });
    process.exit(0);
  }
} else if (what === "usage") {
  const { fn: prepare } = await loadDistFunction(installDir, "prepareSessionCostUsageRefreshLock");
  const lock = prepare(agentId);
  const acquired = await lock.acquire();
  print({ acquired });
  if (!acquired) process.exit(0);
  release = () => lock.release();
} else {
  throw new Error(`rows.mjs: unknown kind ${what}`);
}
if (process.env.RELEASE) {
  await release();
  process.exit(0);
}
setInterval(() => {}, 1 << 30);
