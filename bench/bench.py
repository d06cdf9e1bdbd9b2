#!/usr/bin/env python3
"""Benchmarks openclaw-lock-sweeper against what an init step would run
instead, on the same trees, on the same machine, in one run; writes the full
tables to bench/results.md and the short table the README quotes to
bench/summary.md. Method and findings: bench/README.md.

    python3 bench/bench.py [--runs N] [--shapes small,10k,agents]
                           [--extra NAME=PATH ...] [--no-callgrind] [--out DIR]

Contenders, on every shape: the sweeper; the floor (`cat` of every candidate,
then `rm` of the stale set, from precomputed lists: the least any tool that
reads each lock and removes the stale ones can do); the busybox and the GNU
`find | xargs grep -l | xargs rm` pipelines. On the small state dir also a
static C and a static Rust hello world (written and built here): the cost of
exec'ing any static binary at all; a static C program that only unlinks
the stale set: that cost plus what the file system charges for the removals;
and one that first reads every candidate: the least a tool that judges locks
by their content can do. `--extra NAME=PATH` adds another sweeper
binary (say, an older commit's) run with the same arguments.

Every run starts from the same tree (the candidates the last run removed put
back from a template, then `sync -f`, outside the timed region), the contenders are interleaved run by run, and a
run is spawned directly (posix_spawn, no shell of ours) and reaped with
wait4: wall time from spawn to reap, CPU as user+sys of the whole process
tree (a shell's or xargs's children are waited for, so they count), which is
what a pod's CPU limit throttles. Reported: medians. Then one run of each
under callgrind (`--trace-children=yes`) for user-space instructions, which
do not depend on the machine's load.

Needs: python3, a C compiler (cc), rustc and cargo, busybox, GNU findutils,
grep and coreutils, valgrind (Debian: `apt-get install -y busybox-static
findutils grep coreutils valgrind gcc`). Builds the static release binary
itself (target x86_64-unknown-linux-gnu, `+crt-static`).
"""

import argparse
import os
import pathlib
import platform
import random
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
NEEDS = {
    "cc": "gcc", "rustc": None, "cargo": None, "busybox": "busybox-static",
    "find": "findutils", "xargs": "findutils", "grep": "grep", "cat": "coreutils",
    "valgrind": "valgrind",
}

# The pid-1 signature as a shell step greps for it (pretty JSON: one key a line).
SIG = r'"pid"[[:space:]]*:[[:space:]]*1([^0-9]|$)'
FIND_LOCKS = ("find \"$S/locks\" -type f -name '*.lock'; "
              "find \"$S\"/agents/*/agent -maxdepth 1 -type f -name '*.lock'")


def check_tools(callgrind):
    missing = [t for t in NEEDS if shutil.which(t) is None and (callgrind or t != "valgrind")]
    if missing:
        pkgs = sorted({NEEDS[t] for t in missing if NEEDS[t]})
        sys.exit(f"bench.py needs {', '.join(missing)}: apt-get install -y {' '.join(pkgs)}"
                 + (" (rustc/cargo: rustup)" if {"rustc", "cargo"} & set(missing) else ""))
    r = subprocess.run(["find", "--version"], capture_output=True, text=True)
    if "GNU findutils" not in r.stdout:
        sys.exit("`find` is not GNU findutils: apt-get install -y findutils")


def build(tmp):
    env = dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static")
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--target", TARGET],
                   cwd=ROOT, env=env, check=True)
    (tmp / "hello.c").write_text('#include <unistd.h>\nint main(void) { return write(1, "hello\\n", 6) != 6; }\n')
    subprocess.run(["cc", "-O2", "-static", "-o", str(tmp / "hello-c"), str(tmp / "hello.c")], check=True)
    # Reads every file named before "--" (up to 4 KiB), then unlinks the
    # ones after it: with candidates, the least a tool that judges by content
    # can do; with none, the file system's own cost of the removals.
    (tmp / "read-unlink.c").write_text(
        "#include <fcntl.h>\n#include <string.h>\n#include <unistd.h>\n"
        "int main(int argc, char **argv) {\n  char buf[4096];\n  int i = 1;\n"
        "  for (; i < argc && strcmp(argv[i], \"--\"); i++) {\n"
        "    int fd = open(argv[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK);\n"
        "    if (fd < 0 || read(fd, buf, sizeof buf) < 0) return 1;\n    close(fd);\n  }\n"
        "  for (i++; i < argc; i++) if (unlink(argv[i])) return 1;\n  return 0;\n}\n")
    subprocess.run(["cc", "-O2", "-static", "-o", str(tmp / "read-unlink-c"), str(tmp / "read-unlink.c")],
                   check=True)
    (tmp / "hello.rs").write_text('fn main() { println!("hello"); }\n')
    subprocess.run(["rustc", "-C", "opt-level=s", "-C", "panic=abort", "-C", "strip=symbols",
                    "-C", "target-feature=+crt-static", "--target", TARGET,
                    "-o", str(tmp / "hello-rs"), str(tmp / "hello.rs")], check=True)


