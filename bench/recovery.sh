#!/usr/bin/env bash
# The recovery matrix with the real gateway: `openclaw gateway run` (the
# pinned 2026.9.6, Node 26) in the shipped pod layouts under podman, for each
# mode (none, init, wrap, watch = wrap plus the watch sidecar) and restart
# kind (in place; a new pod with a new hostname; a new pod with the hostname
# pinned), SIGKILLed while it holds OpenClaw's OAuth refresh lock, and timed
# to a gateway that is ready and can take that lock again
# (tests/deploy/test_gateway.py with RECOVERY_MATRIX=full). Prints one
# RECOVERY line per cell, then the table, which it also writes into
# README.md between its recovery-table markers (--no-readme: print only).
#
#   bash bench/recovery.sh [--no-readme]
#
# Needs what tests/run.sh needs (root for podman, node, npm); about 20 min.
# Another release: OPENCLAW_GATEWAY_VERSION=<v>, with OPENCLAW_CLI_VERSIONS=<v>
# for install.sh (the weekly workflow runs it so against the newest).
set -euo pipefail
cd "$(dirname "$0")/.."
readme=1
[ "${1-}" = --no-readme ] && readme=0
cache=$(bash tests/openclaw/install.sh)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
OPENCLAW_REAL_CACHE="$cache" RECOVERY_MATRIX=full DEPLOY_TESTS=tests/deploy/test_gateway.py \
    bash tests/deploy/run.sh >"$log" 2>&1 || status=$?
grep '^RECOVERY ' "$log" || { tail -40 "$log" >&2; exit 1; }
python3 - "$log" "$readme" <<'PY'
import os, re, statistics, sys

log, readme = sys.argv[1], sys.argv[2] == "1"
cells, firsts = {}, []
for line in open(log):
    m = re.match(r"RECOVERY mode=(\S+) restart=(\S+) kill=(\S+) ready_s=(\S+) first_start_s=(\S+)(?: version=(\S+))?", line)
    if m:
        mode, restart, kill, ready, first, version = m.groups()
        version = version or os.environ.get("OPENCLAW_GATEWAY_VERSION", "2026.9.6")
        cells[(mode, restart, kill)] = "never" if ready == "never" else f"{float(ready):.1f} s"
        firsts.append(float(first))
modes = ["none", "init", "wrap", "watch"]
restarts = [("in-place", "in place"), ("new-pod", "new pod"), ("new-pod-pinned", "new pod, pinned hostname")]
rows = ["| restart after a kill in an OAuth refresh | no sweeper | `init` | `wrap` | `wrap` + `watch` |",
        "|---|---:|---:|---:|---:|"]
for key, title in restarts:
    rows.append(f"| {title} | " + " | ".join(cells.get((m, key, "oauth"), "-") for m in modes) + " |")
first = statistics.median(firsts)
note = (f"Seconds from the SIGKILL to ready (`/readyz`) with OpenClaw's code taking the OAuth lock "
        f"again; `never`: not in 330 s. The real `openclaw gateway run` {version}, shipped pods, podman; "
        f"first start {first:.1f} s. By `bash bench/recovery.sh`.")
table = "\n".join(rows) + "\n\n" + note + "\n"
print()
print(table)
if readme:
    text = open("README.md").read()
    begin, end = "<!-- recovery-table: bash bench/recovery.sh -->\n", "<!-- /recovery-table -->"
    i, j = text.index(begin) + len(begin), text.index(end)
    open("README.md", "w").write(text[:i] + table + text[j:])
PY
exit "$status"
