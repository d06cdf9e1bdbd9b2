// Watch mode against OpenClaw's own lock code: the sweeper runs beside a
// live holder (pid 1 of its own PID namespace, as the gateway in a pod).
//
// - A live process that holds a lock for less than --min-age keeps it,
//   whatever the interval (randomized rounds).
// - A live process that never releases its lock loses it within one interval
//   after --min-age; a second real acquire beside it (same PID namespace,
//   where OpenClaw sees its holder alive) fails before and succeeds after.
//
// Env as wedge.test.mjs; WATCH_ROUNDS sets the randomized rounds (default 6).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { VERSIONS as ALL, startPid1 } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.env.SWEEPER_BIN;
const cache = process.env.OPENCLAW_REAL_CACHE;
assert.ok(bin && existsSync(bin) && cache && existsSync(cache), "SWEEPER_BIN and OPENCLAW_REAL_CACHE must be set");
// The oldest and the newest release under test.
const VERSIONS = [...new Set([ALL[0], ALL.at(-1)])];
const MIN_AGE_MS = 2000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function newTarget() {
  const state = mkdtempSync(path.join(tmpdir(), "openclaw-watch-"));
  const hash = createHash("sha256").update("openai-codex\0openai-codex:default").digest("hex");
  const target = path.join(state, "locks", "oauth-refresh", `sha256-${hash}`);
  mkdirSync(path.dirname(target), { recursive: true });
  return { state, target };
}

function startWatch(state, interval) {
  const child = spawn(bin, ["--state-dir", state, "--watch", interval, "--min-age", `${MIN_AGE_MS}ms`, "--log-format", "json"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    async stop() {
      child.kill("SIGTERM");
      return { code: await exited, events: log.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) };
    },
  };
}

/** A holder (holder.mjs, OpenClaw's own acquire) as pid 1 of a new PID namespace. */
function startHolder(version, target, holdMs) {
  const env = { ...process.env };
  if (holdMs !== undefined) env.HOLD_MS = String(holdMs);
  return startPid1(process.execPath, path.join(here, "holder.mjs"), [path.join(cache, version), target], { env });
}

/** A real acquire inside the holder's PID and mount namespaces. */
function acquireBeside(holder, version, target) {
  const r = spawnSync(
    "nsenter",
    ["-t", String(holder.innerPid()), "-p", "-m", process.execPath, path.join(here, "acquire.mjs"), path.join(cache, version), target],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

for (const version of VERSIONS) {
  test(`openclaw@${version}: a live holder under --min-age keeps its lock, whatever the interval`, async (t) => {
    const rounds = Number(process.env.WATCH_ROUNDS ?? 6);
    for (let round = 0; round < rounds; round++) {
      const interval = `${20 + Math.floor(Math.random() * 480)}ms`;
      const holdMs = 200 + Math.floor(Math.random() * (MIN_AGE_MS - 600));
      const { state, target } = newTarget();
      const watch = startWatch(state, interval);
      const holder = await startHolder(version, target, holdMs);
      assert.equal((await holder.line(0)).pid, 1);
      const done = await holder.line(1);
      await holder.exited;
      const { code, events } = await watch.stop();
      rmSync(state, { recursive: true, force: true });
      t.diagnostic(`round ${round}: interval ${interval}, held ${holdMs} ms: intact=${done.intact}`);
      assert.deepEqual(done.intact, [true], "the live lock was there, unchanged, until its holder released it");
      assert.equal(code, 0);
      assert.equal(events.filter((e) => e.message === "removed stale lock").length, 0);
    }
  });

  test(`openclaw@${version}: a live holder that never releases loses its lock one interval after --min-age`, async (t) => {
    const { state, target } = newTarget();
    t.after(() => rmSync(state, { recursive: true, force: true }));
    const holder = await startHolder(version, target);
    await holder.line(0);
    // SIGKILL the namespace's pid 1 (not unshare): that ends the namespace.
    const inner = holder.innerPid();
    assert.ok(inner > 1);
    t.after(() => process.kill(inner, "SIGKILL"));
    // The lock's age as the sweeper judges it: from the createdAt OpenClaw
    // wrote, which precedes the holder's first line (Date.now() here would
    // start the clock late and make a removal at min-age look early).
    const takenAt = Date.parse(JSON.parse(readFileSync(`${target}.lock`, "utf8")).createdAt);
    assert.ok(Number.isFinite(takenAt) && takenAt <= Date.now(), "the lock records when it was taken");
    const before = acquireBeside(holder, version, target);
    t.diagnostic(`${version} acquire beside the live holder, before: ${JSON.stringify(before)}`);
    assert.equal(before.ok, false, "OpenClaw honours a lock whose holder is alive");
    assert.equal(before.code, "file_lock_timeout");
    const intervalMs = 300;
    const watch = startWatch(state, `${intervalMs}ms`);
    while (existsSync(`${target}.lock`) && Date.now() - takenAt < 10_000) await sleep(10);
    const goneAfter = Date.now() - takenAt;
    const { code, events } = await watch.stop();
    t.diagnostic(`${version} lock taken at 0 ms, removed at ${goneAfter} ms (min-age ${MIN_AGE_MS} ms, interval ${intervalMs} ms)`);
    assert.equal(code, 0);
    assert.ok(goneAfter >= MIN_AGE_MS, `removed at ${goneAfter} ms, before min-age`);
    assert.ok(goneAfter <= MIN_AGE_MS + intervalMs + 250, `removed at ${goneAfter} ms`);
    assert.equal(events.filter((e) => e.message === "removed stale lock").length, 1);
    const after = acquireBeside(holder, version, target);
    t.diagnostic(`${version} acquire beside the live holder, after: ${JSON.stringify(after)}`);
    assert.equal(after.ok, true);
  });
}
