"""End-to-end tests run against the local cluster (`make cluster`); without it they fail at once,
saying so, rather than one by one on timeouts."""

from __future__ import annotations

import pytest

from tests.e2e.kube import KubectlError, kubectl


@pytest.fixture(scope="session", autouse=True)
def cluster() -> None:
    try:
        kubectl("get", "--raw", "/readyz", timeout=10)
        kubectl("-n", "dapr-system", "rollout", "status", "deployment/dapr-sidecar-injector",
                "--timeout=60s", timeout=70)  # fmt: skip
    except (KubectlError, FileNotFoundError) as err:
        pytest.fail(f"no local cluster with Dapr ({err}): run `make cluster` first")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
