// OpenClaw's gateway start (2026.9.x `acquireGatewayLock` with the options
// `runGatewayLoop` passes: a foreground listener on a port, so it writes the
// gateway-owner lease row in <state>/state/openclaw.sqlite *before* it takes
// the coordinator on the volume), for startwindow.test.mjs. Needs
// node:sqlite: run it with the Node install.sh puts beside the releases.
// OPENCLAW_STATE_DIR is the caller's.
// Usage: node startwindow-gateway.mjs INSTALL_DIR
// Prints one JSON line once it holds the gateway lock, or failed:
//   {ok: true, pid, host, startedAt, doneAt, elapsedMs}
//   {ok: false, pid, host, name, message, cause, startedAt, doneAt, elapsedMs}
// (then exits). Holding, each line "row" on stdin prints the gateway-owner
// row as it stands, read with node:sqlite from this process:
//   {row: {owner, host, pid, createdAt, expiresAt, heartbeatAt} | null, at}
// Until SIGKILLed (as pid 1 of a PID namespace, only from outside).
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { DatabaseSync } from "node:sqlite";
import { loadDistFunction } from "./lockapi.mjs";

const [installDir] = process.argv.slice(2);
const print = (o) => process.stdout.write(`${JSON.stringify({ pid: process.pid, host: hostname(), ...o })}\n`);
const { fn: acquireGatewayLock } = await loadDistFunction(installDir, "acquireGatewayLock");
const startedAt = Date.now();
const started = performance.now();
try {
  await acquireGatewayLock({ env: process.env, port: 18789, listenerMode: "foreground", supervisor: null });
} catch (err) {
  print({ ok: false, name: err.name, message: err.message, cause: err.cause?.message, startedAt, doneAt: Date.now(), elapsedMs: performance.now() - started });
  process.exit(0);
}
print({ ok: true, startedAt, doneAt: Date.now(), elapsedMs: performance.now() - started });

const database = path.join(process.env.OPENCLAW_STATE_DIR, "state", "openclaw.sqlite");
function ownerRow() {
  if (!existsSync(database)) return null;
  // A writer (this gateway's heartbeat, another pod's start) may hold the
  // lock for a moment: wait for it, as OpenClaw's own connections do.
  const db = new DatabaseSync(database, { readOnly: true, timeout: 5000 });
  try {
    const r = db
      .prepare("SELECT owner, payload_json, created_at, expires_at, heartbeat_at FROM state_leases WHERE scope = 'gateway-owner' AND lease_key = 'global'")
      .get();
    if (!r) return null;
    const payload = JSON.parse(r.payload_json);
    return { owner: r.owner, host: payload.owner.host, pid: payload.owner.pid, createdAt: r.created_at, expiresAt: r.expires_at, heartbeatAt: r.heartbeat_at };
  } finally {
    db.close();
  }
}
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "row") {
    try {
      process.stdout.write(`${JSON.stringify({ row: ownerRow(), at: Date.now() })}\n`);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ row: null, error: err.message, at: Date.now() })}\n`);
    }
  }
});
setInterval(() => {}, 1 << 30);
