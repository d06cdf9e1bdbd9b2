"""The snippets for OpenClaw's community deployers (deploy/community/), checked
against each deployer's own data files in ../shared/fixtures/community/:

- merged into the deployer's default values, each snippet validates against its
  schema: serhanekicii/openclaw-helm's values.schema.json, and the app-template
  sub-tree against bjw-s app-template's; the operator's OpenClawInstance
  against its CRD's openAPIV3Schema, with no field the API server would prune;
  thepagent/openclaw-helm has no schema, so each key must exist in its
  values.yaml with the same type;
- each sweeper container mounts the volume `data` at the deployer's state path,
  its OPENCLAW_STATE_DIR names that path, and it runs before the gateway;
- every container spec the snippets produce validates with
  `kubernetes-validate --strict` (Kubernetes 1.30);
- deploy/community/README.md quotes every file, byte for byte.

No cluster, no network, no container runtime: this needs PyYAML, jsonschema and
referencing (both installed with kubernetes-validate) and the
kubernetes-validate command.
"""

import copy
import json
import pathlib
import re
import shutil
import subprocess

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMUNITY = ROOT / "deploy" / "community"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "community"
SERH = FIXTURES / "serhanekicii-openclaw-helm-1.5.37"
APP_TEMPLATE = SERH / "charts" / "app-template"
THEP = FIXTURES / "thepagent-openclaw-helm-1.5.23"
CRD = FIXTURES / "openclaw-rocks-openclaw-operator-0.30.0" / "openclawinstances.openclaw.rocks.crd.yaml"

IMAGE = "ghcr.io/openclaw-lock-sweeper/openclaw-lock-sweeper:0.2.0"
BIN_DIR = "/opt/lock-sweeper"
BIN = f"{BIN_DIR}/openclaw-lock-sweeper"
HARDENED = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
SMALL = {"requests": {"memory": "8Mi", "cpu": "10m"}, "limits": {"memory": "32Mi", "cpu": "100m"}}

# deployer -> (state path, the modes it has a snippet for). The operator and
# thepagent's chart cannot override the gateway's command, so they have no
# wrap.yaml (test_no_wrapper_where_the_gateway_command_is_fixed keeps that true).
DEPLOYERS = {
    "serhanekicii-openclaw-helm": ("/home/node/.openclaw", ("init", "watch", "wrap")),
    "thepagent-openclaw-helm": ("/home/node/.openclaw", ("init", "watch")),
    "openclaw-operator": ("/home/openclaw/.openclaw", ("init", "watch")),
}
SNIPPETS = [(d, m) for d, (_, modes) in DEPLOYERS.items() for m in modes]
IDS = [f"{d}-{m}" for d, m in SNIPPETS]


@pytest.fixture(scope="module", autouse=True)
def fixtures_present():
    assert FIXTURES.is_dir(), (
        f"{FIXTURES} is missing: the community deployers' data files live in shared/fixtures/community, "
        "which must sit beside the repository (../shared)"
    )


def load_yaml(path):
    return yaml.safe_load(path.read_text())


def snippet(deployer, mode):
    path = COMMUNITY / deployer / f"{mode}.yaml"
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return load_yaml(path)


