// Issue 22, proved with OpenClaw's own code: the restart wedges 2026.9.x
// keeps in SQLite rows. A gateway (acquireGatewayLock with the options
// runGatewayLoop passes, so it publishes the gateway-owner lease) that also
// holds the session usage refresh lock runs as pid 1 of new PID and UTS
// namespaces under hostname pod-a, and is SIGKILLed; the next gateway starts
// as pod-b, as a new pod of a Deployment or a recreated compose container.
// rows.mjs runs OpenClaw's code; the databases are read back with node:sqlite.
//
// Env as wedge.test.mjs: SWEEPER_BIN, OPENCLAW_REAL_CACHE.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { NODE_NEW, VERSIONS, cleanEnv, here, install, mkdirp, newState, startPid1, sweep } from "./harness.mjs";

const script = path.join(here, "rows.mjs");
const LEASE_ROW = "Another Gateway owner lease is still active";

/** The releases whose dist publishes the gateway-owner lease (2026.9.5 on). */
function hasOwnerLease(version) {
  const dist = path.join(install(version), "node_modules", "openclaw", "dist");
  return readdirSync(dist).some((f) => f.endsWith(".mjs") && readFileSync(path.join(dist, f), "utf8").includes(LEASE_ROW));
}

const envOf = (state) => cleanEnv({ OPENCLAW_STATE_DIR: state, HOME: state });
const asHost = (host) => ["sh", "-c", `hostname ${host} && exec "$@"`, "sh"];

/** OpenClaw's code as pid 1 under `host`: takes `kinds`, releases, exits. */
function once(version, state, host, kinds) {
  const r = spawnSync("unshare", ["--pid", "--fork", "--uts", "--mount-proc", ...asHost(host), NODE_NEW, script, install(version), ...kinds], {
    encoding: "utf8",
    env: { ...envOf(state), RELEASE: "1" },
    timeout: 60_000,
  });
  const line = r.stdout.trim().split("\n").filter(Boolean).at(-1);
  assert.ok(line, `no output (status ${r.status}): ${r.stderr}`);
  return JSON.parse(line);
}

