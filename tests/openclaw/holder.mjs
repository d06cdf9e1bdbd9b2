// Takes OpenClaw's own locks and holds them until killed. Run inside a new
// PID namespace, where it is pid 1, exactly as the gateway in a container.
// Usage: node holder.mjs INSTALL_DIR TARGET...
import { loadFileLock, SHORT_BUDGET } from "./lockapi.mjs";

const [installDir, ...targets] = process.argv.slice(2);
const { acquireFileLock } = await loadFileLock(installDir);
const held = [];
for (const target of targets) {
  held.push((await acquireFileLock(target, SHORT_BUDGET)).lockPath);
}
process.stdout.write(`${JSON.stringify({ pid: process.pid, held })}\n`);
setInterval(() => {}, 1 << 30);