def deep_merge(base, over):
    """Helm's merge of a values file over the defaults: maps merge key by key,
    anything else (lists included) replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = deep_merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def schema_errors(schema, instance, base_dir=None):
    """Every error jsonschema finds, with its path; references that are not
    URLs are read from files relative to base_dir (as the fixtures README says)."""

    def retrieve(uri):
        assert base_dir is not None and "://" not in uri, f"unexpected schema reference {uri}"
        path = (base_dir / uri).resolve()
        assert base_dir.resolve() in path.parents, f"schema reference {uri} leaves {base_dir}"
        return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT7)

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator = cls(schema, registry=Registry(retrieve=retrieve))
    return sorted(
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in validator.iter_errors(instance)
    )


# ---------------------------------------------------------------- the files


def test_snippet_files_are_the_expected_ones():
    found = sorted(str(p.relative_to(COMMUNITY)) for p in COMMUNITY.rglob("*") if p.is_file())
    expected = sorted(["README.md"] + [f"{d}/{m}.yaml" for d, m in SNIPPETS])
    assert found == expected, f"deploy/community holds {found}, expected {expected}"


def test_no_wrapper_where_the_gateway_command_is_fixed():
    """thepagent's chart hardcodes the gateway's command in its template and the
    operator's CRD has no command for the OpenClaw container: there a wrapper
    cannot be expressed. Should either gain one, this fails: add wrap.yaml."""
    thep_keys = set(load_yaml(THEP / "values.yaml"))
    assert not thep_keys & {"command", "args", "containerCommand", "extraArgs"}, (
        f"thepagent values now have {thep_keys & {'command', 'args', 'containerCommand', 'extraArgs'}}: "
        "the gateway command can be overridden, add deploy/community/thepagent-openclaw-helm/wrap.yaml"
    )
    spec = crd_schema()["properties"]["spec"]["properties"]
    image = spec["image"]["properties"]
    assert not {"command", "args"} & (set(spec) | set(image)), (
        "the operator CRD now has a command/args for the OpenClaw container: add deploy/community/openclaw-operator/wrap.yaml"
    )


# ---------------------------------------------------------------- schemas


def serh_defaults():
    return load_yaml(SERH / "values.yaml")


def app_template_schema():
    return json.loads((APP_TEMPLATE / "values.schema.json").read_text())


@pytest.mark.parametrize("mode", DEPLOYERS["serhanekicii-openclaw-helm"][1])
def test_serhanekicii_values_validate_against_chart_and_app_template_schemas(mode):
    values = deep_merge(serh_defaults(), snippet("serhanekicii-openclaw-helm", mode))
    chart_schema = json.loads((SERH / "values.schema.json").read_text())
    errors = schema_errors(chart_schema, values, SERH)
    assert not errors, f"{mode}.yaml merged into the chart's values fails its values.schema.json:\n" + "\n".join(errors)
    # Helm validates a subchart's values (the parent's `app-template` key over
    # app-template's own, empty, values.yaml) against the subchart's schema.
    errors = schema_errors(app_template_schema(), values["app-template"], APP_TEMPLATE)
    assert not errors, f"{mode}.yaml: app-template values fail app-template's schema:\n" + "\n".join(errors)


def test_serhanekicii_init_and_watch_files_combine():
    """Maps merge, so `-f init.yaml -f watch.yaml` is valid too."""
    values = serh_defaults()
    for mode in ("init", "watch"):
        values = deep_merge(values, snippet("serhanekicii-openclaw-helm", mode))
    errors = schema_errors(app_template_schema(), values["app-template"], APP_TEMPLATE)
    assert not errors, "\n".join(errors)


def test_app_template_schema_check_is_live():
    """The schema check rejects what app-template would reject: a misspelt
    container key and a mount list item with an unknown field."""
    values = deep_merge(serh_defaults(), snippet("serhanekicii-openclaw-helm", "init"))
    bad = copy.deepcopy(values)
    bad["app-template"]["controllers"]["main"]["initContainers"]["lock-sweeper"]["volumeMounts"] = []
    assert schema_errors(app_template_schema(), bad["app-template"], APP_TEMPLATE)
    bad = copy.deepcopy(values)
    bad["app-template"]["persistence"]["data"]["advancedMounts"]["main"]["lock-sweeper"] = [{"mountPath": "/x"}]
    assert schema_errors(app_template_schema(), bad["app-template"], APP_TEMPLATE)


def type_mismatches(defaults, values, path=""):
    """Keys of values missing from defaults, or of another kind (map, list,
    string, number, bool); maps recurse unless the default map is empty (free
    form, like env: {})."""
    kinds = ((dict, "map"), (list, "list"), (str, "string"), (bool, "bool"), ((int, float), "number"))

    def kind(v):
        return next((name for t, name in kinds if isinstance(v, t)), type(v).__name__)

    out = []
    for k, v in values.items():
        where = f"{path}{k}"
        if k not in defaults:
            out.append(f"{where}: not a key of values.yaml")
        elif kind(v) != kind(defaults[k]):
            out.append(f"{where}: {kind(v)}, values.yaml has a {kind(defaults[k])}")
        elif isinstance(v, dict) and defaults[k]:
            out += type_mismatches(defaults[k], v, where + ".")
    return out


@pytest.mark.parametrize("mode", DEPLOYERS["thepagent-openclaw-helm"][1])
def test_thepagent_keys_exist_with_the_same_types(mode):
    values = snippet("thepagent-openclaw-helm", mode)
    errors = type_mismatches(load_yaml(THEP / "values.yaml"), values)
    assert not errors, f"thepagent {mode}.yaml:\n" + "\n".join(errors)
    # the list items are Kubernetes containers: test_container_specs_validate


def test_thepagent_type_check_is_live():
    defaults = load_yaml(THEP / "values.yaml")
    assert type_mismatches(defaults, {"extraInitContainer": []})
    assert type_mismatches(defaults, {"extraInitContainers": {"lock-sweeper": {}}})
    assert type_mismatches(defaults, {"persistence": {"enabled": "yes"}})


def crd_schema():
    crd = load_yaml(CRD)
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    assert (crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"]) == (
        "openclaw.rocks",
        "v1alpha1",
        "OpenClawInstance",
    )
    return version["schema"]["openAPIV3Schema"]


def pruned_fields(schema, value, path=""):
    """Fields a structural CRD schema does not declare: the API server drops
    them silently (a misspelt volumeMounts would leave the sweeper on no volume)."""
    out = []
    if isinstance(value, dict) and isinstance(schema, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return out
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                out += pruned_fields(props[k], v, f"{path}{k}.")
            elif isinstance(extra, dict):
                out += pruned_fields(extra, v, f"{path}{k}.")
            elif extra is not True:
                out.append(f"{path}{k}")
    elif isinstance(value, list) and isinstance(schema, dict) and "items" in schema:
        for i, item in enumerate(value):
            out += pruned_fields(schema["items"], item, f"{path}{i}.")
    return out


@pytest.mark.parametrize("mode", DEPLOYERS["openclaw-operator"][1])
def test_operator_instance_validates_against_the_crd(mode):
    instance = snippet("openclaw-operator", mode)
    assert (instance.get("apiVersion"), instance.get("kind")) == ("openclaw.rocks/v1alpha1", "OpenClawInstance")
    schema = crd_schema()
    errors = schema_errors(schema, instance)
    assert not errors, f"operator {mode}.yaml fails the CRD schema:\n" + "\n".join(errors)
    metadata = instance.pop("metadata")
    assert pruned_fields(schema, instance) == [], f"operator {mode}.yaml has fields the CRD does not declare"
    assert set(metadata) <= {"name", "namespace", "labels", "annotations"}
    names = [c["name"] for c in instance["spec"]["initContainers"]]
    reserved = {"init-config", "init-pnpm", "init-python", "init-skills", "init-plugins", "init-ollama", "init-plugin-runtime-deps"}
    assert not set(names) & reserved, "the operator's webhook refuses these init container names"


def test_crd_checks_are_live():
    schema = crd_schema()
    bad = snippet("openclaw-operator", "init")
    bad["spec"]["initContainers"][0]["volumeMount"] = bad["spec"]["initContainers"][0].pop("volumeMounts")
    del bad["metadata"]
    assert pruned_fields(schema, bad) == ["spec.initContainers.0.volumeMount"]
    bad = snippet("openclaw-operator", "init")
    bad["spec"]["initContainers"][0]["env"] = {"OPENCLAW_STATE_DIR": "/x"}
    assert schema_errors(schema, bad)


# ---------------------------------------------------------------- what runs


def app_template_containers(values):
    """The init containers and containers of app-template's `main` controller
    as Kubernetes renders them (name, image, env list, volumeMounts from
    persistence), in app-template's order for init containers."""
    at = values["app-template"]
    controller = at["controllers"]["main"]

    def mounts(name):
        out = []
        for vol, item in sorted(at.get("persistence", {}).items()):
            if not item.get("enabled", True):
                continue
            for m in item.get("advancedMounts", {}).get("main", {}).get(name, []):
                out.append({"name": vol, "mountPath": m["path"], **({"readOnly": True} if m.get("readOnly") else {})})
        return out

    def render(name, c):
        image = c["image"]
        out = {"name": name, "image": f"{image['repository']}:{image['tag']}"}
        for k in ("command", "args", "restartPolicy", "securityContext", "resources", "terminationMessagePolicy"):
            if k in c:
                out[k] = c[k]
        env = c.get("env") or {}
        if env:
            out["env"] = [{"name": k, "value": str(v)} for k, v in sorted(env.items())]
        if mounts(name):
            out["volumeMounts"] = mounts(name)
        return out

    inits = {k: c for k, c in controller.get("initContainers", {}).items() if c.get("enabled", True)}
    containers = {k: c for k, c in controller.get("containers", {}).items() if c.get("enabled", True)}
    return [render(n, inits[n]) for n in kahn_order(inits)], [render(n, c) for n, c in containers.items()]


