// The number operators care about (issue 22): the time from a SIGKILL of the
// gateway to the restarted gateway holding its gateway lock and an OAuth
// refresh lock, with OpenClaw's own code (tests/openclaw/rows.mjs:
// acquireGatewayLock as runGatewayLoop calls it, and the SDK file lock), per
// restart kind and sweeper mode.
//
// The killed gateway ran as pid 1 of new PID and UTS namespaces under
// hostname pod-a, holding both locks (the gateway-owner lease too). The
// restart runs as pod-a (a container restarted in place) or pod-b (a new pod,
// a recreated compose container); a failed start is retried every RETRY_S
// seconds, as a supervisor would (kubelet's back-off is longer). Modes:
//   none:    OpenClaw alone;
//   init:    one sweep before the first start (an init container runs once
//            per pod, not at each container restart);
//   wrapper: a sweep before every start.
// Each sweeping mode runs with each binary given (label=path).
//
// Usage: node bench/recovery.mjs CACHE before=BIN after=BIN
//   CACHE: the dir tests/openclaw/install.sh prints (OpenClaw 2026.9.6 and
//   Node 26 in it). Prints one line per case and a Markdown table.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, "..", "tests", "openclaw", "rows.mjs");
const [cache, ...binArgs] = process.argv.slice(2);
const VERSION = "2026.9.6";
const install = path.join(cache, VERSION);
const node = path.join(cache, "node-26.10.0", "bin", "node");
const bins = binArgs.map((a) => a.split("="));
const RETRY_S = 5;
const GIVE_UP_S = 420;

const asHost = (host) => ["--pid", "--fork", "--uts", "--mount-proc", "sh", "-c", `hostname ${host} && exec "$@"`, "sh"];
const envOf = (state) => ({ PATH: process.env.PATH, OPENCLAW_STATE_DIR: state, HOME: state });
const lockPath = (state) => path.join(state, "locks", "oauth-refresh", "lock-bench.lock");

/** The gateway on pod-a, holding both locks, SIGKILLed. */
async function killed(state) {
  mkdirSync(path.dirname(lockPath(state)), { recursive: true });
  const child = spawn("unshare", [...asHost("pod-a"), node, script, install, "gateway", `oauth:${lockPath(state)}`], {
    env: envOf(state),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise((resolve, reject) => {
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) resolve(JSON.parse(buf.split("\n")[0]));
    });
    child.on("exit", () => reject(new Error("the gateway exited before it held its locks")));
  });
  if (!line.gateway?.ok || !line.oauth?.ok) throw new Error(`the first gateway did not get its locks: ${JSON.stringify(line)}`);
  const inner = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim());
  const exited = new Promise((resolve) => child.on("exit", resolve));
  process.kill(inner, "SIGKILL");
  await exited;
}

/** One start: true when it held both locks (then released them). */
function start(state, host) {
  const r = spawnSync("unshare", [...asHost(host), node, script, install, "gateway", `oauth:${lockPath(state)}`], {
    encoding: "utf8",
    env: { ...envOf(state), RELEASE: "1" },
    timeout: 60_000,
  });
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
  return out.gateway.ok && out.oauth.ok;
}

function sweepWith(bin, state) {
  const r = spawnSync(bin, ["--state-dir", state], { encoding: "utf8", env: { PATH: process.env.PATH } });
  if (r.status !== 0) throw new Error(`sweep failed (${r.status}): ${r.stderr}`);
}

async function recovery({ host, mode, bin }) {
  const state = mkdtempSync(path.join(tmpdir(), "openclaw-recovery-"));
  try {
    await killed(state);
    const t0 = performance.now();
    for (let attempt = 0; ; attempt++) {
      if (mode === "wrapper" || (mode === "init" && attempt === 0)) sweepWith(bin, state);
      if (start(state, host)) return { seconds: (performance.now() - t0) / 1000, attempts: attempt + 1 };
      if ((performance.now() - t0) / 1000 > GIVE_UP_S) return { seconds: Infinity, attempts: attempt + 1 };
      await new Promise((r) => setTimeout(r, RETRY_S * 1000));
    }
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

const cases = [];
for (const host of ["pod-a", "pod-b"]) {
  cases.push({ host, mode: "none", label: "-" });
  for (const mode of ["init", "wrapper"]) for (const [label, bin] of bins) cases.push({ host, mode, label, bin });
}
// The cases wait on OpenClaw's own 300 s expiry at most: run them at once.
const results = await Promise.all(
  cases.map(async (c) => {
    const r = await recovery(c);
    console.log(`${c.host === "pod-a" ? "same hostname" : "new hostname"}, ${c.mode}, ${c.label}: ${r.seconds.toFixed(1)} s, ${r.attempts} start(s)`);
    return { ...c, ...r };
  }),
);
console.log(`\n| restart | none | ${bins.flatMap(([l]) => [`init (${l})`, `wrapper (${l})`]).join(" | ")} |`);
console.log(`|---|---:|${bins.flatMap(() => ["---:", "---:"]).join("|")}|`);
for (const host of ["pod-a", "pod-b"]) {
  const cell = (mode, label) => {
    const r = results.find((x) => x.host === host && x.mode === mode && x.label === label);
    return `${r.seconds.toFixed(1)} s (${r.attempts})`;
  };
  const row = [cell("none", "-"), ...bins.flatMap(([l]) => [cell("init", l), cell("wrapper", l)])];
  console.log(`| ${host === "pod-a" ? "same hostname (pod-a)" : "new hostname (pod-b)"} | ${row.join(" | ")} |`);
}
