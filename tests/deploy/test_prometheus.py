"""The fleet view (issue 33), tested with the real thing: Debian's Prometheus
server and promtool (tests/deploy/run.sh installs the `prometheus` package).

- promtool: the rules check and their unit tests (deploy/prometheus/), and a
  real scrape of the watch sidecar passes `promtool check metrics`;
- a Prometheus server on 127.0.0.1 scrapes a watch sidecar on 127.0.0.1 with
  deploy/prometheus/alerts.yml loaded, and its HTTP API shows: `up` is 1, what
  the sidecar removed, a lock added later counted, a dead profile written by
  OpenClaw's own markAuthProfileFailure making OpenClawAuthProfileNeedsLogin
  pending, a lock of an unprovable holder OpenClawLockKeptUnproven, failing
  passes OpenClawLockSweeperErrors, and a killed sidecar
  OpenClawLockSweeperDown; every query of the Grafana dashboard and every
  alert expression evaluates without error, with data where the scene has
  some;
- the Helm chart renders the sidecar's port, a Service, the ServiceMonitor
  and a PrometheusRule whose groups are alerts.yml's (a link, packaged as the
  file itself), the kustomize component and the compose override add the
  same, and the community README says how.

Env: SWEEPER_STATIC_BIN, the binary to run (tests/deploy/run.sh builds it);
OPENCLAW_REAL_CACHE, the OpenClaw releases of tests/openclaw/install.sh
(target/openclaw-real unless set; installed here when missing).
"""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request

import helm_python
import pytest
import yaml
from helm_python import HelmValuesError
from test_deploy import ENV, OLD, ROOT, TOKEN, kustomize, notes, render, run, validate

