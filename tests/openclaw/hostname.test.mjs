// Why the manifests no longer pin the pod hostname, proved with OpenClaw's
// own code (2026.9.6's `acquireGatewayLock` as `runGatewayLoop` calls it,
// startwindow-gateway.mjs). The gateway writes a `gateway-owner` lease row
// (state_leases in <state>/state/openclaw.sqlite) with its owner {pid, host,
// startedAt}. At start it reclaims a row whose owner is on the SAME hostname
// and whose pid is gone or has another start time, and refuses to start on a
// row of another host ("Another Gateway owner lease is still active"). In a
// container the gateway is always pid 1: under one pinned hostname, every
// other pod's gateway looks like a dead predecessor of its own.
//
//   - Distinct hostnames (pod-a, pod-b), two gateways on one volume: B is
//     refused on the row, and A keeps its row and its heartbeat.
//   - One pinned hostname (openclaw-gateway) for both: B's same-host reclaim
//     judges A's owner (pid 1, another start time) dead and takes the row,
//     then fails on the coordinator on the volume A holds and releases the
//     row: A runs on with no lease row at all, and its heartbeat stops.
//
// Each gateway is a pod: pid 1 of new PID, UTS and mount namespaces, under
// its own hostname and with its own /tmp (a per-pod dir bound over /tmp,
// where OpenClaw's lifecycle coordinator lives), so the state dir and the
// pods' /tmp dirs are made outside /tmp (in /var/tmp, unless TMPDIR is
// elsewhere), as startwindow.test.mjs does. Both cases wait for A's first
// periodic heartbeat (OpenClaw renews every 30 s), side by side.
//
// Env as wedge.test.mjs: SWEEPER_BIN, OPENCLAW_REAL_CACHE.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NODE_NEW, cleanEnv, here, install, newStateIn, podSkip, podTmp, podsRoot, releases, startPid1 } from "./harness.mjs";

const HELPER = path.join(here, "startwindow-gateway.mjs");
/** OpenClaw's owner lease heartbeat (acquireGatewayOwnerLease's heartbeatMs). */
const HEARTBEAT_MS = 30_000;
const REFUSED = "Another Gateway owner lease is still active";
const HEARTBEAT_STOPPED = /^.*owner lease heartbeat stopped.*$/im;
const uid = process.getuid();

assert.ok(existsSync(NODE_NEW), `no ${NODE_NEW}: run tests/openclaw/install.sh`);
const cases = releases("since96", "gatewayCoordinator").map(([version, skip]) => [version, skip || podSkip()]);

/** The pod: its hostname, its own /tmp, then the command as pid 1 (startwindow.test.mjs's POD without the network). */
const POD = 'hostname "$1" && mount --bind "$2" /tmp && shift 2 && exec "$@"';

/** A process's start time in clock ticks since boot (/proc/<pid>/stat field 22), as OpenClaw records it on Linux. */
function startTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

/**
 * OpenClaw's gateway start (startwindow-gateway.mjs) as pid 1 of a new pod
 * on `state` under `host`: `ready()` its first line; `row()` the
 * gateway-owner row as it reads it; `running()` whether its pid 1 still
 * runs; `stop()` SIGKILLs that pid 1 if it still runs (harness startPid1).
 */
async function startPod(t, version, state, root, host, name) {
  const tmp = podTmp(root, name);
  const g = await startPid1(NODE_NEW, HELPER, [install(version)], {
    env: cleanEnv({ OPENCLAW_STATE_DIR: state, HOME: state }),
    unshareArgs: ["--uts"],
    wrap: ["sh", "-c", POD, "sh", host, tmp],
    stdin: true,
  });
  t.after(() => g.kill());
  g.child.stdin.on("error", () => {});
  let next = 1;
  let pid = null;
  return {
    async ready() {
      try {
        const up = await g.line(0, 60_000);
        return up.ok
          ? { ok: true, pid: up.pid, host: up.host, elapsedMs: Math.round(up.elapsedMs), doneAt: up.doneAt }
          : { ok: false, pid: up.pid, host: up.host, elapsedMs: Math.round(up.elapsedMs), failure: `${up.name}: ${up.message}${up.cause ? ` (cause: ${up.cause})` : ""}` };
      } catch (e) {
        return { ok: false, failure: e.message };
      }
    },
    /** Its pid 1 as seen from here, while it runs. */
    outerPid() {
      pid ??= g.innerPid();
      return pid;
    },
    async row() {
      const n = next++;
      g.child.stdin.write("row\n");
      const r = await g.line(n, 15_000);
      assert.equal(r.error, undefined, `reading the row: ${r.error}`);
      return r.row;
    },
    running: () => g.child.exitCode === null && g.child.signalCode === null,
    exited: g.exited,
    log: () => g.stderr(),
    ownTmp: () => readdirSync(tmp).includes(`openclaw-state-locks-${uid}`),
    stop: () => g.kill(),
  };
}

