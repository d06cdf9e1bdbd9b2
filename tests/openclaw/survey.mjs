// What an OpenClaw release can leave behind, read from its dist: the lock
// file names and suffixes, `.reclaim` guards, SQLite coordinators, the SQLite
// lease scopes and lock rows, and the facts its stale rules judge (pid,
// starttime, host). Compared with survey-known.json, the kinds the sweeper
// knows: every kind found that the file does not list is new, and every
// listed kind whose facts differ is changed. Each is named on stderr and the
// exit status is 1; 0 when everything found is known.
//
// Usage: node survey.mjs [--list] INSTALL_DIR...
//   INSTALL_DIR: <cache>/<version> from install.sh (the release in
//   node_modules/openclaw, its fs-safe in node_modules/@openclaw/fs-safe).
//   --list: print every kind found as JSON lines, compare nothing.
// No dependencies: the dist is read as text, with the patterns below.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const KNOWN_FILE = path.join(here, "survey-known.json");

// A string or template literal with no whitespace in it (a file name is
// one); `${...}` parts stand for what OpenClaw derives at run time.
const LITERAL = /([`"'])((?:\$\{[^{}`]*\}|[^`"'\\\s$])+)\1/g;
// Lock-shaped names: `<x>.lock`, `<x>.lock.sqlite`, `<x>.reclaim`, and a
// `.lock` directory segment.
const LOCKISH = /\.lock(?:\.sqlite)?$|\.reclaim$|\.lock\//;
// A directory under <state>/locks/ (path.join(stateDir, "locks", "<name>")).
const LOCKS_DIR = /[`"']locks[`"']\s*,\s*[`"']([\w.-]+)[`"']/g;
// SQLite lease scopes: the named constants and the literal scope of a
// `{scope, key}` lease identity.
const LEASE_CONST = /\b[A-Z][A-Z0-9_]*_LEASE_SCOPE(?:_PREFIX)?\s*=\s*[`"']([^`"'$]+)[`"']/g;
const LEASE_LITERAL = /(?:Lease\w*\(\{|Key\s*=\s*\{)scope:\s*[`"']([\w:.-]+)[`"']\s*,\s*key:/g;
// Lock rows in the agent database's cache_entries (the usage refresh lock).
const CACHE_SCOPE = /\b[A-Z][A-Z0-9_]*CACHE_SCOPE\s*=\s*[`"']([^`"'$]+)[`"']/g;
const ROW_LOCK_KEY = /\b[A-Z][A-Z0-9_]*LOCK_KEY\s*=\s*[`"']([^`"'$]+)[`"']/g;
// Stale rules: what a lock's owner records and a reclaimer compares.
const STALE_FACTS = [
  // fs-safe's and OpenClaw's file-lock payload: the holder's process start time.
  ["file-lock", "starttime", /\bstarttime\s*:/],
  // The gateway lock: its own startTime field.
  ["gateway-lock", "startTime", /\bstartTime\s*:\s*\w/],
  // Lease owners: reclaimed from the same host only.
  ["lease-owner", "host", /parseStateLeaseProcessOwner|hostname\(\)\s*[!=]==?\s*\w+\.host\b/],
];
// The stale-recovery modes a file lock is taken with or tested for (fs-safe's
// `staleRecovery: "<mode>"`, `staleRecovery === "<mode>"`): a new mode is a
// changed rule.
const STALE_MODE = /staleRecovery\s*(?::|===|!==)\s*[`"']([a-z][a-z-]*)[`"']/g;

/** Every .js/.mjs file under `dir` (the dist), as [relative path, text]. */
function* sources(dir, root = dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p, root);
    else if (/\.m?js$/.test(e.name)) yield [path.relative(root, p), readFileSync(p, "utf8")];
  }
}

const norm = (s) => s.replace(/\$\{[^{}`]*\}/g, "*");

/**
 * The kinds one release's dist can leave behind: a Map from kind id
 * ("lock-file:gateway.state.lock", "lease:gateway-owner", ...) to the
 * facts found for it (sorted strings), and the dist files it was seen in.
 */
export function survey(installDir) {
  const kinds = new Map();
  const add = (id, where, fact) => {
    const k = kinds.get(id) ?? { facts: new Set(), files: new Set(), factFiles: new Map() };
    if (fact) {
      k.facts.add(fact);
      k.factFiles.set(fact, (k.factFiles.get(fact) ?? new Set()).add(where));
    }
    k.files.add(where);
    kinds.set(id, k);
  };
  const dists = [
    ["openclaw", path.join(installDir, "node_modules", "openclaw", "dist")],
    ["fs-safe", path.join(installDir, "node_modules", "@openclaw", "fs-safe", "dist")],
  ];
  for (const [pkg, dist] of dists) {
    let files;
    try {
      files = [...sources(dist)];
    } catch (e) {
      if (pkg === "fs-safe" && e.code === "ENOENT") continue; // releases before fs-safe
      throw new Error(`survey: cannot read ${dist}: ${e.message}`);
    }
    for (const [file, text] of files) {
      const where = `${pkg}/${file}`;
      for (const m of text.matchAll(LITERAL)) {
        const name = norm(m[2]);
        if (!LOCKISH.test(name)) continue;
        const kind = name.endsWith(".lock.sqlite") ? "coordinator" : name.endsWith(".reclaim") ? "reclaim-guard" : "lock-file";
        add(`${kind}:${name}`, where);
      }
      for (const m of text.matchAll(LOCKS_DIR)) add(`locks-dir:locks/${m[1]}/`, where);
      if (/state_leases/.test(text) || /StateLease/.test(text)) {
        for (const re of [LEASE_CONST, LEASE_LITERAL]) for (const m of text.matchAll(re)) add(`lease:${m[1]}`, where);
      }
      if (/cache_entries|CacheEntr/.test(text)) {
        for (const scope of text.matchAll(CACHE_SCOPE)) {
          for (const key of text.matchAll(ROW_LOCK_KEY)) add(`lock-row:${scope[1]}/${key[1]}`, where);
        }
      }
      for (const [rule, fact, re] of STALE_FACTS) {
        if (re.test(text) && /\bpid\b/.test(text)) add(`stale-rule:${rule}`, where, fact);
      }
      if (/staleRecovery/.test(text)) {
        for (const m of text.matchAll(STALE_MODE)) add("stale-rule:file-lock", where, `mode:${m[1]}`);
      }
    }
  }
  return kinds;
}

/** The known kinds (survey-known.json): { id: { facts: [...], sweeper, note } }. */
export function readKnown(file = KNOWN_FILE) {
  let known;
  try {
    known = JSON.parse(readFileSync(file, "utf8")).kinds;
  } catch (e) {
    throw new Error(`survey: cannot read ${file}: ${e.message}`);
  }
  if (!known || typeof known !== "object") throw new Error(`survey: ${file} has no "kinds" object`);
  return known;
}

/** New and changed kinds of one survey against the known ones, as sentences. */
export function compare(found, known) {
  const problems = [];
  for (const [id, k] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
    const seen = (files) => [...files].sort().slice(0, 3).join(", ");
    if (!(id in known)) {
      problems.push(`new kind ${id} (in ${seen(k.files)})`);
      continue;
    }
    for (const fact of [...k.facts].sort()) {
      if (!(known[id].facts ?? []).includes(fact)) problems.push(`changed kind ${id}: records ${fact} (in ${seen(k.factFiles.get(fact))})`);
    }
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const list = args[0] === "--list";
  const dirs = list ? args.slice(1) : args;
  if (dirs.length === 0) {
    console.error("usage: node survey.mjs [--list] INSTALL_DIR...");
    process.exit(2);
  }
  let failed = false;
  try {
    const known = list ? null : readKnown();
    for (const dir of dirs) {
      const found = survey(dir);
      const version = path.basename(path.resolve(dir));
      if (list) {
        for (const [id, k] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
          console.log(JSON.stringify({ version, id, facts: [...k.facts].sort(), files: k.files.size }));
        }
        continue;
      }
      const problems = compare(found, known);
      for (const p of problems) console.error(`survey: openclaw@${version}: ${p}`);
      console.error(`survey: openclaw@${version}: ${found.size} kinds, ${problems.length} new or changed`);
      failed ||= problems.length > 0;
    }
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  process.exit(failed ? 1 : 0);
}
