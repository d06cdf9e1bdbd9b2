// The wedge from the field, reproduced with OpenClaw's own lock code from
// npm, and cured by the sweeper binary.
//
// For each pinned release: a real acquire inside a new PID namespace (pid 1,
// as in a container) is SIGKILLed mid-hold; a second real acquire from the
// normal namespace, where pid 1 is alive, is tried with OpenClaw's own stale
// rules; the sweeper (dry run, then for real) must name and remove exactly
// the locks OpenClaw wrote; after it, the acquire succeeds at once.
//
// Env: SWEEPER_BIN (the built binary), OPENCLAW_REAL_CACHE (from install.sh),
// UPDATE_FIXTURES=1 to rewrite tests/fixtures/openclaw from this run.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { APPLIES, VERSIONS, WRITERS, asPinned, releases } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, "..", "fixtures", "openclaw");
const bin = process.env.SWEEPER_BIN;
const cache = process.env.OPENCLAW_REAL_CACHE;
assert.ok(bin && existsSync(bin), "SWEEPER_BIN must name the built sweeper binary");
assert.ok(cache && existsSync(cache), "OPENCLAW_REAL_CACHE must name install.sh's cache dir");


// The two lock kinds of the field reports: the global OAuth refresh lock
// (a sha256 of provider and profile, as OpenClaw names it) and the sidecar
// of an agent's profile store.
function targets(state) {
  const hash = createHash("sha256").update("openai-codex\0openai-codex:default").digest("hex");
  return {
    "oauth-refresh": path.join(state, "locks", "oauth-refresh", `sha256-${hash}`),
    "auth-profiles": path.join(state, "agents", "main", "agent", "auth-profiles.json"),
  };
}

function newState() {
  const state = mkdtempSync(path.join(tmpdir(), "openclaw-real-"));
  mkdirSync(path.join(state, "locks", "oauth-refresh"), { recursive: true });
  mkdirSync(path.join(state, "agents", "main", "agent"), { recursive: true });
  return state;
}

/** Holds the locks as pid 1 of a new PID namespace, then SIGKILLs the holder. */
async function holdAndKill(version, paths) {
  const child = spawn(
    "unshare",
    ["--pid", "--fork", "--mount-proc", process.execPath, path.join(here, "holder.mjs"), path.join(cache, version), ...paths],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const line = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("holder did not report its locks in 30 s")), 30_000);
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve(out.split("\n")[0]);
      }
    });
    child.on("exit", (code) => reject(new Error(`holder exited early (${code})`)));
  });
  // unshare --fork's child is the namespace's pid 1: kill it, not unshare.
  const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/);
  assert.equal(children.length, 1);
  process.kill(Number(children[0]), "SIGKILL");
  await exited;
  return JSON.parse(line);
}

function acquire(version, target, staleRecovery) {
  const args = [path.join(here, "acquire.mjs"), path.join(cache, version), target];
  const r = spawnSync(process.execPath, staleRecovery ? [...args, staleRecovery] : args, {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** The acquire as pid 1 of a new PID namespace: a gateway container started
 * again in place. `wrapped`: its command runs through the sweeper. */
function acquireAsRestartedPid1(version, state, target, wrapped) {
  const wrapper = wrapped ? [bin, "--state-dir", state, "--"] : [];
  const args = ["--pid", "--fork", "--mount-proc", ...wrapper, process.execPath, path.join(here, "acquire.mjs"), path.join(cache, version), target];
  const r = spawnSync("unshare", args, { encoding: "utf8", timeout: 60_000, env: { PATH: process.env.PATH } });
  assert.equal(r.status, 0, r.stderr);
  return { ...JSON.parse(r.stdout), log: r.stderr };
}

function sweep(state, args = []) {
  const r = spawnSync(bin, ["--state-dir", state, "--log-format", "json", "--report", "json", ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH },
  });
  const events = r.stderr.trim().split("\n").map((l) => JSON.parse(l));
  return { code: r.status, events, report: JSON.parse(r.stdout) };
}

const pathsOf = (events, message) => events.filter((e) => e.message === message).map((e) => e.path).sort();
const rel = (state, p) => path.relative(state, p);

/** Compares the shape of OpenClaw's bytes with the committed fixture. */
function checkFixture(t, version, kind, bytes) {
  // A release that is not pinned is held to the format of the pinned one it is tested as.
  const file = path.join(fixtures, asPinned(version), `${kind}.lock`);
  if (process.env.UPDATE_FIXTURES === "1" && asPinned(version) === version) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, bytes);
  }
  assert.ok(existsSync(file), `no fixture ${file}: run with UPDATE_FIXTURES=1`);
  const fixture = readFileSync(file);
  const shape = (b) => {
    const text = b.toString("utf8");
    const payload = JSON.parse(text);
    return {
      keys: Object.keys(payload).sort(),
      pid: payload.pid,
      pretty: text.startsWith("{\n  \""),
      tail: text.slice(text.lastIndexOf("}") + 1).replace(/[ \t]/g, "·").replace(/·+/g, "<ws>"),
    };
  };
  assert.deepEqual(shape(bytes), shape(fixture), `${version} ${kind}: OpenClaw's lock format changed`);
  t.diagnostic(`${version} ${kind} bytes: ${JSON.stringify(bytes.toString("utf8"))}`);
}

