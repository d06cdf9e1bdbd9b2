#!/bin/sh
# Creates a small OpenClaw state dir with stale, live and foreign locks, in
# the exact format OpenClaw writes (pretty JSON plus a whitespace tail), for
# trying the sweeper by hand:
#   sh tests/demo-state.sh /tmp/demo && cargo run -- --state-dir /tmp/demo --dry-run
set -eu
state=${1:?usage: demo-state.sh DIR}
tail_token="$(printf '\t\t\t\t\t\t\t\t')$(printf ' \t%.0s' $(seq 64))"
lock() { # lock FILE PID CREATED_AT
    mkdir -p "$(dirname "$1")"
    printf '{\n  "pid": %s,\n  "createdAt": "%s",\n  "starttime": 1234\n}\n%s\n' "$2" "$3" "$tail_token" >"$1"
}
lock "$state/locks/oauth-refresh/sha256-$(printf a%.0s $(seq 64)).lock" 1 2026-01-01T00:00:00.000Z
lock "$state/locks/provider-auth-persistence/sha256-$(printf b%.0s $(seq 64)).lock" 1 2026-01-01T00:00:00.000Z
lock "$state/agents/main/agent/auth-profiles.json.lock" 1 2026-01-01T00:00:00.000Z
lock "$state/agents/work/agent/auth-profiles.json.lock" 4242 2026-01-01T00:00:00.000Z
printf '{"profiles": {}}\n' >"$state/agents/main/agent/auth-profiles.json"
printf 'not a lock\n' >"$state/locks/oauth-refresh/notes.lock"
mkdir -p "$state/agents/main/sessions"
printf '{}\n' >"$state/agents/main/sessions/s1.jsonl"
echo "demo state dir: $state"
