#!/usr/bin/env python3
"""Benchmarks openclaw-lock-sweeper against what operators run today, on the
same trees, on the same machine, in the same run; prints a Markdown table and
writes it to bench/results.md.

    python3 bench/bench.py [--quick]

Needs hyperfine, strace, busybox-static and GNU findutils (Debian packages);
builds the static release binary itself. Before every run the candidates the
last run removed are put back (outside the timed region).
"""

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = "x86_64-unknown-linux-gnu"
BIN = ROOT / "target" / TARGET / "release" / "openclaw-lock-sweeper"
TOKEN = "\t" * 8 + " \t" * 64
OLD = "2026-01-01T00:00:00.000Z"

# The pid-1 signature as a shell step greps for it (pretty JSON: one key a line).
SIG = r'"pid"[[:space:]]*:[[:space:]]*1([^0-9]|$)'
FIND_LOCKS = "find \"$S/locks\" -type f -name '*.lock'; find \"$S\"/agents/*/agent -maxdepth 1 -type f -name '*.lock'"

PYTHON_SWEEPER = r'''
import json, pathlib, sys
s = pathlib.Path(sys.argv[1])
for p in [*s.glob("locks/**/*.lock"), *s.glob("agents/*/agent/*.lock")]:
    try:
        d = json.loads(p.read_text())
    except Exception:
        continue
    if isinstance(d, dict) and d.get("pid") == 1:
        p.unlink()
'''


def contenders(state, lists):
    """name -> argv. `lists` holds precomputed candidate and stale lists for the floor."""
    sh = lambda script, shell="/bin/sh": [shell, "-c", script, "sh", str(state)]  # noqa: E731
    bb = "/bin/busybox"
    return {
        "openclaw-lock-sweeper": [str(BIN), "--state-dir", str(state)],
        "busybox find+grep+xargs rm": [bb, "sh", "-c",
            f"S=$1; {{ {FIND_LOCKS.replace('find', bb + ' find')}; }} | {bb} xargs {bb} grep -lE '{SIG}' | {bb} xargs {bb} rm -f",
            "sh", str(state)],
        "GNU find+grep+xargs rm": sh(
            f"S=$1; {{ {FIND_LOCKS}; }} | xargs -d '\\n' grep -lE '{SIG}' | xargs -d '\\n' rm -f"),
        "manual rm (no signature check)": sh(
            "S=$1; rm -f \"$S\"/locks/oauth-refresh/*.lock; "
            "find \"$S/locks\" -name '*.lock' -delete; find \"$S\"/agents/*/agent -maxdepth 1 -name '*.lock' -delete"),
        "per-file shell loop": sh(
            f"S=$1; {{ {FIND_LOCKS}; }} | while read -r f; do grep -qE '{SIG}' \"$f\" && rm \"$f\"; done"),
        "Python pathlib+json": [sys.executable, "-c", PYTHON_SWEEPER, str(state)],
        "floor: cat candidates, xargs rm stale": sh(
            f"xargs -d '\\n' cat < {lists['candidates']} >/dev/null; xargs -d '\\n' rm -f < {lists['stale']}"),
        "floor, parallel rm (-P2)": sh(
            f"xargs -d '\\n' cat < {lists['candidates']} >/dev/null; xargs -d '\\n' -P 2 -n 2000 rm -f < {lists['stale']}"),
    }


def lock_text(pid):
    return f'{{\n  "pid": {pid},\n  "createdAt": "{OLD}",\n  "starttime": 123456\n}}\n{TOKEN}\n'


