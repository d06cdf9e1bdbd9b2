#!/usr/bin/env bash
# Installs the pinned OpenClaw releases into a cache dir the tests own (never
# the repo's tracked files): the real `openclaw` package from npm, unpacked
# as published, plus the exact `@openclaw/fs-safe` it pins (its lock library).
# The rest of OpenClaw's dependency tree (browsers, SDKs, ...) is not needed
# by the lock code and is not installed. Prints the cache dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
cache=${OPENCLAW_REAL_CACHE:-$here/../../target/openclaw-real}
for tool in node npm unshare; do
    command -v "$tool" >/dev/null || { echo "install.sh: '$tool' is required for the real-OpenClaw tests" >&2; exit 1; }
done
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
for v in $OPENCLAW_VERSIONS; do
    dir=$cache/$v
    [ -f "$dir/.installed" ] && continue
    started=$(date +%s%N)
    rm -rf "$dir" && mkdir -p "$dir"
    npm pack --silent --pack-destination "$dir" "openclaw@$v" >/dev/null
    mkdir -p "$dir/pkg" && tar xzf "$dir/openclaw-$v.tgz" -C "$dir/pkg" --strip-components=1
    rm "$dir/openclaw-$v.tgz"
    fs_safe=$(node -p "require('$dir/pkg/package.json').dependencies?.['@openclaw/fs-safe'] ?? ''")
    (
        cd "$dir"
        echo '{"private": true}' >package.json
        if [ -n "$fs_safe" ]; then
            npm install --silent --ignore-scripts --no-audit --no-fund "@openclaw/fs-safe@$fs_safe" >/dev/null
        fi
    )
    # After npm, which would prune a package it did not install itself.
    mkdir -p "$dir/node_modules" && mv "$dir/pkg" "$dir/node_modules/openclaw"
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    size=$(du -sm "$dir" | cut -f1)
    echo "installed openclaw@$v (fs-safe ${fs_safe:-none}) in ${elapsed_ms} ms, ${size} MiB" >&2
    touch "$dir/.installed"
done
echo "$cache"
