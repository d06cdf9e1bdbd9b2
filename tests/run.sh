#!/usr/bin/env bash
# The project's one test command: everything the README promises is checked.
#   1. cargo test: unit, property and integration tests on real trees, and
#      the real lock files captured under tests/fixtures/openclaw;
#   2. the real-OpenClaw test: OpenClaw's own lock code from npm (pinned
#      releases, installed into target/openclaw-real) wedges on a pid-1
#      lock, and the sweeper cures it; needs node, npm and unshare;
#   3. the container image and deploy/ (Kubernetes, Helm, compose), run for
#      real with podman, and the community deployers' snippets checked
#      against their schemas; installs what it needs (see tests/deploy/run.sh);
#   4. what of the release workflow can run here: actionlint, the SBOM, the
#      packaged chart (tests/release/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in node npm unshare; do
    command -v "$tool" >/dev/null || { echo "tests/run.sh: '$tool' is required (the real-OpenClaw tests)" >&2; exit 1; }
done
# strace injects the faults of tests/stranded.rs (a failed unlink, a failed
# re-read, a delayed removal); bindfs gives tests/mounts.rs a FUSE mount
# that keeps its locks to itself. Installed from Debian where missing.
need=()
command -v strace >/dev/null || need+=(strace)
command -v bindfs >/dev/null || need+=(bindfs fuse3)
if ((${#need[@]})) && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo test --locked
cargo build --locked --quiet
cache=$(bash tests/openclaw/install.sh)
SWEEPER_BIN="$PWD/target/debug/openclaw-lock-sweeper" OPENCLAW_REAL_CACHE="$cache" \
    node --test tests/openclaw/
OPENCLAW_REAL_CACHE="$cache" bash tests/deploy/run.sh
bash tests/release/run.sh
