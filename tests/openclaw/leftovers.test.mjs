// Issue 11, proved with OpenClaw's own code: every leftover that wedges
// OpenClaw is made the way OpenClaw makes it (its own acquire, SIGKILLed at
// that point of its protocol: die-at.mjs, usage-cost.mjs, holder.mjs), or,
// where no OpenClaw code of a pinned release makes it, as the exact directory
// it would leave. Then, on every pinned release where the kind exists:
// OpenClaw's own acquire fails before the sweep and succeeds after it, and a
// leftover younger than the grace is kept (with a WARN) and still wedges.
//
// Acquires use SHORT_BUDGET (lockapi.mjs): OpenClaw's stale rules with a
// retry budget under a second instead of ~150 s, so "fails" means
// file_lock_timeout after ~0.3 s where the real options give up after ~150 s.
//
// Env as wedge.test.mjs: SWEEPER_BIN, OPENCLAW_REAL_CACHE.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import {
  APPLIES,
  TOO_YOUNG,
  VERSIONS,
  acquire,
  age,
  cleanEnv,
  dieAt,
  here,
  holdAndKill,
  install,
  mkdirp,
  newState,
  oauthTarget,
  ocCall,
  pathsOf,
  rel,
  killAtFirstLine,
  releases,
  sweep,
} from "./harness.mjs";

// The stale modes of 2026.9's SDK lock (default "remove-if-unchanged").
const MODES_96 = [undefined, "fail-closed", "remove-if-definitely-stale"];
const modesOf = (version) => (APPLIES.staleModes(version) ? MODES_96 : [undefined]);
const modeName = (m) => m ?? "default";

function cleanup(t, state) {
  t.after(() => rmSync(state, { recursive: true, force: true }));
}

/** Each stale mode's acquire, recorded as a diagnostic. */
function acquireAll(t, version, target, label) {
  return modesOf(version).map((mode) => {
    const r = acquire(version, target, mode);
    t.diagnostic(`${version} ${label} [${modeName(mode)}]: ${JSON.stringify(r)}`);
    return r;
  });
}

function assertWedged(results, what) {
  for (const r of results) {
    assert.equal(r.ok, false, `${what}: OpenClaw got past it`);
    assert.equal(r.code, "file_lock_timeout", what);
  }
}

function assertFree(results, what) {
  for (const r of results) {
    assert.equal(r.ok, true, `${what}: ${JSON.stringify(r)}`);
    assert.ok(r.elapsedMs < 1000, `${what}: took ${r.elapsedMs} ms`);
  }
}

// 1. Torn locks: the holder killed between open("wx") and its write.
for (const version of VERSIONS) {
  for (const point of ["before-write", "mid-write"]) {
    const kind = point === "before-write" ? "empty" : "half-JSON";
    test(`openclaw@${version}: a torn (${kind}) OAuth refresh lock of a holder killed mid-create`, async (t) => {
      const state = newState();
      cleanup(t, state);
      const target = oauthTarget(version, state);
      const lock = `${target}.lock`;
      const died = await dieAt(version, point, target);
      const bytes = readFileSync(lock, "utf8");
      assert.equal(bytes, died.written, "the file holds exactly what OpenClaw wrote before the kill");
      if (point === "before-write") assert.equal(bytes, "");
      else {
        assert.ok(bytes.length > 0 && died.payload.startsWith(bytes) && bytes.length < died.payload.length);
        assert.throws(() => JSON.parse(bytes));
      }
      t.diagnostic(`${version} ${kind} leftover: ${JSON.stringify(bytes)}`);

      // Younger than the grace: kept, loudly, and OpenClaw is still wedged.
      const young = sweep(state);
      assert.equal(young.code, 0);
      const warned = young.events.filter((e) => e.message === TOO_YOUNG);
      assert.deepEqual(warned.map((e) => [e.path, e.level, e.kind]), [[rel(state, lock), "WARN", "torn-lock"]]);
      assert.equal(readFileSync(lock, "utf8"), bytes);
      assertWedged(acquireAll(t, version, target, `acquire with a young ${kind} lock, after a sweep that kept it`), "young");

      age(lock);
      assertWedged(acquireAll(t, version, target, `acquire before the sweep (${kind}, a day old)`), "before");
      const run = sweep(state);
      assert.equal(run.code, 0);
      assert.deepEqual(pathsOf(run.events, "removed torn lock"), [rel(state, lock)]);
      assert.equal(run.report.removed["torn-lock"], 1);
      assert.ok(!existsSync(lock));
      assertFree(acquireAll(t, version, target, `acquire after the sweep (${kind})`), "after");
    });
  }
}

