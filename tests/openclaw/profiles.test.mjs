// Issue 25, proved with OpenClaw's own code: a dead refresh token and a stale
// refresh lock look alike in OpenClaw's logs and need opposite cures. Two
// profiles are stored by OpenClaw (`persistAuthProfileBatch`, sentinel
// tokens) and marked failed by its `markAuthProfileFailure`: one with
// `auth_permanent` (a burned refresh token), one with `auth` (lock
// contention), whose OAuth refresh lock a SIGKILLed pid-1 gateway left
// behind. The sweep names the dead one with its re-login command and tells
// that the other needs none, the lock being the cause; no token appears in
// any output; the database is left byte for byte; after OpenClaw's own
// re-login path resets the state, the sweep reports nothing. Where the
// gateway's log is reachable, the sweep adds the sub-reason OpenClaw logged
// for each failure, as OpenClaw's own classifiers name it. profiles.mjs runs
// OpenClaw's code.
//
// Env as wedge.test.mjs: SWEEPER_BIN, OPENCLAW_REAL_CACHE.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { NODE_NEW, cleanEnv, here, holdAndKill, install, mkdirp, newState, ocCall, releases, sweep } from "./harness.mjs";

const script = path.join(here, "profiles.mjs");
const SENTINEL = "SENTINEL-TOKEN-never-printed";
const DEAD = "openai-codex:dead@example.com";
const COOL = "anthropic:ok@example.com";
const COMMAND = `openclaw models auth login --provider openai-codex --profile-id '${DEAD}'`;
const envOf = (state) => cleanEnv({ OPENCLAW_STATE_DIR: state, HOME: state });

/** OpenClaw's code (profiles.mjs) on the state dir. */
function openclaw(version, state, step, specs) {
  const r = spawnSync(NODE_NEW, [script, install(version), step, ...specs], { encoding: "utf8", env: envOf(state), timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1));
}

/**
 * The state database and its -wal (digests, mtimes), and whether a -shm is
 * there: SQLite's shared memory is written by every reader (OpenClaw's own
 * too) for its read marks, and is not the database.
 */
function snapshot(state) {
  const db = path.join(state, "state", "openclaw.sqlite");
  return ["", "-wal", "-shm"]
    .map((s) => db + s)
    .filter(existsSync)
    .map((p) => (p.endsWith("-shm") ? [path.basename(p)] : [path.basename(p), createHash("sha256").update(readFileSync(p)).digest("hex"), statSync(p).mtimeMs]));
}

