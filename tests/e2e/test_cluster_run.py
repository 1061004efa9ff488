"""`make cluster-run` as a user runs it (`skaffold dev`: the dev profile activates): the README's
quickstart steps against its port-forward, an edited module served through the profile's file
sync without a new image, and Ctrl-C deleting what it deployed.

These run last in the session (conftest.py orders them): cluster-run takes localhost:8080 and
9411, and its Ctrl-C deletes the deployment the other tests use.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.deployment import NAMESPACE, ROOT
from tests.e2e.kube import STATE, kubectl, kubectl_json
from tests.integration import report
from tests.integration.harness import answers, listening, wait_until

API = "http://127.0.0.1:8080"
EDITED = ROOT / "services/order-processor/order_processor/openapi.py"
TITLE = '"title": "order-processor"'


class ClusterRun:
    """`scripts/cluster/skaffold_run.py` in the foreground, as `make cluster-run` starts it."""

    def __init__(self) -> None:
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/cluster/skaffold_run.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def printed(self) -> str:
        return "".join(self.output)

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops it; its exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=120)


@pytest.fixture(scope="module")
def cluster_run() -> Iterator[ClusterRun]:
    taken = [port for port in (8080, 9411) if listening(port)]
    if taken:
        pytest.fail(f"ports {taken} are in use (`make run` or `make up`?); cluster-run needs them")
    run = ClusterRun()
    try:
        wait_until(
            lambda: answers(f"{API}/readyz") or run.process.poll() is not None,
            deadline_s=300,
            what="cluster-run's port-forward of the order API",
        )
        assert run.process.poll() is None, run.printed()[-4000:]
        yield run
    finally:
        if run.process.poll() is None:
            run.interrupt()


def test_the_readme_quickstart_passes_against_cluster_run(cluster_run: ClusterRun) -> None:
    """The README's steps tagged `api` (wait for the API, place, approve), as written."""
    mm = shutil.which("mm.py", path=str(Path(sys.executable).parent)) or "mm.py"
    # The cluster's role tokens, which cluster-run wrote and named when it deployed.
    tokens = STATE / "cluster/tokens.env"
    assert f"ORDER_API_TOKENS={tokens}" in cluster_run.printed()
    steps = subprocess.run(
        [mm, "--tags", "api", "README.md"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "ORDER_API_TOKENS": str(tokens)},
    )  # fmt: skip
    assert steps.returncode == 0, steps.stdout[-5000:] + steps.stderr[-2000:]
    assert "Approve the order" in steps.stdout
    assert "profile dev active" in cluster_run.printed()


def test_a_saved_module_is_served_within_seconds_without_a_new_image(
    cluster_run: ClusterRun,
) -> None:
    """skaffold dev's loop: save a file that a sync rule of the dev profile matches; it is
    copied into the running container and gunicorn's reloader serves it. Same pod, same image."""
    original = EDITED.read_text()
    assert TITLE in original
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
    assert "synced services/order-processor/order_processor/openapi.py" in cluster_run.printed()
    assert order_processor_pod() == pod_before  # no new pod, no new image, no restart


def test_a_forward_that_ends_is_started_again(cluster_run: ClusterRun) -> None:
    """As skaffold does: the forward's kubectl killed (as a refused request or a replaced pod
    ends it), cluster-run starts it again and says so."""
    [pid] = subprocess.run(
        ["pgrep", "-f", "kubectl .*port-forward service/order-processor 8080:80$"],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    killed = time.monotonic()
    os.kill(int(pid), signal.SIGKILL)
    wait_until(lambda: answers(f"{API}/readyz"), deadline_s=30, what="the forward back")
    back_s = time.monotonic() - killed
    report.record(f"cluster-run: its order API forward killed, back in {back_s:.1f} s")
    assert "the forward to service/order-processor ended (exit -9); starting it again" in (
        cluster_run.printed()
    )


def test_ctrl_c_stops_the_forwards_and_deletes_the_deployment(cluster_run: ClusterRun) -> None:
    assert cluster_run.interrupt() == 0, cluster_run.printed()[-4000:]
    assert "deleting what was deployed" in cluster_run.printed()
    assert not listening(8080)
    assert kubectl("-n", NAMESPACE, "get", "deployments", "-o", "name").split() == []


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