// 1b. Torn locks at the other default lock paths of 2026.9.6 (issue 11, point 4).
for (const [version, skip] of releases("since96", "staleModes")) {
  test(`openclaw@${version}: torn locks at every 9.6 default lock path beyond oauth-refresh`, { skip }, async (t) => {
    const state = newState();
    cleanup(t, state);
    const sha = (s) => createHash("sha256").update(s).digest("hex");
    const targets = {
      "openclaw.json.lock (config mutation)": path.join(state, "openclaw.json"),
      "state/openclaw.sqlite.lock (shared auth store)": path.join(state, "state", "openclaw.sqlite"),
      "agents/main/agent/openclaw-agent.sqlite.lock (agent auth store)": path.join(state, "agents", "main", "agent", "openclaw-agent.sqlite"),
      "migration/onboarding.lock-target.lock": path.join(state, "migration", "onboarding.lock-target"),
      ".memory-host-events-export-<32hex>.lock": path.join(state, `.memory-host-events-export-${sha("/workspace").slice(0, 32)}`),
      "locks/provider-auth-persistence/lock-<sha256>.lock (fail-closed)": path.join(state, "locks", "provider-auth-persistence", `lock-${sha("openai-codex\0openai-codex:default")}`),
      "locks/memory-promotion-<sha256>.lock (fail-closed)": path.join(state, "locks", `memory-promotion-${sha("/workspace")}`),
    };
    const mode = (name) => (name.includes("fail-closed") ? "fail-closed" : undefined);
    for (const target of Object.values(targets)) {
      mkdirp(path.dirname(target));
      await dieAt(version, "before-write", target);
      age(`${target}.lock`);
    }
    for (const [name, target] of Object.entries(targets)) {
      const r = acquire(version, target, mode(name));
      t.diagnostic(`${version} ${name}, empty, before the sweep: ${JSON.stringify(r)}`);
      assertWedged([r], name);
    }
    const run = sweep(state);
    assert.equal(run.code, 0);
    assert.deepEqual(pathsOf(run.events, "removed torn lock"), Object.values(targets).map((p) => `${rel(state, p)}.lock`).sort());
    for (const [name, target] of Object.entries(targets)) {
      const r = acquire(version, target, mode(name));
      t.diagnostic(`${version} ${name}, after the sweep: ${JSON.stringify(r)}`);
      assertFree([r], name);
    }
  });
}

