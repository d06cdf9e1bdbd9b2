// Issue 32's start window, proved with OpenClaw's own code: 2026.9.6's
// `acquireGatewayLock` writes the gateway-owner lease row (state_leases in
// <state>/state/openclaw.sqlite) *before* it takes the coordinator on the
// volume (<state>/tmp/openclaw-<uid>/gateway*.lock.sqlite) that the sweep
// probes. A sweep from another pod in that window finds every coordinator
// free; before the fix it deleted the starting gateway's row, and the start
// failed ("state lease heartbeat exited: lease expired or ownership lost") or
// ran on without its lease. Since rows.rs's START_WINDOW (15 s), an owner row
// younger than that is judged only after the window, the coordinators let go
// meanwhile.
//
// Each gateway start is a pod: OpenClaw's code as pid 1 of new PID, UTS and
// mount namespaces, under its own hostname (pod-a, pod-b) and with its own
// /tmp (a per-pod dir bound over /tmp: OpenClaw's lifecycle coordinator lives
// there, in /tmp/openclaw-state-locks-<uid>/). So the state dirs and the
// pods' /tmp dirs are made outside /tmp (in /var/tmp, unless TMPDIR is
// elsewhere). The gateway is `acquireGatewayLock` as `runGatewayLoop` calls
// it (startwindow-gateway.mjs, on the Node install.sh puts beside the
// releases), and, where a whole install of the package is at hand, the real
// `openclaw gateway run` (in its own network namespace besides: loopback
// only). The sweeps run from this namespace: another pod, another hostname.
//
// Env as wedge.test.mjs: SWEEPER_BIN, OPENCLAW_REAL_CACHE. Besides:
// START_ITERATIONS (gateway starts under sweeps, default 20),
// START_ITERATIONS_BUSY (the same with every core busy, default 8),
// START_LANES (state dirs run side by side, default 4: a start after a crash
// under another hostname waits for the cure, and under the fix that comes
// only once the dead gateway's row is 15 s old), START_SWEEPERS (sweep loops
// per state dir, default 2: each replica's wrapper or sidecar sweeps),
// OPENCLAW_CLI_DIR (a dir where `npm install openclaw@<version>` ran: the
// whole package, for `openclaw gateway run`; install.sh installs only what
// the lock code imports) and CLI_STARTS (its starts, default 3).
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NODE_NEW, bin, cache, cleanEnv, here, install, mkdirp, newStateIn, podSkip, podTmp, podsRoot, releases, startPid1, sweep } from "./harness.mjs";

const HELPER = path.join(here, "startwindow-gateway.mjs");
/** rows.rs's START_WINDOW. */
const START_WINDOW_MS = 15_000;
const OWNER_KEY = "gateway-owner/global";
const uid = process.getuid();
const count = (name, fallback) => {
  const n = Number(process.env[name] ?? fallback);
  assert.ok(Number.isInteger(n) && n > 0, `${name} must be a positive integer`);
  return n;
};
const ITERATIONS = count("START_ITERATIONS", 20);
const BUSY_ITERATIONS = count("START_ITERATIONS_BUSY", 8);
const LANES = count("START_LANES", 4);
const SWEEPERS = count("START_SWEEPERS", 2);
const CLI_STARTS = count("CLI_STARTS", 3);

assert.ok(existsSync(NODE_NEW), `no ${NODE_NEW}: run tests/openclaw/install.sh`);
/** The 9.6 releases: their gateway writes its owner lease before it takes the coordinator. */
const cases = releases("since96", "gatewayCoordinator").map(([version, skip]) => [version, skip || podSkip(process.env.OPENCLAW_CLI_DIR)]);

/** The pod: its hostname, its own /tmp (and loopback, with a network namespace), then the command as pid 1. */
const POD = 'hostname "$1" && mount --bind "$2" /tmp && { [ -z "$3" ] || ip link set lo up; } && shift 3 && exec "$@"';

