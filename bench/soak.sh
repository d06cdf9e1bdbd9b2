#!/usr/bin/env bash
# Watch-mode soak: the static release binary sweeps a quiet, realistic state
# dir every INTERVAL for DURATION seconds; RSS and CPU are sampled from /proc
# every minute. Then SIGTERM, which must end it at once with exit 0.
#   bash bench/soak.sh [DURATION_S=3600] [INTERVAL=1s]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-3600}
interval=${2:-1s}
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --release --quiet --target "$target"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "target/$target/release/openclaw-lock-sweeper" "$work/sweeper"
state=$work/state
sh tests/demo-state.sh "$state" >/dev/null
for a in 1 2 3; do
    mkdir -p "$state/agents/agent$a/agent" "$state/agents/agent$a/sessions"
    for s in $(seq 1000); do echo '{}' >"$state/agents/agent$a/sessions/s$s.jsonl"; done
done
"$work/sweeper" --state-dir "$state" --watch "$interval" 2>"$work/log" &
pid=$!
ticks=$(getconf CLK_TCK)
echo "| minute | VmRSS KiB | VmHWM KiB | CPU s (user+sys) |"
echo "|---:|---:|---:|---:|"
for ((m = 0; m * 60 <= duration; m++)); do
    ((m > 0)) && sleep 60
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    cpu=$(awk -v t="$ticks" '{printf "%.2f", ($14 + $15) / t}' "/proc/$pid/stat")
    echo "| $m | $rss | $hwm | $cpu |"
done
started=$(date +%s%N)
kill -TERM "$pid"
wait "$pid" && code=0 || code=$?
echo
echo "passes: $(grep -o 'passes=[0-9]*' "$work/log" | tail -1); SIGTERM to exit: $((($(date +%s%N) - started) / 1000000)) ms, exit code $code"
grep -c 'removed stale lock' "$work/log" | xargs echo "locks removed (demo state, first pass):"
