"""`make cluster-run` as a user runs it: the README's quickstart steps against its port-forward,
and the dev profile's file sync serving an edited module without a new image.

These run last in the session (conftest.py orders them): cluster-run takes localhost:8080 and
9411, and its Ctrl-C deletes the deployment the other tests use.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.deployment import NAMESPACE, ROOT
from tests.e2e.kube import kubectl, kubectl_json
from tests.integration import report
from tests.integration.harness import answers, listening, wait_until

API = "http://127.0.0.1:8080"
EDITED = ROOT / "services/order-processor/order_processor/openapi.py"
TITLE = '"title": "order-processor"'


class ClusterRun:
    """`scripts/cluster/skaffold_run.py` in the foreground, as `make cluster-run` starts it."""

    def __init__(self, *args: str) -> None:
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/cluster/skaffold_run.py"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            print(line, end="")
            self.output.append(line)

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops it; its exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=120)


@contextmanager
def cluster_run(*args: str) -> Iterator[ClusterRun]:
    taken = [port for port in (8080, 9411) if listening(port)]
    if taken:
        pytest.fail(f"ports {taken} are in use (`make run` or `make up`?); cluster-run needs them")
    run = ClusterRun(*args)
    try:
        wait_until(
            lambda: answers(f"{API}/readyz") or run.process.poll() is not None,
            deadline_s=300,
            what="cluster-run's port-forward of the order API",
        )
        assert run.process.poll() is None, "".join(run.output[-40:])
        yield run
    finally:
        if run.process.poll() is None:
            assert run.interrupt() == 0, "".join(run.output[-40:])


def app_deployments() -> list[str]:
    return kubectl("-n", NAMESPACE, "get", "deployments", "-o", "name").split()


def test_the_readme_quickstart_passes_against_cluster_run() -> None:
    """The README's steps tagged `api` (wait for the API, place, approve), as written."""
    mm = shutil.which("mm.py", path=str(Path(sys.executable).parent)) or "mm.py"
    with cluster_run() as run:
        steps = subprocess.run(
            [mm, "--tags", "api", "README.md"],
            cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        print(steps.stdout[-5000:])
        assert steps.returncode == 0, steps.stdout[-5000:] + steps.stderr[-2000:]
        assert "Approve the order" in steps.stdout
        assert run.interrupt() == 0
    assert "deleting what was deployed" in "".join(run.output)
    assert app_deployments() == []


def test_the_dev_profile_serves_a_saved_module_within_seconds_without_a_new_image() -> None:
    """skaffold dev's loop: save a file that a sync rule of the dev profile matches; it is
    copied into the running container and gunicorn's reloader serves it. Same pod, same image."""
    original = EDITED.read_text()
    assert TITLE in original
    with cluster_run("--profile", "dev") as run:
        assert title() == "order-processor"
        pod_before = order_processor_pod()
        saved = time.monotonic()
        try:
            EDITED.write_text(original.replace(TITLE, '"title": "order-processor (edited)"'))
            wait_until(
                lambda: title() == "order-processor (edited)",
                deadline_s=90,
                what="the edited title served",
            )
            served_s = time.monotonic() - saved
        finally:
            EDITED.write_text(original)
        report.record(f"dev loop: an edited module served {served_s:.1f} s after it was saved")
        assert any("synced services/order-processor/order_processor/openapi.py" in line
                   for line in run.output)  # fmt: skip
        assert order_processor_pod() == pod_before  # no new pod, no new image, no restart


def title() -> str | None:
    try:
        return str(httpx.get(f"{API}/openapi.json", timeout=5).json()["info"]["title"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None  # the worker is being replaced by the reloader


def order_processor_pod() -> tuple[str, str, int]:
    """(name, image, restarts) of the order-processor container."""
    pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l", "app=order-processor")["items"]
    [pod] = [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]
    [status] = [s for s in pod["status"]["containerStatuses"] if s["name"] == "order-processor"]
    return pod["metadata"]["name"], status["imageID"], status["restartCount"]