/** The gateway-owner row as it stands, read with node:sqlite in a child (this Node may have none). */
function ownerRowOutside(state) {
  const code = `
    const { DatabaseSync } = require("node:sqlite");
    const file = process.argv[1];
    if (!require("node:fs").existsSync(file)) { console.log("null"); process.exit(0); }
    const db = new DatabaseSync(file, { readOnly: true });
    const r = db.prepare("SELECT owner, payload_json, created_at FROM state_leases WHERE scope = 'gateway-owner' AND lease_key = 'global'").get();
    db.close();
    const p = r && JSON.parse(r.payload_json);
    console.log(JSON.stringify(r ? { owner: r.owner, host: p.owner.host, pid: p.owner.pid, port: p.port, createdAt: r.created_at } : null));`;
  return new Promise((resolve) => {
    execFile(NODE_NEW, ["-e", code, path.join(state, "state", "openclaw.sqlite")], { encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) =>
      resolve(err ? { row: null, error: stderr || err.message } : { row: JSON.parse(stdout) }),
    );
  });
}

/**
 * OpenClaw's gateway start (startwindow-gateway.mjs) as pid 1 of a new pod on
 * `state`: `ready()` its first line; `row()` the owner row as it reads it;
 * `stop()` SIGKILLs it (a crash, an OOM kill) if it still runs.
 */
async function startLockPod(version, state, host, tmp) {
  const g = await startPid1(NODE_NEW, HELPER, [install(version)], {
    env: cleanEnv({ OPENCLAW_STATE_DIR: state, HOME: state }),
    unshareArgs: ["--uts"],
    wrap: ["sh", "-c", POD, "sh", host, tmp, ""],
    stdin: true,
  });
  g.child.stdin.on("error", () => {});
  let next = 1;
  return {
    async ready() {
      try {
        const up = await g.line(0, 60_000);
        return up.ok
          ? { ok: true, elapsedMs: Math.round(up.elapsedMs), doneAt: up.doneAt }
          : { ok: false, elapsedMs: Math.round(up.elapsedMs), failure: `${up.name}: ${up.message}${up.cause ? ` (cause: ${up.cause})` : ""}` };
      } catch (e) {
        return { ok: false, failure: e.message };
      }
    },
    row() {
      const n = next++;
      g.child.stdin.write("row\n");
      return g.line(n, 10_000);
    },
    log: () => g.stderr(),
    stop: () => stopPod(g.child, g.exited),
  };
}

/** The pod's pid 1 as seen from here (unshare --fork's only child), or null once it is gone. */
function podPid(child) {
  try {
    const pid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/)[0]);
    // Never 0 (this process group) nor anything but a pid.
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** SIGKILLs a pod's pid 1 (the kernel then ends all of the pod), if it still runs. */
async function stopPod(child, exited) {
  if (child.exitCode === null && child.signalCode === null) {
    const pid = podPid(child);
    if (pid !== null) process.kill(pid, "SIGKILL");
  }
  return exited;
}

/**
 * The real `openclaw gateway run` (of the whole package under `cliDir`) as
 * pid 1 of a new pod with a network namespace of its own: `ready()` once
 * GET /readyz on its port (asked inside that namespace) says ready.
 */
