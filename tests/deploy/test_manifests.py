"""The chart and manifests, rendered (no container runtime): every Helm value
reaches the container it configures (issue 24), the kustomize wrap component
names what a gateway without `command` lacks, compose refuses to start
without OPENCLAW_CONFIG_DIR, every sweeper container leaves its last log
lines as its termination message, and no shipped file pins the gateway's
hostname (two overlapping pods under one hostname make OpenClaw 2026.9 strip
the live gateway's owner lease; the chart keeps `openclaw.hostname` as an
opt-in). The podman runs of the same files are in test_deploy.py.
"""

import json
import os
import re
import shutil

import pytest
import yaml
from helm_python import HelmValuesError
from test_deploy import ENV, ROOT, kustomize, notes, render, run, validate

SWEEPER_BIN = "/opt/lock-sweeper/openclaw-lock-sweeper"


def pod(manifests):
    (dep,) = [d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "Deployment"]
    return dep["spec"]["template"]["spec"]


def sweeper_containers(spec):
    """Every container that runs the sweeper: from its image, or as the
    wrapper in the gateway's command."""
    every = spec.get("initContainers", []) + spec["containers"]
    return [c for c in every if "openclaw-lock-sweeper" in c["image"] or (c.get("command") or [""])[0] == SWEEPER_BIN]


def container(spec, name):
    (c,) = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name]
    return c


# === Helm: each value reaches the container it configures ===

ENV_VALUE = {"name": "LOCK_SWEEPER_LOG_LEVEL", "value": "debug"}


def test_helm_default_mode_is_wrap():
    spec = pod(render({}))
    assert [c["name"] for c in spec["initContainers"]] == ["lock-sweeper-install", "init-config"]
    assert container(spec, "gateway")["command"][0] == SWEEPER_BIN


def test_helm_env_reaches_the_wrapped_gateway():
    spec = pod(render({"lockSweeper": {"mode": "wrap", "env": [ENV_VALUE]}}))
    assert ENV_VALUE in container(spec, "gateway")["env"]
    assert "env" not in container(spec, "lock-sweeper-install"), "the installer runs no sweep"
    assert ENV_VALUE not in container(pod(render({"lockSweeper": {"mode": "wrap"}})), "gateway")["env"]


def test_helm_args_reach_the_watch_sidecar():
    for mode in ["init", "wrap"]:
        spec = pod(render({"lockSweeper": {"mode": mode, "args": ["--holder-pid", "7"], "extraArgs": ["--min-age", "90s"],
                                           "env": [ENV_VALUE], "watch": {"enabled": True}}}))
        watch = container(spec, "lock-sweeper-watch")
        assert watch["args"] == ["--watch", "30s", "--min-age", "3m", "--holder-pid", "7", "--min-age", "90s"], watch["args"]
        assert ENV_VALUE in watch["env"]


@pytest.mark.parametrize("mode", ["init", "wrap"])
def test_helm_disabled_renders_no_sweeper_at_all(mode):
    values = {"lockSweeper": {"enabled": False, "mode": mode, "watch": {"enabled": True}, "env": [ENV_VALUE]}}
    spec = pod(render(values))
    assert sweeper_containers(spec) == []
    assert [c["name"] for c in spec["initContainers"]] == ["init-config"]
    assert "lock-sweeper-bin" not in [v["name"] for v in spec["volumes"]]
    assert ENV_VALUE not in container(spec, "gateway")["env"]


@pytest.mark.parametrize("values", [
    {},
    {"lockSweeper": {"mode": "init"}},
    {"lockSweeper": {"mode": "init", "watch": {"enabled": True}}},
    {"lockSweeper": {"mode": "wrap", "watch": {"enabled": True}}},
    {"lockSweeper": {"enabled": False}},
    {"lockSweeper": {"enabled": False, "watch": {"enabled": True}}},
    {"openclaw": {"strategy": "RollingUpdate"}},
    {"openclaw": {"enabled": False}},
], ids=["default", "init", "init-watch", "wrap-watch", "off", "off-watch", "rolling", "templates-only"])
def test_helm_notes_name_only_containers_that_exist(values):
    text = notes(values)
    rendered = [d for d in yaml.safe_load_all(render(values)) if d and d["kind"] == "Deployment"]
    names = {c["name"] for d in rendered for c in d["spec"]["template"]["spec"]["initContainers"] + d["spec"]["template"]["spec"]["containers"]}
    pointed = set(re.findall(r"-c ([a-z-]+)", text))
    assert pointed <= names, f"NOTES point to {pointed - names}, not in the pod:\n{text}"
    if rendered and values.get("lockSweeper", {}).get("enabled", True):
        assert pointed, f"NOTES name the sweeper's log:\n{text}"
    if not rendered:
        assert "deploy/" not in text, text


