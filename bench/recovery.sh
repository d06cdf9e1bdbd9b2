#!/usr/bin/env bash
# The recovery matrix with the real gateway: `openclaw gateway run` (the
# pinned 2026.9.6, Node 26) in the shipped pod layouts under podman, for each
# mode (none, init, wrap, watch = wrap plus the watch sidecar), restart kind
# (in place; a new pod with a new hostname; a new pod with the hostname
# pinned) and kill point (holding OpenClaw's OAuth refresh lock; in a usage
# refresh; holding the plugin lifecycle lease; in its own start, just after
# it wrote its owner lease), SIGKILLed there and timed to a gateway that is
# ready and can take the OAuth refresh lock again (after a usage kill, the
# usage refresh lock too); the Helm chart's render (wrap) besides, killed in
# an OAuth refresh (tests/deploy/test_gateway.py with RECOVERY_MATRIX=full).
# Prints one RECOVERY line per cell, then the tables, which it also writes
# between their markers: the OAuth one into README.md, every kill point's
# into docs/recovery.md (--no-readme: print only).
#
#   bash bench/recovery.sh [--no-readme]
#
# Needs what tests/run.sh needs (root for podman, node, npm); about 70 min.
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
cells, firsts, leases = {}, [], []
version = os.environ.get("OPENCLAW_GATEWAY_VERSION", "2026.9.6")
for line in open(log):
    m = re.match(r"RECOVERY mode=(\S+) restart=(\S+) kill=(\S+) ready_s=(\S+) first_start_s=(\S+)"
                 r"(?: version=(\S+))?(?: plugin_lease_after=(\S+))?", line)
    if m:
        mode, restart, kill, ready, first, v, lease = m.groups()
        version = v or version
        cells[(mode, restart, kill)] = "never" if ready == "never" else f"{float(ready):.1f} s"
        firsts.append(float(first))
        if lease:
            leases.append(lease)
modes = ["none", "init", "wrap", "watch"]
restarts = [("in-place", "in place"), ("new-pod", "new pod"), ("new-pod-pinned", "new pod, pinned hostname")]
kills = [("oauth", "in an OAuth refresh", 330), ("usage", "in a usage refresh", 120),
         ("plugin", "holding the plugin lease", 330), ("start", "in the gateway's start", 330)]
first = statistics.median(firsts)


def table(kill, what, bound):
    rows = [f"| restart after a kill {what} | no sweeper | `init` | `wrap` | `wrap` + `watch` |",
            "|---|---:|---:|---:|---:|"]
    for key, title in restarts:
        rows.append(f"| {title} | " + " | ".join(cells.get((m, key, kill), "-") for m in modes) + " |")
    return "\n".join(rows) + "\n"


readme_table = table(*kills[0]) + "\n" + (
    f"Seconds from SIGKILL to `/readyz` ready and OpenClaw's code taking the OAuth lock "
    f"(`never`: not in 330 s); real `openclaw gateway run` {version}, shipped pods, podman; "
    f"first start {first:.1f} s. Every kill point: [docs/recovery.md](docs/recovery.md). "
    f"By `bash bench/recovery.sh`.\n")
parts = []
for kill, what, bound in kills:
    if any(k[2] == kill for k in cells):
        parts.append(table(kill, what, bound) + f"\n`never`: not in {bound} s.\n")
helm = [cells.get(("helm-wrap", key, "oauth"), "-") for key, _ in restarts]
if any(c != "-" for c in helm):
    parts.append("The Helm chart's render (`wrap`), killed in an OAuth refresh: "
                 + "; ".join(f"{title}: {c}" for (_, title), c in zip(restarts, helm)) + ".\n")
if leases:
    parts.append(f"The plugin lifecycle lease a kill left was still held when the gateway had recovered in "
                 f"{leases.count('held')} of {len(leases)} cells (OpenClaw honours it 300 s; the sweeper keeps "
                 f"it: it names no owner).\n")
parts.append(f"Seconds from the SIGKILL to ready (`/readyz`) with OpenClaw's code taking the OAuth lock again "
             f"(after a usage kill, agent `main`'s usage refresh lock too). The real `openclaw gateway run` "
             f"{version}, shipped pods, podman; first start {first:.1f} s (median). By `bash bench/recovery.sh`.\n")
matrix = "\n".join(parts)
print()
print(matrix)
if readme:
    begin, end = "<!-- recovery-table: bash bench/recovery.sh -->\n", "<!-- /recovery-table -->"
    for path, block in [("README.md", readme_table), ("docs/recovery.md", matrix)]:
        text = open(path).read()
        i, j = text.index(begin) + len(begin), text.index(end)
        open(path, "w").write(text[:i] + block + text[j:])
PY
exit "$status"