function startCliPod(cliDir, state, host, tmp, port) {
  const cli = path.join(cliDir, "node_modules", "openclaw", "openclaw.mjs");
  const child = spawn(
    "unshare",
    ["--uts", "--net", "--pid", "--fork", "--mount-proc", "sh", "-c", POD, "sh", host, tmp, "net", NODE_NEW, cli, "gateway", "run", "--allow-unconfigured", "--auth", "none", "--bind", "loopback", "--port", String(port)],
    { stdio: ["ignore", "pipe", "pipe"], env: cleanEnv({ OPENCLAW_STATE_DIR: state, HOME: state, NO_COLOR: "1" }) },
  );
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const started = Date.now();
  const readyz = () =>
    new Promise((resolve) => {
      const pid = podPid(child);
      if (pid === null) return resolve(null);
      const ask = `fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then(async (r) => console.log(await r.text()), () => console.log("null"))`;
      execFile("nsenter", [`--net=/proc/${pid}/ns/net`, NODE_NEW, "-e", ask, `http://127.0.0.1:${port}/readyz`], { encoding: "utf8", timeout: 10_000 }, (err, stdout) => {
        try {
          resolve(err ? null : JSON.parse(stdout));
        } catch {
          resolve(null);
        }
      });
    });
  return {
    async ready() {
      const deadline = Date.now() + 120_000;
      let last = null;
      while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) break;
        last = (await readyz()) ?? last;
        if (last?.ready === true) return { ok: true, elapsedMs: Date.now() - started, readyz: last, listening: /http server listening/.test(log) };
        await sleep(250);
      }
      return { ok: false, elapsedMs: Date.now() - started, failure: `not ready (last /readyz ${JSON.stringify(last)}): ${log.split("\n").slice(-15).join("\n")}` };
    },
    row: ownerRowOutside.bind(null, state),
    log: () => log,
    stop: () => stopPod(child, exited),
  };
}

/** The sweeper's events and report, as one run gave them. */
function runOf(startedAt, code, signal, stdout, stderr) {
  const events = stderr
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return { unparsed: l };
      }
    });
  let report = null;
  try {
    report = JSON.parse(stdout);
  } catch {}
  return {
    startedAt,
    endedAt: Date.now(),
    code,
    signal,
    events,
    report,
    // Each verdict the run had: one, or two when it waited out a start window.
    liveness: events.filter((e) => "liveness" in e).map((e) => (e.liveness === "attached" ? `attached-by-${e.holder}` : e.liveness)),
    deferred: events.some((e) => e.key === OWNER_KEY && "wait_ms" in e),
    rows: (report?.rows ?? []).filter((r) => r.key === OWNER_KEY),
    removals: events.filter((e) => e.message === "removed stale row" && e.key === OWNER_KEY).map((e) => ({ host: e.owner_host, at: Date.parse(e.timestamp) })),
  };
}

/** Default sweeps (`--report json`) of one state dir from this namespace, back to back. */
class SweepLoop {
  runs = [];
  #stopped = false;
  #child = null;

  constructor(state) {
    this.state = state;
    this.done = this.#loop();
  }

  async #loop() {
    while (!this.#stopped) this.runs.push(await this.#once());
  }

  #once() {
    return new Promise((resolve) => {
      const startedAt = Date.now();
      const child = spawn(bin, ["--state-dir", this.state, "--log-format", "json", "--report", "json"], {
        stdio: ["ignore", "pipe", "pipe"],
        env: cleanEnv(),
      });
      this.#child = child;
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("close", (code, signal) => {
        this.#child = null;
        resolve(runOf(startedAt, code, signal, out, err));
      });
    });
  }

  /** Ends the loop: a sweep waiting out a window is stopped (SIGTERM ends its wait). */
  async stop() {
    this.#stopped = true;
    this.#child?.kill("SIGTERM");
    await this.done;
  }
}

/**
 * The hostname of start i: a first start on a fresh volume, then a restart
 * under the same hostname (OpenClaw reclaims a dead same-host owner itself),
 * then a new pod under the other hostname each time (only a sweep cures the
 * dead owner's row: OpenClaw waits for its expiry, 5 minutes).
 */
const hostOf = (i) => (i > 0 && i % 2 === 0 ? "pod-b" : "pod-a");

/**
 * One state dir: `n` gateway starts (`startPod(state, host, tmp, i)`), each in
 * a new pod, while SWEEPERS loops sweep it back to back. Each start is
 * SIGKILLed a second after it is ready (a crash); a start under another
 * hostname than its predecessor's begins once a sweep cured the dead one's
 * row (before, it fails on the lease, by design). Records each start in
 * `starts`; returns the sweeps.
 */
