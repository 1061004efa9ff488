"""Schemas: kustomize renders deploy/k8s, every Kubernetes object passes Kubernetes 1.32's
schema (strict), every Dapr resource its Dapr CRD, and skaffold.yaml skaffold's schema. Each
check is then shown to fail on a copy broken the way a cluster would refuse it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy.checks import (
    CrdSchemas,
    dapr_crd_problems,
    kubernetes_problems,
    skaffold_problems,
)
from tests.deploy.conftest import Broken, replace_once
from tests.deploy.sources import DAPR_KINDS, LOCAL_CLUSTER, Obj, RenderError, load_yaml_all

OVERLAYS = ["base", "dev"]


def overlay(request: pytest.FixtureRequest, name: str) -> list[Obj]:
    objects: list[Obj] = request.getfixturevalue(name)
    return objects


def test_kustomize_renders_every_kind_we_deploy(base: list[Obj], dev: list[Obj]) -> None:
    for objects in (base, dev):
        kinds = {o["kind"] for o in objects}
        wanted = {"Deployment", "StatefulSet", "ConfigMap", "Service", "ServiceAccount"}
        assert wanted | DAPR_KINDS <= kinds


def test_kustomize_refuses_a_missing_resource(broken: Broken) -> None:
    with pytest.raises(RenderError, match=r"payments\.yaml"):
        broken("base/kustomization.yaml", "  - payment.yaml", "  - payments.yaml")


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_kubernetes_object_passes_kubernetes_1_32_strict(
    request: pytest.FixtureRequest, name: str
) -> None:
    assert kubernetes_problems(overlay(request, name)) == []


@pytest.mark.parametrize(
    ("file", "old", "new", "problem"),
    [
        pytest.param(
            "base/order-processor.yaml",
            'dapr.io/enabled: "true"',
            "dapr.io/enabled: true",
            "annotations.dapr.io/enabled: True is not of type 'string'",
            id="unquoted-annotation",
        ),
        pytest.param(
            "base/inventory.yaml",
            "containerPort: 8081",
            'containerPort: "8081"',
            "containerPort: '8081' is not of type 'integer'",
            id="port-as-string",
        ),
        pytest.param(
            "base/payment.yaml",
            "readinessProbe:",
            "readynessProbe:",
            "'readynessProbe' was unexpected",
            id="unknown-field",
        ),
        pytest.param(
            "base/postgres.yaml",
            "apiVersion: apps/v1\nkind: StatefulSet",
            "apiVersion: apps/v1beta1\nkind: StatefulSet",
            "no Kubernetes 1.32 schema for apps/v1beta1 StatefulSet, and not a Dapr resource",
            id="not-in-1.32",
        ),
        pytest.param(
            "base/postgres.yaml",
            'accessModes: ["ReadWriteOnce"]',
            'accessModes: ["ReadWriteOnce"]\n        storageClass: fast',
            "'storageClass' was unexpected",
            id="volume-claim-template-field",
        ),
    ],
)
def test_kubernetes_schema_check_fails_on(
    broken: Broken, file: str, old: str, new: str, problem: str
) -> None:
    problems = kubernetes_problems(broken(file, old, new))
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("file", ["coredns.yaml", "local-path-storage.yaml"])
def test_local_cluster_manifests_pass_kubernetes_1_32_strict(file: str) -> None:
    """What scripts/cluster/up.sh applies besides deploy/k8s: its image placeholders are
    strings, so the files validate as they are."""
    assert kubernetes_problems(load_yaml_all(LOCAL_CLUSTER / file)) == []


def test_local_cluster_schema_check_fails_on_an_unknown_field(tmp_path: Path) -> None:
    source = LOCAL_CLUSTER / "local-path-storage.yaml"
    copy = tmp_path / source.name
    copy.write_text(replace_once(source.read_text(), "volumeBindingMode:", "bindingMode:"))
    problems = kubernetes_problems(load_yaml_all(copy))
    assert any("'bindingMode' was unexpected" in p for p in problems), problems


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_dapr_resource_passes_its_dapr_crd(
    request: pytest.FixtureRequest, name: str, crds: CrdSchemas
) -> None:
    assert dapr_crd_problems(overlay(request, name), crds) == []


@pytest.mark.parametrize(
    ("file", "old", "new", "problem"),
    [
        pytest.param(
            "base/dapr-components.yaml",
            "  version: v2\n",
            "",
            "Component/workflowstore: spec: 'version' is a required property",
            id="missing-crd-field",
        ),
        pytest.param(
            "base/dapr-configurations.yaml",
            "endpointAddress:",
            "endpoint:",
            "'endpoint' was unexpected",
            id="unknown-field",
        ),
        pytest.param(
            "base/dapr-resiliency.yaml",
            "maxRetries: 2",
            'maxRetries: "2"',
            "maxRetries: '2' is not of type 'integer'",
            id="wrong-type",
        ),
        pytest.param(
            "base/dapr-resiliency.yaml",
            "kind: Resiliency",
            "kind: Resilience",
            "no Dapr CRD for dapr.io/v1alpha1 Resilience",
            id="unknown-kind",
        ),
        pytest.param(
            "base/dapr-components.yaml",
            "  name: workflowstore",
            "  name: workflowstore\n  nmespace: x",
            "'nmespace' was unexpected",
            id="metadata-is-object-meta",
        ),
    ],
)
def test_dapr_crd_check_fails_on(
    broken: Broken, crds: CrdSchemas, file: str, old: str, new: str, problem: str
) -> None:
    problems = dapr_crd_problems(broken(file, old, new), crds)
    assert any(problem in p for p in problems), problems


def test_skaffold_yaml_passes_the_schema_of_its_api_version(
    skaffold_config: Obj, skaffold_schema: Obj
) -> None:
    assert skaffold_problems(skaffold_config, skaffold_schema) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param("dockerfile:", "dockerFile:", "'dockerFile' was unexpected", id="unknown"),
        pytest.param("localPort: 8080", 'localPort: "8080"', "is not of type", id="wrong-type"),
        pytest.param('PORT: "8080"', "PORT: 8080", "8080 is not of type 'string'", id="build-arg"),
        pytest.param("\nportForward:", "\nportForwards:", "'portForwards'", id="typo"),
        pytest.param(
            "                dest: /app", "                dst: /app", "'dest'", id="missing"
        ),
    ],
)
def test_skaffold_schema_check_fails_on(
    skaffold_with: Callable[[str, str], Obj],
    skaffold_schema: Obj,
    old: str,
    new: str,
    problem: str,
) -> None:
    problems = skaffold_problems(skaffold_with(old, new), skaffold_schema)
    assert any(problem in p for p in problems), problems
