"""Faults on the real cluster that must lose nothing: the database pod replaced (gracefully and
by force), every scheduler pod deleted, the placement pod deleted, the node's power lost, a
rolling update, and order-processor's sidecar killed.

Each test places orders that are in flight when the fault strikes and orders that wait for a
manager across it, lets the system recover, approves the waiting ones, and prints one figures
line: placed, ended, processed, charges, lost, duplicated, the lowest stock seen, and how long
the API took to answer again. Each asserts that no order was lost, none was charged twice, the
stock never went below zero, and stock and payments agree with the orders.

The orders go through the kept port-forward (tests/e2e/deployment.py), which comes back after
each fault; every call is retried through the outage, as a client of a durable API would.
The rolling update runs last of these: it leaves order-processor on a changed image, which
`make cluster-run`'s deployment (the next module) replaces.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest

from contracts.roles import Role
from tests.e2e.deployment import NAMESPACE, ROOT, Cluster
from tests.e2e.kube import CACHE, REGISTRY, STATE, kubectl, kubectl_json
from tests.integration import report
from tests.integration.harness import wait_until

UNIT_PRICE = 5000
WAITING_QUANTITY = 11  # 55 000 USD: over the approval threshold
ENDED = ("COMPLETED", "FAILED", "TERMINATED")


def retrying(
    call: Callable[[], httpx.Response], what: str, deadline_s: float = 300
) -> httpx.Response:
    """A call that a fault may interrupt, retried on a transport error or a 5xx (the API or its
    forward is away) until the deadline; any other answer is the caller's to judge."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            answer = call()
            if answer.status_code < 500:
                return answer
        except httpx.TransportError:
            pass
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: no answer within {deadline_s:.0f} s")
        time.sleep(0.5)


@dataclass
class Figures:
    placed: int
    ended: int
    processed: int
    charges: int
    lost: int
    duplicated: int
    lowest_stock: int
    stock: int
    expected_stock: int

    def line(self) -> str:
        return (
            f"placed {self.placed}, ended {self.ended}, processed {self.processed}, charges "
            f"{self.charges}, lost {self.lost}, duplicated {self.duplicated}, lowest stock "
            f"{self.lowest_stock}, stock {self.stock} (expected {self.expected_stock})"
        )