// 2. Orphaned reclaim guards (fs-safe >= 0.5: 2026.9.6): a reclaimer (a
// restarted gateway, pid 1 again) reclaiming its predecessor's pid-1 lock,
// SIGKILLed inside the reclaim section.
for (const [version, skip] of releases("reclaimGuard")) {
  test(`openclaw@${version}: a reclaimer killed right after taking the guard (guard and the old lock left)`, { skip }, async (t) => {
    const state = newState();
    cleanup(t, state);
    const target = oauthTarget(version, state);
    const lock = `${target}.lock`;
    const guard = `${lock}.reclaim`;
    await holdAndKill(version, [target]);
    const died = await dieAt(version, "guard-taken", target, { asPid1: true });
    assert.equal(died.pid, 1);
    assert.deepEqual(readdirSync(guard), [], "fs-safe's guard is an empty directory");
    assert.equal(JSON.parse(readFileSync(lock, "utf8")).pid, 1, "the predecessor's lock is still there");

    // Young: the sweep removes the dead pid-1 lock but keeps the young guard,
    // with a WARN; the guard alone still wedges OpenClaw (what a sweep that
    // never looked at guards left behind).
    const young = sweep(state);
    assert.equal(young.code, 0);
    assert.deepEqual(pathsOf(young.events, "removed stale lock"), [rel(state, lock)]);
    assert.deepEqual(young.events.filter((e) => e.message === TOO_YOUNG).map((e) => [e.path, e.level, e.kind]), [
      [rel(state, guard), "WARN", "reclaim-guard"],
    ]);
    assert.ok(existsSync(guard) && !existsSync(lock));
    assertWedged(acquireAll(t, version, target, "acquire with only a young guard left, after a sweep that kept it"), "young guard");

    age(guard);
    assertWedged(acquireAll(t, version, target, "acquire before the sweep (the guard alone, a day old)"), "before");
    const run = sweep(state);
    assert.equal(run.code, 0);
    assert.deepEqual(pathsOf(run.events, "removed orphaned reclaim guard"), [rel(state, guard)]);
    assert.ok(!existsSync(guard));
    assertFree(acquireAll(t, version, target, "acquire after the sweep (guard)"), "after");
  });

  test(`openclaw@${version}: a reclaimer killed before releasing the guard (guard and its own new lock left)`, { skip }, async (t) => {
    const state = newState();
    cleanup(t, state);
    const target = oauthTarget(version, state);
    const lock = `${target}.lock`;
    const guard = `${lock}.reclaim`;
    const predecessor = await holdAndKill(version, [target]);
    const before = JSON.parse(readFileSync(lock, "utf8"));
    await dieAt(version, "guard-release", target, { asPid1: true });
    const after = JSON.parse(readFileSync(lock, "utf8"));
    assert.equal(after.pid, 1);
    assert.notEqual(after.createdAt, before.createdAt, "the reclaimer removed the old lock and wrote its own");
    assert.deepEqual(readdirSync(guard), []);
    t.diagnostic(`${version} predecessor ${JSON.stringify(predecessor)}, left: guard + ${JSON.stringify(after)}`);
    age(guard);
    assertWedged(acquireAll(t, version, target, "acquire before the sweep (guard + lock)"), "before");
    const run = sweep(state);
    assert.equal(run.code, 0);
    assert.deepEqual(pathsOf(run.events, "removed stale lock"), [rel(state, lock)]);
    assert.deepEqual(pathsOf(run.events, "removed orphaned reclaim guard"), [rel(state, guard)]);
    assertFree(acquireAll(t, version, target, "acquire after the sweep (guard + lock)"), "after");
  });

  test(`openclaw@${version}: a guard that is not empty is kept with a WARN (unlinkat refuses it)`, { skip }, async (t) => {
    const state = newState();
    cleanup(t, state);
    const target = oauthTarget(version, state);
    const guard = `${target}.lock.reclaim`;
    mkdirp(guard);
    writeFileSync(path.join(guard, "something"), "x");
    age(guard);
    const run = sweep(state);
    assert.equal(run.code, 0);
    const kept = run.events.filter((e) => e.path === rel(state, guard));
    assert.equal(kept.length, 1);
    assert.equal(kept[0].level, "WARN");
    assert.equal(kept[0].message, "kept: a directory named like a lock, not empty");
    assert.ok(existsSync(path.join(guard, "something")));
    const r = acquire(version, target);
    t.diagnostic(`${version} acquire with a non-empty guard kept: ${JSON.stringify(r)}`);
    assertWedged([r], "non-empty guard");
  });
}