def kahn_order(inits):
    """app-template's order (bjw-s common lib/chart/_kahn.tpl): repeatedly the
    first, by name, of the containers whose dependsOn are all placed; a
    dependsOn naming no enabled container is an error there."""
    graph = {}
    for name, c in inits.items():
        dep = c.get("dependsOn") or []
        graph[name] = [dep] if isinstance(dep, str) else list(dep)
    order = []
    while graph:
        ready = sorted(n for n, deps in graph.items() if not deps)
        assert ready, f"app-template would fail: graph is cyclic or has bad edge definitions: {graph}"
        order.append(ready[0])
        del graph[ready[0]]
        graph = {n: [d for d in deps if d != ready[0]] for n, deps in graph.items()}
    return order


def pod_spec(deployer, mode):
    """(initContainers, containers, volume names) of the pod the snippet gives;
    the deployer's own containers are included only where the snippet changes
    them (serhanekicii's gateway in wrapper mode)."""
    doc = snippet(deployer, mode)
    if deployer == "serhanekicii-openclaw-helm":
        values = deep_merge(serh_defaults(), doc)
        inits, containers = app_template_containers(values)
        changed = doc["app-template"]["controllers"]["main"].get("containers", {})
        containers = [c for c in containers if c["name"] in changed]
        volumes = {k: v for k, v in values["app-template"]["persistence"].items()}
        return inits, containers, volumes
    if deployer == "thepagent-openclaw-helm":
        return doc["extraInitContainers"], [], {"data": {}}
    return doc["spec"]["initContainers"], [], {"data": {}, **{v["name"]: v for v in doc["spec"].get("extraVolumes", [])}}