/** The lock rows as they stand, read through SQLite (node:sqlite, read-only). */
function lockRows(state) {
  const code = `
    const { DatabaseSync } = require("node:sqlite");
    const [state] = process.argv.slice(1);
    const read = (file, sql) => {
      if (!require("node:fs").existsSync(file)) return [];
      try {
        const db = new DatabaseSync(file, { readOnly: true });
        try { return db.prepare(sql).all(); } finally { db.close(); }
      } catch (e) { return String(e.message); }
    };
    console.log(JSON.stringify({
      leases: read(state + "/state/openclaw.sqlite", "SELECT scope, lease_key, payload_json FROM state_leases"),
      usage: read(state + "/agents/main/agent/openclaw-agent.sqlite",
        "SELECT value_json FROM cache_entries WHERE scope = 'session-cost-usage' AND key = 'refresh-lock'"),
    }));`;
  const r = spawnSync(NODE_NEW, ["-e", code, state], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  return {
    leases: out.leases.map((l) => `${l.scope}/${l.lease_key} ${JSON.parse(l.payload_json).owner.host}`),
    usage: out.usage.map((u) => JSON.parse(u.value_json).pid),
  };
}

/** OpenClaw's usage view (usage-cost.mjs): `fresh` once a refresh ran. */
function usageStatus(version, state) {
  const r = spawnSync(NODE_NEW, [path.join(here, "usage-cost.mjs"), install(version), "main"], { encoding: "utf8", env: envOf(state), timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)).status;
}

/** A gateway on pod-a holding its lease and a usage refresh, SIGKILLed. */
async function killedGateway(t, version) {
  const state = newState("openclaw-rows-");
  t.after(() => rmSync(state, { recursive: true, force: true }));
  writeFileSync(path.join(mkdirp(path.join(state, "agents", "main", "sessions")), "s1.jsonl"), '{"type":"message"}\n');
  const gateway = await startPid1(NODE_NEW, script, [install(version), "gateway", "usage"], { env: envOf(state), wrap: asHost("pod-a"), unshareArgs: ["--uts"] });
  const held = await gateway.line(0);
  assert.deepEqual([held.pid, held.host, held.gateway.ok, held.usage.acquired], [1, "pod-a", true, true], JSON.stringify(held));
  return { state, gateway };
}

for (const version of VERSIONS.filter(hasOwnerLease)) {
  test(`openclaw@${version}: a live gateway's lease and usage lock rows are never touched`, async (t) => {
    const { state, gateway } = await killedGateway(t, version);
    const before = lockRows(state);
    assert.deepEqual(before, { leases: ["gateway-owner/global pod-a"], usage: [1] });
    const run = sweep(state);
    await gateway.kill();
    assert.equal(run.code, 0, JSON.stringify(run.events));
    assert.equal(run.report.liveness, "attached");
    assert.deepEqual(run.report.rows, [], "rows of a live gateway are not even judged");
    assert.deepEqual(lockRows(state), before);
  });

  test(`openclaw@${version}: after a SIGKILL, a gateway under a new hostname starts, and the usage refresh runs, only after a sweep`, async (t) => {
    const { state, gateway } = await killedGateway(t, version);
    await gateway.kill();
    const wedged = once(version, state, "pod-b", ["gateway", "usage"]);
    t.diagnostic(`before the sweep: ${JSON.stringify(wedged)}`);
    assert.equal(wedged.gateway.ok, false);
    assert.match(wedged.gateway.message, new RegExp(LEASE_ROW));
    assert.equal(wedged.usage.acquired, false, "the dead pid-1 refresh counts as running");
    assert.equal(usageStatus(version, state), "refreshing", "the usage view never refreshes");

    const dry = sweep(state, ["--dry-run"]);
    assert.equal(dry.code, 0);
    assert.deepEqual(dry.report.rows.map((r) => [r.database, r.key, r.action, r.reason]), [
      ["state/openclaw.sqlite", "gateway-owner/global", "would-remove", "dead-gateway"],
      ["agents/main/agent/openclaw-agent.sqlite", "session-cost-usage/refresh-lock", "would-remove", "dead-holder"],
    ]);
    assert.deepEqual(lockRows(state), { leases: ["gateway-owner/global pod-a"], usage: [1] }, "a dry run writes nothing");

    const run = sweep(state);
    assert.equal(run.code, 0, JSON.stringify(run.events));
    assert.equal(run.report.liveness, "free");
    const removed = run.report.rows.filter((r) => r.action === "removed");
    assert.deepEqual(removed.map((r) => [r.key, r.owner_pid, r.owner_host]), [
      ["gateway-owner/global", 1, "pod-a"],
      ["session-cost-usage/refresh-lock", 1, null],
    ]);
    assert.equal(run.events.filter((e) => e.message === "removed stale row").length, 2);
    assert.deepEqual(lockRows(state), { leases: [], usage: [] });

    const cured = once(version, state, "pod-b", ["gateway", "usage"]);
    t.diagnostic(`after the sweep: ${JSON.stringify(cured)}`);
    assert.equal(cured.gateway.ok, true, cured.gateway.message);
    assert.equal(cured.usage.acquired, true);
    assert.equal(usageStatus(version, state), "fresh");
  });

  test(`openclaw@${version}: without the kernel's proof (no coordinator) the lease row is kept, with a WARN naming host, expiry and cure`, async (t) => {
    const { state, gateway } = await killedGateway(t, version);
    await gateway.kill();
    // No coordinator: a release before 2026.8.1 on the volume, or a file
    // system without shared record locks, look the same to the sweep.
    rmSync(path.join(state, "tmp"), { recursive: true });
    const run = sweep(state);
    assert.equal(run.code, 0, JSON.stringify(run.events));
    assert.equal(run.report.liveness, "unknown");
    assert.deepEqual(run.report.rows.map((r) => [r.key, r.action, r.reason]), [
      ["gateway-owner/global", "kept", "unproven"],
      ["session-cost-usage/refresh-lock", "kept", "unproven"],
    ]);
    const warn = run.events.find((e) => e.level === "WARN" && e.key === "gateway-owner/global");
    assert.ok(warn, JSON.stringify(run.events));
    assert.equal(warn.owner_host, "pod-a");
    assert.ok(warn.expires_in_s > 200 && warn.expires_in_s <= 300, `expires_in_s ${warn.expires_in_s}`);
    assert.match(warn.hint, /run the sweep before the gateway starts/);
    assert.deepEqual(lockRows(state), { leases: ["gateway-owner/global pod-a"], usage: [1] });
    const still = once(version, state, "pod-b", ["gateway"]);
    assert.equal(still.gateway.ok, false, "kept means the wedge stays: the WARN is the operator's only cue");
  });

  test(`openclaw@${version}: the same hostname needs no sweep: OpenClaw reclaims its own lease`, async (t) => {
    const { state, gateway } = await killedGateway(t, version);
    await gateway.kill();
    const again = once(version, state, "pod-a", ["gateway"]);
    assert.equal(again.gateway.ok, true, again.gateway.message);
  });

  test(`openclaw@${version}: in the in-process restart window (lock released, pid 1 alive) the coordinator is free and no lease row is left`, async (t) => {
    const state = newState("openclaw-rows-");
    t.after(() => rmSync(state, { recursive: true, force: true }));
    const gateway = await startPid1(NODE_NEW, script, [install(version), "restart"], { env: envOf(state), wrap: asHost("pod-a"), unshareArgs: ["--uts"] });
    const line = await gateway.line(0);
    assert.deepEqual([line.pid, line.restart], [1, { released: true }]);
    const run = sweep(state);
    const alive = gateway.child.exitCode === null;
    await gateway.kill();
    assert.ok(alive, "the restarting gateway lived through the sweep");
    assert.equal(run.code, 0, JSON.stringify(run.events));
    assert.equal(run.report.liveness, "free", "free while the gateway restarts in process");
    assert.deepEqual(run.report.rows, [], "its release deleted the lease before it let the coordinator go");
    assert.deepEqual(lockRows(state).leases, []);
  });
}
