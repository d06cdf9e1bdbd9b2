// Loads OpenClaw's own file-lock API (`openclaw/plugin-sdk/file-lock`) from
// one pinned install, resolved through the package's own `exports` map.
import { createRequire } from "node:module";
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
