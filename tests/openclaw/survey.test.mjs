// Issue 26: survey.mjs, which names every kind of leftover a release's dist
// can make that survey-known.json does not list, passes on each release
// under test, and fails, naming the kind, on a copy of a release whose dist
// has one lock path more (or one stale mode more) than the release had.
//
// The copy is hard links of the release's two dists (cp -al, cheap on the
// cache's file system); the one edited file is replaced, never written
// through its link, so the cache stays as install.sh left it.
//
// Env as wedge.test.mjs: SWEEPER_BIN, OPENCLAW_REAL_CACHE.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PINNED, VERSIONS, here, install } from "./harness.mjs";
import { readKnown, survey } from "./survey.mjs";

const script = path.join(here, "survey.mjs");

function runSurvey(dir) {
  const r = spawnSync(process.execPath, [script, dir], { encoding: "utf8", timeout: 120_000 });
  return { status: r.status, lines: r.stderr.trim().split("\n") };
}

/** A copy of a release's dists in a temp dir named after the version, as survey.mjs reads them. */
function copyRelease(t, version) {
  const root = mkdtempSync(path.join(path.dirname(install(version)), ".survey-copy-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, version);
  for (const pkg of ["openclaw", "@openclaw/fs-safe"]) {
    const from = path.join(install(version), "node_modules", pkg, "dist");
    const to = path.join(dir, "node_modules", pkg);
    mkdirSync(to, { recursive: true });
    const r = spawnSync("cp", ["-al", from, to], { encoding: "utf8" });
    assert.equal(r.status, 0, `cp -al ${from} ${to}: ${r.stderr}`);
  }
  return dir;
}

/** Replaces (not writes through the hard link) the first dist file holding `marker`, appending `line`. */
function appendToDistFile(dir, marker, line) {
  const dist = path.join(dir, "node_modules", "openclaw", "dist");
  const name = readdirSync(dist).find((f) => /\.m?js$/.test(f) && readFileSync(path.join(dist, f), "utf8").includes(marker));
  assert.ok(name, `no dist file of ${dir} holds ${marker}`);
  const file = path.join(dist, name);
  const text = readFileSync(file, "utf8");
  unlinkSync(file);
  writeFileSync(file, `${text}\n${line}\n`);
  return name;
}

for (const version of VERSIONS) {
  test(`openclaw@${version}: the survey finds only kinds survey-known.json lists`, () => {
    const r = runSurvey(install(version));
    assert.equal(r.status, 0, r.lines.join("\n"));
    assert.match(r.lines.at(-1), new RegExp(`^survey: openclaw@${version.replace(/\./g, "\\.")}: \\d+ kinds, 0 new or changed$`));
    if (PINNED.includes(version)) {
      // The data file's `seen` lists say which pinned releases have each kind: keep them true.
      const found = [...survey(install(version)).keys()].sort();
      const listed = Object.entries(readKnown()).filter(([, k]) => k.seen.includes(version)).map(([id]) => id).sort();
      assert.deepEqual(found, listed, `survey-known.json's seen lists for ${version}`);
    }
  });
}

// The oldest pinned release: the smallest dist, the quickest survey.
const base = PINNED[0];

test(`a copy of openclaw@${base} with one lock path added to its dist: the survey fails, naming it`, (t) => {
  const dir = copyRelease(t, base);
  const clean = runSurvey(dir);
  assert.equal(clean.status, 0, `the unchanged copy: ${clean.lines.join("\n")}`);
  const file = appendToDistFile(dir, "oauth-refresh", 'const probeLockPath = (agentDir) => path.join(agentDir, "wedge-probe.json.lock");');
  const r = runSurvey(dir);
  t.diagnostic(r.lines.join("\n"));
  assert.equal(r.status, 1);
  assert.deepEqual(
    r.lines.filter((l) => l.includes("new kind") || l.includes("changed kind")),
    [`survey: openclaw@${base}: new kind lock-file:wedge-probe.json.lock (in openclaw/${file})`],
  );
});

test(`a copy of openclaw@${base} whose file lock gains a stale mode: the survey fails, naming the changed rule`, (t) => {
  const dir = copyRelease(t, base);
  const file = appendToDistFile(dir, "staleRecovery", 'const probeMode = { staleRecovery: "reclaim-if-expired" };');
  const r = runSurvey(dir);
  t.diagnostic(r.lines.join("\n"));
  assert.equal(r.status, 1);
  const named = r.lines.filter((l) => l.includes("new kind") || l.includes("changed kind"));
  assert.equal(named.length, 1, named.join("\n"));
  assert.match(named[0], new RegExp(`^survey: openclaw@${base.replace(/\./g, "\\.")}: changed kind stale-rule:file-lock: records mode:reclaim-if-expired \\(in openclaw/${file.replace(/[.$]/g, "\\$&")}\\)$`));
});
