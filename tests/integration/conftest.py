"""Integration tests need the control plane from `make up`; fail fast and clearly without it."""

from __future__ import annotations

import pytest

from tests.integration.harness import ZIPKIN_URL, answers

CONTROL_PLANE = {
    "placement": "http://127.0.0.1:58081/healthz",
    "scheduler": "http://127.0.0.1:58082/healthz",
    "zipkin": f"{ZIPKIN_URL}/health",
}


@pytest.fixture(scope="session", autouse=True)
def control_plane() -> None:
    down = [name for name, url in CONTROL_PLANE.items() if not answers(url)]
    if down:
        pytest.fail(f"control plane not running ({', '.join(down)}): run `make up` first")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
