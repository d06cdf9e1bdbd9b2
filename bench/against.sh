#!/usr/bin/env bash
# The bench, side by side with another release of the sweeper (default 0.2.0,
# commit 23c7ef2): builds that commit's static release binary in a temporary
# git worktree, then runs bench/bench.py with it as an extra contender, so
# every table has both on the same trees, interleaved run by run.
#
#   bash bench/against.sh [REF] [bench.py options...]
#   bash bench/against.sh 23c7ef2 --runs 21 --out /tmp/bench
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:-23c7ef2}
shift || true
target=x86_64-unknown-linux-gnu
work=$(mktemp -d)
trap 'git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach --quiet "$work/src" "$ref"
(cd "$work/src" && RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$work/target" \
    cargo build --release --locked --quiet --target "$target")
python3 bench/bench.py --extra "$ref=$work/target/$target/release/openclaw-lock-sweeper" "$@"