@pytest.mark.parametrize("key", ["args", "extraArgs"])
@pytest.mark.parametrize("flag", ["--watch", "--install", "--"])
def test_helm_schema_refuses_flags_the_chart_sets(key, flag):
    with pytest.raises(HelmValuesError, match=key):
        render({"lockSweeper": {key: [flag, "x"]}})


# === No shipped file pins the gateway's hostname ===
#
# With one hostname on two overlapping pods (a pod stuck terminating, `kubectl
# debug --copy-to`, a second workload from the template, `docker compose run`),
# OpenClaw 2026.9 judges the live gateway's owner lease dead, takes the row,
# fails on the coordinator and releases it: the live gateway runs on with no
# lease. The sweep removes a killed gateway's lease whatever the hostname.

OPT_IN = "gw-a"


def hostnames(node, where=""):
    """Every `hostname` key, and every JSON patch op whose path sets one, in a
    parsed YAML document: (where, value)."""
    if isinstance(node, dict):
        if isinstance(node.get("path"), str) and node["path"].rstrip("/").endswith("/hostname") and "op" in node:
            yield f"{where}{node['path']}", node.get("value")
        for k, v in node.items():
            if k == "hostname":
                yield f"{where}{k}", v
            yield from hostnames(v, f"{where}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from hostnames(v, f"{where}{i}.")


def test_no_yaml_file_under_deploy_sets_a_hostname():
    """Every manifest, component, patch, compose file, values file and
    community snippet; the chart's templates are checked rendered (below).
    The chart's values.yaml has the opt-in, empty."""
    files = [p for p in (ROOT / "deploy").rglob("*") if p.suffix in (".yaml", ".yml") and "templates" not in p.parts]
    assert len(files) > 10, files
    found = {}
    for f in files:
        for i, doc in enumerate(yaml.safe_load_all(f.read_text())):
            for where, value in hostnames(doc, f"{i}:"):
                found[f"{f.relative_to(ROOT)}:{where}"] = value
    values = "deploy/helm/openclaw-lock-sweeper/values.yaml:0:openclaw.hostname"
    assert found.pop(values, None) == "", "the chart's openclaw.hostname is the opt-in, empty by default"
    assert found == {}, f"a hostname set by default: {found}"


@pytest.mark.parametrize("values", [
    {},
    {"lockSweeper": {"mode": "init"}},
    {"lockSweeper": {"mode": "init", "watch": {"enabled": True}}},
    {"lockSweeper": {"mode": "wrap", "watch": {"enabled": True}}},
    {"lockSweeper": {"enabled": False}},
    {"openclaw": {"strategy": "RollingUpdate"}},
    {"openclaw": {"hostname": ""}},
], ids=["default", "init", "init-watch", "wrap-watch", "off", "rolling", "empty"])
def test_helm_pins_no_hostname_by_default(values):
    spec = pod(render(values))
    assert "hostname" not in spec, spec.get("hostname")
    assert list(hostnames(spec)) == []
    assert "hostname" not in notes(values).lower()


@pytest.mark.parametrize("mode", ["init", "wrap"])
def test_helm_hostname_opt_in_still_renders(mode, tmp_path):
    values = {"lockSweeper": {"mode": mode}, "openclaw": {"hostname": OPT_IN}}
    manifests = render(values)
    validate(manifests, tmp_path)
    assert pod(manifests)["hostname"] == OPT_IN
    text = notes(values)
    assert f"Pod hostname: {OPT_IN} (openclaw.hostname)" in text, text
    assert "Never run two pods of it at once" in text and "owner lease" in text, "NOTES state the trade-off"
    with pytest.raises(HelmValuesError, match="hostname"):
        render({"openclaw": {"hostname": "Not_A_Host"}})


def test_helm_hostname_value_is_documented_as_opt_in():
    chart = ROOT / "deploy/helm/openclaw-lock-sweeper"
    assert yaml.safe_load((chart / "values.yaml").read_text())["openclaw"]["hostname"] == ""
    schema = json.loads((chart / "values.schema.json").read_text())
    desc = schema["properties"]["openclaw"]["properties"]["hostname"]["description"]
    assert desc.startswith("Opt-in") and "overlapping" in desc, desc


BASE = ROOT / "deploy/kubernetes/openclaw"
COMPONENTS = ["lock-sweeper", "lock-sweeper-wrap", "lock-sweeper-watch"]


def overlay(tmp_path, components, patches=None):
    ov = tmp_path / "ov"
    ov.mkdir()
    k = {"resources": [os.path.relpath(BASE, ov)],
         "components": [os.path.relpath(ROOT / "deploy/kubernetes" / c, ov) for c in components]}
    if patches:
        k["patches"] = patches
    (ov / "kustomization.yaml").write_text(yaml.safe_dump(k))
    return ov


@pytest.mark.parametrize("example", ["openclaw", "example", "example-wrap", "example-watch"])
def test_kustomize_examples_pin_no_hostname(example):
    spec = pod(kustomize(ROOT / "deploy/kubernetes" / example))
    assert "hostname" not in spec and list(hostnames(spec)) == []


@pytest.mark.parametrize("components", [[c] for c in COMPONENTS] + [["lock-sweeper", "lock-sweeper-watch"]],
                         ids=COMPONENTS + ["init+watch"])
def test_kustomize_components_pin_no_hostname(components, tmp_path):
    spec = pod(kustomize(overlay(tmp_path, components)))
    assert "hostname" not in spec and list(hostnames(spec)) == []


@pytest.mark.parametrize("component", COMPONENTS)
def test_kustomize_overlay_can_still_pin_a_hostname(component, tmp_path):
    """The fallback without the sweeper, or by choice: the overlay's own
    patch; no component removes or overrides it."""
    patch = {"target": {"kind": "Deployment", "name": "openclaw"},
             "patch": yaml.safe_dump([{"op": "add", "path": "/spec/template/spec/hostname", "value": OPT_IN}])}
    assert pod(kustomize(overlay(tmp_path, [component], [patch])))["hostname"] == OPT_IN


# === Every sweeper container leaves its last lines as its termination message ===


@pytest.mark.parametrize("manifests", [
    lambda: kustomize(ROOT / "deploy/kubernetes/example"),
    lambda: kustomize(ROOT / "deploy/kubernetes/example-wrap"),
    lambda: kustomize(ROOT / "deploy/kubernetes/example-watch"),
    lambda: render({"lockSweeper": {"mode": "init", "watch": {"enabled": True}}}),
    lambda: render({"lockSweeper": {"mode": "wrap", "watch": {"enabled": True}}}),
], ids=["kustomize-init", "kustomize-wrap", "kustomize-watch", "helm-init-watch", "helm-wrap-watch"])
def test_every_sweeper_container_falls_back_to_its_logs_on_error(manifests):
    ours = sweeper_containers(pod(manifests()))
    assert ours
    for c in ours:
        assert c.get("terminationMessagePolicy") == "FallbackToLogsOnError", c["name"]


# === The kustomize wrap component on a gateway without `command` ===


def overlay_without_command(tmp_path, command):
    base = tmp_path / "base"
    base.mkdir()
    docs = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/openclaw/openclaw.yaml").read_text()))
    for d in docs:
        if d["kind"] == "Deployment":
            gateway = d["spec"]["template"]["spec"]["containers"][0]
            del gateway["command"]
            gateway["args"] = ["gateway", "run"]
            if command:
                gateway["command"] = command
    (base / "openclaw.yaml").write_text(yaml.safe_dump_all(docs))
    (base / "kustomization.yaml").write_text("resources:\n  - openclaw.yaml\n")
    ov = tmp_path / "ov"
    ov.mkdir()
    (ov / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": ["../base"],
        "components": [os.path.relpath(ROOT / "deploy/kubernetes/lock-sweeper-wrap", ov)]}))
    return ov