def sweepers(deployer, mode):
    inits, _, _ = pod_spec(deployer, mode)
    return [c for c in inits if c.get("image") == IMAGE]


def env_of(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}


@pytest.mark.parametrize("deployer,mode", SNIPPETS, ids=IDS)
def test_sweeper_image_hardening_and_resources(deployer, mode):
    inits, _, _ = pod_spec(deployer, mode)
    ours = [c for c in inits if c["name"].startswith("lock-sweeper")]
    assert ours, f"{deployer} {mode}: no lock-sweeper container"
    for c in ours:
        assert c["image"] == IMAGE, f"{c['name']}: image {c['image']}, a release publishes {IMAGE}"
        assert c["securityContext"] == HARDENED, f"{c['name']}: securityContext {c['securityContext']}"
        assert c["resources"] == SMALL, f"{c['name']}: resources {c['resources']}"


def gateway_state_path(deployer):
    """The path the deployer's gateway mounts `data` at, from its own files."""
    if deployer == "serhanekicii-openclaw-helm":
        mounts = serh_defaults()["app-template"]["persistence"]["data"]["advancedMounts"]["main"]["main"]
        (path,) = [m["path"] for m in mounts]
        return path
    if deployer == "thepagent-openclaw-helm":
        # not in values (the template hardcodes it); OpenClaw's own paths in
        # the chart's config all live under it
        config = load_yaml(THEP / "values.yaml")["config"]
        for p in (config["agents"]["defaults"]["workspace"], config["session"]["store"]):
            assert p.startswith("/home/node/.openclaw/"), p
        return "/home/node/.openclaw"
    facts = (FIXTURES / "README.md").read_text()
    assert "state volume `data` at `/home/openclaw/.openclaw`" in facts
    return "/home/openclaw/.openclaw"


@pytest.mark.parametrize("deployer,mode", [s for s in SNIPPETS if s[1] != "wrap"], ids=[i for i in IDS if not i.endswith("wrap")])
def test_sweepers_mount_data_at_the_state_path_and_env_matches(deployer, mode):
    path, _ = DEPLOYERS[deployer]
    assert gateway_state_path(deployer) == path
    found = sweepers(deployer, mode)
    assert len(found) == (2 if mode == "watch" else 1), [c["name"] for c in found]
    for c in found:
        mounts = [(m["name"], m["mountPath"], m.get("readOnly", False)) for m in c.get("volumeMounts", [])]
        assert mounts == [("data", path, False)], f"{deployer} {mode} {c['name']}: mounts {mounts}, want data at {path}"
        assert env_of(c).get("OPENCLAW_STATE_DIR") == path, f"{c['name']}: env {env_of(c)}"


