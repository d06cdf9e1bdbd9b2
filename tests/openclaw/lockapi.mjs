// Loads OpenClaw's own file-lock API (`openclaw/plugin-sdk/file-lock`) from
// one pinned install, resolved through the package's own `exports` map.
import { createRequire } from "node:module";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

export async function loadFileLock(installDir) {
  const require = createRequire(path.join(installDir, "package.json"));
  return import(pathToFileURL(require.resolve("openclaw/plugin-sdk/file-lock")).href);
}

// OpenClaw's OAuth refresh lock options, with the retry budget cut from
// ~150 s to well under a second: same stale rule, shorter wait.
export const SHORT_BUDGET = {
  retries: { retries: 4, factor: 2, minTimeout: 25, maxTimeout: 100, randomize: false },
  stale: 180_000,
};

// A function (or class) of OpenClaw's bundled dist by its source name: the
// dist file that defines it at top level and exports it (under a minified
// alias), imported by file path. Bundler hashes in the file names differ per release, so the
// file is found by its text. Rejects when no file, or more than one, exports it;
// `inFile` (a file name prefix, e.g. "errors-") picks one of several, as an
// importer of OpenClaw's does.
export async function loadDistFunction(installDir, name, { inFile = "" } = {}) {
  const dist = path.join(installDir, "node_modules", "openclaw", "dist");
  const defines = new RegExp(`^(?:(?:async )?function ${name}\\(|var ${name} = class\\b)`, "m");
  const exported = new RegExp(`^export \\{[^}]*\\b${name}(?: as ([\\w$]+))?\\b[^}]*\\};?$`, "m");
  const found = [];
  for (const file of readdirSync(dist)) {
    if (!/\.m?js$/.test(file) || !file.startsWith(inFile)) continue;
    const text = readFileSync(path.join(dist, file), "utf8");
    if (!defines.test(text)) continue;
    const m = text.match(exported);
    if (m) found.push({ file, alias: m[1] ?? name });
  }
  if (found.length !== 1) {
    throw new Error(`${name}: ${found.length} dist files of ${installDir} define and export it: ${JSON.stringify(found)}`);
  }
  const [{ file, alias }] = found;
  const mod = await import(pathToFileURL(path.join(dist, file)).href);
  if (typeof mod[alias] !== "function") throw new Error(`${name}: ${file} exports ${alias}, not a function`);
  return { fn: mod[alias], file, alias };
}

// Dies on the spot, as an OOM kill would take the process there: SIGKILL to
// itself, or, as pid 1 of a PID namespace (whose own SIGKILL the kernel
// ignores), a synchronous freeze (no further JS, no exit handlers) until the
// caller SIGKILLs it from the parent namespace.
export function freezeOrDie() {
  if (process.pid !== 1) process.kill(process.pid, "SIGKILL");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}