def build_tree(root, locks, agents, sessions_per_agent):
    """`locks` lock files under locks/ (a third stale pid-1, a third held by a
    live-looking pid, a third foreign), spread over OpenClaw's lock kinds;
    `agents` agents, each with a stale auth-profiles lock, a profile store and
    `sessions_per_agent` session files the sweep must not walk."""
    stale = []
    kinds = ["oauth-refresh", "provider-auth-persistence", "gateway"]
    for k in kinds:
        (root / "locks" / k).mkdir(parents=True)
    for i in range(locks):
        p = root / "locks" / kinds[i % 3] / f"sha256-{i:064x}.lock"
        kind = i % 3
        if kind == 0:
            p.write_text(lock_text(1))
            stale.append(p)
        elif kind == 1:
            p.write_text(lock_text(4242))
        else:
            p.write_text("not a lock: a user's file that happens to end in .lock\n")
    for a in range(agents):
        d = root / "agents" / f"agent{a}"
        (d / "agent").mkdir(parents=True)
        (d / "agent" / "auth-profiles.json").write_text('{"profiles": {}}\n')
        lock = d / "agent" / "auth-profiles.json.lock"
        lock.write_text(lock_text(1))
        stale.append(lock)
        (d / "sessions").mkdir()
        for s in range(sessions_per_agent):
            (d / "sessions" / f"s{s}.jsonl").write_text("{}\n")
    (root / "workspace").mkdir()
    (root / "openclaw.json").write_text("{}\n")
    return stale


def candidates(root):
    out = sorted((root / "locks").rglob("*.lock"))
    out += sorted(root.glob("agents/*/agent/*.lock"))
    return out


def restore_cmd(template, work):
    """Puts back every candidate the last run removed (and only those: the
    tree around them, sessions included, is copied once per case)."""
    return f"cd {template} && xargs -d '\\n' -a {work}/cands.rel cp --parents -a -t {work}/s"


def restore(template, work):
    subprocess.run(["sh", "-c", restore_cmd(template, work)], check=True)


def hyperfine(name, argv, template, work, runs):
    """Median wall time (ms) over `runs`, each on a restored tree."""
    out = work / "hf.json"
    # -N runs commands without a shell, the preparation too.
    prepare = f"sh -c \"{restore_cmd(template, work)}\""
    cmd = " ".join(shlex_quote(a) for a in argv)
    subprocess.run(
        ["hyperfine", "-N", "--style", "none", "--runs", str(runs), "--warmup", "1",
         "--prepare", prepare, "--export-json", str(out), "-i", cmd],
        check=True, capture_output=True)
    times = json.loads(out.read_text())["results"][0]["times"]
    return statistics.median(times) * 1e3


def shlex_quote(s):
    import shlex
    return shlex.quote(s)


def rusage(argv, template, work, runs):
    """Median user+sys CPU (ms) and peak RSS (KiB) of the process tree, from
    GNU time: a child forked from Python would report Python's own RSS from
    before its exec as its peak."""
    cpu, rss = [], []
    for _ in range(runs):
        restore(template, work)
        r = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *argv],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        user, system, maxrss = r.stderr.strip().splitlines()[-1].split()
        cpu.append((float(user) + float(system)) * 1e3)
        rss.append(int(maxrss))
    return statistics.median(cpu), statistics.median(rss)