async function lane(dir, no, n, startPod, starts) {
  const state = newStateIn(dir);
  const loops = Array.from({ length: SWEEPERS }, () => new SweepLoop(state));
  const runs = () => loops.flatMap((l) => l.runs);
  /** The earliest sweep that ended after `since` having cured `host`'s row, or null after `ms`. */
  const waitCure = async (since, host, ms) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = runs()
        .filter((r) => r.endedAt >= since && r.removals.some((x) => x.host === host))
        .sort((a, b) => a.endedAt - b.endedAt)[0];
      if (hit || Date.now() > deadline) return hit ?? null;
      await sleep(20);
    }
  };
  let prev = null;
  try {
    for (let i = 0; i < n; i++) {
      const host = hostOf(i);
      const s = { lane: no, start: i, host };
      starts.push(s);
      let killedAt = null;
      if (prev) {
        killedAt = Date.now();
        await prev.pod.stop();
        if (!prev.rowHeld) s.predecessor = { curedBy: "none: the predecessor had lost its own row" };
        else if (prev.host !== host) {
          const found = await waitCure(killedAt, prev.host, START_WINDOW_MS + 10_000);
          s.predecessor = found
            ? { curedBy: "sweep", curedMsAfterKill: found.endedAt - killedAt, rowAgeAtCureMs: found.endedAt - prev.createdAt, cureWaitedWindow: found.deferred }
            : { curedBy: null, rowAgeMs: Date.now() - prev.createdAt };
        }
      }
      const pod = await startPod(state, host, podTmp(dir, `start-${i}-${host}`), i);
      const up = await pod.ready();
      Object.assign(s, { ok: up.ok, elapsedMs: up.elapsedMs }, up.failure ? { failure: up.failure } : {}, up.listening !== undefined ? { listening: up.listening } : {});
      if (!up.ok) {
        await pod.stop();
        prev = null;
        continue;
      }
      // Right after it is ready, and a second later: its own row.
      const own = (r) => r.row?.host === host && r.row?.pid === 1;
      const atReady = await pod.row();
      await sleep(1000);
      const later = await pod.row();
      s.rowAtReady = own(atReady) ? "own" : JSON.stringify(atReady);
      s.rowLater = own(later) && later.row.owner === atReady.row.owner ? "own" : JSON.stringify(later);
      // From the row written to the coordinator taken: the start window.
      if (up.doneAt && atReady.row) s.windowMs = up.doneAt - atReady.row.createdAt;
      // OpenClaw's heartbeat renews the row once at start (expires_at, heartbeat_at): a
      // sweep that read it before then finds it changed after its wait.
      if (atReady.row?.heartbeatAt) s.firstRenewalMs = atReady.row.heartbeatAt - atReady.row.createdAt;
      s.heartbeat = pod.log().match(/^.*(heartbeat (exited|stopped)|ownership lost|lease expired).*$/im)?.[0] ?? null;
      s.ownTmp = readdirSync(path.join(dir, `start-${i}-${host}-tmp`)).includes(`openclaw-state-locks-${uid}`);
      if (prev && prev.host === host && prev.rowHeld && atReady.row) {
        // Same hostname: who took the dead one's row, OpenClaw's reclaim or a sweep before it?
        const swept = runs().some((r) => r.removals.some((x) => x.host === host && x.at >= killedAt && x.at <= atReady.row.createdAt));
        s.predecessor = { curedBy: swept ? "sweep" : "openclaw (same-host reclaim)" };
      }
      prev = { pod, host, createdAt: atReady.row?.createdAt, rowHeld: own(later) };
    }
  } finally {
    if (prev) await prev.pod.stop();
    await Promise.all(loops.map((l) => l.stop()));
  }
  return runs();
}