@pytest.mark.parametrize("deployer", DEPLOYERS)
def test_init_sweeps_once_before_the_gateway(deployer):
    (c,) = sweepers(deployer, "init")
    assert "restartPolicy" not in c and "args" not in c, "the one-shot sweep runs with default args and exits"
    assert env_of(c).get("LOCK_SWEEPER_BEST_EFFORT") == "true"


@pytest.mark.parametrize("deployer", DEPLOYERS)
def test_watch_is_a_native_sidecar_after_the_one_shot_sweep(deployer):
    inits, containers, _ = pod_spec(deployer, "watch")
    names = [c["name"] for c in inits]
    assert names[-2:] == ["lock-sweeper", "lock-sweeper-watch"], f"init container order {names}"
    watch = inits[-1]
    assert watch["restartPolicy"] == "Always", "a native sidecar needs restartPolicy: Always"
    assert watch["args"] == ["--watch", "30s"]
    assert env_of(watch).get("LOCK_SWEEPER_MIN_AGE", "3m") == "3m"
    assert containers == []


def test_serhanekicii_sweeper_runs_after_the_charts_init_containers():
    """Last before the gateway; pinned to init-config (always there) so that a
    user who disables init-skills still gets a valid graph."""
    for mode in ("init", "watch"):
        values = deep_merge(serh_defaults(), snippet("serhanekicii-openclaw-helm", mode))
        inits = values["app-template"]["controllers"]["main"]["initContainers"]
        order = kahn_order(inits)
        assert order[:3] == ["init-config", "init-skills", "lock-sweeper"], order
        inits["init-skills"]["enabled"] = False
        order = kahn_order({k: c for k, c in inits.items() if c.get("enabled", True)})
        assert order[:2] == ["init-config", "lock-sweeper"], order


def test_serhanekicii_wrapper_prefixes_the_charts_own_gateway_command():
    defaults = serh_defaults()["app-template"]
    doc = snippet("serhanekicii-openclaw-helm", "wrap")
    values = deep_merge(serh_defaults(), doc)
    inits, containers, volumes = pod_spec("serhanekicii-openclaw-helm", "wrap")
    (install,) = [c for c in inits if c["image"] == IMAGE]
    assert install["args"] == ["--install", BIN_DIR]
    assert install["volumeMounts"] == [{"name": "lock-sweeper-bin", "mountPath": BIN_DIR}]
    assert volumes["lock-sweeper-bin"]["type"] == "emptyDir"
    (main,) = containers
    own = defaults["controllers"]["main"]["containers"]["main"]
    command = main["command"]
    assert command[0] == BIN and "--" in command, command
    assert command[command.index("--") + 1 :] == own["command"], "after -- comes the chart's own command"
    assert set(command[1 : command.index("--")]) <= {"--best-effort"}
    assert main["args"] == own["args"] and "args" not in doc["app-template"]["controllers"]["main"]["containers"]["main"]
    path = gateway_state_path("serhanekicii-openclaw-helm")
    assert env_of(main)["OPENCLAW_STATE_DIR"] == path
    mounts = {m["name"]: m for m in main["volumeMounts"]}
    assert mounts["lock-sweeper-bin"] == {"name": "lock-sweeper-bin", "mountPath": BIN_DIR, "readOnly": True}
    assert mounts["data"]["mountPath"] == path
    # every other setting of the gateway container is the chart's own
    merged_main = values["app-template"]["controllers"]["main"]["containers"]["main"]
    assert merged_main["terminationMessagePolicy"] == "FallbackToLogsOnError"
    changed = ("command", "env", "terminationMessagePolicy")
    assert {k: v for k, v in merged_main.items() if k not in changed} == {
        k: v for k, v in own.items() if k not in changed
    }


# ---------------------------------------------------------------- Kubernetes