def test_kustomize_wrap_on_a_gateway_without_command_says_what_to_add(tmp_path):
    r = run("kubectl", "kustomize", overlay_without_command(tmp_path, None), check=False)
    assert r.returncode != 0
    assert "add-a-command-to-the-gateway-container" in r.stderr, r.stderr
    assert "/spec/template/spec/containers/0/command/0" in r.stderr, r.stderr


def test_kustomize_wrap_once_the_command_is_set(tmp_path):
    """What the error tells the operator to do: name the image's entrypoint
    as `command`; the container's `args` follow the wrapped command."""
    gateway = pod(kustomize(overlay_without_command(tmp_path, ["node", "/app/dist/index.js"])))["containers"][0]
    assert gateway["command"] == [SWEEPER_BIN, "--best-effort", "--", "node", "/app/dist/index.js"]
    assert gateway["args"] == ["gateway", "run"]


def test_kustomize_wrap_component_comment_is_current():
    text = (ROOT / "deploy/kubernetes/lock-sweeper-wrap/kustomization.yaml").read_text()
    assert "adds to its `env`" not in text
    patch = yaml.safe_load(yaml.safe_load(text)["patches"][1]["patch"])
    assert not any("/env" in op["path"] for op in patch), "the comment says it does not touch env"


# === Compose ===