/** The auth failure state as OpenClaw stored it (node:sqlite, read-only, never the store row). */
function usageStats(state) {
  const code = `
    const { DatabaseSync } = require("node:sqlite");
    const db = new DatabaseSync(process.argv[1], { readOnly: true });
    const row = db.prepare("SELECT value_json FROM config_machine_state WHERE state_key = 'authProfiles.state'").get();
    console.log(row ? row.value_json : "null");`;
  const r = spawnSync(NODE_NEW, ["-e", code, path.join(state, "state", "openclaw.sqlite")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout)?.usageStats ?? {};
}

// The SQLite auth profile store as read from 2026.9.6.
for (const [version, skip] of releases("since96")) {
  test(`openclaw@${version}: a dead refresh token is named with its re-login command, a lock-caused cooldown needs none`, { skip }, async (t) => {
    const state = newState("openclaw-profiles-");
    t.after(() => rmSync(state, { recursive: true, force: true }));
    openclaw(version, state, "store", [`${DEAD}:auth_permanent`, `${COOL}:auth`]);
    // The refresh lock of the cooling profile, as OpenClaw names it, held by a
    // gateway (pid 1 of its container) that was then SIGKILLed.
    const lock = ocCall(version, "resolveOAuthRefreshLockPath", ["anthropic", COOL], envOf(state));
    assert.equal(lock.ok, true, JSON.stringify(lock));
    mkdirp(path.dirname(lock.value));
    const held = await holdAndKill(version, [lock.value]);
    const lockRel = path.relative(state, held.held[0]);

    // profiles.mjs exits without closing OpenClaw's database, as a killed
    // gateway: its last writes are only in the -wal, which the sweep must read.
    const before = snapshot(state);
    assert.deepEqual(before.map(([name]) => name), ["openclaw.sqlite", "openclaw.sqlite-wal", "openclaw.sqlite-shm"]);
    assert.ok(!readFileSync(path.join(state, "state", "openclaw.sqlite")).includes("disabledReason"), "the failure state is only in the -wal");

    const run = sweep(state);
    assert.equal(run.code, 0, JSON.stringify(run.events));
    assert.deepEqual(run.report.swept_paths, [{ path: lockRel, kind: "lock" }]);
    assert.deepEqual(
      run.report.profiles.map((p) => [p.id, p.provider, p.state, p.reason, p.source]),
      [
        [COOL, "anthropic", "transient", "auth", "state/openclaw.sqlite"],
        [DEAD, "openai-codex", "permanent", "auth_permanent", "state/openclaw.sqlite"],
      ],
    );
    const [cool, dead] = run.report.profiles;
    assert.equal(dead.hint, `run \`${COMMAND}\`; the sweep cannot fix this`);
    assert.equal(
      cool.hint,
      `no re-login needed: the stale refresh lock this sweep removed (${lockRel.replace(/\.lock$/, "")}) was the cause; the cooldown ends by itself`,
    );
    const warn = run.events.find((e) => e.level === "WARN" && e.profile === DEAD);
    assert.ok(warn, JSON.stringify(run.events));
    assert.match(warn.message, /re-login.*no sweep can fix that/);
    assert.ok(warn.hint.includes(COMMAND), warn.hint);
    const info = run.events.find((e) => e.level === "INFO" && e.profile === COOL);
    assert.ok(info, JSON.stringify(run.events));
    assert.match(info.message, /no re-login needed/);
    // The profile's WARN/INFO come after the lock is gone, before the gateway's first turn.
    const removedAt = run.events.findIndex((e) => e.message === "removed stale lock");
    assert.ok(removedAt >= 0 && removedAt < run.events.indexOf(info), JSON.stringify(run.events));
    const out = JSON.stringify(run.events) + JSON.stringify(run.report);
    assert.ok(!out.includes(SENTINEL), "a token reached the sweeper's output");
    assert.deepEqual(snapshot(state), before, "the state database is left byte for byte");
    const stats = usageStats(state);
    t.diagnostic(`OpenClaw's state: ${JSON.stringify(stats)}`);
    assert.equal(stats[DEAD].disabledReason, "auth_permanent");
    assert.equal(stats[COOL].cooldownReason, "auth");
    assert.equal(dead.at, stats[DEAD].lastFailureAt);
    assert.equal(warn.failed_at, new Date(stats[DEAD].lastFailureAt).toISOString().replace(/\.\d+Z$/, "Z"));

    // `openclaw models auth login` stores the profile again and resets its state.
    openclaw(version, state, "relogin", [`${DEAD}:-`, `${COOL}:-`]);
    assert.equal(usageStats(state)[DEAD].errorCount, 0);
    const after = sweep(state);
    assert.equal(after.code, 0, JSON.stringify(after.events));
    assert.deepEqual(after.report.profiles, []);
    assert.deepEqual(after.events.filter((e) => e.profile && e.level !== "DEBUG"), []);
    assert.ok(!JSON.stringify(after).includes(SENTINEL));
  });
}

// The gateway's own log (logging.file on the volume): the refreshes fail as
// a turn fails them, OpenClaw logs and marks each, and the sweep names the
// sub-reason its log line gives.
for (const [version, skip] of releases("since96")) {
  test(`openclaw@${version}: the sub-reason OpenClaw logged tells a reused refresh token from lock contention`, { skip }, async (t) => {
    const state = newState("openclaw-profiles-log-");
    t.after(() => rmSync(state, { recursive: true, force: true }));
    const logs = path.join(state, "logs");
    // A rolling name: OpenClaw writes the current day's file of its family.
    writeFileSync(path.join(state, "openclaw.json"), JSON.stringify({ logging: { file: path.join(logs, "openclaw-2026-01-01.log") } }));
    const { failures } = openclaw(version, state, "refresh-failed", [`${DEAD}:reused`, `${COOL}:contention`]);
    t.diagnostic(`OpenClaw's failures: ${JSON.stringify(failures)}`);
    const [reused, contended] = failures;
    // OpenClaw's own classification marked them: a dead token, a cooldown.
    assert.deepEqual([reused.reason, contended.reason], ["auth_permanent", "auth"]);
    const [logFile] = readdirSync(logs);
    assert.match(logFile, /^openclaw-\d{4}-\d{2}-\d{2}\.log$/);
    const before = snapshot(state);

    const run = sweep(state);
    assert.equal(run.code, 0, JSON.stringify(run.events));
    const [cool, dead] = run.report.profiles;
    assert.deepEqual(
      [dead.id, dead.state, dead.logged_reason, cool.id, cool.state, cool.logged_reason],
      // What OpenClaw's classifiers call the logged texts: the provider's
      // reason (classifyOAuthRefreshFailureReason), and the runtime failure
      // kind (classifyProviderRuntimeFailureKind) of the waiting refresh.
      [DEAD, "permanent", reused.oauthReason, COOL, "transient", contended.kind],
    );
    assert.deepEqual([reused.oauthReason, contended.kind], ["refresh_token_reused", "refresh_contention"]);
    assert.equal(dead.logged_in, path.join(logs, logFile));
    const warn = run.events.find((e) => e.level === "WARN" && e.profile === DEAD);
    assert.equal(warn?.logged, "refresh_token_reused", JSON.stringify(run.events));
    assert.ok(warn.hint.includes(COMMAND), warn.hint);
    const info = run.events.find((e) => e.level === "INFO" && e.profile === COOL);
    assert.equal(info?.logged, "refresh_contention", JSON.stringify(run.events));
    assert.ok(!(JSON.stringify(run.events) + JSON.stringify(run.report)).includes(SENTINEL), "a token reached the sweeper's output");
    assert.deepEqual(snapshot(state), before, "the state database is left byte for byte");
  });
}