/** A's row at ready: its own (pod `host`, pid 1), its first renewal done at start. */
async function readyWithRow(a, host) {
  const up = await a.ready();
  assert.equal(up.ok, true, `A starts: ${JSON.stringify(up)}`);
  assert.deepEqual([up.pid, up.host], [1, host], "A is pid 1 of its pod, under its hostname");
  const row = await a.row();
  assert.deepEqual([row?.host, row?.pid], [host, 1], `A's row: ${JSON.stringify(row)}`);
  return { up, row };
}

/** B's start while A holds: every distinct row seen meanwhile (read by A), B's outcome. */
async function startBWatching(t, version, state, root, host, a) {
  const seen = [];
  const b = await startPod(t, version, state, root, host, "pod-b");
  let bTicks = null;
  let outcome = null;
  const done = b.ready().then((o) => (outcome = o));
  const note = (row) => {
    const last = seen.at(-1);
    const key = (r) => (r ? `${r.owner}|${r.host}|${r.pid}` : "none");
    if (!last || key(last.row) !== key(row)) seen.push({ row, at: Date.now() });
  };
  while (outcome === null) {
    if (bTicks === null) {
      try {
        bTicks = startTicks(b.outerPid());
      } catch {}
    }
    note(await a.row());
    await Promise.race([done, sleep(100)]);
  }
  await b.exited;
  note(await a.row());
  return { b, outcome, seen, bTicks };
}

