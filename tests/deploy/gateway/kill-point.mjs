// Loaded into the real gateway with NODE_OPTIONS=--import (pid 1 of its
// container, as in any pod; under compose's `init: true`, the init's child).
// A trigger file /tmp/kill-point-<point> makes the
// gateway process reach one point of its life through OpenClaw's own code and
// say so in /tmp/kill-point-<point>.held ({ok, pid, target, ...}); the test
// then SIGKILLs it there, and what the kill leaves is what OpenClaw wrote.
// (The plugin lease is taken beside the gateway: plugin-lease.mjs.)
// The trigger is removed first, so a restart in place (same /tmp) does not
// reach the point again. Points:
//   oauth   holds OpenClaw's OAuth refresh lock for a profile (OpenClaw's
//           file-lock API; the path from the release's own
//           resolveOAuthRefreshLockPath), as a refresh in flight does;
//   usage   holds the session usage refresh lock of agent "main"
//           (prepareSessionCostUsageRefreshLock: a row in the agent's
//           database), as a usage refresh in flight does;
//   start   read when this gateway starts: it freezes the start the moment
//           the gateway has written its own gateway-owner lease row (its pid
//           and start time), before it is ready.
// `target` is always the OAuth refresh lock's path, which the test takes
// again to time the recovery. As pid 1 the process cannot kill itself (the
// kernel ignores it): the test kills it from outside.
// NODE_OPTIONS reaches every node of the container, the test's `podman exec`
// probes too: only the gateway (`node <OpenClaw's entry> gateway ...`)
// reaches a point.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { freezeOrDie, loadDistFunction, loadFileLock, SHORT_BUDGET } from "/opt/tests/lockapi.mjs";

const isGateway = process.argv[2] === "gateway";

const install = "/opt/openclaw";
const trigger = (point) => `/tmp/kill-point-${point}`;
const say = (point, what) => writeFileSync(`${trigger(point)}.held`, `${JSON.stringify({ pid: process.pid, ...what })}\n`);

async function oauthTarget() {
  const { fn: resolveOAuthRefreshLockPath } = await loadDistFunction(install, "resolveOAuthRefreshLockPath");
  return resolveOAuthRefreshLockPath("openai-codex", "openai-codex:default");
}

const hold = {
  async oauth(target) {
    const { acquireFileLock } = await loadFileLock(install);
    const lock = await acquireFileLock(target, SHORT_BUDGET);
    return { lockPath: lock.lockPath };
  },
  async usage() {
    const { fn: prepare } = await loadDistFunction(install, "prepareSessionCostUsageRefreshLock");
    if (!(await prepare("main").acquire())) throw new Error("the usage refresh lock was not acquired");
    return {};
  },
};

// This process's start time in clock ticks (field 22 of /proc/self/stat), as
// OpenClaw records it in the owner lease (`startedAt`).
function startTime() {
  const stat = readFileSync("/proc/self/stat", "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

// The gateway-owner row this process wrote, if it has: its pid and start
// time (a row of the gateway killed before it names the same pid). Read
// with node:sqlite, read-only, as any reader of OpenClaw's database does.
async function ownLeaseRow(started) {
  const { DatabaseSync } = await import("node:sqlite");
  const database = path.join(process.env.OPENCLAW_STATE_DIR ?? `${process.env.HOME}/.openclaw`, "state", "openclaw.sqlite");
  if (!existsSync(database)) return null;
  const db = new DatabaseSync(database, { readOnly: true, timeout: 1000 });
  try {
    const r = db.prepare("SELECT payload_json, created_at FROM state_leases WHERE scope = 'gateway-owner' AND lease_key = 'global'").get();
    if (!r) return null;
    const owner = JSON.parse(r.payload_json).owner;
    return owner?.pid === process.pid && owner.startedAt === started ? { host: owner.host, createdAt: Number(r.created_at) } : null;
  } catch {
    return null; // not created yet, or its schema not yet in place
  } finally {
    db.close();
  }
}

if (isGateway) {
  if (existsSync(trigger("start"))) {
    rmSync(trigger("start"), { force: true });
    const started = startTime();
    let busy = false;
    const poll = setInterval(async () => {
      if (busy) return;
      busy = true;
      const row = await ownLeaseRow(started);
      if (row) {
        clearInterval(poll);
        say("start", { ok: true, target: await oauthTarget(), row });
        freezeOrDie();
      }
      busy = false;
    }, 20);
  }
  const timer = setInterval(async () => {
    const point = Object.keys(hold).find((p) => existsSync(trigger(p)));
    if (!point) return;
    clearInterval(timer);
    rmSync(trigger(point), { force: true });
    try {
      const target = await oauthTarget();
      say(point, { ok: true, target, ...(await hold[point](target)) });
    } catch (err) {
      say(point, { ok: false, message: String(err?.message ?? err) });
    }
  }, 100);
  timer.unref();
}