class Book:
    """The orders of one fault test, on an item of their own, and what became of them. The
    stock is sampled all along, to catch it going below zero at any moment."""

    def __init__(self, cluster: Cluster, small: int, waiting: int) -> None:
        self.api = cluster.api
        self.operator, self.manager = cluster.bearer(Role.OPERATOR), cluster.bearer(Role.MANAGER)
        self.item = f"item-{uuid.uuid4().hex[:12]}"
        self.initial_stock = small + waiting * WAITING_QUANTITY
        self.quantities: dict[str, int] = {}
        self.lowest_stock = self.initial_stock
        body = {"quantity": self.initial_stock, "unit_price": UNIT_PRICE}
        answer = retrying(
            partial(self.api.put, f"/inventory/{self.item}", json=body, headers=self.operator),
            "restock",
        )
        assert answer.status_code == 200, answer.text
        self._done = threading.Event()
        threading.Thread(target=self._sample_stock, daemon=True).start()

    def _sample_stock(self) -> None:
        while not self._done.wait(0.2):
            try:
                answer = self.api.get(f"/inventory/{self.item}", timeout=2)
            except httpx.TransportError:
                continue
            if answer.status_code == 200:
                self.lowest_stock = min(self.lowest_stock, int(answer.json()["quantity"]))

    def place(self, count: int, quantity: int) -> list[str]:
        """Places `count` orders 8 at a time, each with an Idempotency-Key, so a retried POST
        is the same order."""

        def one(_: int) -> str:
            key = {"Idempotency-Key": uuid.uuid4().hex}
            body = {"item": self.item, "quantity": quantity}
            answer = retrying(lambda: self.api.post("/orders", json=body, headers=key), "place")
            assert answer.status_code == 202, answer.text
            return str(answer.json()["order_id"])

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(one, range(count)))
        self.quantities.update(dict.fromkeys(ids, quantity))
        return ids

    def order(self, order_id: str, wait_s: int = 0) -> dict[str, Any]:
        """The order as the API has it; with `wait_s`, a long poll for its end."""
        query = f"?wait={wait_s}" if wait_s else ""
        answer = retrying(
            lambda: self.api.get(f"/orders/{order_id}{query}", timeout=wait_s + 10), "order"
        )
        assert answer.status_code == 200, f"order {order_id}: {answer.status_code} {answer.text}"
        return dict(answer.json())

    def is_waiting(self, order_id: str) -> bool:
        return bool(self.order(order_id)["step"] == "awaiting_approval")

    def waiting(self, count: int) -> list[str]:
        """Places `count` orders over the approval threshold and returns once each waits."""
        ids = self.place(count, WAITING_QUANTITY)
        for order_id in ids:
            wait_until(
                partial(self.is_waiting, order_id),
                deadline_s=120,
                what=f"order {order_id} awaiting approval",
            )
        return ids

    def approve(self, ids: list[str]) -> None:
        """Each order must still wait, across the fault; then a manager approves it (a retry
        after an approval that got through is answered 409: no longer waiting)."""
        for order_id in ids:
            assert self.is_waiting(order_id), order_id
            answer = retrying(
                partial(
                    self.api.post,
                    f"/orders/{order_id}/approval",
                    json={"approved": True},
                    headers=self.manager,
                ),
                "approve",
            )
            assert answer.status_code in (202, 409), answer.text

    def settle(self, deadline_s: float = 300) -> Figures:
        """Follows every order to its end (long polls), then counts."""
        end = time.monotonic() + deadline_s
        orders: dict[str, dict[str, Any]] = {}
        for order_id in self.quantities:
            while time.monotonic() < end:
                orders[order_id] = self.order(order_id, wait_s=20)
                if orders[order_id]["status"] in ENDED:
                    break
        self._done.set()
        processed = [i for i, o in orders.items() if (o.get("result") or {}).get("processed")]
        charges = 0
        for order_id in self.quantities:
            answer = retrying(
                partial(self.api.get, f"/payments/{order_id}", headers=self.operator), "payment"
            )
            if answer.status_code == 200 and answer.json()["status"] == "approved":
                charges += 1 if not answer.json()["refunded"] else 0
        stock = int(
            retrying(lambda: self.api.get(f"/inventory/{self.item}"), "stock").json()["quantity"]
        )
        ended = sum(1 for o in orders.values() if o["status"] in ENDED)
        return Figures(
            placed=len(self.quantities),
            ended=ended,
            processed=len(processed),
            charges=charges,
            lost=len(self.quantities) - ended,
            duplicated=max(0, charges - len(processed)),
            lowest_stock=min(self.lowest_stock, stock),
            stock=stock,
            expected_stock=self.initial_stock - sum(self.quantities[i] for i in processed),
        )


def record(fault: str, figures: Figures, recovered_s: float) -> None:
    report.record(f"fault: {fault}; API back in {recovered_s:.1f} s: {figures.line()}")


def assert_nothing_lost(figures: Figures) -> None:
    assert figures.lost == 0
    assert figures.duplicated == 0
    assert figures.lowest_stock >= 0
    assert figures.processed == figures.placed  # stock for all, and every waiting one approved
    assert figures.charges == figures.processed
    assert figures.stock == figures.expected_stock


def api_back(cluster: Cluster, since: float) -> float:
    """Seconds from `since` until the order API answers ready again through its forward."""
    cluster.wait_ready(deadline_s=600)
    return time.monotonic() - since