function tally(values) {
  const out = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** At most START_LANES, each with 4 starts or more: two of them under a new hostname (cured by a sweep). */
const lanesFor = (n) => Math.max(1, Math.min(LANES, Math.floor(n / 4)));

const span = (xs) => (xs.length ? { min: Math.min(...xs), max: Math.max(...xs) } : null);

/** `n` starts over `lanes` state dirs side by side, each under sweeps from another pod; asserts and returns the tally. */
async function startsUnderSweeps(t, label, n, lanes, startPod) {
  const root = podsRoot(t, "openclaw-startwindow-");
  const starts = [];
  const began = Date.now();
  const per = (k) => Math.floor(n / lanes) + (k < n % lanes ? 1 : 0);
  const runs = (
    await Promise.all(Array.from({ length: lanes }, (_, k) => lane(mkdirp(path.join(root, `lane-${k}`)), k, per(k), startPod, starts)))
  ).flat();
  starts.sort((a, b) => a.lane - b.lane || a.start - b.start);
  const cures = starts.filter((s) => s.predecessor?.curedBy === "sweep" && s.predecessor.curedMsAfterKill !== undefined).map((s) => s.predecessor);
  const stats = {
    seconds: Math.round((Date.now() - began) / 1000),
    starts: starts.length,
    lanes,
    sweepLoopsPerLane: SWEEPERS,
    sweeps: runs.length,
    sweepExit: tally(runs.map((r) => r.code ?? r.signal)),
    verdicts: tally(runs.map((r) => r.liveness.join(">") || "none")),
    waitedOutAWindow: runs.filter((r) => r.deferred).length,
    ownerRows: tally(runs.flatMap((r) => r.rows.map((x) => `${x.action}:${x.reason}`))),
    predecessorCuredBy: tally(starts.filter((s) => s.predecessor).map((s) => s.predecessor.curedBy)),
    startWindowMs: span(starts.map((s) => s.windowMs).filter((w) => w !== undefined)),
    firstRenewalMs: span(starts.map((s) => s.firstRenewalMs).filter((w) => w !== undefined)),
    cureAfterKillMs: span(cures.map((c) => c.curedMsAfterKill)),
    rowAgeAtCureMs: span(cures.map((c) => c.rowAgeAtCureMs)),
  };
  t.diagnostic(`${label}: ${JSON.stringify(stats)}`);
  for (const s of starts) t.diagnostic(JSON.stringify(s));

  assert.equal(starts.length, n);
  const lost = starts.filter((s) => !(s.ok && s.rowAtReady === "own" && s.rowLater === "own" && s.heartbeat === null));
  assert.deepEqual(lost, [], "every start got the gateway lock and kept its own lease row, its heartbeat alive");
  assert.deepEqual(
    starts.filter((s) => !s.ownTmp).map((s) => `${s.lane}/${s.start}`),
    [],
    "each pod's lifecycle coordinator was in its own /tmp",
  );
  const uncured = starts.filter((s) => s.predecessor && s.predecessor.curedBy === null);
  assert.deepEqual(uncured, [], "each crashed gateway's row under another hostname was cured by a sweep");
  // The sweeps did something: beside live gateways (attached), with every
  // coordinator free (between starts, in the start windows), and cures.
  assert.ok(runs.some((r) => r.liveness.includes("free")), "some sweeps saw free");
  assert.ok(runs.some((r) => r.liveness.includes("attached-by-openclaw")), "some sweeps saw a live gateway attached");
  if (n >= 3) assert.ok((stats.ownerRows["removed:dead-gateway"] ?? 0) >= 1, "sweeps cured crashed gateways' rows");
  assert.ok(
    runs.every((r) => r.code === 0 || r.code === 143 || r.signal === "SIGTERM"),
    `every sweep exited 0 (but the last ones, stopped by SIGTERM): ${JSON.stringify(stats.sweepExit)}`,
  );
  return stats;
}

/** The whole `openclaw` package (npm install) for the real CLI, or why there is none. */
function cliInstall(version) {
  // install.sh installs it for the releases versions.sh names (OPENCLAW_CLI_VERSIONS).
  const installed = path.join(cache, `cli-${version}`);
  const dir = process.env.OPENCLAW_CLI_DIR ?? (existsSync(path.join(installed, ".installed")) ? installed : undefined);
  const why = `the pinned install (${install(version)}, install.sh) has only what the lock code imports: its \`openclaw gateway run\` fails (Cannot find package '@clack/prompts'); list ${version} in versions.sh's OPENCLAW_CLI_VERSIONS, or set OPENCLAW_CLI_DIR to a dir where \`npm install --ignore-scripts openclaw@${version}\` ran`;
  if (!dir) return { skip: why };
  const pkg = path.join(dir, "node_modules", "openclaw", "package.json");
  if (!existsSync(pkg)) return { skip: `OPENCLAW_CLI_DIR=${dir} has no node_modules/openclaw; ${why}` };
  const got = JSON.parse(readFileSync(pkg, "utf8")).version;
  if (got !== version) return { skip: `OPENCLAW_CLI_DIR=${dir} holds openclaw@${got}, not ${version}` };
  return { dir };
}

for (const [version, skip] of cases) {
  const lockPod = (state, host, tmp) => startLockPod(version, state, host, tmp);

  test(`openclaw@${version}: sweeps from another pod across ${ITERATIONS} gateway starts (each after a crash, in a new pod) never cost a start its row`, { skip, timeout: 600_000 }, async (t) => {
    await startsUnderSweeps(t, `openclaw@${version}`, ITERATIONS, lanesFor(ITERATIONS), lockPod);
  });

  test(`openclaw@${version}: the same, ${BUSY_ITERATIONS} starts with every core busy`, { skip, timeout: 600_000 }, async (t) => {
    const burners = Array.from({ length: Math.max(2, availableParallelism()) }, () => spawn("sha256sum", ["/dev/zero"], { stdio: "ignore" }));
    t.after(() => {
      for (const b of burners) if (b.exitCode === null && b.signalCode === null) process.kill(b.pid, "SIGKILL");
    });
    await sleep(200);
    assert.ok(
      burners.every((b) => b.exitCode === null),
      "the burners run",
    );
    await startsUnderSweeps(t, `openclaw@${version}, every core busy`, BUSY_ITERATIONS, lanesFor(BUSY_ITERATIONS), lockPod);
  });

  test(`openclaw@${version}: a gateway SIGKILLed past its start window: one sweep cures its row at once, and a gateway under a new hostname starts`, { skip, timeout: 120_000 }, async (t) => {
    const root = podsRoot(t, "openclaw-startwindow-");
    const state = newStateIn(root);
    const g = await startLockPod(version, state, "pod-a", podTmp(root, "pod-a"));
    t.after(() => g.stop());
    const up = await g.ready();
    assert.equal(up.ok, true, JSON.stringify(up));
    const { row } = await g.row();
    assert.deepEqual([row?.host, row?.pid], ["pod-a", 1]);
    // It runs past its start: its row older than the window when it dies.
    await sleep(Math.max(0, row.createdAt + START_WINDOW_MS + 500 - Date.now()));
    const alive = await g.row();
    assert.equal(alive.row?.owner, row.owner, "its row, still its own at 15.5 s");
    await g.stop();
    const ageMs = Date.now() - row.createdAt;

    const run = sweep(state);
    t.diagnostic(`sweep of a ${ageMs} ms old dead row: ${run.wallMs} ms, exit ${run.code}, rows ${JSON.stringify(run.report?.rows)}`);
    assert.equal(run.code, 0, JSON.stringify(run.events));
    assert.equal(run.report.liveness, "free");
    assert.ok(!run.events.some((e) => "wait_ms" in e), "no wait: the row is older than the window");
    assert.deepEqual(
      run.report.rows.map((r) => [r.key, r.action, r.reason, r.owner_host, r.owner_pid]),
      [[OWNER_KEY, "removed", "dead-gateway", "pod-a", 1]],
    );
    assert.ok(run.wallMs < 3000, `the sweep took ${run.wallMs} ms`);
    assert.equal((await ownerRowOutside(state)).row, null);

    const next = await startLockPod(version, state, "pod-b", podTmp(root, "pod-b"));
    t.after(() => next.stop());
    const again = await next.ready();
    t.diagnostic(`pod-b after the sweep: ${JSON.stringify(again)}`);
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.ok(again.elapsedMs < 2000, `${again.elapsedMs} ms`);
    const mine = await next.row();
    assert.deepEqual([mine.row?.host, mine.row?.pid], ["pod-b", 1]);
  });

  test(`openclaw@${version}: a gateway SIGKILLed inside its start window: one sweep waits out the window, cures its row, and a gateway under a new hostname starts`, { skip, timeout: 120_000 }, async (t) => {
    const root = podsRoot(t, "openclaw-startwindow-");
    const state = newStateIn(root);
    const g = await startLockPod(version, state, "pod-a", podTmp(root, "pod-a"));
    t.after(() => g.stop());
    const up = await g.ready();
    assert.equal(up.ok, true, JSON.stringify(up));
    const { row } = await g.row();
    await g.stop();
    assert.deepEqual([row?.host, row?.pid], ["pod-a", 1]);
    const ageMs = Date.now() - row.createdAt;
    assert.ok(ageMs < START_WINDOW_MS - 5000, `killed ${ageMs} ms after writing its row`);

    const run = sweep(state);
    const waited = run.events.find((e) => e.key === OWNER_KEY && "wait_ms" in e);
    const verdicts = run.events.filter((e) => "liveness" in e).map((e) => e.liveness);
    t.diagnostic(
      `sweep of a ${ageMs} ms old dead row: ${run.wallMs} ms (window left ${START_WINDOW_MS - ageMs} ms, waited ${waited?.wait_ms} ms), verdicts ${JSON.stringify(verdicts)}, rows ${JSON.stringify(run.report?.rows)}`,
    );
    assert.equal(run.code, 0, JSON.stringify(run.events));
    assert.ok(waited, "the sweep waited out the start window");
    assert.deepEqual(verdicts, ["free", "free"], "free, and free again after the window");
    assert.deepEqual(
      run.report.rows.map((r) => [r.key, r.action, r.reason, r.owner_host, r.owner_pid]),
      [[OWNER_KEY, "removed", "dead-gateway", "pod-a", 1]],
    );
    assert.ok(run.wallMs >= START_WINDOW_MS - ageMs, `took ${run.wallMs} ms, less than the ${START_WINDOW_MS - ageMs} ms left of the window`);
    assert.ok(run.wallMs <= START_WINDOW_MS - ageMs + 3000, `took ${run.wallMs} ms, more than the window left (${START_WINDOW_MS - ageMs} ms) + 3 s`);
    assert.equal((await ownerRowOutside(state)).row, null);

    const next = await startLockPod(version, state, "pod-b", podTmp(root, "pod-b"));
    t.after(() => next.stop());
    const again = await next.ready();
    t.diagnostic(`pod-b after the sweep: ${JSON.stringify(again)}`);
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.ok(again.elapsedMs < 2000, `${again.elapsedMs} ms`);
    const mine = await next.row();
    assert.deepEqual([mine.row?.host, mine.row?.pid], ["pod-b", 1]);
  });

  const cli = skip ? { skip } : cliInstall(version);
  test(`openclaw@${version}: the real \`openclaw gateway run\`, ${CLI_STARTS} starts under sweeps from another pod: each gets ready and keeps its row`, { skip: cli.skip ?? false, timeout: 900_000 }, async (t) => {
    const cliPod = (state, host, tmp) => startCliPod(cli.dir, state, host, tmp, 18789);
    await startsUnderSweeps(t, `openclaw@${version} gateway run`, CLI_STARTS, 1, cliPod);
  });
}