// 3. Legacy directory locks: proper-lockfile's `settings.json.lock/` (5.22 via
// pi-coding-agent, 7.1 bundled) left on the volume, met by 2026.9.6.
for (const [version, skip] of releases("since96")) {
  test(`openclaw@${version}: a legacy settings.json.lock/ directory stops 9.6's settings lock until swept`, { skip }, async (t) => {
    // OpenClaw's settings store (FileSettingsStorage.withLock, for
    // <agentDir>/settings.json) calls acquireFileLockSyncWithRetry, which is
    // reachable on its own; the settings store's module pulls in the agent
    // runtime (a thousand modules and their packages), so the test calls the
    // function it calls, and checks in the dist text that it does.
    const state = newState();
    cleanup(t, state);
    const probe = ocCall(version, "acquireFileLockSyncWithRetry", [path.join(state, "probe")]);
    assert.equal(probe.ok, true, JSON.stringify(probe));
    const file = probe.file;
    const dist = path.join(install(version), "node_modules", "openclaw", "dist");
    const storage = readdirSync(dist)
      .filter((f) => f.endsWith(".mjs"))
      .map((f) => [f, readFileSync(path.join(dist, f), "utf8")])
      .filter(([, text]) => text.includes("var FileSettingsStorage = class"));
    assert.equal(storage.length, 1, "one dist file defines FileSettingsStorage");
    const [storageFile, text] = storage[0];
    assert.match(text, new RegExp(`import \\{[^}]*\\bas acquireFileLockSyncWithRetry\\b[^}]*\\} from "\\./${file.replace(/[.$]/g, "\\$&")}"`));
    const cls = text.slice(text.indexOf("var FileSettingsStorage = class"), text.indexOf("var InMemorySettingsStorage"));
    assert.match(cls, /global: join\(agentDir, "settings\.json"\)/);
    assert.match(cls, /const release = acquireFileLockSyncWithRetry\(path\);/);
    t.diagnostic(`${version}: ${storageFile} FileSettingsStorage.withLock calls acquireFileLockSyncWithRetry from ${file}`);

    const settings = path.join(mkdirp(path.join(state, "agents", "main", "agent")), "settings.json");
    const lock = `${settings}.lock`;
    // What proper-lockfile leaves: mkdir(<file>.lock), nothing inside.
    mkdirSync(lock);
    const attempt = (label) => {
      const { file: _, ...r } = ocCall(version, "acquireFileLockSyncWithRetry", [settings]);
      t.diagnostic(`${version} settings lock ${label}: ${JSON.stringify(r)}`);
      return r;
    };
    const legacy = (r) => {
      assert.equal(r.ok, false);
      assert.equal(r.code, "file_lock_stale");
      assert.match(r.message, /^Legacy storage lock requires manual removal/);
    };

    const young = sweep(state);
    assert.deepEqual(young.events.filter((e) => e.message === TOO_YOUNG).map((e) => [e.path, e.level, e.kind]), [
      [rel(state, lock), "WARN", "directory-lock"],
    ]);
    legacy(attempt("with a young directory, after a sweep that kept it"));

    age(lock);
    legacy(attempt("before the sweep"));
    const run = sweep(state);
    assert.equal(run.code, 0);
    assert.deepEqual(pathsOf(run.events, "removed empty directory lock"), [rel(state, lock)]);
    const after = attempt("after the sweep");
    assert.equal(after.ok, true);
    assert.ok(after.elapsedMs < 1000);
    assert.ok(!existsSync(lock), "OpenClaw released its own lock");
  });
}