for (const [version, skip] of cases) {
  describe(`openclaw@${version}: two live gateways on one volume, by pod hostname`, { skip, concurrency: true }, () => {
    test("distinct hostnames (pod-a, pod-b): B is refused on A's row; A keeps its row and its heartbeat", { timeout: 120_000 }, async (t) => {
      const began = Date.now();
      const root = podsRoot(t, "openclaw-hostname-");
      const state = newStateIn(root);
      const a = await startPod(t, version, state, root, "pod-a", "pod-a");
      const { up, row } = await readyWithRow(a, "pod-a");

      const { b, outcome, seen } = await startBWatching(t, version, state, root, "pod-b", a);
      const after = await a.row();
      t.diagnostic(`A ready in ${up.elapsedMs} ms, its row ${JSON.stringify(row)}`);
      t.diagnostic(`B (pod-b): ${JSON.stringify(outcome)}`);
      t.diagnostic(`rows seen while B ran: ${JSON.stringify(seen.map((s) => s.row && { owner: s.row.owner === row.owner ? "A" : s.row.owner, host: s.row.host, pid: s.row.pid }))}`);
      t.diagnostic(`each pod's lifecycle coordinator in its own /tmp: A ${a.ownTmp()}, B ${b.ownTmp()}`);

      assert.equal(outcome.ok, false, "B must not start beside A");
      assert.ok(outcome.failure.includes(REFUSED), `B fails on the owner lease: ${outcome.failure}`);
      assert.equal(b.ownTmp(), true, "B got past the lifecycle coordinator (its own /tmp) to the lease");
      assert.ok(
        seen.every((s) => s.row?.owner === row.owner),
        `A's row, and only A's, all along: ${JSON.stringify(seen)}`,
      );
      assert.equal(a.running(), true, "A runs on");
      assert.deepEqual([after?.owner, after?.host, after?.pid, after?.createdAt], [row.owner, "pod-a", 1, row.createdAt], "A still holds its row after B gave up");

      // A's heartbeat keeps renewing that row: its next renewal, 30 s after its first.
      const deadline = row.heartbeatAt + HEARTBEAT_MS + 20_000;
      let renewed = after;
      while (renewed?.heartbeatAt === row.heartbeatAt && Date.now() < deadline) {
        await sleep(1000);
        renewed = await a.row();
      }
      t.diagnostic(
        `A's heartbeat: heartbeat_at ${row.heartbeatAt} -> ${renewed?.heartbeatAt} (+${renewed?.heartbeatAt - row.heartbeatAt} ms), expires_at ${row.expiresAt} -> ${renewed?.expiresAt}; log ${JSON.stringify(a.log().match(HEARTBEAT_STOPPED)?.[0] ?? null)}; ${Date.now() - began} ms`,
      );
      assert.equal(renewed?.owner, row.owner, "still A's row");
      assert.ok(renewed.heartbeatAt > row.heartbeatAt, "A's heartbeat renewed its row after B gave up");
      assert.ok(renewed.expiresAt > row.expiresAt, "and pushed its expiry on");
      assert.equal(a.log().match(HEARTBEAT_STOPPED), null, "A's heartbeat never stopped");
      assert.equal(a.running(), true, "A runs on");
    });

    test("one pinned hostname (openclaw-gateway): B's same-host reclaim takes A's row as dead, fails on the coordinator and drops it; A runs on without a row", { timeout: 120_000 }, async (t) => {
      const began = Date.now();
      const root = podsRoot(t, "openclaw-hostname-");
      const state = newStateIn(root);
      const HOST = "openclaw-gateway";
      const a = await startPod(t, version, state, root, HOST, "pod-a");
      const { up, row } = await readyWithRow(a, HOST);
      const aTicks = startTicks(a.outerPid());

      const { b, outcome, seen, bTicks } = await startBWatching(t, version, state, root, HOST, a);
      const after = await a.row();
      const taken = seen.filter((s) => s.row && s.row.owner !== row.owner);
      const aLostAt = seen.find((s) => s.row?.owner !== row.owner)?.at;
      t.diagnostic(`A ready in ${up.elapsedMs} ms, its row ${JSON.stringify(row)}; start times (ticks): A ${aTicks}, B ${bTicks}`);
      t.diagnostic(`B (${HOST}): ${JSON.stringify(outcome)}`);
      t.diagnostic(
        `rows seen while B ran: ${JSON.stringify(seen.map((s) => ({ row: s.row && { owner: s.row.owner === row.owner ? "A" : "B", host: s.row.host, pid: s.row.pid, createdAt: s.row.createdAt }, at: s.at })))}`,
      );
      t.diagnostic(`after B exited: row ${JSON.stringify(after)}; A running ${a.running()}`);

      assert.notEqual(aTicks, bTicks, "two pid 1s, two start times");
      assert.equal(outcome.ok, false, "B does not start beside A");
      assert.doesNotMatch(outcome.failure, new RegExp(REFUSED), "B was not refused on the row: it took it");
      assert.match(outcome.failure, /gateway already running \(pid 1\)/, `B fails on the coordinator A holds: ${outcome.failure}`);
      assert.ok(taken.length > 0, `B's row replaced A's while B ran: ${JSON.stringify(seen)}`);
      assert.ok(
        taken.every((s) => s.row.host === HOST && s.row.pid === 1 && s.row.createdAt > row.createdAt),
        `the row B took, under the same hostname and pid 1: ${JSON.stringify(taken)}`,
      );
      assert.equal(after, null, "after B exits, no gateway-owner row at all");
      assert.equal(a.running(), true, "A runs on, holding the gateway lock, without a lease row");

      // A's heartbeat, at its next renewal, finds its row gone and stops.
      const deadline = row.heartbeatAt + HEARTBEAT_MS + 20_000;
      while (!HEARTBEAT_STOPPED.test(a.log()) && Date.now() < deadline) await sleep(500);
      const stopped = a.log().match(HEARTBEAT_STOPPED)?.[0] ?? null;
      const last = await a.row();
      t.diagnostic(`A's log: ${JSON.stringify(stopped)} (${Date.now() - row.heartbeatAt} ms after its first renewal; A's row lost ${aLostAt ? Date.now() - aLostAt : "?"} ms before); row now ${JSON.stringify(last)}; A running ${a.running()}; ${Date.now() - began} ms`);
      assert.ok(stopped, `A logs that its owner lease heartbeat stopped: ${a.log()}`);
      assert.equal(last, null, "still no row");
      assert.equal(a.running(), true, "A still runs, a gateway with no lease row");
    });
  });
}
