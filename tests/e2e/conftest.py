"""End-to-end tests run against the local cluster (`make cluster`); without it they fail at once,
saying so, rather than one by one on timeouts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Generator, Iterator

import pluggy
import pytest

from tests.e2e.deployment import APPS, NAMESPACE, ROOT, Cluster
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
    # The faults go after the tests that read the deployment as deployed (the rolling update
    # leaves a changed image), and cluster-run's Ctrl-C deletes the deployment the others
    # share: its tests go last.
    last = {"test_faults.py": 1, "test_cluster_run.py": 2}
    items.sort(key=lambda item: last.get(item.path.name, 0))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    """On a failure, what the deployment looked like: the pods with their restarts, and the
    last lines of every app container and sidecar. Their logs go with the pods once the
    session deletes them, and a failure on the cluster is rarely read from its assertion."""
    outcome = yield
    report_ = outcome.get_result()
    if report_.when != "call" or not report_.failed:
        return
    sections = []
    try:
        sections.append(kubectl("-n", NAMESPACE, "get", "pods", "-o", "wide", timeout=20))
        for app in APPS:
            for container in (app, "daprd"):
                logs = kubectl("-n", NAMESPACE, "logs", f"deployment/{app}", "-c", container,
                               "--tail=40", "--timestamps", timeout=20)  # fmt: skip
                sections.append(f"--- {app}/{container}\n{logs}")
    except (KubectlError, subprocess.TimeoutExpired) as err:
        sections.append(f"(could not read the deployment: {err})")
    report_.sections.append(("the deployment at the failure", "\n".join(sections)))
