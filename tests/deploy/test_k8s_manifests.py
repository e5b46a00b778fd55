"""The Kubernetes manifests, as `kubectl apply -k` would see them, keep their promises.

deploy/k8s/render.sh renders every overlay alone and with the optional components;
.ci/k8s.sh also validates those renders against the Kubernetes schemas and runs checkov on
them. These tests assert what neither checks: probes that differ, hardened non-root pods
with limits, a PodDisruptionBudget for every replicated workload, NetworkPolicies over
every pod, no floating image tag, commands and settings that modelyard has, and generated
copies that match their sources. Skipped where kubectl is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modelyard.cli import app
from modelyard.config import Settings
from support import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob"}
LONG_RUNNING = {"Deployment", "StatefulSet"}
# created by the operator before the first apply in prod (overlays/prod/kustomization.yaml)
EXTERNAL_SECRETS = {"modelyard-secrets", "mlflow-secrets"}
WORKER_LAG_METRIC = "modelyard_worker_queue_lag_seconds"

Object = dict[str, Any]


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Object]]:
    out = tmp_path_factory.mktemp("k8s")
    subprocess.run(["bash", str(K8S / "render.sh"), str(out)], check=True, capture_output=True)
    rendered = {
        path.stem: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for path in sorted(out.glob("*.yaml"))
    }
    assert {"dev", "prod"} <= rendered.keys()
    return rendered


def variants() -> list[str]:
    script = (K8S / "render.sh").read_text()
    block = script[script.index("variants=(") : script.index(")", script.index("variants=("))]
    return block.split()[1:]


def of_kind(objects: list[Object], *kinds: str) -> list[Object]:
    return [obj for obj in objects if obj["kind"] in kinds]


def base_name(obj: Object) -> str:
    """The name without the content hash kustomize appends to generated ConfigMaps, Secrets."""
    name: str = obj["metadata"]["name"]
    if obj["kind"] in {"ConfigMap", "Secret"}:
        return re.sub(r"-[a-z0-9]{10}$", "", name)
    return name


def named(objects: list[Object], kind: str, name: str) -> Object:
    found = [o for o in of_kind(objects, kind) if base_name(o) == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_template(obj: Object) -> Object:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]  # type: ignore[no-any-return]


def containers(obj: Object) -> Iterator[Object]:
    spec = pod_template(obj)["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def selects(selector: Object, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against a pod's labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        ok = {
            "In": present and value in expr.get("values", []),
            "NotIn": not present or value not in expr.get("values", []),
            "Exists": present,
            "DoesNotExist": not present,
        }[expr["operator"]]
        if not ok:
            return False
    return True


def workloads(objects: list[Object]) -> list[Object]:
    return of_kind(objects, *WORKLOADS)


def label(obj: Object) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.fixture(params=variants())
def objects(request: pytest.FixtureRequest, renders: dict[str, list[Object]]) -> list[Object]:
    return renders[request.param]


def test_generated_copies_match_their_sources() -> None:
    done = subprocess.run(
        [sys.executable, str(K8S / "generate.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_prometheus_rule_carries_every_alert_rule() -> None:
    rule = yaml.safe_load((K8S / "components" / "monitoring" / "prometheusrule.yaml").read_text())
    source = yaml.safe_load((REPO_ROOT / "deploy/prometheus/rules/modelyard.yml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == source["groups"]


@needs_kubectl
def test_every_pod_is_hardened_and_non_root(objects: list[Object]) -> None:
    accounts = {o["metadata"]["name"]: o for o in of_kind(objects, "ServiceAccount")}
    for obj in workloads(objects):
        spec = pod_template(obj)["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, label(obj)
        assert pod["runAsUser"] > 0, label(obj)
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", label(obj)
        assert spec["automountServiceAccountToken"] is False, label(obj)
        account = spec["serviceAccountName"]
        assert account in accounts, f"{label(obj)}: no ServiceAccount {account}"
        assert accounts[account]["automountServiceAccountToken"] is False, account
        mounts: set[str] = set()
        for container in containers(obj):
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, label(obj)
            assert ctx["allowPrivilegeEscalation"] is False, label(obj)
            assert ctx.get("privileged", False) is False, label(obj)
            assert ctx["capabilities"]["drop"] == ["ALL"], label(obj)
            assert "add" not in ctx["capabilities"], label(obj)
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][kind].keys(), label(obj)
            mounts |= {m["mountPath"] for m in container.get("volumeMounts", [])}
        # a read-only root: whatever writes has a volume of its own
        assert "/tmp" in mounts, label(obj)


@needs_kubectl
def test_long_running_workloads_have_their_own_service_account(objects: list[Object]) -> None:
    accounts = [
        pod_template(o)["spec"]["serviceAccountName"] for o in of_kind(objects, *LONG_RUNNING)
    ]
    assert len(accounts) == len(set(accounts)), accounts


@needs_kubectl
def test_modelyard_containers_can_write_their_home(objects: list[Object]) -> None:
    config = named(objects, "ConfigMap", "modelyard-config")["data"]
    for obj in workloads(objects):
        for container in containers(obj):
            if (
                "modelyard-app" not in container["image"]
                and "modelyard-serve" not in container["image"]
            ):
                continue
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert config["MODELYARD_HOME"] in mounts, label(obj)
            volumes = {v["name"]: v for v in pod_template(obj)["spec"]["volumes"]}
            assert "emptyDir" in volumes[mounts[config["MODELYARD_HOME"]]], label(obj)


@needs_kubectl
def test_probes_differ_where_it_matters(objects: list[Object]) -> None:
    for obj in of_kind(objects, *LONG_RUNNING):
        for container in containers(obj):
            ready, live = container["readinessProbe"], container["livenessProbe"]
            assert ready != live, f"{label(obj)}: readiness and liveness are the same probe"
    api = next(containers(named(objects, "Deployment", "api")))
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    # model loading: the startup probe waits for /ready, minutes before liveness takes over
    startup = api["startupProbe"]
    assert startup["httpGet"]["path"] == "/ready"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


@needs_kubectl
def test_replicated_workloads_have_a_disruption_budget(objects: list[Object]) -> None:
    minimum = {
        o["metadata"]["name"]: o["spec"].get("replicas", 1) for o in of_kind(objects, *LONG_RUNNING)
    }
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        name = hpa["spec"]["scaleTargetRef"]["name"]
        minimum[name] = max(minimum[name], hpa["spec"].get("minReplicas", 1))
    for scaled in of_kind(objects, "ScaledObject"):
        name = scaled["spec"]["scaleTargetRef"]["name"]
        minimum[name] = max(minimum[name], scaled["spec"].get("minReplicaCount", 0))
    budgets = of_kind(objects, "PodDisruptionBudget")
    for obj in of_kind(objects, *LONG_RUNNING):
        if minimum[obj["metadata"]["name"]] < 2:
            continue
        labels = pod_template(obj)["metadata"]["labels"]
        assert any(selects(b["spec"]["selector"], labels) for b in budgets), label(obj)
    assert minimum["worker"] >= 2, "the worker runs two replicas at least (SKIP LOCKED)"
    hpa = named(objects, "HorizontalPodAutoscaler", "api")
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


@needs_kubectl
def test_network_policies_cover_every_pod(objects: list[Object]) -> None:
    policies = of_kind(objects, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
    assert deny, "no default-deny ingress policy"
    for obj in workloads(objects):
        labels = pod_template(obj)["metadata"]["labels"]
        ports = {p["containerPort"] for c in containers(obj) for p in c.get("ports", [])}
        allowed = {
            port["port"]
            for policy in policies
            if policy["spec"]["podSelector"] and selects(policy["spec"]["podSelector"], labels)
            for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        }
        # every port a pod listens on is opened by a policy of its own, and nothing else
        assert ports == allowed, f"{label(obj)}: listens on {ports}, policies open {allowed}"


@needs_kubectl
def test_only_api_and_ui_are_reachable_from_the_ingress(objects: list[Object]) -> None:
    backends = {
        path["backend"]["service"]["name"]
        for ingress in of_kind(objects, "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"api", "ui"}
    from_ingress = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                names = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if names.get("kubernetes.io/metadata.name") == "ingress-nginx":
                    from_ingress.add(
                        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                    )
    assert from_ingress == {"api", "ui"}
    for name in ("mlflow", "postgres"):
        for policy in of_kind(objects, "NetworkPolicy"):
            if policy["metadata"]["name"] != name:
                continue
            peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
            # only the stack's own pods, from its own namespace
            assert peers == [
                {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "modelyard"}}}
            ]


@needs_kubectl
def test_services_reach_ports_their_pods_have(objects: list[Object]) -> None:
    pods = [
        (
            pod_template(o)["metadata"]["labels"],
            {p["name"] for c in containers(o) for p in c.get("ports", [])},
        )
        for o in of_kind(objects, *LONG_RUNNING)
    ]
    for service in of_kind(objects, "Service"):
        matching = [
            names
            for labels, names in pods
            if selects({"matchLabels": service["spec"]["selector"]}, labels)
        ]
        assert matching, f"Service/{service['metadata']['name']} selects no pod"
        for port in service["spec"]["ports"]:
            assert all(port["targetPort"] in names for names in matching), service["metadata"][
                "name"
            ]


@needs_kubectl
def test_images_are_pinned(objects: list[Object]) -> None:
    for obj in workloads(objects):
        for container in containers(obj):
            image = container["image"]
            name, _, tag = image.partition("@")[0].rpartition(":")
            assert "@sha256:" in image or (name and tag and tag != "latest"), (
                f"{label(obj)}: {image}"
            )


@needs_kubectl
def test_commands_and_settings_are_modelyards(objects: list[Object]) -> None:
    commands = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    commands |= {g.name for g in app.registered_groups if g.name}
    for obj in workloads(objects):
        for container in containers(obj):
            if "modelyard-app" in container["image"] or "modelyard-serve" in container["image"]:
                assert container["args"][0] in commands, f"{label(obj)}: {container['args']}"
    known = {f"MODELYARD_{name.upper()}" for name in Settings.model_fields} | {
        "MLFLOW_TRACKING_URI"
    }
    config = named(objects, "ConfigMap", "modelyard-config")["data"]
    assert set(config) <= known, set(config) - known
    jobs = {label(o): next(containers(o)).get("args") for o in workloads(objects)}
    assert jobs["Job/train"] == ["train", "--if-no-champion"]
    assert jobs["Job/migrate"] == ["db", "upgrade"]
    assert jobs["CronJob/retrain"] == ["retrain", "--scheduled"]
    assert jobs["CronJob/score"] == ["score", "--input", "database"]


@needs_kubectl
def test_every_referenced_config_exists(
    objects: list[Object], request: pytest.FixtureRequest
) -> None:
    present = {(o["kind"], o["metadata"]["name"]) for o in of_kind(objects, "ConfigMap", "Secret")}
    external = (
        EXTERNAL_SECRETS if request.node.callspec.params["objects"].startswith("prod") else set()
    )
    for obj in workloads(objects):
        for container in containers(obj):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in present, label(obj)
                else:
                    name = source["secretRef"]["name"]
                    assert ("Secret", name) in present or name in external, label(obj)


@needs_kubectl
def test_dev_runs_its_database_and_prod_keeps_no_state(renders: dict[str, list[Object]]) -> None:
    dev, prod = renders["dev"], renders["prod"]
    assert named(dev, "StatefulSet", "postgres")
    assert not of_kind(prod, "StatefulSet", "PersistentVolumeClaim", "Secret")
    mlflow = named(prod, "ConfigMap", "mlflow-config")["data"]
    assert mlflow["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert named(prod, "Deployment", "mlflow")["spec"]["replicas"] >= 2
    # no secret value in what prod applies: credentials come from the operator's Secrets
    text = yaml.safe_dump_all(prod)
    assert not re.search(r"(?i)password|AWS_SECRET_ACCESS_KEY", text)


@needs_kubectl
def test_the_autoscaler_follows_the_worker_lag(renders: dict[str, list[Object]]) -> None:
    for name, objects in renders.items():
        for scaled in of_kind(objects, "ScaledObject"):
            namespace = of_kind(objects, "Namespace")[0]["metadata"]["name"]
            (trigger,) = scaled["spec"]["triggers"]
            assert trigger["type"] == "prometheus"
            query = trigger["metadata"]["query"]
            assert WORKER_LAG_METRIC in query and f'namespace="{namespace}"' in query, name
            assert scaled["spec"]["scaleTargetRef"]["name"] == "worker"
            assert scaled["spec"]["minReplicaCount"] >= 2
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"| `{WORKER_LAG_METRIC}` | gauge |" in readme


@needs_kubectl
def test_monitoring_scrapes_what_the_rules_read(renders: dict[str, list[Object]]) -> None:
    objects = renders["prod+monitoring"]
    monitors = {m["metadata"]["name"]: m for m in of_kind(objects, "ServiceMonitor")}
    assert monitors.keys() == {"api", "worker"}
    for name, monitor in monitors.items():
        service = named(objects, "Service", name)
        assert selects(monitor["spec"]["selector"], service["metadata"]["labels"])
        ports = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    assert named(objects, "PrometheusRule", "modelyard")["metadata"]["namespace"] == "modelyard"


def test_the_renders_cover_every_overlay_and_component() -> None:
    names = variants()
    overlays = {p.name for p in (K8S / "overlays").iterdir() if p.is_dir()}
    components = {p.name for p in (K8S / "components").iterdir() if p.is_dir()}
    assert overlays <= set(names)
    for overlay in overlays:
        for component in components:
            assert any(v.startswith(f"{overlay}+") and component in v.split("+") for v in names), (
                f"{overlay} with {component} is never rendered"
            )
