"""The real OpenClaw gateway (`openclaw gateway run` of the pinned 2026.9.6,
Node 26) in the shipped pod layouts, played by podman: SIGKILLed at one point
of its life (gateway/kill-point.mjs: holding OpenClaw's OAuth refresh lock,
in a usage refresh, or in its own start just after it wrote its owner lease;
gateway/plugin-lease.mjs: while a process beside it holds the plugin
lifecycle lease), restarted the way the runtime would,
and timed to a gateway that is ready (GET /readyz says `"ready": true`)
*and* whose OAuth refresh lock OpenClaw's own code can take again in the new
container (after a usage kill, its usage refresh lock too).

Each cell prints one line,
`RECOVERY mode=<none|init|wrap|watch> restart=<in-place|new-pod|new-pod-pinned> kill=<oauth|usage|plugin|start> ready_s=<s|never>`,
which bench/recovery.sh turns into the recovery tables. CI runs init and
wrap, in place and in a new pod, killed in an OAuth refresh, the Helm
chart's render (wrap) the same way, and wrap killed in its start and in a
usage refresh; RECOVERY_MATRIX=full (bench/recovery.sh) runs every mode,
restart kind and kill point. deploy/compose (wrap) is run the same way,
in CI, killed in an OAuth refresh.

Adapted for podman with no registry: the gateway's image is built here from
Debian's busybox and the libraries Node links; Node and OpenClaw's package,
as tests/openclaw/install.sh installed them (OPENCLAW_REAL_CACHE), are
mounted into it, with OpenClaw's package at /app as in OpenClaw's image. The
pod keeps the manifests' volumes (the state volume, an emptyDir /tmp) and
their securityContext. Env: OPENCLAW_REAL_CACHE, SWEEPER_STATIC_BIN.
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
from test_deploy import (ENV, ROOT, compose_state, for_podman, helm_values, images, kustomize,  # noqa: F401
                         podman_socket, render, run)

GATEWAY_IMAGE = "localhost/openclaw-gateway-real:test"
# The release whose whole package install.sh installed (OPENCLAW_CLI_VERSIONS);
# the weekly workflow sets the newest.
VERSION = os.environ.get("OPENCLAW_GATEWAY_VERSION", "2026.9.6")
# Past this, a cell's gateway counts as never recovered: a little over the
# 300 s an unreleased lease of 9.6 stands (gateway-owner from another host,
# plugin lifecycle), so a wait for that expiry still shows as a figure. A
# usage refresh lock has no expiry (OpenClaw's only rule: its pid is dead,
# and pid 1 never is): two minutes show it.
BOUND_S = {"usage": 120}
DEFAULT_BOUND_S = 330
STATE = "/home/node/.openclaw"
FULL = os.environ.get("RECOVERY_MATRIX") == "full"
RESTARTS = ("in-place", "new-pod", "new-pod-pinned")
# helm-wrap: the chart's own render in its default mode (not a column of the
# tables, which are by mode), killed in an OAuth refresh.
CI_CELLS = [(m, r, "oauth") for m in ("init", "wrap", "helm-wrap") for r in ("in-place", "new-pod")] + [
    ("wrap", "new-pod", "start"), ("wrap", "in-place", "usage")]
ALL_CELLS = [(m, r, k) for k in ("oauth", "usage", "plugin", "start") for m in ("none", "init", "wrap", "watch")
             for r in RESTARTS] + [("helm-wrap", r, "oauth") for r in RESTARTS]


def cache():
    c = os.environ.get("OPENCLAW_REAL_CACHE")
    if not c:
        pytest.skip("OPENCLAW_REAL_CACHE is unset: tests/run.sh sets it after tests/openclaw/install.sh")
    c = pathlib.Path(c)
    cli = c / f"cli-{VERSION}"
    nodes = sorted(c.glob("node-*/bin/node"))
    assert (cli / ".installed").exists() and nodes, f"{c} lacks cli-{VERSION} or node-*: run tests/openclaw/install.sh"
    return cli, nodes[-1].parent.parent


@pytest.fixture(scope="session")
def gateway_image(tmp_path_factory):
    _, node = cache()
    ctx = tmp_path_factory.mktemp("gateway-build")
    root = ctx / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    # The libraries the dynamic loader maps for node, as this machine has them.
    ldd = subprocess.run(["ldd", str(node / "bin" / "node")], capture_output=True, text=True, check=True).stdout
    libs = [w for line in ldd.splitlines() for w in line.split() if w.startswith("/")]
    assert any("ld-linux" in lib for lib in libs), ldd
    for lib in libs:
        dest = root / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.realpath(lib), dest)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nnode:x:1000:\n")
    shutil.copy(pathlib.Path(__file__).parent / "gateway" / "Containerfile", ctx / "Containerfile")
    run("podman", "build", "--network=none", "-t", GATEWAY_IMAGE, "-f", ctx / "Containerfile", ctx)
    yield
    run("podman", "rmi", "-f", GATEWAY_IMAGE, check=False)


def manifests_for(mode, tmp_path):
    if mode == "helm-wrap":
        values = helm_values("on")
        values["lockSweeper"]["mode"] = "wrap"
        return render(values)
    if mode == "none":
        return (ROOT / "deploy/kubernetes/openclaw/openclaw.yaml").read_text()
    if mode == "watch":
        # The wrapper and the watch sidecar: an overlay of the shipped
        # components, as a user's would be.
        overlay = tmp_path / "overlay-watch"
        for d in ["openclaw", "lock-sweeper-wrap", "lock-sweeper-watch"]:
            shutil.copytree(ROOT / "deploy/kubernetes" / d, overlay / d)
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["openclaw"], "components": ["lock-sweeper-wrap", "lock-sweeper-watch"]}))
        return kustomize(overlay)
    return kustomize(ROOT / "deploy/kubernetes" / ("example" if mode == "init" else "example-wrap"))


def pod_yaml(manifests, pod, hostname, tools, tmp_path):
    """The rendered Deployment as podman plays it: the real gateway image
    with Node, OpenClaw and the kill point mounted; the sweeper's image;
    busybox's stand-in for the init-config container; `pod`'s own /tmp; the
    hostname given (a new pod gets a new one in Kubernetes, unless pinned)."""
    cli, node = cache()
    docs = [d for d in yaml.safe_load_all(manifests) if d and d["kind"] not in ("PersistentVolumeClaim", "Service")]
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        spec = d["spec"]["template"]["spec"]
        claim, _ = for_podman(spec, "OnFailure", GATEWAY_IMAGE)
        spec["hostname"] = hostname
        gateway = spec["containers"][0]
        assert gateway["name"] == "gateway"
        # The pod's emptyDir /tmp: Kubernetes makes it world-writable; podman
        # 4.3 makes it root's 0755, where OpenClaw (uid 1000) cannot keep its
        # tmp/openclaw-1000 and refuses to start. A directory of this pod's
        # own stands in for it: kept across a restart in place, new with a
        # new pod, as an emptyDir.
        tmp = tmp_path / f"tmp-{pod}"
        tmp.mkdir(exist_ok=True)
        tmp.chmod(0o1777)
        for v in spec["volumes"]:
            if "emptyDir" in v and v["name"] == "tmp-volume":
                del v["emptyDir"]
                v["hostPath"] = {"path": str(tmp), "type": "Directory"}
        # 9.6's SQLite worker keeps its temp dir under ~/.cache (it refused
        # /tmp/openclaw-1000 here, and outside podman too), which the read-only
        # root file system of this image has no room for: a writable one, per
        # pod like /tmp.
        cache_dir = tmp_path / f"cache-{pod}"
        cache_dir.mkdir(exist_ok=True)
        os.chown(cache_dir, 1000, 1000)
        spec["volumes"].append({"name": "home-cache", "hostPath": {"path": str(cache_dir), "type": "Directory"}})
        gateway["volumeMounts"].append({"name": "home-cache", "mountPath": "/home/node/.cache"})
        gateway.setdefault("env", []).append({"name": "NODE_OPTIONS", "value": "--import=/opt/tests/kill-point.mjs"})
        for name, path, mount in [("real-node", node, "/opt/node"), ("real-openclaw", cli, "/opt/openclaw"),
                                  ("real-tests", tools, "/opt/tests")]:
            spec["volumes"].append({"name": name, "hostPath": {"path": str(path), "type": "Directory"}})
            gateway["volumeMounts"].append({"name": name, "mountPath": mount, "readOnly": True})
    path = tmp_path / f"play-{pod}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path, claim


# A gateway container's name: POD-gateway in a pod, PROJECT-openclaw-gateway-1
# under compose v2.
GATEWAY_CONTAINER = re.compile(r"-gateway(-1)?$")


def gateway_name():
    """The gateway container of the one pod or compose project playing
    (podman names it POD-gateway, the pod's name differing between podman
    releases; compose v2 PROJECT-openclaw-gateway-1)."""
    names = run("podman", "ps", "--format", "{{.Names}}").stdout.split()
    found = [n for n in names if GATEWAY_CONTAINER.search(n)]
    return found[0] if len(found) == 1 else None


def in_gateway(*args, timeout=30):
    name = gateway_name()
    if name is None:
        return subprocess.CompletedProcess(args, 125, "", "no gateway container running")
    return subprocess.run(["podman", "exec", name, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


READYZ = ("fetch('http://127.0.0.1:18789/readyz', {signal: AbortSignal.timeout(2000)})"
          ".then(async (r) => console.log(await r.text()), () => console.log('null'))")


def ready_body():
    try:
        out = in_gateway("node", "-e", READYZ).stdout.strip().splitlines()
        return json.loads(out[-1]) if out else None
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return None


def can_refresh(target):
    """OpenClaw's own acquire of the OAuth refresh lock, from a process of
    the gateway's container (so pid 1 there is the running gateway), with
    OpenClaw's stale rule and a retry budget under a second."""
    try:
        r = in_gateway("node", "/opt/tests/acquire.mjs", "/opt/openclaw", target, timeout=60)
        return json.loads(r.stdout.strip().splitlines()[-1]).get("ok") is True
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError):
        return False


