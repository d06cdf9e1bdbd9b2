#!/usr/bin/env bash
# The project's one test command: everything the README promises is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked
