// Shared by the real-code tests: the releases under test (the pinned ones, or
// OPENCLAW_TEST_VERSIONS as install.sh resolved it) and what each applies to,
// OpenClaw's own acquires in child processes (as pid 1 of a new PID namespace
// where a container would run them), and the sweeper with its JSON log.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { survey } from "./survey.mjs";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const bin = process.env.SWEEPER_BIN;
export const cache = process.env.OPENCLAW_REAL_CACHE;
assert.ok(bin && existsSync(bin), "SWEEPER_BIN must name the built sweeper binary");
assert.ok(cache && existsSync(cache), "OPENCLAW_REAL_CACHE must name install.sh's cache dir");

const pins = readFileSync(path.join(here, "versions.sh"), "utf8");
const listed = (name) => pins.match(new RegExp(`^${name}="([^"]*)"`, "m"))[1].split(/\s+/);

/** Orders release versions (2026.9.7-beta.1 before 2026.9.7). */
export function compareVersions(a, b) {
  const parse = (v) => {
    const [main, pre] = v.split(/-(.*)/s);
    return { parts: main.split(".").map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.parts.length, y.parts.length); i++) {
    const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (d !== 0) return d;
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre.localeCompare(y.pre, "en", { numeric: true });
}

/** The pinned releases (versions.sh), oldest first. */
export const PINNED = listed("OPENCLAW_VERSIONS").sort(compareVersions);
/** The releases the upgrade tests write their locks with; install.sh always installs them. */
export const WRITERS = listed("OPENCLAW_WEDGING_VERSIONS");

/**
 * The releases under test, oldest first: the pinned ones, or those
 * OPENCLAW_TEST_VERSIONS names (versions or dist-tags), as install.sh
 * resolved them into <cache>/resolved/ (one that npm does not know is
 * skipped there, and named here).
 */
function selected() {
  const wanted = (process.env.OPENCLAW_TEST_VERSIONS ?? "").trim();
  if (!wanted) return PINNED;
  const out = [];
  for (const name of wanted.split(/\s+/)) {
    const file = path.join(cache, "resolved", name);
    assert.ok(existsSync(file), `OPENCLAW_TEST_VERSIONS names ${name}, but ${file} does not exist: run tests/openclaw/install.sh with the same OPENCLAW_TEST_VERSIONS`);
    const version = readFileSync(file, "utf8").trim();
    if (!version) console.error(`harness: openclaw@${name} is not on npm (install.sh skipped it)`);
    else if (!out.includes(version)) out.push(version);
  }
  assert.ok(out.length > 0, `none of OPENCLAW_TEST_VERSIONS (${wanted}) is on npm`);
  return out.sort(compareVersions);
}
export const VERSIONS = selected();

/**
 * The pinned release a release is tested as: the newest pinned one not newer
 * than it (the oldest pinned for an older one). A release newer than every
 * pinned one thus runs every test that applies to the newest pinned one.
 */
export function asPinned(version) {
  return PINNED.filter((p) => compareVersions(p, version) <= 0).at(-1) ?? PINNED[0];
}

const surveys = new Map();
/** Whether survey.mjs finds kind `id` (with `fact`, if given) in the release's dist. */
export function hasKind(version, id, fact) {
  if (!surveys.has(version)) surveys.set(version, survey(install(version)));
  const k = surveys.get(version).get(id);
  return k !== undefined && (fact === undefined || k.facts.has(fact));
}

/**
 * What a release-specific test needs of a release, each by a version range
 * (a release's behaviour) or a kind survey.mjs finds in its dist (a feature).
 */
export const APPLIES = {
  // The SDK file lock records no `starttime` before 2026.5.26: a dead pid-1
  // lock wedges those releases for good; later ones reclaim it themselves.
  wedgesOnPid1: (v) => compareVersions(v, "2026.5.26") < 0,
  // fs-safe's reclaim guard beside a lock (fs-safe >= 0.5).
  reclaimGuard: (v) => hasKind(v, "reclaim-guard:*.lock.reclaim"),
  // The SDK lock's stale modes of 2026.9 (fail-closed, remove-if-definitely-stale).
  staleModes: (v) => hasKind(v, "stale-rule:file-lock", "mode:remove-if-definitely-stale"),
  // The gateway's SQLite coordinators on the state volume (acquireGatewayLock needs node:sqlite).
  gatewayCoordinator: (v) => hasKind(v, "coordinator:*.*.lock.sqlite"),
  // The usage refresh lock as a SQLite row instead of a file.
  usageLockRow: (v) => hasKind(v, "lock-row:session-cost-usage/refresh-lock"),
  // What was read from, and shown with, 2026.9.6's dist (its default lock
  // paths, the settings store, the SQLite auth profile store): the releases
  // tested as 2026.9.6 or a newer pinned one.
  since96: (v) => compareVersions(asPinned(v), "2026.9.6") >= 0,
};

/**
 * Each release under test with the `skip` option of its test: false where
 * every named need of APPLIES holds (a "!name" must not), else the reason.
 */
export function releases(...needs) {
  return VERSIONS.map((version) => {
    const unmet = needs.filter((n) => (n.startsWith("!") ? APPLIES[n.slice(1)](version) : !APPLIES[n](version)));
    const why = unmet.map((n) => (n.startsWith("!") ? `has ${n.slice(1)}` : `lacks ${n}`));
    return [version, unmet.length ? `openclaw@${version} ${why.join(", ")}` : false];
  });
}

/** The Node that install.sh put beside the releases (2026.9.6's gateway lock needs node:sqlite). */
export const NODE_NEW = path.join(cache, `node-${listed("OPENCLAW_NODE_VERSION")[0]}`, "bin", "node");
export const install = (version) => path.join(cache, version);

/** The sweeper's grace for a leftover naming no holder (judge::GRACE). */
export const GRACE_MS = 10_000;
export const DAY_AGO = () => new Date(Date.now() - 86_400_000);

export function newState(prefix = "openclaw-leftover-") {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Backdates a leftover (file or directory) as if it had been left a day ago. */
export function age(p, when = DAY_AGO()) {
  utimesSync(p, when, when);
}

/** A clean environment for OpenClaw's code: only PATH and what is given. */
export const cleanEnv = (extra = {}) => ({ PATH: process.env.PATH, ...extra });

/** One JSON line from a child's stdout, or a failure naming its stderr. */
function lastJson(r) {
  const lines = r.stdout.trim().split("\n").filter(Boolean);
  assert.ok(lines.length > 0, `no output (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
  return JSON.parse(lines.at(-1));
}

/** OpenClaw's own acquire (acquire.mjs: plugin-sdk/file-lock, SHORT_BUDGET), from the normal namespace. */
export function acquire(version, target, staleRecovery) {
  const args = [path.join(here, "acquire.mjs"), install(version), target];
  const r = spawnSync(process.execPath, staleRecovery ? [...args, staleRecovery] : args, {
    encoding: "utf8",
    timeout: 60_000,
    env: cleanEnv(),
  });
  assert.equal(r.status, 0, r.stderr);
  const out = lastJson(r);
  return { ok: out.ok, ...(out.code !== undefined ? { code: out.code } : {}), elapsedMs: Math.round(out.elapsedMs) };
}

/** Runs a node script as pid 1 of a new PID namespace, synchronously; returns its stdout lines as JSON. */
export function runAsPid1(node, script, args, env = cleanEnv()) {
  const r = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", node, script, ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env,
  });
  const lines = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  return { status: r.status, signal: r.signal, lines, stderr: r.stderr };
}

/**
 * Starts a node script as pid 1 of a new PID namespace and waits for its
 * first stdout line; `kill()` SIGKILLs that pid 1 (not unshare) and waits.
 * `unshareArgs` may add namespaces (e.g. --mount) and `wrap` a command that
 * runs before node inside them (e.g. sh -c 'mount --bind ... && exec "$@"').
 */
export async function startPid1(node, script, args, { env = cleanEnv(), unshareArgs = [], wrap = [], stdin = false } = {}) {
  const child = spawn("unshare", [...unshareArgs, "--pid", "--fork", "--mount-proc", ...wrap, node, script, ...args], {
    stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"],
    env,
  });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const lines = [];
  let buf = "";
  const waiters = [];
  child.stdout.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const line = async (n, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (lines.length <= n) {
      const early = await Promise.race([
        new Promise((r) => waiters.push(r)).then(() => false),
        exited.then(() => true),
        new Promise((r) => setTimeout(() => r(null), Math.max(0, deadline - Date.now())).unref()),
      ]);
      if (lines.length > n) break;
      if (early === true) throw new Error(`pid 1 exited before line ${n}: ${err}`);
      if (early === null) throw new Error(`pid 1 gave no line ${n} in ${ms} ms: ${err}`);
    }
    return lines[n];
  };
  return {
    child,
    exited,
    line,
    stderr: () => err,
    /** The namespace's pid 1 as seen from here (unshare --fork's only child). */
    innerPid() {
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      assert.equal(kids.length, 1, "unshare has exactly one child, the namespace's pid 1");
      const pid = Number(kids[0]);
      // Never 0 (the test runner's own process group) nor 1.
      assert.ok(pid > 1, `no pid 1 to name: ${kids}`);
      return pid;
    },
    async kill() {
      // Already gone: nothing to kill (and no pid to guess).
      let kids = "";
      try {
        kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim();
      } catch (e) {
        if (e.code !== "ENOENT") throw e;
      }
      if (kids !== "") process.kill(this.innerPid(), "SIGKILL");
      return exited;
    },
  };
}

/** Holds OpenClaw's own locks as pid 1 of a new PID namespace, then SIGKILLs it (holder.mjs). */
export async function holdAndKill(version, targets) {
  const holder = await startPid1(process.execPath, path.join(here, "holder.mjs"), [install(version), ...targets]);
  const held = await holder.line(0);
  assert.equal(held.pid, 1, "the holder must be pid 1, as the gateway in a container");
  await holder.kill();
  return held;
}

/**
 * OpenClaw's acquire killed at one point of its protocol (die-at.mjs). As
 * pid 1 of a new PID namespace (`asPid1`) it freezes there and is SIGKILLed
 * from here; else it SIGKILLs itself.
 */
export async function dieAt(version, point, target, { asPid1 = false } = {}) {
  const script = path.join(here, "die-at.mjs");
  const args = [install(version), point, target];
  return asPid1 ? killAtFirstLine(process.execPath, script, args) : dieSelf(script, args);
}

function dieSelf(script, args) {
  const s = spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 60_000, env: cleanEnv() });
  const lines = s.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(lines.length, 1, `${JSON.stringify(lines)} ${s.stderr}`);
  assert.notEqual(lines[0].reached, false, `never reached its point: ${JSON.stringify(lines[0])}`);
  assert.equal(s.signal, "SIGKILL");
  return lines[0];
}

/** Runs a script as pid 1, SIGKILLs it (from this namespace) once it printed its first line. */
export async function killAtFirstLine(node, script, args, env = cleanEnv()) {
  const p = await startPid1(node, script, args, { env });
  const first = await p.line(0);
  assert.notEqual(first.reached, false, `never reached its point: ${JSON.stringify(first)}`);
  const { signal } = await p.kill();
  assert.equal(first.pid, 1);
  return { ...first, unshareSignal: signal };
}

/** Calls a function of a release's dist by name in a child (oc-call.mjs); OpenClaw's env as given. */
export function ocCall(version, name, args, env = cleanEnv()) {
  const r = spawnSync(process.execPath, [path.join(here, "oc-call.mjs"), install(version), name, JSON.stringify(args)], {
    encoding: "utf8",
    env,
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
  out.elapsedMs = Math.round(out.elapsedMs);
  return out;
}

/** The OAuth refresh lock target, named by the release's own resolveOAuthRefreshLockPath. */
export function oauthTarget(version, state) {
  const r = ocCall(version, "resolveOAuthRefreshLockPath", ["openai-codex", "openai-codex:default"], cleanEnv({ OPENCLAW_STATE_DIR: state }));
  assert.equal(r.ok, true, JSON.stringify(r));
  const target = r.value;
  assert.ok(target.startsWith(path.join(state, "locks", "oauth-refresh") + path.sep), target);
  mkdirp(path.dirname(target));
  return target;
}

/** The sweeper, JSON log and report. */
export function sweep(state, args = [], { env = cleanEnv() } = {}) {
  const started = Date.now();
  const r = spawnSync(bin, ["--state-dir", state, "--log-format", "json", "--report", "json", ...args], {
    encoding: "utf8",
    env,
    maxBuffer: 256 << 20,
  });
  const events = r.stderr.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  return { code: r.status, events, report: r.stdout ? JSON.parse(r.stdout) : null, wallMs: Date.now() - started };
}

export const pathsOf = (events, message) =>
  events.filter((e) => e.message === message).map((e) => e.path).sort();
export const rel = (state, p) => path.relative(state, p);
export const TOO_YOUNG = "kept: a leftover naming no holder, too young to be sure its writer is gone";

export function mkdirp(p) {
  mkdirSync(p, { recursive: true });
  return p;
}

// === Pods: OpenClaw's code as pid 1 under its own hostname and /tmp ===

/** Whether `p` lies under the machine's /tmp, which a pod's own /tmp hides. */
const underTmp = (p) => {
  const r = realpathSync(p);
  return r === "/tmp" || r.startsWith("/tmp/");
};

/**
 * Why pod tests cannot run here (false when they can): a pod binds its own
 * /tmp over /tmp, so what of the test (this dir, the installs, `more`) lies
 * under the machine's /tmp is out of its sight.
 */
export function podSkip(...more) {
  const blind = [here, cache, ...more].filter((p) => p && existsSync(p) && underTmp(p));
  return blind.length ? `the pods bind their own /tmp over /tmp, and ${blind.join(", ")} lies under /tmp` : false;
}

/** A dir for a test's pods and state dirs, outside /tmp (see podSkip); removed after the test. */
export function podsRoot(t, prefix) {
  const base = underTmp(tmpdir()) ? "/var/tmp" : tmpdir();
  const root = mkdtempSync(path.join(base, prefix));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** A state dir in `dir`, with what makes the sweep take it for OpenClaw's. */
export function newStateIn(dir) {
  const state = mkdirp(path.join(dir, "state"));
  mkdirp(path.join(state, "locks"));
  return state;
}

/** A pod's own /tmp, sticky and world-writable as /tmp is. */
export function podTmp(dir, name) {
  const p = mkdirp(path.join(dir, `${name}-tmp`));
  chmodSync(p, 0o1777);
  return p;
}