def can_refresh_usage():
    """OpenClaw's own acquire of agent main's usage refresh lock (released
    at once), from a process of the gateway's container."""
    try:
        r = in_gateway("env", "RELEASE=1", "node", "/opt/tests/rows.mjs", "/opt/openclaw", "usage", timeout=60)
        return json.loads(r.stdout.strip().splitlines()[-1])["usage"]["acquired"] is True
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError, KeyError):
        return False


PLUGIN_LEASE_FREE = """
import { loadDistFunction } from "/opt/tests/lockapi.mjs";
const { fn } = await loadDistFunction("/opt/openclaw", "withPluginLifecycleLease");
try { await fn({ waitMs: 0 }, async () => {}); console.log("free"); }
catch (err) { console.log(/ is held by /.test(String(err?.message)) ? "held" : "error"); }
process.exit(0);
"""


def plugin_lease():
    """Whether a plugin operation could take the lifecycle lease now
    (OpenClaw's own withPluginLifecycleLease, not waiting): held, free, or
    error (it failed for another reason)."""
    r = in_gateway("node", "--input-type=module", "-e", PLUGIN_LEASE_FREE, timeout=60)
    return (r.stdout.strip().splitlines() or ["unknown"])[-1]


def wait_recovered(since, target, bound, usage=False):
    """Seconds from `since` to a gateway that is ready and whose OAuth lock
    (with `usage`, its usage refresh lock too) can be taken; None past
    `bound`."""
    body = None
    while time.monotonic() - since < bound:
        body = ready_body()
        if (isinstance(body, dict) and body.get("ready") is True and (target is None or can_refresh(target))
                and (not usage or can_refresh_usage())):
            return round(time.monotonic() - since, 1)
        time.sleep(0.5)
    return None