def lock_text(pid):
    return f'{{\n  "pid": {pid},\n  "createdAt": "{OLD}",\n  "starttime": 123456\n}}\n{TOKEN}\n'


def build_tree(root, locks, lock_dirs, agents, sessions, coordinator):
    """`locks` lock files in `lock_dirs` directories under locks/ (a third
    stale pid-1, a third held by another pid, a third foreign files that end
    in .lock); `agents` agents, each with a pid-1 profile-store lock (one in
    three held by another pid) and `sessions` session files the sweep must not
    read; with `coordinator`, an unheld gateway coordinator under tmp/ (as
    OpenClaw 2026.8+ leaves one), so the sweeper's kernel probe finds it
    free and also walks for the gateway's own leftovers. Returns the stale
    locks and all candidates, relative to `root`."""
    stale, cands = [], []
    dirs = [root / "locks" / f"kind{d:02}" for d in range(lock_dirs)]
    for d in dirs:
        d.mkdir(parents=True)
    for i in range(locks):
        p = dirs[i % lock_dirs] / f"sha256-{i:064x}.lock"
        if i % 3 == 0:
            p.write_text(lock_text(1))
            stale.append(p)
        elif i % 3 == 1:
            p.write_text(lock_text(4242))
        else:
            p.write_text("not a lock: a user's file that happens to end in .lock\n")
        cands.append(p)
    for a in range(agents):
        d = root / "agents" / f"agent{a}"
        (d / "agent").mkdir(parents=True)
        (d / "agent" / "auth-profiles.json").write_text('{"profiles": {}}\n')
        lock = d / "agent" / "auth-profiles.json.lock"
        lock.write_text(lock_text(4242 if a % 3 == 2 else 1))
        cands.append(lock)
        if a % 3 != 2:
            stale.append(lock)
        (d / "sessions").mkdir()
        for s in range(sessions):
            (d / "sessions" / f"s{s}.jsonl").write_text("{}\n")
    (root / "workspace").mkdir()
    (root / "openclaw.json").write_text("{}\n")
    if coordinator:
        (root / "tmp" / "openclaw-1000").mkdir(parents=True)
        (root / "tmp" / "openclaw-1000" / "gateway.lock.sqlite").write_bytes(b"")
    rel = lambda ps: [p.relative_to(root) for p in ps]  # noqa: E731
    return rel(stale), rel(cands)


SHAPES = {
    # key: (title, locks, lock dirs, agents, sessions per agent, runs)
    "small": ("small state dir (3 agents x 1,000 sessions, 6 locks)", 3, 1, 3, 1000, 31),
    "10k": ("10k locks in 50 directories", 10_000, 50, 0, 0, 21),
    "agents": ("1k agents x 100 sessions", 0, 1, 1000, 100, 21),
}


def contenders(state, lists, tmp, shape, extra):
    bb = shutil.which("busybox")
    sh = lambda script: ["/bin/sh", "-c", script, "sh", str(state)]  # noqa: E731
    # Every binary runs from the same directory (copies in `tmp`, beside the
    # hello worlds): exec from the deep target/ path measured 0.1 ms slower
    # on the small dir than the same binary from tmp.
    out = {"sweeper": [str(tmp / "openclaw-lock-sweeper"), "--state-dir", str(state)]}
    for i, (name, path) in enumerate(extra):
        copy = tmp / f"extra-{i}"
        if not copy.exists():
            shutil.copy2(path, copy)
        out[name] = [str(copy), "--state-dir", str(state)]
    out["floor: cat + rm"] = sh(
        f"xargs -d '\\n' cat < {lists['candidates']} >/dev/null; xargs -d '\\n' rm -f < {lists['stale']}")
    out["busybox pipeline"] = [bb, "sh", "-c",
        f"S=$1; {{ {FIND_LOCKS.replace('find', bb + ' find')}; }} | {bb} xargs {bb} grep -lE '{SIG}' "
        f"| {bb} xargs {bb} rm -f", "sh", str(state)]
    out["GNU pipeline"] = sh(
        f"S=$1; {{ {FIND_LOCKS}; }} | xargs -d '\\n' grep -lE '{SIG}' | xargs -d '\\n' rm -f")
    if shape == "small":
        out["static C hello"] = [str(tmp / "hello-c")]
        out["static Rust hello"] = [str(tmp / "hello-rs")]
        # The exec floor plus what the file system charges for the removals
        # alone: no tool that removes the stale set can beat it.
        stale = lists["stale"].read_text().splitlines()
        out["static C unlink of the stale set"] = [str(tmp / "read-unlink-c"), "--", *stale]
        out["static C read + unlink"] = [
            str(tmp / "read-unlink-c"), *lists["candidates"].read_text().splitlines(), "--", *stale]
    return out


