// OpenClaw's own session usage-cost refresh (2026.5.22 and 2026.7.1: the
// file lock `agents/<id>/sessions/.usage-cost-cache.json.lock`, taken by
// `refreshCostUsageCache`), through the exported entry point the gateway's
// usage view calls: `loadCostUsageSummaryFromCache` with
// refreshMode "sync-when-empty" refreshes at once when nothing is cached.
// The state dir comes from OPENCLAW_STATE_DIR, as in OpenClaw.
// Usage: node usage-cost.mjs INSTALL_DIR AGENT_ID [die]
// Prints {status, cachedFiles, pendingFiles, elapsedMs}: "refreshing" with
// nothing cached means the refresh found the lock held and did not run.
// `die`: SIGKILL this process the moment it holds the lock (its first
// directory scan after the lock file exists), as an OOM kill mid-refresh;
// prints {pid, lock} first (as pid 1: freezes there, for the caller to kill).
import fs from "node:fs";
import path from "node:path";
import { freezeOrDie, loadDistFunction } from "./lockapi.mjs";

const [installDir, agentId, die] = process.argv.slice(2);
const lock = path.join(process.env.OPENCLAW_STATE_DIR, "agents", agentId, "sessions", ".usage-cost-cache.json.lock");
if (die === "die") {
  const readdir = fs.promises.readdir;
  fs.promises.readdir = async function (...args) {
    if (fs.existsSync(lock)) {
      process.stdout.write(`${JSON.stringify({ pid: process.pid, lock: fs.readFileSync(lock, "utf8") })}\n`);
      freezeOrDie();
    }
    return readdir.apply(this, args);
  };
}
const { fn: loadCostUsageSummaryFromCache } = await loadDistFunction(installDir, "loadCostUsageSummaryFromCache");
const started = performance.now();
// The last 30 days, as the usage view asks: 2026.9.6 requires the range
// (without it: RangeError "Invalid time value"); older releases take it too.
const range = { startMs: Date.now() - 30 * 86_400_000, endMs: Date.now() };
const summary = await loadCostUsageSummaryFromCache({ agentId, refreshMode: "sync-when-empty", config: {}, ...range });
const elapsedMs = performance.now() - started;
const { status, cachedFiles, pendingFiles } = summary.cacheStatus;
process.stdout.write(`${JSON.stringify({ status, cachedFiles, pendingFiles, elapsedMs })}\n`);
process.exit(die === "die" ? 3 : 0); // OpenClaw's timers would keep it alive