def gateway_pid():
    return int(run("podman", "inspect", "--format", "{{.State.Pid}}", gateway_name()).stdout)


def held_in_gateway(point, bound=180):
    """What the gateway says it holds at `point` (kill-point.mjs,
    plugin-lease.mjs), read in its container; None past `bound` (a start
    to kill comes after a restart)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        r = in_gateway("cat", f"/tmp/kill-point-{point}.held")
        if r.returncode == 0 and r.stdout.endswith("\n"):
            return json.loads(r.stdout)
        time.sleep(0.2)
    return None


def tools_dir(tmp_path):
    """What the gateway's container gets at /opt/tests: OpenClaw's lock API
    as the tests call it, and the kill points."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for f in ["lockapi.mjs", "acquire.mjs", "rows.mjs"]:
        shutil.copy(ROOT / "tests/openclaw" / f, tools / f)
    for f in ["kill-point.mjs", "plugin-lease.mjs"]:
        shutil.copy(pathlib.Path(__file__).parent / "gateway" / f, tools)
    return tools


def recovery(mode, restart, kill, tmp_path):
    """Plays the mode's pod, kills its gateway at `kill`, restarts it as
    `restart` says; returns (first start s, recovery s or None, what the
    gateway held when killed)."""
    cli, _ = cache()
    tools = tools_dir(tmp_path)
    manifests = manifests_for(mode, tmp_path)
    first, claim = pod_yaml(manifests, "a", "openclaw-a", tools, tmp_path)
    # A new pod: a new /tmp, and a new hostname unless it is pinned.
    second = first if restart == "in-place" else pod_yaml(
        manifests, "b", "openclaw-a" if restart == "new-pod-pinned" else "openclaw-b", tools, tmp_path)[0]
    run("podman", "kube", "play", "--down", first, check=False)
    run("podman", "volume", "rm", "-f", claim, check=False)
    run("podman", "volume", "create", claim)
    # A PVC with the pod's fsGroup (1000) is the gateway's to write.
    volume = pathlib.Path(run("podman", "volume", "inspect", "--format", "{{.Mountpoint}}", claim).stdout.strip())
    os.chown(volume, 1000, 1000)
    try:
        started = time.monotonic()
        run("podman", "kube", "play", "--network", "none", first)
        first_s = wait_recovered(started, None, 180)
        assert first_s is not None, f"the real gateway never got ready:\n{logs()}"
        if kill == "plugin":
            # Beside the gateway, in its container, as `openclaw plugins
            # install` run there holds it: killed with the container's pid 1.
            run("podman", "exec", "-d", gateway_name(), "node", "/opt/tests/plugin-lease.mjs")
        else:
            # In the pod's /tmp, which a restart in place keeps.
            in_gateway("touch", f"/tmp/kill-point-{kill}")
        if kill == "start":
            # A start to kill: the running gateway is killed first (leaving
            # its own lease) and restarted in place by the runtime.
            os.kill(gateway_pid(), signal.SIGKILL)
        held = held_in_gateway(kill)
        assert held and held["ok"] and (held["pid"] == 1 or kill == "plugin"), \
            f"the gateway (pid 1) reached kill point {kill}: {held}\n{logs()}"
        if kill == "start":
            body = ready_body()
            assert not (isinstance(body, dict) and body.get("ready") is True), f"killed in its start, not ready: {body}"
        os.kill(gateway_pid(), signal.SIGKILL)
        killed = time.monotonic()
        if restart != "in-place":
            # The pod is gone (a node lost, a rollout): its containers and
            # /tmp with it, the volume stays; the new pod is played anew.
            run("podman", "kube", "play", "--down", first)
            run("podman", "kube", "play", "--network", "none", second)
        ready_s = wait_recovered(killed, held["target"], BOUND_S.get(kill, DEFAULT_BOUND_S), usage=kill == "usage")
        if kill == "plugin":
            held["lease_after"] = plugin_lease()
        return first_s, ready_s, held
    finally:
        run("podman", "kube", "play", "--down", second, check=False)
        run("podman", "volume", "rm", "-f", claim, check=False)