@pytest.mark.parametrize("deployer,mode", SNIPPETS, ids=IDS)
def test_container_specs_validate(deployer, mode, tmp_path):
    exe = shutil.which("kubernetes-validate")
    assert exe, "kubernetes-validate is not installed (pip install kubernetes-validate==1.37.0)"
    inits, containers, volumes = pod_spec(deployer, mode)
    ours = [c for c in inits if c["image"] == IMAGE]
    if not containers:
        containers = [{"name": "gateway", "image": "ghcr.io/openclaw/openclaw:2026.5.18"}]
    pod_volumes = []
    for name, v in volumes.items():
        if v.get("type") == "emptyDir":
            pod_volumes.append({"name": name, "emptyDir": {k: v[k] for k in ("sizeLimit", "medium") if k in v}})
        elif name == "data":
            pod_volumes.append({"name": name, "persistentVolumeClaim": {"claimName": "openclaw-data"}})
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{deployer}-{mode}"},
        "spec": {"initContainers": ours, "containers": containers, "volumes": pod_volumes},
    }
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump(pod))
    r = subprocess.run([exe, "--strict", "-k", "1.30.0", str(manifest)], capture_output=True, text=True)
    assert r.returncode == 0 and "passed" in r.stdout, f"{deployer} {mode}:\n{r.stdout}\n{r.stderr}\n{manifest.read_text()}"


def test_kubernetes_validate_is_strict():
    exe = shutil.which("kubernetes-validate")
    assert exe
    (c,) = sweepers("thepagent-openclaw-helm", "init")
    c = dict(c, volumeMount=c.pop("volumeMounts"))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"initContainers": [c], "containers": [{"name": "g", "image": "g"}]}}
    r = subprocess.run([exe, "--strict", "-k", "1.30.0", "-"], input=yaml.safe_dump(pod), capture_output=True, text=True)
    assert r.returncode != 0, r.stdout


# ---------------------------------------------------------------- README


def readme_quotes():
    text = (COMMUNITY / "README.md").read_text()
    return dict(re.findall(r"<!-- snippet:(community-[a-z0-9-]+) -->\n```yaml\n(.*?)```", text, re.S))


def test_readme_quotes_every_file_exactly():
    quotes = readme_quotes()
    expected = {f"community-{d}-{m}": (COMMUNITY / d / f"{m}.yaml") for d, m in SNIPPETS}
    assert set(quotes) == set(expected), (
        f"deploy/community/README.md quotes {sorted(quotes)}; the files are {sorted(expected)} "
        "(each as <!-- snippet:community-DEPLOYER-MODE --> and a ```yaml block)"
    )
    for name, path in expected.items():
        assert quotes[name] == path.read_text(), f"deploy/community/README.md snippet:{name} differs from {path.relative_to(ROOT)}"


@pytest.mark.parametrize("deployer,mode", SNIPPETS, ids=IDS)
def test_every_sweeper_leaves_its_last_lines_as_termination_message(deployer, mode):
    """A sweep that fails (or a wrapper that does not start the gateway) is
    shown by `kubectl describe pod`, not only in logs nobody reads."""
    inits, containers, _ = pod_spec(deployer, mode)
    ours = [c for c in inits if c.get("image") == IMAGE] + [c for c in containers if c["command"][0] == BIN]
    assert ours
    for c in ours:
        assert c.get("terminationMessagePolicy") == "FallbackToLogsOnError", (deployer, mode, c["name"])


def hostname_keys(node, where=""):
    """Every `hostname` key in a parsed snippet, with where it is."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "hostname":
                yield f"{where}{k}", v
            yield from hostname_keys(v, f"{where}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from hostname_keys(v, f"{where}{i}.")


@pytest.mark.parametrize("deployer,mode", SNIPPETS, ids=IDS)
def test_no_snippet_pins_the_pod_hostname(deployer, mode):
    """Two overlapping pods under one hostname make OpenClaw 2026.9 strip the
    live gateway's owner lease; the sweep clears a killed gateway's lease
    whatever the hostname. No snippet sets one."""
    assert list(hostname_keys(snippet(deployer, mode))) == []
    if deployer == "serhanekicii-openclaw-helm":
        # Nor does the chart's default, merged: each pod keeps its own name.
        values = deep_merge(serh_defaults(), snippet(deployer, mode))
        assert not values["app-template"]["controllers"]["main"].get("pod", {}).get("hostname")


def test_serhanekicii_hostname_opt_in_the_readme_names_validates():
    """deploy/community/README.md names app-template's key for those who pin
    the hostname anyway; it is one app-template's schema takes."""
    assert "`controllers.main.pod.hostname`" in (COMMUNITY / "README.md").read_text()
    values = deep_merge(serh_defaults(), snippet("serhanekicii-openclaw-helm", "init"))
    values = deep_merge(values, {"app-template": {"controllers": {"main": {"pod": {"hostname": "openclaw-gateway"}}}}})
    errors = schema_errors(app_template_schema(), values["app-template"], APP_TEMPLATE)
    assert not errors, "\n".join(errors)