PROMETHEUS_DIR = ROOT / "deploy/prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
DASHBOARD = ROOT / "deploy/grafana/openclaw-lock-sweeper.json"
CHART = ROOT / "deploy/helm/openclaw-lock-sweeper"
DEAD = "openai-codex:dead@example.com"
JOB = "openclaw-lock-sweeper"
METRICS_ON = {"lockSweeper": {"watch": {"enabled": True}, "metrics": {
    "enabled": True,
    "serviceMonitor": {"enabled": True, "labels": {"release": "kps"}, "interval": "15s"},
    "prometheusRule": {"enabled": True, "labels": {"release": "kps"}}}}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_for(what, check, timeout=60):
    """Polls `check` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, urllib.error.URLError) as e:
            last = e
        time.sleep(0.25)
    raise AssertionError(f"never {what}: last {last!r}")


def lock(path, pid=1, created=OLD):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{{\n  "pid": {pid},\n  "createdAt": "{created}",\n  "starttime": 4242\n}}\n{TOKEN}\n')


# === promtool on the rules ===


def test_promtool_checks_the_rules_and_runs_their_unit_tests():
    r = run("promtool", "check", "rules", ALERTS)
    assert "SUCCESS: 4 rules found" in r.stdout, r.stdout
    r = run("promtool", "test", "rules", "alerts.test.yml", cwd=PROMETHEUS_DIR)
    assert "SUCCESS" in r.stdout, r.stdout + r.stderr
    names = [rule["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for rule in g["rules"]]
    assert names == ["OpenClawAuthProfileNeedsLogin", "OpenClawLockSweeperDown", "OpenClawLockSweeperErrors",
                     "OpenClawLockKeptUnproven"]
    tested = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())
    fired = {t["alertname"] for case in tested["tests"] for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert fired == set(names), f"every alert has a unit test where it fires: {fired}"
    for g in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in g["rules"]:
            assert rule["annotations"]["summary"] and len(rule["annotations"]["description"]) > 200, rule["alert"]


# === The watch sidecar, scraped by a real Prometheus ===


@pytest.fixture(scope="module")
def openclaw_node():
    """Node and the OpenClaw release whose markAuthProfileFailure marks the
    dead profile (tests/openclaw/profiles.mjs), installed where missing."""
    cache = pathlib.Path(os.environ.get("OPENCLAW_REAL_CACHE", ROOT / "target/openclaw-real"))
    versions = dict(re.findall(r'^(OPENCLAW_\w+)="([^"]*)"', (ROOT / "tests/openclaw/versions.sh").read_text(), re.M))
    node = cache / f"node-{versions['OPENCLAW_NODE_VERSION']}" / "bin/node"
    release = cache / versions["OPENCLAW_VERSIONS"].split()[-1]
    if not (node.exists() and (release / ".installed").exists()):
        env = dict(ENV, OPENCLAW_REAL_CACHE=str(cache))
        run("bash", ROOT / "tests/openclaw/install.sh", env=env, timeout=900)
    return node, release


def mark_dead(state, openclaw_node):
    node, release = openclaw_node
    env = {"PATH": os.environ["PATH"], "OPENCLAW_STATE_DIR": str(state), "HOME": str(state)}
    r = run(node, ROOT / "tests/openclaw/profiles.mjs", release, "store", f"{DEAD}:auth_permanent", env=env, timeout=120)
    assert json.loads(r.stdout.strip().splitlines()[-1])["profiles"] == [DEAD]


class Sidecar:
    def __init__(self, state, interval="1s"):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [os.environ["SWEEPER_STATIC_BIN"], "--state-dir", state, "--watch", interval, "--min-age", "3s",
             "--metrics-listen", f"127.0.0.1:{self.port}"],
            env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def scrape(self):
        return wait_for("a scrape", lambda: get(f"http://127.0.0.1:{self.port}/metrics"), timeout=10)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=10)
        return code, self.proc.stderr.read()


class Prometheus:
    """The Debian server, run directly (no systemd), on loopback only, with
    a data dir of its own; stopped by its pid."""

    def __init__(self, tmp, target):
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        }
        tmp.mkdir()
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(tmp / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("Prometheus ready", lambda: "Ready" in get(self.url("/-/ready")), timeout=60)

    def url(self, path, **params):
        return f"http://127.0.0.1:{self.port}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")

    def api(self, path, **params):
        answer = json.loads(get(self.url(f"/api/v1/{path}", **params)))
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr):
        """An instant query: {labels as a tuple of items: value}."""
        data = self.api("query", query=expr)
        return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in data["result"]}

    def value(self, expr):
        found = self.query(expr)
        return next(iter(found.values())) if len(found) == 1 else None

    def alerts(self, name):
        return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def dashboard_queries():
    """Every panel's queries, with what Grafana would put for its variables:
    all sidecars, and a rate window of the test's few seconds."""
    dash = json.loads(DASHBOARD.read_text())
    for panel in dash["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "15s").replace('"$instance"', '".*"')
            assert "$" not in expr, f"{panel['title']}: a variable the test does not fill: {expr}"
            yield panel, expr


def test_a_real_prometheus_scrapes_the_sidecar_and_evaluates_the_alerts_and_dashboard(tmp_path, openclaw_node):
    state = tmp_path / "state"
    lock(state / "locks/oauth-refresh/lock-a.lock")
    lock(state / "agents/main/agent/auth-profiles.json.lock")
    # A holder the sweeper cannot prove dead, kept at every pass.
    lock(state / "locks/provider-auth-persistence/lock-b.lock", pid=4242)
    mark_dead(state, openclaw_node)
    sidecar = Sidecar(state)
    prometheus = None
    try:
        body = wait_for("a first pass", lambda: (b := sidecar.scrape()) and 'outcome="ok"} 0' not in b and b)
        # The exposition as Prometheus' own linter reads it.
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
        assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
        assert DEAD not in body and "example.com" not in body and str(state) not in body, body
        assert 'openclaw_lock_sweeper_auth_profiles_needing_login{provider="openai-codex"} 1\n' in body, body

        prometheus = Prometheus(tmp_path / "prom", f"127.0.0.1:{sidecar.port}")
        wait_for("up is 1", lambda: prometheus.value(f'up{{job="{JOB}"}}') == 1)
        rules = wait_for("the rules evaluated", lambda: (g := prometheus.api("rules")["groups"])
                         and all(r["health"] == "ok" for r in g[0]["rules"]) and g)
        assert [r["name"] for r in rules[0]["rules"]] == [
            "OpenClawAuthProfileNeedsLogin", "OpenClawLockSweeperDown", "OpenClawLockSweeperErrors",
            "OpenClawLockKeptUnproven"]
        assert prometheus.value('openclaw_lock_sweeper_removed_total{kind="lock"}') == 2
        assert prometheus.value('openclaw_lock_sweeper_kept{reason="other-holder"}') == 1

        # A lock that turns up later is counted.
        lock(state / "locks/oauth-refresh/lock-c.lock")
        wait_for("the later lock counted",
                 lambda: prometheus.value('openclaw_lock_sweeper_removed_total{kind="lock"}') == 3)

        # OpenClaw's dead profile: pending (the rule waits 1 minute to fire),
        # with the command in its description; the unprovable holder too.
        (alert,) = wait_for("OpenClawAuthProfileNeedsLogin pending",
                            lambda: prometheus.alerts("OpenClawAuthProfileNeedsLogin"))
        assert alert["state"] == "pending" and alert["labels"]["provider"] == "openai-codex", alert
        assert "openclaw models auth login --provider openai-codex" in alert["annotations"]["description"], alert
        assert DEAD not in json.dumps(alert)
        (alert,) = wait_for("OpenClawLockKeptUnproven pending", lambda: prometheus.alerts("OpenClawLockKeptUnproven"))
        assert alert["state"] == "pending" and alert["labels"]["reason"] == "other-holder", alert
        assert prometheus.alerts("OpenClawLockSweeperDown") == []
        assert prometheus.alerts("OpenClawLockSweeperErrors") == []

        # Every dashboard query evaluates, each with data in this scene; the
        # time series panels over a range too. Its variable's values exist.
        for panel, expr in dashboard_queries():
            assert wait_for(f"data for {panel['title']!r}: {expr}", lambda: prometheus.query(expr), timeout=20)
            if panel["type"] == "timeseries":
                now = time.time()
                data = prometheus.api("query_range", query=expr, start=now - 60, end=now, step="1s")
                assert data["result"], f"{panel['title']}: {expr}"
        instances = prometheus.api("label/instance/values", **{"match[]": "openclaw_lock_sweeper_build_info"})
        assert instances == [f"127.0.0.1:{sidecar.port}"]

        # Every alert expression evaluates as a query, too.
        for g in yaml.safe_load(ALERTS.read_text())["groups"]:
            for rule in g["rules"]:
                prometheus.api("query", query=rule["expr"])

        # Failing passes: the state dir is a file for a while.
        (tmp_path / "state-aside").mkdir()
        state.rename(tmp_path / "state-aside/state")
        state.write_text("not a directory\n")
        (alert,) = wait_for("OpenClawLockSweeperErrors pending", lambda: prometheus.alerts("OpenClawLockSweeperErrors"))
        assert alert["state"] == "pending", alert
        assert prometheus.value("openclaw_lock_sweeper_last_sweep_errors") == 1
        state.unlink()
        (tmp_path / "state-aside/state").rename(state)
        wait_for("a pass without error again", lambda: prometheus.value("openclaw_lock_sweeper_last_sweep_errors") == 0)

        # A killed sidecar: down.
        code, log = sidecar.stop(signal.SIGKILL)
        assert code == -signal.SIGKILL
        wait_for("up is 0", lambda: prometheus.value(f'up{{job="{JOB}"}}') == 0)
        (alert,) = wait_for("OpenClawLockSweeperDown pending", lambda: prometheus.alerts("OpenClawLockSweeperDown"))
        assert alert["state"] == "pending" and alert["labels"]["instance"] == f"127.0.0.1:{sidecar.port}", alert
    finally:
        if sidecar.proc.poll() is None:
            code, log = sidecar.stop()
            assert code == 0, log
        if prometheus:
            prometheus.stop()


# === Helm ===


def docs_of(manifests, kind):
    return [d for d in yaml.safe_load_all(manifests) if d and d["kind"] == kind]


def watch_sidecar(manifests):
    (dep,) = docs_of(manifests, "Deployment")
    (c,) = [c for c in dep["spec"]["template"]["spec"]["initContainers"] if c["name"] == "lock-sweeper-watch"]
    return c


def test_helm_metrics_add_the_port_a_service_a_servicemonitor_and_the_rules(tmp_path):
    manifests = render(METRICS_ON)
    validate("\n---\n".join(yaml.safe_dump(d) for d in yaml.safe_load_all(manifests)
                           if d and d["apiVersion"] != "monitoring.coreos.com/v1"), tmp_path)
    c = watch_sidecar(manifests)
    assert c["args"][:6] == ["--watch", "30s", "--min-age", "3m", "--metrics-listen", "0.0.0.0:9477"], c["args"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9477, "protocol": "TCP"}]
    services = {s["metadata"]["name"]: s for s in docs_of(manifests, "Service")}
    svc = services["openclaw-lock-sweeper-metrics"]
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9477, "targetPort": 9477, "protocol": "TCP"}]
    (dep,) = docs_of(manifests, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert "metrics" not in [p["name"] for p in services["openclaw"]["spec"]["ports"]], "the gateway's Service stays as it was"
    (sm,) = docs_of(manifests, "ServiceMonitor")
    assert sm["metadata"]["namespace"] == "default" and sm["metadata"]["labels"]["release"] == "kps"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert not sm["spec"]["selector"]["matchLabels"].items() <= services["openclaw"]["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s",
                                        "scrapeTimeout": "10s", "honorLabels": False}]
    assert "lock-sweeper" in svc["metadata"]["name"], "the job label, a Service's name, is what the Down alert selects"
    (rule,) = docs_of(manifests, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text()), "the PrometheusRule's groups are alerts.yml's"
    text = notes(METRICS_ON)
    assert "Service openclaw-lock-sweeper-metrics" in text and "PrometheusRule" in text, text


