"""The Helm chart: lint, render, strict Kubernetes schema validation, and its safety properties."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_tools import (
    CHART_DIR,
    KUBERNETES_VERSION,
    REPO_ROOT,
    by_kind,
    documents,
    helm_env,
    helm_template,
    pod_containers,
    require_tool,
    run,
)

EXAMPLE_VALUES = sorted((REPO_ROOT / "examples" / "kubernetes").glob("values-*.yaml"))

# Every optional object switched on, so the validation below sees each template.
FULL_VALUES: dict[str, Any] = {
    "sidecar": {
        "sampleRate": 0.5,
        "config": {"window_seconds": 120, "drift": {"statistic": "psi"}},
        "reference": {"profile": '{"features": {}}'},
        "adminToken": {"existingSecret": "sidecar-admin", "key": "token"},
        "otel": {"exporterEndpoint": "http://collector:4318"},
        "extraEnv": [{"name": "SIDECAR_LOG_LEVEL", "value": "debug"}],
    },
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
    "networkPolicy": {"enabled": True},
}

# Values of the wrong type that values.schema.json must reject.
BAD_VALUES = [
    {"sidecar": {"port": "eighty"}},
    {"deployment": {"replicaCount": "two"}},
    {"serviceMonitor": {"enabled": "yes"}},
    {"sidecar": {"sampleRate": 1.5}},
    {"model": {"env": {"MLSERVER_HOST": "127.0.0.1"}}},
    {"sidecar": {"securityContext": {"runAsNonRoot": False}}},
    {"unknownTopLevelKey": 1},
]


def _write_values(tmp_path: Path, name: str, values: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture(scope="module")
def helm() -> Path:
    """The helm binary."""
    return require_tool("helm")


@pytest.fixture(scope="module")
def rendered(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The chart rendered with the default, full and example values, by name."""
    tmp = tmp_path_factory.mktemp("render")
    full = _write_values(tmp, "full.yaml", FULL_VALUES)
    cases = {"default": (), "full": (full,)} | {path.stem: (path,) for path in EXAMPLE_VALUES}
    out = {}
    for name, files in cases.items():
        result = helm_template(helm, tmp, *files)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        out[name] = result.stdout
    return out


class TestLint:
    def test_lint_strict_passes(self, helm: Path, tmp_path: Path) -> None:
        """helm lint --strict passes with the default values and with every example values file."""
        for files in [(), *((path,) for path in EXAMPLE_VALUES)]:
            command: list[str | Path] = [helm, "lint", "--strict", CHART_DIR]
            for path in files:
                command += ["--values", path]
            result = run(command, env=helm_env(tmp_path))
            assert result.returncode == 0, result.stdout + result.stderr

    def test_examples_exist(self) -> None:
        """Both example values files (existing model, KServe-style server) are rendered here."""
        names = {path.name for path in EXAMPLE_VALUES}
        assert {"values-sidecar-for-existing-model.yaml", "values-kserve-style.yaml"} <= names


class TestKubernetesSchemas:
    def test_every_object_validates_strictly(
        self, rendered: dict[str, str], tmp_path: Path
    ) -> None:
        """Every rendered object passes strict schema validation; only CRDs may go unchecked."""
        validator = require_tool("kubernetes-validate")
        for name, manifest in rendered.items():
            path = tmp_path / f"{name}.yaml"
            path.write_text(manifest)
            result = run([validator, "--strict", "-k", KUBERNETES_VERSION, "--quiet", path])
            assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
            for line in result.stdout.splitlines() + result.stderr.splitlines():
                if line.startswith("WARN"):
                    assert "monitoring.coreos.com" in line, f"{name}: {line}"

    def test_full_values_render_every_template(self, rendered: dict[str, str]) -> None:
        """With every option on, each kind of object the chart can make is rendered."""
        kinds = {doc["kind"] for doc in documents(rendered["full"])}
        assert kinds == {
            "ServiceAccount",
            "ConfigMap",
            "Service",
            "Deployment",
            "ServiceMonitor",
            "PrometheusRule",
            "NetworkPolicy",
        }
        assert len(by_kind(documents(rendered["full"]), "ConfigMap")) == 2