for (const version of VERSIONS) {
  test(`openclaw@${version}: a pid-1 lock left by a killed refresh, then the sweep`, async (t) => {
    const state = newState();
    t.after(() => rmSync(state, { recursive: true, force: true }));
    const target = targets(state);

    const holder = await holdAndKill(version, Object.values(target));
    assert.equal(holder.pid, 1, "the holder must be pid 1, as the gateway in a container");
    const locks = holder.held.map((p) => rel(state, p)).sort();
    assert.deepEqual(locks, Object.values(target).map((p) => `${rel(state, p)}.lock`).sort());
    for (const [kind, p] of Object.entries(target)) {
      checkFixture(t, version, kind, readFileSync(`${p}.lock`));
    }

    // The dry run names exactly the locks OpenClaw wrote, and keeps them.
    const dry = sweep(state, ["--dry-run"]);
    assert.equal(dry.code, 0);
    assert.deepEqual(pathsOf(dry.events, "would remove stale lock (dry run)"), locks);
    for (const e of dry.events.filter((e) => e.message.startsWith("would remove"))) {
      assert.equal(e.pid, 1);
      assert.match(e.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    assert.ok(locks.every((l) => existsSync(path.join(state, l))));

    // OpenClaw's own second acquire, from where pid 1 is alive.
    const before = acquire(version, target["oauth-refresh"]);
    t.diagnostic(`${version} acquire before the sweep: ${JSON.stringify(before)}`);
    const starttime = "starttime" in JSON.parse(readFileSync(path.join(fixtures, asPinned(version), "oauth-refresh.lock"), "utf8"));
    if (APPLIES.wedgesOnPid1(version)) {
      assert.equal(starttime, false);
      assert.equal(before.ok, false, "the wedge: OpenClaw honours the dead pid-1 lock");
      assert.equal(before.code, "file_lock_timeout");
    } else {
      // Newer releases record the holder's starttime and reclaim a lock
      // whose pid 1 is a different process than the one that wrote it.
      assert.equal(starttime, true);
      assert.equal(before.ok, true, "this release reclaims a pid-1 lock with a changed starttime");
    }

    const run = sweep(state);
    assert.equal(run.code, 0);
    const stillThere = APPLIES.wedgesOnPid1(version) ? locks : locks.filter((l) => !l.startsWith("locks/oauth-refresh/"));
    assert.deepEqual(pathsOf(run.events, "removed stale lock"), stillThere);
    assert.equal(run.report.swept, stillThere.length);
    assert.deepEqual(readdirSync(path.join(state, "locks", "oauth-refresh")), []);

    for (const p of Object.values(target)) {
      const after = acquire(version, p);
      t.diagnostic(`${version} acquire after the sweep (${rel(state, p)}): ${JSON.stringify(after)}`);
      assert.equal(after.ok, true);
      assert.ok(after.elapsedMs < 1000, `acquire took ${after.elapsedMs} ms`);
    }
  });
}

for (const version of VERSIONS) {
  test(`openclaw@${version}: the killed gateway restarted in place as pid 1, plain and under the wrapper`, async (t) => {
    // The kubelet restarts an OOM-killed container in place: no init
    // container runs, and the new gateway is pid 1 again.
    const state = newState();
    t.after(() => rmSync(state, { recursive: true, force: true }));
    const target = targets(state)["oauth-refresh"];
    await holdAndKill(version, [target]);
    const plain = acquireAsRestartedPid1(version, state, target, false);
    t.diagnostic(`${version} restarted as pid 1, plain: ${JSON.stringify({ ...plain, log: undefined })}`);
    assert.equal(plain.pid, 1);
    if (APPLIES.wedgesOnPid1(version)) {
      assert.equal(plain.ok, false, "the restarted pid 1 honours the dead pid-1 lock");
      assert.equal(plain.code, "file_lock_timeout");
    } else {
      assert.equal(plain.ok, true, "this release reclaims a pid-1 lock with a changed starttime");
      // That acquire reclaimed and released it: leave a dead one again.
      await holdAndKill(version, [target]);
    }
    const wrapped = acquireAsRestartedPid1(version, state, target, true);
    t.diagnostic(`${version} restarted as pid 1, wrapped: ${JSON.stringify({ ...wrapped, log: undefined })}`);
    assert.equal(wrapped.pid, 1, "the wrapped command keeps the wrapper's pid");
    assert.equal(wrapped.ok, true, wrapped.log);
    assert.ok(wrapped.elapsedMs < 1000, `acquire took ${wrapped.elapsedMs} ms`);
    assert.match(wrapped.log, /removed stale lock/);
  });
}

for (const [version, skip] of releases("!wedgesOnPid1")) {
  test(`a lock written by openclaw@${WRITERS[0]} still wedges openclaw@${version}, until swept`, { skip }, async (t) => {
    // An upgrade does not clear the volume: the old lock has no starttime, so
    // the new release can only ask whether pid 1 is alive, and it is.
    const state = newState();
    t.after(() => rmSync(state, { recursive: true, force: true }));
    const target = targets(state)["oauth-refresh"];
    await holdAndKill(WRITERS[0], [target]);
    const before = acquire(version, target);
    t.diagnostic(`${version} acquire of a ${WRITERS[0]} lock before the sweep: ${JSON.stringify(before)}`);
    assert.equal(before.ok, false);
    assert.equal(before.code, "file_lock_timeout");
    const run = sweep(state);
    assert.deepEqual(pathsOf(run.events, "removed stale lock"), [`${rel(state, target)}.lock`]);
    const after = acquire(version, target);
    t.diagnostic(`${version} acquire after the sweep: ${JSON.stringify(after)}`);
    assert.equal(after.ok, true);
  });
}

for (const [version, skip] of releases("staleModes")) {
  test(`openclaw@${version}: a fail-closed lock (provider-auth-persistence) is never reclaimed by OpenClaw itself`, { skip }, async (t) => {
    // Since 2026.9 the provider-auth-persistence locks use staleRecovery
    // "fail-closed": even a holder that is provably gone (changed starttime)
    // makes the acquire fail instead of reclaiming, so the sweep still matters.
    const state = newState();
    t.after(() => rmSync(state, { recursive: true, force: true }));
    const digest = createHash("sha256").update("openai-codex").update("\0").update("openai-codex:default").digest("hex");
    const target = path.join(state, "locks", "provider-auth-persistence", `lock-${digest}`);
    mkdirSync(path.dirname(target), { recursive: true });
    await holdAndKill(version, [target]);
    const before = acquire(version, target, "fail-closed");
    t.diagnostic(`${version} fail-closed acquire before the sweep: ${JSON.stringify(before)}`);
    assert.equal(before.ok, false);
    assert.equal(before.code, "file_lock_stale");
    const run = sweep(state);
    assert.deepEqual(pathsOf(run.events, "removed stale lock"), [`${rel(state, target)}.lock`]);
    const after = acquire(version, target, "fail-closed");
    t.diagnostic(`${version} fail-closed acquire after the sweep: ${JSON.stringify(after)}`);
    assert.equal(after.ok, true);
  });
}
