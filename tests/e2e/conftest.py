"""End-to-end tests run against the local cluster (`make cluster`); without it they fail at once,
saying so, rather than one by one on timeouts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.e2e.deployment import ROOT, Cluster
from tests.e2e.kube import KubectlError, kubectl
from tests.integration import report


@pytest.fixture(scope="session", autouse=True)
def local_cluster() -> None:
    try:
        kubectl("get", "--raw", "/readyz", timeout=10)
        kubectl("-n", "dapr-system", "rollout", "status", "deployment/dapr-sidecar-injector",
                "--timeout=60s", timeout=70)  # fmt: skip
    except (KubectlError, FileNotFoundError) as err:
        pytest.fail(f"no local cluster with Dapr ({err}): run `make cluster` first")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/cluster/skaffold_run.py"), "--no-forward"], check=True
    )
    deployed = Cluster()
    try:
        deployed.wait_ready()
        report.record(
            f"deploy: skaffold.yaml's build, hooks and kustomize path, ready in "
            f"{time.monotonic() - started:.0f} s"
        )
        yield deployed
    finally:
        deployed.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    # cluster-run's Ctrl-C deletes the deployment the other tests share: its tests go last.
    items.sort(key=lambda item: item.path.name == "test_cluster_run.py")