def syscalls(argv, template, work):
    restore(template, work)
    out = work / "strace.txt"
    subprocess.run(["strace", "-f", "-c", "-o", str(out), *argv], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = [line for line in out.read_text().splitlines() if line.strip().endswith("total")]
    # "% time, seconds, usecs/call, calls[, errors], total": the calls column.
    return int(total[0].split()[3]) if total else 0


def check_result(argv, template, work, stale, cands):
    """One run that also says what the contender left: stale locks gone?
    anything else lost? Returns that and the run's wall ms, CPU ms, RSS."""
    restore(template, work)
    started = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = (time.perf_counter() - started) * 1e3
    user, system, maxrss = r.stderr.strip().splitlines()[-1].split()
    left = {p.relative_to(work / "s") for p in candidates(work / "s")}
    stale_rel = {p.relative_to(template) for p in stale}
    kept_rel = {p.relative_to(template) for p in cands} - stale_rel
    outcome = {
        "exit": r.returncode,
        "stale_left": len(stale_rel & left),
        "wrongly_removed": len(kept_rel - left),
    }
    return outcome, wall, (float(user) + float(system)) * 1e3, int(maxrss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer runs and no 100k case")
    args = ap.parse_args()
    env = dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static")
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--target", TARGET],
                   cwd=ROOT, env=env, check=True)
    runs = 3 if args.quick else 10
    cases = [
        ("small state dir (3 agents x 1,000 sessions, 6 locks)", 6, 3, 1000, runs * 3),
        ("1k locks", 1_000, 0, 0, runs),
        ("10k locks", 10_000, 0, 0, max(3, runs // 2)),
        ("1k agents x 100 sessions", 0, 1_000, 100, max(3, runs // 2)),
    ]
    if not args.quick:
        cases.append(("100k locks", 100_000, 0, 0, 3))
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweeper-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        for title, locks, agents, sessions, n in cases:
            template = tmp / "template"
            shutil.rmtree(template, ignore_errors=True)
            stale = build_tree(template, locks, agents, sessions)
            cands = candidates(template)
            work = tmp / "work"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            subprocess.run(["cp", "-a", str(template), str(work / "s")], check=True)
            (work / "cands.rel").write_text("".join(f"{p.relative_to(template)}\n" for p in cands))
            lists = {"candidates": tmp / "cands.txt", "stale": tmp / "stale.txt"}
            lists["candidates"].write_text("".join(f"{work / 's' / p.relative_to(template)}\n" for p in cands))
            lists["stale"].write_text("".join(f"{work / 's' / p.relative_to(template)}\n" for p in stale))
            table = contenders(work / "s", lists)
            results = {}
            for name, argv in table.items():
                outcome, wall, cpu, rss = check_result(argv, template, work, stale, cands)
                runs_done = 1
                # A contender that takes over 10 s a run (the per-file loop at
                # scale) is measured by that one run.
                if wall < 10_000:
                    wall = hyperfine(name, argv, template, work, n)
                    cpu, rss = rusage(argv, template, work, min(n, 5))
                    runs_done = n
                # System calls per lock do not change with scale: counted up to 10k.
                calls = syscalls(argv, template, work) if locks <= 10_000 and wall < 10_000 else None
                results[name] = dict(wall=wall, cpu=cpu, rss=rss, calls=calls, runs=runs_done, **outcome)
                print(f"{title}: {name}: {wall:.2f} ms ({runs_done} runs)", file=sys.stderr)
            base = results["openclaw-lock-sweeper"]["wall"]
            rows.append((title, len(cands), len(stale), n, results, base))
    md = render(rows)
    (ROOT / "bench" / "results.md").write_text(md)
    print(md)


def render(rows):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    size = BIN.stat().st_size
    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
        f"file system of {tempfile.gettempdir()}; binary {size:,} bytes; {time.strftime('%Y-%m-%d')}.",
        "",
    ]
    for title, ncands, nstale, n, results, base in rows:
        lines += [
            f"**{title}**: {ncands:,} candidates, {nstale:,} stale; median of {n} runs (wall), "
            "median of up to 5 (CPU, RSS, by GNU time).",
            "",
            "| contender | wall ms | x sweeper | user+sys ms | peak RSS KiB | syscalls | syscalls per stale lock | "
            "stale left | wrongly removed | exit |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in results.items():
            calls = "-" if r["calls"] is None else f"{r['calls']:,}"
            per = "-" if r["calls"] is None else f"{r['calls'] / nstale:.2f}"
            runs = "" if r["runs"] > 1 else " (1 run)"
            lines.append(
                f"| {name}{runs} | {r['wall']:.2f} | {r['wall'] / base:.2f} | {r['cpu']:.1f} | {r['rss']:,} | "
                f"{calls} | {per} | {r['stale_left']} | {r['wrongly_removed']} | {r['exit']} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
