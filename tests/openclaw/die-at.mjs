// OpenClaw's own acquire (plugin-sdk/file-lock), SIGKILLed at one exact point
// of its lock protocol: what an OOM kill in that window leaves on the volume.
// Only the moment of death is chosen here; every byte and directory on disk
// is written by OpenClaw's (and fs-safe's) own code.
// Usage: node die-at.mjs INSTALL_DIR POINT TARGET
// POINT:
//   before-write   the lock file is created (open "wx"), its payload not yet
//                  written: leaves an empty lock file;
//   mid-write      half of the JSON payload written: leaves a torn prefix;
//   guard-taken    reclaiming a stale lock, the `<lock>.reclaim` guard was
//                  just made (fs-safe >= 0.5): leaves the guard and the lock;
//   guard-release  the stale lock is gone, the guard not yet removed: leaves
//                  the guard alone.
// Prints one JSON line just before the kill; exits 3 when the point was never
// reached (the acquire finished or failed first). As pid 1 of a PID namespace
// it cannot kill itself (the kernel ignores it): it freezes at that point and
// the caller SIGKILLs it from outside (freezeOrDie in lockapi.mjs).
import fsp from "node:fs/promises";
import { freezeOrDie, loadFileLock, SHORT_BUDGET } from "./lockapi.mjs";

const [installDir, point, target] = process.argv.slice(2);
const die = (what) => {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, point, ...what })}\n`);
  freezeOrDie();
  return new Promise(() => {});
};
const isPayload = (data) => typeof data === "string" && /^\{\s*"pid"/.test(data);

if (point === "before-write" || point === "mid-write") {
  const probe = await fsp.open(process.execPath);
  const proto = Object.getPrototypeOf(probe);
  await probe.close();
  const writeFile = proto.writeFile;
  proto.writeFile = async function (data, ...rest) {
    if (!isPayload(data)) return writeFile.call(this, data, ...rest);
    const json = data.slice(0, data.lastIndexOf("}") + 1);
    const written = point === "mid-write" ? json.slice(0, Math.floor(json.length / 2)) : "";
    if (written) await writeFile.call(this, written, ...rest);
    return die({ payload: json, written });
  };
} else if (point === "guard-taken") {
  const mkdir = fsp.mkdir;
  fsp.mkdir = async function (p, ...rest) {
    const r = await mkdir.call(this, p, ...rest);
    if (String(p).endsWith(".reclaim")) return die({ guard: String(p) });
    return r;
  };
} else if (point === "guard-release") {
  const rmdir = fsp.rmdir;
  fsp.rmdir = async function (p, ...rest) {
    if (String(p).endsWith(".reclaim")) return die({ guard: String(p) });
    return rmdir.call(this, p, ...rest);
  };
} else {
  throw new Error(`unknown point ${point}`);
}

const { acquireFileLock } = await loadFileLock(installDir);
try {
  const lock = await acquireFileLock(target, SHORT_BUDGET);
  await lock.release();
  process.stdout.write(`${JSON.stringify({ pid: process.pid, point, reached: false, ok: true })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, point, reached: false, ok: false, code: err.code ?? null })}\n`);
}
process.exit(3);