// 4. openclaw.json.lock, a default path now: a pid-1 lock of a killed config
// write (OpenClaw's own acquire as pid 1, SIGKILLed mid-hold).
for (const version of VERSIONS) {
  test(`openclaw@${version}: a pid-1 openclaw.json.lock of a killed config write`, async (t) => {
    const state = newState();
    cleanup(t, state);
    const target = path.join(state, "openclaw.json");
    await holdAndKill(version, [target]);
    const lock = `${target}.lock`;
    const payload = JSON.parse(readFileSync(lock, "utf8"));
    assert.equal(payload.pid, 1);
    const before = acquire(version, target);
    t.diagnostic(`${version} openclaw.json.lock (pid 1, ${"starttime" in payload ? "with" : "no"} starttime) before the sweep: ${JSON.stringify(before)}`);
    if (APPLIES.wedgesOnPid1(version)) {
      assert.equal("starttime" in payload, false);
      assertWedged([before], "5.22 honours a dead pid-1 lock");
    } else {
      // Newer releases reclaim it themselves (starttime changed); leave one again for the sweep.
      assertFree([before], "this release reclaims a pid-1 lock with a changed starttime");
      await holdAndKill(version, [target]);
    }
    const run = sweep(state);
    assert.equal(run.code, 0);
    assert.deepEqual(pathsOf(run.events, "removed stale lock"), ["openclaw.json.lock"]);
    const after = acquire(version, target);
    t.diagnostic(`${version} openclaw.json.lock after the sweep: ${JSON.stringify(after)}`);
    assertFree([after], "after");
  });
}

// 5. The session usage-cost lock (file lock in 5.22 and 7.1; a SQLite row in
// 9.6, which is outside this test): pid-1 holder killed mid-refresh.
for (const [version, skip] of releases("!usageLockRow")) {
  test(`openclaw@${version}: a pid-1 .usage-cost-cache.json.lock of a refresh killed mid-way`, { skip }, async (t) => {
    const state = newState();
    cleanup(t, state);
    const sessions = mkdirp(path.join(state, "agents", "main", "sessions"));
    writeFileSync(path.join(sessions, "s1.jsonl"), '{"type":"message"}\n');
    const lock = path.join(sessions, ".usage-cost-cache.json.lock");
    const script = path.join(here, "usage-cost.mjs");
    const env = cleanEnv({ OPENCLAW_STATE_DIR: state });
    const died = await killAtFirstLine(process.execPath, script, [install(version), "main", "die"], env);
    assert.equal(JSON.parse(died.lock).pid, 1);
    assert.equal(readFileSync(lock, "utf8"), died.lock, "the lock is OpenClaw's, as written");
    const refresh = (label) => {
      const r = spawnSync(process.execPath, [script, install(version), "main"], { encoding: "utf8", env, timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
      out.elapsedMs = Math.round(out.elapsedMs);
      t.diagnostic(`${version} usage-cost refresh ${label}: ${JSON.stringify(out)}`);
      return out;
    };
    const before = refresh("before the sweep");
    assert.equal(before.status, "refreshing", "the refresh never runs: the dead pid-1 holder counts as running");
    assert.equal(before.cachedFiles, 0);
    const run = sweep(state);
    assert.equal(run.code, 0);
    assert.deepEqual(pathsOf(run.events, "removed stale lock"), [rel(state, lock)]);
    const after = refresh("after the sweep");
    assert.equal(after.status, "fresh");
    assert.equal(after.cachedFiles, 1);
  });
}

// Foreign files at lock paths stay.
test("foreign files at lock paths are kept, however old", async (t) => {
  const state = newState();
  cleanup(t, state);
  const dir = mkdirp(path.join(state, "locks", "oauth-refresh"));
  const files = {
    "notes.lock": "hello, this is not a lock\n",
    "no-pid.lock": '{"createdAt":"2026-01-01T00:00:00.000Z"}\n',
    "zero-pid.lock": '{"pid":0,"createdAt":"2026-01-01T00:00:00.000Z"}\n',
    "array.lock": "[1, 2]\n",
  };
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(path.join(dir, name), bytes);
    age(path.join(dir, name));
  }
  const run = sweep(state);
  assert.equal(run.code, 0);
  assert.equal(run.report.swept, 0);
  assert.deepEqual(pathsOf(run.events, "kept: not an OpenClaw lock"), Object.keys(files).map((n) => `locks/oauth-refresh/${n}`).sort());
  for (const [name, bytes] of Object.entries(files)) assert.equal(readFileSync(path.join(dir, name), "utf8"), bytes);
});
