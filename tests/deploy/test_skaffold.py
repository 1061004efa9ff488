"""skaffold.yaml against the rest: the kind and minikube profiles never push, `skaffold dev`
syncs every module of a service into the place its image installed it and gunicorn reloads,
and the port-forwards reach the order API and Zipkin. Each check then fails on a broken copy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.deploy.checks import port_forward_problems, profile_problems, sync_problems
from tests.deploy.conftest import Broken
from tests.deploy.sources import Obj

SkaffoldWith = Callable[[str, str], Obj]


def test_profiles(skaffold_config: Obj) -> None:
    assert profile_problems(skaffold_config) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            "        push: false\n",
            "        push: true\n",
            "profile kind must never push (build.local.push: false)",
            id="kind-pushes",
        ),
        pytest.param(
            "kubeContext: minikube",
            "kubeContext: docker-desktop",
            "profile minikube does not activate on kube context minikube",
            id="minikube-context",
        ),
        pytest.param(
            "      - command: dev", "      - command: run", "activate on `skaffold dev`", id="dev"
        ),
        pytest.param(
            "          - deploy/k8s/overlays/dev",
            "          - deploy/k8s/dev",
            "kustomize paths must be deploy/k8s/base and its dev overlay",
            id="dev-overlay-path",
        ),
    ],
)
def test_profile_check_fails_on(
    skaffold_with: SkaffoldWith, old: str, new: str, problem: str
) -> None:
    problems = profile_problems(skaffold_with(old, new))
    assert any(problem in p for p in problems), problems


def test_dev_syncs_each_module_where_the_image_installed_it(
    skaffold_config: Obj, base: list[Obj], dev: list[Obj], lock: Obj
) -> None:
    assert sync_problems(skaffold_config, base, dev, lock) == []


SITE = "/app/.venv/lib/python3.11/site-packages"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            f"dest: {SITE}",
            f"dest: {SITE.replace('3.11', '3.12')}",
            "dest must be the image's /app/.venv/lib/python3.11/site-packages",
            id="wrong-python",
        ),
        pytest.param(
            "                strip: services/order-processor/\n",
            "",
            "services/order-processor/order_processor/__init__.py lands on services/",
            id="no-strip",
        ),
        pytest.param(
            "src: packages/servicekit/servicekit/**/*.py",
            "src: packages/servicekit/service_kit/**/*.py",
            "matches no file",
            id="src-matches-nothing",
        ),
        pytest.param(
            "src: packages/contracts/contracts/**/*.py",
            "src: services/order-processor/order_processor/**/*.py",
            "dev artifact order-processor: edits to contracts are not synced",
            id="workspace-package-not-synced",
        ),
        pytest.param(
            '              PORT: "8082"\n',
            '              PORT: "8083"\n',
            "dev artifact payment differs from the base one beyond its sync",
            id="dev-builds-another-image",
        ),
    ],
)
def test_sync_check_fails_on(
    skaffold_with: SkaffoldWith,
    base: list[Obj],
    dev: list[Obj],
    lock: Obj,
    old: str,
    new: str,
    problem: str,
) -> None:
    problems = sync_problems(skaffold_with(old, new), base, dev, lock)
    assert any(problem in p for p in problems), problems


def test_sync_check_fails_when_gunicorn_would_not_reload(
    skaffold_config: Obj, base: list[Obj], broken: Broken, lock: Obj
) -> None:
    edit = ("overlays/dev/kustomization.yaml", "name: GUNICORN_RELOAD", "name: RELOAD")
    problems = sync_problems(skaffold_config, base, broken(*edit, overlay="dev"), lock)
    assert "dev Deployment/payment: gunicorn reload is not True" in problems


def test_port_forwards(skaffold_config: Obj, base: list[Obj]) -> None:
    assert port_forward_problems(skaffold_config, base) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            "    port: 80\n",
            "    port: 8080\n",
            "portForward order-processor: Service order-processor has no port 8080",
            id="app-port-not-service-port",
        ),
        pytest.param(
            "    localPort: 8080",
            "    localPort: 8081",
            "portForward order-processor:80 -> localhost:8080 is missing",
            id="local-port",
        ),
        pytest.param(
            "    resourceName: zipkin",
            "    resourceName: zipkin-ui",
            "portForward zipkin-ui: no Service zipkin-ui",
            id="no-such-service",
        ),
        pytest.param(
            "    namespace: dapr-order-processing\n    port: 80",
            "    namespace: default\n    port: 80",
            "portForward order-processor: namespace must be dapr-order-processing",
            id="namespace",
        ),
    ],
)
def test_port_forward_check_fails_on(
    skaffold_with: SkaffoldWith, base: list[Obj], old: str, new: str, problem: str
) -> None:
    problems = port_forward_problems(skaffold_with(old, new), base)
    assert any(problem in p for p in problems), problems