def restore(template, work, cands):
    """Puts back, from the template, every candidate the last run removed
    (creating a file costs about 0.5 ms on this VM's ext4, so the 100,000
    sessions of a tree are copied once, not per run), then syncs so that no
    writeback of the restore runs during the next measurement. The sync is
    this process's own call: a `sync` process spawned just before a run
    made the small dir's runs 0.12-0.19 ms slower (the kernel's clean-up of
    the exited process overlaps the next one)."""
    if not work.exists():
        subprocess.run(["cp", "-a", str(template), str(work)], check=True)
    for p in cands:
        if not os.path.lexists(work / p):
            shutil.copy2(template / p, work / p)
    os.sync()


def timed(argv):
    """Wall ms, user+sys ms of the process tree, exit code."""
    null = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
    started = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - started) / 1e6
    os.close(null)
    return wall, (ru.ru_utime + ru.ru_stime) * 1e3, os.waitstatus_to_exitcode(status)


def callgrind(argv, tmp):
    """User-space instructions of the whole process tree (callgrind's Ir)."""
    out = tmp / "cg"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    subprocess.run(["valgrind", "--tool=callgrind", "--trace-children=yes",
                    f"--callgrind-out-file={out}/cg.%p", *argv],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    total = 0
    for f in out.iterdir():
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith("totals:") or line.startswith("summary:"):
                total += int(line.split()[1])
                break
    return total


def run_shape(key, tmp, args, extra):
    title, locks, lock_dirs, agents, sessions, runs = SHAPES[key]
    runs = args.runs or runs
    template = tmp / "template"
    shutil.rmtree(template, ignore_errors=True)
    stale, cands = build_tree(template, locks, lock_dirs, agents, sessions, coordinator=True)
    work = tmp / "work"
    lists = {"candidates": tmp / "cands.txt", "stale": tmp / "stale.txt"}
    lists["candidates"].write_text("".join(f"{work / p}\n" for p in cands))
    lists["stale"].write_text("".join(f"{work / p}\n" for p in stale))
    table = contenders(work, lists, tmp, key, extra)
    results = {name: {"wall": [], "cpu": [], "exit": set()} for name in table}
    names = list(table)
    for r in range(runs):
        # Interleaved, and the order rotated each run.
        for name in names[r % len(names):] + names[:r % len(names)]:
            restore(template, work, cands)
            wall, cpu, code = timed(table[name])
            res = results[name]
            res["wall"].append(wall)
            res["cpu"].append(cpu)
            res["exit"].add(code)
            if r == 0 and "hello" not in name:
                left = {p for p in cands if (work / p).exists()}
                res["stale_left"] = len(set(stale) & left)
                res["wrongly_removed"] = len(set(cands) - set(stale) - left)
    if not args.no_callgrind:
        for name, argv in table.items():
            restore(template, work, cands)
            results[name]["instr"] = callgrind(argv, tmp)
    shutil.rmtree(work, ignore_errors=True)
    for name, res in results.items():
        res["wall_med"] = statistics.median(res["wall"])
        res["cpu_med"] = statistics.median(res["cpu"])
        print(f"{title}: {name}: wall {res['wall_med']:.2f} ms, cpu {res['cpu_med']:.2f} ms, "
              f"instr {res.get('instr', 0):,}", file=sys.stderr)
    return title, len(cands), len(stale), runs, results


def loadavg():
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def paired(ours, theirs, seed=35):
    """The CPU difference of two contenders, run by run (each run of one
    beside the same run of the other, interleaved): its median, a 95%
    bootstrap interval of that median, and in how many runs ours was lower.
    A gap smaller than the run-to-run spread shows as an interval around 0."""
    d = [a - b for a, b in zip(ours["cpu"], theirs["cpu"])]
    rng = random.Random(seed)
    boots = sorted(statistics.median(rng.choices(d, k=len(d))) for _ in range(2000))
    return statistics.median(d), boots[50], boots[1949], sum(x < 0 for x in d), len(d)


def render(rows, load_before, load_after, command, extra_names=()):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    # The mount options matter: with `discard`, freeing a removed file's
    # blocks waits for the device.
    # The last line: the mount on top, where more than one is stacked there.
    fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", "--target", tempfile.gettempdir()],
                        capture_output=True, text=True).stdout.strip().splitlines()
    fs = " ".join(fs[-1].split()) if fs else "file system unknown"
    head = (f"`{command}` on {time.strftime('%Y-%m-%d %H:%M')}: {os.cpu_count()} cores ({cpu}), "
            f"Linux {platform.release()}, {fs} ({tempfile.gettempdir()}); sweeper binary "
            f"{BIN.stat().st_size:,} bytes; load average {load_before} before, {load_after} after.")
    full = [head, "", "Wall and CPU (user+sys of the process tree): medians of interleaved runs, each on a "
            "tree restored to its first state. Instructions: user space, whole process tree, one run under "
            "callgrind.", ""]
    for title, ncands, nstale, runs, results in rows:
        full += [f"**{title}**: {ncands:,} candidates, {nstale:,} stale; {runs} runs.", "",
                 "| contender | wall ms | CPU ms | wall min..max | M instructions | stale left | "
                 "wrongly removed | exit |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in results.items():
            instr = f"{r['instr'] / 1e6:.2f}" if "instr" in r else "-"
            full.append(
                f"| {name} | {r['wall_med']:.2f} | {r['cpu_med']:.2f} | {min(r['wall']):.2f}..{max(r['wall']):.2f} | "
                f"{instr} | {r.get('stale_left', '-')} | {r.get('wrongly_removed', '-')} | "
                f"{','.join(map(str, sorted(r['exit'])))} |")
        full.append("")
    # The short tables: one column per contender, the two hello worlds in one.
    columns = ["sweeper", "floor: cat + rm", "busybox pipeline", "GNU pipeline",
               ("static C hello", "static Rust hello"), "static C unlink of the stale set",
               "static C read + unlink"]

    def table(first, value, hello_sep):
        out = [f"| {first} | sweeper | floor: cat + rm | busybox pipeline | GNU pipeline | static hello (C / Rust) "
               "| static C unlink of the stale set | static C read + unlink |",
               "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for title, _, _, _, results in rows:
            cells = []
            for col in columns:
                names = col if isinstance(col, tuple) else (col,)
                present = all(n in results for n in names)
                cells.append(hello_sep.join(value(results[n]) for n in names) if present else "-")
            out.append(f"| {title} | {' | '.join(cells)} |")
        return out

    summary = [head, ""] + table("tree", lambda r: f"{r['cpu_med']:.2f} / {r['wall_med']:.2f}", "; ")
    if all("instr" in r for _, _, _, _, results in rows for r in results.values()):
        summary += [""] + table("tree, M user-space instructions (callgrind)",
                                lambda r: f"{r['instr'] / 1e6:.2f}", " / ")
    for name in extra_names:
        summary += ["", f"| tree | sweeper CPU - {name} CPU, ms, median of runs | 95% interval | sweeper lower |",
                    "|---|---:|---:|---:|"]
        for title, _, _, _, results in rows:
            med, lo, hi, lower, n = paired(results["sweeper"], results[name])
            summary.append(f"| {title} | {med:+.2f} | {lo:+.2f} .. {hi:+.2f} | {lower} of {n} runs |")
    runs = ", ".join(f"{n} on the {title.split(' (')[0]}" for title, _, _, n, _ in rows)
    summary += ["", "Each cell: CPU ms (user+sys of the process tree) / wall ms, medians of interleaved runs "
                f"({runs}). User-space instructions, method and findings: "
                "[bench/README.md](README.md), full tables: [bench/results.md](results.md).", ""]
    return "\n".join(full), "\n".join(summary)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, help="runs per contender (default: 31 small, 21 others)")
    ap.add_argument("--shapes", default="small,10k,agents")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                    help="another sweeper binary to run beside this one")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "bench",
                    help="where results.md and summary.md go")
    args = ap.parse_args()
    check_tools(not args.no_callgrind)
    extra = [tuple(e.split("=", 1)) for e in args.extra]
    command = " ".join(["python3 bench/bench.py", *sys.argv[1:]])
    load_before = loadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweeper-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        build(tmp)
        shutil.copy2(BIN, tmp / "openclaw-lock-sweeper")
        for key in args.shapes.split(","):
            rows.append(run_shape(key, tmp, args, extra))
    full, summary = render(rows, load_before, loadavg(), command, [name for name, _ in extra])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(full)
    (args.out / "summary.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    main()