def wait_statefulset(name: str, namespace: str = NAMESPACE) -> None:
    kubectl("-n", namespace, "rollout", "status", f"statefulset/{name}", "--timeout=300s",
            timeout=310)  # fmt: skip


@pytest.mark.parametrize("force", [False, True], ids=["graceful", "forced"])
def test_replacing_the_database_pod_loses_no_order(cluster: Cluster, force: bool) -> None:
    book = Book(cluster, small=16, waiting=2)
    waiting = book.waiting(2)
    book.place(16, 1)  # in flight as the database goes
    started = time.monotonic()
    how = ["--grace-period=0", "--force"] if force else []
    kubectl("-n", NAMESPACE, "delete", "pod", "postgres-0", *how, timeout=120)
    wait_statefulset("postgres")
    recovered_s = api_back(cluster, started)
    book.approve(waiting)
    figures = book.settle()
    record(f"postgres-0 deleted ({'--grace-period=0 --force' if force else 'graceful'})",
           figures, recovered_s)  # fmt: skip
    assert_nothing_lost(figures)


# Failed once in 5 runs on 2026-12-02 (the payment retry's order not processed, its cause not
# seen: no log was kept), under a one-minute forward-step budget. The budget is now 121 s
# (workflow.RETRY), and the figures line says how long payment was down: 15-33 s in 5 runs of
# 2026-12-04, all passed, as did that day's fresh-machine .ci/run.
@pytest.mark.timeout(900)
def test_a_timer_and_a_retry_outlive_the_scheduler(cluster: Cluster) -> None:
    """Every scheduler pod deleted while one order waits under a short approval timeout and
    another retries its payment with payment down: the timer fires and the retry completes
    once the scheduler is back (both live in its etcd, on its volume)."""
    book = Book(cluster, small=1, waiting=1)
    with cluster.order_processor_env("APPROVAL_TIMEOUT_SECONDS", "20"):
        kubectl("-n", NAMESPACE, "scale", "deployment/payment", "--replicas=0")
        wait_until(lambda: not kubectl("-n", NAMESPACE, "get", "pods", "-l", "app=payment",
                                       "-o", "name").strip(),
                   deadline_s=120, what="payment gone")  # fmt: skip
        try:
            [timing_out] = book.waiting(1)
            [retried] = book.place(1, 1)
            payment_down = time.monotonic()  # its first attempt fails from here on
            wait_until(lambda: book.order(retried)["step"] == "processing_payment",
                       deadline_s=60, what="the order retrying its payment")  # fmt: skip
            started = time.monotonic()
            kubectl("-n", "dapr-system", "delete", "pod", "-l", "app=dapr-scheduler-server",
                    timeout=120)  # fmt: skip
            wait_statefulset("dapr-scheduler-server", "dapr-system")
            scheduler_s = time.monotonic() - started
        finally:
            kubectl("-n", NAMESPACE, "scale", "deployment/payment", "--replicas=1")
        cluster.wait_rolled_out("deployment/payment")
        payment_down_s = time.monotonic() - payment_down
        figures = book.settle(deadline_s=300)
        steps = {order_id: book.order(order_id)["step"] for order_id in (timing_out, retried)}
        outcome = book.order(timing_out)["result"]
    record(f"every scheduler pod deleted (back in {scheduler_s:.1f} s), payment down meanwhile "
           f"({payment_down_s:.1f} s from the order's first charge attempt, of a 121 s retry "
           f"budget); steps at the end {steps}", figures, scheduler_s)  # fmt: skip
    assert outcome == {"processed": False, "reason": "approval_timeout", "total": 55000}
    assert book.order(retried)["result"] == {"processed": True, "reason": None, "total": 5000}
    assert figures.lost == 0
    assert figures.duplicated == 0
    assert figures.lowest_stock >= 0
    assert (figures.processed, figures.charges) == (1, 1)
    assert figures.stock == figures.expected_stock