def compose_bin(which):
    if which == "1.29":
        return "docker-compose"
    v2 = os.environ.get("COMPOSE_V2_BIN")
    assert v2, "COMPOSE_V2_BIN must name Compose v2's docker-compose (tests/deploy/run.sh sets it)"
    return v2


@pytest.mark.parametrize("which", ["1.29", "v2"])
def test_compose_refuses_to_start_without_openclaw_config_dir(which, tmp_path):
    env = {k: v for k, v in ENV.items() if not k.startswith("OPENCLAW_")}
    env["OPENCLAW_WORKSPACE_DIR"] = str(tmp_path)
    for extra in [[], ["-f", ROOT / "deploy/compose/docker-compose.wrap.yml"]]:
        r = run(compose_bin(which), "-f", ROOT / "deploy/compose/docker-compose.yml", *extra, "config",
                env=env, check=False, cwd=tmp_path)
        assert r.returncode != 0, r.stdout
        assert "OPENCLAW_CONFIG_DIR" in r.stderr and "state dir" in r.stderr, r.stderr
    env["OPENCLAW_CONFIG_DIR"] = str(tmp_path)
    r = run(compose_bin(which), "-f", ROOT / "deploy/compose/docker-compose.yml", "config", env=env, cwd=tmp_path)
    services = yaml.safe_load(r.stdout)["services"]
    assert "openclaw-gateway" in services
    assert shutil.which("docker-compose")


@pytest.mark.parametrize("which", ["1.29", "v2"])
@pytest.mark.parametrize("wrap", [False, True], ids=["init", "wrap"])
def test_compose_pins_no_hostname(which, wrap, tmp_path):
    """Compose's own default (the container's id) for every service, the
    watch profile's included: `docker compose run openclaw-gateway` beside
    the running gateway must not share its hostname."""
    env = {k: v for k, v in ENV.items() if not k.startswith("OPENCLAW_")}
    env.update(OPENCLAW_CONFIG_DIR=str(tmp_path), OPENCLAW_WORKSPACE_DIR=str(tmp_path))
    files = ["-f", ROOT / "deploy/compose/docker-compose.yml"]
    if wrap:
        files += ["-f", ROOT / "deploy/compose/docker-compose.wrap.yml"]
    r = run(compose_bin(which), "--profile", "watch", *files, "config", env=env, cwd=tmp_path)
    services = yaml.safe_load(r.stdout)["services"]
    assert set(services) == {"openclaw-lock-sweeper", "openclaw-lock-sweeper-watch", "openclaw-gateway"}, set(services)
    pinned = {name: s["hostname"] for name, s in services.items() if "hostname" in s}
    assert pinned == {}, pinned