def logs():
    names = run("podman", "ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    gateways = [line.split()[0] for line in names.splitlines() if GATEWAY_CONTAINER.search(line.split()[0])]
    out = [names]
    for name in gateways:
        r = run("podman", "logs", "--tail", "40", name, check=False)
        out.append(f"--- {name}\n{r.stdout}{r.stderr}")
    return "\n".join(out)


def print_recovery(mode, restart, kill, ready_s, first_s, extra=""):
    """The cell's line, as bench/recovery.sh reads it."""
    print(f"\nRECOVERY mode={mode} restart={restart} kill={kill} ready_s={ready_s if ready_s is not None else 'never'}"
          f" first_start_s={first_s} version={VERSION}{extra}")


@pytest.mark.parametrize("mode,restart,kill", ALL_CELLS if FULL else CI_CELLS)
def test_the_real_gateway_recovers_from_a_kill(images, gateway_image, tmp_path, mode, restart, kill):
    first_s, ready_s, held = recovery(mode, restart, kill, tmp_path)
    extra = f" plugin_lease_after={held['lease_after']}" if "lease_after" in held else ""
    print_recovery(mode, restart, kill, ready_s, first_s, extra)
    if mode in ("wrap", "watch", "helm-wrap") or (mode == "init" and restart != "in-place"):
        # The sweep runs before this start: ready and refreshing within the
        # gateway's own start plus one sweep (the runtime's restart and
        # podman's play come on top; a minute covers them here).
        assert ready_s is not None and ready_s <= first_s + 60, (first_s, ready_s, held)


@pytest.mark.parametrize("restart", ["in-place", "new-container"])
def test_the_real_gateway_under_compose_recovers_from_a_kill(images, gateway_image, tmp_path, podman_socket, restart):
    """deploy/compose with docker-compose.wrap.yml, under Compose v2: the real
    gateway (under the file's `init: true`, the init's child, not pid 1),
    killed in an OAuth refresh as the OOM killer would kill it, then
    restarted by the file's own `restart: unless-stopped` (in place: same
    container, hostname and /tmp) or recreated (`up --force-recreate`: a new
    container, hostname and /tmp)."""
    cli, node = cache()
    state, env = compose_state(tmp_path, podman_socket)
    (state / "openclaw.json").write_text('{"gateway": {"mode": "local", "bind": "lan", "port": 18789}}\n')
    for p in [state, state / "workspace", state / "openclaw.json"]:
        os.chown(p, 1000, 1000)
    env.update(REAL_NODE=str(node), REAL_OPENCLAW=str(cli), REAL_TESTS=str(tools_dir(tmp_path)))
    compose = os.environ["COMPOSE_V2_BIN"]
    files = ["-p", f"ocreal{restart.replace('-', '')}", "-f", ROOT / "deploy/compose/docker-compose.yml",
             "-f", ROOT / "deploy/compose/docker-compose.wrap.yml",
             "-f", pathlib.Path(__file__).parent / "gateway" / "compose.real.yml"]
    try:
        started = time.monotonic()
        run(compose, *files, "up", "-d", env=env, timeout=300)
        first_s = wait_recovered(started, None, 180)
        assert first_s is not None, f"the real gateway never got ready:\n{logs()}"
        in_gateway("touch", "/tmp/kill-point-oauth")
        held = held_in_gateway("oauth", 60)
        assert held and held["ok"] and held["pid"] != 1, f"the gateway, the init's child, took its OAuth lock: {held}"
        # The gateway itself, as the OOM killer picks it: the init's child.
        init = gateway_pid()
        (child,) = pathlib.Path(f"/proc/{init}/task/{init}/children").read_text().split()
        os.kill(int(child), signal.SIGKILL)
        killed = time.monotonic()
        if restart == "new-container":
            run(compose, *files, "up", "-d", "--force-recreate", "--no-deps", "openclaw-gateway", env=env, timeout=300)
        ready_s = wait_recovered(killed, held["target"], DEFAULT_BOUND_S)
        print_recovery("compose-wrap", restart, "oauth", ready_s, first_s)
        assert ready_s is not None and ready_s <= first_s + 60, (first_s, ready_s, held)
    finally:
        run(compose, *files, "down", "-v", env=env, check=False, timeout=300)