def test_deleting_every_placement_pod_mid_flight_loses_no_order(cluster: Cluster) -> None:
    """All three (the chart's HA mode, the one in which it keeps the Raft log on volumes)."""
    book = Book(cluster, small=16, waiting=2)
    waiting = book.waiting(2)
    book.place(16, 1)
    started = time.monotonic()
    kubectl("-n", "dapr-system", "delete", "pod", "-l", "app=dapr-placement-server", timeout=120)
    wait_statefulset("dapr-placement-server", "dapr-system")
    recovered_s = api_back(cluster, started)
    book.approve(waiting)
    figures = book.settle()
    record("every dapr-placement-server pod deleted", figures, recovered_s)
    assert_nothing_lost(figures)


def power_loss() -> None:
    """SIGKILL for every container of the node (the children of containerd's shims, and the
    shims), then the kubelet, containerd, the apiserver, etcd and every other host process of
    the cluster: nothing gets to flush or say goodbye."""
    run = STATE / "cluster/run"
    shims = subprocess.run(["pgrep", "-f", "containerd-shim-runc-v2"], capture_output=True,
                           text=True, check=False).stdout.split()  # fmt: skip
    for shim in shims:
        children = subprocess.run(["pgrep", "-P", shim], capture_output=True, text=True,
                                  check=False).stdout.split()  # fmt: skip
        for pid in [*children, shim]:
            _kill(int(pid))
    for name in ("kubelet", "containerd", "kube-apiserver", "etcd", "kube-proxy",
                 "kube-scheduler", "kube-controller-manager", "registry"):  # fmt: skip
        pid_file = run / f"{name}.pid"
        if pid_file.exists():
            _kill(int(pid_file.read_text()))


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_a_power_loss_of_the_node_loses_no_order(cluster: Cluster) -> None:
    book = Book(cluster, small=16, waiting=2)
    waiting = book.waiting(2)
    book.place(16, 1)
    started = time.monotonic()
    power_loss()
    # What a reboot clears, then the same cluster again, as a user brings it back.
    for target in ("cluster-stop", "cluster"):
        subprocess.run(["make", "--no-print-directory", target], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, timeout=900)  # fmt: skip
    for workload in ("statefulset/postgres", "deployment/order-processor", "deployment/inventory",
                     "deployment/payment"):  # fmt: skip
        kubectl("-n", NAMESPACE, "rollout", "status", workload, "--timeout=600s", timeout=610)
    recovered_s = api_back(cluster, started)
    book.approve(waiting)
    figures = book.settle()
    record("power loss: every container, kubelet, containerd, apiserver and etcd SIGKILLed",
           figures, recovered_s)  # fmt: skip
    assert_nothing_lost(figures)


def test_turning_the_cluster_off_and_on_keeps_every_order(cluster: Cluster) -> None:
    """`make cluster-stop` (SIGTERM to every container, SIGKILL after its grace), then `make
    cluster`, as a user ends a day and starts the next: the orders still wait."""
    book = Book(cluster, small=8, waiting=2)
    waiting = book.waiting(2)
    book.place(8, 1)
    started = time.monotonic()
    for target in ("cluster-stop", "cluster"):
        subprocess.run(["make", "--no-print-directory", target], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, timeout=900)  # fmt: skip
    recovered_s = api_back(cluster, started)
    book.approve(waiting)
    figures = book.settle()
    record("make cluster-stop, then make cluster", figures, recovered_s)
    assert_nothing_lost(figures)


def container_restarts(app: str) -> dict[str, int]:
    [pod] = [
        pod
        for pod in kubectl_json("-n", NAMESPACE, "get", "pods", "-l", f"app={app}")["items"]
        if not pod["metadata"].get("deletionTimestamp")
    ]
    statuses = pod["status"].get("containerStatuses", []) + pod["status"].get(
        "initContainerStatuses", []
    )
    return {status["name"]: int(status["restartCount"]) for status in statuses}