class TestValuesSchema:
    @pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda bad: yaml.safe_dump(bad).strip())
    def test_wrong_types_are_rejected(self, helm: Path, tmp_path: Path, bad: dict) -> None:
        """A values file with a wrong type or an unknown key makes helm template fail."""
        result = helm_template(helm, tmp_path, _write_values(tmp_path, "bad.yaml", bad))
        assert result.returncode != 0
        assert "schema" in result.stderr.lower()


def _sidecar(container_docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(c for _, c in pod_containers(container_docs) if c["name"] == "sidecar")


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


class TestPodSafety:
    def test_service_targets_the_sidecar_port(self, rendered: dict[str, str]) -> None:
        """Every Service port resolves to a sidecar container port, never to the model."""
        for name, manifest in rendered.items():
            docs = documents(manifest)
            sidecar = _sidecar(docs)
            sidecar_ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
            (service,) = by_kind(docs, "Service")
            http = next(p for p in service["spec"]["ports"] if p["name"] == "http")
            assert sidecar_ports[http["targetPort"]] == sidecar_ports["http"], name
            assert sidecar_ports["http"] == 8000, name
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in sidecar_ports, name

    def test_model_is_not_published_and_is_the_upstream(self, rendered: dict[str, str]) -> None:
        """The model container publishes no port and the sidecar forwards to it on localhost."""
        for name, manifest in rendered.items():
            docs = documents(manifest)
            model = next(c for _, c in pod_containers(docs) if c["name"] == "model")
            assert "ports" not in model, name
            assert _env(_sidecar(docs))["SIDECAR_UPSTREAM"] == "http://127.0.0.1:8080", name

    def test_every_container_runs_hardened_as_non_root(self, rendered: dict[str, str]) -> None:
        """Each container is non-root, read-only, drops ALL capabilities, uses RuntimeDefault."""
        for name, manifest in rendered.items():
            for workload, container in pod_containers(documents(manifest)):
                where = f"{name}/{workload}/{container['name']}"
                context = container["securityContext"]
                assert context["runAsNonRoot"] is True, where
                assert context.get("runAsUser", 10001) != 0, where
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["capabilities"]["drop"] == ["ALL"], where
                assert context["seccompProfile"]["type"] == "RuntimeDefault", where
            for deployment in by_kind(documents(manifest), "Deployment"):
                pod = deployment["spec"]["template"]["spec"]["securityContext"]
                assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name

    def test_sidecar_probes_env_and_state_volume(self, rendered: dict[str, str]) -> None:
        """Probes hit /healthz and /readyz on the admin port; env carries OTel k8s attributes."""
        docs = documents(rendered["full"])
        sidecar = _sidecar(docs)
        assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
        assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
        env = _env(sidecar)
        assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
        attributes = dict(kv.split("=", 1) for kv in env["OTEL_RESOURCE_ATTRIBUTES"].split(","))
        assert attributes["k8s.pod.name"] == "$(POD_NAME)"
        assert attributes["k8s.namespace.name"] == "$(POD_NAMESPACE)"
        assert env["SIDECAR_ADMIN_HOST"] == "0.0.0.0"
        assert env["SIDECAR_ADMIN_TOKEN_FILE"] == "/var/run/secrets/model-sidecar/token"
        assert env["SIDECAR_REFERENCE"] == "/etc/model-sidecar/reference/reference.json"
        assert env["SIDECAR_SAMPLE_RATE"] == "0.5"
        mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
        assert mounts["sidecar-state"] == env["SIDECAR_STATE_DIR"] == "/var/lib/sidecar"
        volumes = docs_volumes = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]
        state = next(v for v in volumes["volumes"] if v["name"] == "sidecar-state")
        assert "emptyDir" in state and docs_volumes is volumes

    def test_config_map_holds_config_and_reference(self, rendered: dict[str, str]) -> None:
        """The ConfigMap carries the config YAML and the reference profile the sidecar reads."""
        docs = documents(rendered["full"])
        config_map = next(d for d in by_kind(docs, "ConfigMap") if "sidecar.yaml" in d["data"])
        assert (
            yaml.safe_load(config_map["data"]["sidecar.yaml"]) == FULL_VALUES["sidecar"]["config"]
        )
        assert config_map["data"]["reference.json"].strip() == '{"features": {}}'

    def test_network_policy_restricts_only_the_admin_port(self, rendered: dict[str, str]) -> None:
        """The admin port admits only the listed peers; the proxied port stays open."""
        (policy,) = by_kind(documents(rendered["full"]), "NetworkPolicy")
        rules = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
        assert "from" not in rules["http"]
        assert rules["admin"]["from"]


