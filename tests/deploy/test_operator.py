"""What an operator meets first, checked without containers: the JSON report
of the static binary against its schema (schema/report.schema.json, with the
`jsonschema` package), and the kustomize components pointed at a workload
that is not `Deployment/openclaw`, the way their kustomization.yaml says.

Env: SWEEPER_STATIC_BIN, the static release binary (set by tests/deploy/run.sh).
"""

import copy
import json
import os
import pathlib
import shutil
import subprocess

import jsonschema
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schema" / "report.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
OLD = "2026-01-01T00:00:00.000Z"


def lock_text(pid):
    token = "\t" * 8 + " \t" * 64
    return f'{{\n  "pid": {pid},\n  "createdAt": "{OLD}",\n  "starttime": 4242\n}}\n{token}\n'


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# === The JSON report and its schema ===


def sweeper(*args, env=None):
    binary = os.environ.get("SWEEPER_STATIC_BIN")
    assert binary, "set SWEEPER_STATIC_BIN to the static binary (tests/deploy/run.sh does)"
    r = subprocess.run([binary, *map(str, args)], env={"PATH": "/usr/bin:/bin", **(env or {})},
                       capture_output=True, text=True, timeout=60)
    return r


def report_of(r):
    assert r.stdout.count("\n") == 1, f"one JSON object on stdout:\n{r.stdout}\n{r.stderr}"
    report = json.loads(r.stdout)
    VALIDATOR.validate(report)
    assert report["exit_code"] == r.returncode
    return report


def test_schema_is_valid_and_not_vacuous():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    good = {"version": "0.2.0", "error": "--min-age: invalid duration", "exit_code": 2}
    VALIDATOR.validate(good)
    for bad in [
        {},
        {**good, "exit_code": 0},
        {**good, "elapsed_ms": 0.5},
        {"version": "0.2.0", "state_dir": "/s", "exit_code": 0},
    ]:
        assert not VALIDATOR.is_valid(bad), bad


def test_report_of_a_sweep_with_swept_and_kept_files(tmp_path):
    state = tmp_path / "state"
    write(state / "locks/oauth-refresh/sha256-aaaa.lock", lock_text(1))
    write(state / "agents/main/agent/auth-profiles.json.lock", lock_text(4242))
    write(state / "locks/notes.lock", "not json")
    r = sweeper("--state-dir", state, "--report", "json")
    assert r.returncode == 0, r.stderr
    report = report_of(r)
    assert report["swept_paths"] == [{"path": "locks/oauth-refresh/sha256-aaaa.lock", "kind": "lock"}]
    assert sorted((k["path"], k["reason"]) for k in report["kept_paths"]) == [
        ("agents/main/agent/auth-profiles.json.lock", "other-holder"),
        ("locks/notes.lock", "not-a-lock"),
    ]
    assert report["kept"]["other-holder"] == 1 and report["kept"]["not-a-lock"] == 1
    assert isinstance(report["elapsed_us"], int)
    assert report["state_dir_source"] == "--state-dir"
    # A kept path given as one string, or counts as a string, is refused.
    broken = copy.deepcopy(report)
    broken["kept"] = "not-a-lock:1 other-holder:1"
    assert not VALIDATOR.is_valid(broken)


def test_report_of_a_dry_run(tmp_path):
    home = tmp_path / "home"
    write(home / ".openclaw/locks/oauth-refresh/x.lock", lock_text(1))
    r = sweeper("--dry-run", env={"HOME": str(home), "LOCK_SWEEPER_REPORT": "json"})
    assert r.returncode == 0, r.stderr
    report = report_of(r)
    assert report["dry_run"] is True
    assert report["state_dir_source"] == "HOME"
    # A dry run removes nothing, and its report says what it would have.
    assert report["swept_paths"] == [] and report["swept"] == 0
    assert report["would_remove_paths"] == [{"path": "locks/oauth-refresh/x.lock", "kind": "lock"}]
    assert (home / ".openclaw/locks/oauth-refresh/x.lock").exists()


@pytest.mark.parametrize("args, env, needle", [
    (["--min-age", "5", "--report", "json"], {}, "--min-age: invalid duration"),
    (["--report", "json"], {"LOCK_SWEEPER_LOG_LEVEL": "loud"}, "LOCK_SWEEPER_LOG_LEVEL"),
    (["--holder-pid", "9"], {"LOCK_SWEEPER_ANY_HOLDER": "true", "LOCK_SWEEPER_REPORT": "json"},
     "LOCK_SWEEPER_ANY_HOLDER cannot be used with --holder-pid"),
])
def test_report_of_a_usage_error(tmp_path, args, env, needle):
    r = sweeper("--state-dir", tmp_path, *args, env=env)
    assert r.returncode == 2, r.stderr
    report = report_of(r)
    assert needle in report["error"], report


