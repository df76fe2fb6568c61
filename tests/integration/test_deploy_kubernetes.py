"""deploy/kubernetes: every manifest validated offline, and consistent with the node it runs.

kubernetes-validate checks each manifest strictly (unknown fields refused)
against the API schemas it bundles, with no cluster. The rest ties the
manifests to the project: the config in the ConfigMap is a valid node config,
its ports are the container's ports, its paths are the mounted volumes, the
probes ask the operations listener, the selectors select the pods.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kubernetes

from gateway.node.config import parse_endpoint
from tests.support.deploy import DEPLOY, check_gateway_command, load_config_text

KUBERNETES = DEPLOY / "kubernetes"
VERSION = "1.31.0"
"""The oldest Kubernetes minor still maintained when these manifests were written."""


def _documents() -> dict[str, dict[str, Any]]:
    """kind -> document of every manifest (one resource per file)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert doc["kind"] not in found, f"two {doc['kind']} manifests"
            found[doc["kind"]] = {**doc, "_file": path.name}
    return found


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    return _documents()


def _resource(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_file"}


def test_every_manifest_is_valid_against_the_kubernetes_schemas(
    manifests: dict[str, dict[str, Any]],
) -> None:
    kinds = set(manifests) - {"Kustomization"}
    assert kinds == {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for kind in kinds:
        assert kubernetes.validate(_resource(manifests[kind]), VERSION, strict=True) == "1.31"
    # The validator does refuse mistakes: a misspelt field, a wrong type.
    deployment = _resource(manifests["Deployment"])
    with pytest.raises(kubernetes.ValidationError):
        kubernetes.validate(
            {**deployment, "spec": {**deployment["spec"], "replica": 2}}, VERSION, strict=True
        )
    with pytest.raises(kubernetes.ValidationError):
        kubernetes.validate(
            {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}, VERSION, strict=True
        )


def test_the_kustomization_lists_every_manifest(manifests: dict[str, dict[str, Any]]) -> None:
    listed = manifests["Kustomization"]["resources"]
    files = {doc["_file"] for kind, doc in manifests.items() if kind != "Kustomization"}
    assert sorted(listed) == sorted(files)
    namespace = manifests["Namespace"]["metadata"]["name"]
    for kind, doc in manifests.items():
        if kind not in {"Kustomization", "Namespace"}:
            assert doc["metadata"]["namespace"] == namespace, kind


def _container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = manifests["Deployment"]["spec"]["template"]["spec"][
        "containers"
    ]
    (container,) = containers
    return container


def _mount_for(manifests: dict[str, dict[str, Any]], path: PurePosixPath) -> dict[str, Any]:
    """The volume (by its pod spec entry) that holds ``path`` in the container."""
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in _container(manifests)["volumeMounts"]:
        target = PurePosixPath(mount["mountPath"])
        if path == target or target in path.parents:
            return {**volumes[mount["name"]], "readOnly": mount.get("readOnly", False)}
    raise AssertionError(f"{path} is on no volume")


def test_the_deployment_runs_two_replicas_of_gateway_serve_on_the_configmap(
    manifests: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    deployment = manifests["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    container = _container(manifests)
    argv = container["command"]
    assert check_gateway_command(argv).name == "serve"
    config_path = PurePosixPath(argv[argv.index("--config") + 1])
    config_volume = _mount_for(manifests, config_path)
    assert config_volume["configMap"]["name"] == manifests["ConfigMap"]["metadata"]["name"]
    assert config_volume["readOnly"]
    text = manifests["ConfigMap"]["data"][config_path.name]
    config = load_config_text(text, tmp_path)
    # Over PostgreSQL, with the password from a Secret.
    assert config.database.startswith("postgresql+psycopg://")
    (env,) = container["env"]
    assert env["name"] == "GATEWAY_DB_URL"
    assert set(env["valueFrom"]) == {"secretKeyRef"}
    # The keys from a Secret, in a folder named after the node (as the keystore lays it out).
    keys = _mount_for(manifests, PurePosixPath(config.keys.as_posix()))
    assert keys["readOnly"]
    assert keys["secret"]["secretName"] == f"gateway-{config.node_id}-keys"
    assert PurePosixPath(config.keys.as_posix()).name == config.node_id
    # The directory cache is written: a writable volume.
    assert config.directory_file is not None
    directory = _mount_for(manifests, PurePosixPath(config.directory_file.as_posix()))
    assert "emptyDir" in directory
    assert not directory["readOnly"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {
        "grpc": parse_endpoint(config.listen)[1],
        "operations": parse_endpoint(config.operations.listen)[1],
        **_check_ports(config.check.frontend_listen),
    }
    assert len(config.check.frontend_listen) == config.check.frontends
    # Probes reach the operations listener from the kubelet: not on loopback.
    assert parse_endpoint(config.operations.listen)[0] == "0.0.0.0"


def _check_ports(frontend_listen: tuple[str, ...]) -> dict[str, int]:
    """The container port of each check frontend, named check-1, check-2... in order."""
    return {f"check-{i}": parse_endpoint(a)[1] for i, a in enumerate(frontend_listen, start=1)}


def _frontend_names(manifests: dict[str, dict[str, Any]]) -> list[str]:
    container = _container(manifests)
    return [p["name"] for p in container["ports"] if p["name"].startswith("check-")]


def test_probes_ask_the_operations_listener(manifests: dict[str, dict[str, Any]]) -> None:
    container = _container(manifests)
    probes = {
        name: (container[name]["httpGet"]["path"], container[name]["httpGet"]["port"])
        for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": ("/healthz", "operations"),
        "livenessProbe": ("/healthz", "operations"),
        "readinessProbe": ("/readyz", "operations"),
    }


def test_resources_and_security_are_set(manifests: dict[str, dict[str, Any]]) -> None:
    container = _container(manifests)
    assert set(container["resources"]) == {"requests", "limits"}
    for bounds in container["resources"].values():
        assert set(bounds) == {"cpu", "memory"}
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_selectors_select_the_pods(manifests: dict[str, dict[str, Any]]) -> None:
    labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "Deployment": manifests["Deployment"]["spec"]["selector"]["matchLabels"],
        "Service": manifests["Service"]["spec"]["selector"],
        "PodDisruptionBudget": manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        "NetworkPolicy": manifests["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert selector.items() <= labels.items(), kind
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    service_ports = {p["name"]: p["targetPort"] for p in manifests["Service"]["spec"]["ports"]}
    frontends = _frontend_names(manifests)
    assert frontends == ["check-1"]
    assert service_ports == {
        "grpc": "grpc",
        "operations": "operations",
        **{name: name for name in frontends},
    }


def test_the_network_policy_admits_grpc_and_scraping_from_monitoring_only(
    manifests: dict[str, dict[str, Any]],
) -> None:
    policy = manifests["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    rules = {
        tuple(p["port"] for p in rule["ports"]): rule.get("from") for rule in policy["ingress"]
    }
    assert rules == {
        ("grpc", *_frontend_names(manifests)): None,
        ("operations",): [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
    }