def test_helm_metrics_are_off_by_default_and_need_the_watch():
    manifests = render({"lockSweeper": {"watch": {"enabled": True}}})
    assert "--metrics-listen" not in manifests and "ports" not in watch_sidecar(manifests)
    assert not docs_of(manifests, "ServiceMonitor") and not docs_of(manifests, "PrometheusRule")
    assert [s["metadata"]["name"] for s in docs_of(manifests, "Service")] == ["openclaw"]
    with pytest.raises(Exception, match="lockSweeper.metrics.enabled needs lockSweeper.watch.enabled"):
        render({"lockSweeper": {"metrics": {"enabled": True}}})
    # No sweeper, no metrics either, whatever they say.
    off = render({"lockSweeper": {"enabled": False, "watch": {"enabled": True}, "metrics": METRICS_ON["lockSweeper"]["metrics"]}})
    assert "--metrics-listen" not in off and [d["kind"] for d in yaml.safe_load_all(off) if d] == [
        "PersistentVolumeClaim", "ConfigMap", "Service", "Deployment"], off
    # The flag and its variable would fail the one-shot sweeps: the chart sets them.
    for values in [{"args": ["--metrics-listen", "0.0.0.0:1"]}, {"extraArgs": ["--metrics-listen", "0.0.0.0:1"]},
                   {"env": [{"name": "LOCK_SWEEPER_METRICS_LISTEN", "value": "0.0.0.0:1"}]}, {"metrics": {"port": 80}}]:
        with pytest.raises(HelmValuesError):
            render({"lockSweeper": {"watch": {"enabled": True}, **values}})