class TestMonitoringObjects:
    def test_prometheus_rule_embeds_the_shipped_rules(self, rendered: dict[str, str]) -> None:
        """The PrometheusRule holds every group of deploy/rules/*.yaml, unchanged."""
        (rule,) = by_kind(documents(rendered["full"]), "PrometheusRule")
        shipped = []
        for path in sorted((REPO_ROOT / "deploy" / "rules").glob("*.yaml")):
            shipped += yaml.safe_load(path.read_text()).get("groups", [])
        assert shipped, "deploy/rules has no rule groups"
        assert rule["spec"]["groups"] == shipped

    def test_dashboard_config_map_is_labelled_and_complete(self, rendered: dict[str, str]) -> None:
        """The dashboard ConfigMap has grafana_dashboard: "1" and the shipped JSON."""
        docs = documents(rendered["full"])
        (dashboard,) = [
            d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")
        ]
        assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
        shipped = (REPO_ROOT / "deploy" / "grafana" / "model-sidecar.json").read_text()
        assert dashboard["data"]["model-sidecar.json"].strip() == shipped.strip()


PARENT_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-model
spec:
  selector:
    matchLabels: {app: my-model}
  template:
    metadata:
      labels: {app: my-model}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 10001}
      containers:
        - name: model
          image: registry.example.com/my-model:1
          securityContext:
            runAsNonRoot: true
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
            seccompProfile: {type: RuntimeDefault}
        {{- $name := printf "%s-model-sidecar" .Release.Name }}
        {{- $sidecar := dict "values" (index .Values "model-sidecar") "name" $name }}
        {{- include "model-sidecar.container" $sidecar | nindent 8 }}
      volumes:
        {{- include "model-sidecar.volumes" $sidecar | nindent 8 }}
"""


class TestModeTwo:
    def test_named_template_in_a_parent_chart(self, helm: Path, tmp_path: Path) -> None:
        """A parent chart's own Deployment includes the sidecar container and its volumes."""
        parent = tmp_path / "parent"
        (parent / "templates").mkdir(parents=True)
        shutil.copytree(CHART_DIR, parent / "charts" / "model-sidecar")
        (parent / "Chart.yaml").write_text(
            "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n"
            "  - name: model-sidecar\n    version: 0.1.0\n"
        )
        (parent / "values.yaml").write_text(
            "model-sidecar:\n  deployment: {enabled: false}\n  model: {port: 9000}\n"
        )
        (parent / "templates" / "deployment.yaml").write_text(PARENT_DEPLOYMENT)
        result = helm_template(helm, tmp_path, chart=parent)
        assert result.returncode == 0, result.stderr
        docs = documents(result.stdout)
        deployments = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
        assert set(deployments) == {"my-model"}
        sidecar = _sidecar(docs)
        assert _env(sidecar)["SIDECAR_UPSTREAM"] == "http://127.0.0.1:9000"
        config_maps = {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
        pod = deployments["my-model"]["spec"]["template"]["spec"]
        config_volume = next(v for v in pod["volumes"] if v["name"] == "sidecar-config")
        assert config_volume["configMap"]["name"] in config_maps
        validator = require_tool("kubernetes-validate")
        manifest = tmp_path / "parent.yaml"
        manifest.write_text(result.stdout)
        check = run([validator, "--strict", "-k", KUBERNETES_VERSION, "--quiet", manifest])
        assert check.returncode == 0, check.stdout + check.stderr