def test_report_of_a_required_state_that_is_missing(tmp_path):
    r = sweeper("--state-dir", tmp_path / "missing", "--require-state", "--report", "json")
    assert r.returncode == 1, r.stderr
    report = report_of(r)
    assert "does not exist" in report["error"] and report["state_dir_source"] == "--state-dir"


# === The kustomize components on another workload ===

COMPONENTS = {
    # component: what it must add to the pod
    "lock-sweeper": "lock-sweeper",
    "lock-sweeper-watch": "lock-sweeper-watch",
    "lock-sweeper-wrap": "lock-sweeper-install",
}


def kustomize(path):
    r = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def openclaw_base(tmp_path, kind, name):
    """deploy/kubernetes/openclaw with its Deployment renamed, or turned into a StatefulSet."""
    base = tmp_path / "base"
    base.mkdir()
    docs = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/openclaw/openclaw.yaml").read_text()))
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["metadata"]["name"] = name
            if kind == "StatefulSet":
                doc["kind"] = "StatefulSet"
                doc["spec"]["serviceName"] = "openclaw"
                del doc["spec"]["strategy"]
    (base / "openclaw.yaml").write_text(yaml.safe_dump_all(docs))
    (base / "kustomization.yaml").write_text("resources:\n  - openclaw.yaml\n")
    return base


def overlay(tmp_path, base, component):
    ov = tmp_path / "overlay"
    ov.mkdir()
    (ov / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(base, ov)],
        "components": [os.path.relpath(component, ov)],
    }))
    return ov


def copy_retargeted(tmp_path, name, kind, target_name):
    """What the component's kustomization.yaml tells the operator to do: copy
    the directory and set kind and name in each target."""
    copy_dir = tmp_path / name
    shutil.copytree(ROOT / "deploy/kubernetes" / name, copy_dir)
    # The component's own and any nested one's (the wrap component's check).
    for path in copy_dir.rglob("kustomization.yaml"):
        kust = yaml.safe_load(path.read_text())
        assert kust["patches"], path
        for patch in kust["patches"]:
            assert patch["target"]["name"] == "openclaw", patch
            patch["target"].update(kind=kind, name=target_name)
        path.write_text(yaml.safe_dump(kust))
    return copy_dir


def workload(docs, kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, [(d["kind"], d["metadata"]["name"]) for d in docs]
    return found[0]["spec"]["template"]["spec"]


def check_added(spec, component):
    init = [c["name"] for c in spec.get("initContainers", [])]
    assert COMPONENTS[component] in init, init
    if component == "lock-sweeper-wrap":
        command = spec["containers"][0]["command"]
        assert command[:3] == ["/opt/lock-sweeper/openclaw-lock-sweeper", "--best-effort", "--"], command
        assert command[3:] == ["node", "/app/dist/index.js", "gateway", "run"], command


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_as_shipped_patches_deployment_openclaw(tmp_path, component):
    base = openclaw_base(tmp_path, "Deployment", "openclaw")
    docs = kustomize(overlay(tmp_path, base, ROOT / "deploy/kubernetes" / component))
    check_added(workload(docs, "Deployment", "openclaw"), component)


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_as_shipped_silently_skips_another_name(tmp_path, component):
    """Why the kustomization.yaml documents the copy: kustomize renders a
    target that matches nothing without a word."""
    base = openclaw_base(tmp_path, "Deployment", "my-gateway")
    docs = kustomize(overlay(tmp_path, base, ROOT / "deploy/kubernetes" / component))
    spec = workload(docs, "Deployment", "my-gateway")
    assert COMPONENTS[component] not in [c["name"] for c in spec.get("initContainers", [])]


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize("kind, name", [("Deployment", "my-gateway"), ("StatefulSet", "openclaw-gw")])
def test_component_copy_retargets_a_renamed_deployment_or_a_statefulset(tmp_path, component, kind, name):
    base = openclaw_base(tmp_path, kind, name)
    retargeted = copy_retargeted(tmp_path, component, kind, name)
    docs = kustomize(overlay(tmp_path, base, retargeted))
    spec = workload(docs, kind, name)
    check_added(spec, component)
    # The patch's own kind and name did not leak: one workload, still ours.
    assert [d["metadata"]["name"] for d in docs if d["kind"] in ("Deployment", "StatefulSet")] == [name]
    mounts = {m["name"] for c in spec["initContainers"] for m in c.get("volumeMounts", [])}
    assert mounts <= {v["name"] for v in spec["volumes"]}, "every mount has its volume"
