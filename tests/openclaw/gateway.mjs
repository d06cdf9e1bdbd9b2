// OpenClaw's own gateway lock (`acquireGatewayLock`, 2026.8.1 and later: the
// SQLite coordinators and lock files under <state>/tmp/openclaw-<uid>/), as
// the gateway takes it at start-up, plus, in the same process, the SDK file
// locks a refresh in flight would hold. Needs node:sqlite (Node >= 24.16 for
// 2026.9.6): run it with the Node install.sh puts beside the releases.
// OpenClaw's environment (OPENCLAW_STATE_DIR, HOME) is the caller's.
// Usage: node gateway.mjs INSTALL_DIR [SDK_LOCK_TARGET...]
// Prints one JSON line once it holds everything, or failed:
//   {ok, pid, elapsedMs, startedAt, doneAt (epoch ms), lockPath, stateLockPath, held, starttime}
//   {ok: false, name, message, elapsedMs, startedAt, doneAt}
// Then holds until killed; HOLD_MS set: holds that long, releases, exits.
// WAIT_FOR_GO set: first prints {ready}, and starts the acquire only on a
// line on stdin (so the acquire's start is timed, not Node's start-up).
// DIE_AT=guard-taken: freezes (for the caller to SIGKILL) the moment it made
// a `.reclaim` guard while reclaiming a predecessor's lock, and prints
// {pid, guard}: what a gateway OOM-killed mid-reclaim leaves.
// DIE_AT=before-write: the same, between creating its first lock file and
// writing the payload (prints {pid, point}): a torn gateway lock.
import { readFileSync } from "node:fs";
import fsp from "node:fs/promises";
import { freezeOrDie, loadDistFunction, loadFileLock, SHORT_BUDGET } from "./lockapi.mjs";

if (process.env.DIE_AT === "before-write") {
  // Between creating a lock file and writing its payload (a torn lock).
  const probe = await fsp.open(process.execPath);
  const proto = Object.getPrototypeOf(probe);
  await probe.close();
  const writeFile = proto.writeFile;
  proto.writeFile = async function (data, ...rest) {
    if (typeof data === "string" && /^\{\s*"pid"/.test(data)) {
      process.stdout.write(`${JSON.stringify({ pid: process.pid, point: "before-write" })}\n`);
      freezeOrDie();
    }
    return writeFile.call(this, data, ...rest);
  };
}
if (process.env.DIE_AT === "guard-taken") {
  const mkdir = fsp.mkdir;
  fsp.mkdir = async function (p, ...rest) {
    const r = await mkdir.call(this, p, ...rest);
    if (String(p).endsWith(".reclaim")) {
      process.stdout.write(`${JSON.stringify({ pid: process.pid, guard: String(p) })}\n`);
      freezeOrDie();
    }
    return r;
  };
}

const [installDir, ...targets] = process.argv.slice(2);
const { fn: acquireGatewayLock } = await loadDistFunction(installDir, "acquireGatewayLock");
const { acquireFileLock } = await loadFileLock(installDir);
const starttime = Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[19]);
if (process.env.WAIT_FOR_GO) {
  // Loaded and ready: start the acquire the moment the caller says so.
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
  await new Promise((resolve) => process.stdin.once("data", resolve));
}
const startedAt = Date.now();
const started = performance.now();
let gateway;
try {
  // No options: the gateway's own defaults (5 s for each lock file, up to
  // 300 s for the lifecycle coordinator in /tmp).
  gateway = await acquireGatewayLock({ env: process.env });
} catch (err) {
  const elapsedMs = performance.now() - started;
  process.stdout.write(`${JSON.stringify({ ok: false, pid: process.pid, name: err.name, message: err.message, cause: err.cause?.message, elapsedMs, startedAt, doneAt: Date.now() })}\n`);
  process.exit(0);
}
const elapsedMs = performance.now() - started;
const doneAt = Date.now();
const locks = [];
for (const target of targets) locks.push(await acquireFileLock(target, SHORT_BUDGET));
process.stdout.write(
  `${JSON.stringify({
    ok: true,
    pid: process.pid,
    elapsedMs,
    startedAt,
    doneAt,
    lockPath: gateway.lockPath,
    stateLockPath: gateway.stateLockPath,
    held: locks.map((l) => l.lockPath),
    starttime,
  })}\n`,
);
if (process.env.HOLD_MS === undefined) {
  setInterval(() => {}, 1 << 30);
} else {
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.HOLD_MS)));
  for (const l of locks) await l.release();
  await gateway.release();
  process.stdout.write(`${JSON.stringify({ released: true })}\n`);
  process.exit(0);
}