def test_order_processors_sidecar_dying_alone_loses_no_order(cluster: Cluster) -> None:
    """Only daprd dies (SIGKILL from the node); the kubelet restarts that container, the app
    keeps running. Either the workflow worker reconnects by itself, or the app's probes notice
    and the kubelet restarts the app: the figures line says which happened."""
    book = Book(cluster, small=8, waiting=1)
    waiting = book.waiting(1)
    before = container_restarts("order-processor")
    # The pod's daprd (its binary is /daprd in the container), not one of a local test run.
    daprd = subprocess.run(["pgrep", "-f", "^/daprd .*--app-id order-processor( |$)"],
                           capture_output=True, text=True, check=False).stdout.split()  # fmt: skip
    assert len(daprd) == 1, daprd
    book.place(8, 1)
    started = time.monotonic()
    _kill(int(daprd[0]))
    wait_until(lambda: container_restarts("order-processor")["daprd"] > before["daprd"],
               deadline_s=120, what="the sidecar restarted by the kubelet")  # fmt: skip
    kubectl("-n", NAMESPACE, "wait", "--for=condition=Ready", "pod", "-l", "app=order-processor",
            "--timeout=300s", timeout=310)  # fmt: skip
    recovered_s = api_back(cluster, started)
    book.approve(waiting)
    figures = book.settle()
    after = container_restarts("order-processor")
    app_restarts = after["order-processor"] - before["order-processor"]
    how = (
        f"the app was restarted by the kubelet ({app_restarts}x)"
        if app_restarts
        else "the workflow worker reconnected by itself (app container not restarted)"
    )
    record(f"order-processor's daprd SIGKILLed; {how}", figures, recovered_s)
    assert_nothing_lost(figures)


def changed_image(image: str) -> str:
    """The running image with one more label: another digest, as a new release would be."""
    buildah = ["buildah", "--root", str(CACHE / "cluster/images/buildah"), "--runroot",
               str(STATE / "cluster/buildah-run"), "--storage-driver", "overlay"]  # fmt: skip

    def b(*args: str) -> str:
        return subprocess.run([*buildah, *args], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip

    changed = f"{REGISTRY}/order-processor:rolling-{uuid.uuid4().hex[:8]}"
    container = b("from", "--tls-verify=false", "--pull=missing", image)
    b("config", "--label", f"release={changed.rsplit(':', 1)[1]}", container)
    b("commit", "--quiet", container, changed)
    b("rm", container)
    b("push", "--quiet", "--tls-verify=false", changed, f"docker://{changed}")
    return changed


def test_a_rolling_update_of_order_processor_loses_no_order(cluster: Cluster) -> None:
    book = Book(cluster, small=16, waiting=2)
    waiting = book.waiting(2)
    deployment = kubectl_json("-n", NAMESPACE, "get", "deployment/order-processor")
    [container] = [
        c for c in deployment["spec"]["template"]["spec"]["containers"]
        if c["name"] == "order-processor"
    ]  # fmt: skip
    changed = changed_image(container["image"])
    book.place(16, 1)
    started = time.monotonic()
    kubectl("-n", NAMESPACE, "set", "image", "deployment/order-processor",
            f"order-processor={changed}")  # fmt: skip
    cluster.wait_rolled_out("deployment/order-processor")
    recovered_s = time.monotonic() - started
    book.approve(waiting)
    figures = book.settle()
    record(f"rolling update of order-processor to {changed.rsplit('/', 1)[1]}", figures,
           recovered_s)  # fmt: skip
    assert_nothing_lost(figures)


@pytest.fixture(autouse=True)
def _faults_leave_the_deployment_ready(cluster: Cluster) -> Iterator[None]:
    yield
    for workload in ("deployment/order-processor", "deployment/inventory", "deployment/payment",
                     "statefulset/postgres"):  # fmt: skip
        kubectl("-n", NAMESPACE, "rollout", "status", workload, "--timeout=300s", timeout=310)