def test_helm_rules_are_alerts_yml_itself_and_are_packaged():
    link = CHART / "files/alerts.yml"
    assert link.is_symlink() and link.resolve() == ALERTS.resolve(), "a link, not a copy that can drift"
    out = pathlib.Path(run("mktemp", "-d").stdout.strip())
    tgz = pathlib.Path(helm_python.package(str(CHART), destination=str(out)))
    with tarfile.open(tgz) as t:
        member = t.getmember("openclaw-lock-sweeper/files/alerts.yml")
        assert member.isfile() and t.extractfile(member).read() == ALERTS.read_bytes()
    with helm_python.Chart.load(tgz) as c:
        out_docs = c.render(METRICS_ON, name="openclaw", namespace="default")
    rendered = "\n---\n".join(v for k, v in out_docs.items() if not k.endswith("NOTES.txt"))
    (rule,) = docs_of(rendered, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())
    # Templates only (openclaw.enabled=false): the including chart's pod is
    # not known, so no Service; the rules still deploy.
    values = {"openclaw": {"enabled": False}, **METRICS_ON}
    assert [d["kind"] for d in yaml.safe_load_all(render(values)) if d] == ["PrometheusRule"]


# === kustomize and compose ===


def overlay(tmp_path, components):
    ov = tmp_path / "ov"
    ov.mkdir(parents=True)
    (ov / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [os.path.relpath(ROOT / "deploy/kubernetes/openclaw", ov)],
        "components": [os.path.relpath(ROOT / "deploy/kubernetes" / c, ov) for c in components]}))
    return ov


