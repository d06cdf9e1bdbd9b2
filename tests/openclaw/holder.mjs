// Takes OpenClaw's own locks and holds them. Run inside a new PID namespace,
// where it is pid 1, exactly as the gateway in a container.
// Usage: node holder.mjs INSTALL_DIR TARGET...
// HOLD_MS unset: hold until killed. HOLD_MS set: hold that long, check each
// lock file still holds the bytes OpenClaw wrote, release, report, exit.
import { readFileSync } from "node:fs";
import { loadFileLock, SHORT_BUDGET } from "./lockapi.mjs";

const [installDir, ...targets] = process.argv.slice(2);
const { acquireFileLock } = await loadFileLock(installDir);
const locks = [];
for (const target of targets) {
  locks.push(await acquireFileLock(target, SHORT_BUDGET));
}
const written = locks.map((l) => readFileSync(l.lockPath));
process.stdout.write(`${JSON.stringify({ pid: process.pid, held: locks.map((l) => l.lockPath) })}\n`);
if (process.env.HOLD_MS === undefined) {
  setInterval(() => {}, 1 << 30);
} else {
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.HOLD_MS)));
  const intact = locks.map((l, i) => {
    try {
      return readFileSync(l.lockPath).equals(written[i]);
    } catch {
      return false;
    }
  });
  for (const l of locks) await l.release();
  process.stdout.write(`${JSON.stringify({ released: true, intact })}\n`);
}