@pytest.mark.parametrize("mode", ["lock-sweeper", "lock-sweeper-wrap"])
def test_kustomize_metrics_component(mode, tmp_path):
    without = kustomize(overlay(tmp_path / "a", [mode, "lock-sweeper-watch"]))
    manifests = kustomize(overlay(tmp_path / "b", [mode, "lock-sweeper-watch", "lock-sweeper-metrics"]))
    validate(manifests, tmp_path)
    order = lambda m: [c["name"] for c in docs_of(m, "Deployment")[0]["spec"]["template"]["spec"]["initContainers"]]
    assert order(manifests) == order(without), "the sidecar stays last, after the steps it follows"
    c = watch_sidecar(manifests)
    assert {"name": "LOCK_SWEEPER_METRICS_LISTEN", "value": "0.0.0.0:9477"} in c["env"]
    assert c["ports"] == [{"containerPort": 9477, "name": "metrics"}]
    (svc,) = [s for s in docs_of(manifests, "Service") if s["metadata"]["name"] == "openclaw-lock-sweeper-metrics"]
    assert svc["metadata"]["annotations"]["prometheus.io/port"] == "9477" == str(svc["spec"]["ports"][0]["targetPort"])
    (dep,) = docs_of(manifests, "Deployment")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    # Everything else of the sidecar is the watch component's.
    before = watch_sidecar(without)
    assert {k: v for k, v in c.items() if k not in ("env", "ports")} == {k: v for k, v in before.items() if k != "env"}


@pytest.mark.parametrize("which", ["1.29", "v2"])
def test_compose_metrics_override(which, tmp_path):
    compose = "docker-compose" if which == "1.29" else os.environ["COMPOSE_V2_BIN"]
    env = {k: v for k, v in ENV.items() if not k.startswith(("OPENCLAW_", "LOCK_SWEEPER_"))}
    env.update(OPENCLAW_CONFIG_DIR=str(tmp_path), OPENCLAW_WORKSPACE_DIR=str(tmp_path))
    base = ["-f", ROOT / "deploy/compose/docker-compose.yml"]

    def watch(*files):
        r = run(compose, "--profile", "watch", *base, *files, "config", env=env, cwd=tmp_path)
        return yaml.safe_load(r.stdout)["services"]["openclaw-lock-sweeper-watch"]

    plain = watch()
    assert plain["network_mode"] == "none" and "ports" not in plain, "no network without the override"
    w = watch("-f", ROOT / "deploy/compose/docker-compose.metrics.yml")
    assert w["environment"]["LOCK_SWEEPER_METRICS_LISTEN"] == "0.0.0.0:9477"
    assert w["network_mode"] == "bridge"
    (port,) = w["ports"]
    published = port if isinstance(port, str) else f"{port['host_ip']}:{port['published']}:{port['target']}"
    assert published.split("/")[0] == "127.0.0.1:9477:9477", port
    assert w["command"] == plain["command"]


def test_community_readme_says_how():
    text = (ROOT / "deploy/community/README.md").read_text()
    section = text[text.index("## Metrics from the watch sidecar"):]
    assert "--metrics-listen" in section and "containerPort: 9477" in section
    m = re.search(r"<!-- snippet:metrics-podmonitor -->\n```yaml\n(.*?)```", section, re.S)
    pm = yaml.safe_load(m.group(1))
    assert pm["kind"] == "PodMonitor" and "lock-sweeper" in pm["metadata"]["name"], "the Down alert's job selector"
    assert pm["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics"}]
